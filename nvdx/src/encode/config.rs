//! Encoder configuration: a builder that turns nvdx settings into the `NV_ENC_CONFIG` and
//! `NV_ENC_INITIALIZE_PARAMS` NVENC takes.
//!
//! The builder never talks to the driver: `EncoderConfig::build` applies the settings on top
//! of a given preset configuration (the one `nvEncGetEncodePresetConfigEx` returned, or a zeroed
//! one in tests), so every field it writes can be checked on a machine without a GPU.

use nvdx_sys::nvenc as sys;
use sys::{
    GUID, NV_ENC_BUFFER_FORMAT, NV_ENC_CONFIG, NV_ENC_CONFIG_H264_VUI_PARAMETERS,
    NV_ENC_INITIALIZE_PARAMS, NV_ENC_TUNING_INFO,
};

use super::guid;
use super::version::{NV_ENC_CONFIG_VER, NV_ENC_INITIALIZE_PARAMS_VER};
use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::frame::PixelFormat;

/// NVENC's speed/quality presets, P1 (fastest) to P7 (best quality).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// Fastest, lowest quality.
    P1,
    /// Faster, lower quality.
    P2,
    /// Fast, low quality.
    P3,
    /// Medium (the SDK's default).
    P4,
    /// Slow, good quality.
    P5,
    /// Slower, better quality.
    P6,
    /// Slowest, best quality.
    P7,
}

impl Preset {
    /// All presets, fastest first.
    pub const ALL: [Preset; 7] = [
        Preset::P1,
        Preset::P2,
        Preset::P3,
        Preset::P4,
        Preset::P5,
        Preset::P6,
        Preset::P7,
    ];

    pub(crate) fn guid(self) -> GUID {
        match self {
            Preset::P1 => guid::PRESET_P1,
            Preset::P2 => guid::PRESET_P2,
            Preset::P3 => guid::PRESET_P3,
            Preset::P4 => guid::PRESET_P4,
            Preset::P5 => guid::PRESET_P5,
            Preset::P6 => guid::PRESET_P6,
            Preset::P7 => guid::PRESET_P7,
        }
    }
}

/// What the preset is tuned for (`NV_ENC_TUNING_INFO`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tuning {
    /// Latency-tolerant, best quality per bit (B-frames, lookahead allowed).
    HighQuality,
    /// Low latency streaming.
    LowLatency,
    /// Ultra-low latency (no B-frames, no reordering).
    UltraLowLatency,
    /// Mathematically lossless (constant QP 0; H.264 uses the High 4:4:4 Predictive profile,
    /// which NVDEC cannot decode; use HEVC for a hardware-decodable lossless stream).
    Lossless,
}

impl Tuning {
    /// All tunings.
    pub const ALL: [Tuning; 4] = [
        Tuning::HighQuality,
        Tuning::LowLatency,
        Tuning::UltraLowLatency,
        Tuning::Lossless,
    ];

    pub(crate) fn raw(self) -> NV_ENC_TUNING_INFO {
        match self {
            Tuning::HighQuality => NV_ENC_TUNING_INFO::NV_ENC_TUNING_INFO_HIGH_QUALITY,
            Tuning::LowLatency => NV_ENC_TUNING_INFO::NV_ENC_TUNING_INFO_LOW_LATENCY,
            Tuning::UltraLowLatency => NV_ENC_TUNING_INFO::NV_ENC_TUNING_INFO_ULTRA_LOW_LATENCY,
            Tuning::Lossless => NV_ENC_TUNING_INFO::NV_ENC_TUNING_INFO_LOSSLESS,
        }
    }
}

/// Rate control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateControl {
    /// Constant QP per picture type (0-51 for H.264/HEVC, 0-255 for AV1).
    ConstQp {
        /// QP of I/IDR pictures.
        intra: u32,
        /// QP of P pictures.
        inter_p: u32,
        /// QP of B pictures.
        inter_b: u32,
    },
    /// Variable bitrate.
    Vbr {
        /// Average bitrate in bits/s.
        average_bitrate: u32,
        /// Peak bitrate in bits/s (>= the average).
        max_bitrate: u32,
        /// VBV (HRD) buffer size in bits; `None` keeps the driver's default.
        vbv_buffer_size: Option<u32>,
    },
    /// Constant bitrate.
    Cbr {
        /// Bitrate in bits/s.
        bitrate: u32,
        /// VBV (HRD) buffer size in bits; `None` keeps the driver's default. For low-latency
        /// streaming, one frame's worth (`bitrate * den / num`) caps every frame's size.
        vbv_buffer_size: Option<u32>,
    },
}

impl RateControl {
    /// All rate-control kinds with example values (used by tests and benches).
    pub const EXAMPLES: [RateControl; 3] = [
        RateControl::ConstQp {
            intra: 20,
            inter_p: 23,
            inter_b: 25,
        },
        RateControl::Vbr {
            average_bitrate: 5_000_000,
            max_bitrate: 8_000_000,
            vbv_buffer_size: Some(10_000_000),
        },
        RateControl::Cbr {
            bitrate: 4_000_000,
            vbv_buffer_size: Some(133_333),
        },
    ];

    fn vbv(&self) -> Option<u32> {
        match *self {
            RateControl::ConstQp { .. } => None,
            RateControl::Vbr {
                vbv_buffer_size, ..
            }
            | RateControl::Cbr {
                vbv_buffer_size, ..
            } => vbv_buffer_size,
        }
    }

    /// Writes the rate control into `rc`.
    pub(crate) fn apply(&self, rc: &mut sys::NV_ENC_RC_PARAMS) {
        use sys::_NV_ENC_PARAMS_RC_MODE as M;
        match *self {
            RateControl::ConstQp {
                intra,
                inter_p,
                inter_b,
            } => {
                rc.rateControlMode = M::NV_ENC_PARAMS_RC_CONSTQP;
                rc.constQP = sys::NV_ENC_QP {
                    qpInterP: inter_p,
                    qpInterB: inter_b,
                    qpIntra: intra,
                };
            }
            RateControl::Vbr {
                average_bitrate,
                max_bitrate,
                vbv_buffer_size,
            } => {
                rc.rateControlMode = M::NV_ENC_PARAMS_RC_VBR;
                rc.averageBitRate = average_bitrate;
                rc.maxBitRate = max_bitrate;
                if let Some(v) = vbv_buffer_size {
                    rc.vbvBufferSize = v;
                    rc.vbvInitialDelay = v;
                }
            }
            RateControl::Cbr {
                bitrate,
                vbv_buffer_size,
            } => {
                rc.rateControlMode = M::NV_ENC_PARAMS_RC_CBR;
                rc.averageBitRate = bitrate;
                rc.maxBitRate = bitrate;
                if let Some(v) = vbv_buffer_size {
                    rc.vbvBufferSize = v;
                    rc.vbvInitialDelay = v;
                }
            }
        }
    }

    fn check(&self) -> Result<()> {
        match *self {
            RateControl::ConstQp {
                intra,
                inter_p,
                inter_b,
            } => {
                if intra.max(inter_p).max(inter_b) > 255 {
                    return Err(Error::InvalidArgument(format!(
                        "constant QP ({intra}, {inter_p}, {inter_b}) out of range 0..=255"
                    )));
                }
            }
            RateControl::Vbr {
                average_bitrate,
                max_bitrate,
                ..
            } => {
                if average_bitrate == 0 || max_bitrate < average_bitrate {
                    return Err(Error::InvalidArgument(format!(
                        "VBR needs 0 < average bitrate ({average_bitrate}) <= max bitrate ({max_bitrate})"
                    )));
                }
            }
            RateControl::Cbr { bitrate, .. } => {
                if bitrate == 0 {
                    return Err(Error::InvalidArgument("CBR bitrate must be > 0".into()));
                }
            }
        }
        if self.vbv() == Some(0) {
            return Err(Error::InvalidArgument(
                "VBV buffer size 0: use None for the driver's default".into(),
            ));
        }
        Ok(())
    }
}

/// Codec profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Chosen from the codec, input format and tuning (Main10 for 10-bit HEVC, High 4:4:4 for
    /// lossless H.264, otherwise the driver's choice).
    Auto,
    /// H.264 Baseline.
    H264Baseline,
    /// H.264 Main.
    H264Main,
    /// H.264 High.
    H264High,
    /// H.264 High 4:4:4 Predictive (needed for lossless H.264).
    H264High444,
    /// HEVC Main (8-bit).
    HevcMain,
    /// HEVC Main 10.
    HevcMain10,
    /// HEVC range extensions.
    HevcFrext,
    /// AV1 Main.
    Av1Main,
}

impl Profile {
    fn codec(self) -> Option<Codec> {
        match self {
            Profile::Auto => None,
            Profile::H264Baseline
            | Profile::H264Main
            | Profile::H264High
            | Profile::H264High444 => Some(Codec::H264),
            Profile::HevcMain | Profile::HevcMain10 | Profile::HevcFrext => Some(Codec::Hevc),
            Profile::Av1Main => Some(Codec::Av1),
        }
    }

    fn guid(self) -> GUID {
        match self {
            Profile::Auto => guid::PROFILE_AUTOSELECT,
            Profile::H264Baseline => guid::H264_PROFILE_BASELINE,
            Profile::H264Main => guid::H264_PROFILE_MAIN,
            Profile::H264High => guid::H264_PROFILE_HIGH,
            Profile::H264High444 => guid::H264_PROFILE_HIGH_444,
            Profile::HevcMain => guid::HEVC_PROFILE_MAIN,
            Profile::HevcMain10 => guid::HEVC_PROFILE_MAIN10,
            Profile::HevcFrext => guid::HEVC_PROFILE_FREXT,
            Profile::Av1Main => guid::AV1_PROFILE_MAIN,
        }
    }
}

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
    fn raw(
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

    fn write_vui(self, vui: &mut NV_ENC_CONFIG_H264_VUI_PARAMETERS) {
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

/// Settings of an encode session. Start with [`EncoderConfig::new`] and chain the setters.
///
/// ```
/// use nvdx::encode::{EncoderConfig, Preset, RateControl, Tuning};
/// use nvdx::{Codec, PixelFormat};
/// let cfg = EncoderConfig::new(Codec::Hevc, 1920, 1080)
///     .format(PixelFormat::Nv12)
///     .frame_rate(30, 1)
///     .preset(Preset::P5)
///     .tuning(Tuning::HighQuality)
///     .rate_control(RateControl::Vbr { average_bitrate: 6_000_000, max_bitrate: 9_000_000, vbv_buffer_size: None })
///     .gop_length(120)
///     .b_frames(2)
///     .repeat_headers(true);
/// assert!(cfg.check().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    pub(crate) codec: Codec,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) format: PixelFormat,
    pub(crate) frame_rate: (u32, u32),
    pub(crate) preset: Preset,
    pub(crate) tuning: Tuning,
    pub(crate) rate_control: Option<RateControl>,
    pub(crate) gop_length: Option<u32>,
    pub(crate) idr_period: Option<u32>,
    pub(crate) b_frames: Option<u32>,
    pub(crate) repeat_headers: bool,
    pub(crate) zero_latency: bool,
    pub(crate) profile: Profile,
    pub(crate) level: Option<u32>,
    pub(crate) colour: Option<ColourDescription>,
    pub(crate) lookahead: Option<u16>,
    pub(crate) adaptive_quantization: bool,
    pub(crate) max_size: Option<(u32, u32)>,
}

impl EncoderConfig {
    /// A `width` x `height` session for `codec`: NV12 input, 30 fps, preset P4 with high
    /// quality tuning, the preset's rate control and GOP, BT.709 limited-range VUI.
    pub fn new(codec: Codec, width: u32, height: u32) -> EncoderConfig {
        EncoderConfig {
            codec,
            width,
            height,
            format: PixelFormat::Nv12,
            frame_rate: (30, 1),
            preset: Preset::P4,
            tuning: Tuning::HighQuality,
            rate_control: None,
            gop_length: None,
            idr_period: None,
            b_frames: None,
            repeat_headers: false,
            zero_latency: false,
            profile: Profile::Auto,
            level: None,
            colour: Some(ColourDescription::default()),
            lookahead: None,
            adaptive_quantization: false,
            max_size: None,
        }
    }

    /// Input pixel format: NV12, P016 (10-bit), BGRA or RGBA (see [`buffer_format`]).
    pub fn format(mut self, format: PixelFormat) -> Self {
        self.format = format;
        self
    }
    /// Frame rate as a fraction, e.g. `(30000, 1001)`.
    pub fn frame_rate(mut self, num: u32, den: u32) -> Self {
        self.frame_rate = (num, den);
        self
    }
    /// Speed/quality preset.
    pub fn preset(mut self, preset: Preset) -> Self {
        self.preset = preset;
        self
    }
    /// Tuning.
    pub fn tuning(mut self, tuning: Tuning) -> Self {
        self.tuning = tuning;
        self
    }
    /// Rate control (otherwise the preset's).
    pub fn rate_control(mut self, rc: RateControl) -> Self {
        self.rate_control = Some(rc);
        self
    }
    /// Pictures per GOP (distance between I pictures); `u32::MAX` for an infinite GOP.
    pub fn gop_length(mut self, frames: u32) -> Self {
        self.gop_length = Some(frames);
        self
    }
    /// Distance between IDR pictures (defaults to the GOP length when that is set).
    pub fn idr_period(mut self, frames: u32) -> Self {
        self.idr_period = Some(frames);
        self
    }
    /// Consecutive B-frames (0 for IPPP).
    pub fn b_frames(mut self, count: u32) -> Self {
        self.b_frames = Some(count);
        self
    }
    /// Repeat SPS/PPS (VPS, AV1 sequence header) before every IDR, for streams a receiver may
    /// join mid-way.
    pub fn repeat_headers(mut self, on: bool) -> Self {
        self.repeat_headers = on;
        self
    }
    /// Zero reorder delay: no B-frames, no lookahead, each picture's packet comes out of the
    /// encode call that submitted it.
    pub fn zero_latency(mut self, on: bool) -> Self {
        self.zero_latency = on;
        self
    }
    /// Codec profile.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }
    /// Codec level as `NV_ENC_LEVEL` value (e.g. 51 for H.264 5.1, 153 for HEVC 5.1); default
    /// autoselect.
    pub fn level(mut self, level: u32) -> Self {
        self.level = Some(level);
        self
    }
    /// Colour description to signal; `None` leaves the VUI colour fields unset.
    pub fn colour(mut self, colour: Option<ColourDescription>) -> Self {
        self.colour = colour;
        self
    }
    /// Rate-control lookahead depth in frames (0-31 minus B-frames).
    pub fn lookahead(mut self, depth: u16) -> Self {
        self.lookahead = Some(depth);
        self
    }
    /// Spatial adaptive quantisation.
    pub fn adaptive_quantization(mut self, on: bool) -> Self {
        self.adaptive_quantization = on;
        self
    }
    /// Largest size [`super::Encoder::reconfigure`] may switch to (default: the initial size).
    pub fn max_size(mut self, width: u32, height: u32) -> Self {
        self.max_size = Some((width, height));
        self
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }
    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
    /// Input pixel format.
    pub fn input_format(&self) -> PixelFormat {
        self.format
    }
    /// Frame rate `(num, den)`.
    pub fn frame_rate_fraction(&self) -> (u32, u32) {
        self.frame_rate
    }

    pub(crate) fn codec_guid(&self) -> Result<GUID> {
        match self.codec {
            Codec::H264 => Ok(guid::CODEC_H264),
            Codec::Hevc => Ok(guid::CODEC_HEVC),
            Codec::Av1 => Ok(guid::CODEC_AV1),
            other => Err(Error::Unsupported(format!(
                "NVENC encodes H.264, HEVC and AV1, not {other}"
            ))),
        }
    }

    pub(crate) fn is_10bit(&self) -> bool {
        self.format == PixelFormat::P016
    }

    /// B-frames the session will use: the requested count, 0 with zero latency or ultra-low
    /// latency tuning; `None` when the preset decides.
    pub(crate) fn effective_b_frames(&self) -> Option<u32> {
        if self.zero_latency || self.tuning == Tuning::UltraLowLatency {
            Some(0)
        } else {
            self.b_frames
        }
    }

    /// Checks the settings for consistency (no GPU needed); [`super::caps::validate`] adds the
    /// GPU's limits.
    pub fn check(&self) -> Result<()> {
        self.codec_guid()?;
        buffer_format(self.format)?;
        let (w, h) = (self.width, self.height);
        if w == 0 || h == 0 {
            return Err(Error::InvalidArgument(format!(
                "encode size {w}x{h} is empty"
            )));
        }
        // Every codec here encodes 4:2:0, whatever the input format: sizes must be even.
        if w % 2 != 0 || h % 2 != 0 {
            return Err(Error::InvalidArgument(format!(
                "encode size {w}x{h}: width and height must be even for 4:2:0"
            )));
        }
        if let Some((mw, mh)) = self.max_size {
            if mw < w || mh < h || mw % 2 != 0 || mh % 2 != 0 {
                return Err(Error::InvalidArgument(format!(
                    "max size {mw}x{mh} must be even and at least the encode size {w}x{h}"
                )));
            }
        }
        let (num, den) = self.frame_rate;
        if num == 0 || den == 0 {
            return Err(Error::InvalidArgument(format!(
                "frame rate {num}/{den} is invalid"
            )));
        }
        if let Some(p) = self.profile.codec() {
            if p != self.codec {
                return Err(Error::InvalidArgument(format!(
                    "profile {:?} is not a {} profile",
                    self.profile, self.codec
                )));
            }
        }
        if self.is_10bit() {
            if self.codec == Codec::H264 {
                return Err(Error::Unsupported(
                    "NVENC (API 12.1) cannot encode 10-bit H.264; use HEVC or AV1 for P016 input"
                        .into(),
                ));
            }
            if self.profile == Profile::HevcMain {
                return Err(Error::InvalidArgument(
                    "HEVC Main is 8-bit; 10-bit (P016) input needs Main10 (or Profile::Auto)"
                        .into(),
                ));
            }
        }
        if let Some(rc) = &self.rate_control {
            rc.check()?;
            if self.tuning == Tuning::Lossless
                && *rc
                    != (RateControl::ConstQp {
                        intra: 0,
                        inter_p: 0,
                        inter_b: 0,
                    })
            {
                return Err(Error::InvalidArgument(format!(
                    "lossless tuning encodes with constant QP 0; remove the rate control {rc:?}"
                )));
            }
        }
        if self.tuning == Tuning::Lossless
            && self.codec == Codec::H264
            && !matches!(self.profile, Profile::Auto | Profile::H264High444)
        {
            return Err(Error::InvalidArgument(
                "lossless H.264 needs the High 4:4:4 Predictive profile (Profile::Auto picks it)"
                    .into(),
            ));
        }
        if self.zero_latency {
            if self.b_frames.is_some_and(|b| b > 0) {
                return Err(Error::InvalidArgument(
                    "zero latency excludes B-frames (they delay output by reordering)".into(),
                ));
            }
            if self.lookahead.is_some_and(|d| d > 0) {
                return Err(Error::InvalidArgument(
                    "zero latency excludes lookahead (it delays output)".into(),
                ));
            }
        }
        if self.tuning == Tuning::UltraLowLatency && self.b_frames.is_some_and(|b| b > 0) {
            return Err(Error::InvalidArgument(
                "ultra-low-latency tuning excludes B-frames".into(),
            ));
        }
        if let Some(d) = self.lookahead {
            let b = self.b_frames.unwrap_or(0);
            if u32::from(d) + b > 31 {
                return Err(Error::InvalidArgument(format!(
                    "lookahead depth {d} plus {b} B-frames exceeds 31"
                )));
            }
        }
        if self.gop_length == Some(0) || self.idr_period == Some(0) {
            return Err(Error::InvalidArgument(
                "GOP length and IDR period must be > 0".into(),
            ));
        }
        if let (Some(g), Some(b)) = (self.gop_length, self.effective_b_frames()) {
            if g != u32::MAX && b >= g {
                return Err(Error::InvalidArgument(format!(
                    "{b} B-frames do not fit a GOP of {g} pictures"
                )));
            }
        }
        Ok(())
    }

    /// The profile GUID the session uses.
    fn profile_guid(&self) -> Option<GUID> {
        match (self.profile, self.codec) {
            (Profile::Auto, Codec::H264) if self.tuning == Tuning::Lossless => {
                Some(guid::H264_PROFILE_HIGH_444)
            }
            (Profile::Auto, Codec::Hevc) if self.is_10bit() => Some(guid::HEVC_PROFILE_MAIN10),
            (Profile::Auto, Codec::Av1) => Some(guid::AV1_PROFILE_MAIN),
            (Profile::Auto, _) => None,
            (p, _) => Some(p.guid()),
        }
    }

    /// Applies the settings on top of `preset` (the preset configuration for this codec,
    /// preset and tuning) and returns the `NV_ENC_CONFIG` to initialise with.
    pub(crate) fn apply(&self, preset: &NV_ENC_CONFIG) -> Result<NV_ENC_CONFIG> {
        self.check()?;
        let mut c = *preset;
        c.version = NV_ENC_CONFIG_VER;
        if let Some(g) = self.profile_guid() {
            c.profileGUID = g;
        }
        if let Some(g) = self.gop_length {
            c.gopLength = g;
        }
        if let Some(b) = self.effective_b_frames() {
            c.frameIntervalP = b as i32 + 1;
        }
        if let Some(rc) = &self.rate_control {
            rc.apply(&mut c.rcParams);
        }
        if self.tuning == Tuning::Lossless {
            RateControl::ConstQp {
                intra: 0,
                inter_p: 0,
                inter_b: 0,
            }
            .apply(&mut c.rcParams);
        }
        if self.zero_latency {
            c.rcParams.set_zeroReorderDelay(1);
            c.rcParams.set_enableLookahead(0);
            c.rcParams.lookaheadDepth = 0;
        }
        if let Some(d) = self.lookahead {
            c.rcParams.set_enableLookahead(u32::from(d > 0));
            c.rcParams.lookaheadDepth = d;
        }
        if self.adaptive_quantization {
            c.rcParams.set_enableAQ(1);
        }
        let idr = self.idr_period.or(self.gop_length);
        let depth_minus8 = if self.is_10bit() { 2 } else { 0 };
        match self.codec {
            Codec::H264 => {
                // SAFETY: the union member written is the one NVENC reads for this codec's
                // GUID; all members are plain old data, so any bit pattern is valid.
                let h = unsafe { &mut c.encodeCodecConfig.h264Config };
                if let Some(p) = idr {
                    h.idrPeriod = p;
                }
                if self.repeat_headers {
                    h.set_repeatSPSPPS(1);
                }
                if let Some(l) = self.level {
                    h.level = l;
                }
                h.chromaFormatIDC = 1;
                if self.tuning == Tuning::Lossless {
                    h.set_qpPrimeYZeroTransformBypassFlag(1);
                }
                if let Some(col) = self.colour {
                    col.write_vui(&mut h.h264VUIParameters);
                }
            }
            Codec::Hevc => {
                // SAFETY: as above, the HEVC member for an HEVC session.
                let h = unsafe { &mut c.encodeCodecConfig.hevcConfig };
                if let Some(p) = idr {
                    h.idrPeriod = p;
                }
                if self.repeat_headers {
                    h.set_repeatSPSPPS(1);
                }
                if let Some(l) = self.level {
                    h.level = l;
                }
                h.set_chromaFormatIDC(1);
                h.set_pixelBitDepthMinus8(depth_minus8);
                if let Some(col) = self.colour {
                    col.write_vui(&mut h.hevcVUIParameters);
                }
            }
            Codec::Av1 => {
                // SAFETY: as above, the AV1 member for an AV1 session.
                let a = unsafe { &mut c.encodeCodecConfig.av1Config };
                if let Some(p) = idr {
                    a.idrPeriod = p;
                }
                if self.repeat_headers {
                    a.set_repeatSeqHdr(1);
                }
                if let Some(l) = self.level {
                    a.level = l;
                }
                a.set_chromaFormatIDC(1);
                a.set_pixelBitDepthMinus8(depth_minus8);
                a.set_inputPixelBitDepthMinus8(depth_minus8);
                if let Some(col) = self.colour {
                    let (p, t, m) = col.raw();
                    a.colorPrimaries = p;
                    a.transferCharacteristics = t;
                    a.matrixCoefficients = m;
                    a.colorRange = u32::from(col.full_range);
                }
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "NVENC encodes H.264, HEVC and AV1, not {other}"
                )))
            }
        }
        Ok(c)
    }

    /// Builds the initialisation parameters on top of `preset`.
    pub(crate) fn build(&self, preset: &NV_ENC_CONFIG) -> Result<BuiltParams> {
        let config = Box::new(self.apply(preset)?);
        let (mw, mh) = self.max_size.unwrap_or((self.width, self.height));
        let init = NV_ENC_INITIALIZE_PARAMS {
            version: NV_ENC_INITIALIZE_PARAMS_VER,
            encodeGUID: self.codec_guid()?,
            presetGUID: self.preset.guid(),
            encodeWidth: self.width,
            encodeHeight: self.height,
            darWidth: self.width,
            darHeight: self.height,
            frameRateNum: self.frame_rate.0,
            frameRateDen: self.frame_rate.1,
            enableEncodeAsync: 0,
            enablePTD: 1,
            maxEncodeWidth: mw,
            maxEncodeHeight: mh,
            tuningInfo: self.tuning.raw(),
            bufferFormat: buffer_format(self.format)?,
            ..Default::default()
        };
        let mut built = BuiltParams { init, config };
        built.relink();
        Ok(built)
    }
}

/// `NV_ENC_INITIALIZE_PARAMS` and the `NV_ENC_CONFIG` it points to, kept together so the
/// pointer stays valid (the config is boxed: moving this value does not move it).
pub(crate) struct BuiltParams {
    pub(crate) init: NV_ENC_INITIALIZE_PARAMS,
    pub(crate) config: Box<NV_ENC_CONFIG>,
}

impl BuiltParams {
    /// Points `init.encodeConfig` at the boxed config (after a clone or an edit of `init`).
    pub(crate) fn relink(&mut self) {
        self.init.encodeConfig = &mut *self.config;
    }

    /// An independent copy (for reconfiguration attempts).
    pub(crate) fn duplicate(&self) -> BuiltParams {
        let mut b = BuiltParams {
            init: self.init,
            config: Box::new(*self.config),
        };
        b.relink();
        b
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::encode::guid::guid_eq;
    use sys::_NV_ENC_PARAMS_RC_MODE as M;

    fn zeroed_preset() -> NV_ENC_CONFIG {
        NV_ENC_CONFIG::default()
    }

    fn h264(c: &NV_ENC_CONFIG) -> &sys::NV_ENC_CONFIG_H264 {
        // SAFETY: test configs for H.264 sessions use the h264Config member.
        unsafe { &c.encodeCodecConfig.h264Config }
    }
    fn hevc(c: &NV_ENC_CONFIG) -> &sys::NV_ENC_CONFIG_HEVC {
        // SAFETY: test configs for HEVC sessions use the hevcConfig member.
        unsafe { &c.encodeCodecConfig.hevcConfig }
    }
    fn av1(c: &NV_ENC_CONFIG) -> &sys::NV_ENC_CONFIG_AV1 {
        // SAFETY: test configs for AV1 sessions use the av1Config member.
        unsafe { &c.encodeCodecConfig.av1Config }
    }

    #[test]
    fn every_preset_tuning_and_rate_control_sets_the_documented_fields() {
        for codec in [Codec::H264, Codec::Hevc, Codec::Av1] {
            for preset in Preset::ALL {
                for tuning in Tuning::ALL {
                    let rcs: Vec<Option<RateControl>> = if tuning == Tuning::Lossless {
                        vec![None]
                    } else {
                        RateControl::EXAMPLES.iter().copied().map(Some).collect()
                    };
                    for rc in rcs {
                        let mut cfg = EncoderConfig::new(codec, 1280, 720)
                            .frame_rate(60, 1)
                            .preset(preset)
                            .tuning(tuning)
                            .gop_length(120)
                            .repeat_headers(true);
                        if tuning != Tuning::UltraLowLatency {
                            cfg = cfg.b_frames(2);
                        }
                        if let Some(rc) = rc {
                            cfg = cfg.rate_control(rc);
                        }
                        let what = format!("{codec} {preset:?} {tuning:?} {rc:?}");
                        let b = cfg
                            .build(&zeroed_preset())
                            .unwrap_or_else(|e| panic!("{what}: {e}"));
                        let (i, c) = (&b.init, &*b.config);
                        assert_eq!(i.version, 0xf106_000c, "{what}");
                        assert_eq!(c.version, 0xf108_000c, "{what}");
                        assert!(std::ptr::eq(i.encodeConfig, c), "{what}");
                        assert!(guid_eq(&i.presetGUID, &preset.guid()), "{what}");
                        assert!(guid_eq(&i.encodeGUID, &cfg.codec_guid().unwrap()), "{what}");
                        assert_eq!(i.tuningInfo, tuning.raw(), "{what}");
                        assert_eq!((i.encodeWidth, i.encodeHeight), (1280, 720));
                        assert_eq!((i.darWidth, i.darHeight), (1280, 720));
                        assert_eq!((i.maxEncodeWidth, i.maxEncodeHeight), (1280, 720));
                        assert_eq!((i.frameRateNum, i.frameRateDen), (60, 1));
                        assert_eq!(i.enablePTD, 1);
                        assert_eq!(i.enableEncodeAsync, 0);
                        assert_eq!(
                            i.bufferFormat,
                            sys::_NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_NV12
                        );
                        assert_eq!(c.gopLength, 120, "{what}");
                        let expect_p = if tuning == Tuning::UltraLowLatency {
                            1
                        } else {
                            3
                        };
                        assert_eq!(c.frameIntervalP, expect_p, "{what}");
                        let rcp = &c.rcParams;
                        match (tuning, rc) {
                            (Tuning::Lossless, _) => {
                                assert_eq!(rcp.rateControlMode, M::NV_ENC_PARAMS_RC_CONSTQP);
                                assert_eq!(
                                    (
                                        rcp.constQP.qpIntra,
                                        rcp.constQP.qpInterP,
                                        rcp.constQP.qpInterB
                                    ),
                                    (0, 0, 0)
                                );
                            }
                            (_, Some(RateControl::ConstQp { .. })) => {
                                assert_eq!(rcp.rateControlMode, M::NV_ENC_PARAMS_RC_CONSTQP);
                                assert_eq!(
                                    (
                                        rcp.constQP.qpIntra,
                                        rcp.constQP.qpInterP,
                                        rcp.constQP.qpInterB
                                    ),
                                    (20, 23, 25)
                                );
                            }
                            (_, Some(RateControl::Vbr { .. })) => {
                                assert_eq!(rcp.rateControlMode, M::NV_ENC_PARAMS_RC_VBR);
                                assert_eq!(rcp.averageBitRate, 5_000_000);
                                assert_eq!(rcp.maxBitRate, 8_000_000);
                                assert_eq!(rcp.vbvBufferSize, 10_000_000);
                            }
                            (_, Some(RateControl::Cbr { .. })) => {
                                assert_eq!(rcp.rateControlMode, M::NV_ENC_PARAMS_RC_CBR);
                                assert_eq!(rcp.averageBitRate, 4_000_000);
                                assert_eq!(rcp.maxBitRate, 4_000_000);
                                assert_eq!(rcp.vbvBufferSize, 133_333);
                            }
                            (_, None) => unreachable!(),
                        }
                        match codec {
                            Codec::H264 => {
                                let h = h264(c);
                                assert_eq!(h.idrPeriod, 120);
                                assert_eq!(h.repeatSPSPPS(), 1);
                                assert_eq!(h.chromaFormatIDC, 1);
                                let vui = &h.h264VUIParameters;
                                assert_eq!(vui.colourDescriptionPresentFlag, 1);
                                assert_eq!(vui.videoSignalTypePresentFlag, 1);
                                assert_eq!(vui.colourMatrix.0, 1);
                                assert_eq!(vui.colourPrimaries.0, 1);
                                assert_eq!(vui.transferCharacteristics.0, 1);
                                assert_eq!(vui.videoFullRangeFlag, 0);
                                if tuning == Tuning::Lossless {
                                    assert_eq!(h.qpPrimeYZeroTransformBypassFlag(), 1);
                                    assert!(guid_eq(&c.profileGUID, &guid::H264_PROFILE_HIGH_444));
                                } else {
                                    assert_eq!(h.qpPrimeYZeroTransformBypassFlag(), 0);
                                }
                            }
                            Codec::Hevc => {
                                let h = hevc(c);
                                assert_eq!(h.idrPeriod, 120);
                                assert_eq!(h.repeatSPSPPS(), 1);
                                assert_eq!(h.chromaFormatIDC(), 1);
                                assert_eq!(h.pixelBitDepthMinus8(), 0);
                                assert_eq!(h.hevcVUIParameters.colourMatrix.0, 1);
                                assert_eq!(h.hevcVUIParameters.colourDescriptionPresentFlag, 1);
                            }
                            Codec::Av1 => {
                                let a = av1(c);
                                assert_eq!(a.idrPeriod, 120);
                                assert_eq!(a.repeatSeqHdr(), 1);
                                assert_eq!(a.chromaFormatIDC(), 1);
                                assert_eq!(a.matrixCoefficients.0, 1);
                                assert_eq!(a.colorPrimaries.0, 1);
                                assert_eq!(a.colorRange, 0);
                                assert!(guid_eq(&c.profileGUID, &guid::AV1_PROFILE_MAIN));
                            }
                            _ => unreachable!(),
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn settings_apply_on_top_of_the_preset_and_keep_the_rest() {
        let mut preset = zeroed_preset();
        preset.gopLength = 250;
        preset.frameIntervalP = 4;
        preset.rcParams.rateControlMode = M::NV_ENC_PARAMS_RC_VBR;
        preset.rcParams.averageBitRate = 1234;
        preset.mvPrecision = sys::NV_ENC_MV_PRECISION::NV_ENC_MV_PRECISION_QUARTER_PEL;
        // Writing a Copy union field is safe; the HEVC member is the one an HEVC session reads.
        preset.encodeCodecConfig.hevcConfig.maxNumRefFramesInDPB = 5;
        let b = EncoderConfig::new(Codec::Hevc, 640, 480)
            .build(&preset)
            .unwrap();
        let c = &*b.config;
        assert_eq!(c.gopLength, 250);
        assert_eq!(c.frameIntervalP, 4);
        assert_eq!(c.rcParams.averageBitRate, 1234);
        assert_eq!(
            c.mvPrecision,
            sys::NV_ENC_MV_PRECISION::NV_ENC_MV_PRECISION_QUARTER_PEL
        );
        assert_eq!(hevc(c).maxNumRefFramesInDPB, 5);
        assert_eq!(
            hevc(c).idrPeriod,
            0,
            "no GOP asked: the preset's IDR period stays"
        );
    }

    #[test]
    fn ten_bit_colour_zero_latency_level_lookahead() {
        let cfg = EncoderConfig::new(Codec::Hevc, 3840, 2160)
            .format(PixelFormat::P016)
            .colour(Some(ColourDescription {
                matrix: ColourMatrix::Bt2020,
                full_range: true,
            }))
            .level(153)
            .zero_latency(true)
            .adaptive_quantization(true)
            .max_size(4096, 2304);
        let b = cfg.build(&zeroed_preset()).unwrap();
        let c = &*b.config;
        let h = hevc(c);
        assert_eq!(h.pixelBitDepthMinus8(), 2);
        assert!(guid_eq(&c.profileGUID, &guid::HEVC_PROFILE_MAIN10));
        assert_eq!(h.level, 153);
        assert_eq!(h.hevcVUIParameters.colourMatrix.0, 9);
        assert_eq!(h.hevcVUIParameters.colourPrimaries.0, 9);
        assert_eq!(h.hevcVUIParameters.transferCharacteristics.0, 14);
        assert_eq!(h.hevcVUIParameters.videoFullRangeFlag, 1);
        assert_eq!(c.rcParams.zeroReorderDelay(), 1);
        assert_eq!(c.rcParams.enableAQ(), 1);
        assert_eq!(c.frameIntervalP, 1);
        assert_eq!(
            b.init.bufferFormat,
            sys::_NV_ENC_BUFFER_FORMAT::NV_ENC_BUFFER_FORMAT_YUV420_10BIT
        );
        assert_eq!(
            (b.init.maxEncodeWidth, b.init.maxEncodeHeight),
            (4096, 2304)
        );

        let a = EncoderConfig::new(Codec::Av1, 1920, 1080)
            .format(PixelFormat::P016)
            .colour(Some(ColourDescription {
                matrix: ColourMatrix::Bt601,
                full_range: false,
            }))
            .lookahead(8)
            .b_frames(3)
            .build(&zeroed_preset())
            .unwrap();
        let av = av1(&a.config);
        assert_eq!(
            (av.pixelBitDepthMinus8(), av.inputPixelBitDepthMinus8()),
            (2, 2)
        );
        assert_eq!(av.matrixCoefficients.0, 6);
        assert_eq!(a.config.rcParams.enableLookahead(), 1);
        assert_eq!(a.config.rcParams.lookaheadDepth, 8);

        let none = EncoderConfig::new(Codec::H264, 1280, 720)
            .colour(None)
            .build(&zeroed_preset())
            .unwrap();
        assert_eq!(
            h264(&none.config)
                .h264VUIParameters
                .colourDescriptionPresentFlag,
            0
        );
    }

    #[test]
    fn duplicate_relinks_the_config_pointer() {
        let b = EncoderConfig::new(Codec::H264, 1280, 720)
            .build(&zeroed_preset())
            .unwrap();
        let d = b.duplicate();
        assert!(std::ptr::eq(d.init.encodeConfig, &*d.config));
        assert!(!std::ptr::eq(d.init.encodeConfig, &*b.config));
        let moved = b;
        assert!(std::ptr::eq(moved.init.encodeConfig, &*moved.config));
    }

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

    #[test]
    fn inconsistent_settings_are_rejected_before_the_driver() {
        let base = || EncoderConfig::new(Codec::H264, 1920, 1080);
        let bad: Vec<(EncoderConfig, &str)> = vec![
            (EncoderConfig::new(Codec::H264, 1921, 1080), "even"),
            (EncoderConfig::new(Codec::Hevc, 1920, 1081), "even"),
            (EncoderConfig::new(Codec::H264, 0, 1080), "empty"),
            (EncoderConfig::new(Codec::Vp9, 1920, 1080), "VP9"),
            (base().format(PixelFormat::Yuv444), "NV12, P016"),
            (base().format(PixelFormat::P016), "10-bit H.264"),
            (
                EncoderConfig::new(Codec::Hevc, 64, 64)
                    .format(PixelFormat::P016)
                    .profile(Profile::HevcMain),
                "Main10",
            ),
            (base().profile(Profile::HevcMain), "not a H.264 profile"),
            (base().frame_rate(0, 1), "frame rate"),
            (base().zero_latency(true).b_frames(2), "zero latency"),
            (base().zero_latency(true).lookahead(4), "zero latency"),
            (
                base().tuning(Tuning::UltraLowLatency).b_frames(1),
                "ultra-low",
            ),
            (
                base()
                    .tuning(Tuning::Lossless)
                    .rate_control(RateControl::EXAMPLES[1]),
                "lossless",
            ),
            (
                base().tuning(Tuning::Lossless).profile(Profile::H264High),
                "High 4:4:4",
            ),
            (
                base().rate_control(RateControl::Vbr {
                    average_bitrate: 5,
                    max_bitrate: 4,
                    vbv_buffer_size: None,
                }),
                "VBR",
            ),
            (
                base().rate_control(RateControl::Cbr {
                    bitrate: 0,
                    vbv_buffer_size: None,
                }),
                "CBR",
            ),
            (
                base().rate_control(RateControl::Cbr {
                    bitrate: 1,
                    vbv_buffer_size: Some(0),
                }),
                "VBV",
            ),
            (
                base().rate_control(RateControl::ConstQp {
                    intra: 300,
                    inter_p: 1,
                    inter_b: 1,
                }),
                "QP",
            ),
            (base().lookahead(30).b_frames(3), "lookahead"),
            (base().gop_length(0), "GOP"),
            (base().gop_length(3).b_frames(3), "GOP"),
            (base().max_size(1280, 720), "max size"),
        ];
        for (cfg, needle) in bad {
            let e = cfg
                .build(&zeroed_preset())
                .err()
                .unwrap_or_else(|| panic!("{cfg:?} accepted"));
            assert!(
                matches!(e, Error::InvalidArgument(_) | Error::Unsupported(_)),
                "{e:?}"
            );
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
        assert!(base().tuning(Tuning::Lossless).check().is_ok());
        assert!(base().gop_length(u32::MAX).b_frames(3).check().is_ok());
    }
}
