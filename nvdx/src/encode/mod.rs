//! NVENC encoding of CUDA frames, zero-copy.
//!
//! ```no_run
//! # fn main() -> nvdx::Result<()> {
//! use std::sync::Arc;
//! use nvdx::encode::{Encoder, EncoderConfig, PictureOptions, Preset, Tuning};
//! use nvdx::{Codec, Context, FramePool, MemoryKind, PixelFormat, Stream};
//!
//! let ctx = Context::primary(0)?;
//! let stream = Arc::new(Stream::new(&ctx)?);
//! let cfg = EncoderConfig::new(Codec::H264, 1920, 1080).preset(Preset::P4).tuning(Tuning::LowLatency);
//! // Opens the session first: on a GPU without NVENC this fails here, naming the GPU.
//! let mut enc = Encoder::new(&cfg, Arc::clone(&stream))?;
//! // The encoder holds up to `ring_size()` frames: the pool needs more than that.
//! let pool = FramePool::new(&ctx, PixelFormat::Nv12, 1920, 1080, enc.ring_size() + 1, MemoryKind::Device)?;
//! let mut out = std::fs::File::create("out.h264").map_err(|e| nvdx::Error::Io { path: "out.h264".into(), source: e })?;
//! for i in 0..60 {
//!     let mut frame = pool.acquire()?;
//!     frame.memset_async((i * 4) as u8, &stream)?; // any work on `stream` is ordered before the encode
//!     let done = enc.encode(frame, PictureOptions::default())?;
//!     for p in &done.packets { std::io::Write::write_all(&mut out, &p.data).ok(); }
//!     drop(done.released); // the engine is done with these frames: back to the pool
//! }
//! for p in enc.finish()?.packets { std::io::Write::write_all(&mut out, &p.data).ok(); }
//! # Ok(()) }
//! ```
//!
//! # The session
//!
//! [`Encoder::new`] opens an NVENC session on the CUDA context of the given stream
//! (`NV_ENC_DEVICE_TYPE_CUDA`) with the API version [`version::session_api_version`] chooses,
//! checks the codec and the configuration against the GPU's capabilities, applies the
//! configuration on top of the driver's preset (`nvEncGetEncodePresetConfigEx`), initialises the
//! encoder, creates a ring of bitstream buffers sized to the reordering delay and points NVENC at
//! the stream (`nvEncSetIOCudaStreams`), so work the caller enqueued on that stream before an
//! encode call (colour conversion, a copy) is ordered before the engine reads the frame, with no
//! host synchronisation in between.
//!
//! GPUs without an NVENC engine (A100, H100, H200) fail in `Encoder::new` with an
//! [`Error::Nvenc`] that names the GPU; [`is_no_encoder`] recognises it.
//!
//! # Frame ownership
//!
//! [`Encoder::encode`] takes the frame ([`InputFrame`]: an owned [`Frame`] or a
//! [`PooledFrame`]) and holds it until the engine has consumed it. With B-frames that is
//! several calls later; the frame then comes back in [`EncodeOutput::released`], to reuse or
//! drop (a pooled frame goes back to its pool). The encoder holds at most
//! [`Encoder::ring_size`] frames, so a pool that feeds it needs more frames than that.
//!
//! NVENC must never keep a registration of freed memory, so a caller's frame is registered
//! while the encoder holds it and unregistered when it comes back in
//! [`EncodeOutput::released`] (or when the encoder drops): the caller may then free or reuse
//! it at once, in any drop order. Registrations are identified by the allocation
//! ([`crate::AsDevicePtr::allocation_id`], never reused), not by address.
//! [`Encoder::encode_copy`] is the alternative that leaves the caller's buffer free at once: it
//! enqueues a device-to-device copy into one of the encoder's own frames (at most
//! `ring_size()` of them, registered once for their whole life and unregistered before they are
//! freed) and encodes that.
//!
//! # Pipelining
//!
//! Like NVIDIA's NvEncoder, a call locks only pictures older than a small output delay (3
//! pictures, none with [`EncoderConfig::zero_latency`]), so the engine encodes the newest
//! pictures while the caller prepares the next one; [`Encoder::finish`] returns the rest.
//! A picture is locked only once the engine has its output: after a call that answered
//! `NV_ENC_SUCCESS` (B-frames wait for their anchor), and, with lookahead, once it has left the
//! engine's lookahead queue (a SUCCESS leaves the newest `lookaheadDepth` pictures without
//! output).
//!
//! # Output
//!
//! H.264 and HEVC packets are Annex B (start codes); AV1 packets are low-overhead OBUs (the
//! format of IVF/MP4/WebM). Packets come in decode order with `pts` (the input's), `dts` (pts of
//! the pictures in input order, shifted back by the B-frame delay, so `dts <= pts`; for AV1,
//! whose packets are not reordered, `dts = pts`), the keyframe flag and the picture type.
//!
//! # Testing without an encoder
//!
//! GPUs without NVENC (H100, H200) can run the whole encode path against the workspace's
//! `nvenc-double` crate, a contract-checking stand-in loaded with
//! `NVDX_LIBNVIDIA_ENCODE_PATH=.../libnvenc_double.so`; [`Encoder::engine_name`] then says
//! `NVENC double (test stand-in)`.

pub mod caps;
pub mod config;
mod guid;
mod registry;
pub mod status;
pub mod version;

use crate::error::Error;
#[cfg(doc)]
use crate::frame::{Frame, PooledFrame};

fn missing(symbol: &'static str) -> Error {
    Error::MissingSymbol(nvdx_sys::MissingSymbol {
        library: "libnvidia-encode",
        symbol,
    })
}

/// Calls a function of the NVENC function list, or fails with [`Error::MissingSymbol`].
macro_rules! nvcall {
    ($fns:expr, $name:ident ( $($arg:expr),* $(,)? )) => {{
        match $fns.$name {
            Some(f) => f($($arg),*),
            None => return Err(missing(stringify!($name))),
        }
    }};
}

// After the macro, so that its textual scope covers these modules.
mod encoder;
mod input;
mod output;
mod pipeline;
mod session;

pub use caps::{validate, EncoderCaps};
pub use config::{
    buffer_format, ColourDescription, ColourMatrix, EncoderConfig, Preset, Profile, RateControl,
    Tuning,
};
pub use encoder::Encoder;
pub use input::{InputFrame, PictureOptions, Reconfigure};
pub use output::{EncodeOutput, EncodedPacket, FrameType};
pub use status::{is_no_encoder, status_name};
pub use version::ApiVersion;
