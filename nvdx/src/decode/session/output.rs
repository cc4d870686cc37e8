//! What a decoder hands out: [`DecodedFrame`] (copied into a pool frame) and [`MappedFrame`]
//! (read in place from an NVDEC output surface).

use std::marker::PhantomData;

use nvdx_sys::cuda::CUdeviceptr;
use nvdx_sys::cuvid::CUvideodecoder;

use super::state::Session;
use crate::context::Context;
use crate::decode::DecodeStatus;
use crate::error::{Error, Result};
use crate::frame::{Frame, FrameLayout, FrameMeta, PixelFormat, PooledFrame};
use crate::memory::{copy_2d_raw, copy_2d_to_host};
use crate::stream::{Event, Stream};

/// A decoded picture copied into a pool frame.
#[derive(Debug)]
pub struct DecodedFrame {
    /// The picture; `frame.meta` has its timestamp and display index. The copy into it was
    /// enqueued on the stream given to [`Decoder::next_owned`](super::Decoder::next_owned): order
    /// work after it on that stream, or synchronise it before reading on the host.
    pub frame: PooledFrame,
    /// NVDEC's verdict on the picture.
    pub status: DecodeStatus,
}

/// A decoded picture read in place from NVDEC's output surface; unmapped on drop.
///
/// The mapping was made on the stream given to [`Decoder::map_next`](super::Decoder::map_next);
/// enqueue work that reads it on that stream (or order it before with events) and finish it
/// before the frame drops is not required: the surface is reused only after work enqueued on
/// that stream so far.
pub struct MappedFrame<'a> {
    pub(super) ptr: CUdeviceptr,
    pub(super) layout: FrameLayout,
    pub(super) meta: FrameMeta,
    pub(super) status: DecodeStatus,
    pub(super) decoder: CUvideodecoder,
    pub(super) ctx: &'a Context,
    pub(super) stream: &'a Stream,
    pub(super) done: Option<&'a Event>,
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
    /// Device address of the first (luma) row.
    pub fn device_ptr(&self) -> CUdeviceptr {
        self.ptr
    }
    /// Bytes from one row to the next; chroma starts at `device_ptr() + pitch * height`.
    pub fn pitch(&self) -> usize {
        self.layout.pitch
    }
    /// Geometry of the mapped picture.
    pub fn layout(&self) -> &FrameLayout {
        &self.layout
    }
    /// Pixel format.
    pub fn format(&self) -> PixelFormat {
        self.layout.format
    }
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.layout.width
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.layout.height
    }
    /// Device address of the chroma plane (the U plane for 4:4:4).
    pub fn chroma_ptr(&self) -> CUdeviceptr {
        self.ptr + (self.layout.pitch * self.layout.height as usize) as u64
    }
    /// Timestamp and display index.
    pub fn meta(&self) -> FrameMeta {
        self.meta
    }
    /// NVDEC's verdict on the picture.
    pub fn status(&self) -> DecodeStatus {
        self.status
    }

    /// Enqueues a copy of the picture into `dst` (same format and size) on `stream`.
    pub fn copy_to(&self, dst: &mut Frame, stream: &Stream) -> Result<()> {
        if dst.format() != self.format()
            || dst.width() != self.width()
            || dst.height() != self.height()
        {
            return Err(Error::InvalidArgument(format!(
                "cannot copy a {:?} {}x{} picture into a {:?} {}x{} frame",
                self.format(),
                self.width(),
                self.height(),
                dst.format(),
                dst.width(),
                dst.height()
            )));
        }
        // SAFETY: the mapping covers `rows` rows of `row_bytes` at `pitch` while `self`
        // lives; `dst` has the same geometry.
        unsafe {
            copy_2d_raw(
                dst.device_ptr(),
                dst.pitch(),
                self.ptr,
                self.layout.pitch,
                self.layout.row_bytes(),
                self.layout.rows(),
                stream,
            )
        }?;
        dst.meta = self.meta;
        Ok(())
    }

    /// Waits for the mapping's stream and downloads the picture tightly packed (tests, tools).
    pub fn to_host_vec(&self) -> Result<Vec<u8>> {
        self.stream.synchronize()?;
        let mut v = vec![0u8; self.layout.tight_len()];
        let row = self.layout.row_bytes();
        copy_2d_to_host(
            self.ctx,
            &mut v,
            row,
            self.ptr,
            self.layout.pitch,
            row,
            self.layout.rows(),
        )?;
        Ok(v)
    }
}

impl Drop for MappedFrame<'_> {
    fn drop(&mut self) {
        if self.spilled.is_some() || self.decoder.is_null() {
            return;
        }
        let Ok(_g) = self.ctx.bind() else { return };
        if let Some(e) = self.done {
            let _ = e.record(self.stream);
        }
        if let Ok(api) = nvdx_sys::cuvid() {
            // SAFETY: `ptr` was mapped from this decoder, which the borrow keeps alive, and is
            // unmapped exactly once.
            let _ = unsafe { api.cuvidUnmapVideoFrame64(self.decoder, self.ptr) };
        }
    }
}
