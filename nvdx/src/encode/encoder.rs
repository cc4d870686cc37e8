//! [`Encoder`]: an NVENC encode session on one CUDA context, from configuration to packets.

use std::collections::VecDeque;
use std::sync::Arc;

use nvdx_sys::cuda::CUstream;
use nvdx_sys::nvenc as sys;
use sys::_NVENCSTATUS as S;

use super::config::BuiltParams;
use super::registry::{RegistrationCache, ResourceKey};
use super::version::*;
use super::{status, validate};

use super::session::{NvRegistrar, Session};
use super::{
    missing, EncodeOutput, EncodedPacket, EncoderCaps, EncoderConfig, FrameType, InputFrame,
    PictureOptions, Reconfigure,
};
use crate::access::FrameSealed;
use crate::codec::Codec;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::frame::{Frame, FramePool, FrameView, PooledFrame};
use crate::memory::MemoryKind;
use crate::stream::Stream;

/// A frame held by the encoder.
enum Held {
    Caller(InputFrame),
    Internal(PooledFrame),
}

impl Held {
    fn frame(&self) -> &Frame {
        match self {
            Held::Caller(f) => f.frame(),
            Held::Internal(f) => f,
        }
    }
}

struct Pending {
    held: Held,
    key: ResourceKey,
    mapped: sys::NV_ENC_INPUT_PTR,
    bitstream: sys::NV_ENC_OUTPUT_PTR,
}

/// Most idle registrations kept (a pool of up to 16 frames plus slack).
const REGISTRATION_CACHE: usize = 32;

/// An NVENC encode session on one CUDA context.
///
/// `Send` but not `Sync`: an NVENC session may be driven from any thread, but its calls must
/// not run concurrently (the API is not thread-safe per session), and every method that talks
/// to the engine takes `&mut self`, so moving the encoder to another thread is sound while
/// sharing it is not.
pub struct Encoder {
    config: EncoderConfig,
    params: BuiltParams,
    caps: EncoderCaps,
    stream: Arc<Stream>,
    /// `nvEncSetIOCudaStreams` takes a pointer to a `CUstream`; boxed so it stays put.
    io_stream: Box<CUstream>,
    bitstreams: Vec<sys::NV_ENC_OUTPUT_PTR>,
    next_bitstream: usize,
    pending: VecDeque<Pending>,
    registry: RegistrationCache<sys::NV_ENC_REGISTERED_PTR>,
    /// pts of submitted pictures not yet output, in input order (for dts).
    submitted_pts: VecDeque<i64>,
    frame_count: u64,
    copy_pool: Option<FramePool>,
    finished: bool,
    /// Declared last: dropped after `Drop for Encoder` released everything.
    session: Session,
}

// SAFETY: the raw pointers inside (session handle, registered/mapped resources, bitstream
// buffers, the config pointer in `params`) are NVENC handles that any thread may use, one call
// at a time; all engine calls go through `&mut self` (or Drop), so they never run concurrently.
// The frames held are Send. Not Sync: see the type's docs.
unsafe impl Send for Encoder {}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("gpu", &self.session.gpu_name)
            .field("codec", &self.config.codec)
            .field("size", &(self.config.width, self.config.height))
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// Opens a session on `stream`'s context, validates `config` against the GPU and
    /// initialises the encoder. Work enqueued on `stream` before each encode call is ordered
    /// before the engine reads the frame.
    pub fn new(config: &EncoderConfig, stream: Arc<Stream>) -> Result<Encoder> {
        config.check()?;
        let codec_guid = config.codec_guid()?;
        let ctx = stream.context().clone();
        let session = Session::open(&ctx)?;
        session.require_codec(config.codec, &codec_guid)?;
        let caps = session.caps(codec_guid)?;
        validate(config, &caps, &session.gpu_name)?;

        let mut preset = sys::NV_ENC_PRESET_CONFIG {
            version: NV_ENC_PRESET_CONFIG_VER,
            presetCfg: sys::NV_ENC_CONFIG {
                version: NV_ENC_CONFIG_VER,
                ..Default::default()
            },
            ..Default::default()
        };
        let _g = ctx.bind()?;
        // SAFETY: live session; `preset` is a versioned, writable parameter block.
        let st = unsafe {
            nvcall!(
                session.fns,
                nvEncGetEncodePresetConfigEx(
                    session.handle,
                    codec_guid,
                    config.preset.guid(),
                    config.tuning.raw(),
                    &mut preset
                )
            )
        };
        session.check("nvEncGetEncodePresetConfigEx", st)?;
        let mut params = config.build(&preset.presetCfg)?;
        // SAFETY: `params.init` is versioned and points at the boxed config, both alive for
        // the call.
        let st = unsafe {
            nvcall!(
                session.fns,
                nvEncInitializeEncoder(session.handle, &mut params.init)
            )
        };
        session.check("nvEncInitializeEncoder", st)?;

        let mut enc = Encoder {
            config: config.clone(),
            caps,
            stream,
            io_stream: Box::new(std::ptr::null_mut()),
            bitstreams: Vec::new(),
            next_bitstream: 0,
            pending: VecDeque::new(),
            registry: RegistrationCache::new(REGISTRATION_CACHE),
            submitted_pts: VecDeque::new(),
            frame_count: 0,
            copy_pool: None,
            finished: false,
            params,
            session,
        };
        // From here on, Drop releases whatever was created.
        let ring = enc.ring_size();
        for _ in 0..ring {
            let mut p = sys::NV_ENC_CREATE_BITSTREAM_BUFFER {
                version: NV_ENC_CREATE_BITSTREAM_BUFFER_VER,
                ..Default::default()
            };
            // SAFETY: initialised session; versioned parameter block.
            let st = unsafe {
                nvcall!(
                    enc.session.fns,
                    nvEncCreateBitstreamBuffer(enc.session.handle, &mut p)
                )
            };
            enc.session.check("nvEncCreateBitstreamBuffer", st)?;
            enc.bitstreams.push(p.bitstreamBuffer);
        }
        *enc.io_stream = enc.stream.raw();
        let sp: *mut CUstream = &mut *enc.io_stream;
        // SAFETY: both arguments point at the boxed CUstream, which lives as long as the
        // session; the stream itself is kept alive by `enc.stream`.
        let st = unsafe {
            nvcall!(
                enc.session.fns,
                nvEncSetIOCudaStreams(enc.session.handle, sp.cast(), sp.cast())
            )
        };
        enc.session.check("nvEncSetIOCudaStreams", st)?;
        drop(_g);
        Ok(enc)
    }

    /// Capabilities of `ctx`'s GPU for `codec`. NVENC answers only inside a session, so this
    /// opens (and closes) one: on a GPU without NVENC it fails like [`Encoder::new`].
    pub fn capabilities(ctx: &Context, codec: Codec) -> Result<EncoderCaps> {
        let guid = EncoderConfig::new(codec, 2, 2).codec_guid()?;
        let session = Session::open(ctx)?;
        session.require_codec(codec, &guid)?;
        let _g = ctx.bind()?;
        session.caps(guid)
    }

    /// The capabilities the configuration was validated against.
    pub fn caps(&self) -> &EncoderCaps {
        &self.caps
    }
    /// The configuration in effect (after reconfigurations).
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }
    /// The API version the session was opened with.
    pub fn api_version(&self) -> ApiVersion {
        self.session.api
    }
    /// The GPU's name.
    pub fn gpu_name(&self) -> &str {
        &self.session.gpu_name
    }
    /// Pictures submitted whose packets have not come out yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
    /// Frames registered with NVENC (the registration cache's size).
    pub fn registered_frames(&self) -> usize {
        self.registry.len()
    }
    /// Bitstream buffers in the ring.
    pub fn ring_size(&self) -> usize {
        let c = &*self.params.config;
        (c.frameIntervalP.max(1) as usize) + usize::from(c.rcParams.lookaheadDepth) + 1
    }
    /// The reordering delay in pictures (B-frames per group).
    fn reorder_delay(&self) -> i64 {
        i64::from(self.params.config.frameIntervalP.max(1) - 1)
    }

    /// Encodes `frame`. Returns the packets that completed and the caller frames the engine is
    /// done with. The frame must match the session's format and current size and live on the
    /// session's GPU as device memory.
    pub fn encode(
        &mut self,
        frame: impl Into<InputFrame>,
        options: PictureOptions,
    ) -> Result<EncodeOutput> {
        self.submit(Held::Caller(frame.into()), options)
    }

    /// Enqueues a device-to-device copy of `frame` into a frame of an internal pool (on the
    /// session's stream) and encodes the copy: `frame` is free for the caller's next stream
    /// operation at once. Costs one copy per picture.
    pub fn encode_copy(&mut self, frame: &Frame, options: PictureOptions) -> Result<EncodeOutput> {
        self.check_frame(frame)?;
        if self.copy_pool.is_none() {
            let cap = (self.ring_size() + 1).clamp(2, 16);
            self.copy_pool = Some(FramePool::new(
                &self.session.ctx,
                self.config.format,
                self.config.width,
                self.config.height,
                cap,
                MemoryKind::Device,
            )?);
        }
        let pool = self
            .copy_pool
            .as_ref()
            .ok_or_else(|| Error::InvalidState("no copy pool".into()))?;
        let mut dst = pool.try_acquire().ok_or_else(|| {
            Error::InvalidState("every internal copy frame is still held by the encoder".into())
        })?;
        dst.copy_from_async(frame, &self.stream)?;
        self.submit(Held::Internal(dst), options)
    }

    fn check_frame(&self, f: &Frame) -> Result<()> {
        if self.finished {
            return Err(Error::InvalidState(
                "the stream was finished (end of stream sent); open a new Encoder".into(),
            ));
        }
        let (w, h) = (self.config.width, self.config.height);
        if f.format() != self.config.format || f.width() != w || f.height() != h {
            return Err(Error::InvalidArgument(format!(
                "the session encodes {:?} {w}x{h} frames, not {:?} {}x{}",
                self.config.format,
                f.format(),
                f.width(),
                f.height()
            )));
        }
        if f.memory_kind() != MemoryKind::Device {
            return Err(Error::InvalidArgument(format!(
                "NVENC reads device memory; this frame is {:?} memory",
                f.memory_kind()
            )));
        }
        if *f.context() != self.session.ctx {
            return Err(Error::InvalidArgument(
                "the frame lives on another GPU/context than the encoder".into(),
            ));
        }
        Ok(())
    }

    fn submit(&mut self, held: Held, options: PictureOptions) -> Result<EncodeOutput> {
        self.check_frame(held.frame())?;
        if self.pending.len() >= self.bitstreams.len() {
            return Err(Error::InvalidState(format!(
                "{} pictures pending with a ring of {} bitstream buffers",
                self.pending.len(),
                self.bitstreams.len()
            )));
        }
        let f = held.frame();
        let key = ResourceKey {
            ptr: f.device_ptr(),
            pitch: f.pitch(),
            width: f.width(),
            height: f.height(),
            format: f.format(),
        };
        let pts = if f.meta.timescale == 0 {
            self.frame_count as i64
        } else {
            f.meta.pts
        };
        let ctx = self.session.ctx.clone();
        let _g = ctx.bind()?;
        let registered = self.registry.acquire(
            &key,
            &mut NvRegistrar {
                session: &self.session,
            },
        )?;
        let mut map = sys::NV_ENC_MAP_INPUT_RESOURCE {
            version: NV_ENC_MAP_INPUT_RESOURCE_VER,
            registeredResource: registered,
            ..Default::default()
        };
        // SAFETY: live session; `registered` is a registration of this session.
        let st = unsafe {
            nvcall!(
                self.session.fns,
                nvEncMapInputResource(self.session.handle, &mut map)
            )
        };
        if let Err(e) = self.session.check("nvEncMapInputResource", st) {
            self.registry.release(&key);
            return Err(e);
        }
        let bitstream = self.bitstreams[self.next_bitstream % self.bitstreams.len()];
        let mut flags = 0u32;
        if options.force_idr {
            flags |= sys::_NV_ENC_PIC_FLAGS::NV_ENC_PIC_FLAG_FORCEIDR.0;
        }
        if options.output_headers {
            flags |= sys::_NV_ENC_PIC_FLAGS::NV_ENC_PIC_FLAG_OUTPUT_SPSPPS.0;
        }
        let mut pic = sys::NV_ENC_PIC_PARAMS {
            version: NV_ENC_PIC_PARAMS_VER,
            inputWidth: key.width,
            inputHeight: key.height,
            encodePicFlags: flags,
            frameIdx: self.frame_count as u32,
            inputTimeStamp: pts as u64,
            inputBuffer: map.mappedResource,
            outputBitstream: bitstream,
            bufferFmt: map.mappedBufferFmt,
            pictureStruct: sys::_NV_ENC_PIC_STRUCT::NV_ENC_PIC_STRUCT_FRAME,
            ..Default::default()
        };
        // NVENC reads the input on the session's IO stream: order that after the frame's last
        // write (on any stream), and record the read afterwards so that the frame's next
        // writer and its free wait for the encode.
        let access = held.frame().frame_parts().mem.access;
        if let Err(e) = access.before_read(self.stream.tracking_ref()) {
            // SAFETY: the resource was mapped above and is not submitted.
            let _ = unsafe {
                nvcall!(
                    self.session.fns,
                    nvEncUnmapInputResource(self.session.handle, map.mappedResource)
                )
            };
            self.registry.release(&key);
            return Err(e);
        }
        // SAFETY: live, initialised session; the mapped input and the bitstream buffer belong
        // to it; the frame stays alive in `pending` until its output has been locked.
        let st = unsafe {
            nvcall!(
                self.session.fns,
                nvEncEncodePicture(self.session.handle, &mut pic)
            )
        };
        if st != S::NV_ENC_SUCCESS && st != S::NV_ENC_ERR_NEED_MORE_INPUT {
            let err = status::nvenc_error("nvEncEncodePicture", st, self.session.last_error());
            // SAFETY: the resource was mapped above and the engine rejected the picture.
            let _ = unsafe {
                nvcall!(
                    self.session.fns,
                    nvEncUnmapInputResource(self.session.handle, map.mappedResource)
                )
            };
            self.registry.release(&key);
            return Err(err);
        }
        let recorded = access.after_read(self.stream.tracking_ref());
        if recorded.is_err() {
            // Not recorded: wait for the encode's read here so no later writer overtakes it.
            let _ = self.stream.synchronize();
        }
        self.pending.push_back(Pending {
            held,
            key,
            mapped: map.mappedResource,
            bitstream,
        });
        self.next_bitstream += 1;
        self.submitted_pts.push_back(pts);
        self.frame_count += 1;
        if st == S::NV_ENC_ERR_NEED_MORE_INPUT {
            return Ok(EncodeOutput::default());
        }
        self.drain()
    }

    /// Locks every pending bitstream in submission order, then unmaps and releases the inputs.
    /// Called with the context bound.
    fn drain(&mut self) -> Result<EncodeOutput> {
        let mut out = EncodeOutput::default();
        let delay = self.reorder_delay();
        let duration = self.pts_step();
        let mut first_err: Option<Error> = None;
        while let Some(p) = self.pending.pop_front() {
            if first_err.is_none() {
                match self.lock(p.bitstream) {
                    Ok((data, pts, frame_type)) => {
                        let base = self.submitted_pts.pop_front().unwrap_or(pts);
                        out.packets.push(EncodedPacket {
                            data,
                            pts,
                            dts: (base - delay * duration).min(pts),
                            keyframe: frame_type == FrameType::Idr,
                            frame_type,
                        });
                    }
                    Err(e) => first_err = Some(e),
                }
            }
            // SAFETY: `p.mapped` was mapped on this session and its picture is complete (its
            // bitstream was locked) or the session failed.
            let st = unsafe {
                nvcall!(
                    self.session.fns,
                    nvEncUnmapInputResource(self.session.handle, p.mapped)
                )
            };
            if let Err(e) = self.session.check("nvEncUnmapInputResource", st) {
                first_err.get_or_insert(e);
            }
            self.registry.release(&p.key);
            if let Held::Caller(f) = p.held {
                out.released.push(f);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// pts ticks per picture: 1 for frame-index pts, else timescale * den / num of the last
    /// frame's timescale (approximated from the configured frame rate).
    fn pts_step(&self) -> i64 {
        let ts = self
            .pending
            .front()
            .map(|p| p.held.frame().meta.timescale)
            .unwrap_or(0);
        if ts == 0 {
            return 1;
        }
        let (num, den) = self.config.frame_rate;
        (i64::from(ts) * i64::from(den) / i64::from(num.max(1))).max(1)
    }

    fn lock(&self, bitstream: sys::NV_ENC_OUTPUT_PTR) -> Result<(Vec<u8>, i64, FrameType)> {
        let mut l = sys::NV_ENC_LOCK_BITSTREAM {
            version: NV_ENC_LOCK_BITSTREAM_VER,
            outputBitstream: bitstream,
            ..Default::default()
        };
        // SAFETY: live session; `bitstream` is one of its buffers with a submitted picture.
        let st = unsafe {
            nvcall!(
                self.session.fns,
                nvEncLockBitstream(self.session.handle, &mut l)
            )
        };
        self.session.check("nvEncLockBitstream", st)?;
        let data = if l.bitstreamBufferPtr.is_null() {
            Vec::new()
        } else {
            // SAFETY: while locked, the driver guarantees `bitstreamSizeInBytes` readable bytes
            // at `bitstreamBufferPtr`; they are copied before the unlock below.
            unsafe {
                std::slice::from_raw_parts(
                    l.bitstreamBufferPtr.cast::<u8>(),
                    l.bitstreamSizeInBytes as usize,
                )
            }
            .to_vec()
        };
        // SAFETY: the buffer was locked above and the slice into it is no longer used.
        let st = unsafe {
            nvcall!(
                self.session.fns,
                nvEncUnlockBitstream(self.session.handle, bitstream)
            )
        };
        self.session.check("nvEncUnlockBitstream", st)?;
        Ok((
            data,
            l.outputTimeStamp as i64,
            FrameType::from_raw(l.pictureType),
        ))
    }

    /// Sends end of stream and returns every remaining packet and frame. The encoder accepts no
    /// pictures afterwards.
    pub fn finish(&mut self) -> Result<EncodeOutput> {
        if self.finished {
            return Ok(EncodeOutput::default());
        }
        self.finished = true;
        let ctx = self.session.ctx.clone();
        let _g = ctx.bind()?;
        self.send_eos()?;
        self.drain()
    }

    fn send_eos(&self) -> Result<()> {
        let mut pic = sys::NV_ENC_PIC_PARAMS {
            version: NV_ENC_PIC_PARAMS_VER,
            encodePicFlags: sys::_NV_ENC_PIC_FLAGS::NV_ENC_PIC_FLAG_EOS.0,
            ..Default::default()
        };
        // SAFETY: live session; an EOS picture carries no buffers.
        let st = unsafe {
            nvcall!(
                self.session.fns,
                nvEncEncodePicture(self.session.handle, &mut pic)
            )
        };
        self.session.check("nvEncEncodePicture(EOS)", st)
    }

    /// The sequence headers (SPS/PPS, plus VPS for HEVC; the sequence header OBU for AV1), for
    /// a container's codec private data or a receiver that joins late.
    pub fn sequence_headers(&mut self) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; 4 * sys::NV_MAX_SEQ_HDR_LEN as usize];
        let mut size = 0u32;
        let mut p = sys::NV_ENC_SEQUENCE_PARAM_PAYLOAD {
            version: NV_ENC_SEQUENCE_PARAM_PAYLOAD_VER,
            inBufferSize: buf.len() as u32,
            spsppsBuffer: buf.as_mut_ptr().cast(),
            outSPSPPSPayloadSize: &mut size,
            ..Default::default()
        };
        let _g = self.session.ctx.bind()?;
        // SAFETY: live session; the buffer holds `inBufferSize` bytes and `size` is a valid
        // out-value, both alive for the call.
        let st = unsafe {
            nvcall!(
                self.session.fns,
                nvEncGetSequenceParams(self.session.handle, &mut p)
            )
        };
        self.session.check("nvEncGetSequenceParams", st)?;
        buf.truncate((size as usize).min(buf.len()));
        Ok(buf)
    }

    /// Changes bitrate, frame rate or size without a new session (`nvEncReconfigureEncoder`).
    /// A size change needs no pictures pending (encode with no B-frames or call it right after
    /// a call that returned packets for every submitted picture), must stay within
    /// [`EncoderConfig::max_size`], and starts a new IDR.
    pub fn reconfigure(&mut self, change: &Reconfigure) -> Result<()> {
        if self.finished {
            return Err(Error::InvalidState(
                "the stream was finished; open a new Encoder".into(),
            ));
        }
        let mut next = self.config.clone();
        let mut b = self.params.duplicate();
        if let Some(rc) = change.rate_control {
            next.rate_control = Some(rc);
            if !self.caps.dynamic_bitrate {
                return Err(Error::Unsupported(format!(
                    "{} cannot change the bitrate of a running session",
                    self.session.gpu_name
                )));
            }
            rc.apply(&mut b.config.rcParams);
        }
        if let Some((num, den)) = change.frame_rate {
            next.frame_rate = (num, den);
            b.init.frameRateNum = num;
            b.init.frameRateDen = den;
        }
        let resize = change
            .size
            .is_some_and(|s| s != (self.config.width, self.config.height));
        if let Some((w, h)) = change.size {
            next.width = w;
            next.height = h;
            let (mw, mh) = (b.init.maxEncodeWidth, b.init.maxEncodeHeight);
            if w > mw || h > mh {
                return Err(Error::InvalidArgument(format!(
                    "cannot grow to {w}x{h}: the session's max size is {mw}x{mh} (set EncoderConfig::max_size)"
                )));
            }
            if resize && !self.caps.dynamic_resolution {
                return Err(Error::Unsupported(format!(
                    "{} cannot change the resolution of a running session",
                    self.session.gpu_name
                )));
            }
            if resize && !self.pending.is_empty() {
                return Err(Error::InvalidState(format!(
                    "{} pictures are pending (B-frame reordering); a size change needs none",
                    self.pending.len()
                )));
            }
            b.init.encodeWidth = w;
            b.init.encodeHeight = h;
            b.init.darWidth = w;
            b.init.darHeight = h;
        }
        next.max_size = Some((b.init.maxEncodeWidth, b.init.maxEncodeHeight));
        validate(&next, &self.caps, &self.session.gpu_name)?;
        b.relink();
        let mut r = sys::NV_ENC_RECONFIGURE_PARAMS {
            version: NV_ENC_RECONFIGURE_PARAMS_VER,
            reInitEncodeParams: b.init,
            ..Default::default()
        };
        let reset = u32::from(resize || change.force_idr);
        r.set_resetEncoder(reset);
        r.set_forceIDR(reset);
        let _g = self.session.ctx.bind()?;
        // SAFETY: live session; `r` is versioned and its encodeConfig points at `b.config`,
        // alive for the call.
        let st = unsafe {
            nvcall!(
                self.session.fns,
                nvEncReconfigureEncoder(self.session.handle, &mut r)
            )
        };
        self.session.check("nvEncReconfigureEncoder", st)?;
        if resize {
            self.copy_pool = None;
        }
        self.params = b;
        self.config = next;
        Ok(())
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        let ctx = self.session.ctx.clone();
        let Ok(_g) = ctx.bind() else {
            return;
        };
        if !self.pending.is_empty() && !self.finished {
            // Let the engine finish reading the held frames before they are freed.
            if self.send_eos().is_ok() {
                let _ = self.drain();
            }
        }
        for p in self.pending.drain(..) {
            if let Some(f) = self.session.fns.nvEncUnmapInputResource {
                // SAFETY: mapped on this session; the session is still alive.
                let _ = unsafe { f(self.session.handle, p.mapped) };
            }
            self.registry.release(&p.key);
        }
        let _ = self.registry.clear(&mut NvRegistrar {
            session: &self.session,
        });
        if let Some(f) = self.session.fns.nvEncDestroyBitstreamBuffer {
            for b in self.bitstreams.drain(..) {
                // SAFETY: created on this session, unlocked, destroyed once.
                let _ = unsafe { f(self.session.handle, b) };
            }
        }
        // `session` drops after this and destroys the encoder.
    }
}
