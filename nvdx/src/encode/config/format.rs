//! [`buffer_format`]: the NVENC input buffer format of an nvdx pixel format.

use nvdx_sys::nvenc as sys;
use sys::NV_ENC_BUFFER_FORMAT;

use crate::error::{Error, Result};
use crate::frame::PixelFormat;

/// The NVENC input buffer format for an nvdx pixel format.
///
/// nvdx's [`PixelFormat::Bgra`] stores bytes B, G, R, A, which read as a little-endian 32-bit
/// word is `0xAARRGGBB`: NVENC's word-ordered `NV_ENC_BUFFER_FORMAT_ARGB` ("B in the lowest 8
/// bits"). Likewise [`PixelFormat::Rgba`] is `NV_ENC_BUFFER_FORMAT_ABGR` ("R in the lowest 8
/// bits"). [`PixelFormat::P016`] is `YUV420_10BIT` (samples in the high bits).
pub fn buffer_format(format: PixelFormat) -> Result<NV_ENC_BUFFER_FORMAT> {
    use sys::_NV_ENC_BUFFER_FORMAT as B;
    Ok(match format {
        PixelFormat::Nv12 => B::NV_ENC_BUFFER_FORMAT_NV12,
        PixelFormat::P016 => B::NV_ENC_BUFFER_FORMAT_YUV420_10BIT,
        PixelFormat::Bgra => B::NV_ENC_BUFFER_FORMAT_ARGB,
        PixelFormat::Rgba => B::NV_ENC_BUFFER_FORMAT_ABGR,
        other => {
            return Err(Error::Unsupported(format!(
                "NVENC input must be NV12, P016, BGRA or RGBA frames, not {other:?}; convert with \
                 nvdx::kernels::colour first"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_formats_follow_the_header_byte_order() {
        use sys::_NV_ENC_BUFFER_FORMAT as B;
        assert_eq!(
            buffer_format(PixelFormat::Nv12).unwrap(),
            B::NV_ENC_BUFFER_FORMAT_NV12
        );
        assert_eq!(
            buffer_format(PixelFormat::P016).unwrap(),
            B::NV_ENC_BUFFER_FORMAT_YUV420_10BIT
        );
        // Bytes B,G,R,A = little-endian word 0xAARRGGBB = "B in the lowest 8 bits" = ARGB.
        let word = u32::from_le_bytes([
            0x11, /*B*/
            0x22, /*G*/
            0x33, /*R*/
            0x44, /*A*/
        ]);
        assert_eq!(word & 0xff, 0x11);
        assert_eq!(
            buffer_format(PixelFormat::Bgra).unwrap(),
            B::NV_ENC_BUFFER_FORMAT_ARGB
        );
        assert_eq!(
            buffer_format(PixelFormat::Rgba).unwrap(),
            B::NV_ENC_BUFFER_FORMAT_ABGR
        );
        assert!(matches!(
            buffer_format(PixelFormat::Rgb24),
            Err(Error::Unsupported(_))
        ));
    }
}
