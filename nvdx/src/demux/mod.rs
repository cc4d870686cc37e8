//! Containers and elementary streams in, compressed packets out. Pure CPU, no CUDA, no ffmpeg.
//!
//! Supported inputs:
//! - MP4/MOV, including fragmented MP4: `avc1`/`avc3`/`hvc1`/`hev1`/`vp09`/`av01` video tracks.
//!   H.264/HEVC samples are converted from length-prefixed NAL units to Annex B, and the
//!   parameter sets of the sample entry (`avcC`/`hvcC`) are put in front of every keyframe that
//!   does not already carry them in-band. Edit lists shift the timestamps.
//! - IVF (VP9, AV1, VP8 is rejected as unsupported).
//! - Matroska and WebM: `V_MPEG4/ISO/AVC`, `V_MPEGH/ISO/HEVC` (converted to Annex B like MP4),
//!   `V_VP9`, `V_AV1`, `V_MPEG2` and `V_MJPEG` tracks; SimpleBlock and BlockGroup, all three lacings, with or
//!   without Cues (every Cluster is scanned). With several video tracks the one the `ffmpeg`
//!   command line would pick is used ([`Demux::video_tracks`] lists them all,
//!   [`Demuxer::open_track`] picks another).
//!   Also MPEG-2 video (`mp4v` with an `esds` objectTypeIndication of 0x60..=0x65) and Motion
//!   JPEG (`jpeg`, `mjpa`; `mp4v` with objectTypeIndication 0x6C).
//! - MPEG-2 video elementary streams (`.m2v`), one coded frame per packet, display order from
//!   `temporal_reference` (see the `mpeg2` module).
//! - Annex B H.264/HEVC elementary streams, grouped into one access unit (picture) per packet.
//!   They carry no timestamps: pictures are `1/fps` apart (VUI rate, else 30 fps) and the
//!   display order comes from the picture order count of each slice header.
//!
//! Every demuxer builds a sample index when opened ([`SampleEntry`], decode order), so any
//! packet can be read directly with [`Demux::read_packet`], and [`Demux::keyframe_before`]
//! tells where decoding must start for frame-accurate random access.
//!
//! The parsers never panic on hostile input: sizes are bounds-checked, arithmetic is checked and
//! malformed input gives [`Error::InvalidData`] saying what is wrong.
//!
//! ```no_run
//! # fn main() -> nvdx::Result<()> {
//! let mut demuxer = nvdx::demux::open("fixtures/sample.mp4")?;
//! println!("{:?}", demuxer.info());
//! while let Some(packet) = demuxer.next_packet()? {
//!     println!("#{} pts {} key {} {} bytes", packet.index, packet.pts, packet.keyframe, packet.data.len());
//! }
//! # Ok(()) }
//! ```

pub mod annexb;
mod ivf;
mod mjpeg;
mod mkv;
mod mp4;
mod mpeg2;
mod poc;
pub mod reader;
pub mod sps;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

pub use annexb::{
    annexb_to_avcc, avcc_to_annexb, avcc_to_annexb_into, guess_codec, parse_avcc, parse_hvcc,
    split_annexb, AnnexBSplitter, DecoderConfig, NalIter,
};
pub use reader::{remove_emulation_prevention, BitReader};
pub use sps::{parse_h264_sps, parse_hevc_sps, SpsInfo};

use crate::codec::{ChromaFormat, Codec};
use crate::{Error, Result};

/// The container a demuxer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Container {
    /// ISO BMFF: MP4, MOV, fragmented MP4.
    Mp4,
    /// IVF (VP9, AV1).
    Ivf,
    /// H.264/HEVC Annex B elementary stream.
    AnnexB,
    /// Matroska or WebM.
    Matroska,
    /// MPEG-2 video elementary stream (starts with a sequence header, `0x000001B3`).
    Mpeg2Video,
}

/// Colour description of the video as ITU-T H.273 code points, as the bitstream and the
/// container state it (see [`StreamInfo::colour`]). A field is `None` when neither says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ColourInfo {
    /// `ColourPrimaries` (1: BT.709, 9: BT.2020, 2: unspecified).
    pub primaries: Option<u8>,
    /// `TransferCharacteristics` (1: BT.709, 16: PQ, 18: HLG, 2: unspecified).
    pub transfer: Option<u8>,
    /// `MatrixCoefficients` (1: BT.709, 6: BT.601, 9: BT.2020 NCL, 2: unspecified).
    pub matrix: Option<u8>,
    /// `VideoFullRangeFlag`: `Some(false)` limited ("TV") range, `Some(true)` full range.
    pub full_range: Option<bool>,
}

impl ColourInfo {
    /// As an [`crate::colour::ColourDescription`] (unstated code points are "unspecified"); its
    /// [`conversion_space`](crate::colour::ColourDescription::conversion_space) is what RGB and
    /// tensor outputs should use for this stream.
    pub fn description(&self) -> crate::colour::ColourDescription {
        crate::colour::ColourDescription::from_h273(
            self.primaries.unwrap_or(2),
            self.transfer.unwrap_or(2),
            self.matrix.unwrap_or(2),
            self.full_range,
        )
    }
}

/// Combines the bitstream's colour description (SPS VUI) with the container's: the bitstream's
/// fields win where it states them, the container fills the rest.
pub(crate) fn merge_colour(
    bitstream: Option<ColourInfo>,
    container: Option<ColourInfo>,
) -> Option<ColourInfo> {
    match (bitstream, container) {
        (Some(b), Some(c)) => Some(ColourInfo {
            primaries: b.primaries.or(c.primaries),
            transfer: b.transfer.or(c.transfer),
            matrix: b.matrix.or(c.matrix),
            full_range: b.full_range.or(c.full_range),
        }),
        (b, c) => b.or(c),
    }
}

/// One video track of a container with several (see [`Demux::video_tracks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrack {
    /// The container's track number (Matroska `TrackNumber`), as
    /// [`Demuxer::open_track`] takes it.
    pub number: u64,
    /// The codec, `None` when nvdx does not support it.
    pub codec: Option<Codec>,
    /// The container's codec name (Matroska `CodecID`).
    pub codec_id: String,
    /// Width in pixels as the container states it (0 when it does not).
    pub width: u32,
    /// Height in pixels as the container states it (0 when it does not).
    pub height: u32,
    /// Flagged as a default track.
    pub default: bool,
    /// Flagged as enabled.
    pub enabled: bool,
    /// The track this demuxer reads.
    pub selected: bool,
}

/// Description of the video stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    /// The container the stream came from.
    pub container: Container,
    /// Compression format.
    pub codec: Codec,
    /// Displayed width in pixels (after cropping).
    pub width: u32,
    /// Displayed height in pixels (after cropping).
    pub height: u32,
    /// Luma bit depth, best effort from avcC/hvcC/SPS/VP9 header; 8 when unknown.
    pub bit_depth: u8,
    /// Chroma subsampling; 4:2:0 when unknown.
    pub chroma: ChromaFormat,
    /// Ticks per second of every timestamp in [`Packet`] and [`SampleEntry`].
    pub timescale: u32,
    /// Nominal frame rate as (numerator, denominator) when known.
    pub frame_rate: Option<(u32, u32)>,
    /// Presentation duration in seconds (the edit list's when there is one).
    pub duration_seconds: Option<f64>,
    /// Number of coded pictures (samples). Samples with `pts < 0` (edit list pre-roll) are
    /// decoded but not meant to be shown.
    pub frame_count: Option<usize>,
    /// Clockwise rotation to apply for display (0, 90, 180 or 270), from the `tkhd` matrix.
    pub rotation_degrees: i32,
    /// Annex B parameter sets (VPS/SPS/PPS) from the sample entry or the first access unit;
    /// for MPEG-2 the sequence header with its extensions; may be empty.
    pub parameter_sets: Vec<u8>,
    /// Colour description of the stream: what the bitstream states (H.264/HEVC SPS VUI, AV1
    /// sequence header `color_config`, VP9 keyframe header in IVF, MPEG-2 sequence display
    /// extension), each field it leaves unstated filled from the container (MP4 `colr`/`vpcC`,
    /// Matroska `Colour`); `None` when neither says anything.
    pub colour: Option<ColourInfo>,
}

/// One compressed picture.
///
/// To read many packets without an allocation each, keep one `Packet` (start from
/// `Packet::default()`) and refill it with [`Demux::read_packet_into`] or
/// [`Demux::next_packet_into`]: its buffer is reused once it is large enough.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packet {
    /// Annex B (4-byte start codes) for H.264/HEVC; the raw frame for VP9/AV1; one coded
    /// frame with the headers before it for MPEG-2; one JPEG picture for MJPEG.
    pub data: Vec<u8>,
    /// Presentation time in [`StreamInfo::timescale`] ticks, edit list applied.
    pub pts: i64,
    /// Decode time in the same ticks.
    pub dts: i64,
    /// Duration in ticks.
    pub duration: i64,
    /// A random-access point (IDR/IRAP/key frame).
    pub keyframe: bool,
    /// Sample number in decode order, from 0.
    pub index: usize,
}

/// Where one sample lies in the input and its timing, in decode order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleEntry {
    /// Byte offset in the file.
    pub offset: u64,
    /// Size in bytes as stored (before any Annex B conversion).
    pub size: u32,
    /// Presentation time in ticks, edit list applied.
    pub pts: i64,
    /// Decode time in ticks, edit list applied.
    pub dts: i64,
    /// Duration in ticks.
    pub duration: i64,
    /// A random-access point.
    pub keyframe: bool,
}

/// A demuxer: one video stream of a container or elementary stream.
pub trait Demux: Send {
    /// The stream's description.
    fn info(&self) -> &StreamInfo;
    /// Next packet in decode order, `None` at the end.
    fn next_packet(&mut self) -> Result<Option<Packet>>;
    /// Makes [`Demux::next_packet`] continue at `sample_index` (decode order). To decode a
    /// picture, seek to [`Demux::keyframe_before`] of it first.
    fn seek(&mut self, sample_index: usize) -> Result<()>;
    /// The sample index in decode order, when the container has one.
    fn samples(&self) -> Option<&[SampleEntry]>;
    /// Reads the packet of sample `index` (decode order) without moving the cursor.
    fn read_packet(&mut self, index: usize) -> Result<Packet>;
    /// Like [`Demux::read_packet`], but refills `packet`, reusing its buffer: no allocation
    /// once the buffer has grown to the largest packet. On an error `packet` holds no
    /// meaningful data (but stays usable for the next call).
    fn read_packet_into(&mut self, index: usize, packet: &mut Packet) -> Result<()> {
        *packet = self.read_packet(index)?;
        Ok(())
    }
    /// Like [`Demux::next_packet`], but refills `packet` (see [`Demux::read_packet_into`]);
    /// `false` at the end.
    fn next_packet_into(&mut self, packet: &mut Packet) -> Result<bool> {
        match self.next_packet()? {
            Some(p) => {
                *packet = p;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    /// Indices of the keyframes, ascending.
    fn keyframes(&self) -> &[usize];
    /// Sample indices sorted by presentation time: `display_order()[n]` is the decode index
    /// of the `n`-th displayed picture.
    fn display_order(&self) -> Vec<usize>;
    /// The video tracks of the container, when it can have several (Matroska); the one read
    /// has `selected` set. Empty for the other containers.
    fn video_tracks(&self) -> &[VideoTrack] {
        &[]
    }
    /// The last keyframe at or before sample `index`, where decoding must start to
    /// reconstruct it (`None` if no keyframe precedes it).
    fn keyframe_before(&self, index: usize) -> Option<usize> {
        let k = self.keyframes();
        let n = k.partition_point(|&i| i <= index);
        n.checked_sub(1).and_then(|i| k.get(i).copied())
    }
}

/// Where the bytes come from.
#[derive(Debug)]
pub(crate) enum Source {
    Bytes(Vec<u8>),
    File { file: File, path: String, len: u64 },
}

impl Source {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::File { len, .. } => *len,
        }
    }

    /// Reads `len` bytes at `offset`; an error if the range is not inside the input.
    pub(crate) fn read_at(&mut self, offset: u64, len: u64) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_into(offset, len, &mut buf)?;
        Ok(buf)
    }

    /// Reads `len` bytes at `offset` into `out` (replacing its contents, reusing its
    /// capacity); an error if the range is not inside the input.
    pub(crate) fn read_into(&mut self, offset: u64, len: u64, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        let end = offset.checked_add(len).filter(|&e| e <= self.len());
        let Some(end) = end else {
            return Err(Error::InvalidData(format!(
                "data at offset {offset}, {len} bytes, lies past the end of the input ({} bytes); \
                 the file is truncated or its index is corrupt",
                self.len()
            )));
        };
        match self {
            Source::Bytes(b) => {
                let s = usize::try_from(offset).ok();
                let e = usize::try_from(end).ok();
                let range = match (s, e) {
                    (Some(s), Some(e)) => b.get(s..e),
                    _ => None,
                };
                let bytes =
                    range.ok_or_else(|| Error::InvalidData("read outside of the input".into()))?;
                out.extend_from_slice(bytes);
                Ok(())
            }
            Source::File { file, path, .. } => {
                let n = usize::try_from(len)
                    .map_err(|_| Error::InvalidData(format!("read of {len} bytes is too large")))?;
                let io = |source| Error::Io {
                    path: path.clone(),
                    source,
                };
                file.seek(SeekFrom::Start(offset)).map_err(io)?;
                out.reserve(n);
                // `read_to_end` reads into the vector's spare capacity without zeroing it
                // first (a `resize(n, 0)` + `read_exact` wrote every packet's bytes twice).
                let r = match (&*file).take(len).read_to_end(out) {
                    Ok(got) if got == n => Ok(()),
                    Ok(got) => Err(Error::Io {
                        path: path.clone(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!(
                                "{got} of {n} bytes at offset {offset}: the file shrank while open"
                            ),
                        ),
                    }),
                    Err(source) => Err(Error::Io {
                        path: path.clone(),
                        source,
                    }),
                };
                if r.is_err() {
                    out.clear();
                }
                r
            }
        }
    }

    /// Reads up to `len` bytes at `offset`, fewer at the end of the input.
    pub(crate) fn read_clamped(&mut self, offset: u64, len: u64) -> Result<Vec<u8>> {
        let avail = self.len().saturating_sub(offset);
        self.read_at(offset.min(self.len()), len.min(avail))
    }
}

/// How stored samples become packet data.
#[derive(Debug, Clone)]
pub(crate) enum PacketFormat {
    /// Stored bytes are the packet.
    Raw,
    /// MPEG-2 video: stored bytes, with `sequence_header` (and its extensions) put before
    /// keyframes (and the first sample) that do not start with one.
    Mpeg2 { sequence_header: Vec<u8> },
    /// Length-prefixed NAL units, converted to Annex B; `parameter_sets` go before keyframes
    /// that lack an SPS.
    LengthPrefixed {
        length_size: u8,
        parameter_sets: Vec<u8>,
    },
}

/// What a container parser hands to [`Demuxer`].
#[derive(Debug)]
pub(crate) struct Parsed {
    pub info: StreamInfo,
    pub samples: Vec<SampleEntry>,
    pub format: PacketFormat,
}

/// The demuxer for every supported container: a sample index over a file or a byte buffer.
#[derive(Debug)]
pub struct Demuxer {
    source: Source,
    info: StreamInfo,
    samples: Vec<SampleEntry>,
    keyframes: Vec<usize>,
    format: PacketFormat,
    cursor: usize,
    /// The container's video tracks (Matroska), empty otherwise.
    tracks: Vec<VideoTrack>,
    /// The stored bytes of the last length-prefixed sample (reused between packets).
    scratch: Vec<u8>,
}

/// Opens a file, detecting the container from its first bytes.
pub fn open(path: impl AsRef<Path>) -> Result<Box<dyn Demux>> {
    Ok(Box::new(Demuxer::open(path)?))
}

/// Demuxes an in-memory file, detecting the container from its first bytes.
pub fn from_bytes(bytes: Vec<u8>) -> Result<Box<dyn Demux>> {
    Ok(Box::new(Demuxer::from_bytes(bytes)?))
}

/// Detects the container of a file from its first bytes (at least 12 are needed).
pub fn sniff(head: &[u8]) -> Result<Container> {
    let t = head.get(4..8);
    if head.starts_with(b"DKIF") {
        return Ok(Container::Ivf);
    }
    if let Some(t) = t {
        if [
            &b"ftyp"[..],
            b"moov",
            b"mdat",
            b"free",
            b"skip",
            b"wide",
            b"styp",
            b"moof",
            b"pnot",
            b"sidx",
        ]
        .contains(&t)
        {
            return Ok(Container::Mp4);
        }
    }
    if head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        return Ok(Container::Matroska);
    }
    let zeros = head.iter().take_while(|&&b| b == 0).count();
    // MPEG-2 video: a sequence header (0xB3), a GOP header (0xB8, a stream cut at a GOP) or
    // a pack header (0xBA, a program stream, which the MPEG-2 parser rejects with a clear
    // error). No H.264/HEVC NAL unit header starts with these bytes (their
    // forbidden_zero_bit is set).
    if zeros >= 2
        && head.get(zeros) == Some(&1)
        && matches!(head.get(zeros + 1), Some(0xB3 | 0xB8 | 0xBA))
    {
        return Ok(Container::Mpeg2Video);
    }
    if zeros >= 2 && head.get(zeros) == Some(&1) {
        return Ok(Container::AnnexB);
    }
    Err(Error::InvalidData(
        "unrecognised input: not MP4/MOV (no ftyp/moov box), IVF (no DKIF), Matroska/WebM (no EBML header), an MPEG-2 video \
         elementary stream (no sequence header) or an H.264/HEVC Annex B stream (no start code); convert it with ffmpeg to one of these"
            .into(),
    ))
}

impl Demuxer {
    /// Opens a file, detecting the container. Only the index is read now; packets are read
    /// from the file on demand.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| Error::Io {
            path: name.clone(),
            source,
        })?;
        let len = file
            .metadata()
            .map_err(|source| Error::Io {
                path: name.clone(),
                source,
            })?
            .len();
        Self::from_source(Source::File {
            file,
            path: name,
            len,
        })
    }

    /// Demuxes an in-memory file, detecting the container.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Self::from_source(Source::Bytes(bytes))
    }

    /// Opens a Matroska/WebM file reading the video track with `TrackNumber` `number`
    /// instead of the default choice (see [`Demux::video_tracks`]). An error for the other
    /// containers, which have one video track.
    pub fn open_track(path: impl AsRef<Path>, number: u64) -> Result<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| Error::Io {
            path: name.clone(),
            source,
        })?;
        let len = file
            .metadata()
            .map_err(|source| Error::Io {
                path: name.clone(),
                source,
            })?
            .len();
        Self::from_source_track(
            Source::File {
                file,
                path: name,
                len,
            },
            Some(number),
        )
    }

    /// Like [`Demuxer::open_track`], for an in-memory file.
    pub fn from_bytes_track(bytes: Vec<u8>, number: u64) -> Result<Self> {
        Self::from_source_track(Source::Bytes(bytes), Some(number))
    }

    fn from_source(source: Source) -> Result<Self> {
        Self::from_source_track(source, None)
    }

    fn from_source_track(mut source: Source, track: Option<u64>) -> Result<Self> {
        let head = source.read_clamped(0, 64)?;
        let container = sniff(&head)?;
        if track.is_some() && !matches!(container, Container::Matroska | Container::Mp4) {
            return Err(Error::InvalidArgument(format!(
                "choosing a track is for MP4/MOV and Matroska/WebM, not {container:?} input (it has one video track)"
            )));
        }
        let mut tracks = Vec::new();
        let parsed = match container {
            Container::Mp4 => {
                let (p, t) = mp4::parse(&mut source, track)?;
                if t.len() > 1 {
                    tracks = t;
                }
                p
            }
            Container::Ivf => ivf::parse(&mut source)?,
            Container::AnnexB => parse_annexb(&mut source)?,
            Container::Mpeg2Video => mpeg2::parse(&mut source)?,
            Container::Matroska => {
                let (p, t) = mkv::parse(&mut source, track)?;
                tracks = t;
                p
            }
        };
        let keyframes = parsed
            .samples
            .iter()
            .enumerate()
            .filter(|(_, s)| s.keyframe)
            .map(|(i, _)| i)
            .collect();
        Ok(Demuxer {
            source,
            info: parsed.info,
            samples: parsed.samples,
            keyframes,
            format: parsed.format,
            cursor: 0,
            tracks,
            scratch: Vec::new(),
        })
    }

    /// The container that was detected.
    pub fn container(&self) -> Container {
        self.info.container
    }
}

impl Demux for Demuxer {
    fn info(&self) -> &StreamInfo {
        &self.info
    }

    fn next_packet(&mut self) -> Result<Option<Packet>> {
        let mut p = Packet::default();
        Ok(self.next_packet_into(&mut p)?.then_some(p))
    }

    fn next_packet_into(&mut self, packet: &mut Packet) -> Result<bool> {
        if self.cursor >= self.samples.len() {
            return Ok(false);
        }
        self.read_packet_into(self.cursor, packet)?;
        self.cursor += 1;
        Ok(true)
    }

    fn seek(&mut self, sample_index: usize) -> Result<()> {
        if sample_index > self.samples.len() {
            return Err(Error::InvalidArgument(format!(
                "seek to sample {sample_index}, but the stream has {} samples",
                self.samples.len()
            )));
        }
        self.cursor = sample_index;
        Ok(())
    }

    fn samples(&self) -> Option<&[SampleEntry]> {
        Some(&self.samples)
    }

    fn read_packet(&mut self, index: usize) -> Result<Packet> {
        let mut p = Packet::default();
        self.read_packet_into(index, &mut p)?;
        Ok(p)
    }

    fn read_packet_into(&mut self, index: usize, packet: &mut Packet) -> Result<()> {
        let Some(&s) = self.samples.get(index) else {
            return Err(Error::InvalidArgument(format!(
                "sample {index} does not exist; the stream has {} samples",
                self.samples.len()
            )));
        };
        let data = &mut packet.data;
        match &self.format {
            PacketFormat::Raw => self.source.read_into(s.offset, u64::from(s.size), data)?,
            PacketFormat::Mpeg2 { sequence_header } => {
                self.source.read_into(s.offset, u64::from(s.size), data)?;
                if (s.keyframe || index == 0)
                    && !sequence_header.is_empty()
                    && !mpeg2::has_sequence_header(data)
                {
                    data.splice(0..0, sequence_header.iter().copied());
                }
            }
            PacketFormat::LengthPrefixed {
                length_size,
                parameter_sets,
            } => {
                let stored = &mut self.scratch;
                self.source.read_into(s.offset, u64::from(s.size), stored)?;
                data.clear();
                avcc_to_annexb_into(stored, *length_size, data).map_err(|e| {
                    Error::InvalidData(format!("sample {index}: {}", strip_prefix(&e)))
                })?;
                let codec = self.info.codec;
                if (s.keyframe || index == 0)
                    && !parameter_sets.is_empty()
                    && !split_annexb(data).any(|n| annexb::is_sps(codec, n))
                {
                    data.splice(0..0, parameter_sets.iter().copied());
                }
            }
        }
        packet.pts = s.pts;
        packet.dts = s.dts;
        packet.duration = s.duration;
        packet.keyframe = s.keyframe;
        packet.index = index;
        Ok(())
    }

    fn keyframes(&self) -> &[usize] {
        &self.keyframes
    }

    fn display_order(&self) -> Vec<usize> {
        display_order(&self.samples)
    }

    fn video_tracks(&self) -> &[VideoTrack] {
        &self.tracks
    }
}

fn strip_prefix(e: &Error) -> String {
    match e {
        Error::InvalidData(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Sample indices sorted by presentation time (ties by decode order).
pub fn display_order(samples: &[SampleEntry]) -> Vec<usize> {
    let mut v: Vec<usize> = (0..samples.len()).collect();
    v.sort_by_key(|&i| (samples.get(i).map_or(0, |s| s.pts), i));
    v
}

/// Rescales `value` from `from` ticks per second to `to` ticks per second, rounding to nearest
/// and saturating at the `i64` range. A zero `from` gives 0.
pub fn rescale(value: i64, from: u32, to: u32) -> i64 {
    if from == 0 {
        return 0;
    }
    let num = i128::from(value) * i128::from(to);
    let den = i128::from(from);
    let half = den / 2;
    let q = if num >= 0 {
        (num + half) / den
    } else {
        (num - half) / den
    };
    i64::try_from(q).unwrap_or(if q < 0 { i64::MIN } else { i64::MAX })
}

/// `ticks / timescale` in seconds (0 for a zero timescale).
pub fn ticks_to_seconds(ticks: i64, timescale: u32) -> f64 {
    if timescale == 0 {
        0.0
    } else {
        ticks as f64 / f64::from(timescale)
    }
}

/// Chunk size used to scan files that have no index (Annex B).
const SCAN_CHUNK: u64 = 1 << 20;

fn parse_annexb(source: &mut Source) -> Result<Parsed> {
    let head = source.read_clamped(0, SCAN_CHUNK)?;
    let codec = guess_codec(&head).ok_or_else(|| {
        Error::InvalidData(
            "Annex B stream has no recognisable H.264 or HEVC NAL units in its first MiB".into(),
        )
    })?;
    // First pass: find the access units, and the first SPS/PPS/VPS for the stream info.
    let mut spans = Vec::new();
    let mut params: Vec<u8> = Vec::new();
    let mut sps_info: Option<SpsInfo> = None;
    let mut sps_error: Option<Error> = None;
    let mut splitter = AnnexBSplitter::new(codec, 1)?;
    let mut tracker = poc::PocTracker::new(codec);
    let mut keys = Vec::new();
    let mut on_au = |span: annexb::AuSpan, bytes: &[u8]| {
        keys.push(tracker.access_unit(bytes));
        if sps_info.is_none() {
            for nal in split_annexb(bytes) {
                if annexb::is_parameter_set(codec, nal) {
                    params.extend_from_slice(&annexb::START_CODE);
                    params.extend_from_slice(nal);
                }
                if annexb::is_sps(codec, nal) && sps_info.is_none() {
                    match parse_sps(codec, nal) {
                        Ok(i) => sps_info = Some(i),
                        Err(e) => sps_error = Some(e),
                    }
                }
            }
        }
        spans.push(span);
    };
    let mut offset = 0u64;
    let len = source.len();
    while offset < len {
        let chunk = source.read_clamped(offset, SCAN_CHUNK)?;
        if chunk.is_empty() {
            break;
        }
        offset = offset.saturating_add(chunk.len() as u64);
        splitter.push_inner(&chunk, &mut on_au)?;
    }
    splitter.flush_inner(&mut on_au)?;
    let Some(sps) = sps_info else {
        return Err(sps_error.unwrap_or_else(|| {
            Error::InvalidData(format!(
                "{codec} Annex B stream has no sequence parameter set; the decoder cannot \
                 start without one"
            ))
        }));
    };
    if spans.is_empty() {
        return Err(Error::InvalidData(format!(
            "{codec} Annex B stream contains no pictures"
        )));
    }
    // No timestamps in an elementary stream: one tick per frame of the VUI rate, else 30 fps.
    let (timescale, dur) = match sps.frame_rate {
        Some((n, d)) => (n, i64::from(d)),
        None => (30, 1),
    };
    // pts from the display position (picture order count), so the first picture shown is at
    // 0; dts from the decode position, shifted back by the reorder delay so that dts <= pts,
    // as an MP4 edit list does for B-frames (the first dts are negative).
    let ranks = poc::display_ranks(&keys);
    let delay = ranks
        .iter()
        .enumerate()
        .map(|(i, &r)| i.saturating_sub(r))
        .max()
        .unwrap_or(0);
    let ticks = |n: usize| i64::try_from(n).unwrap_or(i64::MAX).saturating_mul(dur);
    let samples: Vec<SampleEntry> = spans
        .iter()
        .zip(&ranks)
        .enumerate()
        .map(|(i, (s, &rank))| SampleEntry {
            offset: s.offset,
            size: s.size,
            pts: ticks(rank),
            dts: ticks(i).saturating_sub(ticks(delay)),
            duration: dur,
            keyframe: s.keyframe,
        })
        .collect();
    let total = (samples.len() as i64).saturating_mul(dur);
    Ok(Parsed {
        info: StreamInfo {
            container: Container::AnnexB,
            codec,
            width: sps.width,
            height: sps.height,
            bit_depth: sps.bit_depth,
            chroma: sps.chroma,
            timescale,
            frame_rate: sps.frame_rate,
            duration_seconds: Some(ticks_to_seconds(total, timescale)),
            frame_count: Some(samples.len()),
            rotation_degrees: 0,
            parameter_sets: params,
            colour: sps.colour,
        },
        samples,
        format: PacketFormat::Raw,
    })
}

/// Parses an SPS NAL unit of `codec` (H.264 or HEVC).
pub fn parse_sps(codec: Codec, nal: &[u8]) -> Result<SpsInfo> {
    match codec {
        Codec::H264 => parse_h264_sps(nal),
        Codec::Hevc => parse_hevc_sps(nal),
        other => Err(Error::Unsupported(format!(
            "SPS parsing is for H.264 and HEVC, not {other}"
        ))),
    }
}

#[cfg(test)]
mod tests;
