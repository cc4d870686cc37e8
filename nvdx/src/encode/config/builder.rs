//! [`EncoderConfig`], the settings builder, and [`BuiltParams`], what it builds for
//! `nvEncInitializeEncoder`.

use nvdx_sys::nvenc as sys;
use sys::{GUID, NV_ENC_CONFIG, NV_ENC_INITIALIZE_PARAMS};

use super::{buffer_format, ColourDescription, Preset, Profile, RateControl, Tuning};
use crate::codec::Codec;
use crate::encode::guid;
use crate::encode::version::{NV_ENC_CONFIG_VER, NV_ENC_INITIALIZE_PARAMS_VER};
use crate::error::{Error, Result};
use crate::frame::PixelFormat;

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
    /// Pictures per GOP (distance between I pictures); `u32::MAX` for an infinite GOP, which
    /// allows no B-frames (NVENC's rule).
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
    /// Largest size [`super::Encoder::reconfigure`](crate::encode::Encoder::reconfigure) may switch
    /// to (default: the initial size).
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

    /// Checks the settings for consistency (no GPU needed);
    /// [`super::caps::validate`](crate::encode::caps::validate) adds the GPU's limits.
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
            // nvEncodeAPI.h: "frameIntervalP must be 1 when gopLength is NVENC_INFINITE_GOPLENGTH".
            if g == u32::MAX && b > 0 {
                return Err(Error::InvalidArgument(format!(
                    "an infinite GOP allows no B-frames (NVENC needs frameIntervalP = 1 with \
                     NVENC_INFINITE_GOPLENGTH), {b} requested"
                )));
            }
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
        if c.gopLength == nvdx_sys::nvenc::NVENC_INFINITE_GOPLENGTH {
            // The preset's B-frames do not survive an infinite GOP (see `check`).
            c.frameIntervalP = 1;
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
