//! [`ColourDescription`]: the colour description written into the bitstream (VUI or AV1
//! colour config).

use nvdx_sys::nvenc as sys;
use sys::NV_ENC_CONFIG_H264_VUI_PARAMETERS;

use crate::colour::{self, ColourRange, ColourSpace};

/// The matrix to signal (primaries and transfer follow it); the same type as the kernels'
/// [`crate::kernels::colour::ColourMatrix`], defined in [`crate::colour`].
pub use crate::colour::ColourMatrix;

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
    /// The colour space this description tells players to convert back with.
    pub fn space(self) -> ColourSpace {
        ColourSpace::new(
            self.matrix,
            ColourRange::from_full_range_flag(self.full_range),
        )
    }

    /// Every H.273 code point written: the matrix and range with the primaries and transfer of
    /// the same standard ([`colour::ColourDescription::for_space`]).
    pub fn description(self) -> colour::ColourDescription {
        colour::ColourDescription::for_space(self.space())
    }

    /// The NVENC values of the primaries, transfer and matrix codes.
    pub(super) fn raw(
        self,
    ) -> (
        sys::NV_ENC_VUI_COLOR_PRIMARIES,
        sys::NV_ENC_VUI_TRANSFER_CHARACTERISTIC,
        sys::NV_ENC_VUI_MATRIX_COEFFS,
    ) {
        let d = self.description();
        (
            sys::NV_ENC_VUI_COLOR_PRIMARIES(u32::from(d.primaries.h273())),
            sys::NV_ENC_VUI_TRANSFER_CHARACTERISTIC(u32::from(d.transfer.h273())),
            sys::NV_ENC_VUI_MATRIX_COEFFS(u32::from(d.matrix.h273())),
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The VUI codes come from the shared H.273 enums and keep the values NVENC names.
    #[test]
    fn vui_codes_match_the_nvenc_names() {
        use sys::{
            NV_ENC_VUI_COLOR_PRIMARIES as P, NV_ENC_VUI_MATRIX_COEFFS as M,
            NV_ENC_VUI_TRANSFER_CHARACTERISTIC as T,
        };
        let raw = |matrix| {
            ColourDescription {
                matrix,
                full_range: false,
            }
            .raw()
        };
        assert_eq!(
            raw(ColourMatrix::Bt601),
            (
                P::NV_ENC_VUI_COLOR_PRIMARIES_SMPTE170M,
                T::NV_ENC_VUI_TRANSFER_CHARACTERISTIC_SMPTE170M,
                M::NV_ENC_VUI_MATRIX_COEFFS_SMPTE170M,
            )
        );
        assert_eq!(
            raw(ColourMatrix::Bt709),
            (
                P::NV_ENC_VUI_COLOR_PRIMARIES_BT709,
                T::NV_ENC_VUI_TRANSFER_CHARACTERISTIC_BT709,
                M::NV_ENC_VUI_MATRIX_COEFFS_BT709,
            )
        );
        assert_eq!(
            raw(ColourMatrix::Bt2020),
            (
                P::NV_ENC_VUI_COLOR_PRIMARIES_BT2020,
                T::NV_ENC_VUI_TRANSFER_CHARACTERISTIC_BT2020_10,
                M::NV_ENC_VUI_MATRIX_COEFFS_BT2020_NCL,
            )
        );
        let full = ColourDescription {
            matrix: ColourMatrix::Bt709,
            full_range: true,
        };
        assert_eq!(full.space(), ColourSpace::BT709_FULL);
        assert_eq!(full.description().range, Some(ColourRange::Full));
    }
}
