//! NVENC API and structure versions.
//!
//! `nvEncodeAPI.h` encodes versions with function-like macros that bindgen cannot emit; they are
//! re-implemented here from the SDK 12.1 header, bit for bit:
//!
//! ```text
//! NVENCAPI_VERSION            = MAJOR | (MINOR << 24)
//! NVENCAPI_STRUCT_VERSION(v)  = NVENCAPI_VERSION | (v << 16) | (0x7 << 28)
//! ```
//!
//! Some structures additionally set bit 31 (the header writes `| (1 << 31)`).
//!
//! # Which API version a session asks for
//!
//! The bindings describe API 12.1; the driver reports the newest version it implements through
//! `NvEncodeAPIGetMaxSupportedVersion` (as `(major << 4) | minor`, e.g. 13.0 = 208). NVENC is
//! backward compatible: a newer driver serves clients built against an older header, so nvdx
//! asks for the minimum of the two. Because every structure nvdx passes has the 12.1 layout and
//! carries the 12.1 version in its `version` field, that minimum must still be 12.1: a driver
//! older than 12.1 cannot read them, and [`negotiate`] reports "driver too old" instead of letting
//! the driver fail later with `NV_ENC_ERR_INVALID_VERSION`.

use std::fmt;

use nvdx_sys::nvenc as sys;

use crate::error::{Error, Result};

/// `NVENCAPI_VERSION` of the bindings: `MAJOR | (MINOR << 24)`.
pub const NVENCAPI_VERSION: u32 = sys::NVENCAPI_MAJOR_VERSION | (sys::NVENCAPI_MINOR_VERSION << 24);

/// `NVENCAPI_STRUCT_VERSION(ver)`.
pub const fn struct_version(ver: u32) -> u32 {
    NVENCAPI_VERSION | (ver << 16) | (0x7 << 28)
}

/// `NVENCAPI_STRUCT_VERSION(ver) | (1 << 31)`, for the structures the header marks so.
pub const fn struct_version_ext(ver: u32) -> u32 {
    struct_version(ver) | (1u32 << 31)
}

/// `NV_ENC_CAPS_PARAM_VER`.
pub const NV_ENC_CAPS_PARAM_VER: u32 = struct_version(1);
/// `NV_ENC_CREATE_BITSTREAM_BUFFER_VER`.
pub const NV_ENC_CREATE_BITSTREAM_BUFFER_VER: u32 = struct_version(1);
/// `NV_ENC_RC_PARAMS_VER`.
pub const NV_ENC_RC_PARAMS_VER: u32 = struct_version(1);
/// `NV_ENC_CONFIG_VER`.
pub const NV_ENC_CONFIG_VER: u32 = struct_version_ext(8);
/// `NV_ENC_INITIALIZE_PARAMS_VER`.
pub const NV_ENC_INITIALIZE_PARAMS_VER: u32 = struct_version_ext(6);
/// `NV_ENC_RECONFIGURE_PARAMS_VER`.
pub const NV_ENC_RECONFIGURE_PARAMS_VER: u32 = struct_version_ext(1);
/// `NV_ENC_PRESET_CONFIG_VER`.
pub const NV_ENC_PRESET_CONFIG_VER: u32 = struct_version_ext(4);
/// `NV_ENC_PIC_PARAMS_VER`.
pub const NV_ENC_PIC_PARAMS_VER: u32 = struct_version_ext(6);
/// `NV_ENC_LOCK_BITSTREAM_VER`.
pub const NV_ENC_LOCK_BITSTREAM_VER: u32 = struct_version_ext(1);
/// `NV_ENC_MAP_INPUT_RESOURCE_VER`.
pub const NV_ENC_MAP_INPUT_RESOURCE_VER: u32 = struct_version(4);
/// `NV_ENC_REGISTER_RESOURCE_VER`.
pub const NV_ENC_REGISTER_RESOURCE_VER: u32 = struct_version(4);
/// `NV_ENC_SEQUENCE_PARAM_PAYLOAD_VER`.
pub const NV_ENC_SEQUENCE_PARAM_PAYLOAD_VER: u32 = struct_version(1);
/// `NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS_VER`.
pub const NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS_VER: u32 = struct_version(1);
/// `NV_ENCODE_API_FUNCTION_LIST_VER`.
pub const NV_ENCODE_API_FUNCTION_LIST_VER: u32 = struct_version(2);

/// An NVENC API version, e.g. 12.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl ApiVersion {
    /// The version of the header the bindings were generated from (12.1).
    pub const BINDINGS: ApiVersion = ApiVersion {
        major: sys::NVENCAPI_MAJOR_VERSION,
        minor: sys::NVENCAPI_MINOR_VERSION,
    };

    /// Decodes `NvEncodeAPIGetMaxSupportedVersion`'s `(major << 4) | minor`.
    pub const fn from_driver(encoded: u32) -> ApiVersion {
        ApiVersion {
            major: encoded >> 4,
            minor: encoded & 0xf,
        }
    }

    /// The `apiVersion` field value of `NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS`:
    /// `major | (minor << 24)`.
    pub const fn to_api_field(self) -> u32 {
        self.major | (self.minor << 24)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Chooses the API version for a session from what the driver reports: the minimum of the
/// driver's and the bindings' versions, which must not be older than the bindings (see the
/// module docs). Pure; [`driver_api_version`] supplies the driver's side.
pub fn negotiate(driver: ApiVersion) -> Result<ApiVersion> {
    let chosen = driver.min(ApiVersion::BINDINGS);
    if chosen < ApiVersion::BINDINGS {
        return Err(Error::Unsupported(format!(
            "the NVIDIA driver implements NVENC API {driver}, but nvdx is built against API {} \
             (Video Codec SDK 12.1, which needs driver 530.41 or newer on Linux, 531.61 on \
             Windows); update the NVIDIA driver",
            ApiVersion::BINDINGS
        )));
    }
    Ok(chosen)
}

/// The newest NVENC API version the installed driver implements.
pub fn driver_api_version() -> Result<ApiVersion> {
    let api = nvdx_sys::nvenc()?;
    let mut v: u32 = 0;
    // SAFETY: `v` is a valid out-parameter for the duration of the call.
    let status = unsafe { api.NvEncodeAPIGetMaxSupportedVersion(&mut v) }?;
    if status != sys::_NVENCSTATUS::NV_ENC_SUCCESS {
        return Err(super::status::nvenc_error(
            "NvEncodeAPIGetMaxSupportedVersion",
            status,
            String::new(),
        ));
    }
    Ok(ApiVersion::from_driver(v))
}

/// The API version a session opened now would use: [`negotiate`] applied to
/// [`driver_api_version`].
pub fn session_api_version() -> Result<ApiVersion> {
    negotiate(driver_api_version()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_version_matches_the_header() {
        // NVENCAPI_VERSION = 12 | (1 << 24); bindgen evaluated the same macro.
        assert_eq!(NVENCAPI_VERSION, 12 | (1 << 24));
        assert_eq!(NVENCAPI_VERSION, sys::NVENCAPI_VERSION);
        assert_eq!(NVENCAPI_VERSION, 0x0100_000c);
    }

    #[test]
    fn struct_versions_match_the_header_arithmetic() {
        let base = 0x0100_000cu32 | (0x7 << 28);
        assert_eq!(struct_version(1), base | (1 << 16));
        assert_eq!(struct_version(1), 0x7101_000c);
        assert_eq!(NV_ENC_CAPS_PARAM_VER, 0x7101_000c);
        assert_eq!(NV_ENC_CREATE_BITSTREAM_BUFFER_VER, 0x7101_000c);
        assert_eq!(NV_ENC_SEQUENCE_PARAM_PAYLOAD_VER, 0x7101_000c);
        assert_eq!(NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS_VER, 0x7101_000c);
        assert_eq!(NV_ENC_RC_PARAMS_VER, 0x7101_000c);
        assert_eq!(NV_ENCODE_API_FUNCTION_LIST_VER, 0x7102_000c);
        assert_eq!(NV_ENC_MAP_INPUT_RESOURCE_VER, 0x7104_000c);
        assert_eq!(NV_ENC_REGISTER_RESOURCE_VER, 0x7104_000c);
        assert_eq!(NV_ENC_CONFIG_VER, 0xf108_000c);
        assert_eq!(NV_ENC_INITIALIZE_PARAMS_VER, 0xf106_000c);
        assert_eq!(NV_ENC_RECONFIGURE_PARAMS_VER, 0xf101_000c);
        assert_eq!(NV_ENC_PRESET_CONFIG_VER, 0xf104_000c);
        assert_eq!(NV_ENC_PIC_PARAMS_VER, 0xf106_000c);
        assert_eq!(NV_ENC_LOCK_BITSTREAM_VER, 0xf101_000c);
    }

    #[test]
    fn driver_version_decoding() {
        assert_eq!(
            ApiVersion::from_driver(208),
            ApiVersion {
                major: 13,
                minor: 0
            }
        );
        assert_eq!(ApiVersion::from_driver((12 << 4) | 1), ApiVersion::BINDINGS);
        assert_eq!(ApiVersion::BINDINGS.to_api_field(), NVENCAPI_VERSION);
        assert_eq!(ApiVersion::from_driver(208).to_string(), "13.0");
    }

    #[test]
    fn negotiation_takes_the_minimum_and_rejects_old_drivers() {
        assert_eq!(
            negotiate(ApiVersion::from_driver(208)).unwrap(),
            ApiVersion::BINDINGS
        );
        assert_eq!(
            negotiate(ApiVersion::from_driver((12 << 4) | 2)).unwrap(),
            ApiVersion::BINDINGS
        );
        assert_eq!(
            negotiate(ApiVersion::BINDINGS).unwrap(),
            ApiVersion::BINDINGS
        );
        let e = negotiate(ApiVersion::from_driver(12 << 4)).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
        assert!(
            msg.contains("12.0") && msg.contains("12.1") && msg.contains("update"),
            "{msg}"
        );
        assert!(negotiate(ApiVersion::from_driver((11 << 4) | 1)).is_err());
    }
}
