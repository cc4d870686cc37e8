//! What the encoder produces: [`EncodedPacket`]s, their [`FrameType`], and the
//! [`EncodeOutput`] of one call.

use nvdx_sys::nvenc as sys;

use super::InputFrame;

/// Picture type of an encoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// IDR (AV1: key frame).
    Idr,
    /// Intra, not IDR.
    I,
    /// Predicted.
    P,
    /// Bi-predicted.
    B,
    /// Another NVENC picture type (`NV_ENC_PIC_TYPE` value).
    Other(u32),
}

impl FrameType {
    pub(super) fn from_raw(t: sys::NV_ENC_PIC_TYPE) -> FrameType {
        use sys::_NV_ENC_PIC_TYPE as T;
        match t {
            T::NV_ENC_PIC_TYPE_IDR => FrameType::Idr,
            T::NV_ENC_PIC_TYPE_I => FrameType::I,
            T::NV_ENC_PIC_TYPE_P | T::NV_ENC_PIC_TYPE_NONREF_P => FrameType::P,
            T::NV_ENC_PIC_TYPE_B => FrameType::B,
            other => FrameType::Other(other.0),
        }
    }
}

/// One encoded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPacket {
    /// The bitstream: Annex B for H.264/HEVC, OBUs for AV1.
    pub data: Vec<u8>,
    /// Presentation timestamp: the input frame's `meta.pts` (or its index when the frame had
    /// no timescale).
    pub pts: i64,
    /// Decode timestamp (`<= pts`).
    pub dts: i64,
    /// Whether the picture is an IDR / key frame.
    pub keyframe: bool,
    /// Picture type.
    pub frame_type: FrameType,
}

/// What an encode call produced.
#[derive(Debug, Default)]
pub struct EncodeOutput {
    /// Packets completed by this call, in decode order (none while B-frames wait for their
    /// reference).
    pub packets: Vec<EncodedPacket>,
    /// Caller frames the engine has finished reading, oldest first.
    pub released: Vec<InputFrame>,
}
