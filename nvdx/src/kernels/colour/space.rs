//! The colour spaces the kernels convert between: a YUV matrix and a quantisation range.

/// The YUV <-> RGB matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColourMatrix {
    /// ITU-R BT.601 (SD): `Kr = 0.299`, `Kb = 0.114`.
    Bt601,
    /// ITU-R BT.709 (HD): `Kr = 0.2126`, `Kb = 0.0722`.
    Bt709,
    /// ITU-R BT.2020 non-constant luminance (UHD): `Kr = 0.2627`, `Kb = 0.0593`.
    Bt2020,
}

/// The quantisation range of Y, U and V.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColourRange {
    /// "TV"/"MPEG" range: Y in 16..=235, chroma in 16..=240 (times 256 for 16-bit samples).
    Limited,
    /// "PC"/"JPEG" range: all codes used.
    Full,
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
