//! DLPack: handing frames and tensors to other libraries (PyTorch, CuPy, JAX, cudarc users)
//! without a copy, and taking their CUDA tensors as input.
//!
//! [`ffi`] is the C ABI of `dlpack.h` 1.x (`DLManagedTensorVersioned`) and of the legacy
//! `DLManagedTensor` older consumers take, written here (checked against the header's layout
//! in the tests) rather than taken from `dlpark`, whose 0.10 needs Rust 1.88 (nvdx: 1.85).
//!
//! # Export: [`export`]
//! A [`DlView`] describes one strided view of an nvdx allocation (a whole NV12 frame as an
//! `(H * 3/2) x W` byte matrix with the pitch as row stride, its luma or chroma plane, a
//! packed RGB frame, an `N x 3 x H x W` [`Tensor`]); [`export`] wraps it with an owning handle
//! (an `Arc` of the frame or tensor) into a managed tensor. The memory stays alive until the
//! consumer calls the deleter; then the handle drops and the memory goes back to its pool (or
//! is freed) in stream order.
//!
//! Streams follow the DLPack protocol (`__dlpack__(stream=...)`): the consumer names the stream
//! it will use ([`ConsumerStream`]); at export that stream waits, on the GPU, for the last
//! write of the memory (an event wait, never a host sync), and when the deleter runs the work
//! the consumer queued on that stream until then is recorded as a use of the memory, so the
//! memory is neither rewritten (pool reuse) nor freed before that work has run.
//!
//! # Import: [`DlpackImage`]
//! A CUDA tensor from another library becomes a [`FrameView`] (packed RGB `H x W x 3|4` u8,
//! `H x W x 3` u16, or an NV12 `(H * 3/2) x W` byte matrix) that nvdx's kernels read, e.g.
//! [`rgb_to_yuv420`](crate::kernels::colour::rgb_to_yuv420) into a [`Frame`](crate::Frame)
//! for the encoder. It is tracked like nvdx memory: created "written on" the stream the
//! producer made it ready on, so every nvdx use on any stream orders after the producer's
//! work; dropping it waits for nvdx's own uses of it (its events, not the device) and then
//! calls the producer's deleter.
//!
//! ```no_run
//! # fn main() -> nvdx::Result<()> {
//! use std::sync::Arc;
//! use nvdx::dlpack::{export, ConsumerStream, DlView, FramePart};
//! let ctx = nvdx::Context::primary(0)?;
//! let stream = nvdx::Stream::new(&ctx)?;
//! let reader = nvdx::VideoReader::open("fixtures/sample.mp4")?;
//! let frame = Arc::new(reader.frame_at(0, &stream)?);
//! let view = DlView::of_frame(&*frame, FramePart::Whole)?;
//! // The consumer will read on `stream` (a torch stream's handle in Python).
//! // SAFETY: `stream` is a live stream of the frame's context and outlives the export.
//! let managed = export(frame, view, unsafe { ConsumerStream::raw_handle(stream.raw()) })?;
//! let raw = managed.into_versioned();
//! // ... hand `raw` to the consumer, which calls its deleter when done.
//! # let _ = raw;
//! # Ok(()) }
//! ```

use std::ptr::NonNull;
use std::sync::Arc;

use nvdx_sys::cuda::CUstream;

use crate::access::{Access, FrameParts, FrameSealed, MemRef, MemorySealed};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::frame::{FrameLayout, FrameMeta, FrameView, PixelFormat};
use crate::kernels::colour::{RawTensor, Tensor, TensorDtype};
use crate::memory::{AsDevicePtr, MemoryKind};
use crate::stream::{next_stream_id, Stream, StreamRef};

pub mod ffi {
    //! The C ABI of `dlpack.h` (v1.1), field for field.
    #![allow(non_camel_case_types, non_snake_case)]

    use std::ffi::c_void;

    /// The DLPack version this module implements.
    pub const DLPACK_MAJOR_VERSION: u32 = 1;
    /// The DLPack minor version this module implements.
    pub const DLPACK_MINOR_VERSION: u32 = 1;
    /// Flag: the consumer must not write to the memory.
    pub const DLPACK_FLAG_BITMASK_READ_ONLY: u64 = 1 << 0;
    /// Flag: the producer copied the data for this export.
    pub const DLPACK_FLAG_BITMASK_IS_COPIED: u64 = 1 << 1;

    /// `DLDeviceType::kDLCPU`.
    pub const KDL_CPU: i32 = 1;
    /// `DLDeviceType::kDLCUDA`.
    pub const KDL_CUDA: i32 = 2;
    /// `DLDeviceType::kDLCUDAHost` (pinned host memory).
    pub const KDL_CUDA_HOST: i32 = 3;
    /// `DLDeviceType::kDLCUDAManaged` (unified memory).
    pub const KDL_CUDA_MANAGED: i32 = 13;

    /// `DLDataTypeCode::kDLInt`.
    pub const KDL_INT: u8 = 0;
    /// `DLDataTypeCode::kDLUInt`.
    pub const KDL_UINT: u8 = 1;
    /// `DLDataTypeCode::kDLFloat`.
    pub const KDL_FLOAT: u8 = 2;
    /// `DLDataTypeCode::kDLBfloat`.
    pub const KDL_BFLOAT: u8 = 4;

    /// `DLPackVersion`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DLPackVersion {
        /// Major version (ABI breaks).
        pub major: u32,
        /// Minor version.
        pub minor: u32,
    }

    /// `DLDevice`: the device type (a C enum, `int32_t`) and the device ordinal.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DLDevice {
        /// `DLDeviceType`.
        pub device_type: i32,
        /// Device ordinal (the CUDA ordinal for `kDLCUDA`).
        pub device_id: i32,
    }

    /// `DLDataType`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct DLDataType {
        /// `DLDataTypeCode`.
        pub code: u8,
        /// Bits per lane.
        pub bits: u8,
        /// Lanes (1 for scalars).
        pub lanes: u16,
    }

    /// `DLTensor`: a strided view; `strides` are in elements and may be null (compact
    /// row-major).
    #[repr(C)]
    #[derive(Debug, Clone, Copy)]
    pub struct DLTensor {
        /// Base address (device address for CUDA).
        pub data: *mut c_void,
        /// Where the memory lives.
        pub device: DLDevice,
        /// Number of dimensions.
        pub ndim: i32,
        /// Element type.
        pub dtype: DLDataType,
        /// `ndim` extents.
        pub shape: *mut i64,
        /// `ndim` strides in elements, or null for compact row-major.
        pub strides: *mut i64,
        /// Bytes from `data` to the first element.
        pub byte_offset: u64,
    }

    /// `DLManagedTensor` (legacy, unversioned; capsule name `"dltensor"`).
    #[repr(C)]
    #[derive(Debug)]
    pub struct DLManagedTensor {
        /// The view.
        pub dl_tensor: DLTensor,
        /// The producer's state.
        pub manager_ctx: *mut c_void,
        /// Called once by the consumer when it no longer needs the memory.
        pub deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
    }

    /// `DLManagedTensorVersioned` (DLPack >= 1.0; capsule name `"dltensor_versioned"`).
    #[repr(C)]
    #[derive(Debug)]
    pub struct DLManagedTensorVersioned {
        /// The ABI version of this struct.
        pub version: DLPackVersion,
        /// The producer's state.
        pub manager_ctx: *mut c_void,
        /// Called once by the consumer when it no longer needs the memory.
        pub deleter: Option<unsafe extern "C" fn(*mut DLManagedTensorVersioned)>,
        /// `DLPACK_FLAG_BITMASK_*`.
        pub flags: u64,
        /// The view.
        pub dl_tensor: DLTensor,
    }
}

use ffi::{
    DLDataType, DLDevice, DLManagedTensor, DLManagedTensorVersioned, DLPackVersion, DLTensor,
};

/// Python capsule name of a [`ffi::DLManagedTensor`].
pub const CAPSULE_LEGACY: &std::ffi::CStr = c"dltensor";
/// Python capsule name of a [`ffi::DLManagedTensorVersioned`].
pub const CAPSULE_VERSIONED: &std::ffi::CStr = c"dltensor_versioned";
/// What a consumer renames a legacy capsule to once it owns the tensor.
pub const CAPSULE_LEGACY_USED: &std::ffi::CStr = c"used_dltensor";
/// What a consumer renames a versioned capsule to once it owns the tensor.
pub const CAPSULE_VERSIONED_USED: &std::ffi::CStr = c"used_dltensor_versioned";

/// The DLPack device of memory of `kind` on GPU `ordinal`.
pub fn device_of(kind: MemoryKind, ordinal: u32) -> DLDevice {
    match kind {
        MemoryKind::Device => DLDevice {
            device_type: ffi::KDL_CUDA,
            device_id: ordinal as i32,
        },
        MemoryKind::Pinned => DLDevice {
            device_type: ffi::KDL_CUDA_HOST,
            device_id: 0,
        },
        MemoryKind::Managed => DLDevice {
            device_type: ffi::KDL_CUDA_MANAGED,
            device_id: ordinal as i32,
        },
    }
}

/// `u8` (or `u16` for `bytes == 2`) elements.
fn uint(bytes: usize) -> DLDataType {
    DLDataType {
        code: ffi::KDL_UINT,
        bits: (8 * bytes) as u8,
        lanes: 1,
    }
}

/// Which part of a frame an export shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramePart {
    /// The whole allocation: packed formats as `H x W x C`, 4:2:0 formats as one
    /// `(H * 3/2) x W` matrix (luma rows, then the interleaved chroma rows), planar formats as
    /// `3 x H x W`; the pitch is the row stride.
    Whole,
    /// The luma plane of a 4:2:0 frame, `H x W`.
    Luma,
    /// The interleaved chroma plane of a 4:2:0 frame, `H/2 x W/2 x 2` (U, V).
    Chroma,
}

/// One strided view of memory, as a DLPack tensor describes it (strides in elements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlView {
    /// Address of the first element.
    pub data: u64,
    /// Extents.
    pub shape: Vec<i64>,
    /// Strides in elements.
    pub strides: Vec<i64>,
    /// Element type.
    pub dtype: DLDataType,
    /// Where the memory lives.
    pub device: DLDevice,
}

impl DlView {
    /// The view of `part` of a frame of `layout` at `base` (pure arithmetic, see
    /// [`FramePart`]).
    pub fn of_layout(
        layout: &FrameLayout,
        base: u64,
        device: DLDevice,
        part: FramePart,
    ) -> Result<DlView> {
        let f = layout.format;
        let es = f.bytes_per_sample();
        let (h, w) = (layout.height as i64, layout.width as i64);
        let pitch = (layout.pitch / es) as i64;
        let spp = f.samples_per_pixel() as i64;
        let (data, shape, strides) = match (part, f.is_420(), f.plane_count()) {
            (FramePart::Whole, true, _) => (base, vec![h * 3 / 2, w], vec![pitch, 1]),
            (FramePart::Luma, true, _) => (base, vec![h, w], vec![pitch, 1]),
            (FramePart::Chroma, true, _) => (
                base + layout.pitch as u64 * layout.height as u64,
                vec![h / 2, w / 2, 2],
                vec![pitch, 2, 1],
            ),
            (FramePart::Whole, false, 3) => (base, vec![3, h, w], vec![pitch * h, pitch, 1]),
            (FramePart::Whole, false, _) => (base, vec![h, w, spp], vec![pitch, spp, 1]),
            (part, false, _) => {
                return Err(Error::InvalidArgument(format!(
                    "{f:?} has no {part:?} plane: only 4:2:0 frames (NV12, P016) have luma and \
                     chroma planes"
                )))
            }
        };
        let dtype = match f {
            PixelFormat::RgbPlanarF16 => DLDataType {
                code: ffi::KDL_FLOAT,
                bits: 16,
                lanes: 1,
            },
            PixelFormat::RgbPlanarF32 => DLDataType {
                code: ffi::KDL_FLOAT,
                bits: 32,
                lanes: 1,
            },
            _ => uint(es),
        };
        Ok(DlView {
            data,
            shape,
            strides,
            dtype,
            device,
        })
    }

    /// The view of `part` of a frame.
    pub fn of_frame(frame: &(impl FrameView + ?Sized), part: FramePart) -> Result<DlView> {
        let device = device_of(frame.memory_kind(), frame.context().device().ordinal());
        DlView::of_layout(frame.layout(), frame.device_ptr(), device, part)
    }

    /// The contiguous `N x 3 x H x W` view of a tensor on GPU `ordinal` (pure arithmetic).
    pub fn of_raw_tensor(t: &RawTensor, ordinal: u32) -> DlView {
        let (h, w) = (t.height as i64, t.width as i64);
        DlView {
            data: t.ptr,
            shape: vec![t.batch as i64, 3, h, w],
            strides: vec![3 * h * w, h * w, w, 1],
            dtype: DLDataType {
                code: ffi::KDL_FLOAT,
                bits: match t.dtype {
                    TensorDtype::F16 => 16,
                    TensorDtype::F32 => 32,
                },
                lanes: 1,
            },
            device: device_of(MemoryKind::Device, ordinal),
        }
    }

    /// The view of a whole tensor.
    pub fn of_tensor(t: &Tensor) -> DlView {
        DlView::of_raw_tensor(&t.raw(), t.buffer().context().device().ordinal())
    }

    /// Bytes per element.
    pub fn element_bytes(&self) -> usize {
        (self.dtype.bits as usize * self.dtype.lanes as usize).div_ceil(8)
    }

    /// The byte range `[start, end)` the view touches, relative to `data`; `None` for an
    /// empty view, an error for negative strides or overflow.
    pub fn extent(&self) -> Result<Option<u64>> {
        if self.shape.len() != self.strides.len() {
            return Err(Error::InvalidArgument(format!(
                "{} extents but {} strides",
                self.shape.len(),
                self.strides.len()
            )));
        }
        let mut last: u64 = 0;
        for (&n, &s) in self.shape.iter().zip(&self.strides) {
            if n < 0 || s < 0 {
                return Err(Error::InvalidArgument(format!(
                    "negative extent or stride ({n}, {s}) in a DLPack view"
                )));
            }
            if n == 0 {
                return Ok(None);
            }
            let step = (n as u64 - 1)
                .checked_mul(s as u64)
                .and_then(|v| last.checked_add(v));
            last =
                step.ok_or_else(|| Error::InvalidArgument("DLPack view extent overflows".into()))?;
        }
        Ok(Some((last + 1) * self.element_bytes() as u64))
    }
}

/// The stream a consumer will use the memory on, as the DLPack protocol names it
/// (`__dlpack__(stream=...)` for CUDA).
///
/// The consumer is treated as a **writer** (it may write through the tensor): its stream
/// waits for every pending nvdx use at export, and its work is recorded as the memory's last
/// write when the deleter runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerStream {
    /// `-1`: the consumer orders its work itself. nvdx cannot see it, so the deleter waits for
    /// the whole context before the memory can be reused (a device-wide sync: avoid it on hot
    /// paths).
    Unordered,
    /// `None` or `1`: the legacy default stream.
    Legacy,
    /// A stream handle of the memory's context ([`ConsumerStream::raw_handle`]).
    Raw(RawConsumerStream),
}

/// A consumer's stream handle, which nvdx passes to the driver as it is. Made only by the
/// `unsafe` [`ConsumerStream::raw_handle`] / [`ConsumerStream::from_protocol`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawConsumerStream(CUstream);

// SAFETY: a stream handle is a plain value usable from any thread (the driver is thread-safe).
unsafe impl Send for RawConsumerStream {}
// SAFETY: as above.
unsafe impl Sync for RawConsumerStream {}

impl ConsumerStream {
    /// A consumer stream from a raw handle.
    ///
    /// # Safety
    /// `stream` is a live stream of the exported memory's context (not the per-thread default
    /// stream, whose meaning depends on the calling thread), and stays alive until the export's
    /// deleter has run.
    pub unsafe fn raw_handle(stream: CUstream) -> ConsumerStream {
        ConsumerStream::Raw(RawConsumerStream(stream))
    }

    /// Maps the protocol's `stream` argument (`None`, `-1`, `0`, `1`, a handle). `0` is
    /// ambiguous in the spec and rejected, as the array API standard says; `2` (the per-thread
    /// default stream) is rejected because the deleter may run on another thread, where `2`
    /// names another stream: pass the stream's handle instead.
    ///
    /// # Safety
    /// As for [`ConsumerStream::raw_handle`] when `stream` is a handle (any other value): the
    /// DLPack protocol's contract with the consumer.
    pub unsafe fn from_protocol(stream: Option<i64>) -> Result<ConsumerStream> {
        Ok(match stream {
            None | Some(1) => ConsumerStream::Legacy,
            Some(-1) => ConsumerStream::Unordered,
            Some(2) => {
                return Err(Error::InvalidArgument(
                    "stream=2 (the per-thread default stream) is not supported: the memory may \
                     be released on another thread, where 2 names another stream; pass the \
                     stream's handle (e.g. torch.cuda.current_stream().cuda_stream)"
                        .into(),
                ))
            }
            Some(0) => {
                return Err(Error::InvalidArgument(
                    "stream=0 is ambiguous for CUDA in the DLPack protocol: pass 1 for the \
                     legacy default stream or a stream handle"
                        .into(),
                ))
            }
            Some(h) if h < 0 => {
                return Err(Error::InvalidArgument(format!(
                    "stream={h} is not a CUDA stream"
                )))
            }
            // SAFETY: forwarded caller contract.
            Some(h) => unsafe { ConsumerStream::raw_handle(h as usize as CUstream) },
        })
    }

    fn raw(self) -> Option<CUstream> {
        match self {
            ConsumerStream::Unordered => None,
            ConsumerStream::Legacy => Some(1usize as CUstream),
            ConsumerStream::Raw(s) => Some(s.0),
        }
    }
}

/// What an export keeps alive: an owning handle of tracked nvdx memory.
trait Owner: Send + Sync {
    /// Address and size of the allocation.
    fn bounds(&self) -> (u64, usize);
    /// Makes the consumer's stream wait for every pending use (the consumer may write).
    fn before_consumer(&self, raw: CUstream) -> Result<()>;
    /// Records the consumer's work queued so far as the last write (from the deleter).
    fn after_consumer(&self, raw: CUstream);
    /// Waits for the whole context (the deleter of an unordered export).
    fn sync_context(&self);
}

impl<T: MemorySealed + Send + Sync + 'static> Owner for Arc<T> {
    fn bounds(&self) -> (u64, usize) {
        let m = self.mem();
        (m.ptr, m.len)
    }

    fn before_consumer(&self, raw: CUstream) -> Result<()> {
        let mem = self.mem();
        // The default-stream handles (1, 2) need the context current.
        let _guard = mem.ctx.bind()?;
        mem.access.before_write(StreamRef {
            raw,
            id: next_stream_id(),
            ctx: mem.ctx,
            keep: None,
        })
    }

    fn after_consumer(&self, raw: CUstream) {
        let mem = self.mem();
        let recorded = mem.ctx.bind().and_then(|_guard| {
            let sref = StreamRef {
                raw,
                id: next_stream_id(),
                ctx: mem.ctx,
                keep: None,
            };
            // Uses nvdx queued elsewhere while the consumer held the export: the consumer's
            // stream waits for them first, so the write recorded next covers them too.
            mem.access.before_write(sref)?;
            mem.access.after_write(sref)
        });
        if recorded.is_err() {
            // Not recorded: wait for the consumer's stream instead, so nothing overtakes it.
            let _ = mem
                .ctx
                .bind()
                .and_then(|_g| crate::cu::stream_synchronize(raw));
        }
    }

    fn sync_context(&self) {
        let _ = self.mem().ctx.synchronize();
    }
}

impl MemorySealed for Tensor {
    fn mem(&self) -> MemRef<'_> {
        self.buffer().mem()
    }
}
impl AsDevicePtr for Tensor {}

/// The producer's state behind `manager_ctx`.
struct ExportState {
    owner: Box<dyn Owner>,
    shape: Vec<i64>,
    strides: Vec<i64>,
    consumer: Option<CUstream>,
}

impl Drop for ExportState {
    fn drop(&mut self) {
        // Record the consumer's work so far as the last write: the pool's next user and the
        // free wait for it; then the owner drops. An unordered consumer's work is invisible
        // to nvdx: wait for the whole context instead.
        match self.consumer {
            Some(raw) => self.owner.after_consumer(raw),
            None => self.owner.sync_context(),
        }
    }
}

/// A managed tensor nvdx produced, not yet handed to a consumer (dropping it releases the
/// memory like a consumer's deleter call would).
pub struct Exported {
    state: Box<ExportState>,
    data: u64,
    dtype: DLDataType,
    device: DLDevice,
    read_only: bool,
}

impl std::fmt::Debug for Exported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exported")
            .field("shape", &self.state.shape)
            .field("strides", &self.state.strides)
            .field("dtype", &self.dtype)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// Exports `view` of `owner`'s memory for a consumer that will use it on `consumer`: that
/// stream waits (on the GPU) for the memory's last write now, and the memory (kept alive by
/// `owner`) is released when the consumer calls the deleter, after the consumer's work queued
/// on that stream by then.
///
/// `owner` is a [`Frame`](crate::Frame), [`PooledFrame`](crate::PooledFrame) or [`Tensor`]
/// (anything nvdx tracks) in an `Arc`; the view must lie inside its allocation.
pub fn export<T>(owner: Arc<T>, view: DlView, consumer: ConsumerStream) -> Result<Exported>
where
    T: MemorySealed + Send + Sync + 'static,
{
    export_boxed(Box::new(owner), view, consumer)
}

fn export_boxed(owner: Box<dyn Owner>, view: DlView, consumer: ConsumerStream) -> Result<Exported> {
    let (ptr, len) = owner.bounds();
    let end = view.extent()?.unwrap_or(0);
    let inside = view.data >= ptr
        && (view.data - ptr)
            .checked_add(end)
            .is_some_and(|e| e <= len as u64);
    if !inside {
        return Err(Error::InvalidArgument(format!(
            "DLPack view at {:#x} ({end} bytes) is outside the allocation at {ptr:#x} ({len} \
             bytes)",
            view.data
        )));
    }
    let raw = consumer.raw();
    if let Some(raw) = raw {
        owner.before_consumer(raw)?;
    }
    Ok(Exported {
        state: Box::new(ExportState {
            owner,
            shape: view.shape,
            strides: view.strides,
            consumer: raw,
        }),
        data: view.data,
        dtype: view.dtype,
        device: view.device,
        read_only: false,
    })
}

#[repr(C)]
struct Holder<M> {
    managed: M,
    state: Box<ExportState>,
}

impl Exported {
    /// Marks the export read-only (`DLPACK_FLAG_BITMASK_READ_ONLY`, versioned form only).
    pub fn read_only(mut self) -> Exported {
        self.read_only = true;
        self
    }

    /// Shape of the exported view.
    pub fn shape(&self) -> &[i64] {
        &self.state.shape
    }

    /// Strides (elements) of the exported view.
    pub fn strides(&self) -> &[i64] {
        &self.state.strides
    }

    fn tensor(&mut self) -> DLTensor {
        DLTensor {
            data: self.data as usize as *mut std::ffi::c_void,
            device: self.device,
            ndim: self.state.shape.len() as i32,
            dtype: self.dtype,
            shape: self.state.shape.as_mut_ptr(),
            strides: self.state.strides.as_mut_ptr(),
            byte_offset: 0,
        }
    }

    /// The DLPack 1.x managed tensor. The consumer owns it: it must call `deleter` exactly
    /// once (from any thread).
    pub fn into_versioned(mut self) -> NonNull<DLManagedTensorVersioned> {
        let dl_tensor = self.tensor();
        let flags = if self.read_only {
            ffi::DLPACK_FLAG_BITMASK_READ_ONLY
        } else {
            0
        };
        let holder = Box::new(Holder {
            managed: DLManagedTensorVersioned {
                version: DLPackVersion {
                    major: ffi::DLPACK_MAJOR_VERSION,
                    minor: ffi::DLPACK_MINOR_VERSION,
                },
                manager_ctx: std::ptr::null_mut(),
                deleter: Some(delete_versioned),
                flags,
                dl_tensor,
            },
            state: self.state,
        });
        let p = Box::into_raw(holder);
        // SAFETY: `p` is a fresh, valid allocation; `managed` is its first field (repr(C)).
        unsafe {
            (*p).managed.manager_ctx = p.cast();
            NonNull::new_unchecked(p.cast::<DLManagedTensorVersioned>())
        }
    }

    /// The legacy (unversioned) managed tensor, for consumers without DLPack 1.x support.
    pub fn into_legacy(mut self) -> NonNull<DLManagedTensor> {
        let dl_tensor = self.tensor();
        let holder = Box::new(Holder {
            managed: DLManagedTensor {
                dl_tensor,
                manager_ctx: std::ptr::null_mut(),
                deleter: Some(delete_legacy),
            },
            state: self.state,
        });
        let p = Box::into_raw(holder);
        // SAFETY: as in `into_versioned`.
        unsafe {
            (*p).managed.manager_ctx = p.cast();
            NonNull::new_unchecked(p.cast::<DLManagedTensor>())
        }
    }
}

unsafe extern "C" fn delete_versioned(p: *mut DLManagedTensorVersioned) {
    if p.is_null() {
        return;
    }
    // SAFETY: `p` came from `into_versioned` (its deleter is only ever this function's for
    // tensors nvdx made) and the consumer calls the deleter once: the box is reclaimed once.
    let holder =
        unsafe { Box::from_raw((*p).manager_ctx.cast::<Holder<DLManagedTensorVersioned>>()) };
    // A panic must not unwind into C.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(holder)));
}

unsafe extern "C" fn delete_legacy(p: *mut DLManagedTensor) {
    if p.is_null() {
        return;
    }
    // SAFETY: as in `delete_versioned`, for tensors from `into_legacy`.
    let holder = unsafe { Box::from_raw((*p).manager_ctx.cast::<Holder<DLManagedTensor>>()) };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(holder)));
}

// ---- import ------------------------------------------------------------------------------------

/// An imported managed tensor of either ABI, deleted once.
enum Managed {
    Versioned(NonNull<DLManagedTensorVersioned>),
    Legacy(NonNull<DLManagedTensor>),
}

impl Managed {
    fn tensor(&self) -> &DLTensor {
        // SAFETY: the pointer is live until `delete` (the caller of the import promised).
        unsafe {
            match self {
                Managed::Versioned(p) => &p.as_ref().dl_tensor,
                Managed::Legacy(p) => &p.as_ref().dl_tensor,
            }
        }
    }

    fn delete(&mut self) {
        // SAFETY: the producer's deleter, called once (from Drop), with its own pointer.
        unsafe {
            match *self {
                Managed::Versioned(p) => {
                    if let Some(d) = p.as_ref().deleter {
                        d(p.as_ptr());
                    }
                }
                Managed::Legacy(p) => {
                    if let Some(d) = p.as_ref().deleter {
                        d(p.as_ptr());
                    }
                }
            }
        }
    }
}

/// Where an importable DLPack tensor's picture lives: validated geometry (pure, CPU-tested).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLayout {
    /// The picture's layout (pitch from the row stride).
    pub layout: FrameLayout,
    /// Address of the first pixel (`data + byte_offset`).
    pub ptr: u64,
    /// Where the memory lives.
    pub kind: MemoryKind,
    /// The DLPack device ordinal.
    pub device_id: i32,
}

/// Reads an image of `format` from a DLPack tensor description: packed formats as
/// `H x W x C` (`C` = 3 or 4 channels of u8, or 3 of u16 for `Rgb48`) with unit channel
/// stride and a pixel stride of `C` elements; `Nv12`/`P016` as a `(H * 3/2) x W` matrix of
/// u8/u16. Rows may be padded (row stride >= row length); `strides` `None` means compact.
pub fn import_layout(
    device: DLDevice,
    dtype: DLDataType,
    shape: &[i64],
    strides: Option<&[i64]>,
    data: u64,
    byte_offset: u64,
    format: PixelFormat,
) -> Result<ImportLayout> {
    let kind = match device.device_type {
        ffi::KDL_CUDA => MemoryKind::Device,
        ffi::KDL_CUDA_HOST => MemoryKind::Pinned,
        ffi::KDL_CUDA_MANAGED => MemoryKind::Managed,
        t => {
            return Err(Error::InvalidArgument(format!(
                "a DLPack tensor on device type {t} is not CUDA memory (kDLCUDA = 2, \
                 kDLCUDAHost = 3, kDLCUDAManaged = 13): move it to the GPU first"
            )))
        }
    };
    let es = format.bytes_per_sample();
    if dtype.code != ffi::KDL_UINT || dtype.bits as usize != 8 * es || dtype.lanes != 1 {
        return Err(Error::InvalidArgument(format!(
            "{format:?} needs uint{} elements, the DLPack tensor has code {} bits {} lanes {}",
            8 * es,
            dtype.code,
            dtype.bits,
            dtype.lanes
        )));
    }
    let compact: Vec<i64>;
    let strides = match strides {
        Some(s) => s,
        None => {
            let mut c = vec![1i64; shape.len()];
            for i in (0..shape.len().saturating_sub(1)).rev() {
                c[i] = c[i + 1] * shape[i + 1];
            }
            compact = c;
            &compact
        }
    };
    if strides.len() != shape.len() {
        return Err(Error::InvalidArgument(format!(
            "{} extents but {} strides",
            shape.len(),
            strides.len()
        )));
    }
    let dims = |want: usize, what: &str| -> Result<()> {
        if shape.len() != want {
            return Err(Error::InvalidArgument(format!(
                "{format:?} from DLPack needs a {what} tensor, got shape {shape:?}"
            )));
        }
        Ok(())
    };
    let (w, h, row_stride) = if format.is_420() {
        dims(2, "(H * 3/2) x W")?;
        if shape[0] % 3 != 0 || strides[1] != 1 {
            return Err(Error::InvalidArgument(format!(
                "{format:?} from DLPack needs a (H * 3/2) x W matrix with unit column stride, \
                 got shape {shape:?} strides {strides:?}"
            )));
        }
        (shape[1], shape[0] / 3 * 2, strides[0])
    } else if format.plane_count() == 1 {
        let c = format.samples_per_pixel() as i64;
        dims(3, "H x W x C")?;
        if shape[2] != c || strides[2] != 1 || strides[1] != c {
            return Err(Error::InvalidArgument(format!(
                "{format:?} from DLPack needs H x W x {c} with channel stride 1 and pixel \
                 stride {c} (channels-last, rows contiguous), got shape {shape:?} strides \
                 {strides:?}: call .contiguous() first"
            )));
        }
        (shape[1], shape[0], strides[0])
    } else {
        return Err(Error::Unsupported(format!(
            "{format:?} cannot be imported from DLPack (packed RGB, NV12 and P016 can)"
        )));
    };
    let bad = |v: i64| v <= 0 || v > u32::MAX as i64;
    if bad(w) || bad(h) || row_stride <= 0 {
        return Err(Error::InvalidArgument(format!(
            "DLPack image shape {shape:?} strides {strides:?} is empty or negative"
        )));
    }
    let layout = FrameLayout::new(format, w as u32, h as u32, row_stride as usize * es)?;
    let ptr = data
        .checked_add(byte_offset)
        .ok_or_else(|| Error::InvalidArgument("DLPack data + byte_offset overflows".into()))?;
    Ok(ImportLayout {
        layout,
        ptr,
        kind,
        device_id: device.device_id,
    })
}

/// A CUDA tensor from another library, read by nvdx as a frame (see the [module](self) docs):
/// it implements [`FrameView`], so kernels such as
/// [`rgb_to_yuv420`](crate::kernels::colour::rgb_to_yuv420) take it directly.
pub struct DlpackImage {
    managed: Managed,
    layout: FrameLayout,
    ptr: u64,
    len: usize,
    kind: MemoryKind,
    id: u64,
    ctx: Context,
    access: Access,
}

// SAFETY: the managed tensor is only read (descriptor) and deleted once, from Drop; DLPack
// producers' deleters may be called from any thread (PyTorch's, CuPy's and nvdx's are
// thread-safe). The tracking is internally locked.
unsafe impl Send for DlpackImage {}
// SAFETY: shared references only read the descriptor and use the locked tracking.
unsafe impl Sync for DlpackImage {}

impl std::fmt::Debug for DlpackImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DlpackImage")
            .field("layout", &self.layout)
            .field("ptr", &format_args!("{:#x}", self.ptr))
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl DlpackImage {
    /// Imports a DLPack 1.x tensor as an image of `format`, ready on `ready_on` (the stream
    /// the consumer passed to the producer's `__dlpack__(stream=...)`, or any stream the
    /// producer's work is ordered before). A producer that only says which stream `P` it wrote
    /// on is handled with an event, not a host sync: `ready_on.wait_event(&P.record_event()?)`
    /// (or wrap `P` with [`Stream::from_raw_borrowed`] and pass it as `ready_on`).
    ///
    /// Takes ownership of the tensor whatever happens: on an error it is deleted at once.
    ///
    /// # Safety
    /// `tensor` is a live managed tensor the caller owns (e.g. from a `"dltensor_versioned"`
    /// capsule it renamed to used), describing memory that stays valid until its deleter runs.
    pub unsafe fn from_versioned(
        ctx: &Context,
        tensor: NonNull<DLManagedTensorVersioned>,
        format: PixelFormat,
        ready_on: &Stream,
    ) -> Result<DlpackImage> {
        // SAFETY: the caller promises `tensor` is live.
        let major = unsafe { tensor.as_ref().version.major };
        let managed = Managed::Versioned(tensor);
        if major != ffi::DLPACK_MAJOR_VERSION {
            let mut m = managed;
            m.delete();
            return Err(Error::Unsupported(format!(
                "DLPack major version {major} (nvdx reads {})",
                ffi::DLPACK_MAJOR_VERSION
            )));
        }
        DlpackImage::import(ctx, managed, format, ready_on)
    }

    /// [`DlpackImage::from_versioned`] for a legacy `DLManagedTensor` (`"dltensor"` capsule).
    ///
    /// # Safety
    /// As for [`DlpackImage::from_versioned`].
    pub unsafe fn from_legacy(
        ctx: &Context,
        tensor: NonNull<DLManagedTensor>,
        format: PixelFormat,
        ready_on: &Stream,
    ) -> Result<DlpackImage> {
        DlpackImage::import(ctx, Managed::Legacy(tensor), format, ready_on)
    }

    fn import(
        ctx: &Context,
        mut managed: Managed,
        format: PixelFormat,
        ready_on: &Stream,
    ) -> Result<DlpackImage> {
        let checked = (|| {
            let t = managed.tensor();
            if t.ndim < 0 || t.ndim > 8 || t.shape.is_null() {
                return Err(Error::InvalidArgument(format!(
                    "DLPack tensor with ndim {} and shape {:?}",
                    t.ndim, t.shape
                )));
            }
            let n = t.ndim as usize;
            // SAFETY: a valid DLTensor has `ndim` extents at `shape` and, if non-null, `ndim`
            // strides at `strides`.
            let shape = unsafe { std::slice::from_raw_parts(t.shape, n) };
            // SAFETY: as above.
            let strides =
                (!t.strides.is_null()).then(|| unsafe { std::slice::from_raw_parts(t.strides, n) });
            let il = import_layout(
                t.device,
                t.dtype,
                shape,
                strides,
                t.data as u64,
                t.byte_offset,
                format,
            )?;
            let ordinal = ctx.device().ordinal() as i32;
            if il.kind != MemoryKind::Pinned && il.device_id != ordinal {
                return Err(Error::InvalidArgument(format!(
                    "the DLPack tensor is on GPU {}, the context on GPU {ordinal}: move it \
                     first",
                    il.device_id
                )));
            }
            if ready_on.context() != ctx {
                return Err(Error::InvalidArgument(
                    "the ready_on stream belongs to another GPU than the import's context".into(),
                ));
            }
            Ok(il)
        })();
        let il = match checked {
            Ok(il) => il,
            Err(e) => {
                managed.delete();
                return Err(e);
            }
        };
        let len = il.layout.pitch * (il.layout.rows() - 1) + il.layout.row_bytes();
        let access = match Access::written_on(ready_on.tracking_ref()) {
            Ok(a) => a,
            Err(e) => {
                managed.delete();
                return Err(e);
            }
        };
        Ok(DlpackImage {
            managed,
            layout: il.layout,
            ptr: il.ptr,
            len,
            kind: il.kind,
            id: crate::memory::next_alloc_id(),
            ctx: ctx.clone(),
            access,
        })
    }

    /// Whether the producer marked the memory read-only (nvdx only reads it either way).
    pub fn is_read_only(&self) -> bool {
        match self.managed {
            // SAFETY: live until Drop.
            Managed::Versioned(p) => unsafe {
                p.as_ref().flags & ffi::DLPACK_FLAG_BITMASK_READ_ONLY != 0
            },
            Managed::Legacy(_) => false,
        }
    }
}

impl FrameSealed for DlpackImage {
    fn frame_parts(&self) -> FrameParts<'_> {
        FrameParts {
            mem: self.mem(),
            layout: &self.layout,
            meta: FrameMeta::default(),
        }
    }
}
impl FrameView for DlpackImage {}

impl MemorySealed for DlpackImage {
    fn mem(&self) -> MemRef<'_> {
        MemRef {
            ptr: self.ptr,
            len: self.len,
            kind: self.kind,
            id: self.id,
            ctx: &self.ctx,
            access: &self.access,
        }
    }
}
impl AsDevicePtr for DlpackImage {}

impl Drop for DlpackImage {
    fn drop(&mut self) {
        // The producer frees (or reuses) the memory after its deleter, ordered only after its
        // own streams: wait for nvdx's uses of it first (their events, not the device).
        if self.access.host_wait_uses().is_err() {
            let _ = self.ctx.synchronize();
        }
        self.managed.delete();
    }
}

#[cfg(test)]
mod tests;
