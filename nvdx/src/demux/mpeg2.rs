//! MPEG-2 video (ISO/IEC 13818-2): elementary streams (`.m2v`, raw `.mpg` video) and the
//! sequence header that MP4 (`esds`) and Matroska (`V_MPEG2` CodecPrivate) carry.
//!
//! An elementary stream has no index and no timestamps. It is scanned once at open, reading
//! only start codes (`00 00 01 xx`) and the few bytes after the headers nvdx uses:
//!
//! - one packet per coded frame: the picture start code (`0x00`) with its slices, together
//!   with every header in front of it (sequence header `0xB3` and its extensions `0xB5`,
//!   user data `0xB2`, GOP header `0xB8`). A sequence end code (`0xB7`) stays with the
//!   picture before it. The two field pictures of a field-coded frame are one packet, as in
//!   ffmpeg's MPEG video parser;
//! - a keyframe is an I picture whose packet holds a sequence header or a GOP header;
//! - display order from `temporal_reference`, which restarts after each GOP header; pictures
//!   are `1/fps` apart (the sequence header's frame rate with its extension, else 30 fps), the
//!   first shown at 0, and the decode times are shifted back by the reorder delay so that
//!   `dts <= pts` (as for Annex B streams). `repeat_first_field` (3:2 pulldown) is not
//!   applied to the durations.
//!
//! A keyframe packet that does not start with a sequence header gets the stream's first one
//! (the sequence header and its extensions) in front, so that decoding can start there; the
//! MP4 and Matroska paths do the same with their stored sequence header.
//!
//! MPEG-1 video (a sequence header without a sequence extension) and MPEG program streams
//! (pack headers, `0x000001BA`) are rejected with [`Error::Unsupported`].

use super::reader::BitReader;
use super::{ColourInfo, Container, PacketFormat, Parsed, SampleEntry, Source, StreamInfo};
use crate::codec::{ChromaFormat, Codec};
use crate::{Error, Result};

/// Most pictures indexed in one stream.
const MAX_PICTURES: usize = 1 << 24;
/// Bytes scanned per read.
const CHUNK: u64 = 1 << 20;
/// Bytes kept after each chunk so that a header straddling the boundary is read whole.
const OVERLAP: u64 = 32;
/// Bytes of a header kept for parsing (after its start code).
const HEAD: usize = 12;
/// Largest sequence header (with its extensions) nvdx keeps to put before keyframes.
const MAX_SEQUENCE_HEADER: u64 = 4096;

const PICTURE: u8 = 0x00;
const USER_DATA: u8 = 0xB2;
const SEQUENCE_HEADER: u8 = 0xB3;
const EXTENSION: u8 = 0xB5;
const SEQUENCE_END: u8 = 0xB7;
const GOP: u8 = 0xB8;
const PACK_HEADER: u8 = 0xBA;

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidData(format!("MPEG-2 video: {}", msg.into()))
}

/// What a sequence header and its extensions say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SequenceInfo {
    pub width: u32,
    pub height: u32,
    /// From `frame_rate_code` and the sequence extension's `frame_rate_extension_n/d`.
    pub frame_rate: Option<(u32, u32)>,
    pub chroma: ChromaFormat,
    /// A sequence extension follows (MPEG-2; without one the stream is MPEG-1).
    pub mpeg2: bool,
    /// From the sequence display extension's colour description.
    pub colour: Option<ColourInfo>,
}

/// The start codes of `data`: (offset of the `00 00 01` prefix, the code byte).
pub(crate) fn start_codes(data: &[u8]) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut i = 0usize;
    std::iter::from_fn(move || {
        while let Some(w) = data.get(i..i.checked_add(4)?) {
            if w[2] > 1 {
                i += 3;
            } else if w[0] == 0 && w[1] == 0 && w[2] == 1 {
                let at = i;
                i += 4;
                return Some((at, w[3]));
            } else {
                i += 1;
            }
        }
        None
    })
}

/// Whether `data` holds a sequence header before its first picture or slice.
pub(crate) fn has_sequence_header(data: &[u8]) -> bool {
    for (_, code) in start_codes(data) {
        match code {
            SEQUENCE_HEADER => return true,
            PICTURE..=0xAF => return false,
            _ => {}
        }
    }
    false
}

/// `frame_rate_code` of a sequence header (Table 6-4).
fn frame_rate_code(code: u32) -> Option<(u32, u32)> {
    Some(match code {
        1 => (24000, 1001),
        2 => (24, 1),
        3 => (25, 1),
        4 => (30000, 1001),
        5 => (30, 1),
        6 => (50, 1),
        7 => (60000, 1001),
        8 => (60, 1),
        _ => return None,
    })
}

/// The fields of a sequence header (the bytes after its start code).
struct SeqHeader {
    width: u32,
    height: u32,
    rate_code: u32,
}

fn parse_seq_header(b: &[u8]) -> Result<SeqHeader> {
    let mut r = BitReader::new(b);
    let short = |_| invalid("sequence header is truncated");
    let width = r.bits(12).map_err(short)?;
    let height = r.bits(12).map_err(short)?;
    r.skip(4).map_err(short)?; // aspect_ratio_information
    let rate_code = r.bits(4).map_err(short)?;
    Ok(SeqHeader {
        width,
        height,
        rate_code,
    })
}

/// Builds [`SequenceInfo`] while the sequence header and its extensions are read.
#[derive(Default)]
struct SeqBuilder {
    width: u32,
    height: u32,
    rate_code: u32,
    ext: Option<(ChromaFormat, u32, u32, u32, u32)>,
    colour: Option<ColourInfo>,
}

impl SeqBuilder {
    fn header(b: &[u8]) -> Result<Self> {
        let h = parse_seq_header(b)?;
        Ok(SeqBuilder {
            width: h.width,
            height: h.height,
            rate_code: h.rate_code,
            ..SeqBuilder::default()
        })
    }

    /// A sequence extension (ID 1) or sequence display extension (ID 2); others are ignored.
    fn extension(&mut self, b: &[u8]) {
        let mut r = BitReader::new(b);
        let Ok(id) = r.bits(4) else { return };
        if id == 1 && self.ext.is_none() {
            let mut f = || -> Result<(ChromaFormat, u32, u32, u32, u32)> {
                r.skip(8 + 1)?; // profile_and_level_indication, progressive_sequence
                let chroma = match r.bits(2)? {
                    2 => ChromaFormat::Yuv422,
                    3 => ChromaFormat::Yuv444,
                    _ => ChromaFormat::Yuv420,
                };
                let hx = r.bits(2)?;
                let vx = r.bits(2)?;
                r.skip(12 + 1 + 8 + 1)?; // bit_rate_ext, marker, vbv_buffer_size_ext, low_delay
                let n = r.bits(2)?;
                let d = r.bits(5)?;
                Ok((chroma, hx, vx, n, d))
            };
            if let Ok(e) = f() {
                self.ext = Some(e);
            }
        } else if id == 2 && self.colour.is_none() {
            let mut f = || -> Result<Option<ColourInfo>> {
                r.skip(3)?; // video_format
                if !r.bit()? {
                    return Ok(None);
                }
                let p = r.bits(8)?;
                let t = r.bits(8)?;
                let m = r.bits(8)?;
                let code = |v: u32| u8::try_from(v).ok();
                Ok(Some(ColourInfo {
                    primaries: code(p),
                    transfer: code(t),
                    matrix: code(m),
                    full_range: None,
                }))
            };
            self.colour = f().ok().flatten();
        }
    }

    fn finish(&self) -> Result<SequenceInfo> {
        let (chroma, hx, vx, n, d) = self.ext.unwrap_or((ChromaFormat::Yuv420, 0, 0, 0, 0));
        let width = (hx << 12) | self.width;
        let height = (vx << 12) | self.height;
        if width == 0 || height == 0 {
            return Err(invalid(format!(
                "sequence header gives a picture size of {width}x{height}"
            )));
        }
        let frame_rate = frame_rate_code(self.rate_code).and_then(|(num, den)| {
            let num = num.checked_mul(n + 1)?;
            let den = den.checked_mul(d + 1)?;
            let g = super::sps::gcd(u64::from(num), u64::from(den));
            let g = u32::try_from(g).ok().filter(|&g| g > 0)?;
            Some((num / g, den / g))
        });
        Ok(SequenceInfo {
            width,
            height,
            frame_rate,
            chroma,
            mpeg2: self.ext.is_some(),
            colour: self.colour,
        })
    }
}

/// Parses a sequence header and its extensions, as stored in an MP4 `esds`
/// DecoderSpecificInfo or a Matroska `V_MPEG2` CodecPrivate.
pub(crate) fn parse_sequence(config: &[u8]) -> Result<SequenceInfo> {
    let mut b: Option<SeqBuilder> = None;
    for (at, code) in start_codes(config) {
        let body = config.get(at + 4..).unwrap_or(&[]);
        match (code, &mut b) {
            (SEQUENCE_HEADER, None) => b = Some(SeqBuilder::header(body)?),
            (EXTENSION, Some(s)) => s.extension(body),
            (USER_DATA, _) => {}
            (_, Some(_)) => break,
            _ => {}
        }
    }
    b.ok_or_else(|| invalid("the decoder configuration holds no sequence header (0x000001B3)"))?
        .finish()
}

/// Checks the sequence of an MPEG-2 track: MPEG-1 (no sequence extension) is unsupported.
pub(crate) fn require_mpeg2(seq: &SequenceInfo) -> Result<()> {
    if seq.mpeg2 {
        Ok(())
    } else {
        Err(Error::Unsupported(
            "MPEG-1 video (a sequence header without a sequence extension) is not supported; \
             MPEG-2 video is"
                .into(),
        ))
    }
}

/// One coded picture while the stream is scanned.
#[derive(Debug, Clone, Copy)]
struct Picture {
    start: u64,
    end: u64,
    coding_type: u8,
    /// `temporal_reference`, unwrapped (modulo 1024) within its GOP.
    temporal_reference: u32,
    /// GOP headers seen before it.
    group: u32,
    /// `picture_structure` of the picture coding extension (3: frame, 1/2: a field).
    structure: u8,
    /// A sequence or GOP header is in its packet.
    entry: bool,
    /// Its packet starts at its picture start code (nothing in front).
    bare: bool,
}

/// Which header the next extension belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExtOf {
    Sequence,
    Picture,
    Other,
}

/// The scanner's state: the packet being built and what came before.
struct Scan {
    pictures: Vec<Picture>,
    /// Start of the packet being built, when one has begun.
    start: Option<u64>,
    /// The packet's picture, when its picture header has been seen.
    picture: Option<Picture>,
    /// The packet has a sequence or GOP header.
    entry: bool,
    /// Slices (or a sequence end) have followed the picture header.
    after_data: bool,
    ext_of: ExtOf,
    group: u32,
    /// Highest unwrapped temporal reference of the GOP, and the unwrap offset.
    tr_max: Option<u32>,
    tr_wrap: u32,
    seq: Option<SeqBuilder>,
    /// Where the first sequence header (with its extensions) starts and ends.
    seq_span: (Option<u64>, Option<u64>),
    error: Option<Error>,
}

impl Scan {
    fn new() -> Self {
        Scan {
            pictures: Vec::new(),
            start: None,
            picture: None,
            entry: false,
            after_data: false,
            ext_of: ExtOf::Other,
            group: 0,
            tr_max: None,
            tr_wrap: 0,
            seq: None,
            seq_span: (None, None),
            error: None,
        }
    }

    /// Ends the packet being built at `end`.
    fn close(&mut self, end: u64) -> Result<()> {
        if let Some(mut p) = self.picture.take() {
            if self.pictures.len() >= MAX_PICTURES {
                return Err(invalid("the stream has too many pictures"));
            }
            p.end = end;
            p.entry = self.entry;
            self.pictures.push(p);
        }
        self.start = None;
        self.entry = false;
        self.after_data = false;
        Ok(())
    }

    /// One start code at file offset `pos`; `head` is what follows its code byte.
    fn code(&mut self, pos: u64, code: u8, head: &[u8]) -> Result<()> {
        if self.seq_span.0.is_some() && self.seq_span.1.is_none() && code != EXTENSION {
            self.seq_span.1 = Some(pos);
        }
        match code {
            0x01..=0xAF => {
                // A slice.
                if self.picture.is_some() {
                    self.after_data = true;
                }
                self.ext_of = ExtOf::Other;
                return Ok(());
            }
            SEQUENCE_END => {
                if self.picture.is_some() {
                    self.after_data = true;
                }
                self.ext_of = ExtOf::Other;
                return Ok(());
            }
            _ => {}
        }
        let header = matches!(code, PICTURE | SEQUENCE_HEADER | GOP);
        if self.after_data || (header && self.picture.is_some()) {
            self.close(pos)?;
        }
        if self.start.is_none() {
            self.start = Some(pos);
        }
        match code {
            SEQUENCE_HEADER => {
                self.entry = true;
                self.ext_of = ExtOf::Sequence;
                if self.seq.is_none() {
                    match SeqBuilder::header(head) {
                        Ok(b) => {
                            self.seq = Some(b);
                            self.seq_span = (Some(pos), None);
                        }
                        Err(e) => {
                            if self.error.is_none() {
                                self.error = Some(e);
                            }
                        }
                    }
                }
            }
            GOP => {
                self.entry = true;
                self.ext_of = ExtOf::Other;
                self.group = self.group.saturating_add(1);
                self.tr_max = None;
                self.tr_wrap = 0;
            }
            PICTURE => {
                self.ext_of = ExtOf::Picture;
                let mut r = BitReader::new(head);
                let (Ok(tr), Ok(ty)) = (r.bits(10), r.bits(3)) else {
                    // A truncated picture header (at the end of the input): not a picture.
                    return Ok(());
                };
                let mut tr = tr.saturating_add(self.tr_wrap);
                if let Some(max) = self.tr_max {
                    if tr.saturating_add(512) < max {
                        // temporal_reference wrapped (no GOP header for 1024 pictures).
                        self.tr_wrap = self.tr_wrap.saturating_add(1024);
                        tr = tr.saturating_add(1024);
                    }
                }
                self.tr_max = Some(self.tr_max.map_or(tr, |m| m.max(tr)));
                let start = self.start.unwrap_or(pos);
                self.picture = Some(Picture {
                    start,
                    end: start,
                    coding_type: u8::try_from(ty).unwrap_or(0),
                    temporal_reference: tr,
                    group: self.group,
                    structure: 3,
                    entry: false,
                    bare: start == pos,
                });
            }
            EXTENSION => match self.ext_of {
                ExtOf::Sequence => {
                    if let (Some(b), true) = (&mut self.seq, self.seq_span.1.is_none()) {
                        b.extension(head);
                    }
                }
                ExtOf::Picture => {
                    let mut r = BitReader::new(head);
                    if r.bits(4).ok() == Some(8) {
                        // f_code[2][2], intra_dc_precision, then picture_structure.
                        if let (Ok(()), Ok(s)) = (r.skip(18), r.bits(2)) {
                            if let Some(p) = &mut self.picture {
                                p.structure = u8::try_from(s).unwrap_or(3);
                            }
                        }
                    }
                }
                ExtOf::Other => {}
            },
            _ => {}
        }
        Ok(())
    }
}

/// The two field pictures of a frame become one packet.
fn merge_fields(pictures: Vec<Picture>) -> Vec<Picture> {
    let mut out: Vec<Picture> = Vec::with_capacity(pictures.len());
    let mut open_field = false;
    for p in pictures {
        let field = matches!(p.structure, 1 | 2);
        if field && open_field && p.bare {
            if let Some(last) = out.last_mut() {
                if last.end == p.start && last.structure != p.structure {
                    last.end = p.end;
                    open_field = false;
                    continue;
                }
            }
        }
        open_field = field;
        out.push(p);
    }
    out
}

pub(crate) fn parse(source: &mut Source) -> Result<Parsed> {
    let len = source.len();
    let mut scan = Scan::new();
    let mut offset = 0u64;
    while offset < len {
        let buf = source.read_clamped(offset, CHUNK + OVERLAP)?;
        if buf.is_empty() {
            break;
        }
        let own = usize::try_from(CHUNK).unwrap_or(usize::MAX).min(buf.len());
        for (at, code) in start_codes(&buf) {
            if at >= own {
                break;
            }
            if code == PACK_HEADER && scan.pictures.is_empty() && scan.picture.is_none() {
                return Err(Error::Unsupported(
                    "MPEG program stream (pack header 0x000001BA): nvdx reads MPEG-2 video \
                     elementary streams; extract the video with \
                     `ffmpeg -i IN -map 0:v:0 -c copy -f mpeg2video OUT.m2v`"
                        .into(),
                ));
            }
            let h = at + 4;
            let head = buf
                .get(h..h.saturating_add(HEAD).min(buf.len()))
                .unwrap_or(&[]);
            scan.code(offset + at as u64, code, head)?;
        }
        offset = offset.saturating_add(CHUNK);
    }
    scan.close(len)?;
    let seq = match scan.seq.as_ref() {
        Some(b) => b.finish()?,
        None => {
            return Err(scan.error.take().unwrap_or_else(|| {
                invalid("the stream has no sequence header (0x000001B3); the decoder cannot start")
            }))
        }
    };
    require_mpeg2(&seq)?;
    let pictures = merge_fields(scan.pictures);
    if pictures.is_empty() {
        return Err(invalid("the stream holds no pictures"));
    }
    let sequence_header = match scan.seq_span {
        (Some(s), e) => {
            let e = e.unwrap_or(len);
            let n = e.saturating_sub(s);
            if n > MAX_SEQUENCE_HEADER {
                return Err(invalid(format!(
                    "the first sequence header spans {n} bytes, more than {MAX_SEQUENCE_HEADER}"
                )));
            }
            source.read_at(s, n)?
        }
        _ => Vec::new(),
    };
    let (timescale, dur) = match seq.frame_rate {
        Some((n, d)) => (n, i64::from(d)),
        None => (30, 1),
    };
    // Display rank: GOP, then temporal reference, then decode order.
    let mut order: Vec<usize> = (0..pictures.len()).collect();
    order.sort_by_key(|&i| {
        pictures.get(i).map_or((u32::MAX, u32::MAX, i), |p| {
            (p.group, p.temporal_reference, i)
        })
    });
    let mut rank = vec![0usize; pictures.len()];
    for (r, &i) in order.iter().enumerate() {
        if let Some(x) = rank.get_mut(i) {
            *x = r;
        }
    }
    let delay = rank
        .iter()
        .enumerate()
        .map(|(i, &r)| i.saturating_sub(r))
        .max()
        .unwrap_or(0);
    let ticks = |n: usize| i64::try_from(n).unwrap_or(i64::MAX).saturating_mul(dur);
    let mut samples = Vec::with_capacity(pictures.len());
    for (i, (p, &r)) in pictures.iter().zip(&rank).enumerate() {
        let size = u32::try_from(p.end.saturating_sub(p.start))
            .map_err(|_| invalid(format!("picture {i} is larger than 4 GiB")))?;
        samples.push(SampleEntry {
            offset: p.start,
            size,
            pts: ticks(r),
            dts: ticks(i).saturating_sub(ticks(delay)),
            duration: dur,
            keyframe: p.coding_type == 1 && p.entry,
        });
    }
    let n = samples.len();
    let total = ticks(n);
    Ok(Parsed {
        info: StreamInfo {
            container: Container::Mpeg2Video,
            codec: Codec::Mpeg2,
            width: seq.width,
            height: seq.height,
            bit_depth: 8,
            chroma: seq.chroma,
            timescale,
            frame_rate: seq.frame_rate,
            duration_seconds: Some(super::ticks_to_seconds(total, timescale)),
            frame_count: Some(n),
            rotation_degrees: 0,
            parameter_sets: sequence_header.clone(),
            colour: seq.colour,
        },
        samples,
        format: PacketFormat::Mpeg2 { sequence_header },
    })
}

/// The span of the first sequence header of `data` with its extensions (up to the next start
/// code that is not an extension).
fn sequence_header_span(data: &[u8]) -> Option<&[u8]> {
    let mut start = None;
    for (at, code) in start_codes(data) {
        match (start, code) {
            (None, SEQUENCE_HEADER) => start = Some(at),
            (Some(_), EXTENSION) => {}
            (Some(s), _) => return data.get(s..at),
            _ => {}
        }
    }
    start.and_then(|s| data.get(s..))
}

/// For MPEG-2 in MP4 and Matroska: reads the stored sequence header (`esds`
/// DecoderSpecificInfo, CodecPrivate), or the first sample's when the container has none,
/// and fills in what the container did not say (size, chroma, colour).
pub(crate) fn fill_info(source: &mut Source, parsed: &mut Parsed) -> Result<()> {
    let stored = match &parsed.format {
        PacketFormat::Mpeg2 { sequence_header } => sequence_header.clone(),
        _ => Vec::new(),
    };
    let config = if stored.is_empty() {
        let first = parsed
            .samples
            .first()
            .ok_or_else(|| invalid("the track has no samples"))?;
        let head = source.read_clamped(first.offset, u64::from(first.size).min(64 << 10))?;
        sequence_header_span(&head)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                invalid(
                    "neither the container nor the first picture holds a sequence header \
                     (0x000001B3); the decoder cannot start",
                )
            })?
    } else {
        stored
    };
    let seq = parse_sequence(&config)?;
    require_mpeg2(&seq)?;
    let info = &mut parsed.info;
    if info.width == 0 || info.height == 0 {
        (info.width, info.height) = (seq.width, seq.height);
    }
    info.bit_depth = 8;
    info.chroma = seq.chroma;
    info.colour = super::merge_colour(seq.colour, info.colour);
    info.parameter_sets = config.clone();
    parsed.format = PacketFormat::Mpeg2 {
        sequence_header: config,
    };
    Ok(())
}
