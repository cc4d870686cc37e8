//! [`Profile`]: the codec profile to request.

use nvdx_sys::nvenc as sys;
use sys::GUID;

use crate::codec::Codec;
use crate::encode::guid;

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
    pub(super) fn codec(self) -> Option<Codec> {
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

    pub(super) fn guid(self) -> GUID {
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
