//! What a decoder hands out: [`DecodedFrame`] (copied into a pool frame) and [`MappedFrame`]
//! (read in place from an NVDEC output surface).

use std::marker::PhantomData;

use nvdx_sys::cuda::CUdeviceptr;
use nvdx_sys::cuvid::CUvideodecoder;

use super::state::Session;
use crate::access::{Access, FrameParts, FrameSealed, MemRef};
use crate::context::Context;
use crate::decode::DecodeStatus;
use crate::frame::{FrameLayout, FrameMeta, FrameView, PooledFrame};
use crate::memory::MemoryKind;
use crate::stream::{Event, Stream};

/// A decoded picture copied into a pool frame.
#[derive(Debug)]
pub struct DecodedFrame {
    /// The picture; `frame.meta` has its timestamp and display index. The copy into it was
    /// enqueued on the stream given to [`Decoder::next_owned`](super::Decoder::next_owned) and is
    /// the frame's tracked last write: nvdx's own users of the frame, on any stream, and host
    /// reads wait for it.
    pub frame: PooledFrame,
    /// NVDEC's verdict on the picture.
    pub status: DecodeStatus,
}

/// A decoded picture read in place from NVDEC's output surface; unmapped on drop.
///
/// It is a [`FrameView`]: pass it to the colour and tensor kernels, to
/// [`Frame::copy_from_async`](crate::Frame::copy_from_async), to transfers and to the encoder like any frame, on any stream of
/// the decoder's GPU. Its work is tracked like a frame's: users wait for the mapping (made on
/// the stream given to [`Decoder::map_next`](super::Decoder::map_next)), and when it drops the surface is handed back
/// only after every use enqueued on any stream: the next mapping waits for them on the GPU,
/// and, for MJPEG, a picture decoded into the same decode surface later waits for them on the
/// host (NVDEC's MJPEG decoding is not ordered after them; by then the work has most often
/// finished).
pub struct MappedFrame<'a> {
    /// The mapped surface (what is unmapped).
    pub(super) ptr: CUdeviceptr,
    /// Bytes from the start of each surface row to the picture (NVDEC's aligned crop).
    pub(super) offset: u64,
    pub(super) layout: FrameLayout,
    pub(super) meta: FrameMeta,
    pub(super) status: DecodeStatus,
    pub(super) decoder: CUvideodecoder,
    pub(super) ctx: &'a Context,
    pub(super) stream: &'a Stream,
    pub(super) done: Option<&'a Event>,
    /// Recorded with `done`: the decode surface's release, which NVDEC waits for (on the host)
    /// before it decodes a picture into the surface again.
    pub(super) released: Option<&'a Event>,
    pub(super) access: &'a Access,
    pub(super) spilled: Option<PooledFrame>,
    pub(super) _session: PhantomData<&'a mut Session>,
}

impl std::fmt::Debug for MappedFrame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFrame")
            .field("layout", &self.layout)
            .field("meta", &self.meta)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl MappedFrame<'_> {
    /// NVDEC's verdict on the picture.
    pub fn status(&self) -> DecodeStatus {
        self.status
    }
}

impl FrameSealed for MappedFrame<'_> {
    fn frame_parts(&self) -> FrameParts<'_> {
        if let Some(f) = &self.spilled {
            let mut parts = f.frame_parts();
            parts.meta = self.meta;
            return parts;
        }
        FrameParts {
            mem: MemRef {
                ptr: self.ptr + self.offset,
                // The picture's extent from its first pixel: rows of `row_bytes` at `pitch`
                // stay inside the mapping (`pitch >= row_bytes + offset`, checked at map).
                len: self.layout.byte_len() - self.offset as usize,
                kind: MemoryKind::Device,
                id: 0,
                ctx: self.ctx,
                access: self.access,
            },
            layout: &self.layout,
            meta: self.meta,
        }
    }
}
impl FrameView for MappedFrame<'_> {}

impl Drop for MappedFrame<'_> {
    fn drop(&mut self) {
        if self.spilled.is_some() || self.decoder.is_null() {
            return;
        }
        let Ok(_g) = self.ctx.bind() else { return };
        // The map stream waits for the uses on other streams, then records `done`, which the
        // next mapping waits for before NVDEC writes the output surface again.
        if self
            .access
            .order_after_uses(self.stream.tracking_ref())
            .is_err()
        {
            let _ = self.access.host_wait_uses();
        }
        for e in [self.done, self.released].into_iter().flatten() {
            if e.record(self.stream).is_err() {
                let _ = self.stream.synchronize();
            }
        }
        // SAFETY: `ptr` was mapped from this decoder, which the borrow keeps alive, and is
        // unmapped exactly once; the uses on other streams are ordered before (above).
        let _ = unsafe { crate::cuvid::unmap_video_frame(self.decoder, self.ptr) };
    }
}
