//! The NVENC double: a contract-checking stand-in for `libnvidia-encode.so.1`, for tests on
//! GPUs without an encode engine (H100, H200). **Test infrastructure, not an encoder.**
//!
//! Point `NVDX_LIBNVIDIA_ENCODE_PATH` at the built `libnvenc_double.so` and nvdx loads it
//! instead of NVIDIA's library. It exports `NvEncodeAPIGetMaxSupportedVersion` and
//! `NvEncodeAPICreateInstance`, fills the function list, and runs on the real CUDA driver
//! (opened through nvdx-sys's loader, so no CUDA toolkit is needed to build it):
//!
//! - it checks the documented contract and fails loudly: every violation prints a line
//!   starting `NVENC DOUBLE CONTRACT VIOLATION:` to stderr, counts it
//!   ([`nvenc_double_violations`]) and returns an error status;
//! - it reads each input on the stream set with `nvEncSetIOCudaStreams` (`cuMemcpy2DAsync` on
//!   that stream, then a sync), so a missing stream dependency shows up as wrong pixels;
//! - it emits lossless H.264: baseline SPS/PPS and I_PCM pictures ([`h264`]), reordered as
//!   NVENC reorders B-frames ([`gop`]), so NVDEC decodes the output bit-exactly.
//!
//! Only H.264 and NV12 are supported; anything else answers `NV_ENC_ERR_UNSUPPORTED_PARAM`
//! with a message. The session's last-error string starts as [`ENGINE_NAME`], which nvdx
//! reports as the encode engine's name.

pub mod api;
pub mod gop;
pub mod h264;

/// What the double calls itself wherever a name is reported.
pub const ENGINE_NAME: &str = "NVENC double (test stand-in)";
pub use api::{nvenc_double_fail_next, nvenc_double_live_sessions, nvenc_double_violations};
