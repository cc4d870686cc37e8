//! Colour description: the YUV matrix, the quantisation range, the colour primaries and the
//! transfer characteristics of a picture, with their ITU-T H.273 code points (the values of the
//! H.264/HEVC VUI, the AV1 colour config and VP9's colour space).
//!
//! Two layers:
//!
//! - [`ColourSpace`] (a [`ColourMatrix`] and a [`ColourRange`]) is what a conversion between RGB
//!   and YUV needs, and what the kernels in [`crate::kernels::colour`] implement: BT.601, BT.709
//!   and BT.2020 (non-constant luminance), limited or full range.
//! - [`ColourDescription`] is what a stream signals: every H.273 code point, including
//!   "unspecified" and codes without a named variant. [`ColourDescription::conversion_space`]
//!   picks the [`ColourSpace`] to convert it with.
//!
//! ```
//! use nvdx::colour::{ColourDescription, ColourSpace, TransferCharacteristics};
//! // A 1080p stream tagged BT.709 / BT.709 / BT.709, limited range.
//! let d = ColourDescription::from_h273(1, 1, 1, Some(false));
//! assert_eq!(d.conversion_space(1920, 1080), ColourSpace::BT709_LIMITED);
//! assert_eq!(d.transfer, TransferCharacteristics::Bt709);
//! // An untagged SD stream.
//! assert_eq!(ColourDescription::UNSPECIFIED.conversion_space(720, 576), ColourSpace::BT601_LIMITED);
//! ```

/// The YUV <-> RGB matrix of a conversion (the matrices the kernels implement).
///
/// Its H.273 `matrix_coefficients` code points are [`ColourMatrix::h273`] (the code the encoder
/// signals) and [`ColourMatrix::from_h273`]; [`MatrixCoefficients`] represents every code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColourMatrix {
    /// ITU-R BT.601 (SD): `Kr = 0.299`, `Kb = 0.114`.
    Bt601,
    /// ITU-R BT.709 (HD): `Kr = 0.2126`, `Kb = 0.0722`.
    Bt709,
    /// ITU-R BT.2020 non-constant luminance (UHD): `Kr = 0.2627`, `Kb = 0.0593`.
    Bt2020,
}

impl ColourMatrix {
    /// `(Kr, Kb)`, the luma weights of red and blue (`Kg = 1 - Kr - Kb`).
    pub const fn kr_kb(self) -> (f64, f64) {
        match self {
            ColourMatrix::Bt601 => (0.299, 0.114),
            ColourMatrix::Bt709 => (0.2126, 0.0722),
            ColourMatrix::Bt2020 => (0.2627, 0.0593),
        }
    }

    /// The matrix of an H.273 `matrix_coefficients` code, if it is one a conversion can use:
    /// 1 (BT.709), 5 and 6 (BT.470 BG / SMPTE 170M, both BT.601), 9 and 10 (BT.2020; the
    /// constant-luminance 10 is converted with the non-constant-luminance matrix, as swscale
    /// does). `None` for every other code (see [`MatrixCoefficients::conversion_matrix`]).
    pub const fn from_h273(code: u8) -> Option<ColourMatrix> {
        MatrixCoefficients::from_h273(code).conversion_matrix()
    }

    /// The H.273 `matrix_coefficients` code signalled for this matrix: 6 (SMPTE 170M) for
    /// BT.601, 1 for BT.709, 9 (non-constant luminance) for BT.2020.
    pub const fn h273(self) -> u8 {
        self.coefficients().h273()
    }

    /// The H.273 matrix signalled for this matrix (see [`ColourMatrix::h273`]).
    pub const fn coefficients(self) -> MatrixCoefficients {
        match self {
            ColourMatrix::Bt601 => MatrixCoefficients::Smpte170m,
            ColourMatrix::Bt709 => MatrixCoefficients::Bt709,
            ColourMatrix::Bt2020 => MatrixCoefficients::Bt2020Ncl,
        }
    }
}

/// The quantisation range of Y, U and V.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColourRange {
    /// "TV"/"MPEG" range: Y in 16..=235, chroma in 16..=240 (times 256 for 16-bit samples).
    Limited,
    /// "PC"/"JPEG" range: all codes used.
    Full,
}

impl ColourRange {
    /// The range of a `video_full_range_flag` (H.264/HEVC VUI; AV1 `color_range`).
    pub const fn from_full_range_flag(full: bool) -> ColourRange {
        if full {
            ColourRange::Full
        } else {
            ColourRange::Limited
        }
    }

    /// The `video_full_range_flag` of this range.
    pub const fn full_range_flag(self) -> bool {
        matches!(self, ColourRange::Full)
    }
}

/// A matrix and a range: what a conversion between RGB and YUV needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColourSpace {
    /// The matrix.
    pub matrix: ColourMatrix,
    /// The range.
    pub range: ColourRange,
}

impl ColourSpace {
    /// BT.601, limited range (SD video).
    pub const BT601_LIMITED: ColourSpace =
        ColourSpace::new(ColourMatrix::Bt601, ColourRange::Limited);
    /// BT.601, full range (JPEG).
    pub const BT601_FULL: ColourSpace = ColourSpace::new(ColourMatrix::Bt601, ColourRange::Full);
    /// BT.709, limited range (HD video; the default).
    pub const BT709_LIMITED: ColourSpace =
        ColourSpace::new(ColourMatrix::Bt709, ColourRange::Limited);
    /// BT.709, full range.
    pub const BT709_FULL: ColourSpace = ColourSpace::new(ColourMatrix::Bt709, ColourRange::Full);
    /// BT.2020, limited range (UHD/HDR video).
    pub const BT2020_LIMITED: ColourSpace =
        ColourSpace::new(ColourMatrix::Bt2020, ColourRange::Limited);
    /// BT.2020, full range.
    pub const BT2020_FULL: ColourSpace = ColourSpace::new(ColourMatrix::Bt2020, ColourRange::Full);

    /// A colour space from its parts.
    pub const fn new(matrix: ColourMatrix, range: ColourRange) -> ColourSpace {
        ColourSpace { matrix, range }
    }
}

impl Default for ColourSpace {
    fn default() -> ColourSpace {
        ColourSpace::BT709_LIMITED
    }
}

/// Declares an enum of H.273 code points with `from_h273` / `h273`; codes without a variant
/// are kept in `Other`.
macro_rules! h273_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $field:literal {
            $($(#[$vmeta:meta])* $variant:ident = $code:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A code without a named variant (reserved or newer than this list). `from_h273`
            /// never returns it for a named code.
            Other(u8),
        }

        impl $name {
            #[doc = concat!("The value of an H.273 `", $field, "` code.")]
            pub const fn from_h273(code: u8) -> $name {
                match code {
                    $($code => $name::$variant,)*
                    other => $name::Other(other),
                }
            }

            #[doc = concat!("The H.273 `", $field, "` code.")]
            pub const fn h273(self) -> u8 {
                match self {
                    $($name::$variant => $code,)*
                    $name::Other(code) => code,
                }
            }
        }
    };
}

h273_enum! {
    /// H.273 `matrix_coefficients`: the YUV matrix a stream signals.
    MatrixCoefficients, "matrix_coefficients" {
        /// 0: identity (GBR, e.g. 4:4:4 RGB coding).
        Identity = 0,
        /// 1: ITU-R BT.709.
        Bt709 = 1,
        /// 2: unspecified.
        Unspecified = 2,
        /// 4: US FCC 73.682.
        Fcc = 4,
        /// 5: ITU-R BT.470 System B/G (625-line BT.601).
        Bt470bg = 5,
        /// 6: SMPTE 170M (525-line BT.601).
        Smpte170m = 6,
        /// 7: SMPTE 240M.
        Smpte240m = 7,
        /// 8: YCgCo.
        YCgCo = 8,
        /// 9: ITU-R BT.2020 non-constant luminance.
        Bt2020Ncl = 9,
        /// 10: ITU-R BT.2020 constant luminance.
        Bt2020Cl = 10,
        /// 11: SMPTE ST 2085 (Y'D'zD'x).
        Smpte2085 = 11,
        /// 12: chromaticity-derived non-constant luminance.
        ChromaticityNcl = 12,
        /// 13: chromaticity-derived constant luminance.
        ChromaticityCl = 13,
        /// 14: ITU-R BT.2100 ICtCp.
        ICtCp = 14,
    }
}

impl MatrixCoefficients {
    /// The conversion matrix for this code, if the kernels implement one: BT.709; BT.601 for
    /// BT.470 BG and SMPTE 170M; BT.2020 for both BT.2020 codes (constant luminance converted as
    /// non-constant, as swscale does). `None` for the others (identity, FCC, SMPTE 240M, YCgCo,
    /// ST 2085, chromaticity-derived, ICtCp), for unspecified and for unknown codes.
    pub const fn conversion_matrix(self) -> Option<ColourMatrix> {
        match self {
            MatrixCoefficients::Bt709 => Some(ColourMatrix::Bt709),
            MatrixCoefficients::Bt470bg | MatrixCoefficients::Smpte170m => {
                Some(ColourMatrix::Bt601)
            }
            MatrixCoefficients::Bt2020Ncl | MatrixCoefficients::Bt2020Cl => {
                Some(ColourMatrix::Bt2020)
            }
            _ => None,
        }
    }
}

h273_enum! {
    /// H.273 `colour_primaries`: the chromaticities of the RGB primaries and the white point.
    ColourPrimaries, "colour_primaries" {
        /// 1: ITU-R BT.709 (also sRGB).
        Bt709 = 1,
        /// 2: unspecified.
        Unspecified = 2,
        /// 4: ITU-R BT.470 System M.
        Bt470m = 4,
        /// 5: ITU-R BT.470 System B/G (625-line BT.601).
        Bt470bg = 5,
        /// 6: SMPTE 170M (525-line BT.601).
        Smpte170m = 6,
        /// 7: SMPTE 240M.
        Smpte240m = 7,
        /// 8: generic film (illuminant C).
        Film = 8,
        /// 9: ITU-R BT.2020 / BT.2100.
        Bt2020 = 9,
        /// 10: SMPTE ST 428-1 (CIE 1931 XYZ).
        Smpte428 = 10,
        /// 11: SMPTE RP 431-2 (DCI-P3).
        Smpte431 = 11,
        /// 12: SMPTE EG 432-1 (Display P3).
        Smpte432 = 12,
        /// 22: EBU Tech. 3213-E (JEDEC P22 phosphors).
        Ebu3213 = 22,
    }
}

h273_enum! {
    /// H.273 `transfer_characteristics`: the opto-electronic transfer function.
    TransferCharacteristics, "transfer_characteristics" {
        /// 1: ITU-R BT.709.
        Bt709 = 1,
        /// 2: unspecified.
        Unspecified = 2,
        /// 4: ITU-R BT.470 System M (gamma 2.2).
        Bt470m = 4,
        /// 5: ITU-R BT.470 System B/G (gamma 2.8).
        Bt470bg = 5,
        /// 6: SMPTE 170M (the BT.709 curve).
        Smpte170m = 6,
        /// 7: SMPTE 240M.
        Smpte240m = 7,
        /// 8: linear.
        Linear = 8,
        /// 9: logarithmic, 100:1 range.
        Log100 = 9,
        /// 10: logarithmic, 100 sqrt(10):1 range.
        Log316 = 10,
        /// 11: IEC 61966-2-4 (xvYCC).
        Iec61966_2_4 = 11,
        /// 12: ITU-R BT.1361 extended colour gamut.
        Bt1361 = 12,
        /// 13: IEC 61966-2-1 (sRGB, sYCC).
        Srgb = 13,
        /// 14: ITU-R BT.2020, 10-bit (the BT.709 curve).
        Bt2020_10 = 14,
        /// 15: ITU-R BT.2020, 12-bit.
        Bt2020_12 = 15,
        /// 16: SMPTE ST 2084 perceptual quantiser (PQ, HDR10).
        Pq = 16,
        /// 17: SMPTE ST 428-1.
        Smpte428 = 17,
        /// 18: ARIB STD-B67 hybrid log-gamma (HLG).
        Hlg = 18,
    }
}

/// The colour description of a stream, as signalled (H.264/HEVC VUI, AV1 colour config): matrix,
/// range, primaries and transfer, each possibly unspecified.
///
/// # Choosing the conversion
/// [`ColourDescription::conversion_space`] picks the [`ColourSpace`] to convert the pictures
/// with:
///
/// 1. **Matrix**: the signalled matrix when the kernels implement it
///    ([`MatrixCoefficients::conversion_matrix`]: 1 → BT.709, 5/6 → BT.601, 9/10 → BT.2020).
///    Otherwise (unspecified, an unknown code, or a matrix the kernels do not implement) it is
///    guessed from the picture size: **BT.709 when `width >= 1280` or `height > 576`, BT.601
///    otherwise** (SD). This is the guess of mpv and most players: untagged HD video is BT.709
///    in practice. The primaries and transfer do not influence the choice.
/// 2. **Range**: the signalled range; limited when unsigned (the H.264/HEVC default of
///    `video_full_range_flag`, and what FFmpeg assumes).
///
/// FFmpeg's swscale and torchcodec (CPU and CUDA) differ in step 1 for untagged HD video: they
/// convert everything that is not tagged BT.709 (or BT.2020, for swscale) with BT.601,
/// whatever the size. [`ColourDescription::ffmpeg_conversion_space`] reproduces that rule, to
/// match their output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColourDescription {
    /// The YUV matrix.
    pub matrix: MatrixCoefficients,
    /// The range; `None` when the stream does not say.
    pub range: Option<ColourRange>,
    /// The colour primaries.
    pub primaries: ColourPrimaries,
    /// The transfer characteristics.
    pub transfer: TransferCharacteristics,
}

impl Default for ColourDescription {
    /// [`ColourDescription::UNSPECIFIED`].
    fn default() -> ColourDescription {
        ColourDescription::UNSPECIFIED
    }
}

impl ColourDescription {
    /// Nothing signalled.
    pub const UNSPECIFIED: ColourDescription = ColourDescription {
        matrix: MatrixCoefficients::Unspecified,
        range: None,
        primaries: ColourPrimaries::Unspecified,
        transfer: TransferCharacteristics::Unspecified,
    };

    /// A description from H.273 code points, in VUI order (`colour_primaries`,
    /// `transfer_characteristics`, `matrix_coeffs`) and the `video_full_range_flag` if present.
    pub const fn from_h273(
        primaries: u8,
        transfer: u8,
        matrix: u8,
        full_range: Option<bool>,
    ) -> ColourDescription {
        ColourDescription {
            matrix: MatrixCoefficients::from_h273(matrix),
            range: match full_range {
                Some(f) => Some(ColourRange::from_full_range_flag(f)),
                None => None,
            },
            primaries: ColourPrimaries::from_h273(primaries),
            transfer: TransferCharacteristics::from_h273(transfer),
        }
    }

    /// What nvdx signals for pictures converted in `space`: its matrix and range, with the
    /// primaries and transfer of the same standard (BT.601: SMPTE 170M for all three; BT.709:
    /// BT.709; BT.2020: BT.2020 primaries and matrix with the 10-bit BT.2020 transfer).
    pub const fn for_space(space: ColourSpace) -> ColourDescription {
        let (primaries, transfer) = match space.matrix {
            ColourMatrix::Bt601 => (
                ColourPrimaries::Smpte170m,
                TransferCharacteristics::Smpte170m,
            ),
            ColourMatrix::Bt709 => (ColourPrimaries::Bt709, TransferCharacteristics::Bt709),
            ColourMatrix::Bt2020 => (ColourPrimaries::Bt2020, TransferCharacteristics::Bt2020_10),
        };
        ColourDescription {
            matrix: space.matrix.coefficients(),
            range: Some(space.range),
            primaries,
            transfer,
        }
    }

    /// The colour space to convert a `width` x `height` picture of this description with; see
    /// [the rule](ColourDescription#choosing-the-conversion).
    pub const fn conversion_space(&self, width: u32, height: u32) -> ColourSpace {
        let matrix = match self.matrix.conversion_matrix() {
            Some(m) => m,
            None if width >= 1280 || height > 576 => ColourMatrix::Bt709,
            None => ColourMatrix::Bt601,
        };
        ColourSpace::new(matrix, self.range_or_limited())
    }

    /// The colour space FFmpeg's swscale and torchcodec would convert with: the signalled
    /// matrix when the kernels implement it, BT.601 otherwise (whatever the size); the
    /// signalled range, limited otherwise.
    pub const fn ffmpeg_conversion_space(&self) -> ColourSpace {
        let matrix = match self.matrix.conversion_matrix() {
            Some(m) => m,
            None => ColourMatrix::Bt601,
        };
        ColourSpace::new(matrix, self.range_or_limited())
    }

    const fn range_or_limited(&self) -> ColourRange {
        match self.range {
            Some(r) => r,
            None => ColourRange::Limited,
        }
    }
}

/// The quantisation constants of one colour space at one bit depth (see
/// [`crate::kernels::reference`] for the formulas they enter).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quant {
    /// `Kr`.
    pub kr: f64,
    /// `Kb`.
    pub kb: f64,
    /// Largest sample value `M = 2^n - 1`.
    pub max: f64,
    /// Luma offset (16 s or 0).
    pub y_off: f64,
    /// Luma scale (219 s or M).
    pub y_scale: f64,
    /// Chroma offset (128 s or 2^(n-1)).
    pub c_off: f64,
    /// Chroma scale (224 s or M).
    pub c_scale: f64,
}

impl Quant {
    /// Constants for `space` at `bits` bits per sample.
    pub fn new(space: ColourSpace, bits: u32) -> Quant {
        let (kr, kb) = space.matrix.kr_kb();
        let max = f64::from((1u32 << bits) - 1);
        let s = f64::from(1u32 << (bits - 8));
        match space.range {
            ColourRange::Limited => Quant {
                kr,
                kb,
                max,
                y_off: 16.0 * s,
                y_scale: 219.0 * s,
                c_off: 128.0 * s,
                c_scale: 224.0 * s,
            },
            ColourRange::Full => Quant {
                kr,
                kb,
                max,
                y_off: 0.0,
                y_scale: max,
                c_off: f64::from(1u32 << (bits - 1)),
                c_scale: max,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips() {
        for code in 0..=u8::MAX {
            assert_eq!(MatrixCoefficients::from_h273(code).h273(), code);
            assert_eq!(ColourPrimaries::from_h273(code).h273(), code);
            assert_eq!(TransferCharacteristics::from_h273(code).h273(), code);
        }
    }

    #[test]
    fn matrix_code_points() {
        use MatrixCoefficients as M;
        let named = [
            (0, M::Identity),
            (1, M::Bt709),
            (2, M::Unspecified),
            (4, M::Fcc),
            (5, M::Bt470bg),
            (6, M::Smpte170m),
            (7, M::Smpte240m),
            (8, M::YCgCo),
            (9, M::Bt2020Ncl),
            (10, M::Bt2020Cl),
            (11, M::Smpte2085),
            (12, M::ChromaticityNcl),
            (13, M::ChromaticityCl),
            (14, M::ICtCp),
        ];
        for (code, m) in named {
            assert_eq!(M::from_h273(code), m);
            assert_eq!(m.h273(), code);
        }
        assert_eq!(M::from_h273(3), M::Other(3));
        assert_eq!(M::from_h273(15), M::Other(15));
        assert_eq!(ColourMatrix::from_h273(1), Some(ColourMatrix::Bt709));
        assert_eq!(ColourMatrix::from_h273(5), Some(ColourMatrix::Bt601));
        assert_eq!(ColourMatrix::from_h273(6), Some(ColourMatrix::Bt601));
        assert_eq!(ColourMatrix::from_h273(9), Some(ColourMatrix::Bt2020));
        assert_eq!(ColourMatrix::from_h273(10), Some(ColourMatrix::Bt2020));
        for code in [0, 2, 3, 4, 7, 8, 11, 12, 13, 14, 255] {
            assert_eq!(ColourMatrix::from_h273(code), None, "code {code}");
        }
        for m in [
            ColourMatrix::Bt601,
            ColourMatrix::Bt709,
            ColourMatrix::Bt2020,
        ] {
            assert_eq!(ColourMatrix::from_h273(m.h273()), Some(m));
        }
        assert_eq!(
            [
                ColourMatrix::Bt601,
                ColourMatrix::Bt709,
                ColourMatrix::Bt2020
            ]
            .map(ColourMatrix::h273),
            [6, 1, 9]
        );
    }

    #[test]
    fn primaries_code_points() {
        use ColourPrimaries as P;
        let named = [
            (1, P::Bt709),
            (2, P::Unspecified),
            (4, P::Bt470m),
            (5, P::Bt470bg),
            (6, P::Smpte170m),
            (7, P::Smpte240m),
            (8, P::Film),
            (9, P::Bt2020),
            (10, P::Smpte428),
            (11, P::Smpte431),
            (12, P::Smpte432),
            (22, P::Ebu3213),
        ];
        for (code, p) in named {
            assert_eq!(P::from_h273(code), p);
            assert_eq!(p.h273(), code);
        }
        for code in [0, 3, 13, 21, 23, 255] {
            assert_eq!(P::from_h273(code), P::Other(code));
        }
    }

    #[test]
    fn transfer_code_points() {
        use TransferCharacteristics as T;
        let named = [
            (1, T::Bt709),
            (2, T::Unspecified),
            (4, T::Bt470m),
            (5, T::Bt470bg),
            (6, T::Smpte170m),
            (7, T::Smpte240m),
            (8, T::Linear),
            (9, T::Log100),
            (10, T::Log316),
            (11, T::Iec61966_2_4),
            (12, T::Bt1361),
            (13, T::Srgb),
            (14, T::Bt2020_10),
            (15, T::Bt2020_12),
            (16, T::Pq),
            (17, T::Smpte428),
            (18, T::Hlg),
        ];
        for (code, t) in named {
            assert_eq!(T::from_h273(code), t);
            assert_eq!(t.h273(), code);
        }
        for code in [0, 3, 19, 255] {
            assert_eq!(T::from_h273(code), T::Other(code));
        }
    }

    #[test]
    fn conversion_space_follows_the_documented_rule() {
        let tagged = |m, full| ColourDescription::from_h273(2, 2, m, full);
        // Signalled matrices win, at any size.
        assert_eq!(
            tagged(1, None).conversion_space(640, 480),
            ColourSpace::BT709_LIMITED
        );
        assert_eq!(
            tagged(6, Some(true)).conversion_space(1920, 1080),
            ColourSpace::BT601_FULL
        );
        assert_eq!(
            tagged(5, None).conversion_space(3840, 2160),
            ColourSpace::BT601_LIMITED
        );
        assert_eq!(
            tagged(9, Some(false)).conversion_space(3840, 2160),
            ColourSpace::BT2020_LIMITED
        );
        // Unspecified, unknown or unimplemented: by size.
        let none = ColourDescription::UNSPECIFIED;
        assert_eq!(none.conversion_space(720, 576), ColourSpace::BT601_LIMITED);
        assert_eq!(none.conversion_space(720, 480), ColourSpace::BT601_LIMITED);
        assert_eq!(none.conversion_space(1280, 720), ColourSpace::BT709_LIMITED);
        assert_eq!(none.conversion_space(960, 720), ColourSpace::BT709_LIMITED);
        assert_eq!(none.conversion_space(1280, 536), ColourSpace::BT709_LIMITED);
        assert_eq!(
            tagged(7, Some(true)).conversion_space(1920, 1080),
            ColourSpace::BT709_FULL
        );
        assert_eq!(
            tagged(200, None).conversion_space(352, 288),
            ColourSpace::BT601_LIMITED
        );
        // The FFmpeg/torchcodec rule: BT.601 unless tagged, whatever the size.
        assert_eq!(none.ffmpeg_conversion_space(), ColourSpace::BT601_LIMITED);
        assert_eq!(
            tagged(1, Some(true)).ffmpeg_conversion_space(),
            ColourSpace::BT709_FULL
        );
        assert_eq!(ColourDescription::default(), ColourDescription::UNSPECIFIED);
    }

    #[test]
    fn for_space_signals_one_standard_and_converts_back() {
        for space in [
            ColourSpace::BT601_LIMITED,
            ColourSpace::BT601_FULL,
            ColourSpace::BT709_LIMITED,
            ColourSpace::BT709_FULL,
            ColourSpace::BT2020_LIMITED,
            ColourSpace::BT2020_FULL,
        ] {
            let d = ColourDescription::for_space(space);
            assert_eq!(d.conversion_space(320, 240), space);
            assert_eq!(d.conversion_space(3840, 2160), space);
            assert_eq!(d.matrix.h273(), space.matrix.h273());
        }
        let d = ColourDescription::for_space(ColourSpace::BT2020_LIMITED);
        assert_eq!(
            (d.primaries.h273(), d.transfer.h273(), d.matrix.h273()),
            (9, 14, 9)
        );
        let d = ColourDescription::for_space(ColourSpace::BT601_LIMITED);
        assert_eq!(
            (d.primaries.h273(), d.transfer.h273(), d.matrix.h273()),
            (6, 6, 6)
        );
    }

    #[test]
    fn range_flags() {
        assert_eq!(ColourRange::from_full_range_flag(true), ColourRange::Full);
        assert_eq!(
            ColourRange::from_full_range_flag(false),
            ColourRange::Limited
        );
        assert!(ColourRange::Full.full_range_flag());
        assert!(!ColourRange::Limited.full_range_flag());
    }
}
