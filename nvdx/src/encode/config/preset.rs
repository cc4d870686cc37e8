//! [`Preset`] and [`Tuning`]: which of NVENC's preset configurations a session starts from.

use nvdx_sys::nvenc as sys;
use sys::{GUID, NV_ENC_TUNING_INFO};

use crate::encode::guid;

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
