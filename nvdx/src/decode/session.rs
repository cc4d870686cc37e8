//! The decoder session: parser callbacks, the NVDEC decoder and the display queue.

use std::any::Any;
use std::ffi::{c_int, c_ulong, c_void};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

use nvdx_sys::cuda::CUdeviceptr;
use nvdx_sys::cuvid::{
    cudaVideoCreateFlags, CUvideoctxlock, CUvideodecoder, CUvideopacketflags, CUvideoparser,
    CUVIDDECODECREATEINFO, CUVIDEOFORMAT, CUVIDGETDECODESTATUS, CUVIDOPERATINGPOINTINFO,
    CUVIDPARSERDISPINFO, CUVIDPARSERPARAMS, CUVIDPICPARAMS, CUVIDPROCPARAMS,
    CUVIDRECONFIGUREDECODERINFO, CUVIDSEIMESSAGEINFO, CUVIDSOURCEDATAPACKET,
};

use super::{
    capabilities, choose_output_format, chroma_from_cuda, cuda_chroma, cuda_codec,
    deinterlace_mode, even_display_area, surface_format, DecodeStatus, DecoderCaps, DecoderConfig,
    Pending, PendingQueue, PendingSource, Rect,
};
use crate::access::{Access, FrameParts, FrameSealed, MemRef};
use crate::codec::{ChromaFormat, Codec};
use crate::context::Context;
use crate::error::{check_nvdec, Error, Result};
use crate::frame::{Frame, FrameLayout, FrameMeta, FramePool, FrameView, PixelFormat, PooledFrame};
use crate::memory::{copy_2d_raw, MemoryKind};
use crate::stream::{Event, Stream};

// ---------------------------------------------------------------------------------------------
// Trampolines

/// What the parser's callbacks do; implemented by the session, and by fakes in tests.
pub(crate) trait ParserCallbacks {
    /// New sequence header; returns the decode surface count for the parser (>1 overrides).
    fn on_sequence(&mut self, format: &CUVIDEOFORMAT) -> Result<c_int>;
    /// A picture is ready to be decoded.
    fn on_decode(&mut self, pic: &mut CUVIDPICPARAMS) -> Result<()>;
    /// A picture is ready to be displayed (`None` at end of stream).
    fn on_display(&mut self, info: Option<&CUVIDPARSERDISPINFO>) -> Result<()>;
    /// AV1 operating point choice; returns the value for the parser.
    fn on_operating_point(&mut self, info: &CUVIDOPERATINGPOINTINFO) -> Result<c_int>;
    /// SEI messages of a picture.
    fn on_sei(&mut self, info: &CUVIDSEIMESSAGEINFO) -> Result<()>;
    /// Whether an earlier callback failed (then every callback stops the parser).
    fn failed(&self) -> bool;
    /// Records a failure.
    fn fail(&mut self, error: Error);
}

fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

/// Runs one callback on the state behind `user`, never unwinding: errors and panics are stored
/// on the state and turn into 0, which makes the parser stop.
///
/// # Safety
/// `user` must be null or point to a live `H` that nothing else references during the call.
unsafe fn guarded<H: ParserCallbacks>(
    user: *mut c_void,
    name: &'static str,
    f: impl FnOnce(&mut H) -> Result<c_int>,
) -> c_int {
    let state = user.cast::<H>();
    if state.is_null() {
        return 0;
    }
    // SAFETY: the caller guarantees `state` is live and unaliased for the call.
    if unsafe { (*state).failed() } {
        return 0;
    }
    // SAFETY: as above; the reference lives only inside the closure.
    let outcome = catch_unwind(AssertUnwindSafe(|| f(unsafe { &mut *state })));
    let error = match outcome {
        Ok(Ok(v)) => return v,
        Ok(Err(e)) => e,
        Err(p) => Error::Decode(format!(
            "panic in the {name} callback: {}",
            panic_message(p.as_ref())
        )),
    };
    // Recording must not unwind either (a panicking Drop of the error, a panicking `fail`).
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as above; the closure's borrow has ended.
        unsafe { (*state).fail(error) }
    }));
    0
}

pub(crate) unsafe extern "C" fn sequence_cb<H: ParserCallbacks>(
    user: *mut c_void,
    format: *mut CUVIDEOFORMAT,
) -> c_int {
    // SAFETY: the parser passes the pUserData it was created with (a live, unaliased `H`);
    // `format` is valid for the call or null.
    unsafe {
        guarded::<H>(user, "sequence", |h| match format.as_ref() {
            Some(f) => h.on_sequence(f),
            None => Err(Error::Decode("sequence callback without a format".into())),
        })
    }
}

pub(crate) unsafe extern "C" fn decode_cb<H: ParserCallbacks>(
    user: *mut c_void,
    pic: *mut CUVIDPICPARAMS,
) -> c_int {
    // SAFETY: as for `sequence_cb`; `pic` is valid and writable for the call or null.
    unsafe {
        guarded::<H>(user, "decode", |h| match pic.as_mut() {
            Some(p) => h.on_decode(p).map(|()| 1),
            None => Err(Error::Decode(
                "decode callback without picture parameters".into(),
            )),
        })
    }
}

pub(crate) unsafe extern "C" fn display_cb<H: ParserCallbacks>(
    user: *mut c_void,
    info: *mut CUVIDPARSERDISPINFO,
) -> c_int {
    // SAFETY: as for `sequence_cb`; `info` is valid for the call, null at end of stream.
    unsafe { guarded::<H>(user, "display", |h| h.on_display(info.as_ref()).map(|()| 1)) }
}

pub(crate) unsafe extern "C" fn operating_point_cb<H: ParserCallbacks>(
    user: *mut c_void,
    info: *mut CUVIDOPERATINGPOINTINFO,
) -> c_int {
    // SAFETY: as for `sequence_cb`.
    unsafe {
        guarded::<H>(user, "operating point", |h| match info.as_ref() {
            Some(i) => h.on_operating_point(i),
            None => Ok(0),
        })
    }
}

pub(crate) unsafe extern "C" fn sei_cb<H: ParserCallbacks>(
    user: *mut c_void,
    info: *mut CUVIDSEIMESSAGEINFO,
) -> c_int {
    // SAFETY: as for `sequence_cb`.
    unsafe {
        guarded::<H>(user, "SEI", |h| match info.as_ref() {
            Some(i) => h.on_sei(i).map(|()| 1),
            None => Ok(1),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Session state

/// Pools of 16 frames each that pictures can be copied into when the parser is about to reuse
/// their surface before they were taken.
const MAX_SPILL_POOLS: usize = 8;

/// The stream geometry and the decoder it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Active {
    pub(crate) coded_width: u32,
    pub(crate) coded_height: u32,
    pub(crate) chroma: ChromaFormat,
    pub(crate) bit_depth: u8,
    pub(crate) format: PixelFormat,
    pub(crate) display: Rect,
    pub(crate) target: (u32, u32),
    pub(crate) progressive: bool,
    pub(crate) surfaces: u32,
    pub(crate) max_size: (u32, u32),
    pub(crate) min_surfaces: u32,
}

impl Active {
    fn same_stream(&self, o: &Active) -> bool {
        self.coded_width == o.coded_width
            && self.coded_height == o.coded_height
            && self.chroma == o.chroma
            && self.bit_depth == o.bit_depth
            && self.format == o.format
            && self.display == o.display
            && self.target == o.target
            && self.progressive == o.progressive
            && o.surfaces <= self.surfaces
    }

    fn can_reconfigure_to(&self, o: &Active) -> bool {
        self.chroma == o.chroma
            && self.bit_depth == o.bit_depth
            && self.format == o.format
            && self.progressive == o.progressive
            && o.coded_width <= self.max_size.0
            && o.coded_height <= self.max_size.1
            && o.surfaces <= self.surfaces
    }
}

/// The stream's geometry as the decoder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamFormat {
    /// Coded width (macroblock-aligned).
    pub coded_width: u32,
    /// Coded height.
    pub coded_height: u32,
    /// Chroma format.
    pub chroma: ChromaFormat,
    /// Luma bit depth.
    pub bit_depth: u8,
    /// Output pixel format of the frames.
    pub output_format: PixelFormat,
    /// The area of the coded picture that is output (display area or crop, made even).
    pub display_area: Rect,
    /// Output frame width.
    pub width: u32,
    /// Output frame height.
    pub height: u32,
    /// Whether the sequence is progressive.
    pub progressive: bool,
    /// Decode surfaces allocated.
    pub decode_surfaces: u32,
    /// Surfaces the stream needs at least (`min_num_decode_surfaces`).
    pub min_decode_surfaces: u32,
}

/// Counters of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecoderStats {
    /// Pictures sent to NVDEC.
    pub decoded: u64,
    /// Pictures the parser displayed.
    pub displayed: u64,
    /// SEI messages seen.
    pub sei_messages: u64,
    /// Times the decoder was reconfigured in place for a new size.
    pub reconfigured: u32,
    /// Times the decoder was created (1 for a stream without changes).
    pub created: u32,
    /// Pictures copied out early because the parser was about to reuse their surface.
    pub spilled: u64,
}

pub(crate) struct Session {
    ctx: Context,
    codec: Codec,
    config: DecoderConfig,
    lock: CUvideoctxlock,
    decoder: CUvideodecoder,
    active: Option<Active>,
    caps: Vec<DecoderCaps>,
    queue: PendingQueue,
    error: Option<Error>,
    error_message: Option<String>,
    stats: DecoderStats,
    own_stream: Option<Stream>,
    done: Option<Event>,
    /// Id of the stream that last used the output surfaces (0: none).
    last_stream: u64,
    /// The tracking of the picture mapped in place (one at a time: a [`MappedFrame`] borrows
    /// the session), reused from picture to picture so that mapping creates no events.
    mapped_access: Access,
    out_pool: Option<FramePool>,
    spill_pools: Vec<FramePool>,
}

impl ParserCallbacks for Session {
    fn on_sequence(&mut self, f: &CUVIDEOFORMAT) -> Result<c_int> {
        self.sequence(f)
    }

    fn on_decode(&mut self, pic: &mut CUVIDPICPARAMS) -> Result<()> {
        if self.decoder.is_null() {
            return Err(Error::Decode(
                "picture data before any sequence header: no decoder".into(),
            ));
        }
        let idx = pic.CurrPicIdx;
        if let Some(pos) = self
            .queue
            .iter()
            .position(|p| matches!(p.source, PendingSource::Surface { index } if index == idx))
        {
            self.spill(pos)?;
        }
        let api = nvdx_sys::cuvid()?;
        // SAFETY: the decoder is live; `pic` is the parser's valid picture description.
        check_nvdec("cuvidDecodePicture", unsafe {
            api.cuvidDecodePicture(self.decoder, pic)
        })?;
        self.stats.decoded += 1;
        Ok(())
    }

    fn on_display(&mut self, info: Option<&CUVIDPARSERDISPINFO>) -> Result<()> {
        let Some(d) = info else { return Ok(()) };
        let Some(a) = self.active else {
            return Err(Error::Decode(
                "picture displayed before any sequence".into(),
            ));
        };
        self.queue.push_back(Pending {
            source: PendingSource::Surface {
                index: d.picture_index,
            },
            meta: FrameMeta {
                pts: d.timestamp,
                timescale: self.config.timescale,
                index: Some(self.stats.displayed),
            },
            format: a.format,
            width: a.target.0,
            height: a.target.1,
            progressive: d.progressive_frame != 0,
            top_field_first: d.top_field_first != 0,
            repeat_first_field: d.repeat_first_field,
        });
        self.stats.displayed += 1;
        Ok(())
    }

    fn on_operating_point(&mut self, info: &CUVIDOPERATINGPOINTINFO) -> Result<c_int> {
        let _ = info;
        // Operating point 0, output only the highest layer.
        Ok(0)
    }

    fn on_sei(&mut self, info: &CUVIDSEIMESSAGEINFO) -> Result<()> {
        self.stats.sei_messages += u64::from(info.sei_message_count);
        Ok(())
    }

    fn failed(&self) -> bool {
        self.error_message.is_some()
    }

    fn fail(&mut self, error: Error) {
        self.error_message = Some(error.to_string());
        self.error = Some(error);
    }
}

impl Session {
    fn caps_for(&mut self, chroma: ChromaFormat, bit_depth: u8) -> Result<DecoderCaps> {
        if let Some(c) = self
            .caps
            .iter()
            .find(|c| c.chroma == chroma && c.bit_depth == bit_depth)
        {
            return Ok(c.clone());
        }
        let c = capabilities(&self.ctx, self.codec, chroma, bit_depth)?;
        self.caps.push(c.clone());
        Ok(c)
    }

    fn sequence(&mut self, f: &CUVIDEOFORMAT) -> Result<c_int> {
        let bit_depth = f.bit_depth_luma_minus8.saturating_add(8);
        let chroma = chroma_from_cuda(f.chroma_format);
        let (cw, ch) = (f.coded_width, f.coded_height);
        let caps = self.caps_for(chroma, bit_depth)?;
        caps.check(cw, ch)?;
        let format = choose_output_format(self.config.output_format, &caps)?;
        let area = match self.config.crop {
            Some(c) => {
                if c.right > cw || c.bottom > ch {
                    return Err(Error::InvalidArgument(format!(
                        "crop rectangle {c:?} exceeds the coded picture {cw}x{ch}"
                    )));
                }
                c
            }
            None => {
                let d = f.display_area;
                let clamp = |v: c_int, max: u32| u32::try_from(v.max(0)).unwrap_or(0).min(max);
                let r = Rect {
                    left: clamp(d.left, cw),
                    top: clamp(d.top, ch),
                    right: clamp(d.right, cw),
                    bottom: clamp(d.bottom, ch),
                };
                if r.width() < 2 || r.height() < 2 {
                    Rect {
                        left: 0,
                        top: 0,
                        right: cw,
                        bottom: ch,
                    }
                } else {
                    r
                }
            }
        };
        let display = even_display_area(area, cw, ch);
        let target = self
            .config
            .resize
            .unwrap_or((display.width(), display.height()));
        let min_surfaces = u32::from(f.min_num_decode_surfaces).max(1);
        let surfaces = (min_surfaces + self.config.extra_decode_surfaces).min(32);
        let max_size = (
            self.config.max_width.max(cw).min(caps.max_width.max(cw)),
            self.config.max_height.max(ch).min(caps.max_height.max(ch)),
        );
        let want = Active {
            coded_width: cw,
            coded_height: ch,
            chroma,
            bit_depth,
            format,
            display,
            target,
            progressive: f.progressive_sequence != 0,
            surfaces,
            max_size,
            min_surfaces,
        };
        let api = nvdx_sys::cuvid()?;
        if !self.decoder.is_null() {
            if let Some(cur) = self.active {
                if cur.same_stream(&want) {
                    return Ok(c_int::try_from(cur.surfaces).unwrap_or(32));
                }
                // Pictures still waiting for display live in the old surfaces: copy them out.
                self.spill_all()?;
                if cur.can_reconfigure_to(&want) {
                    let mut r = CUVIDRECONFIGUREDECODERINFO {
                        ulWidth: cw,
                        ulHeight: ch,
                        ulTargetWidth: target.0,
                        ulTargetHeight: target.1,
                        ulNumDecodeSurfaces: cur.surfaces,
                        ..Default::default()
                    };
                    r.display_area.left = to_i16(display.left)?;
                    r.display_area.top = to_i16(display.top)?;
                    r.display_area.right = to_i16(display.right)?;
                    r.display_area.bottom = to_i16(display.bottom)?;
                    // SAFETY: the decoder is live; `r` is fully initialised.
                    check_nvdec("cuvidReconfigureDecoder", unsafe {
                        api.cuvidReconfigureDecoder(self.decoder, &mut r)
                    })?;
                    self.active = Some(Active {
                        surfaces: cur.surfaces,
                        max_size: cur.max_size,
                        ..want
                    });
                    self.stats.reconfigured += 1;
                    return Ok(c_int::try_from(cur.surfaces).unwrap_or(32));
                }
            }
            self.destroy_decoder();
        }
        let Some(surface) = surface_format(format) else {
            return Err(Error::Unsupported(format!(
                "NVDEC cannot output {format:?}"
            )));
        };
        let mut ci = CUVIDDECODECREATEINFO {
            ulWidth: c_ulong::from(cw),
            ulHeight: c_ulong::from(ch),
            ulNumDecodeSurfaces: c_ulong::from(surfaces),
            CodecType: cuda_codec(self.codec),
            ChromaFormat: cuda_chroma(chroma),
            ulCreationFlags: c_ulong::from(cudaVideoCreateFlags::cudaVideoCreate_PreferCUVID.0),
            bitDepthMinus8: c_ulong::from(bit_depth - 8),
            ulIntraDecodeOnly: 0,
            ulMaxWidth: c_ulong::from(max_size.0),
            ulMaxHeight: c_ulong::from(max_size.1),
            OutputFormat: surface,
            DeinterlaceMode: deinterlace_mode(self.config.deinterlace, want.progressive),
            ulTargetWidth: c_ulong::from(target.0),
            ulTargetHeight: c_ulong::from(target.1),
            ulNumOutputSurfaces: c_ulong::from(self.config.output_surfaces),
            vidLock: self.lock,
            ..Default::default()
        };
        ci.display_area.left = to_i16(display.left)?;
        ci.display_area.top = to_i16(display.top)?;
        ci.display_area.right = to_i16(display.right)?;
        ci.display_area.bottom = to_i16(display.bottom)?;
        let mut dec: CUvideodecoder = std::ptr::null_mut();
        // SAFETY: the context is current (push binds it around cuvidParseVideoData); `ci` is
        // fully initialised and `dec` is a valid out-parameter.
        check_nvdec("cuvidCreateDecoder", unsafe {
            api.cuvidCreateDecoder(&mut dec, &mut ci)
        })?;
        self.decoder = dec;
        self.active = Some(want);
        self.stats.created += 1;
        Ok(c_int::try_from(surfaces).unwrap_or(32))
    }

    fn destroy_decoder(&mut self) {
        if self.decoder.is_null() {
            return;
        }
        if let (Ok(api), Ok(_g)) = (nvdx_sys::cuvid(), self.ctx.bind()) {
            // SAFETY: the decoder is live, owned by this session, destroyed once; no surface
            // of it is mapped (mapped frames borrow the decoder).
            let _ = unsafe { api.cuvidDestroyDecoder(self.decoder) };
        }
        self.decoder = std::ptr::null_mut();
        self.active = None;
    }

    /// Makes `stream` wait for the last use of output surfaces on another stream.
    fn order_after_last(&mut self, stream: &Stream) -> Result<()> {
        if self.last_stream != 0 && self.last_stream != stream.id() {
            if let Some(e) = &self.done {
                stream.wait_event(e)?;
            }
        }
        Ok(())
    }

    /// Records that output surfaces were last used on `stream`.
    fn mark_used(&mut self, stream: &Stream) -> Result<()> {
        if self.done.is_none() {
            self.done = Some(Event::new_sync_only(&self.ctx)?);
        }
        if let Some(e) = &self.done {
            e.record(stream)?;
        }
        self.last_stream = stream.id();
        Ok(())
    }

    /// Maps decode surface `index` on `stream`; returns pointer, pitch and decode status.
    fn map_surface(
        &mut self,
        p: &Pending,
        index: i32,
        stream: &Stream,
    ) -> Result<(CUdeviceptr, usize, DecodeStatus)> {
        if self.decoder.is_null() {
            return Err(Error::InvalidState(
                "no decoder to map a picture from".into(),
            ));
        }
        let api = nvdx_sys::cuvid()?;
        self.order_after_last(stream)?;
        let mut st = CUVIDGETDECODESTATUS::default();
        // SAFETY: the decoder is live; `st` is a valid out-parameter.
        let status = match unsafe { api.cuvidGetDecodeStatus(self.decoder, index, &mut st) } {
            Ok(r) if r == nvdx_sys::cuda::CUresult::CUDA_SUCCESS => {
                DecodeStatus::from_raw(st.decodeStatus)
            }
            _ => DecodeStatus::Unknown,
        };
        let mut vpp = CUVIDPROCPARAMS {
            progressive_frame: c_int::from(p.progressive),
            second_field: p.repeat_first_field + 1,
            top_field_first: c_int::from(p.top_field_first),
            unpaired_field: c_int::from(p.repeat_first_field < 0),
            output_stream: stream.raw(),
            ..Default::default()
        };
        let mut ptr: u64 = 0;
        let mut pitch: u32 = 0;
        // SAFETY: the decoder is live and the context current (callers bind it); all
        // out-parameters are valid.
        check_nvdec("cuvidMapVideoFrame64", unsafe {
            api.cuvidMapVideoFrame64(self.decoder, index, &mut ptr, &mut pitch, &mut vpp)
        })?;
        let pitch = pitch as usize;
        if pitch < p.format.row_bytes(p.width) {
            // SAFETY: `ptr` was just mapped from this decoder.
            let _ = unsafe { api.cuvidUnmapVideoFrame64(self.decoder, ptr) };
            return Err(Error::Decode(format!(
                "NVDEC mapped a surface with pitch {pitch}, narrower than a {:?} row of {} pixels",
                p.format, p.width
            )));
        }
        Ok((ptr, pitch, status))
    }

    fn unmap(&self, ptr: CUdeviceptr) -> Result<()> {
        let api = nvdx_sys::cuvid()?;
        // SAFETY: `ptr` was mapped from this live decoder and is unmapped once.
        check_nvdec("cuvidUnmapVideoFrame64", unsafe {
            api.cuvidUnmapVideoFrame64(self.decoder, ptr)
        })
    }

    /// Copies a mapped surface into `dst` on `stream`, then unmaps it.
    fn copy_out(
        &mut self,
        p: &Pending,
        index: i32,
        dst: &mut Frame,
        stream: &Stream,
    ) -> Result<DecodeStatus> {
        let (ptr, pitch, status) = self.map_surface(p, index, stream)?;
        let (row_bytes, rows) = (dst.layout().row_bytes(), dst.rows());
        let (dst_ptr, dst_pitch) = (dst.device_ptr(), dst.pitch());
        let copied = {
            // Ordered after every pending use of the pool frame (on any stream) and recorded
            // as its last write.
            let _write = dst.write_on(stream)?;
            // SAFETY: the mapped surface holds `rows` rows of `row_bytes` at `pitch` (the
            // target size is the frame size, chroma follows luma at pitch * height, as in nvdx
            // frames); `dst` has the same format and size and is borrowed by `_write` until
            // the copy is recorded; the surface is reused only after `done` (recorded below).
            unsafe { copy_2d_raw(dst_ptr, dst_pitch, ptr, pitch, row_bytes, rows, stream) }
        };
        let marked = self.mark_used(stream);
        let unmapped = self.unmap(ptr);
        copied?;
        marked?;
        unmapped?;
        dst.meta = p.meta;
        Ok(status)
    }

    fn pool(
        slot: &mut Option<FramePool>,
        ctx: &Context,
        format: PixelFormat,
        w: u32,
        h: u32,
        size: usize,
    ) -> Result<FramePool> {
        if let Some(p) = slot {
            if p.format() == format && p.size() == (w, h) && p.capacity() == size {
                return Ok(p.clone());
            }
        }
        let p = FramePool::new(ctx, format, w, h, size, MemoryKind::Device)?;
        *slot = Some(p.clone());
        Ok(p)
    }

    /// Copies the pending picture at `pos` out of its surface into a frame of the spill pool.
    fn spill(&mut self, pos: usize) -> Result<()> {
        let Some(p) = self.queue.get(pos) else {
            return Ok(());
        };
        let PendingSource::Surface { index } = p.source else {
            return Ok(());
        };
        let (format, w, h) = (p.format, p.width, p.height);
        if self.own_stream.is_none() {
            self.own_stream = Some(Stream::new(&self.ctx)?);
        }
        self.spill_pools
            .retain(|p| p.format() == format && p.size() == (w, h));
        let mut frame = match self.spill_pools.iter().find_map(FramePool::try_acquire) {
            Some(f) => f,
            None if self.spill_pools.len() < MAX_SPILL_POOLS => {
                let pool = FramePool::new(&self.ctx, format, w, h, 16, MemoryKind::Device)?;
                let f = pool.try_acquire();
                self.spill_pools.push(pool);
                f.ok_or_else(|| Error::InvalidState("new spill pool is empty".into()))?
            }
            None => {
                return Err(Error::Decode(format!(
                    "more than {} decoded pictures are waiting to be taken: drain frames \
                     (next_owned/map_next) after each push",
                    16 * MAX_SPILL_POOLS
                )))
            }
        };
        let Some(stream) = self.own_stream.take() else {
            return Err(Error::InvalidState("no stream for spilling".into()));
        };
        let meta = self.queue[pos].meta;
        let pending = std::mem::replace(
            &mut self.queue[pos].source,
            PendingSource::Surface { index: -1 },
        );
        let tmp = Pending {
            source: pending,
            meta,
            format,
            width: w,
            height: h,
            progressive: self.queue[pos].progressive,
            top_field_first: self.queue[pos].top_field_first,
            repeat_first_field: self.queue[pos].repeat_first_field,
        };
        let r = self.copy_out(&tmp, index, &mut frame, &stream);
        self.own_stream = Some(stream);
        let status = r?;
        self.queue[pos].source = PendingSource::Spilled { frame, status };
        self.stats.spilled += 1;
        Ok(())
    }

    fn spill_all(&mut self) -> Result<()> {
        for pos in 0..self.queue.len() {
            self.spill(pos)?;
        }
        Ok(())
    }
}

fn to_i16(v: u32) -> Result<i16> {
    i16::try_from(v).map_err(|_| {
        Error::Unsupported(format!(
            "coordinate {v} does not fit NVDEC's 16-bit display area"
        ))
    })
}

// ---------------------------------------------------------------------------------------------
// Public types

/// A decoded picture copied into a pool frame.
#[derive(Debug)]
pub struct DecodedFrame {
    /// The picture; `frame.meta` has its timestamp and display index. The copy into it was
    /// enqueued on the stream given to [`Decoder::next_owned`]: order work after it on that
    /// stream, or synchronise it before reading on the host.
    pub frame: PooledFrame,
    /// NVDEC's verdict on the picture.
    pub status: DecodeStatus,
}

/// A decoded picture read in place from NVDEC's output surface; unmapped on drop.
///
/// It is a [`FrameView`]: pass it to the colour and tensor kernels, to
/// [`Frame::copy_from_async`], to transfers and to the encoder like any frame, on any stream of
/// the decoder's GPU. Its work is tracked like a frame's: users wait for the mapping (made on
/// the stream given to [`Decoder::map_next`]), and when it drops the surface is handed back
/// only after every use enqueued on any stream (the next mapping waits for them on the GPU; no
/// host wait).
pub struct MappedFrame<'a> {
    ptr: CUdeviceptr,
    layout: FrameLayout,
    meta: FrameMeta,
    status: DecodeStatus,
    decoder: CUvideodecoder,
    ctx: &'a Context,
    stream: &'a Stream,
    done: Option<&'a Event>,
    access: &'a Access,
    spilled: Option<PooledFrame>,
    _session: PhantomData<&'a mut Session>,
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
                ptr: self.ptr,
                len: self.layout.byte_len(),
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
        if self.access.order_raw_after_uses(self.stream.raw()).is_err() {
            let _ = self.access.host_wait_uses();
        }
        if let Some(e) = self.done {
            if e.record(self.stream).is_err() {
                let _ = self.stream.synchronize();
            }
        }
        if let Ok(api) = nvdx_sys::cuvid() {
            // SAFETY: `ptr` was mapped from this decoder, which the borrow keeps alive, and is
            // unmapped exactly once.
            let _ = unsafe { api.cuvidUnmapVideoFrame64(self.decoder, self.ptr) };
        }
    }
}

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
        let api = nvdx_sys::cuvid()?;
        let mut lock: CUvideoctxlock = std::ptr::null_mut();
        // SAFETY: valid out-parameter; the context is retained by `ctx` for the session's life
        // (the session holds a clone).
        check_nvdec("cuvidCtxLockCreate", unsafe {
            api.cuvidCtxLockCreate(&mut lock, ctx.raw())
        })?;
        let session = Box::new(Session {
            ctx: ctx.clone(),
            codec,
            config,
            lock,
            decoder: std::ptr::null_mut(),
            active: None,
            caps: vec![c8],
            queue: PendingQueue::with_capacity(32),
            error: None,
            error_message: None,
            stats: DecoderStats::default(),
            own_stream: None,
            done: None,
            last_stream: 0,
            mapped_access: Access::new(),
            out_pool: None,
            spill_pools: Vec::new(),
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
        let api = nvdx_sys::cuvid()?;
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
        let mut parser: CUvideoparser = std::ptr::null_mut();
        // SAFETY: `p` is fully initialised; pUserData points to the leaked session that
        // outlives the parser (destroyed first in Drop/reset).
        check_nvdec("cuvidCreateVideoParser", unsafe {
            api.cuvidCreateVideoParser(&mut parser, &mut p)
        })?;
        Ok(parser)
    }

    fn destroy_parser(&mut self) {
        if self.parser.is_null() {
            return;
        }
        if let Ok(api) = nvdx_sys::cuvid() {
            let ctx = self.state().ctx.clone();
            let _g = ctx.bind();
            // SAFETY: the parser is live, owned by this session and destroyed once.
            let _ = unsafe { api.cuvidDestroyVideoParser(self.parser) };
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
        let api = nvdx_sys::cuvid()?;
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
        let ctx = self.state().ctx.clone();
        let _g = ctx.bind()?;
        // SAFETY: the parser is live; `pkt` points to `data`, valid for the call; the callbacks
        // reach the session through the raw pointer while no reference to it is held here.
        let r = unsafe { api.cuvidParseVideoData(self.parser, &mut pkt) };
        if let Some(e) = self.take_error() {
            return Err(e);
        }
        check_nvdec("cuvidParseVideoData", r)
    }

    /// Feeds compressed data: a packet (one picture) or any chunk of an elementary stream.
    /// `pts` is carried to the frame displayed from it. Take the decoded frames
    /// ([`Decoder::next_owned`] / [`Decoder::map_next`]) after each push.
    ///
    /// After a failure in a parser callback (unsupported stream, decode error) this and every
    /// later push return the error until [`Decoder::reset`].
    pub fn push(&mut self, data: &[u8], pts: Option<i64>) -> Result<()> {
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
        self.parse(data, flags, pts.unwrap_or(0))?;
        self.discontinuity = false;
        Ok(())
    }

    /// End of stream: the parser decodes and displays every picture it still holds.
    pub fn flush(&mut self) -> Result<()> {
        self.parse(&[], CUvideopacketflags::CUVID_PKT_ENDOFSTREAM.0, 0)
    }

    /// Drops every queued picture and the parser state, clears a stored error and marks the
    /// next packet as a discontinuity: what a seek needs, and how a session recovers from
    /// corrupt input. The NVDEC decoder is kept when the next stream has the same format.
    pub fn reset(&mut self) -> Result<()> {
        self.destroy_parser();
        {
            let s = self.state_mut();
            s.queue.clear();
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
            display_area: a.display,
            width: a.target.0,
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
        let s = self.state_mut();
        let Some(p) = s.queue.pop_front() else {
            return Ok(None);
        };
        let ctx = s.ctx.clone();
        let _g = ctx.bind()?;
        match p.source {
            PendingSource::Spilled { frame, status } => {
                // The spill copy is the frame's tracked last write: its users wait for it.
                let _ = stream;
                Ok(Some(DecodedFrame { frame, status }))
            }
            PendingSource::Surface { index } => {
                let pool = Session::pool(
                    &mut s.out_pool,
                    &ctx,
                    p.format,
                    p.width,
                    p.height,
                    s.config.pool_size,
                )?;
                let mut frame = match pool.acquire_timeout(s.config.pool_timeout) {
                    Ok(f) => f,
                    Err(e) => {
                        s.queue.push_front(p);
                        return Err(e);
                    }
                };
                let status = s.copy_out(&p, index, &mut frame, stream)?;
                Ok(Some(DecodedFrame { frame, status }))
            }
        }
    }

    /// Maps the next picture in place (zero-copy) on `stream`; it is unmapped when the
    /// returned frame drops. Pictures that had to be copied out early come back the same
    /// way, pointing into their copy.
    pub fn map_next<'a>(&'a mut self, stream: &'a Stream) -> Result<Option<MappedFrame<'a>>> {
        // SAFETY: `&'a mut self` makes this the only reference to the session for 'a.
        let s: &'a mut Session = unsafe { self.state.as_mut() };
        let Some(p) = s.queue.pop_front() else {
            return Ok(None);
        };
        let ctx = s.ctx.clone();
        let _g = ctx.bind()?;
        match p.source {
            PendingSource::Spilled { frame, status } => {
                let layout = *frame.layout();
                Ok(Some(MappedFrame {
                    ptr: frame.device_ptr(),
                    layout,
                    meta: p.meta,
                    status,
                    decoder: std::ptr::null_mut(),
                    ctx: &s.ctx,
                    stream,
                    done: None,
                    access: &s.mapped_access,
                    spilled: Some(frame),
                    _session: PhantomData,
                }))
            }
            PendingSource::Surface { index } => {
                let (ptr, pitch, status) = s.map_surface(&p, index, stream)?;
                let layout = match FrameLayout::new(p.format, p.width, p.height, pitch) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = s.unmap(ptr);
                        return Err(e);
                    }
                };
                if s.done.is_none() {
                    s.done = Some(Event::new_sync_only(&s.ctx)?);
                }
                s.last_stream = stream.id();
                // The mapping's post-processing ran on `stream`: it is the picture's write.
                if let Err(e) = s.mapped_access.reset_written_on(stream.tracking_ref()) {
                    let _ = s.unmap(ptr);
                    return Err(e);
                }
                Ok(Some(MappedFrame {
                    ptr,
                    layout,
                    meta: p.meta,
                    status,
                    decoder: s.decoder,
                    ctx: &s.ctx,
                    stream,
                    done: s.done.as_ref(),
                    access: &s.mapped_access,
                    spilled: None,
                    _session: PhantomData,
                }))
            }
        }
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
            if let Ok(api) = nvdx_sys::cuvid() {
                // SAFETY: the lock was created in `new`, and the decoder using it is gone.
                let _ = unsafe { api.cuvidCtxLockDestroy(session.lock) };
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Fakes for CPU tests of the trampolines.
    use super::*;

    /// A callback state whose handlers can be told to fail or panic.
    #[derive(Default)]
    pub(crate) struct Fake {
        pub(crate) panic_in_sequence: bool,
        pub(crate) fail_in_decode: bool,
        pub(crate) error: Option<Error>,
        pub(crate) sequences: u32,
        pub(crate) displays: u32,
    }

    impl ParserCallbacks for Fake {
        fn on_sequence(&mut self, _f: &CUVIDEOFORMAT) -> Result<c_int> {
            self.sequences += 1;
            if self.panic_in_sequence {
                panic!("boom in sequence");
            }
            Ok(5)
        }
        fn on_decode(&mut self, _p: &mut CUVIDPICPARAMS) -> Result<()> {
            if self.fail_in_decode {
                return Err(Error::InvalidData("bad slice".into()));
            }
            Ok(())
        }
        fn on_display(&mut self, info: Option<&CUVIDPARSERDISPINFO>) -> Result<()> {
            if info.is_some() {
                self.displays += 1;
            }
            Ok(())
        }
        fn on_operating_point(&mut self, _i: &CUVIDOPERATINGPOINTINFO) -> Result<c_int> {
            Ok(0)
        }
        fn on_sei(&mut self, _i: &CUVIDSEIMESSAGEINFO) -> Result<()> {
            Ok(())
        }
        fn failed(&self) -> bool {
            self.error.is_some()
        }
        fn fail(&mut self, error: Error) {
            self.error = Some(error);
        }
    }
}
