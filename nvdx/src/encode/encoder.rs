//! [`Encoder`]: an NVENC encode session on one CUDA context, from configuration to packets.

use std::collections::VecDeque;
use std::sync::Arc;

use nvdx_sys::cuda::CUstream;
use nvdx_sys::nvenc as sys;
use sys::_NVENCSTATUS as S;

use super::config::BuiltParams;
use super::pipeline::{drain_ready, packet_dts, plan_reconfigure, Pipeline};
use super::registry::{RegistrationCache, ResourceKey};
use super::status;
use super::version::*;

use super::session::{NvRegistrar, Session};
use super::{
    missing, validate, EncodeOutput, EncodedPacket, EncoderCaps, EncoderConfig, FrameType,
    InputFrame, PictureOptions, Reconfigure,
};
use crate::access::FrameSealed;
use crate::codec::Codec;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::frame::{Frame, FrameView};
use crate::memory::AsDevicePtr;
use crate::memory::MemoryKind;
use crate::stream::Stream;

/// A frame held by the encoder.
enum Held {
    Caller(InputFrame),
    /// One of the encoder's own copy frames (`encode_copy`), registered for its whole life.
    Internal(Frame),
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
    /// The submitted picture's pts (the k-th buffer's dts comes from the k-th submission).
    pts: i64,
    timescale: u32,
}

/// Most idle registrations kept (the encoder's own copy frames; caller frames are
/// unregistered when released).
const REGISTRATION_CACHE: usize = 64;

/// An NVENC encode session on one CUDA context.
///
/// `Send` but not `Sync`: an NVENC session may be driven from any thread, but its calls must
/// not run concurrently (the API is not thread-safe per session), and every method that talks
/// to the engine takes `&mut self`, so moving the encoder to another thread is sound while
/// sharing it is not.
pub struct Encoder {
    /// Destroyed explicitly at the end of `Drop for Encoder` (before any field drops), so the
    /// IO stream and its storage below outlive `nvEncDestroyEncoder`.
    session: Session,
    config: EncoderConfig,
    params: BuiltParams,
    caps: EncoderCaps,
    pipeline: Pipeline,
    bitstreams: Vec<sys::NV_ENC_OUTPUT_PTR>,
    next_bitstream: usize,
    pending: VecDeque<Pending>,
    /// Pending pictures (from the front) whose output the engine has produced.
    ready: usize,
    registry: RegistrationCache<sys::NV_ENC_REGISTERED_PTR>,
    frame_count: u64,
    /// The encoder's idle copy frames (`encode_copy`), registered.
    copy_free: Vec<Frame>,
    /// Copy frames allocated (idle or pending).
    copy_total: usize,
    /// Output produced but not yet returned (kept across an error so nothing is lost).
    carry: EncodeOutput,
    finished: bool,
    stream: Arc<Stream>,
    /// `nvEncSetIOCudaStreams` takes a pointer to a `CUstream`; boxed so it stays put.
    io_stream: Box<CUstream>,
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
        validate(config, &caps, &session.subject())?;

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

        let pipeline = Pipeline::new(&params.config, config.zero_latency);
        let mut enc = Encoder {
            session,
            config: config.clone(),
            caps,
            pipeline,
            stream,
            io_stream: Box::new(std::ptr::null_mut()),
            bitstreams: Vec::new(),
            next_bitstream: 0,
            pending: VecDeque::new(),
            ready: 0,
            registry: RegistrationCache::new(REGISTRATION_CACHE),
            frame_count: 0,
            copy_free: Vec::new(),
            copy_total: 0,
            carry: EncodeOutput::default(),
            finished: false,
            params,
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
    /// What encodes: `NVENC on <GPU>`, or `NVENC double (test stand-in)` when
    /// `NVDX_LIBNVIDIA_ENCODE_PATH` points at the workspace's test double (whose output says
    /// nothing about NVENC hardware).
    pub fn engine_name(&self) -> &str {
        &self.session.engine
    }
    /// Whether the session runs on the NVENC test double rather than NVIDIA's library.
    pub fn is_double(&self) -> bool {
        self.session.is_double()
    }
    /// Pictures submitted whose packets have not come out yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
    /// Frames registered with NVENC (the registration cache's size).
    pub fn registered_frames(&self) -> usize {
        self.registry.len()
    }
    /// Bitstream buffers in the ring: the most pictures (and so caller frames) the encoder
    /// holds at once. The engine holds B-frames and lookahead pictures, and the encoder keeps
    /// a few completed pictures unlocked so that the CPU and NVENC overlap (none with
    /// [`EncoderConfig::zero_latency`]). A [`crate::FramePool`] that feeds [`Encoder::encode`]
    /// therefore needs **more than `ring_size()` frames**, or `acquire` waits forever for a
    /// frame the encoder holds.
    pub fn ring_size(&self) -> usize {
        self.pipeline.ring_size()
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
        // The encoder holds at most `ring_size()` pictures, so at most that many copy frames
        // exist: this never fails mid-stream, whatever the lookahead depth.
        let mut dst = match self.copy_free.pop() {
            Some(f) => f,
            None => {
                let f = Frame::new(
                    &self.session.ctx,
                    self.config.format,
                    self.config.width,
                    self.config.height,
                    MemoryKind::Device,
                )?;
                self.copy_total += 1;
                f
            }
        };
        dst.copy_from_async(frame, &self.stream)?;
        self.submit(Held::Internal(dst), options)
    }

    /// Copy frames allocated by [`Encoder::encode_copy`] (at most [`Encoder::ring_size`]).
    pub fn copy_frames(&self) -> usize {
        self.copy_total
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
            alloc: f.allocation_id(),
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
            self.release_registration(&key, &held);
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
            inputPitch: u32::try_from(key.pitch).unwrap_or(u32::MAX),
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
            self.release_registration(&key, &held);
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
            self.release_registration(&key, &held);
            return Err(err);
        }
        let recorded = access.after_read(self.stream.tracking_ref());
        if recorded.is_err() {
            // Not recorded: wait for the encode's read here so no later writer overtakes it.
            let _ = self.stream.synchronize();
        }
        let timescale = held.frame().meta.timescale;
        self.pending.push_back(Pending {
            held,
            key,
            mapped: map.mappedResource,
            bitstream,
            pts,
            timescale,
        });
        self.next_bitstream += 1;
        self.frame_count += 1;
        if st == S::NV_ENC_SUCCESS {
            // Every picture submitted so far has its output now, except the newest ones the
            // engine still holds for lookahead.
            self.ready = self
                .pipeline
                .ready_after_success(self.pending.len(), self.ready);
        }
        // Lock only pictures older than the output delay: the engine keeps working on the
        // newest ones while the caller prepares the next frame (as NvEncoder does).
        self.drain(self.pipeline.output_delay())?;
        Ok(std::mem::take(&mut self.carry))
    }

    fn release_registration(&mut self, key: &ResourceKey, held: &Held) {
        let keep = matches!(held, Held::Internal(_));
        let _ = self.registry.release(
            key,
            keep,
            &mut NvRegistrar {
                session: &self.session,
            },
        );
    }

    /// Locks completed pictures in submission order while more than `keep` are pending, then
    /// unmaps them and releases their inputs, into `self.carry` (so an error loses nothing
    /// already produced). Called with the context bound.
    fn drain(&mut self, keep: usize) -> Result<()> {
        let reorder = self.reorder_delay();
        let codec = self.config.codec;
        let frame_rate = self.config.frame_rate;
        let Encoder {
            session,
            pending,
            ready,
            registry,
            carry,
            copy_free,
            ..
        } = self;
        let session: &Session = session;
        let mut packets = std::mem::take(&mut carry.packets);
        let r = drain_ready(
            pending,
            ready,
            keep,
            &mut packets,
            |p| {
                let (data, pts, frame_type) = lock(session, p.bitstream)?;
                let step = pts_step(p.timescale, frame_rate);
                Ok(EncodedPacket {
                    data,
                    pts,
                    dts: packet_dts(codec, p.pts, pts, reorder, step),
                    keyframe: frame_type == FrameType::Idr,
                    frame_type,
                })
            },
            |p| {
                // SAFETY: `p.mapped` was mapped on this session and its picture is complete
                // (its bitstream was locked) or the session failed.
                let st = unsafe {
                    nvcall!(
                        session.fns,
                        nvEncUnmapInputResource(session.handle, p.mapped)
                    )
                };
                let unmapped = session.check("nvEncUnmapInputResource", st);
                let keep = matches!(p.held, Held::Internal(_));
                let unreg = registry.release(&p.key, keep, &mut NvRegistrar { session });
                match p.held {
                    Held::Caller(f) => carry.released.push(f),
                    Held::Internal(f) => copy_free.push(f),
                }
                unmapped.and(unreg)
            },
        );
        carry.packets = packets;
        r
    }

    /// Sends end of stream and returns every remaining packet and frame. The encoder accepts no
    /// pictures afterwards.
    pub fn finish(&mut self) -> Result<EncodeOutput> {
        if self.finished {
            return Ok(std::mem::take(&mut self.carry));
        }
        let ctx = self.session.ctx.clone();
        let _g = ctx.bind()?;
        // Finished only once the engine took the EOS: after a failure the caller may retry.
        self.send_eos()?;
        self.finished = true;
        self.ready = self.pending.len();
        self.drain(0)?;
        Ok(std::mem::take(&mut self.carry))
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
    /// A size change needs no pictures pending (encode with no B-frames and no lookahead, or
    /// call it right after a call that returned packets for every submitted picture; with
    /// lookahead the engine always holds the newest pictures), must stay within
    /// [`EncoderConfig::max_size`], and starts a new IDR.
    pub fn reconfigure(&mut self, change: &Reconfigure) -> Result<()> {
        if self.finished {
            return Err(Error::InvalidState(
                "the stream was finished; open a new Encoder".into(),
            ));
        }
        let plan = plan_reconfigure(
            &self.config,
            &self.params,
            &self.caps,
            &self.session.subject(),
            change,
        )?;
        let ctx = self.session.ctx.clone();
        let _g = ctx.bind()?;
        if plan.resize {
            // Completed pictures come out first (into the next call's output); only pictures
            // the engine still holds (B-frames) block a size change.
            self.drain(0)?;
            if !self.pending.is_empty() {
                return Err(Error::InvalidState(format!(
                    "{} pictures are pending in the engine (B-frame reordering or lookahead); a \
                     size change needs none (without lookahead, reconfigure right after an \
                     anchor picture; with lookahead the engine always holds the newest pictures)",
                    self.pending.len()
                )));
            }
        }
        let mut b = plan.params;
        b.relink();
        let mut r = sys::NV_ENC_RECONFIGURE_PARAMS {
            version: NV_ENC_RECONFIGURE_PARAMS_VER,
            reInitEncodeParams: b.init,
            ..Default::default()
        };
        let reset = u32::from(plan.reset);
        r.set_resetEncoder(reset);
        r.set_forceIDR(reset);
        // SAFETY: live session; `r` is versioned and its encodeConfig points at `b.config`,
        // alive for the call.
        let st = unsafe {
            nvcall!(
                self.session.fns,
                nvEncReconfigureEncoder(self.session.handle, &mut r)
            )
        };
        self.session.check("nvEncReconfigureEncoder", st)?;
        if plan.resize {
            // Copy frames of the old size: unregister before freeing.
            self.free_copy_frames();
        }
        self.params = b;
        self.config = plan.config;
        Ok(())
    }

    /// Unregisters and frees the idle copy frames.
    fn free_copy_frames(&mut self) {
        for f in self.copy_free.drain(..) {
            let _ = self.registry.remove(
                f.allocation_id(),
                &mut NvRegistrar {
                    session: &self.session,
                },
            );
            self.copy_total -= 1;
            drop(f);
        }
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        let ctx = self.session.ctx.clone();
        let Ok(_g) = ctx.bind() else {
            return;
        };
        if !self.finished {
            // EOS always (also with nothing pending, as NvEncoder does), then let the engine
            // finish reading the held frames before they are released.
            if self.send_eos().is_ok() {
                self.ready = self.pending.len();
            }
            if self.drain(0).is_err() || !self.pending.is_empty() {
                // Pictures whose output could not be locked may still be read by the engine:
                // wait for the IO stream before their frames go back to their owners.
                let _ = self.stream.synchronize();
            }
        }
        let reg = &mut NvRegistrar {
            session: &self.session,
        };
        for p in self.pending.drain(..) {
            if let Some(f) = self.session.fns.nvEncUnmapInputResource {
                // SAFETY: mapped on this session; the session is still alive.
                let _ = unsafe { f(self.session.handle, p.mapped) };
            }
            let _ = self.registry.release(&p.key, false, reg);
            if let Held::Internal(f) = p.held {
                self.copy_free.push(f);
            }
        }
        // Unregister everything (copy frames included) before any memory is freed.
        let _ = self.registry.clear(reg);
        if let Some(f) = self.session.fns.nvEncDestroyBitstreamBuffer {
            for b in self.bitstreams.drain(..) {
                // SAFETY: created on this session, unlocked, destroyed once.
                let _ = unsafe { f(self.session.handle, b) };
            }
        }
        // Destroy the session now, while `stream` and `io_stream` (fields, dropped after this
        // function returns) are still alive: NVENC uses the IO stream until destroy.
        self.session.destroy();
        // The copy frames drop with the fields, after their registrations are gone.
    }
}

/// pts ticks per picture: 1 for frame-index pts, else timescale * den / num of the frame's
/// timescale and the configured frame rate.
fn pts_step(timescale: u32, (num, den): (u32, u32)) -> i64 {
    if timescale == 0 {
        return 1;
    }
    (i64::from(timescale) * i64::from(den) / i64::from(num.max(1))).max(1)
}

/// Locks a bitstream buffer, copies the packet out and unlocks it.
fn lock(session: &Session, bitstream: sys::NV_ENC_OUTPUT_PTR) -> Result<(Vec<u8>, i64, FrameType)> {
    let mut l = sys::NV_ENC_LOCK_BITSTREAM {
        version: NV_ENC_LOCK_BITSTREAM_VER,
        outputBitstream: bitstream,
        ..Default::default()
    };
    // SAFETY: live session; `bitstream` is one of its buffers with a completed picture.
    let st = unsafe { nvcall!(session.fns, nvEncLockBitstream(session.handle, &mut l)) };
    session.check("nvEncLockBitstream", st)?;
    let data = if l.bitstreamBufferPtr.is_null() {
        Vec::new()
    } else {
        // SAFETY: while locked, the driver guarantees `bitstreamSizeInBytes` readable bytes at
        // `bitstreamBufferPtr`; they are copied before the unlock below.
        unsafe {
            std::slice::from_raw_parts(
                l.bitstreamBufferPtr.cast::<u8>(),
                l.bitstreamSizeInBytes as usize,
            )
        }
        .to_vec()
    };
    // SAFETY: the buffer was locked above and the slice into it is no longer used.
    let st = unsafe { nvcall!(session.fns, nvEncUnlockBitstream(session.handle, bitstream)) };
    session.check("nvEncUnlockBitstream", st)?;
    Ok((
        data,
        l.outputTimeStamp as i64,
        FrameType::from_raw(l.pictureType),
    ))
}
