//! # nvdx: zero-copy GPU video on NVIDIA hardware
//!
//! NVDEC decoding, NVENC encoding, colour-conversion kernels and peer-to-peer frame transfer,
//! on the CUDA driver API, with no GStreamer and no ffmpeg. The driver libraries are loaded at
//! run time (see [`nvdx_sys`]), so a binary using nvdx starts on machines without a GPU and
//! reports a clear [`Error`] there.
//!
//! The layers, bottom up:
//! - [`device`], [`context`], [`stream`], [`memory`]: thin checked wrappers over the driver API;
//! - [`frame`]: pitched NV12/P016/RGB/planar frames in one allocation, and [`frame::FramePool`];
//! - [`kernels`]: PTX modules embedded in the crate, colour conversion and tensor kernels;
//! - [`demux`], [`decode`]: containers and elementary streams in, GPU frames out;
//! - [`encode`]: CUDA frames into NVENC;
//! - [`xfer`]: moving frames between GPUs.
//!
//! ```no_run
//! # fn main() -> Result<(), nvdx::Error> {
//! let ctx = nvdx::Context::primary(0)?;
//! let stream = nvdx::Stream::new(&ctx)?;
//! let mut frame = nvdx::Frame::new(&ctx, nvdx::PixelFormat::Nv12, 1920, 1080, nvdx::MemoryKind::Device)?;
//! frame.memset_async(0x80, &stream)?;
//! stream.synchronize()?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod access;
pub mod codec;
pub mod colour;
pub mod context;
mod cu;
#[cfg(feature = "cudarc")]
pub mod cudarc;
mod cuvid;
pub mod decode;
pub mod demux;
pub mod device;
pub mod dlpack;
pub mod encode;
pub mod error;
pub mod frame;
pub mod kernels;
pub mod memory;
pub mod sample;
pub mod stream;
#[cfg(test)]
mod testdata;
pub mod xfer;

pub use codec::Codec;
pub use context::{Context, ContextGuard, PrimaryContextFlags, PrimaryContextState};
pub use device::Device;
pub use error::{Error, Result};
pub use frame::{
    Frame, FrameLayout, FrameMeta, FramePool, FrameView, PixelFormat, PooledFrame, StreamUse,
};
pub use memory::{AsDevicePtr, DeviceBuffer, HostBuffer, ManagedBuffer, MemoryKind};
pub use sample::VideoReader;
pub use stream::{Event, Stream};

/// The README's code examples, compiled as doctests so they cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
