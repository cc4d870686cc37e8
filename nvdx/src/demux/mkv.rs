//! Matroska / WebM: an EBML reader that indexes every block of the chosen video track.
//!
//! The whole Segment is scanned at open (Cluster by Cluster, reading only element headers and
//! block headers, never the frame payloads), so the sample index is complete even when the file
//! has no Cues, and seeking by sample index works like the MP4 path. Cues are therefore not
//! needed and are skipped.
//!
//! - SimpleBlock and BlockGroup (a Block without a ReferenceBlock is a keyframe), with Xiph,
//!   EBML and fixed-size lacing: every laced frame is contiguous in the file, so it becomes one
//!   [`SampleEntry`] of its own. As in ffmpeg, only the first frame of a laced keyframe block
//!   is a keyframe, and frame `k` of a block is at the block time plus `k` times the block
//!   duration (BlockDuration, else DefaultDuration per frame) over the frame count; with no
//!   duration known (ffmpeg gives no pts then) frames are one tick apart.
//! - Unknown-size Segments and Clusters (live / piped output): a Cluster of unknown size ends
//!   at the next top-level element.
//! - Timestamps: `(Cluster Timestamp + block relative timestamp) * TimestampScale` ns, given in
//!   a timescale of `1e9 / gcd(1e9, TimestampScale)` ticks per second (1000 for the default
//!   scale of 1 ms). Matroska stores no decode times: they are derived from the presentation
//!   times and the reorder delay, so that `dts <= pts` and dts increase (like the Annex B
//!   path).
//! - `V_MPEG4/ISO/AVC` and `V_MPEGH/ISO/HEVC` (CodecPrivate `avcC` / `hvcC`: samples become
//!   Annex B with the parameter sets in front of keyframes; SEI arrays of `hvcC` are left
//!   out, where ffmpeg's `hevc_mp4toannexb` copies them too), `V_VP9` (CodecPrivate feature list:
//!   bit depth), `V_AV1` (CodecPrivate `av1C`: bit depth, chroma; colour from the sequence header), `V_MPEG2` (CodecPrivate:
//!   the sequence header, put before keyframes that lack one) and `V_MJPEG` (one JPEG picture
//!   per frame).
//! - The Colour element (H.273 code points) and the pixel size minus PixelCrop.
//!
//! Track choice, when there are several video tracks: the one the `ffmpeg` command line picks
//! by default (`map_auto_video` in fftools): the highest `width * height + 5_000_000 *
//! FlagDefault`, the first on a tie. Only tracks of a supported codec take part; disabled
//! tracks (FlagEnabled 0) only when no enabled one is left.
//!
//! Not supported (a clear error): ContentEncoding (compression, header stripping,
//! encryption), and codecs other than the six above.

use super::annexb::{self, parse_avcc, parse_hvcc, split_annexb};
use super::ivf::{av1_colour, vp9_header};
use super::{
    parse_sps, ticks_to_seconds, Container, PacketFormat, Parsed, SampleEntry, Source, StreamInfo,
    VideoTrack,
};
use crate::codec::{ChromaFormat, Codec};
use crate::{Error, Result};

/// Most frames indexed in one file.
const MAX_FRAMES: usize = 1 << 24;
/// Largest EBML header, Info or Tracks element read into memory.
const MAX_META: u64 = 16 << 20;
/// How much of a laced block is read to parse the lace sizes.
const LACE_HEAD: u64 = 64 << 10;

const EBML: u32 = 0x1A45_DFA3;
const DOC_TYPE: u32 = 0x4282;
const SEGMENT: u32 = 0x1853_8067;
const SEEK_HEAD: u32 = 0x114D_9B74;
const INFO: u32 = 0x1549_A966;
const TRACKS: u32 = 0x1654_AE6B;
const CUES: u32 = 0x1C53_BB6B;
const CLUSTER: u32 = 0x1F43_B675;
const TAGS: u32 = 0x1254_C367;
const CHAPTERS: u32 = 0x1043_A770;
const ATTACHMENTS: u32 = 0x1941_A469;
const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_TYPE: u32 = 0x83;
const FLAG_ENABLED: u32 = 0xB9;
const FLAG_DEFAULT: u32 = 0x88;
const DEFAULT_DURATION: u32 = 0x23_E383;
const CODEC_ID: u32 = 0x86;
const CODEC_PRIVATE: u32 = 0x63A2;
const CONTENT_ENCODINGS: u32 = 0x6D80;
const VIDEO: u32 = 0xE0;
const PIXEL_WIDTH: u32 = 0xB0;
const PIXEL_HEIGHT: u32 = 0xBA;
const PIXEL_CROP_BOTTOM: u32 = 0x54AA;
const PIXEL_CROP_TOP: u32 = 0x54BB;
const PIXEL_CROP_LEFT: u32 = 0x54CC;
const PIXEL_CROP_RIGHT: u32 = 0x54DD;
const COLOUR: u32 = 0x55B0;
const MATRIX_COEFFICIENTS: u32 = 0x55B1;
const BITS_PER_CHANNEL: u32 = 0x55B2;
const RANGE: u32 = 0x55B9;
const TRANSFER_CHARACTERISTICS: u32 = 0x55BA;
const PRIMARIES: u32 = 0x55BB;
const CLUSTER_TIMESTAMP: u32 = 0xE7;
const SIMPLE_BLOCK: u32 = 0xA3;
const BLOCK_GROUP: u32 = 0xA0;
const BLOCK: u32 = 0xA1;
const BLOCK_DURATION: u32 = 0x9B;
const REFERENCE_BLOCK: u32 = 0xFB;

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidData(format!("Matroska: {}", msg.into()))
}

/// An element header: its ID, where its data starts and how long it is (`None`: unknown).
#[derive(Debug, Clone, Copy)]
struct Header {
    id: u32,
    data: u64,
    size: Option<u64>,
}

/// Parses an element ID and size from `b`; returns the header length too.
fn parse_header(b: &[u8]) -> Result<(u32, Option<u64>, usize)> {
    let first = *b
        .first()
        .ok_or_else(|| invalid("element header is truncated"))?;
    let id_len = first.leading_zeros() as usize + 1;
    if id_len > 4 {
        return Err(invalid(format!(
            "invalid element ID (first byte {first:#04x})"
        )));
    }
    let idb = b
        .get(..id_len)
        .ok_or_else(|| invalid("element ID is truncated"))?;
    let id = idb.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x));
    let rest = b.get(id_len..).unwrap_or(&[]);
    let (size, size_len) = parse_vint(rest)?;
    let all_ones = (1u64 << (7 * size_len)) - 1;
    let size = (size != all_ones).then_some(size);
    Ok((id, size, id_len + size_len))
}

/// An EBML variable-size integer (marker removed) and its length in bytes.
fn parse_vint(b: &[u8]) -> Result<(u64, usize)> {
    let first = *b
        .first()
        .ok_or_else(|| invalid("variable-size integer is truncated"))?;
    if first == 0 {
        return Err(invalid("variable-size integer longer than 8 bytes"));
    }
    let len = first.leading_zeros() as usize + 1;
    let bytes = b
        .get(1..len)
        .ok_or_else(|| invalid("variable-size integer is truncated"))?;
    let mut v = u64::from(first) & (0xFF >> len);
    for &x in bytes {
        v = (v << 8) | u64::from(x);
    }
    Ok((v, len))
}

/// Reads the element header at `pos`, which must lie before `end`.
fn read_header(src: &mut Source, pos: u64, end: u64) -> Result<Header> {
    let head = src.read_clamped(pos, end.saturating_sub(pos).min(12))?;
    let (id, size, n) = parse_header(&head)
        .map_err(|e| invalid(format!("at offset {pos}: {}", super::strip_prefix(&e))))?;
    Ok(Header {
        id,
        data: pos.saturating_add(n as u64),
        size,
    })
}

/// The children of an in-memory master element.
fn children(mut data: &[u8]) -> impl Iterator<Item = Result<(u32, &[u8])>> {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let r = parse_header(data).and_then(|(id, size, n)| {
            let size = size.ok_or_else(|| {
                invalid(format!("element {id:#x} of unknown size inside a header"))
            })?;
            let end = usize::try_from(size)
                .ok()
                .and_then(|s| s.checked_add(n))
                .filter(|&e| e <= data.len())
                .ok_or_else(|| invalid(format!("element {id:#x} runs past its parent")))?;
            let body = data.get(n..end).unwrap_or(&[]);
            data = data.get(end..).unwrap_or(&[]);
            Ok((id, body))
        });
        if r.is_err() {
            data = &[];
        }
        Some(r)
    })
}

fn uint(b: &[u8], what: &str) -> Result<u64> {
    if b.len() > 8 {
        return Err(invalid(format!(
            "{what} is an integer of {} bytes",
            b.len()
        )));
    }
    Ok(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

fn float(b: &[u8], what: &str) -> Result<f64> {
    match b.len() {
        0 => Ok(0.0),
        4 => Ok(f64::from(f32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
        8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Ok(f64::from_be_bytes(a))
        }
        n => Err(invalid(format!("{what} is a float of {n} bytes"))),
    }
}

fn string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(b.get(..end).unwrap_or(&[])).into_owned()
}

fn small_u8(v: u64) -> Option<u8> {
    u8::try_from(v).ok()
}

/// One TrackEntry.
#[derive(Debug, Clone, Default)]
struct Track {
    number: u64,
    track_type: u64,
    enabled: bool,
    default: bool,
    default_duration: Option<u64>,
    codec_id: String,
    codec_private: Vec<u8>,
    encoded: bool,
    width: u32,
    height: u32,
    bits_per_channel: Option<u8>,
    matrix: Option<u8>,
    range: Option<u8>,
    transfer: Option<u8>,
    primaries: Option<u8>,
}

impl Track {
    fn codec(&self) -> Option<Codec> {
        match self.codec_id.as_str() {
            "V_MPEG4/ISO/AVC" => Some(Codec::H264),
            "V_MPEGH/ISO/HEVC" => Some(Codec::Hevc),
            "V_VP9" => Some(Codec::Vp9),
            "V_AV1" => Some(Codec::Av1),
            "V_MPEG2" => Some(Codec::Mpeg2),
            "V_MJPEG" => Some(Codec::Mjpeg),
            _ => None,
        }
    }
}

fn parse_track(data: &[u8]) -> Result<Track> {
    let mut t = Track {
        enabled: true,
        default: true,
        ..Track::default()
    };
    for c in children(data) {
        let (id, b) = c?;
        match id {
            TRACK_NUMBER => t.number = uint(b, "TrackNumber")?,
            TRACK_TYPE => t.track_type = uint(b, "TrackType")?,
            FLAG_ENABLED => t.enabled = uint(b, "FlagEnabled")? != 0,
            FLAG_DEFAULT => t.default = uint(b, "FlagDefault")? != 0,
            DEFAULT_DURATION => t.default_duration = Some(uint(b, "DefaultDuration")?),
            CODEC_ID => t.codec_id = string(b),
            CODEC_PRIVATE => t.codec_private = b.to_vec(),
            CONTENT_ENCODINGS => t.encoded = true,
            VIDEO => parse_video(b, &mut t)?,
            _ => {}
        }
    }
    Ok(t)
}

fn parse_video(data: &[u8], t: &mut Track) -> Result<()> {
    let (mut w, mut h) = (0u64, 0u64);
    let mut crop = [0u64; 4];
    for c in children(data) {
        let (id, b) = c?;
        match id {
            PIXEL_WIDTH => w = uint(b, "PixelWidth")?,
            PIXEL_HEIGHT => h = uint(b, "PixelHeight")?,
            PIXEL_CROP_TOP => crop[0] = uint(b, "PixelCropTop")?,
            PIXEL_CROP_BOTTOM => crop[1] = uint(b, "PixelCropBottom")?,
            PIXEL_CROP_LEFT => crop[2] = uint(b, "PixelCropLeft")?,
            PIXEL_CROP_RIGHT => crop[3] = uint(b, "PixelCropRight")?,
            COLOUR => {
                for c in children(b) {
                    let (id, b) = c?;
                    let v = || uint(b, "Colour").map(small_u8);
                    match id {
                        MATRIX_COEFFICIENTS => t.matrix = v()?,
                        BITS_PER_CHANNEL => t.bits_per_channel = v()?,
                        RANGE => t.range = v()?,
                        TRANSFER_CHARACTERISTICS => t.transfer = v()?,
                        PRIMARIES => t.primaries = v()?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let cw = w.saturating_sub(crop[2].saturating_add(crop[3]));
    let ch = h.saturating_sub(crop[0].saturating_add(crop[1]));
    t.width = u32::try_from(cw).map_err(|_| invalid(format!("PixelWidth {w} is too large")))?;
    t.height = u32::try_from(ch).map_err(|_| invalid(format!("PixelHeight {h} is too large")))?;
    Ok(())
}

/// Picks the video track the ffmpeg command line would (see the module docs).
fn choose(tracks: &[Track], wanted: Option<u64>) -> Result<usize> {
    let video: Vec<(usize, &Track)> = tracks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.track_type == 1)
        .collect();
    if let Some(n) = wanted {
        let (i, t) = video
            .iter()
            .find(|(_, t)| t.number == n)
            .ok_or_else(|| Error::InvalidArgument(format!("no video track number {n}")))?;
        if t.codec().is_none() {
            return Err(unsupported_codec(&t.codec_id));
        }
        return Ok(*i);
    }
    let supported: Vec<&(usize, &Track)> =
        video.iter().filter(|(_, t)| t.codec().is_some()).collect();
    let pool: Vec<&&(usize, &Track)> = if supported.iter().any(|(_, t)| t.enabled) {
        supported.iter().filter(|(_, t)| t.enabled).collect()
    } else {
        supported.iter().collect()
    };
    let score = |t: &Track| {
        u64::from(t.width) * u64::from(t.height) + if t.default { 5_000_000 } else { 0 }
    };
    let mut best: Option<(usize, u64)> = None;
    for (i, t) in pool.iter().map(|p| (p.0, p.1)) {
        let s = score(t);
        if best.is_none_or(|(_, b)| s > b) {
            best = Some((i, s));
        }
    }
    match best {
        Some((i, _)) => Ok(i),
        None => match video.first() {
            Some((_, t)) => Err(unsupported_codec(&t.codec_id)),
            None => Err(invalid("the file has no video track")),
        },
    }
}

fn unsupported_codec(id: &str) -> Error {
    Error::Unsupported(format!(
        "Matroska video codec {id:?} is not supported (V_MPEG4/ISO/AVC, V_MPEGH/ISO/HEVC, V_VP9, \
         V_AV1, V_MPEG2 and V_MJPEG are)"
    ))
}

/// One block's frames, before timestamps are scaled.
struct Lace {
    offset: u64,
    size: u32,
}

/// Splits a block whose data starts at `start` (`size` bytes) into its frames, if it belongs to
/// `track`. Returns the relative timestamp, the flags and the frames.
fn parse_block(
    src: &mut Source,
    start: u64,
    size: u64,
    track: u64,
    out: &mut Vec<Lace>,
) -> Result<Option<(i16, u8)>> {
    out.clear();
    let head = src.read_at(start, size.min(16))?;
    let (number, n) = parse_vint(&head).map_err(|_| invalid("block track number is invalid"))?;
    if number != track {
        return Ok(None);
    }
    let fixed = head
        .get(n..n + 3)
        .ok_or_else(|| invalid(format!("block at offset {start} is truncated")))?;
    let rel = i16::from_be_bytes([fixed[0], fixed[1]]);
    let flags = fixed[2];
    let mut hdr = (n + 3) as u64;
    let lacing = (flags >> 1) & 3;
    if lacing == 0 {
        let len = size - hdr.min(size);
        push_lace(out, start.saturating_add(hdr), len)?;
        return Ok(Some((rel, flags)));
    }
    let head = src.read_at(start, size.min(LACE_HEAD))?;
    let mut p = usize::try_from(hdr).unwrap_or(usize::MAX);
    let trunc = || {
        invalid(format!(
            "lace header of the block at offset {start} is truncated"
        ))
    };
    let count = usize::from(*head.get(p).ok_or_else(trunc)?) + 1;
    p += 1;
    let mut sizes: Vec<u64> = Vec::with_capacity(count);
    match lacing {
        1 => {
            for _ in 1..count {
                let mut s = 0u64;
                loop {
                    let b = *head.get(p).ok_or_else(trunc)?;
                    p += 1;
                    s += u64::from(b);
                    if b != 255 {
                        break;
                    }
                }
                sizes.push(s);
            }
        }
        3 if count > 1 => {
            let (first, l) = parse_vint(head.get(p..).unwrap_or(&[])).map_err(|_| trunc())?;
            p += l;
            sizes.push(first);
            let mut prev = i128::from(first);
            for _ in 2..count {
                let (raw, l) = parse_vint(head.get(p..).unwrap_or(&[])).map_err(|_| trunc())?;
                p += l;
                let bias = (1i128 << (7 * l - 1)) - 1;
                let v = prev + i128::from(raw) - bias;
                let v = u64::try_from(v).map_err(|_| {
                    invalid(format!(
                        "EBML lace size of block at offset {start} is negative"
                    ))
                })?;
                sizes.push(v);
                prev = i128::from(v);
            }
        }
        _ => {}
    }
    hdr = p as u64;
    let body = size.checked_sub(hdr).ok_or_else(|| {
        invalid(format!(
            "block at offset {start} is shorter than its header"
        ))
    })?;
    if lacing == 2 {
        if body % count as u64 != 0 {
            return Err(invalid(format!(
                "fixed-size lacing of the block at offset {start}: {body} bytes do not split \
                 into {count} frames"
            )));
        }
        sizes = vec![body / count as u64; count - 1];
    }
    let used = sizes
        .iter()
        .try_fold(0u64, |a, &s| a.checked_add(s))
        .filter(|&u| u <= body)
        .ok_or_else(|| {
            invalid(format!(
                "lace sizes of the block at offset {start} exceed the block"
            ))
        })?;
    sizes.push(body - used);
    let mut at = start.saturating_add(hdr);
    for s in sizes {
        push_lace(out, at, s)?;
        at = at.saturating_add(s);
    }
    Ok(Some((rel, flags)))
}

fn push_lace(out: &mut Vec<Lace>, offset: u64, size: u64) -> Result<()> {
    let size = u32::try_from(size)
        .map_err(|_| invalid(format!("frame at offset {offset} is larger than 4 GiB")))?;
    out.push(Lace { offset, size });
    Ok(())
}

/// A frame found while scanning, in block units of TimestampScale.
struct Raw {
    offset: u64,
    size: u32,
    ts: i64,
    duration: Option<i64>,
    keyframe: bool,
}

struct Scan {
    track: u64,
    raws: Vec<Raw>,
    laces: Vec<Lace>,
    /// Frame duration in TimestampScale units from DefaultDuration.
    default_duration: Option<i64>,
}

impl Scan {
    #[allow(clippy::too_many_arguments)]
    fn block(
        &mut self,
        src: &mut Source,
        start: u64,
        size: u64,
        cluster_ts: Option<i64>,
        simple: bool,
        has_reference: bool,
        duration: Option<i64>,
    ) -> Result<()> {
        let mut laces = std::mem::take(&mut self.laces);
        let r = parse_block(src, start, size, self.track, &mut laces);
        let res = (|| {
            let Some((rel, flags)) = r? else {
                return Ok(());
            };
            let cluster_ts = cluster_ts.ok_or_else(|| {
                invalid(format!(
                    "block at offset {start} comes before its Cluster Timestamp"
                ))
            })?;
            let key = if simple {
                flags & 0x80 != 0
            } else {
                !has_reference
            };
            let n = laces.len() as i64;
            let lace_dur = match (duration, self.default_duration) {
                (Some(d), _) => Some(d / n.max(1)),
                (None, d) => d,
            };
            let mut ts = cluster_ts.saturating_add(i64::from(rel));
            for (k, l) in laces.iter().enumerate() {
                if self.raws.len() >= MAX_FRAMES {
                    return Err(invalid("the file has too many frames"));
                }
                if l.size == 0 {
                    continue;
                }
                self.raws.push(Raw {
                    offset: l.offset,
                    size: l.size,
                    ts,
                    duration: if n == 1 {
                        duration.or(lace_dur)
                    } else {
                        lace_dur
                    },
                    keyframe: key && k == 0,
                });
                ts = ts.saturating_add(lace_dur.unwrap_or(1).max(1));
            }
            Ok(())
        })();
        self.laces = laces;
        res
    }
}

fn is_top_level(id: u32) -> bool {
    matches!(
        id,
        CLUSTER | CUES | TAGS | CHAPTERS | ATTACHMENTS | SEEK_HEAD | INFO | TRACKS | EBML | SEGMENT
    )
}

/// Scans one Cluster starting at `h`; returns where the next top-level element starts.
fn scan_cluster(src: &mut Source, h: Header, seg_end: u64, scan: &mut Scan) -> Result<u64> {
    let end = match h.size {
        Some(s) => h.data.saturating_add(s).min(seg_end),
        None => seg_end,
    };
    let mut pos = h.data;
    let mut cluster_ts: Option<i64> = None;
    while pos < end {
        let c = match read_header(src, pos, end) {
            Ok(c) => c,
            // A cut-off cluster at the end of the file: keep what is complete.
            Err(_) if end >= src.len() => return Ok(end),
            Err(e) => return Err(e),
        };
        if h.size.is_none() && is_top_level(c.id) {
            return Ok(pos);
        }
        let size = c.size.ok_or_else(|| {
            invalid(format!(
                "element {:#x} of unknown size inside a Cluster at offset {pos}",
                c.id
            ))
        })?;
        let c_end = c.data.checked_add(size).filter(|&e| e <= end);
        let Some(c_end) = c_end else {
            if end >= src.len() {
                return Ok(end); // truncated file: the last element is incomplete
            }
            return Err(invalid(format!(
                "element {:#x} at offset {pos} runs past its Cluster",
                c.id
            )));
        };
        match c.id {
            CLUSTER_TIMESTAMP => {
                let b = src.read_at(c.data, size.min(9))?;
                let v = uint(&b, "Cluster Timestamp")?;
                cluster_ts = Some(
                    i64::try_from(v)
                        .map_err(|_| invalid(format!("Cluster Timestamp {v} is too large")))?,
                );
            }
            SIMPLE_BLOCK => scan.block(src, c.data, size, cluster_ts, true, false, None)?,
            BLOCK_GROUP => {
                let mut block = None;
                let mut has_ref = false;
                let mut duration = None;
                let mut p = c.data;
                while p < c_end {
                    let g = read_header(src, p, c_end)?;
                    let gs = g.size.ok_or_else(|| {
                        invalid(format!(
                            "BlockGroup child at offset {p} has an unknown size"
                        ))
                    })?;
                    let g_end =
                        g.data
                            .checked_add(gs)
                            .filter(|&e| e <= c_end)
                            .ok_or_else(|| {
                                invalid(format!(
                                    "BlockGroup child at offset {p} runs past the group"
                                ))
                            })?;
                    match g.id {
                        BLOCK => block = Some((g.data, gs)),
                        REFERENCE_BLOCK => has_ref = true,
                        BLOCK_DURATION => {
                            let b = src.read_at(g.data, gs.min(9))?;
                            duration = i64::try_from(uint(&b, "BlockDuration")?).ok();
                        }
                        _ => {}
                    }
                    p = g_end;
                }
                if let Some((s, n)) = block {
                    scan.block(src, s, n, cluster_ts, false, has_ref, duration)?;
                }
            }
            _ => {}
        }
        pos = c_end;
    }
    Ok(end)
}

/// Reads a whole element body into memory (metadata only).
fn read_body(src: &mut Source, h: &Header, what: &str) -> Result<Vec<u8>> {
    let size = h
        .size
        .ok_or_else(|| invalid(format!("{what} has an unknown size")))?;
    if size > MAX_META {
        return Err(invalid(format!("{what} of {size} bytes is too large")));
    }
    src.read_at(h.data, size)
}

/// Parses a Matroska/WebM file and indexes the video track the ffmpeg CLI would pick, or
/// track number `wanted`.
pub(crate) fn parse(src: &mut Source, wanted: Option<u64>) -> Result<(Parsed, Vec<VideoTrack>)> {
    let len = src.len();
    let h = read_header(src, 0, len)?;
    if h.id != EBML {
        return Err(invalid("no EBML header"));
    }
    let ebml = read_body(src, &h, "EBML header")?;
    let mut doc_type = String::new();
    for c in children(&ebml) {
        let (id, b) = c?;
        if id == DOC_TYPE {
            doc_type = string(b);
        }
    }
    if doc_type != "matroska" && doc_type != "webm" {
        return Err(Error::Unsupported(format!(
            "EBML DocType {doc_type:?} is not Matroska or WebM"
        )));
    }
    let mut pos = h.data.saturating_add(h.size.unwrap_or(0));
    // Find the Segment (skipping Void/CRC-32 elements in front of it).
    let seg = loop {
        let s = read_header(src, pos, len)?;
        if s.id == SEGMENT {
            break s;
        }
        let size = s
            .size
            .ok_or_else(|| invalid(format!("element {:#x} before the Segment", s.id)))?;
        pos = s.data.saturating_add(size);
        if pos >= len {
            return Err(invalid("no Segment element"));
        }
    };
    let seg_end = match seg.size {
        Some(s) => seg.data.saturating_add(s).min(len),
        None => len,
    };
    let mut timestamp_scale = 1_000_000u64;
    let mut duration: Option<f64> = None;
    let mut tracks: Option<(Vec<Track>, usize)> = None;
    let mut scan: Option<Scan> = None;
    pos = seg.data;
    while pos < seg_end {
        let h = match read_header(src, pos, seg_end) {
            Ok(h) => h,
            Err(_) if scan.is_some() => break, // trailing garbage or a cut-off file
            Err(e) => return Err(e),
        };
        match h.id {
            INFO => {
                let body = read_body(src, &h, "Info")?;
                for c in children(&body) {
                    let (id, b) = c?;
                    match id {
                        TIMESTAMP_SCALE => timestamp_scale = uint(b, "TimestampScale")?,
                        DURATION => duration = Some(float(b, "Duration")?),
                        _ => {}
                    }
                }
                if timestamp_scale == 0 {
                    return Err(invalid("TimestampScale is 0"));
                }
            }
            TRACKS if tracks.is_none() => {
                let body = read_body(src, &h, "Tracks")?;
                let mut list = Vec::new();
                for c in children(&body) {
                    let (id, b) = c?;
                    if id == TRACK_ENTRY {
                        list.push(parse_track(b)?);
                    }
                }
                let i = choose(&list, wanted)?;
                let t = list.get(i).ok_or_else(|| invalid("track choice"))?;
                if t.encoded {
                    return Err(Error::Unsupported(format!(
                        "Matroska track {} uses ContentEncoding (compression, header stripping \
                         or encryption), which is not supported; remux it with `mkvmerge` or \
                         `ffmpeg -c copy`",
                        t.number
                    )));
                }
                tracks = Some((list, i));
            }
            CLUSTER => {
                let Some((list, i)) = &tracks else {
                    return Err(invalid("a Cluster comes before the Tracks element"));
                };
                if scan.is_none() {
                    let t = list.get(*i).ok_or_else(|| invalid("track choice"))?;
                    let dd = t.default_duration.map(|ns| {
                        div_round(i64::try_from(ns).unwrap_or(i64::MAX), timestamp_scale)
                    });
                    scan = Some(Scan {
                        track: t.number,
                        raws: Vec::new(),
                        laces: Vec::new(),
                        default_duration: dd.filter(|&d| d > 0),
                    });
                }
                if let Some(s) = scan.as_mut() {
                    pos = scan_cluster(src, h, seg_end, s)?;
                }
                continue;
            }
            _ => {}
        }
        let Some(size) = h.size else {
            return Err(invalid(format!(
                "top-level element {:#x} at offset {pos} has an unknown size",
                h.id
            )));
        };
        pos = h.data.saturating_add(size);
    }
    let Some((list, chosen)) = tracks else {
        return Err(invalid("no Tracks element"));
    };
    let track = list
        .get(chosen)
        .cloned()
        .ok_or_else(|| invalid("track choice"))?;
    let raws = scan.map(|s| s.raws).unwrap_or_default();
    if raws.is_empty() {
        return Err(invalid(format!(
            "video track {} has no frames",
            track.number
        )));
    }
    let video_tracks = list
        .iter()
        .enumerate()
        .filter(|(_, t)| t.track_type == 1)
        .map(|(i, t)| VideoTrack {
            number: t.number,
            codec: t.codec(),
            codec_id: t.codec_id.clone(),
            width: t.width,
            height: t.height,
            default: t.default,
            enabled: t.enabled,
            selected: i == chosen,
        })
        .collect();
    let mut parsed = finish(src, track, raws, timestamp_scale, duration)?;
    match parsed.info.codec {
        Codec::Mjpeg => super::mjpeg::fill_info(src, &mut parsed)?,
        Codec::Mpeg2 => super::mpeg2::fill_info(src, &mut parsed)
            .map_err(|e| invalid(format!("MPEG-2 track: {}", super::strip_prefix(&e))))?,
        _ => {}
    }
    Ok((parsed, video_tracks))
}

fn div_round(v: i64, d: u64) -> i64 {
    let d = i128::from(d.max(1));
    let v = i128::from(v);
    i64::try_from((v + d / 2) / d).unwrap_or(i64::MAX)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn finish(
    src: &mut Source,
    track: Track,
    raws: Vec<Raw>,
    timestamp_scale: u64,
    duration: Option<f64>,
) -> Result<Parsed> {
    let codec = track
        .codec()
        .ok_or_else(|| unsupported_codec(&track.codec_id))?;
    // ticks per second and the multiplier from TimestampScale units to ticks.
    let g = gcd(1_000_000_000, timestamp_scale);
    let timescale = u32::try_from(1_000_000_000 / g).unwrap_or(1_000_000_000);
    let mul = i64::try_from(timestamp_scale / g).unwrap_or(i64::MAX);
    let tick = |v: i64| v.saturating_mul(mul);
    let mut samples: Vec<SampleEntry> = raws
        .iter()
        .map(|r| SampleEntry {
            offset: r.offset,
            size: r.size,
            pts: tick(r.ts),
            dts: 0,
            duration: r.duration.map_or(0, tick),
            keyframe: r.keyframe,
        })
        .collect();
    // Decode times: the sorted presentation times, delayed by the largest reorder distance.
    let order = super::display_order(&samples);
    let mut rank = vec![0usize; samples.len()];
    for (r, &i) in order.iter().enumerate() {
        if let Some(x) = rank.get_mut(i) {
            *x = r;
        }
    }
    let sorted: Vec<i64> = order
        .iter()
        .filter_map(|&i| samples.get(i).map(|s| s.pts))
        .collect();
    // Durations that the file did not state: distance to the next picture shown.
    for w in order.windows(2) {
        let next = samples.get(w[1]).map(|s| s.pts);
        if let (Some(next), Some(s)) = (next, samples.get_mut(w[0])) {
            if s.duration <= 0 {
                s.duration = next.saturating_sub(s.pts).max(0);
            }
        }
    }
    let typical = {
        let mut d: Vec<i64> = samples
            .iter()
            .map(|s| s.duration)
            .filter(|&d| d > 0)
            .collect();
        d.sort_unstable();
        d.get(d.len() / 2).copied().unwrap_or(1)
    };
    if let Some(&last) = order.last() {
        if let Some(s) = samples.get_mut(last) {
            if s.duration <= 0 {
                s.duration = typical;
            }
        }
    }
    let delay = rank
        .iter()
        .enumerate()
        .map(|(i, &r)| i.saturating_sub(r))
        .max()
        .unwrap_or(0);
    let first = sorted.first().copied().unwrap_or(0);
    for (i, s) in samples.iter_mut().enumerate() {
        s.dts = match i.checked_sub(delay) {
            Some(k) => sorted.get(k).copied().unwrap_or(s.pts),
            None => {
                let back = i64::try_from(delay - i).unwrap_or(i64::MAX);
                first.saturating_sub(back.saturating_mul(typical))
            }
        };
    }

    let mut width = track.width;
    let mut height = track.height;
    let mut sps_colour = None;
    let mut bit_depth = track.bits_per_channel.filter(|&b| b > 0);
    let mut chroma = None;
    let mut format = PacketFormat::Raw;
    let mut parameter_sets = Vec::new();
    match codec {
        Codec::H264 | Codec::Hevc => {
            let cfg = if codec == Codec::H264 {
                parse_avcc(&track.codec_private)
            } else {
                parse_hvcc(&track.codec_private)
            }
            .map_err(|e| {
                invalid(format!(
                    "CodecPrivate of the {codec} track: {}",
                    super::strip_prefix(&e)
                ))
            })?;
            if let Some(b) = cfg.bit_depth {
                bit_depth = Some(b);
            }
            if let Some(sps) = split_annexb(&cfg.parameter_sets).find(|n| annexb::is_sps(codec, n))
            {
                if let Ok(info) = parse_sps(codec, sps) {
                    if width == 0 || height == 0 {
                        (width, height) = (info.width, info.height);
                    }
                    sps_colour = info.colour;
                    bit_depth = Some(info.bit_depth);
                    chroma = Some(info.chroma);
                }
            }
            parameter_sets = cfg.parameter_sets.clone();
            format = PacketFormat::LengthPrefixed {
                length_size: cfg.length_size,
                parameter_sets: cfg.parameter_sets,
            };
        }
        Codec::Vp9 => {
            // CodecPrivate: (ID, length, value) features; ID 3 is the bit depth.
            let mut p = track.codec_private.as_slice();
            while let [id, len, rest @ ..] = p {
                let n = usize::from(*len);
                let Some(v) = rest.get(..n) else { break };
                if *id == 3 && n == 1 {
                    bit_depth = v.first().copied();
                }
                p = rest.get(n..).unwrap_or(&[]);
            }
            if let Some(s) = samples.iter().find(|s| s.keyframe) {
                let peek = src.read_at(s.offset, u64::from(s.size).min(64))?;
                if let Ok(h) = vp9_header(&peek) {
                    bit_depth = h.bit_depth.or(bit_depth);
                    chroma = h.chroma;
                    // The keyframe header's color_space/color_range, as IVF reads them; the
                    // Colour element fills what it leaves open.
                    sps_colour = h.colour;
                    if let Some((w, hh)) = h.size {
                        if width == 0 || height == 0 {
                            (width, height) = (w, hh);
                        }
                    }
                }
            }
        }
        Codec::Mpeg2 => {
            // CodecPrivate: the sequence header and its extensions (read by
            // `mpeg2::fill_info`, which takes the first frame's when there is none).
            bit_depth = Some(8);
            parameter_sets = track.codec_private.clone();
            format = PacketFormat::Mpeg2 {
                sequence_header: track.codec_private.clone(),
            };
        }
        Codec::Mjpeg => {
            // Size, depth and chroma come from the first picture (`mjpeg::fill_info`).
        }
        Codec::Av1 => {
            // av1C: marker/version, profile/level, then tier, high_bitdepth, twelve_bit,
            // monochrome, chroma_subsampling_x, chroma_subsampling_y.
            // The colour of the sequence header in configOBUs, else in the first keyframe.
            sps_colour = track.codec_private.get(4..).and_then(av1_colour);
            if sps_colour.is_none() {
                if let Some(s) = samples.iter().find(|s| s.keyframe) {
                    let peek = src.read_at(s.offset, u64::from(s.size).min(4096))?;
                    sps_colour = av1_colour(&peek);
                }
            }
            if let [0x81, _, b, ..] = track.codec_private.as_slice() {
                bit_depth = Some(match (b & 0x40 != 0, b & 0x20 != 0) {
                    (true, true) => 12,
                    (true, false) => 10,
                    _ => 8,
                });
                chroma = Some(match (b & 0x10 != 0, b & 0x08 != 0, b & 0x04 != 0) {
                    (true, _, _) => ChromaFormat::Monochrome,
                    (false, true, true) => ChromaFormat::Yuv420,
                    (false, true, false) => ChromaFormat::Yuv422,
                    _ => ChromaFormat::Yuv444,
                });
            }
        }
    }
    let n = samples.len();
    // From DefaultDuration, else from the typical distance between pictures.
    let frame_rate = track.default_duration.and_then(frame_rate_of).or_else(|| {
        let d = u64::try_from(typical).ok().filter(|&d| d > 0 && n > 1)?;
        let g = gcd(u64::from(timescale), d);
        Some((
            u32::try_from(u64::from(timescale) / g).ok()?,
            u32::try_from(d / g).ok()?,
        ))
    });
    let duration_seconds = match duration {
        Some(d) if d.is_finite() && d > 0.0 => Some(d * timestamp_scale as f64 / 1e9),
        _ => {
            let end = samples
                .iter()
                .map(|s| s.pts.saturating_add(s.duration))
                .max()
                .unwrap_or(0);
            Some(ticks_to_seconds(end.saturating_sub(first), timescale))
        }
    };
    let colour = super::ColourInfo {
        primaries: track.primaries,
        transfer: track.transfer,
        matrix: track.matrix,
        full_range: match track.range {
            Some(1) => Some(false),
            Some(2) => Some(true),
            _ => None,
        },
    };
    let any = colour.primaries.is_some()
        || colour.transfer.is_some()
        || colour.matrix.is_some()
        || colour.full_range.is_some();
    Ok(Parsed {
        info: StreamInfo {
            container: Container::Matroska,
            codec,
            width,
            height,
            bit_depth: bit_depth.unwrap_or(8),
            chroma: chroma.unwrap_or(ChromaFormat::Yuv420),
            timescale,
            frame_rate,
            duration_seconds,
            frame_count: Some(n),
            rotation_degrees: 0,
            parameter_sets,
            colour: super::merge_colour(sps_colour, any.then_some(colour)),
        },
        samples,
        format,
    })
}

/// Frame rate from DefaultDuration (ns): `n / 1` or `n * 1000 / 1001` when DefaultDuration
/// is that rate rounded to whole nanoseconds, else the reduced fraction `1e9 / ns`.
fn frame_rate_of(ns: u64) -> Option<(u32, u32)> {
    if ns == 0 {
        return None;
    }
    for den in [1u64, 1001] {
        let num = (1_000_000_000u128 * u128::from(den) + u128::from(ns / 2)) / u128::from(ns);
        let exact = 1_000_000_000u128 * u128::from(den);
        let ok = num > 0
            && (den == 1 || num % 1000 == 0)
            && (num * u128::from(ns)).abs_diff(exact) <= num / 2 + 1;
        if ok {
            return Some((u32::try_from(num).ok()?, u32::try_from(den).ok()?));
        }
    }
    let g = gcd(1_000_000_000, ns);
    Some((
        u32::try_from(1_000_000_000 / g).ok()?,
        u32::try_from(ns / g).ok()?,
    ))
}
