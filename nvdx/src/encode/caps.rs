//! What a GPU's encoder can do for one codec (`nvEncGetEncodeCaps`), and the check of a
//! configuration against it.

use nvdx_sys::nvenc::{_NV_ENC_CAPS as C, NV_ENC_CAPS};

use super::config::{EncoderConfig, RateControl, Tuning};
use crate::error::{Error, Result};

/// Encoder capabilities for one codec on one GPU. Queried with
/// [`super::Encoder::capabilities`] or [`super::Encoder::caps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EncoderCaps {
    /// Largest width.
    pub max_width: u32,
    /// Largest height.
    pub max_height: u32,
    /// Smallest width (0 when the driver does not report one).
    pub min_width: u32,
    /// Smallest height (0 when the driver does not report one).
    pub min_height: u32,
    /// Most consecutive B-frames (0: no B-frames).
    pub max_b_frames: u32,
    /// 10-bit encoding.
    pub ten_bit: bool,
    /// Lossless encoding.
    pub lossless: bool,
    /// Rate-control lookahead.
    pub lookahead: bool,
    /// Temporal adaptive quantisation.
    pub temporal_aq: bool,
    /// 4:4:4 encoding.
    pub yuv444: bool,
    /// A custom VBV buffer size.
    pub custom_vbv: bool,
    /// Resolution change through reconfiguration.
    pub dynamic_resolution: bool,
    /// Bitrate change through reconfiguration.
    pub dynamic_bitrate: bool,
    /// Rate-control mode change (e.g. VBR to CBR) through reconfiguration
    /// (`NV_ENC_CAPS_SUPPORT_DYN_RCMODE_CHANGE`).
    pub dynamic_rc_mode: bool,
    /// Switching to constant QP through reconfiguration
    /// (`NV_ENC_CAPS_SUPPORT_DYN_FORCE_CONSTQP`).
    pub dynamic_force_constqp: bool,
    /// Highest level (`NV_ENC_LEVEL` value).
    pub level_max: u32,
    /// Lowest level (`NV_ENC_LEVEL` value).
    pub level_min: u32,
    /// Number of NVENC engines on the GPU (0 when not reported).
    pub engines: u32,
}

impl EncoderCaps {
    /// Reads every capability through `query` (one `nvEncGetEncodeCaps` call each).
    pub(crate) fn read(mut query: impl FnMut(NV_ENC_CAPS) -> Result<i32>) -> Result<EncoderCaps> {
        let mut q = |c| query(c).map(|v| v.max(0) as u32);
        Ok(EncoderCaps {
            max_width: q(C::NV_ENC_CAPS_WIDTH_MAX)?,
            max_height: q(C::NV_ENC_CAPS_HEIGHT_MAX)?,
            min_width: q(C::NV_ENC_CAPS_WIDTH_MIN)?,
            min_height: q(C::NV_ENC_CAPS_HEIGHT_MIN)?,
            max_b_frames: q(C::NV_ENC_CAPS_NUM_MAX_BFRAMES)?,
            ten_bit: q(C::NV_ENC_CAPS_SUPPORT_10BIT_ENCODE)? != 0,
            lossless: q(C::NV_ENC_CAPS_SUPPORT_LOSSLESS_ENCODE)? != 0,
            lookahead: q(C::NV_ENC_CAPS_SUPPORT_LOOKAHEAD)? != 0,
            temporal_aq: q(C::NV_ENC_CAPS_SUPPORT_TEMPORAL_AQ)? != 0,
            yuv444: q(C::NV_ENC_CAPS_SUPPORT_YUV444_ENCODE)? != 0,
            custom_vbv: q(C::NV_ENC_CAPS_SUPPORT_CUSTOM_VBV_BUF_SIZE)? != 0,
            dynamic_resolution: q(C::NV_ENC_CAPS_SUPPORT_DYN_RES_CHANGE)? != 0,
            dynamic_bitrate: q(C::NV_ENC_CAPS_SUPPORT_DYN_BITRATE_CHANGE)? != 0,
            dynamic_rc_mode: q(C::NV_ENC_CAPS_SUPPORT_DYN_RCMODE_CHANGE)? != 0,
            dynamic_force_constqp: q(C::NV_ENC_CAPS_SUPPORT_DYN_FORCE_CONSTQP)? != 0,
            level_max: q(C::NV_ENC_CAPS_LEVEL_MAX)?,
            level_min: q(C::NV_ENC_CAPS_LEVEL_MIN)?,
            engines: q(C::NV_ENC_CAPS_NUM_ENCODER_ENGINES)?,
        })
    }

    /// Checks a size against the limits.
    pub fn check_size(
        &self,
        gpu: &str,
        codec: impl std::fmt::Display,
        w: u32,
        h: u32,
    ) -> Result<()> {
        if w > self.max_width || h > self.max_height {
            return Err(Error::Unsupported(format!(
                "{gpu} encodes {codec} up to {}x{}, not {w}x{h}",
                self.max_width, self.max_height
            )));
        }
        if w < self.min_width || h < self.min_height {
            return Err(Error::Unsupported(format!(
                "{gpu} encodes {codec} from {}x{} up, not {w}x{h}",
                self.min_width, self.min_height
            )));
        }
        Ok(())
    }
}

/// Checks `cfg` for consistency and against `caps` of GPU `gpu` (no driver call).
pub fn validate(cfg: &EncoderConfig, caps: &EncoderCaps, gpu: &str) -> Result<()> {
    cfg.check()?;
    let codec = cfg.codec;
    caps.check_size(gpu, codec, cfg.width, cfg.height)?;
    if let Some((mw, mh)) = cfg.max_size {
        caps.check_size(gpu, codec, mw, mh)?;
        if (mw, mh) != (cfg.width, cfg.height) && !caps.dynamic_resolution {
            return Err(Error::Unsupported(format!(
                "{gpu} cannot change the {codec} resolution without a new session; drop max_size"
            )));
        }
    }
    if let Some(b) = cfg.effective_b_frames() {
        if b > caps.max_b_frames {
            return Err(Error::Unsupported(format!(
                "{gpu} allows at most {} B-frames for {codec}, {b} requested",
                caps.max_b_frames
            )));
        }
    }
    if cfg.is_10bit() && !caps.ten_bit {
        return Err(Error::Unsupported(format!(
            "{gpu} cannot encode 10-bit {codec}"
        )));
    }
    if cfg.tuning == Tuning::Lossless && !caps.lossless {
        return Err(Error::Unsupported(format!(
            "{gpu} cannot encode lossless {codec}"
        )));
    }
    if cfg.lookahead.is_some_and(|d| d > 0) && !caps.lookahead {
        return Err(Error::Unsupported(format!(
            "{gpu} has no rate-control lookahead for {codec}"
        )));
    }
    let custom_vbv = matches!(
        cfg.rate_control,
        Some(
            RateControl::Vbr {
                vbv_buffer_size: Some(_),
                ..
            } | RateControl::Cbr {
                vbv_buffer_size: Some(_),
                ..
            }
        )
    );
    if custom_vbv && !caps.custom_vbv {
        return Err(Error::Unsupported(format!(
            "{gpu} does not accept a custom VBV buffer size for {codec}; leave it None"
        )));
    }
    if let Some(l) = cfg.level {
        if caps.level_max != 0 && (l > caps.level_max || l < caps.level_min) {
            return Err(Error::Unsupported(format!(
                "{gpu} supports {codec} levels {}..={} (NV_ENC_LEVEL values), not {l}",
                caps.level_min, caps.level_max
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::codec::Codec;
    use crate::frame::PixelFormat;

    pub(crate) fn l4_like() -> EncoderCaps {
        EncoderCaps {
            max_width: 4096,
            max_height: 4096,
            min_width: 160,
            min_height: 64,
            max_b_frames: 4,
            ten_bit: true,
            lossless: true,
            lookahead: true,
            temporal_aq: true,
            yuv444: true,
            custom_vbv: true,
            dynamic_resolution: true,
            dynamic_bitrate: true,
            dynamic_rc_mode: true,
            dynamic_force_constqp: true,
            level_max: 62,
            level_min: 10,
            engines: 2,
        }
    }

    #[test]
    fn read_queries_each_capability() {
        let mut asked = Vec::new();
        let caps = EncoderCaps::read(|c| {
            asked.push(c.0);
            Ok(match c {
                C::NV_ENC_CAPS_WIDTH_MAX => 8192,
                C::NV_ENC_CAPS_HEIGHT_MAX => 8192,
                C::NV_ENC_CAPS_WIDTH_MIN => 145,
                C::NV_ENC_CAPS_NUM_MAX_BFRAMES => 4,
                C::NV_ENC_CAPS_SUPPORT_10BIT_ENCODE => 1,
                _ => 0,
            })
        })
        .unwrap();
        assert_eq!(
            (caps.max_width, caps.min_width, caps.max_b_frames),
            (8192, 145, 4)
        );
        assert!(caps.ten_bit && !caps.lossless);
        assert_eq!(asked.len(), 18);
        assert!(asked.contains(&C::NV_ENC_CAPS_SUPPORT_DYN_RCMODE_CHANGE.0));
        assert!(asked.contains(&C::NV_ENC_CAPS_SUPPORT_DYN_FORCE_CONSTQP.0));
        let err = EncoderCaps::read(|_| Err(Error::InvalidState("x".into())));
        assert!(err.is_err());
    }

    #[test]
    fn sizes_and_features_are_checked_against_caps() {
        let caps = l4_like();
        let ok = EncoderConfig::new(Codec::H264, 1920, 1080).b_frames(2);
        validate(&ok, &caps, "NVIDIA L4").unwrap();

        let cases: Vec<(EncoderConfig, &str)> = vec![
            (
                EncoderConfig::new(Codec::H264, 8192, 4320),
                "up to 4096x4096",
            ),
            (EncoderConfig::new(Codec::H264, 128, 128), "from 160x64 up"),
            (
                EncoderConfig::new(Codec::H264, 1920, 1080).b_frames(5),
                "at most 4 B-frames",
            ),
            (
                EncoderConfig::new(Codec::H264, 1920, 1080).level(99),
                "levels 10..=62",
            ),
            (
                EncoderConfig::new(Codec::H264, 1920, 1080).max_size(8192, 8192),
                "up to",
            ),
        ];
        for (cfg, needle) in cases {
            let e = validate(&cfg, &caps, "NVIDIA L4").unwrap_err();
            assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
            let m = e.to_string();
            assert!(
                m.contains(needle) && m.contains("NVIDIA L4"),
                "{needle}: {m}"
            );
        }

        let weak = EncoderCaps {
            ten_bit: false,
            lossless: false,
            lookahead: false,
            custom_vbv: false,
            dynamic_resolution: false,
            max_b_frames: 0,
            ..l4_like()
        };
        let hevc = || EncoderConfig::new(Codec::Hevc, 1920, 1080);
        let cases: Vec<(EncoderConfig, &str)> = vec![
            (hevc().format(PixelFormat::P016), "10-bit"),
            (hevc().tuning(Tuning::Lossless), "lossless"),
            (hevc().lookahead(8), "lookahead"),
            (hevc().rate_control(RateControl::EXAMPLES[2]), "VBV"),
            (hevc().max_size(3840, 2160), "resolution"),
            (hevc().b_frames(1), "B-frames"),
        ];
        for (cfg, needle) in cases {
            let e = validate(&cfg, &weak, "GPU").unwrap_err();
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
        // Ultra-low latency forces 0 B-frames, which any GPU allows.
        validate(&hevc().tuning(Tuning::UltraLowLatency), &weak, "GPU").unwrap();
    }
}
