//! The NVENC double: a contract-checking stand-in for `libnvidia-encode.so.1`, for tests on
//! GPUs without an encode engine. See the crate's README.

pub mod gop;
pub mod h264;
