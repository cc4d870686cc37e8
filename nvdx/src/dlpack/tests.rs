//! CPU tests: the C ABI's layout, view arithmetic, the stream protocol's values, import
//! validation, and the export's ownership and deleter logic with fake memory.

use std::mem::{align_of, offset_of, size_of};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::ffi::*;
use super::*;

#[test]
fn abi_matches_dlpack_h_on_64_bit() {
    // Offsets and sizes of dlpack.h 1.1 on LP64 (what a C compiler lays out).
    assert_eq!(size_of::<DLPackVersion>(), 8);
    assert_eq!(size_of::<DLDevice>(), 8);
    assert_eq!(size_of::<DLDataType>(), 4);
    assert_eq!(offset_of!(DLDataType, bits), 1);
    assert_eq!(offset_of!(DLDataType, lanes), 2);
    assert_eq!(size_of::<DLTensor>(), 48);
    assert_eq!(align_of::<DLTensor>(), 8);
    assert_eq!(offset_of!(DLTensor, data), 0);
    assert_eq!(offset_of!(DLTensor, device), 8);
    assert_eq!(offset_of!(DLTensor, ndim), 16);
    assert_eq!(offset_of!(DLTensor, dtype), 20);
    assert_eq!(offset_of!(DLTensor, shape), 24);
    assert_eq!(offset_of!(DLTensor, strides), 32);
    assert_eq!(offset_of!(DLTensor, byte_offset), 40);
    assert_eq!(size_of::<DLManagedTensor>(), 64);
    assert_eq!(offset_of!(DLManagedTensor, manager_ctx), 48);
    assert_eq!(offset_of!(DLManagedTensor, deleter), 56);
    assert_eq!(size_of::<DLManagedTensorVersioned>(), 80);
    assert_eq!(offset_of!(DLManagedTensorVersioned, manager_ctx), 8);
    assert_eq!(offset_of!(DLManagedTensorVersioned, deleter), 16);
    assert_eq!(offset_of!(DLManagedTensorVersioned, flags), 24);
    assert_eq!(offset_of!(DLManagedTensorVersioned, dl_tensor), 32);
    // Option<extern fn> is a nullable function pointer.
    assert_eq!(
        size_of::<Option<unsafe extern "C" fn(*mut DLManagedTensor)>>(),
        8
    );
    assert_eq!(CAPSULE_LEGACY.to_bytes(), b"dltensor");
    assert_eq!(CAPSULE_VERSIONED.to_bytes(), b"dltensor_versioned");
    assert_eq!(
        CAPSULE_VERSIONED_USED.to_bytes(),
        b"used_dltensor_versioned"
    );
    assert_eq!(CAPSULE_LEGACY_USED.to_bytes(), b"used_dltensor");
}

const CUDA0: DLDevice = DLDevice {
    device_type: KDL_CUDA,
    device_id: 0,
};

#[test]
fn nv12_views_use_the_pitch_as_row_stride() {
    let l = FrameLayout::new(PixelFormat::Nv12, 1920, 1080, 2048).unwrap();
    let base = 0x7000_0000;
    let whole = DlView::of_layout(&l, base, CUDA0, FramePart::Whole).unwrap();
    assert_eq!(whole.shape, [1620, 1920]);
    assert_eq!(whole.strides, [2048, 1]);
    assert_eq!(whole.dtype, uint(1));
    assert_eq!(whole.extent().unwrap(), Some(2048 * 1619 + 1920));
    assert!(whole.extent().unwrap().unwrap() <= l.byte_len() as u64);
    let y = DlView::of_layout(&l, base, CUDA0, FramePart::Luma).unwrap();
    assert_eq!(
        (y.data, y.shape.clone(), y.strides.clone()),
        (base, vec![1080, 1920], vec![2048, 1])
    );
    let uv = DlView::of_layout(&l, base, CUDA0, FramePart::Chroma).unwrap();
    assert_eq!(uv.data, base + 2048 * 1080);
    assert_eq!(uv.shape, [540, 960, 2]);
    assert_eq!(uv.strides, [2048, 2, 1]);
    assert_eq!(uv.extent().unwrap(), Some(2048 * 539 + 959 * 2 + 2));
}

#[test]
fn other_formats() {
    let p = FrameLayout::new(PixelFormat::P016, 64, 32, 256).unwrap();
    let v = DlView::of_layout(&p, 0, CUDA0, FramePart::Whole).unwrap();
    assert_eq!(
        (v.shape, v.strides, v.dtype),
        (vec![48, 64], vec![128, 1], uint(2))
    );
    let rgb = FrameLayout::new(PixelFormat::Rgba, 10, 4, 64).unwrap();
    let v = DlView::of_layout(&rgb, 0, CUDA0, FramePart::Whole).unwrap();
    assert_eq!((v.shape, v.strides), (vec![4, 10, 4], vec![64, 4, 1]));
    assert!(DlView::of_layout(&rgb, 0, CUDA0, FramePart::Luma).is_err());
    let planar = FrameLayout::new(PixelFormat::RgbPlanarF32, 8, 2, 64).unwrap();
    let v = DlView::of_layout(&planar, 0, CUDA0, FramePart::Whole).unwrap();
    assert_eq!((v.shape, v.strides), (vec![3, 2, 8], vec![32, 16, 1]));
    let v = DlView::of_layout(&planar, 0, CUDA0, FramePart::Whole).unwrap();
    assert_eq!(v.dtype.code, KDL_FLOAT);
    assert_eq!(
        v.extent().unwrap(),
        Some(planar.byte_len() as u64 - (64 - 32))
    );
    let t = RawTensor {
        ptr: 0x1000,
        batch: 8,
        height: 448,
        width: 448,
        dtype: TensorDtype::F16,
    };
    let v = DlView::of_raw_tensor(&t, 3);
    assert_eq!(v.shape, [8, 3, 448, 448]);
    assert_eq!(v.strides, [3 * 448 * 448, 448 * 448, 448, 1]);
    assert_eq!(
        v.device,
        DLDevice {
            device_type: KDL_CUDA,
            device_id: 3
        }
    );
    assert_eq!(v.extent().unwrap(), Some(8 * 3 * 448 * 448 * 2));
    assert_eq!(device_of(MemoryKind::Pinned, 1).device_type, KDL_CUDA_HOST);
    assert_eq!(
        device_of(MemoryKind::Managed, 1).device_type,
        KDL_CUDA_MANAGED
    );
}

#[test]
fn stream_protocol_values() {
    use ConsumerStream as C;
    let from = |v| {
        // SAFETY: the handles are never passed to a driver in this test.
        unsafe { C::from_protocol(v) }
    };
    assert_eq!(from(None).unwrap(), C::Legacy);
    assert_eq!(from(Some(1)).unwrap(), C::Legacy);
    assert!(
        from(Some(2)).is_err(),
        "the per-thread default stream is rejected"
    );
    assert_eq!(from(Some(-1)).unwrap(), C::Unordered);
    assert!(from(Some(0)).is_err());
    assert!(from(Some(-5)).is_err());
    // SAFETY: as above.
    let raw = unsafe { C::raw_handle(0x5555_0000usize as CUstream) };
    assert_eq!(from(Some(0x5555_0000)).unwrap(), raw);
    assert_eq!(C::Unordered.raw(), None);
    assert_eq!(C::Legacy.raw(), Some(1usize as CUstream));
}

#[test]
fn import_validates_torch_style_images() {
    let u8t = uint(1);
    // A compact HxWx3 uint8 CUDA tensor (torch's default layout).
    let il = import_layout(
        CUDA0,
        u8t,
        &[1080, 1920, 3],
        None,
        0x9000,
        0,
        PixelFormat::Rgb24,
    )
    .unwrap();
    assert_eq!(
        il.layout,
        FrameLayout::new(PixelFormat::Rgb24, 1920, 1080, 5760).unwrap()
    );
    assert_eq!((il.ptr, il.kind), (0x9000, MemoryKind::Device));
    // Padded rows and a byte offset (a crop of a larger image).
    let il = import_layout(
        CUDA0,
        u8t,
        &[720, 1280, 4],
        Some(&[8192, 4, 1]),
        0x9000,
        64,
        PixelFormat::Rgba,
    )
    .unwrap();
    assert_eq!((il.layout.pitch, il.ptr), (8192, 0x9040));
    // NV12 as (H*3/2) x W.
    let il = import_layout(
        CUDA0,
        u8t,
        &[1620, 1920],
        Some(&[2048, 1]),
        0,
        0,
        PixelFormat::Nv12,
    )
    .unwrap();
    assert_eq!(
        (il.layout.width, il.layout.height, il.layout.pitch),
        (1920, 1080, 2048)
    );
    // Rejected: CPU memory, wrong dtype, channels-first, wrong channel count, odd NV12 rows.
    let cpu = DLDevice {
        device_type: KDL_CPU,
        device_id: 0,
    };
    let e = import_layout(cpu, u8t, &[4, 4, 3], None, 0, 0, PixelFormat::Rgb24).unwrap_err();
    assert!(e.to_string().contains("not CUDA memory"), "{e}");
    let f32t = DLDataType {
        code: KDL_FLOAT,
        bits: 32,
        lanes: 1,
    };
    assert!(import_layout(CUDA0, f32t, &[4, 4, 3], None, 0, 0, PixelFormat::Rgb24).is_err());
    let e = import_layout(
        CUDA0,
        u8t,
        &[3, 4, 4],
        Some(&[16, 4, 1]),
        0,
        0,
        PixelFormat::Rgb24,
    )
    .unwrap_err();
    assert!(e.to_string().contains("H x W x 3"), "{e}");
    let e = import_layout(
        CUDA0,
        u8t,
        &[4, 4, 3],
        Some(&[1, 12, 4]),
        0,
        0,
        PixelFormat::Rgb24,
    )
    .unwrap_err();
    assert!(e.to_string().contains("contiguous"), "{e}");
    assert!(import_layout(CUDA0, u8t, &[4, 4, 4], None, 0, 0, PixelFormat::Rgb24).is_err());
    assert!(import_layout(CUDA0, u8t, &[7, 4], None, 0, 0, PixelFormat::Nv12).is_err());
    assert!(import_layout(CUDA0, u8t, &[0, 4, 3], None, 0, 0, PixelFormat::Rgb24).is_err());
    assert!(import_layout(CUDA0, u8t, &[4, 4, 3], None, 0, 0, PixelFormat::Yuv444).is_err());
    let u16t = uint(2);
    let il = import_layout(CUDA0, u16t, &[2, 2, 3], None, 0, 0, PixelFormat::Rgb48).unwrap();
    assert_eq!(il.layout.pitch, 12);
}

/// Fake memory: counts drops and logs the stream calls.
struct Fake {
    ptr: u64,
    len: usize,
    drops: &'static AtomicUsize,
    log: &'static Mutex<Vec<String>>,
}

impl Owner for Fake {
    fn bounds(&self) -> (u64, usize) {
        (self.ptr, self.len)
    }
    fn before_consumer(&self, raw: CUstream) -> Result<()> {
        self.log
            .lock()
            .unwrap()
            .push(format!("wait {}", raw as usize));
        Ok(())
    }
    fn after_consumer(&self, raw: CUstream) {
        self.log
            .lock()
            .unwrap()
            .push(format!("record {}", raw as usize));
    }
    fn sync_context(&self) {
        self.log.lock().unwrap().push("sync context".into());
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        self.log.lock().unwrap().push("free".into());
    }
}

fn fake(drops: &'static AtomicUsize, log: &'static Mutex<Vec<String>>) -> Box<dyn Owner> {
    Box::new(Fake {
        ptr: 0x10_0000,
        len: 2048 * 1620,
        drops,
        log,
    })
}

fn nv12_view() -> DlView {
    let l = FrameLayout::new(PixelFormat::Nv12, 1920, 1080, 2048).unwrap();
    DlView::of_layout(&l, 0x10_0000, CUDA0, FramePart::Whole).unwrap()
}

#[test]
fn versioned_export_keeps_memory_until_the_deleter() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let e = export_boxed(
        fake(&DROPS, &LOG),
        nv12_view(),
        // SAFETY: the fake owner never passes the handle to a driver.
        unsafe { ConsumerStream::raw_handle(0x77 as CUstream) },
    )
    .unwrap();
    let p = e.read_only().into_versioned();
    assert_eq!(*LOG.lock().unwrap(), ["wait 119"]);
    assert_eq!(DROPS.load(Ordering::SeqCst), 0);
    // SAFETY: `p` is the live managed tensor just exported; its deleter is called once.
    unsafe {
        let m = p.as_ref();
        assert_eq!(m.version, DLPackVersion { major: 1, minor: 1 });
        assert_eq!(m.flags, DLPACK_FLAG_BITMASK_READ_ONLY);
        assert_eq!(m.manager_ctx, p.as_ptr().cast());
        let t = &m.dl_tensor;
        assert_eq!((t.data as u64, t.ndim, t.byte_offset), (0x10_0000, 2, 0));
        assert_eq!(std::slice::from_raw_parts(t.shape, 2), [1620, 1920]);
        assert_eq!(std::slice::from_raw_parts(t.strides, 2), [2048, 1]);
        assert_eq!(t.dtype, uint(1));
        assert_eq!(t.device, CUDA0);
        (m.deleter.unwrap())(p.as_ptr());
    }
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    // The consumer's work is recorded before the memory is released.
    assert_eq!(*LOG.lock().unwrap(), ["wait 119", "record 119", "free"]);
}

#[test]
fn legacy_export_and_unconsumed_exports() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let p = export_boxed(fake(&DROPS, &LOG), nv12_view(), ConsumerStream::Unordered)
        .unwrap()
        .into_legacy();
    // SAFETY: as above.
    unsafe {
        let m = p.as_ref();
        assert_eq!(m.manager_ctx, p.as_ptr().cast());
        assert_eq!(
            std::slice::from_raw_parts(m.dl_tensor.shape, 2),
            [1620, 1920]
        );
        (m.deleter.unwrap())(p.as_ptr());
    }
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    // Dropping an export that was never handed out releases the memory too.
    let e = export_boxed(fake(&DROPS, &LOG), nv12_view(), ConsumerStream::Legacy).unwrap();
    assert_eq!(e.shape(), [1620, 1920]);
    drop(e);
    assert_eq!(DROPS.load(Ordering::SeqCst), 2);
    // The unordered export's deleter waited for the whole context before the release.
    assert_eq!(
        *LOG.lock().unwrap(),
        ["sync context", "free", "wait 1", "record 1", "free"]
    );
    // A view outside the allocation is refused (and the owner released).
    let mut v = nv12_view();
    v.shape[0] = 1621;
    let err = export_boxed(fake(&DROPS, &LOG), v, ConsumerStream::Unordered).unwrap_err();
    assert!(err.to_string().contains("outside the allocation"), "{err}");
    assert_eq!(DROPS.load(Ordering::SeqCst), 3);
}

#[test]
fn imported_tensors_are_deleted_once() {
    static DELETED: AtomicUsize = AtomicUsize::new(0);
    unsafe extern "C" fn deleter(_p: *mut DLManagedTensorVersioned) {
        DELETED.fetch_add(1, Ordering::SeqCst);
    }
    let mut shape = [4i64, 4, 3];
    let mut m = DLManagedTensorVersioned {
        version: DLPackVersion { major: 1, minor: 0 },
        manager_ctx: std::ptr::null_mut(),
        deleter: Some(deleter),
        flags: 0,
        dl_tensor: DLTensor {
            data: std::ptr::null_mut(),
            device: CUDA0,
            ndim: 3,
            dtype: uint(1),
            shape: shape.as_mut_ptr(),
            strides: std::ptr::null_mut(),
            byte_offset: 0,
        },
    };
    let mut managed = Managed::Versioned(NonNull::from(&mut m));
    assert_eq!(managed.tensor().ndim, 3);
    managed.delete();
    assert_eq!(DELETED.load(Ordering::SeqCst), 1);
}
