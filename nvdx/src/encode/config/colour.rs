//! [`ColourDescription`]: the colour description written into the bitstream (VUI or AV1
//! colour config).

use nvdx_sys::nvenc as sys;
use sys::NV_ENC_CONFIG_H264_VUI_PARAMETERS;

/// YUV matrix (and the matching primaries and transfer) to signal in the bitstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColourMatrix {
    /// BT.601 (SMPTE 170M), standard definition.
    Bt601,
    /// BT.709, HD.
    Bt709,
    /// BT.2020 non-constant luminance, UHD / 10-bit.
    Bt2020,
}

/// Colour description written into the VUI (H.264/HEVC) or the sequence header's colour config
/// (AV1), so players convert back to RGB with the matrix and range the kernels used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColourDescription {
    /// The matrix (primaries and transfer follow it).
    pub matrix: ColourMatrix,
    /// Full range (0-255) instead of limited (16-235 luma).
    pub full_range: bool,
}

impl Default for ColourDescription {
    /// BT.709, limited range: what nvdx's RGB→NV12 kernels produce by default.
    fn default() -> Self {
        ColourDescription {
            matrix: ColourMatrix::Bt709,
            full_range: false,
        }
    }
}

impl ColourDescription {
    pub(super) fn raw(
        self,
    ) -> (
        sys::NV_ENC_VUI_COLOR_PRIMARIES,
        sys::NV_ENC_VUI_TRANSFER_CHARACTERISTIC,
        sys::NV_ENC_VUI_MATRIX_COEFFS,
    ) {
        use sys::{
            NV_ENC_VUI_COLOR_PRIMARIES as P, NV_ENC_VUI_MATRIX_COEFFS as M,
            NV_ENC_VUI_TRANSFER_CHARACTERISTIC as T,
        };
        match self.matrix {
            ColourMatrix::Bt601 => (
                P::NV_ENC_VUI_COLOR_PRIMARIES_SMPTE170M,
                T::NV_ENC_VUI_TRANSFER_CHARACTERISTIC_SMPTE170M,
                M::NV_ENC_VUI_MATRIX_COEFFS_SMPTE170M,
            ),
            ColourMatrix::Bt709 => (
                P::NV_ENC_VUI_COLOR_PRIMARIES_BT709,
                T::NV_ENC_VUI_TRANSFER_CHARACTERISTIC_BT709,
                M::NV_ENC_VUI_MATRIX_COEFFS_BT709,
            ),
            ColourMatrix::Bt2020 => (
                P::NV_ENC_VUI_COLOR_PRIMARIES_BT2020,
                T::NV_ENC_VUI_TRANSFER_CHARACTERISTIC_BT2020_10,
                M::NV_ENC_VUI_MATRIX_COEFFS_BT2020_NCL,
            ),
        }
    }

    pub(super) fn write_vui(self, vui: &mut NV_ENC_CONFIG_H264_VUI_PARAMETERS) {
        let (p, t, m) = self.raw();
        vui.videoSignalTypePresentFlag = 1;
        vui.videoFormat = sys::NV_ENC_VUI_VIDEO_FORMAT::NV_ENC_VUI_VIDEO_FORMAT_UNSPECIFIED;
        vui.videoFullRangeFlag = u32::from(self.full_range);
        vui.colourDescriptionPresentFlag = 1;
        vui.colourPrimaries = p;
        vui.transferCharacteristics = t;
        vui.colourMatrix = m;
    }
}
