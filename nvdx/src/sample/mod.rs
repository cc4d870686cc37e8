//! Frame sampling for vision-language models: [`VideoReader`] opens a video (metadata only,
//! no decoding), and returns chosen frames (frame-accurate, by index or time, any order,
//! repeats allowed) as NV12/P016 frames, packed RGB frames, or slots of a batched
//! `N x 3 x H x W` f16/f32 tensor resized and normalised by the fused colour kernel.
//!
//! # How a request is decoded
//! 1. [`plan::plan`] maps display indices to samples and, for each distinct frame, the
//!    keyframe decoding must start from (the previous one when the frame is a leading picture
//!    of an open GOP); frames sharing or overlapping a run of samples are merged into one
//!    [`plan::DecodeRange`], so ranges are independent.
//! 2. Ranges are spread over up to one session per NVDEC engine ([`plan::assign`], longest
//!    first onto the least loaded session); sessions come from a [`DecoderPool`] shared by
//!    every reader of the GPU (created once, reconfigured for each video) and run on their own
//!    threads and CUDA streams, so the engines decode independent GOPs in parallel.
//! 3. Each session feeds samples from the range's keyframe up to its last target, leaving out
//!    pictures that are neither targets nor referenced by anything (H.264 `nal_ref_idc == 0`,
//!    HEVC sub-layer non-reference pictures of the top sub-layer, see [`nal::DropPolicy`]),
//!    drops non-target pictures without mapping them, maps each target in place and converts
//!    or copies it straight from the NVDEC surface into the caller's output, and stops as soon
//!    as the last target is out (end-of-stream flush only when the reorder delay holds it).
//! 4. The caller's stream waits for every session's stream with events: nothing synchronises
//!    the host, and with caller-given outputs ([`VideoReader::read`]) nothing is allocated on
//!    the GPU per frame.
//!
//! ```no_run
//! # fn main() -> nvdx::Result<()> {
//! use nvdx::kernels::colour::{Tensor, TensorDtype, TensorParams};
//! use nvdx::sample::VideoReader;
//!
//! let ctx = nvdx::Context::primary(0)?;
//! let stream = nvdx::Stream::new(&ctx)?;
//! let reader = VideoReader::open("fixtures/sample.mp4")?;
//! println!("{:?}", reader.info());
//! let mut batch = Tensor::new(&ctx, 8, 448, 448, TensorDtype::F16)?;
//! let got = reader.sample_uniform_tensor(8, &mut batch, 0, &TensorParams::clip(), &stream)?;
//! println!("frames {:?} at {:?} s", got.indices, got.seconds());
//! stream.synchronize()?;
//! # Ok(()) }
//! ```

mod exec;
pub mod nal;
pub mod plan;
mod pool;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::codec::{ChromaFormat, Codec};
use crate::decode::default_output_format;
use crate::demux::{self, Container, Demux};
use crate::error::{Error, Result};
use crate::frame::FrameView;
use crate::frame::{Frame, FrameMeta, PixelFormat};
use crate::kernels::colour::{ColourSpace, SlotWriter, Tensor, TensorParams};
use crate::memory::MemoryKind;
use crate::stream::Stream;

use exec::Sink;
pub use nal::DropPolicy;
pub use plan::{assign, plan, uniform_indices, DecodeRange, Plan, SampleTable, Target};
pub use pool::{DecoderPool, PoolConfig};

/// What a [`VideoReader`] knows about a video without decoding it.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// The container.
    pub container: Container,
    /// The codec.
    pub codec: Codec,
    /// Displayed width (after cropping).
    pub width: u32,
    /// Displayed height.
    pub height: u32,
    /// Coded width as NVDEC will allocate it, estimated from the display size (rounded up to
    /// 16 for H.264/MPEG-2, to 8 otherwise); the decoder learns the exact value from the
    /// sequence header.
    pub coded_width: u32,
    /// Coded height, see [`VideoInfo::coded_width`].
    pub coded_height: u32,
    /// Luma bit depth.
    pub bit_depth: u8,
    /// Chroma subsampling.
    pub chroma: ChromaFormat,
    /// Nominal frame rate `(num, den)` when the container says.
    pub frame_rate: Option<(u32, u32)>,
    /// Duration in seconds when the container says.
    pub duration_seconds: Option<f64>,
    /// Number of frames (shown pictures; edit-list pre-roll left out).
    pub frame_count: usize,
    /// Display indices of the keyframes.
    pub keyframes: Vec<usize>,
    /// Clockwise rotation for display (0, 90, 180, 270) from the container; not applied.
    pub rotation_degrees: i32,
    /// Ticks per second of the timestamps.
    pub timescale: u32,
    /// The stream's colour description (H.264/HEVC SPS VUI, AV1 sequence header, VP9 header,
    /// MP4 `colr`, Matroska `Colour`; the bitstream first, then the container),
    /// `None` when neither bitstream nor container states one. `colour.description()
    /// .conversion_space(w, h)` gives the conversion for RGB and tensor outputs.
    pub colour: Option<demux::ColourInfo>,
}

/// How a reader decodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderOptions {
    /// Most sessions one request uses in parallel; `0` = the GPU's NVDEC engine count.
    pub max_sessions: usize,
    /// Leave pictures nothing references out of the decoder when they are not wanted
    /// (bit-exact; see [`DropPolicy`]).
    pub drop_non_reference: bool,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            max_sessions: 0,
            drop_non_reference: true,
        }
    }
}

/// Where a request's frames go, one per requested index, in the order asked.
pub enum Output<'a> {
    /// Copies of the decoded NV12 (8-bit) or P016 (deeper) pictures; the frames must have
    /// [`VideoReader::output_format`] and [`VideoReader::output_size`].
    Yuv(&'a mut [Frame]),
    /// Packed 8-bit RGB (`Rgb24`, `Bgr24`, `Rgba` or `Bgra`, HWC) frames of
    /// [`VideoReader::output_size`], converted with `space`.
    Rgb {
        /// The frames.
        frames: &'a mut [Frame],
        /// The source's colour space.
        space: ColourSpace,
    },
    /// Slots `first_slot..first_slot + n` of a tensor, resized to its `H x W` and normalised
    /// with `params` by the fused kernel. Keep the tensor alive until the stream has run.
    Tensor {
        /// The tensor.
        tensor: &'a mut Tensor,
        /// Slot of the first requested frame.
        first_slot: usize,
        /// Colour space and normalisation.
        params: TensorParams,
    },
}

impl std::fmt::Debug for Output<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Yuv(v) => write!(f, "Output::Yuv({} frames)", v.len()),
            Output::Rgb { frames, space } => {
                write!(f, "Output::Rgb({} frames, {space:?})", frames.len())
            }
            Output::Tensor {
                tensor, first_slot, ..
            } => write!(
                f,
                "Output::Tensor({:?} from slot {first_slot})",
                tensor.shape()
            ),
        }
    }
}

/// Counters and timings of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SampleStats {
    /// Planning (index lookup, keyframes, ranges): the "seek".
    pub plan: Duration,
    /// Waiting for decoder sessions from the pool.
    pub acquire: Duration,
    /// Feeding the decoders and enqueueing the copies/conversions, all sessions (wall time;
    /// the GPU may still be converting when it ends: synchronise the stream to know).
    pub decode: Duration,
    /// Independent ranges.
    pub ranges: usize,
    /// Sessions used in parallel.
    pub sessions: usize,
    /// Distinct frames decoded for the request.
    pub distinct: usize,
    /// Packets sent to the decoders.
    pub pushed: usize,
    /// Non-reference packets left out.
    pub dropped: usize,
    /// Decoded pictures dropped without being mapped.
    pub skipped: usize,
}

/// The frames a request produced: for each requested position, the frame index and
/// timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleResult {
    /// Display index of each requested frame, in request order.
    pub indices: Vec<usize>,
    /// Presentation timestamps in [`SampleResult::timescale`] ticks, in request order.
    pub pts: Vec<i64>,
    /// Ticks per second.
    pub timescale: u32,
    /// What it took.
    pub stats: SampleStats,
}

impl SampleResult {
    /// Timestamps in seconds.
    pub fn seconds(&self) -> Vec<f64> {
        self.pts
            .iter()
            .map(|&p| demux::ticks_to_seconds(p, self.timescale))
            .collect()
    }

    /// Per-position metadata, as frames carry it.
    pub fn metas(&self) -> Vec<FrameMeta> {
        self.indices
            .iter()
            .zip(&self.pts)
            .map(|(&i, &pts)| FrameMeta {
                pts,
                timescale: self.timescale,
                index: Some(i as u64),
            })
            .collect()
    }
}

/// Random access to the frames of one video, decoded on NVDEC sessions from a pool.
///
/// Opening reads the container index only; every decoding method takes the caller's CUDA
/// stream, enqueues its GPU work and returns without synchronising: the outputs are ready once
/// work enqueued after the call on that stream runs (or after `stream.synchronize()`).
/// A reader may be used from several threads (`&self` methods; reads of the file are
/// serialised, decoding is not).
pub struct VideoReader {
    demux: Mutex<Box<dyn Demux>>,
    info: VideoInfo,
    table: SampleTable,
    policy: Option<DropPolicy>,
    options: ReaderOptions,
    pool: Option<Arc<DecoderPool>>,
}

impl std::fmt::Debug for VideoReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoReader")
            .field("info", &self.info)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl VideoReader {
    /// Opens a file (MP4/MOV, IVF or Annex B): reads its index, decodes nothing, needs no GPU.
    pub fn open(path: impl AsRef<Path>) -> Result<VideoReader> {
        VideoReader::from_demuxer(demux::open(path)?)
    }

    /// Opens a file reading the video track `number` (MP4 track id, Matroska `TrackNumber`;
    /// see [`VideoReader::video_tracks`]) instead of the default choice. The default is
    /// ffmpeg's and torchcodec's: the largest picture, a default/enabled track first.
    pub fn open_track(path: impl AsRef<Path>, number: u64) -> Result<VideoReader> {
        VideoReader::from_demuxer(Box::new(demux::Demuxer::open_track(path, number)?))
    }

    /// The container's video tracks when it has several (empty otherwise), the one read
    /// marked `selected`.
    pub fn video_tracks(&self) -> Vec<demux::VideoTrack> {
        self.demux
            .lock()
            .map(|d| d.video_tracks().to_vec())
            .unwrap_or_default()
    }

    /// Opens a video held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<VideoReader> {
        VideoReader::from_demuxer(demux::from_bytes(bytes)?)
    }

    /// Reads from a demuxer (which must have a sample index).
    pub fn from_demuxer(demux: Box<dyn Demux>) -> Result<VideoReader> {
        let si = demux.info().clone();
        let Some(samples) = demux.samples() else {
            return Err(Error::Unsupported(
                "the demuxer has no sample index; random access needs one".into(),
            ));
        };
        let table = SampleTable::new(samples, si.container == Container::Mp4);
        let block = match si.codec {
            Codec::H264 | Codec::Mpeg2 => 16,
            _ => 8,
        };
        let info = VideoInfo {
            container: si.container,
            codec: si.codec,
            width: si.width,
            height: si.height,
            coded_width: si.width.div_ceil(block) * block,
            coded_height: si.height.div_ceil(block) * block,
            bit_depth: si.bit_depth,
            chroma: si.chroma,
            frame_rate: si.frame_rate,
            duration_seconds: si.duration_seconds,
            frame_count: table.len(),
            keyframes: table.keyframe_frames(),
            rotation_degrees: si.rotation_degrees,
            timescale: si.timescale,
            colour: si.colour,
        };
        let policy = Some(DropPolicy::new(si.codec, &si.parameter_sets));
        Ok(VideoReader {
            demux: Mutex::new(demux),
            info,
            table,
            policy,
            options: ReaderOptions::default(),
            pool: None,
        })
    }

    /// Uses `pool` for its sessions instead of the GPU's global pool.
    pub fn with_pool(mut self, pool: Arc<DecoderPool>) -> VideoReader {
        self.pool = Some(pool);
        self
    }

    /// Changes the options.
    pub fn with_options(mut self, options: ReaderOptions) -> VideoReader {
        self.options = options;
        self
    }

    /// The metadata.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the video has no frames.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The sample table the planner works on.
    pub fn table(&self) -> &SampleTable {
        &self.table
    }

    /// Presentation time of frame `index` in seconds.
    pub fn time_of(&self, index: usize) -> Result<f64> {
        self.table
            .frame_pts(index)
            .map(|p| demux::ticks_to_seconds(p, self.info.timescale))
            .ok_or_else(|| past_end(index, self.len()))
    }

    /// The frame shown at `seconds` (see [`SampleTable::index_at_time`]).
    pub fn index_at_time(&self, seconds: f64) -> Result<usize> {
        self.table.index_at_time(seconds, self.info.timescale)
    }

    /// `n` uniformly spaced frame indices (see [`uniform_indices`]).
    pub fn uniform_indices(&self, n: usize) -> Result<Vec<usize>> {
        uniform_indices(self.len(), n)
    }

    /// Pixel format of [`Output::Yuv`] frames: NV12 for 8-bit 4:2:0, P016 for deeper.
    pub fn output_format(&self) -> PixelFormat {
        default_output_format(self.info.chroma, self.info.bit_depth)
    }

    /// Size of decoded frames: the display size rounded up to even.
    pub fn output_size(&self) -> (u32, u32) {
        (
            self.info.width + self.info.width % 2,
            self.info.height + self.info.height % 2,
        )
    }

    /// The plan a request for `indices` would run.
    pub fn plan(&self, indices: &[usize]) -> Result<Plan> {
        plan(&self.table, indices)
    }

    /// Decodes the frames at `indices` (display order, any order, repeats allowed, each
    /// decoded once) into `output` on `stream`. The zero-allocation path: outputs are the
    /// caller's.
    pub fn read(
        &self,
        indices: &[usize],
        output: Output<'_>,
        stream: &Stream,
    ) -> Result<SampleResult> {
        let t0 = Instant::now();
        let plan = plan(&self.table, indices)?;
        self.check_output(&output, indices.len())?;
        let order = plan.request_order();
        let plan_time = t0.elapsed();

        let pool = match &self.pool {
            Some(p) => Arc::clone(p),
            None => DecoderPool::global(stream.context())?,
        };
        if pool.context().device().ordinal() != stream.context().device().ordinal() {
            return Err(Error::InvalidArgument(format!(
                "the stream is on GPU {} but the reader's decoder pool is on GPU {}",
                stream.context().device().ordinal(),
                pool.context().device().ordinal()
            )));
        }
        let cap = match self.options.max_sessions {
            0 => pool.engines(self.info.codec)? as usize,
            n => n,
        };
        let want = cap.min(plan.ranges.len()).max(1);
        let t1 = Instant::now();
        let shape = (self.info.width, self.info.height, self.info.bit_depth);
        let mut sessions = pool.acquire(self.info.codec, shape, want)?;
        let acquire_time = t1.elapsed();

        let t2 = Instant::now();
        let outcome = self.run(&plan, output, stream, &mut sessions);
        for s in &mut sessions {
            s.last = Some(shape);
        }
        let nsessions = sessions.len();
        pool.release(sessions);
        let work = outcome?;
        let decode_time = t2.elapsed();

        Ok(SampleResult {
            indices: order.iter().map(|&(i, _)| i).collect(),
            pts: order.iter().map(|&(_, p)| p).collect(),
            timescale: self.info.timescale,
            stats: SampleStats {
                plan: plan_time,
                acquire: acquire_time,
                decode: decode_time,
                ranges: plan.ranges.len(),
                sessions: nsessions,
                distinct: plan.distinct(),
                pushed: work.pushed,
                dropped: work.dropped,
                skipped: work.skipped,
            },
        })
    }

    fn check_output(&self, output: &Output<'_>, n: usize) -> Result<()> {
        let (w, h) = self.output_size();
        let check_frames = |frames: &[Frame], ok: &dyn Fn(PixelFormat) -> bool, what: &str| {
            if frames.len() != n {
                return Err(Error::InvalidArgument(format!(
                    "{n} frames requested but {} output frames given",
                    frames.len()
                )));
            }
            for (i, f) in frames.iter().enumerate() {
                if !ok(f.format()) || f.width() != w || f.height() != h {
                    return Err(Error::InvalidArgument(format!(
                        "output frame {i} is {:?} {}x{}; this video needs {what} {w}x{h}",
                        f.format(),
                        f.width(),
                        f.height()
                    )));
                }
            }
            Ok(())
        };
        match output {
            Output::Yuv(frames) => {
                let fmt = self.output_format();
                check_frames(frames, &|f| f == fmt, &format!("{fmt:?}"))
            }
            Output::Rgb { frames, .. } => {
                if !matches!(self.output_format(), PixelFormat::Nv12 | PixelFormat::P016) {
                    return Err(Error::Unsupported(format!(
                        "RGB output needs a 4:2:0 stream; this one is {:?}",
                        self.info.chroma
                    )));
                }
                check_frames(
                    frames,
                    &|f| {
                        matches!(
                            f,
                            PixelFormat::Rgb24
                                | PixelFormat::Bgr24
                                | PixelFormat::Rgba
                                | PixelFormat::Bgra
                        )
                    },
                    "Rgb24/Bgr24/Rgba/Bgra",
                )
            }
            Output::Tensor {
                tensor, first_slot, ..
            } => {
                if !matches!(self.output_format(), PixelFormat::Nv12 | PixelFormat::P016) {
                    return Err(Error::Unsupported(format!(
                        "tensor output needs a 4:2:0 stream; this one is {:?}",
                        self.info.chroma
                    )));
                }
                if first_slot.checked_add(n).is_none_or(|e| e > tensor.batch()) {
                    return Err(Error::InvalidArgument(format!(
                        "{n} frames from slot {first_slot} do not fit a tensor batch of {}",
                        tensor.batch()
                    )));
                }
                Ok(())
            }
        }
    }

    fn run(
        &self,
        plan: &Plan,
        output: Output<'_>,
        stream: &Stream,
        sessions: &mut [pool::Session],
    ) -> Result<exec::Work> {
        let groups = assign(&plan.ranges, sessions.len());
        let mut slot_writer: Option<SlotWriter<'_>> = None;
        // Per-session sinks: each output frame goes to the session that decodes it.
        let mut sinks: Vec<Sink<'_>> = Vec::with_capacity(groups.len());
        let slots_of = |g: &Vec<usize>| -> Vec<usize> {
            g.iter()
                .filter_map(|&r| plan.ranges.get(r))
                .flat_map(|r| r.targets.iter().flat_map(|t| t.slots.iter().copied()))
                .collect()
        };
        match output {
            Output::Yuv(frames) => {
                let mut free: Vec<Option<&mut Frame>> = frames.iter_mut().map(Some).collect();
                for g in &groups {
                    let mine = take_slots(&mut free, &slots_of(g));
                    sinks.push(Sink::Yuv(mine));
                }
            }
            Output::Rgb { frames, space } => {
                let mut free: Vec<Option<&mut Frame>> = frames.iter_mut().map(Some).collect();
                for g in &groups {
                    let mine = take_slots(&mut free, &slots_of(g));
                    sinks.push(Sink::Rgb(mine, space));
                }
            }
            Output::Tensor {
                tensor,
                first_slot,
                params,
            } => {
                let writer = slot_writer.insert(SlotWriter::new(tensor));
                for _ in &groups {
                    sinks.push(Sink::Tensor {
                        writer,
                        first_slot,
                        params,
                    });
                }
            }
        }
        // Sessions start after the work already enqueued on the caller's stream (the outputs
        // may still be in use there).
        for s in sessions.iter() {
            s.start.record(stream)?;
            s.stream.wait_event(&s.start)?;
        }
        let timescale = self.info.timescale;
        let policy = if self.options.drop_non_reference {
            self.policy
        } else {
            None
        };
        let demux = &self.demux;
        let jobs: Vec<(&mut pool::Session, Vec<&DecodeRange>, Sink<'_>)> = sessions
            .iter_mut()
            .zip(groups.iter())
            .zip(sinks)
            .map(|((s, g), sink)| {
                let rs = g.iter().filter_map(|&r| plan.ranges.get(r)).collect();
                (s, rs, sink)
            })
            .collect();
        let results: Vec<Result<exec::Work>> = if jobs.len() == 1 {
            jobs.into_iter()
                .map(|(s, rs, mut sink)| exec::run(s, demux, &rs, policy, timescale, &mut sink))
                .collect()
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = jobs
                    .into_iter()
                    .map(|(s, rs, mut sink)| {
                        scope.spawn(move || exec::run(s, demux, &rs, policy, timescale, &mut sink))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::Decode("a decoding thread panicked".into()))
                        })
                    })
                    .collect()
            })
        };
        // The caller's stream continues after every session's copies and conversions.
        let mut total = exec::Work::default();
        let mut first_error = None;
        for (s, r) in sessions.iter().zip(results) {
            match r {
                Ok(w) => {
                    total.pushed += w.pushed;
                    total.dropped += w.dropped;
                    total.skipped += w.skipped;
                    stream.wait_event(&s.done)?;
                }
                Err(e) => {
                    // Order after whatever the session enqueued before failing.
                    let _ = s.done.record(&s.stream);
                    let _ = stream.wait_event(&s.done);
                    first_error.get_or_insert(e);
                }
            }
        }
        // The tensor's slots were written on the session streams, which the caller's stream
        // now follows: record that point as the tensor's last write.
        let finished = match slot_writer.take() {
            Some(w) => w.finish(stream),
            None => Ok(()),
        };
        match first_error {
            Some(e) => Err(e),
            None => finished.map(|()| total),
        }
    }

    /// Allocates frames for `n` positions: `format` at [`VideoReader::output_size`].
    pub fn alloc_frames(
        &self,
        stream: &Stream,
        format: PixelFormat,
        n: usize,
    ) -> Result<Vec<Frame>> {
        let (w, h) = self.output_size();
        (0..n)
            .map(|_| Frame::new(stream.context(), format, w, h, MemoryKind::Device))
            .collect()
    }

    /// The frames at `indices` as NV12/P016 frames, in the order asked, timestamps in
    /// `frame.meta`. Allocates the frames; see [`VideoReader::read`] to reuse them.
    pub fn frames(&self, indices: &[usize], stream: &Stream) -> Result<Vec<Frame>> {
        plan(&self.table, indices)?;
        let mut out = self.alloc_frames(stream, self.output_format(), indices.len())?;
        self.read(indices, Output::Yuv(&mut out), stream)?;
        Ok(out)
    }

    /// The frames at `indices` as packed RGB (`format`: `Rgb24`, `Bgr24`, `Rgba`, `Bgra`).
    pub fn frames_rgb(
        &self,
        indices: &[usize],
        format: PixelFormat,
        space: ColourSpace,
        stream: &Stream,
    ) -> Result<Vec<Frame>> {
        plan(&self.table, indices)?;
        let mut out = self.alloc_frames(stream, format, indices.len())?;
        self.read(
            indices,
            Output::Rgb {
                frames: &mut out,
                space,
            },
            stream,
        )?;
        Ok(out)
    }

    /// Frame `index` (display order) as an NV12/P016 frame, decoded from the keyframe before.
    pub fn frame_at(&self, index: usize, stream: &Stream) -> Result<Frame> {
        self.frames(&[index], stream)?
            .pop()
            .ok_or_else(|| Error::InvalidState("no frame decoded".into()))
    }

    /// The frame shown at `seconds` (see [`VideoReader::index_at_time`]).
    pub fn frame_at_time(&self, seconds: f64, stream: &Stream) -> Result<Frame> {
        self.frame_at(self.index_at_time(seconds)?, stream)
    }

    /// `n` uniformly spaced frames (see [`uniform_indices`]) as NV12/P016 frames.
    pub fn sample_uniform(&self, n: usize, stream: &Stream) -> Result<Vec<Frame>> {
        self.frames(&self.uniform_indices(n)?, stream)
    }

    /// The frames at `indices` into tensor slots `first_slot..`, resized and normalised.
    pub fn tensor(
        &self,
        indices: &[usize],
        tensor: &mut Tensor,
        first_slot: usize,
        params: &TensorParams,
        stream: &Stream,
    ) -> Result<SampleResult> {
        self.read(
            indices,
            Output::Tensor {
                tensor,
                first_slot,
                params: *params,
            },
            stream,
        )
    }

    /// `n` uniformly spaced frames into tensor slots `first_slot..first_slot + n`.
    pub fn sample_uniform_tensor(
        &self,
        n: usize,
        tensor: &mut Tensor,
        first_slot: usize,
        params: &TensorParams,
        stream: &Stream,
    ) -> Result<SampleResult> {
        self.tensor(
            &self.uniform_indices(n)?,
            tensor,
            first_slot,
            params,
            stream,
        )
    }
}

fn take_slots<'a>(
    free: &mut [Option<&'a mut Frame>],
    slots: &[usize],
) -> Vec<(usize, &'a mut Frame)> {
    slots
        .iter()
        .filter_map(|&s| free.get_mut(s).and_then(Option::take).map(|f| (s, f)))
        .collect()
}

fn past_end(index: usize, len: usize) -> Error {
    if len == 0 {
        Error::InvalidData("the video has no frames".into())
    } else {
        Error::InvalidArgument(format!(
            "frame index {index} is past the end: the video has {len} frames, 0..={}",
            len - 1
        ))
    }
}

#[cfg(test)]
mod tests;
