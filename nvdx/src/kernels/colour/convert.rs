//! The safe API: conversions between [`Frame`]s and [`Tensor`]s, which own their memory.

use super::launch::{
    resize_yuv420_raw, rgb_to_yuv420_raw, yuv420_to_rgb_raw, yuv420_to_tensor_batch_raw,
    yuv420_to_tensor_raw,
};
use super::{ColourSpace, RawImage, Tensor, TensorParams};
use crate::error::Result;
use crate::frame::Frame;
use crate::stream::Stream;

/// Converts packed RGB to 4:2:0: `Rgb24`/`Bgr24`/`Rgba`/`Bgra` into `Nv12`, `Rgb48` into `P016`
/// (alpha is ignored). Chroma comes from the average of each 2x2 block. Same size in and out.
///
/// Enqueued on `stream`; keep both frames alive until it has run.
pub fn rgb_to_yuv420(
    src: &Frame,
    dst: &mut Frame,
    space: ColourSpace,
    stream: &Stream,
) -> Result<()> {
    // SAFETY: frames own allocations matching their descriptors; `dst` is borrowed mutably so it
    // cannot be `src`; the caller keeps them alive until the stream has run (documented).
    unsafe { rgb_to_yuv420_raw(&RawImage::of(src), &RawImage::of(dst), space, stream) }
}

/// Converts `Nv12` or `P016` to packed 8-bit `Rgb24`, `Bgr24`, `Rgba` or `Bgra` (alpha 255), with
/// bilinear chroma upsampling. Same size in and out.
pub fn yuv420_to_rgb(
    src: &Frame,
    dst: &mut Frame,
    space: ColourSpace,
    stream: &Stream,
) -> Result<()> {
    // SAFETY: as in rgb_to_yuv420.
    unsafe { yuv420_to_rgb_raw(&RawImage::of(src), &RawImage::of(dst), space, stream) }
}

/// Converts an `Nv12` or `P016` frame into slot `slot` of `dst`: bilinear resize to the tensor's
/// `H x W`, conversion to RGB in `[0, 1]`, then `(rgb - mean) / std`, stored as planar R, G, B.
pub fn yuv420_to_tensor(
    src: &Frame,
    dst: &mut Tensor,
    slot: usize,
    params: &TensorParams,
    stream: &Stream,
) -> Result<()> {
    // SAFETY: as in rgb_to_yuv420; the tensor owns batch * 3 * H * W elements.
    unsafe { yuv420_to_tensor_raw(&RawImage::of(src), &dst.raw(), slot, params, stream) }
}

/// [`yuv420_to_tensor`] for several frames (of one format, any sizes) into slots
/// `first_slot..first_slot + srcs.len()`, in one launch per 32 frames (`blockIdx.z` = frame).
pub fn yuv420_to_tensor_batch(
    srcs: &[&Frame],
    dst: &mut Tensor,
    first_slot: usize,
    params: &TensorParams,
    stream: &Stream,
) -> Result<()> {
    let raws: Vec<RawImage> = srcs.iter().map(|f| RawImage::of(f)).collect();
    // SAFETY: as in yuv420_to_tensor.
    unsafe { yuv420_to_tensor_batch_raw(&raws, &dst.raw(), first_slot, params, stream) }
}

/// Resizes an `Nv12` (or `P016`) frame into `dst` of the same format and any even size,
/// bilinearly, each plane at its own resolution (e.g. to feed an encoder at another size).
pub fn resize_yuv420(src: &Frame, dst: &mut Frame, stream: &Stream) -> Result<()> {
    // SAFETY: as in rgb_to_yuv420.
    unsafe { resize_yuv420_raw(&RawImage::of(src), &RawImage::of(dst), stream) }
}
