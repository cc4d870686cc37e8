//! The decoder session: parser callbacks, the NVDEC decoder and the display queue.

mod callbacks;
mod decoder;
mod output;
mod state;
mod timing;

#[cfg(test)]
pub(crate) use callbacks::testing;
#[cfg(test)]
pub(crate) use callbacks::{decode_cb, display_cb, sequence_cb};
pub use decoder::Decoder;
pub use output::{DecodedFrame, MappedFrame};
#[cfg(test)]
pub(crate) use state::scan_sps_crop;
pub use state::{DecoderStats, StreamFormat};
pub use timing::{StageTime, StageTimes};
