//! [`RawImage`]: a picture in caller-managed memory, as the kernels see it.

use crate::frame::{FrameView, PixelFormat};

/// A picture in memory the caller manages: format, size, and where its planes are.
///
/// For packed RGB formats only `ptr` and `pitch` are used. For NV12/P016 the chroma plane is at
/// `chroma_ptr` with `chroma_pitch` (NVDEC surfaces and frames from other libraries may put it
/// elsewhere than right after the luma rows). Addresses are unified virtual addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawImage {
    /// Pixel format.
    pub format: PixelFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// First (or only) plane.
    pub ptr: u64,
    /// Bytes between rows of the first plane.
    pub pitch: usize,
    /// Chroma plane of 4:2:0 formats (ignored otherwise).
    pub chroma_ptr: u64,
    /// Bytes between chroma rows (ignored for non-4:2:0 formats).
    pub chroma_pitch: usize,
}

impl RawImage {
    /// A single-plane picture (packed RGB).
    pub fn packed(
        format: PixelFormat,
        width: u32,
        height: u32,
        ptr: u64,
        pitch: usize,
    ) -> RawImage {
        RawImage {
            format,
            width,
            height,
            ptr,
            pitch,
            chroma_ptr: 0,
            chroma_pitch: 0,
        }
    }

    /// A 4:2:0 picture whose chroma plane follows the luma rows in one allocation
    /// (`chroma = ptr + pitch * height`), the layout of [`Frame`](crate::Frame).
    pub fn contiguous_yuv420(
        format: PixelFormat,
        width: u32,
        height: u32,
        ptr: u64,
        pitch: usize,
    ) -> RawImage {
        RawImage {
            format,
            width,
            height,
            ptr,
            pitch,
            chroma_ptr: ptr.wrapping_add(pitch as u64 * u64::from(height)),
            chroma_pitch: pitch,
        }
    }

    /// The descriptor of a frame view (its addresses are only borrowed: pass it to a `_raw`
    /// function only while the view is alive and its work ordered).
    pub fn of(frame: &(impl FrameView + ?Sized)) -> RawImage {
        RawImage {
            format: frame.format(),
            width: frame.width(),
            height: frame.height(),
            ptr: frame.device_ptr(),
            pitch: frame.pitch(),
            chroma_ptr: frame.chroma_ptr(),
            chroma_pitch: frame.pitch(),
        }
    }
}
