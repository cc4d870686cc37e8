//! The session state behind the parser callbacks: the active stream geometry, the NVDEC
//! decoder, the display queue and the spill pools.

use std::ffi::{c_int, c_ulong};
use std::sync::Arc;

use nvdx_sys::cuda::CUdeviceptr;
use nvdx_sys::cuvid::{
    cudaVideoCreateFlags, CUvideoctxlock, CUvideodecoder, CUVIDDECODECREATEINFO, CUVIDEOFORMAT,
    CUVIDOPERATINGPOINTINFO, CUVIDPARSERDISPINFO, CUVIDPICPARAMS, CUVIDPROCPARAMS,
    CUVIDRECONFIGUREDECODERINFO, CUVIDSEIMESSAGEINFO,
};

use super::callbacks::ParserCallbacks;
use super::timing::{StageTimes, Timer};
use crate::access::Access;
use crate::codec::{ChromaFormat, Codec};
use crate::context::{Context, RawBinding};
use crate::cuvid;
use crate::decode::{
    capabilities, choose_output_format, chroma_from_cuda, cuda_chroma, cuda_codec,
    deinterlace_mode, even_display_area, nominal_frame_ticks, surface_format, DecodeStatus,
    DecoderCaps, DecoderConfig, Deinterlace, Field, Pending, PendingQueue, PendingSource, Rect,
};
use crate::error::{Error, Result};
use crate::frame::{Frame, FrameMeta, FramePool, FrameView, PixelFormat};
use crate::memory::{copy_2d_raw_current, MemoryKind};
use crate::stream::{Event, Stream, StreamInner};

/// Pools of 16 frames each that pictures can be copied into when the parser is about to reuse
/// their surface before they were taken.
pub(super) const MAX_SPILL_POOLS: usize = 8;

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
    /// NVDEC crops from a column that is a multiple of 8 (measured on the H200: a display area
    /// starting at column 26 comes out from column 24), so the display area starts up to 7
    /// (even) columns left of the picture and the output skips them: `target.0` includes
    /// them, frames are `target.0 - x_shift` wide. 0 when resizing.
    pub(crate) x_shift: u32,
    pub(crate) progressive: bool,
    pub(crate) surfaces: u32,
    pub(crate) max_size: (u32, u32),
    pub(crate) min_surfaces: u32,
}

impl Active {
    pub(super) fn same_stream(&self, o: &Active) -> bool {
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

    pub(super) fn can_reconfigure_to(&self, o: &Active) -> bool {
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
    /// Second fields output as frames of their own ([`Deinterlace::Bob`]: frames output are
    /// `displayed + second_fields`).
    pub second_fields: u64,
    /// Where the session's time went, by stage (see [`StageTimes`]): call counts always, times
    /// with [`crate::decode::DecoderConfig::stage_timing`] on.
    pub timing: StageTimes,
}

/// The displayed area an SPS declares: its top-left corner and size, in luma samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpsCrop {
    pub(crate) left: u32,
    pub(crate) top: u32,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

/// How far into a pushed chunk nvdx looks for an SPS: access units start with their
/// parameter sets (after an AUD or SEI at most), so the scan stays off the slice data.
pub(crate) const SPS_SCAN_BYTES: usize = 1024;

/// The cropping of the first SPS in the first [`SPS_SCAN_BYTES`] of `data` (Annex B), if any.
pub(crate) fn scan_sps_crop(codec: Codec, data: &[u8]) -> Option<SpsCrop> {
    if !matches!(codec, Codec::H264 | Codec::Hevc) {
        return None;
    }
    let head = &data[..data.len().min(SPS_SCAN_BYTES)];
    let sps = crate::demux::split_annexb(head).find(|n| crate::demux::annexb::is_sps(codec, n))?;
    let info = crate::demux::parse_sps(codec, sps).ok()?;
    Some(SpsCrop {
        left: info.crop_left,
        top: info.crop_top,
        width: info.width,
        height: info.height,
    })
}

/// The last mapping of one MJPEG decode surface. NVDEC writes a surface when
/// `cuvidDecodePicture` runs, outside every CUDA stream, while what reads a mapping (the copies
/// and kernels after it) runs in stream order. For H.264, HEVC, VP9 and MPEG-2 the driver
/// orders a decode after the reads of the surface's last mapping (the GPU test
/// `lifetime::surfaces_are_not_decoded_over_under_their_queued_reads` passes without any
/// wait); for MJPEG it does not (the same test, and the VideoReader seek test, failed under the
/// parallel suite on an H200 with mappings already ordered through the legacy stream). So an
/// MJPEG picture decoded into a surface again first waits, on the host, for that work: a
/// wait that returns at once unless the map stream runs a whole surface ring behind, or a
/// seek restarts on the first surfaces. Other codecs keep no release events.
#[derive(Debug, Default)]
pub(super) struct SurfaceUse {
    /// Recorded on the map stream after the mapping's last use (made at the first mapping).
    pub(super) released: Option<Event>,
    /// Mapped since the last wait: `released` is, or will be when the mapping drops, recorded.
    pub(super) pending: bool,
}

pub(crate) struct Session {
    pub(super) ctx: Context,
    pub(super) codec: Codec,
    /// The cropping of the last H.264/HEVC SPS pushed (see [`SpsCrop`]).
    pub(super) sps_crop: Option<SpsCrop>,
    pub(super) config: DecoderConfig,
    pub(super) lock: CUvideoctxlock,
    pub(super) decoder: CUvideodecoder,
    pub(super) active: Option<Active>,
    pub(super) caps: Vec<DecoderCaps>,
    pub(super) queue: PendingQueue,
    pub(super) error: Option<Error>,
    pub(super) error_message: Option<String>,
    pub(super) stats: DecoderStats,
    pub(super) own_stream: Option<Stream>,
    pub(super) done: Option<Event>,
    /// The latest use of the output surfaces when it ran on an owned stream and `done` was not
    /// recorded for it yet (lazy, as [`crate::access`]'s pending marks; the share keeps the
    /// stream alive): `done` is recorded on it only when something needs it (a use on another
    /// stream, an MJPEG legacy-stream map, a teardown or reconfiguration), see
    /// [`Session::settle_done`]. Always the stream of `last_stream` when set. A recording made
    /// late only covers more of the stream's work: it can over-wait, never miss. So a decoder
    /// that copies every picture out on one stream records one event a picture (the frame's
    /// write), not two.
    pub(super) done_owed: Option<Arc<StreamInner>>,
    /// MJPEG only: the context's legacy default stream, borrowed, and an event recorded on it
    /// after each mapping (see [`Session::map_surface`]); made on the first MJPEG mapping.
    pub(super) legacy_map: Option<(Stream, Event)>,
    /// Id of the stream that last used the output surfaces (0: none).
    pub(super) last_stream: u64,
    /// The tracking of the picture mapped in place (one at a time: a [`super::MappedFrame`]
    /// borrows the session), reused from picture to picture so that mapping creates no events.
    pub(super) mapped_access: Access,
    /// The last mapping of each decode surface, by picture index (see [`SurfaceUse`]).
    pub(super) surface_uses: Vec<SurfaceUse>,
    pub(super) out_pool: Option<FramePool>,
    pub(super) spill_pools: Vec<FramePool>,
    /// The sequence's nominal frame rate (numerator, denominator), when the parser states one:
    /// the frame duration that places a second field ([`crate::decode::Deinterlace::Bob`]).
    pub(super) frame_rate: Option<(u32, u32)>,
    /// The timestamp of the last picture displayed, and the distance to the one before it (0:
    /// not known yet): the frame duration when the sequence states no rate.
    pub(super) last_display: Option<(i64, i64)>,
}

impl ParserCallbacks for Session {
    fn on_sequence(&mut self, f: &CUVIDEOFORMAT) -> Result<c_int> {
        let t = Timer::start(self.config.stage_timing);
        let r = self.sequence(f);
        t.stop(&mut self.stats.timing.sequence);
        r
    }

    fn on_decode(&mut self, pic: &mut CUVIDPICPARAMS) -> Result<()> {
        let t = Timer::start(self.config.stage_timing);
        let r = self.decode(pic);
        t.stop(&mut self.stats.timing.callbacks);
        r
    }

    fn on_display(&mut self, info: Option<&CUVIDPARSERDISPINFO>) -> Result<()> {
        let t = Timer::start(self.config.stage_timing);
        let r = self.display(info);
        t.stop(&mut self.stats.timing.callbacks);
        r
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
    fn decode(&mut self, pic: &mut CUVIDPICPARAMS) -> Result<()> {
        if self.decoder.is_null() {
            return Err(Error::Decode(
                "picture data before any sequence header: no decoder".into(),
            ));
        }
        let idx = pic.CurrPicIdx;
        // Every entry of the surface (both fields of a bobbed picture).
        while let Some(pos) = self
            .queue
            .iter()
            .position(|p| matches!(p.source, PendingSource::Surface { index } if index == idx))
        {
            self.spill(pos)?;
        }
        self.wait_surface_released(idx)?;
        let t = Timer::start(self.config.stage_timing);
        // SAFETY: the decoder is live; `pic` is the parser's valid picture description; no
        // queued GPU work reads surface `idx` any more (waited for above).
        let r = unsafe { cuvid::decode_picture(self.decoder, pic) };
        t.stop(&mut self.stats.timing.decode_picture);
        r?;
        self.stats.decoded += 1;
        Ok(())
    }

    fn display(&mut self, info: Option<&CUVIDPARSERDISPINFO>) -> Result<()> {
        let Some(d) = info else { return Ok(()) };
        let Some(a) = self.active else {
            return Err(Error::Decode(
                "picture displayed before any sequence".into(),
            ));
        };
        let progressive = d.progressive_frame != 0;
        // Bob: an interlaced picture of an interlaced sequence (the decoder bobs only those,
        // see `deinterlace_mode`) with both its fields is two frames.
        let fields = !progressive
            && !a.progressive
            && d.repeat_first_field >= 0
            && self.config.deinterlace == Deinterlace::Bob;
        let frame_ticks = self.frame_ticks(d.timestamp);
        let mut p = Pending {
            source: PendingSource::Surface {
                index: d.picture_index,
            },
            meta: FrameMeta {
                pts: d.timestamp,
                timescale: self.config.timescale,
                index: Some(self.stats.displayed + self.stats.second_fields),
            },
            format: a.format,
            width: a.target.0 - a.x_shift,
            height: a.target.1,
            x_shift: a.x_shift,
            progressive,
            top_field_first: d.top_field_first != 0,
            repeat_first_field: d.repeat_first_field,
            field: if fields { Field::First } else { Field::Frame },
        };
        self.stats.displayed += 1;
        if fields {
            // The queue's capacity covers two entries a picture: no allocation per frame.
            self.queue.push_back(Pending {
                source: PendingSource::Surface {
                    index: d.picture_index,
                },
                ..p
            });
            p.field = Field::Second;
            p.meta.pts = d.timestamp.saturating_add(frame_ticks / 2);
            p.meta.index = p.meta.index.map(|i| i + 1);
            self.stats.second_fields += 1;
        }
        self.queue.push_back(p);
        Ok(())
    }

    /// Makes the session's context current on this thread until the binding is given to
    /// [`Session::unbind`] (or dropped), timing the push.
    pub(super) fn bind(&mut self) -> Result<RawBinding> {
        let t = Timer::start(self.config.stage_timing);
        // SAFETY: `self.ctx` keeps the context retained for the session's life, and every
        // binding is dropped within the call that made it (none is stored).
        let g = unsafe { RawBinding::push(self.ctx.raw()) };
        t.stop(&mut self.stats.timing.ctx);
        g
    }

    /// Pops a binding of [`Session::bind`], timing the pop.
    pub(super) fn unbind(&mut self, g: RawBinding) {
        let t = Timer::start(self.config.stage_timing);
        drop(g);
        t.stop(&mut self.stats.timing.ctx);
    }

    /// The timing counters.
    pub(super) fn timing(&mut self) -> &mut StageTimes {
        &mut self.stats.timing
    }

    pub(super) fn caps_for(&mut self, chroma: ChromaFormat, bit_depth: u8) -> Result<DecoderCaps> {
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

    pub(super) fn sequence(&mut self, f: &CUVIDEOFORMAT) -> Result<c_int> {
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
                let mut r = Rect {
                    left: clamp(d.left, cw),
                    top: clamp(d.top, ch),
                    right: clamp(d.right, cw),
                    bottom: clamp(d.bottom, ch),
                };
                // NVIDIA's parser reports the crop's right and bottom edges but leaves left and
                // top at 0 (PyNvVideoCodec and FFmpeg's cuvid therefore show the top-left
                // corner of the coded picture). nvdx reads them from the SPS it saw last.
                if let Some(c) = self.sps_crop {
                    if r.left == 0
                        && r.top == 0
                        && (c.left > 0 || c.top > 0)
                        && r.right == c.left + c.width
                        && r.bottom == c.top + c.height
                    {
                        r.left = c.left;
                        r.top = c.top;
                    }
                }
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
        let mut display = even_display_area(area, cw, ch);
        let x_shift = if self.config.resize.is_none() {
            display.left % 8
        } else {
            0
        };
        display.left -= x_shift;
        let target = self
            .config
            .resize
            .unwrap_or((display.width(), display.height()));
        self.frame_rate = Some((f.frame_rate.numerator, f.frame_rate.denominator))
            .filter(|&(n, d)| n > 0 && d > 0);
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
            x_shift,
            progressive: f.progressive_sequence != 0,
            surfaces,
            max_size,
            min_surfaces,
        };
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
                    // The old surfaces are reallocated: their queued readers finish first.
                    self.wait_for_surface_users();
                    // SAFETY: the decoder is live and owned by this session; `r` is fully
                    // initialised; no surface is mapped (mapped frames borrow the decoder).
                    unsafe { cuvid::reconfigure_decoder(self.decoder, &mut r) }?;
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
        // SAFETY: the context is current (push binds it around cuvidParseVideoData); `ci` is
        // fully initialised and its lock lives as long as the session.
        let dec = unsafe { cuvid::create_decoder(&mut ci) }?;
        self.decoder = dec;
        self.active = Some(want);
        self.stats.created += 1;
        Ok(c_int::try_from(surfaces).unwrap_or(32))
    }

    /// The duration of the picture displayed at `pts`, in [`DecoderConfig::timescale`] ticks:
    /// from the sequence's frame rate when both are known, else the distance between the last
    /// two pictures displayed (0 before there were two).
    pub(super) fn frame_ticks(&mut self, pts: i64) -> i64 {
        let measured = match self.last_display {
            Some((last, _)) if pts > last => pts - last,
            Some((_, d)) => d,
            None => 0,
        };
        self.last_display = Some((pts, measured));
        nominal_frame_ticks(self.frame_rate, self.config.timescale).unwrap_or(measured)
    }

    pub(super) fn destroy_decoder(&mut self) {
        if self.decoder.is_null() {
            return;
        }
        // A share of the context, bound while `self` settles `done` (teardown only).
        let ctx = self.ctx.clone();
        if let (true, Ok(_g)) = (nvdx_sys::cuvid().is_ok(), ctx.bind()) {
            // GPU work may still read the output surfaces (copies and kernels queued after the
            // last mappings, ordered only through `done`): let it finish before the surfaces
            // go. Teardown and reconfiguration only, never per picture.
            self.wait_for_surface_users();
            // SAFETY: the decoder is live, owned by this session, destroyed once; no surface
            // of it is mapped (mapped frames borrow the decoder), and no queued work reads its
            // surfaces any more (waited for above).
            let _ = unsafe { cuvid::destroy_decoder(self.decoder) };
        }
        self.decoder = std::ptr::null_mut();
        self.active = None;
    }

    /// Blocks until the work that read output surfaces (recorded in `done`) has finished.
    pub(super) fn wait_for_surface_users(&mut self) {
        if self.settle_done().is_err() {
            let _ = self.ctx.synchronize();
            return;
        }
        if let Some(e) = &self.done {
            if e.synchronize().is_err() {
                let _ = self.ctx.synchronize();
            }
        }
    }

    /// Makes `stream` wait for the last use of output surfaces on another stream.
    pub(super) fn order_after_last(&mut self, stream: &Stream) -> Result<()> {
        if self.last_stream != 0 && self.last_stream != stream.id() {
            self.settle_done()?;
            if let Some(e) = &self.done {
                let t = Timer::start(self.config.stage_timing);
                let r = stream.wait_event(e);
                t.stop(&mut self.stats.timing.events);
                r?;
            }
        }
        Ok(())
    }

    /// Records that output surfaces were last used on `stream`: at once on a borrowed or
    /// internal stream, lazily (see `done_owed`) on a stream nvdx owns.
    pub(super) fn mark_used(&mut self, stream: &Stream) -> Result<()> {
        let t = Timer::start(self.config.stage_timing);
        if self.done.is_none() {
            self.done = Some(Event::new_sync_only(&self.ctx)?);
        }
        let r = match stream.tracking_ref().keep {
            Some(keep) => {
                if self.done_owed.as_ref().map(|s| s.id) != Some(keep.id) {
                    self.done_owed = Some(keep.clone());
                }
                Ok(())
            }
            None => {
                // Any owed use was on `last_stream`; a different stream now uses the surfaces
                // after it (`order_after_last` settled it), the same one covers it.
                self.done_owed = None;
                match &self.done {
                    Some(e) => e.record(stream),
                    None => Ok(()),
                }
            }
        };
        t.stop(&mut self.stats.timing.events);
        r?;
        self.last_stream = stream.id();
        Ok(())
    }

    /// Records `done` on the stream of the latest use of the output surfaces if that was left
    /// owed (see `done_owed`), so that `done` covers every use so far.
    pub(super) fn settle_done(&mut self) -> Result<()> {
        let Some(keep) = self.done_owed.take() else {
            return Ok(());
        };
        if self.done.is_none() {
            self.done = Some(Event::new_sync_only(&self.ctx)?);
        }
        let Some(e) = &self.done else { return Ok(()) };
        let t = Timer::start(self.config.stage_timing);
        let r = (|| {
            let _g = keep.ctx.bind()?;
            e.record_raw(keep.raw)
        })();
        t.stop(&mut self.stats.timing.events);
        if r.is_err() {
            // Unordered otherwise: let the use finish before anyone reuses the surfaces.
            let _g = keep.ctx.bind()?;
            crate::cu::stream_synchronize(keep.raw)?;
        }
        r
    }

    /// Notes that decode surface `index` is being mapped (its release event made at its first
    /// mapping); returns the position of its [`SurfaceUse`].
    pub(super) fn surface_mapped(&mut self, index: i32) -> Result<usize> {
        if self.codec != Codec::Mjpeg {
            // No position: no release event, nothing to wait for (see `SurfaceUse`).
            return Ok(usize::MAX);
        }
        let i = usize::try_from(index)
            .map_err(|_| Error::Decode(format!("NVDEC gave the picture index {index}")))?;
        if self.surface_uses.len() <= i {
            self.surface_uses.resize_with(i + 1, SurfaceUse::default);
        }
        let u = &mut self.surface_uses[i];
        if u.released.is_none() {
            u.released = Some(Event::new_blocking(&self.ctx)?);
        }
        u.pending = true;
        Ok(i)
    }

    /// Records on `stream` the release of surface `index`'s mapping (after the copy out of it).
    fn record_surface_release(&mut self, index: i32, stream: &Stream) -> Result<()> {
        let i = self.surface_mapped(index)?;
        if let Some(e) = self.surface_uses.get(i).and_then(|u| u.released.as_ref()) {
            if let Err(err) = e.record(stream) {
                // Unordered otherwise: the surface must not be decoded over under the copy.
                stream.synchronize()?;
                return Err(err);
            }
        }
        Ok(())
    }

    /// Blocks until the GPU work that reads the last mapping of surface `index` has finished,
    /// before NVDEC decodes into it again. The surface was mapped at least a picture ago (most
    /// often as many pictures ago as there are surfaces): the wait returns at once unless the
    /// map stream runs that far behind the decoder.
    fn wait_surface_released(&mut self, index: i32) -> Result<()> {
        let Some(u) = usize::try_from(index)
            .ok()
            .and_then(|i| self.surface_uses.get_mut(i))
        else {
            return Ok(());
        };
        if !u.pending {
            return Ok(());
        }
        let t = Timer::start(self.config.stage_timing);
        let r = match &u.released {
            Some(e) => e.synchronize(),
            None => Ok(()),
        };
        u.pending = false;
        t.stop(&mut self.stats.timing.events);
        if r.is_err() {
            self.ctx.synchronize()?;
        }
        Ok(())
    }

    /// Maps decode surface `index` on `stream`; returns pointer, pitch and decode status.
    pub(super) fn map_surface(
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
        nvdx_sys::cuvid()?;
        self.order_after_last(stream)?;
        let t = Timer::start(self.config.stage_timing);
        // SAFETY: the decoder is live (checked non-null above, owned by this session).
        let status = match unsafe { cuvid::get_decode_status(self.decoder, index) } {
            Ok(st) => DecodeStatus::from_raw(st.decodeStatus),
            Err(_) => DecodeStatus::Unknown,
        };
        t.stop(&mut self.stats.timing.decode_status);
        // A picture output whole: as NVIDIA's NvDecoder sample maps it. A bobbed field: its
        // own mapping, `second_field` 0 then 1 (as NVIDIA's cudaDecodeGL sample).
        let (second_field, unpaired) = match p.field {
            Field::Frame => (p.repeat_first_field + 1, p.repeat_first_field < 0),
            Field::First => (0, false),
            Field::Second => (1, false),
        };
        let mut vpp = CUVIDPROCPARAMS {
            progressive_frame: c_int::from(p.progressive),
            second_field,
            top_field_first: c_int::from(p.top_field_first),
            unpaired_field: c_int::from(unpaired),
            output_stream: stream.raw(),
            ..Default::default()
        };
        // MJPEG: NVDEC's picture is not ordered before later work on a non-blocking output
        // stream. On an H200 under memsets on another stream, every copy out of a picture
        // mapped on an nvdx stream read the surface before NVDEC wrote it (360 of 360 in
        // `single_picture_decodes_under_gpu_load_match_the_sequential_decode`), and none mapped
        // on the legacy default stream. So MJPEG maps on the legacy stream, and `stream` waits
        // for an event recorded there after the mapping (no host wait).
        let via_legacy = self.codec == Codec::Mjpeg && !crate::stream::is_legacy(stream.raw());
        if via_legacy {
            vpp.output_stream = std::ptr::null_mut();
            let t = Timer::start(self.config.stage_timing);
            let ordered = self.order_legacy_map(stream, false);
            t.stop(&mut self.stats.timing.events);
            ordered?;
        }
        let t = Timer::start(self.config.stage_timing);
        // SAFETY: the decoder is live and the context current (callers bind it).
        let mapped = unsafe { cuvid::map_video_frame(self.decoder, index, &mut vpp) };
        t.stop(&mut self.stats.timing.map);
        let (ptr, pitch) = mapped?;
        if via_legacy {
            let t = Timer::start(self.config.stage_timing);
            let ordered = self.order_legacy_map(stream, true);
            t.stop(&mut self.stats.timing.events);
            if let Err(e) = ordered {
                // SAFETY: `ptr` was just mapped from this decoder, and is not used after this.
                let _ = unsafe { cuvid::unmap_video_frame(self.decoder, ptr) };
                return Err(e);
            }
        }
        let pitch = pitch as usize;
        if pitch < p.format.row_bytes(p.width) + p.shift_bytes() as usize {
            // SAFETY: `ptr` was just mapped from this decoder, and is not used after this.
            let _ = unsafe { cuvid::unmap_video_frame(self.decoder, ptr) };
            return Err(Error::Decode(format!(
                "NVDEC mapped a surface with pitch {pitch}, narrower than a {:?} row of {} pixels",
                p.format, p.width
            )));
        }
        Ok((ptr, pitch, status))
    }

    /// Orders an MJPEG mapping on the legacy default stream (see [`Session::map_surface`]):
    /// before it (`after_map` false), the legacy stream waits for the last use of the output
    /// surfaces (`done`); after it, `stream` waits for an event recorded on the legacy stream.
    fn order_legacy_map(&mut self, stream: &Stream, after_map: bool) -> Result<()> {
        if self.legacy_map.is_none() {
            // SAFETY: the legacy default stream (null) of the session's context: it lives as
            // long as the context, which the borrowed stream keeps.
            let legacy = unsafe { Stream::from_raw_borrowed(&self.ctx, std::ptr::null_mut()) }?;
            self.legacy_map = Some((legacy, Event::new_sync_only(&self.ctx)?));
        }
        let Some((legacy, mapped)) = &self.legacy_map else {
            return Err(Error::InvalidState("no legacy stream to map on".into()));
        };
        if after_map {
            mapped.record(legacy)?;
            stream.wait_event(mapped)
        } else {
            self.settle_done()?;
            let Some((legacy, _)) = &self.legacy_map else {
                return Err(Error::InvalidState("no legacy stream to map on".into()));
            };
            match &self.done {
                Some(done) => legacy.wait_event(done),
                None => Ok(()),
            }
        }
    }

    pub(super) fn unmap(&mut self, ptr: CUdeviceptr) -> Result<()> {
        let t = Timer::start(self.config.stage_timing);
        // SAFETY: `ptr` was mapped from this live decoder and is unmapped once.
        let r = unsafe { cuvid::unmap_video_frame(self.decoder, ptr) };
        t.stop(&mut self.stats.timing.unmap);
        r
    }

    /// Copies a mapped surface into `dst` on `stream`, then unmaps it. The session's context
    /// is current (callers bind it).
    pub(super) fn copy_out(
        &mut self,
        p: &Pending,
        index: i32,
        dst: &mut Frame,
        stream: &Stream,
    ) -> Result<DecodeStatus> {
        let (ptr, pitch, status) = self.map_surface(p, index, stream)?;
        let (row_bytes, rows) = (dst.layout().row_bytes(), dst.rows());
        let (dst_ptr, dst_pitch) = (dst.device_ptr(), dst.pitch());
        let copied = (|| {
            // Ordered after every pending use of the pool frame (on any stream) and recorded
            // as its last write.
            let t = Timer::start(self.config.stage_timing);
            let write = dst.write_on(stream);
            t.stop(&mut self.stats.timing.tracking);
            let write = write?;
            let t = Timer::start(self.config.stage_timing);
            // SAFETY: the mapped surface holds `rows` rows of `row_bytes` at `pitch` (the
            // target size is the frame size, chroma follows luma at pitch * height, as in nvdx
            // frames); `dst` has the same format and size and is borrowed by `write` until
            // the copy is recorded; the output surface is reused only after `done` and the decode surface only after
            // its release (both recorded below).
            // The picture starts `shift_bytes` into each row (see `Active::x_shift`); the
            // pitch check in `map_surface` covers row_bytes + shift. The context is current
            // (the callers bind it).
            let r = unsafe {
                copy_2d_raw_current(
                    dst_ptr,
                    dst_pitch,
                    ptr + p.shift_bytes(),
                    pitch,
                    row_bytes,
                    rows,
                    stream,
                )
            };
            t.stop(&mut self.stats.timing.copy);
            let t = Timer::start(self.config.stage_timing);
            drop(write);
            t.stop(&mut self.stats.timing.tracking);
            r
        })();
        let marked = self.mark_used(stream);
        let released = self.record_surface_release(index, stream);
        let unmapped = self.unmap(ptr);
        copied?;
        marked?;
        released?;
        unmapped?;
        dst.meta = p.meta;
        Ok(status)
    }

    /// The output pool for frames of `format` and `w` x `h`, made anew when the stream's
    /// format changed; borrowed, so that taking a frame clones no handle.
    pub(super) fn pool<'s>(
        slot: &'s mut Option<FramePool>,
        ctx: &Context,
        format: PixelFormat,
        w: u32,
        h: u32,
        size: usize,
    ) -> Result<&'s FramePool> {
        let fits = slot
            .as_ref()
            .is_some_and(|p| p.format() == format && p.size() == (w, h) && p.capacity() == size);
        if !fits {
            *slot = Some(FramePool::new(ctx, format, w, h, size, MemoryKind::Device)?);
        }
        slot.as_ref()
            .ok_or_else(|| Error::InvalidState("no output pool".into()))
    }

    /// Copies the pending picture at `pos` out of its surface into a frame of the spill pool.
    pub(super) fn spill(&mut self, pos: usize) -> Result<()> {
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
            x_shift: self.queue[pos].x_shift,
            progressive: self.queue[pos].progressive,
            top_field_first: self.queue[pos].top_field_first,
            repeat_first_field: self.queue[pos].repeat_first_field,
            field: self.queue[pos].field,
        };
        let r = self.copy_out(&tmp, index, &mut frame, &stream);
        self.own_stream = Some(stream);
        let status = r?;
        self.queue[pos].source = PendingSource::Spilled { frame, status };
        self.stats.spilled += 1;
        Ok(())
    }

    pub(super) fn spill_all(&mut self) -> Result<()> {
        for pos in 0..self.queue.len() {
            self.spill(pos)?;
        }
        Ok(())
    }
}

pub(super) fn to_i16(v: u32) -> Result<i16> {
    i16::try_from(v).map_err(|_| {
        Error::Unsupported(format!(
            "coordinate {v} does not fit NVDEC's 16-bit display area"
        ))
    })
}
