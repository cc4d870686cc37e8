//! DLPack with real GPU memory: nvdx's exports re-imported as nvdx images (both ABIs), the
//! memory kept alive by the export until the deleter, and imports ordered on their stream.

use std::sync::Arc;

use nvdx::dlpack::{export, ConsumerStream, DlView, DlpackImage, FramePart};
use nvdx::kernels::colour::{rgb_to_yuv420, ColourSpace};
use nvdx::{Frame, FrameView, MemoryKind, PixelFormat, Stream};

use super::common::{ctx, random_bytes, rng};

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn exported_frames_reimport_bit_exactly_and_live_until_the_deleter() {
    let ctx = ctx();
    let stream = Stream::new(&ctx).expect("stream");
    let (w, h) = (96u32, 64u32);
    let mut rgb = Frame::new(&ctx, PixelFormat::Rgb24, w, h, MemoryKind::Device).expect("rgb");
    let bytes = random_bytes(&mut rng(), (w * h * 3) as usize);
    rgb.copy_from_host(&bytes).expect("upload");
    let mut want = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).expect("nv12");
    rgb_to_yuv420(&rgb, &mut want, ColourSpace::BT709_LIMITED, &stream).expect("convert");
    let want = want.to_host_vec().expect("download");

    let rgb = Arc::new(rgb);
    for versioned in [true, false] {
        let view = DlView::of_frame(&*rgb, FramePart::Whole).expect("view");
        assert_eq!(view.shape, [h as i64, w as i64, 3]);
        // SAFETY: `stream` is a live stream of the frame's context that outlives the export.
        let consumer = unsafe { ConsumerStream::raw_handle(stream.raw()) };
        let e = export(Arc::clone(&rgb), view, consumer).expect("export");
        // SAFETY: the managed tensors were just exported and are handed over once.
        let img = unsafe {
            if versioned {
                DlpackImage::from_versioned(&ctx, e.into_versioned(), PixelFormat::Rgb24, &stream)
            } else {
                DlpackImage::from_legacy(&ctx, e.into_legacy(), PixelFormat::Rgb24, &stream)
            }
        }
        .expect("import");
        assert_eq!(img.device_ptr(), rgb.device_ptr());
        assert_eq!(Arc::strong_count(&rgb), 2, "the export holds the frame");
        let mut got = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).expect("nv12");
        rgb_to_yuv420(&img, &mut got, ColourSpace::BT709_LIMITED, &stream).expect("convert");
        drop(img); // waits for the kernel's use, then runs nvdx's deleter
        assert_eq!(Arc::strong_count(&rgb), 1, "the deleter released the frame");
        assert_eq!(got.to_host_vec().expect("download"), want);
    }

    // NV12 planes: the luma view of an export re-imported as part of an NV12 matrix.
    let nv12 = Arc::new({
        let mut f = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).expect("f");
        f.copy_from_host(&want).expect("upload");
        f
    });
    let view = DlView::of_frame(&*nv12, FramePart::Whole).expect("view");
    assert_eq!(view.strides, [nv12.pitch() as i64, 1]);
    let e = export(Arc::clone(&nv12), view, ConsumerStream::Legacy).expect("export");
    // SAFETY: as above.
    let img = unsafe {
        DlpackImage::from_versioned(&ctx, e.into_versioned(), PixelFormat::Nv12, &stream)
    }
    .expect("import nv12");
    assert_eq!(img.to_host_vec().expect("download"), want);
}
