//! NVDEC decoding: compressed packets in, GPU frames out, in display order.
//!
//! A [`Decoder`] is one session on NVIDIA's bitstream parser (`cuvidCreateVideoParser`) and
//! hardware decoder (`cuvidCreateDecoder`). Packets go in with [`Decoder::push`]; decoded
//! pictures queue up in display order and come out either
//! - owned: [`Decoder::next_owned`] copies the picture from the decoder's surface into a frame of
//!   a [`FramePool`](crate::FramePool) with one asynchronous 2D copy on the caller's stream, or
//! - borrowed: [`Decoder::map_next`] returns a zero-copy [`MappedFrame`] that points into the
//!   decoder's output surface and unmaps it when dropped.
//!
//! The parser's callbacks only record what to decode and what to display; mapping and copying
//! happen on the caller's thread, with no host synchronisation per frame.
//!
//! Capabilities are checked before a decoder is created ([`capabilities`]): an unsupported
//! codec (AV1 on Hopper) or a stream beyond the GPU's limits is an [`Error::Unsupported`] that
//! names the limit and the GPU.
//!
//! [`FileDecoder`] combines a [`crate::demux`] demuxer with a decoder:
//!
//! ```no_run
//! # fn main() -> nvdx::Result<()> {
//! use nvdx::FrameView; // geometry accessors of frames, pooled frames and mapped frames
//! let ctx = nvdx::Context::primary(0)?;
//! let mut dec = nvdx::decode::FileDecoder::open(&ctx, "fixtures/sample.mp4", Default::default())?;
//! while let Some(f) = dec.next_frame()? {
//!     println!("pts {} {}x{} {:?}", f.frame.meta.pts, f.frame.width(), f.frame.height(), f.status);
//! }
//! # Ok(()) }
//! ```

mod file;
mod session;

use std::collections::VecDeque;
use std::time::Duration;

use nvdx_sys::cuvid::{
    cudaVideoChromaFormat, cudaVideoCodec, cudaVideoDeinterlaceMode, cudaVideoSurfaceFormat,
    cuvidDecodeStatus, CUVIDDECODECAPS,
};

use crate::codec::{ChromaFormat, Codec};
use crate::context::Context;
use crate::cuvid;
use crate::error::{Error, Result};
use crate::frame::{FrameMeta, PixelFormat, PooledFrame};

pub use file::{decode_file, FileDecoder, DEFAULT_DECODE_AHEAD};
pub use session::{
    DecodedFrame, Decoder, DecoderStats, MappedFrame, StageTime, StageTimes, StreamFormat,
};

#[cfg(test)]
mod tests;

/// How interlaced pictures are turned into frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deinterlace {
    /// Both fields woven into one frame, bit-exact with a software decoder (the default).
    #[default]
    Weave,
    /// Each field line-doubled by NVDEC into a frame of its own: double rate.
    ///
    /// An interlaced picture (of a sequence the parser reports as interlaced) is two frames,
    /// each its own NVDEC mapping (`CUVIDPROCPARAMS::second_field` 0, then 1): the first field
    /// at the picture's pts, the second at pts plus half the frame duration, in
    /// [`DecoderConfig::timescale`] ticks. The duration is the sequence's frame rate when the
    /// timescale is known, else the distance between the last two pictures displayed (the
    /// very first picture of a stream without either: both fields at its pts). Half a frame
    /// rounds down, so a timescale of one tick a frame cannot separate the fields: give the
    /// decoder timestamps fine enough (containers' usually are; a raw Annex B stream's
    /// timescale is its frame rate). Progressive pictures, and a field without its pair,
    /// stay one frame. [`FrameMeta::index`] counts frames output, both fields included;
    /// [`DecoderStats::second_fields`] counts the extra ones. No allocation per field: both
    /// entries share the picture's decode surface.
    Bob,
    /// NVDEC's motion-adaptive deinterlacer (one frame per picture).
    Adaptive,
}

/// A rectangle in pixels: `left`/`top` inclusive, `right`/`bottom` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    /// First column.
    pub left: u32,
    /// First row.
    pub top: u32,
    /// One past the last column.
    pub right: u32,
    /// One past the last row.
    pub bottom: u32,
}

impl Rect {
    /// Width in pixels (0 for an inverted rectangle).
    pub fn width(&self) -> u32 {
        self.right.saturating_sub(self.left)
    }
    /// Height in pixels (0 for an inverted rectangle).
    pub fn height(&self) -> u32 {
        self.bottom.saturating_sub(self.top)
    }
}

/// Settings of a decoder session. `Default` gives automatic output format (NV12 for 8-bit,
/// P016 for deeper 4:2:0, YUV444/YUV444_16 for 4:4:4), weave, no resize, a 4-frame pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Output format; `None` chooses by chroma format and bit depth.
    pub output_format: Option<PixelFormat>,
    /// Display delay 0: each picture is displayed as soon as it is decoded. Each pushed packet
    /// must then hold exactly one complete picture (it is sent with `CUVID_PKT_ENDOFPICTURE`).
    pub low_latency: bool,
    /// Deinterlacing of interlaced streams.
    pub deinterlace: Deinterlace,
    /// NVDEC hardware scaling to this size (even width and height).
    pub resize: Option<(u32, u32)>,
    /// Crop rectangle in coded-picture coordinates, applied before scaling; `None` uses the
    /// stream's display area.
    pub crop: Option<Rect>,
    /// Largest coded size the decoder should be able to switch to without being recreated
    /// (0 = the first sequence's size).
    pub max_width: u32,
    /// See [`DecoderConfig::max_width`].
    pub max_height: u32,
    /// Frames of the pool [`Decoder::next_owned`] copies into (2..=16).
    pub pool_size: usize,
    /// How long [`Decoder::next_owned`] waits for a pool frame before
    /// [`Error::PoolExhausted`].
    pub pool_timeout: Duration,
    /// Decode surfaces beyond the stream's minimum (headroom for pictures queued for display).
    pub extra_decode_surfaces: u32,
    /// NVDEC output (post-processing) surfaces, 1..=8.
    pub output_surfaces: u32,
    /// Parser display delay in pictures when not in low-latency mode.
    pub display_delay: u32,
    /// Timescale written to [`FrameMeta::timescale`] of every frame (ticks per second of the
    /// timestamps given to [`Decoder::push`]).
    pub timescale: u32,
    /// Times every stage of the per-picture path ([`DecoderStats::timing`]): two clock reads
    /// a stage, about 36 a picture, plus the thread CPU clock with the `profile` feature.
    /// Off by default, when the stages only count their calls.
    pub stage_timing: bool,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig {
            output_format: None,
            low_latency: false,
            deinterlace: Deinterlace::Weave,
            resize: None,
            crop: None,
            max_width: 0,
            max_height: 0,
            pool_size: 4,
            pool_timeout: Duration::from_secs(5),
            extra_decode_surfaces: 6,
            output_surfaces: 2,
            display_delay: 1,
            timescale: 0,
            stage_timing: false,
        }
    }
}

impl DecoderConfig {
    /// Checks the settings that do not depend on the stream.
    pub fn validate(&self) -> Result<()> {
        crate::frame::validate_pool_size(self.pool_size)?;
        if !(1..=8).contains(&self.output_surfaces) {
            return Err(Error::InvalidArgument(format!(
                "output_surfaces {} is outside 1..=8",
                self.output_surfaces
            )));
        }
        if self.extra_decode_surfaces > 16 {
            return Err(Error::InvalidArgument(format!(
                "extra_decode_surfaces {} is above 16",
                self.extra_decode_surfaces
            )));
        }
        if let Some(f) = self.output_format {
            if surface_format(f).is_none() {
                return Err(Error::InvalidArgument(format!(
                    "NVDEC cannot output {f:?}; choose NV12, P016, YUV444 or YUV444_16"
                )));
            }
        }
        if let Some((w, h)) = self.resize {
            if w == 0 || h == 0 || w % 2 != 0 || h % 2 != 0 {
                return Err(Error::InvalidArgument(format!(
                    "resize target {w}x{h} must be non-zero and even"
                )));
            }
        }
        if let Some(c) = self.crop {
            if c.width() < 2 || c.height() < 2 {
                return Err(Error::InvalidArgument(format!(
                    "crop rectangle {c:?} is empty"
                )));
            }
        }
        Ok(())
    }
}

/// What NVDEC reported about one picture (`cuvidGetDecodeStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum DecodeStatus {
    /// Decoded without errors.
    Success,
    /// Errors were found and concealed: the picture is usable but not exact.
    Concealed,
    /// Decoding failed: the picture content is not meaningful.
    Error,
    /// Still being decoded when queried (the picture will be complete in stream order).
    InProgress,
    /// The driver does not report a status for this codec or GPU.
    #[default]
    Unknown,
}

impl DecodeStatus {
    pub(crate) fn from_raw(s: cuvidDecodeStatus) -> DecodeStatus {
        match s {
            cuvidDecodeStatus::cuvidDecodeStatus_Success => DecodeStatus::Success,
            cuvidDecodeStatus::cuvidDecodeStatus_Error_Concealed => DecodeStatus::Concealed,
            cuvidDecodeStatus::cuvidDecodeStatus_Error => DecodeStatus::Error,
            cuvidDecodeStatus::cuvidDecodeStatus_InProgress => DecodeStatus::InProgress,
            _ => DecodeStatus::Unknown,
        }
    }

    /// Whether the picture is exact (`Success`, or `Unknown`/`InProgress` where the driver
    /// gives no verdict).
    pub fn is_ok(self) -> bool {
        !matches!(self, DecodeStatus::Concealed | DecodeStatus::Error)
    }
}

/// What the GPU's NVDEC can do for one codec, chroma format and bit depth
/// (`cuvidGetDecoderCaps`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderCaps {
    /// The codec asked about.
    pub codec: Codec,
    /// The chroma format asked about.
    pub chroma: ChromaFormat,
    /// The bit depth asked about.
    pub bit_depth: u8,
    /// Whether NVDEC decodes this combination at all.
    pub supported: bool,
    /// Number of NVDEC engines on the GPU.
    pub num_engines: u32,
    /// Largest coded width.
    pub max_width: u32,
    /// Largest coded height.
    pub max_height: u32,
    /// Largest number of 16x16 macroblocks per picture.
    pub max_mb_count: u32,
    /// Smallest coded width.
    pub min_width: u32,
    /// Smallest coded height.
    pub min_height: u32,
    /// Raw `nOutputFormatMask`: bit `n` set when `cudaVideoSurfaceFormat` `n` can be output.
    pub output_format_mask: u16,
    /// The GPU's name, for messages.
    pub gpu: String,
}

impl DecoderCaps {
    /// The output formats of [`DecoderCaps::output_format_mask`] that nvdx frames can hold.
    pub fn output_formats(&self) -> Vec<PixelFormat> {
        [
            PixelFormat::Nv12,
            PixelFormat::P016,
            PixelFormat::Yuv444,
            PixelFormat::Yuv444_16,
        ]
        .into_iter()
        .filter(|f| self.supports_output(*f))
        .collect()
    }

    /// Whether NVDEC can write `format` for this stream type.
    pub fn supports_output(&self, format: PixelFormat) -> bool {
        surface_format(format)
            .is_some_and(|s| s.0 < 16 && self.output_format_mask & (1 << s.0) != 0)
    }

    /// Checks a coded size against the limits; the error names the limit that is exceeded.
    pub fn check(&self, width: u32, height: u32) -> Result<()> {
        let what = format!(
            "{} {} {}-bit",
            self.codec,
            chroma_name(self.chroma),
            self.bit_depth
        );
        if !self.supported {
            return Err(Error::Unsupported(format!(
                "{what} decoding is not supported by NVDEC on {} (cuvidGetDecoderCaps bIsSupported = 0)",
                self.gpu
            )));
        }
        if width > self.max_width || height > self.max_height {
            return Err(Error::Unsupported(format!(
                "{what} {width}x{height} exceeds the NVDEC maximum size {}x{} on {} ({} > nMaxWidth {} or {} > nMaxHeight {})",
                self.max_width, self.max_height, self.gpu, width, self.max_width, height, self.max_height
            )));
        }
        if width < self.min_width || height < self.min_height {
            return Err(Error::Unsupported(format!(
                "{what} {width}x{height} is below the NVDEC minimum size {}x{} on {} (nMinWidth/nMinHeight)",
                self.min_width, self.min_height, self.gpu
            )));
        }
        let mbs = u64::from(width.div_ceil(16)) * u64::from(height.div_ceil(16));
        if self.max_mb_count != 0 && mbs > u64::from(self.max_mb_count) {
            return Err(Error::Unsupported(format!(
                "{what} {width}x{height} has {mbs} macroblocks, above the NVDEC limit nMaxMBCount {} on {}",
                self.max_mb_count, self.gpu
            )));
        }
        Ok(())
    }

    pub(crate) fn from_raw(
        codec: Codec,
        chroma: ChromaFormat,
        bit_depth: u8,
        raw: &CUVIDDECODECAPS,
        gpu: String,
    ) -> DecoderCaps {
        DecoderCaps {
            codec,
            chroma,
            bit_depth,
            supported: raw.bIsSupported != 0,
            num_engines: u32::from(raw.nNumNVDECs),
            max_width: raw.nMaxWidth,
            max_height: raw.nMaxHeight,
            max_mb_count: raw.nMaxMBCount,
            min_width: u32::from(raw.nMinWidth),
            min_height: u32::from(raw.nMinHeight),
            output_format_mask: raw.nOutputFormatMask,
            gpu,
        }
    }
}

/// Asks NVDEC on `ctx`'s GPU what it can decode for `codec` / `chroma` / `bit_depth`.
///
/// ```no_run
/// # fn main() -> nvdx::Result<()> {
/// use nvdx::{codec::ChromaFormat, Codec, Context};
/// let ctx = Context::primary(0)?;
/// let caps = nvdx::decode::capabilities(&ctx, Codec::Hevc, ChromaFormat::Yuv420, 10)?;
/// println!("{} engines, up to {}x{}, outputs {:?}", caps.num_engines, caps.max_width, caps.max_height, caps.output_formats());
/// # Ok(()) }
/// ```
pub fn capabilities(
    ctx: &Context,
    codec: Codec,
    chroma: ChromaFormat,
    bit_depth: u8,
) -> Result<DecoderCaps> {
    // Fail early (before the argument checks) when libnvcuvid is missing.
    nvdx_sys::cuvid()?;
    let gpu = ctx
        .device()
        .name()
        .unwrap_or_else(|_| format!("GPU {}", ctx.device().ordinal()));
    if !(8..=16).contains(&bit_depth) {
        return Err(Error::InvalidArgument(format!(
            "bit depth {bit_depth} is outside 8..=16"
        )));
    }
    let mut raw = CUVIDDECODECAPS {
        eCodecType: cuda_codec(codec),
        eChromaFormat: cuda_chroma(chroma),
        nBitDepthMinus8: u32::from(bit_depth - 8),
        ..Default::default()
    };
    let _g = ctx.bind()?;
    cuvid::get_decoder_caps(&mut raw)?;
    Ok(DecoderCaps::from_raw(codec, chroma, bit_depth, &raw, gpu))
}

impl std::fmt::Display for DecoderCaps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}-bit: ",
            self.codec,
            chroma_name(self.chroma),
            self.bit_depth
        )?;
        if !self.supported {
            return f.write_str("not supported");
        }
        write!(
            f,
            "{} NVDEC, {}x{} to {}x{} (max {} MBs), output {:?}",
            self.num_engines,
            self.min_width,
            self.min_height,
            self.max_width,
            self.max_height,
            self.max_mb_count,
            self.output_formats()
        )
    }
}

/// One line per codec, chroma format and bit depth NVDEC knows of on `ctx`'s GPU (what
/// [`capabilities`] reports), for tools such as the `info` example.
pub fn capability_table(ctx: &Context) -> Result<Vec<String>> {
    let mut rows = Vec::new();
    for codec in [
        Codec::H264,
        Codec::Hevc,
        Codec::Vp9,
        Codec::Av1,
        Codec::Mpeg2,
        Codec::Mjpeg,
    ] {
        for chroma in [ChromaFormat::Yuv420, ChromaFormat::Yuv444] {
            for depth in [8u8, 10, 12] {
                let c = capabilities(ctx, codec, chroma, depth)?;
                let base = chroma == ChromaFormat::Yuv420 && depth == 8;
                if c.supported || base {
                    rows.push(c.to_string());
                }
            }
        }
    }
    Ok(rows)
}

/// The `cudaVideoCodec` of a codec.
pub fn cuda_codec(codec: Codec) -> cudaVideoCodec {
    match codec {
        Codec::H264 => cudaVideoCodec::cudaVideoCodec_H264,
        Codec::Hevc => cudaVideoCodec::cudaVideoCodec_HEVC,
        Codec::Vp9 => cudaVideoCodec::cudaVideoCodec_VP9,
        Codec::Av1 => cudaVideoCodec::cudaVideoCodec_AV1,
        Codec::Mpeg2 => cudaVideoCodec::cudaVideoCodec_MPEG2,
        Codec::Mjpeg => cudaVideoCodec::cudaVideoCodec_JPEG,
    }
}

/// The `cudaVideoChromaFormat` of a chroma format.
pub fn cuda_chroma(chroma: ChromaFormat) -> cudaVideoChromaFormat {
    match chroma {
        ChromaFormat::Monochrome => cudaVideoChromaFormat::cudaVideoChromaFormat_Monochrome,
        ChromaFormat::Yuv420 => cudaVideoChromaFormat::cudaVideoChromaFormat_420,
        ChromaFormat::Yuv422 => cudaVideoChromaFormat::cudaVideoChromaFormat_422,
        ChromaFormat::Yuv444 => cudaVideoChromaFormat::cudaVideoChromaFormat_444,
    }
}

/// The chroma format of a `cudaVideoChromaFormat` (unknown values read as 4:2:0).
pub fn chroma_from_cuda(c: cudaVideoChromaFormat) -> ChromaFormat {
    match c {
        cudaVideoChromaFormat::cudaVideoChromaFormat_Monochrome => ChromaFormat::Monochrome,
        cudaVideoChromaFormat::cudaVideoChromaFormat_422 => ChromaFormat::Yuv422,
        cudaVideoChromaFormat::cudaVideoChromaFormat_444 => ChromaFormat::Yuv444,
        _ => ChromaFormat::Yuv420,
    }
}

/// The `cudaVideoSurfaceFormat` NVDEC uses to write `format`, if it can.
pub fn surface_format(format: PixelFormat) -> Option<cudaVideoSurfaceFormat> {
    match format {
        PixelFormat::Nv12 => Some(cudaVideoSurfaceFormat::cudaVideoSurfaceFormat_NV12),
        PixelFormat::P016 => Some(cudaVideoSurfaceFormat::cudaVideoSurfaceFormat_P016),
        PixelFormat::Yuv444 => Some(cudaVideoSurfaceFormat::cudaVideoSurfaceFormat_YUV444),
        PixelFormat::Yuv444_16 => Some(cudaVideoSurfaceFormat::cudaVideoSurfaceFormat_YUV444_16Bit),
        _ => None,
    }
}

/// The output format nvdx picks for a stream: NV12 / P016 for 4:2:0, 4:2:2 and monochrome,
/// YUV444 / YUV444_16 for 4:4:4, 16-bit whenever the stream is deeper than 8 bits.
pub fn default_output_format(chroma: ChromaFormat, bit_depth: u8) -> PixelFormat {
    match (chroma, bit_depth > 8) {
        (ChromaFormat::Yuv444, false) => PixelFormat::Yuv444,
        (ChromaFormat::Yuv444, true) => PixelFormat::Yuv444_16,
        (_, false) => PixelFormat::Nv12,
        (_, true) => PixelFormat::P016,
    }
}

/// Chooses the output format for a stream given the caps: the requested one if NVDEC can
/// write it, else the default for the stream if it can, else an error naming what it can do.
pub(crate) fn choose_output_format(
    requested: Option<PixelFormat>,
    caps: &DecoderCaps,
) -> Result<PixelFormat> {
    let wanted = requested.unwrap_or_else(|| default_output_format(caps.chroma, caps.bit_depth));
    if caps.supports_output(wanted) || caps.output_format_mask == 0 {
        return Ok(wanted);
    }
    if requested.is_none() {
        // 4:4:4 streams on GPUs without 4:4:4 output, 4:2:2 and so on: any 4:2:0 output of the
        // right depth.
        let alt = if caps.bit_depth > 8 {
            PixelFormat::P016
        } else {
            PixelFormat::Nv12
        };
        if caps.supports_output(alt) {
            return Ok(alt);
        }
    }
    Err(Error::Unsupported(format!(
        "NVDEC on {} cannot output {wanted:?} for {} {} {}-bit; it can output {:?}",
        caps.gpu,
        caps.codec,
        chroma_name(caps.chroma),
        caps.bit_depth,
        caps.output_formats()
    )))
}

pub(crate) fn deinterlace_mode(d: Deinterlace, progressive: bool) -> cudaVideoDeinterlaceMode {
    if progressive {
        return cudaVideoDeinterlaceMode::cudaVideoDeinterlaceMode_Weave;
    }
    match d {
        Deinterlace::Weave => cudaVideoDeinterlaceMode::cudaVideoDeinterlaceMode_Weave,
        Deinterlace::Bob => cudaVideoDeinterlaceMode::cudaVideoDeinterlaceMode_Bob,
        Deinterlace::Adaptive => cudaVideoDeinterlaceMode::cudaVideoDeinterlaceMode_Adaptive,
    }
}

pub(crate) fn chroma_name(c: ChromaFormat) -> &'static str {
    match c {
        ChromaFormat::Monochrome => "4:0:0",
        ChromaFormat::Yuv420 => "4:2:0",
        ChromaFormat::Yuv422 => "4:2:2",
        ChromaFormat::Yuv444 => "4:4:4",
    }
}

/// Makes a display rectangle even-sized (4:2:0 frames need even sizes) without scaling: odd
/// widths/heights grow by one pixel into the coded area when possible, else shrink by one.
pub(crate) fn even_display_area(area: Rect, coded_w: u32, coded_h: u32) -> Rect {
    let mut r = area;
    r.right = r.right.min(coded_w);
    r.bottom = r.bottom.min(coded_h);
    if r.width() % 2 == 1 {
        if r.right < coded_w {
            r.right += 1;
        } else {
            r.right -= 1;
        }
    }
    if r.height() % 2 == 1 {
        if r.bottom < coded_h {
            r.bottom += 1;
        } else {
            r.bottom -= 1;
        }
    }
    r
}

/// Converts a tightly packed NV12 (or P016) picture into planar I420 (or 16-bit I420):
/// Y, then U (even samples of the UV rows), then V (odd samples). `bytes_per_sample` is 1
/// for NV12 and 2 for P016. Appends to `out`.
pub fn nv12_to_i420(
    nv12: &[u8],
    width: usize,
    height: usize,
    bytes_per_sample: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    let row = width * bytes_per_sample;
    let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
    let need = row * height + cw * 2 * bytes_per_sample * ch;
    if nv12.len() < need || !(1..=2).contains(&bytes_per_sample) {
        return Err(Error::InvalidArgument(format!(
            "NV12 {width}x{height} needs {need} bytes, got {}",
            nv12.len()
        )));
    }
    out.extend_from_slice(&nv12[..row * height]);
    let uv = &nv12[row * height..];
    let uv_row = cw * 2 * bytes_per_sample;
    for plane in 0..2 {
        for y in 0..ch {
            let r = &uv[y * uv_row..(y + 1) * uv_row];
            if bytes_per_sample == 1 {
                out.extend(r.iter().skip(plane).step_by(2));
            } else {
                for s in r.chunks_exact(4) {
                    out.extend_from_slice(&s[plane * 2..plane * 2 + 2]);
                }
            }
        }
    }
    Ok(())
}

/// Crops a tightly packed NV12/P016 picture of `width` x `height` to its top-left
/// `out_w` x `out_h` (odd sizes allowed: chroma keeps `ceil(out/2)` samples) and converts it to
/// planar I420, appending to `out`. For comparing decoder output with reference hashes.
pub fn nv12_crop_to_i420(
    nv12: &[u8],
    width: usize,
    height: usize,
    out_w: usize,
    out_h: usize,
    bytes_per_sample: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    let bps = bytes_per_sample;
    let row = width * bps;
    let need = row * (height + height / 2);
    if nv12.len() < need || out_w > width || out_h > height || !(1..=2).contains(&bps) {
        return Err(Error::InvalidArgument(format!(
            "cannot crop NV12 {width}x{height} ({} bytes) to {out_w}x{out_h}",
            nv12.len()
        )));
    }
    for y in 0..out_h {
        out.extend_from_slice(&nv12[y * row..y * row + out_w * bps]);
    }
    let uv = &nv12[row * height..];
    let (cw, ch) = (out_w.div_ceil(2), out_h.div_ceil(2));
    for plane in 0..2 {
        for y in 0..ch {
            let r = &uv[y * row..(y + 1) * row];
            for x in 0..cw {
                let at = (2 * x + plane) * bps;
                out.extend_from_slice(&r[at..at + bps]);
            }
        }
    }
    Ok(())
}

/// A picture the parser has displayed and the session has not handed out yet.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) source: PendingSource,
    pub(crate) meta: FrameMeta,
    pub(crate) format: PixelFormat,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Luma columns NVDEC's output has left of the picture (see `Active::x_shift`).
    pub(crate) x_shift: u32,
    pub(crate) progressive: bool,
    pub(crate) top_field_first: bool,
    pub(crate) repeat_first_field: i32,
    /// What of the picture this entry outputs.
    pub(crate) field: Field,
}

/// One frame of `rate` (numerator, denominator frames a second) in ticks of `timescale`,
/// rounded to the nearest tick; `None` when either is unknown (zero) or it does not fit.
pub(crate) fn nominal_frame_ticks(rate: Option<(u32, u32)>, timescale: u32) -> Option<i64> {
    let (num, den) = rate.filter(|&(n, d)| n > 0 && d > 0 && timescale > 0)?;
    let t = u64::from(timescale) * u64::from(den);
    i64::try_from((t + u64::from(num) / 2) / u64::from(num)).ok()
}

/// What one display queue entry outputs of its picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// The whole picture (progressive, woven, or deinterlaced into one frame).
    Frame,
    /// The first field of an interlaced picture ([`Deinterlace::Bob`]).
    First,
    /// The second field, at the picture's pts plus half its duration.
    Second,
}

impl Pending {
    /// Bytes from the start of a mapped surface row to the picture's first pixel.
    pub(crate) fn shift_bytes(&self) -> u64 {
        u64::from(self.x_shift) * self.format.bytes_per_sample() as u64
    }
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "entries live in a preallocated queue; boxing the spilled frame would allocate per spill"
)]
pub(crate) enum PendingSource {
    /// Still in decode surface `index`.
    Surface { index: i32 },
    /// Copied out already (the surface was about to be reused), on the session's own stream.
    Spilled {
        frame: PooledFrame,
        status: DecodeStatus,
    },
}

/// Decoded pictures waiting in display order.
pub(crate) type PendingQueue = VecDeque<Pending>;

/// The decoder's SPS scan (left/top crop, size), for the demuxer's fixture tests.
#[cfg(test)]
pub(crate) fn scan_sps_crop_for_tests(codec: Codec, data: &[u8]) -> Option<(u32, u32, u32, u32)> {
    session::scan_sps_crop(codec, data).map(|c| (c.left, c.top, c.width, c.height))
}
