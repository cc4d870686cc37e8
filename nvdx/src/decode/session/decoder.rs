//! [`Decoder`]: the public session type that owns the parser and the session state.

use std::ffi::c_ulong;
use std::marker::PhantomData;
use std::ptr::NonNull;

use nvdx_sys::cuda::CUdeviceptr;
use nvdx_sys::cuvid::{
    CUvideopacketflags, CUvideoparser, CUVIDPARSERPARAMS, CUVIDSOURCEDATAPACKET,
};

use super::callbacks::{decode_cb, display_cb, operating_point_cb, sei_cb, sequence_cb};
use super::output::{DecodedFrame, MappedFrame};
use super::state::{DecoderStats, Session, StreamFormat};
use super::timing::Timer;
use crate::access::Access;
use crate::codec::{ChromaFormat, Codec};
use crate::context::Context;
use crate::cuvid;
use crate::decode::{
    capabilities, cuda_codec, DecodeStatus, DecoderConfig, Pending, PendingQueue, PendingSource,
    Rect,
};
use crate::error::{Error, Result};
use crate::frame::{FrameLayout, FrameMeta, FrameView};
use crate::stream::{Event, Stream};

/// One NVDEC session: a parser and a decoder for one stream at a time.
///
/// `Send` but not `Sync`: use it from one thread at a time; many sessions may run in parallel
/// on one context (each has its own context lock).
///
/// ```no_run
/// # fn main() -> nvdx::Result<()> {
/// use nvdx::{decode::{Decoder, DecoderConfig}, Codec, Context, Stream};
/// let ctx = Context::primary(0)?;
/// let stream = Stream::new(&ctx)?;
/// let mut dec = Decoder::new(&ctx, Codec::H264, DecoderConfig::default())?;
/// let annexb = std::fs::read("fixtures/h264.264").map_err(|e| nvdx::Error::Io { path: "h264.264".into(), source: e })?;
/// dec.push(&annexb, None)?;
/// dec.flush()?;
/// while let Some(f) = dec.next_owned(&stream)? {
///     println!("{} {:?}", f.frame.meta.index.unwrap_or(0), f.status);
/// }
/// # Ok(()) }
/// ```
pub struct Decoder {
    state: NonNull<Session>,
    parser: CUvideoparser,
    discontinuity: bool,
}

// SAFETY: the session's handles (parser, decoder, context lock) may be used from any thread
// with the context bound; the Decoder is used by one thread at a time (&mut self everywhere
// the state changes), and callbacks run synchronously inside those calls.
unsafe impl Send for Decoder {}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state();
        f.debug_struct("Decoder")
            .field("codec", &s.codec)
            .field("format", &self.stream_format())
            .field("pending", &s.queue.len())
            .field("error", &s.error_message)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// Creates a session for `codec` on `ctx`. Checks first that NVDEC on this GPU decodes the
    /// codec at all: AV1 on Hopper, for example, is [`Error::Unsupported`] naming codec and GPU.
    /// The decoder itself is created when the first sequence header arrives.
    pub fn new(ctx: &Context, codec: Codec, config: DecoderConfig) -> Result<Decoder> {
        config.validate()?;
        let c8 = capabilities(ctx, codec, ChromaFormat::Yuv420, 8)?;
        if !c8.supported {
            let c10 = capabilities(ctx, codec, ChromaFormat::Yuv420, 10)?;
            if !c10.supported {
                return Err(Error::Unsupported(format!(
                    "{codec} decoding is not supported by NVDEC on {} (cuvidGetDecoderCaps reports \
                     no 4:2:0 8- or 10-bit support)",
                    c8.gpu
                )));
            }
        }
        // The context is retained by `ctx` for the session's life (the session holds a clone).
        let lock = cuvid::ctx_lock_create(ctx.raw())?;
        let session = Box::new(Session {
            ctx: ctx.clone(),
            codec,
            sps_crop: None,
            config,
            lock,
            decoder: std::ptr::null_mut(),
            active: None,
            caps: vec![c8],
            // Two entries a picture with Bob deinterlacing.
            queue: PendingQueue::with_capacity(64),
            error: None,
            error_message: None,
            stats: DecoderStats::default(),
            own_stream: None,
            done: None,
            done_owed: None,
            legacy_map: None,
            last_stream: 0,
            mapped_access: Access::new(),
            surface_uses: Vec::with_capacity(32),
            out_pool: None,
            spill_pools: Vec::new(),
            frame_rate: None,
            last_display: None,
        });
        let state = NonNull::from(Box::leak(session));
        let mut d = Decoder {
            state,
            parser: std::ptr::null_mut(),
            discontinuity: false,
        };
        d.parser = d.create_parser()?;
        Ok(d)
    }

    fn state(&self) -> &Session {
        // SAFETY: `state` came from Box::leak and lives until Drop; no callback runs while
        // `&self` is borrowed (callbacks only run inside `&mut self` methods).
        unsafe { self.state.as_ref() }
    }

    fn state_mut(&mut self) -> &mut Session {
        // SAFETY: as above; `&mut self` makes this the only reference.
        unsafe { self.state.as_mut() }
    }

    fn create_parser(&mut self) -> Result<CUvideoparser> {
        let (codec, delay) = {
            let s = self.state();
            let delay = if s.config.low_latency {
                0
            } else {
                s.config.display_delay
            };
            (s.codec, delay)
        };
        let mut p = CUVIDPARSERPARAMS {
            CodecType: cuda_codec(codec),
            ulMaxNumDecodeSurfaces: 1,
            ulClockRate: 0,
            ulErrorThreshold: 100,
            ulMaxDisplayDelay: delay,
            pUserData: self.state.as_ptr().cast(),
            pfnSequenceCallback: Some(sequence_cb::<Session>),
            pfnDecodePicture: Some(decode_cb::<Session>),
            pfnDisplayPicture: Some(display_cb::<Session>),
            pfnGetOperatingPoint: Some(operating_point_cb::<Session>),
            pfnGetSEIMsg: Some(sei_cb::<Session>),
            ..Default::default()
        };
        // SAFETY: `p` is fully initialised; pUserData points to the leaked session that
        // outlives the parser (destroyed first in Drop/reset).
        unsafe { cuvid::create_video_parser(&mut p) }
    }

    fn destroy_parser(&mut self) {
        if self.parser.is_null() {
            return;
        }
        if nvdx_sys::cuvid().is_ok() {
            let ctx = self.state().ctx.clone();
            let _g = ctx.bind();
            // SAFETY: the parser is live, owned by this session and destroyed once.
            let _ = unsafe { cuvid::destroy_video_parser(self.parser) };
        }
        self.parser = std::ptr::null_mut();
    }

    fn take_error(&mut self) -> Option<Error> {
        let s = self.state_mut();
        let msg = s.error_message.clone()?;
        Some(
            s.error
                .take()
                .unwrap_or_else(|| Error::Decode(format!("{msg} (call reset() to continue)"))),
        )
    }

    fn parse(&mut self, data: &[u8], flags: u32, pts: i64) -> Result<()> {
        if let Some(e) = self.take_error() {
            return Err(e);
        }
        if self.parser.is_null() {
            return Err(Error::InvalidState(
                "decoder has no parser; call reset()".into(),
            ));
        }
        let mut pkt = CUVIDSOURCEDATAPACKET {
            flags: c_ulong::from(flags),
            payload_size: data.len() as c_ulong,
            payload: if data.is_empty() {
                std::ptr::null()
            } else {
                data.as_ptr()
            },
            timestamp: pts,
        };
        let g = self.state_mut().bind()?;
        let t = Timer::start(self.state().config.stage_timing);
        // SAFETY: the parser is live; `pkt` points to `data`, valid for the call; the callbacks
        // reach the session through the raw pointer while no reference to it is held here.
        let r = unsafe { cuvid::parse_video_data(self.parser, &mut pkt) };
        let s = self.state_mut();
        t.stop(&mut s.timing().parse);
        s.unbind(g);
        if let Some(e) = self.take_error() {
            return Err(e);
        }
        r
    }

    /// Feeds compressed data: a packet (one picture) or any chunk of an elementary stream.
    /// `pts` is carried to the frame displayed from it. Take the decoded frames
    /// ([`Decoder::next_owned`] / [`Decoder::map_next`]) after each push.
    ///
    /// After a failure in a parser callback (unsupported stream, decode error) this and every
    /// later push return the error until [`Decoder::reset`].
    pub fn push(&mut self, data: &[u8], pts: Option<i64>) -> Result<()> {
        let t = Timer::start(self.state().config.stage_timing);
        let r = self.push_timed(data, pts);
        t.stop(&mut self.state_mut().timing().api);
        r
    }

    fn push_timed(&mut self, data: &[u8], pts: Option<i64>) -> Result<()> {
        let mut flags = 0;
        if pts.is_some() {
            flags |= CUvideopacketflags::CUVID_PKT_TIMESTAMP.0;
        }
        if self.discontinuity {
            flags |= CUvideopacketflags::CUVID_PKT_DISCONTINUITY.0;
        }
        if self.state().config.low_latency {
            flags |= CUvideopacketflags::CUVID_PKT_ENDOFPICTURE.0;
        }
        if data.is_empty() {
            return Ok(());
        }
        // Left/top cropping, which the parser does not report (see `Session::sequence`).
        let codec = self.state().codec;
        if let Some(c) = super::state::scan_sps_crop(codec, data) {
            self.state_mut().sps_crop = Some(c);
        }
        self.parse(data, flags, pts.unwrap_or(0))?;
        self.discontinuity = false;
        Ok(())
    }

    /// End of stream: the parser decodes and displays every picture it still holds.
    pub fn flush(&mut self) -> Result<()> {
        let t = Timer::start(self.state().config.stage_timing);
        let r = self.parse(&[], CUvideopacketflags::CUVID_PKT_ENDOFSTREAM.0, 0);
        t.stop(&mut self.state_mut().timing().api);
        r
    }

    /// Drops every queued picture and the parser state, clears a stored error and marks the
    /// next packet as a discontinuity: what a seek needs, and how a session recovers from
    /// corrupt input. The NVDEC decoder is kept when the next stream has the same format.
    pub fn reset(&mut self) -> Result<()> {
        self.destroy_parser();
        {
            let s = self.state_mut();
            s.queue.clear();
            s.last_display = None;
            s.error = None;
            s.error_message = None;
        }
        self.parser = self.create_parser()?;
        self.discontinuity = true;
        Ok(())
    }

    /// Number of decoded pictures waiting to be taken.
    pub fn pending(&self) -> usize {
        self.state().queue.len()
    }

    /// Timestamp and index of the next picture, if any.
    pub fn peek_meta(&self) -> Option<FrameMeta> {
        self.state().queue.front().map(|p| p.meta)
    }

    /// Drops the next picture without copying it; returns its metadata.
    pub fn skip_next(&mut self) -> Option<FrameMeta> {
        self.state_mut().queue.pop_front().map(|p| p.meta)
    }

    /// The current stream's geometry, once a sequence header was seen.
    pub fn stream_format(&self) -> Option<StreamFormat> {
        self.state().active.map(|a| StreamFormat {
            coded_width: a.coded_width,
            coded_height: a.coded_height,
            chroma: a.chroma,
            bit_depth: a.bit_depth,
            output_format: a.format,
            display_area: Rect {
                left: a.display.left + a.x_shift,
                ..a.display
            },
            width: a.target.0 - a.x_shift,
            height: a.target.1,
            progressive: a.progressive,
            decode_surfaces: a.surfaces,
            min_decode_surfaces: a.min_surfaces,
        })
    }

    /// Counters.
    pub fn stats(&self) -> DecoderStats {
        self.state().stats
    }

    /// The stored error of a failed callback, if any (cleared by [`Decoder::reset`]).
    pub fn error(&self) -> Option<&str> {
        self.state().error_message.as_deref()
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.state().codec
    }

    /// The context the session runs on.
    pub fn context(&self) -> &Context {
        &self.state().ctx
    }

    /// Sets the timescale stamped on frames from now on (see [`DecoderConfig::timescale`]).
    pub fn set_timescale(&mut self, timescale: u32) {
        self.state_mut().config.timescale = timescale;
    }

    /// Takes the next picture as a frame of the session's pool (allocated for the current
    /// format and size, [`DecoderConfig::pool_size`] frames): one async 2D copy on `stream`.
    /// Waits up to [`DecoderConfig::pool_timeout`] for a free frame.
    pub fn next_owned(&mut self, stream: &Stream) -> Result<Option<DecodedFrame>> {
        let t = Timer::start(self.state().config.stage_timing);
        let s = self.state_mut();
        let r = s.next_owned(stream);
        t.stop(&mut s.timing().api);
        r
    }

    /// Maps the next picture in place (zero-copy) on `stream`; it is unmapped when the
    /// returned frame drops. Pictures that had to be copied out early come back the same
    /// way, pointing into their copy.
    pub fn map_next<'a>(&'a mut self, stream: &'a Stream) -> Result<Option<MappedFrame<'a>>> {
        let t = Timer::start(self.state().config.stage_timing);
        // SAFETY: `&'a mut self` makes this the only reference to the session for 'a.
        let s: &'a mut Session = unsafe { self.state.as_mut() };
        check_stream(&s.ctx, stream)?;
        let Some(p) = s.queue.pop_front() else {
            return Ok(None);
        };
        match p.source {
            PendingSource::Spilled { frame, status } => {
                let layout = *frame.layout();
                t.stop(&mut s.timing().api);
                Ok(Some(MappedFrame {
                    ptr: frame.device_ptr(),
                    offset: 0,
                    layout,
                    meta: p.meta,
                    status,
                    decoder: std::ptr::null_mut(),
                    ctx: &s.ctx,
                    stream,
                    done: None,
                    released: None,
                    access: &s.mapped_access,
                    spilled: Some(frame),
                    _session: PhantomData,
                }))
            }
            PendingSource::Surface { index } => {
                let g = s.bind()?;
                let mapped = s.map_in_place(&p, index, stream);
                s.unbind(g);
                t.stop(&mut s.timing().api);
                let (ptr, layout, status, surface) = mapped?;
                Ok(Some(MappedFrame {
                    ptr,
                    offset: p.shift_bytes(),
                    layout,
                    meta: p.meta,
                    status,
                    decoder: s.decoder,
                    ctx: &s.ctx,
                    stream,
                    done: s.done.as_ref(),
                    released: s
                        .surface_uses
                        .get(surface)
                        .and_then(|u| u.released.as_ref()),
                    access: &s.mapped_access,
                    spilled: None,
                    _session: PhantomData,
                }))
            }
        }
    }
}

impl Session {
    /// [`Decoder::next_owned`].
    fn next_owned(&mut self, stream: &Stream) -> Result<Option<DecodedFrame>> {
        check_stream(&self.ctx, stream)?;
        let Some(p) = self.queue.pop_front() else {
            return Ok(None);
        };
        match p.source {
            PendingSource::Spilled { frame, status } => {
                // The spill copy is the frame's tracked last write: its users wait for it.
                let _ = stream;
                Ok(Some(DecodedFrame { frame, status }))
            }
            PendingSource::Surface { index } => {
                let t = Timer::start(self.config.stage_timing);
                let acquired = Session::pool(
                    &mut self.out_pool,
                    &self.ctx,
                    p.format,
                    p.width,
                    p.height,
                    self.config.pool_size,
                )
                .and_then(|pool| pool.acquire_timeout(self.config.pool_timeout));
                t.stop(&mut self.stats.timing.acquire);
                let mut frame = match acquired {
                    Ok(f) => f,
                    Err(e) => {
                        self.queue.push_front(p);
                        return Err(e);
                    }
                };
                // One push and pop around the mapping, the copy and the unmap.
                let g = self.bind()?;
                let status = self.copy_out(&p, index, &mut frame, stream);
                self.unbind(g);
                Ok(Some(DecodedFrame {
                    frame,
                    status: status?,
                }))
            }
        }
    }

    /// Maps decode surface `index` of `p` in place on `stream` for [`Decoder::map_next`]
    /// (the context is current): pointer, layout, status and the position of the surface's
    /// [`super::state::SurfaceUse`]. Unmaps again on failure.
    fn map_in_place(
        &mut self,
        p: &Pending,
        index: i32,
        stream: &Stream,
    ) -> Result<(CUdeviceptr, FrameLayout, DecodeStatus, usize)> {
        let (ptr, pitch, status) = self.map_surface(p, index, stream)?;
        let layout = match FrameLayout::new(p.format, p.width, p.height, pitch) {
            Ok(l) => l,
            Err(e) => {
                let _ = self.unmap(ptr);
                return Err(e);
            }
        };
        if self.done.is_none() {
            self.done = Some(Event::new_sync_only(&self.ctx)?);
        }
        self.last_stream = stream.id();
        // The mapping's post-processing ran on `stream`: it is the picture's write.
        if let Err(e) = self.mapped_access.reset_written_on(stream.tracking_ref()) {
            let _ = self.unmap(ptr);
            return Err(e);
        }
        // The mapping's drop records the surface's release (see `MappedFrame`).
        let surface = match self.surface_mapped(index) {
            Ok(i) => i,
            Err(e) => {
                let _ = self.unmap(ptr);
                return Err(e);
            }
        };
        Ok((ptr, layout, status, surface))
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        self.destroy_parser();
        // SAFETY: the parser is gone, so no callback can reach the session any more; the
        // pointer came from Box::leak and is reclaimed once.
        let mut session = unsafe { Box::from_raw(self.state.as_ptr()) };
        session.queue.clear();
        session.destroy_decoder();
        if !session.lock.is_null() {
            // SAFETY: the lock was created in `new` and is destroyed once; the decoder using
            // it is gone.
            let _ = unsafe { cuvid::ctx_lock_destroy(session.lock) };
        }
    }
}

/// Decoder output is copied or mapped on `stream`: it must belong to the decoder's GPU (the
/// ordering events are recorded on it).
fn check_stream(ctx: &Context, stream: &Stream) -> Result<()> {
    if stream.context() != ctx {
        return Err(Error::InvalidArgument(format!(
            "the decoder runs on GPU {}, the stream belongs to GPU {}: take frames on a stream \
             of the decoder's GPU, then transfer them (nvdx::xfer)",
            ctx.device().ordinal(),
            stream.context().device().ordinal()
        )));
    }
    Ok(())
}
