//! What the encoder takes: [`InputFrame`], per-picture [`PictureOptions`] and the
//! [`Reconfigure`] changes of a running session.

use super::RateControl;
#[cfg(doc)]
use super::{EncodeOutput, Encoder, EncoderConfig};
#[cfg(doc)]
use crate::frame::FramePool;
use crate::frame::{Frame, PooledFrame};

/// A frame handed to the encoder: owned, or on loan from a [`FramePool`].
#[derive(Debug)]
pub enum InputFrame {
    /// A frame the caller owns; it comes back in [`EncodeOutput::released`].
    Owned(Frame),
    /// A pool frame; it comes back in [`EncodeOutput::released`] and returns to its pool
    /// when dropped.
    Pooled(PooledFrame),
}

impl InputFrame {
    /// The frame.
    pub fn frame(&self) -> &Frame {
        match self {
            InputFrame::Owned(f) => f,
            InputFrame::Pooled(f) => f,
        }
    }
}

impl From<Frame> for InputFrame {
    fn from(f: Frame) -> Self {
        InputFrame::Owned(f)
    }
}

impl From<PooledFrame> for InputFrame {
    fn from(f: PooledFrame) -> Self {
        InputFrame::Pooled(f)
    }
}

/// Per-picture options of [`Encoder::encode`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PictureOptions {
    /// Encode this picture as an IDR (key) picture.
    pub force_idr: bool,
    /// Write SPS/PPS (VPS, AV1 sequence header) in front of this picture.
    pub output_headers: bool,
}

impl PictureOptions {
    /// A forced IDR picture with headers in front: a clean join point for a receiver.
    pub fn keyframe() -> Self {
        PictureOptions {
            force_idr: true,
            output_headers: true,
        }
    }
}

/// A change for [`Encoder::reconfigure`]; `None` keeps the current value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconfigure {
    /// New rate control (bitrate, VBV).
    pub rate_control: Option<RateControl>,
    /// New frame rate `(num, den)`.
    pub frame_rate: Option<(u32, u32)>,
    /// New size (at most the configured [`EncoderConfig::max_size`]); starts a new IDR.
    pub size: Option<(u32, u32)>,
    /// Start a new IDR picture with the change.
    pub force_idr: bool,
}
