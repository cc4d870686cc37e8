//! ISO BMFF (MP4/MOV) demuxing, including fragmented MP4 and edit lists.

use super::annexb::{parse_avcc, parse_hvcc};
use super::reader::ByteReader;
use super::sps::gcd;
use super::{annexb, ticks_to_seconds, StreamInfo};
use super::{parse_sps, split_annexb, Container, PacketFormat, Parsed, SampleEntry, Source};
use super::{ColourInfo, VideoTrack};
use crate::codec::{ChromaFormat, Codec};
use crate::{Error, Result};

/// Largest `moov` nvdx reads (256 MiB).
const MAX_MOOV: u64 = 256 << 20;
/// Largest `moof` nvdx reads (64 MiB).
const MAX_MOOF: u64 = 64 << 20;
/// Most samples in one track.
const MAX_SAMPLES: usize = 1 << 24;

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidData(msg.into())
}

type Fourcc = [u8; 4];

fn fourcc_str(t: Fourcc) -> String {
    t.iter()
        .map(|&c| if c.is_ascii_graphic() { c as char } else { '?' })
        .collect()
}

/// Splits a box payload into its child boxes.
fn children<'a>(data: &'a [u8], parent: &str) -> Result<Vec<(Fourcc, &'a [u8])>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let rest = data.get(pos..).unwrap_or(&[]);
        if rest.len() < 8 {
            // Some writers pad with up to 7 zero bytes; anything else is corrupt.
            if rest.iter().all(|&b| b == 0) {
                break;
            }
            return Err(invalid(format!(
                "box inside `{parent}` is truncated ({} bytes left)",
                rest.len()
            )));
        }
        let mut r = ByteReader::new(rest, "box header");
        let size32 = r.u32()?;
        let mut t = [0u8; 4];
        t.copy_from_slice(r.bytes(4)?);
        let (size, hdr) = match size32 {
            0 => (rest.len() as u64, 8u64),
            1 => (r.u64()?, 16u64),
            s => (u64::from(s), 8u64),
        };
        if size < hdr || size > rest.len() as u64 {
            return Err(invalid(format!(
                "box `{}` inside `{parent}` claims {size} bytes but {} are left; the file is corrupt",
                fourcc_str(t),
                rest.len()
            )));
        }
        let (size, hdr) = (size as usize, hdr as usize);
        let payload = rest.get(hdr..size).unwrap_or(&[]);
        out.push((t, payload));
        pos = pos.saturating_add(size);
    }
    Ok(out)
}

fn child<'a>(kids: &[(Fourcc, &'a [u8])], t: &Fourcc) -> Option<&'a [u8]> {
    kids.iter().find(|(k, _)| k == t).map(|(_, p)| *p)
}

#[derive(Debug, Default, Clone, Copy)]
struct Trex {
    track_id: u32,
    duration: u32,
    size: u32,
    flags: u32,
}

#[derive(Debug, Clone, Copy)]
struct Edit {
    segment_duration: u64,
    media_time: i64,
}

#[derive(Debug)]
struct Track {
    track_id: u32,
    /// The container's colour description (`colr`, `vpcC`).
    colour: Option<ColourInfo>,
    /// `tkhd` flag `track_enabled` (ffmpeg marks such tracks as default).
    enabled: bool,
    timescale: u32,
    media_duration: u64,
    rotation: i32,
    codec: Codec,
    width: u32,
    height: u32,
    bit_depth: Option<u8>,
    chroma: Option<ChromaFormat>,
    format: PacketFormat,
    parameter_sets: Vec<u8>,
    edits: Vec<Edit>,
    samples: Vec<SampleEntry>,
    /// Decode time (before the edit shift) where the next fragment continues.
    next_dts: i64,
}

/// Parses an MP4 file held by `source`, reading the video track with id `wanted` or the one
/// ffmpeg would choose; also returns the list of video tracks.
pub(crate) fn parse(source: &mut Source, wanted: Option<u64>) -> Result<(Parsed, Vec<VideoTrack>)> {
    let len = source.len();
    let sample_cap = usize::try_from(len)
        .unwrap_or(usize::MAX)
        .clamp(1, MAX_SAMPLES);
    let mut offset = 0u64;
    let mut moov: Option<Vec<u8>> = None;
    let mut moofs: Vec<(u64, Vec<u8>)> = Vec::new();
    while offset.saturating_add(8) <= len {
        let head = source.read_clamped(offset, 16)?;
        let mut r = ByteReader::new(&head, "top-level box header");
        let size32 = r.u32()?;
        let mut t = [0u8; 4];
        t.copy_from_slice(r.bytes(4)?);
        let (size, hdr) = match size32 {
            0 => (len - offset, 8u64),
            1 => (r.u64()?, 16u64),
            s => (u64::from(s), 8u64),
        };
        if size < hdr {
            return Err(invalid(format!(
                "top-level box `{}` at offset {offset} has an impossible size {size}; the file is corrupt",
                fourcc_str(t)
            )));
        }
        let end = offset.saturating_add(size);
        let wanted = &t == b"moov" || &t == b"moof";
        if end > len {
            if wanted {
                return Err(invalid(format!(
                    "`{}` box at offset {offset} needs {size} bytes but the file ends after {}; \
                     the file is truncated",
                    fourcc_str(t),
                    len - offset
                )));
            }
            break; // a truncated mdat: samples past the end fail when read
        }
        if &t == b"moov" {
            if size > MAX_MOOV {
                return Err(invalid(format!(
                    "`moov` of {size} bytes is larger than the {MAX_MOOV}-byte limit"
                )));
            }
            if moov.is_none() {
                moov = Some(source.read_at(offset + hdr, size - hdr)?);
            }
        } else if &t == b"moof" {
            if size > MAX_MOOF {
                return Err(invalid(format!(
                    "`moof` of {size} bytes is larger than the {MAX_MOOF}-byte limit"
                )));
            }
            moofs.push((offset, source.read_at(offset + hdr, size - hdr)?));
        }
        offset = end;
    }
    let Some(moov) = moov else {
        return Err(invalid(
            "MP4 file has no `moov` box (it is truncated, or still being written); \
             remux it with `ffmpeg -i IN -c copy -movflags +faststart OUT.mp4`",
        ));
    };
    let kids = children(&moov, "moov")?;
    let movie_timescale = match child(&kids, b"mvhd") {
        Some(p) => parse_mvhd(p)?,
        None => 0,
    };
    let mut trexs = Vec::new();
    if let Some(mvex) = child(&kids, b"mvex") {
        for (t, p) in children(mvex, "mvex")? {
            if &t == b"trex" {
                let mut r = ByteReader::new(p, "trex box");
                r.skip(4)?;
                let track_id = r.u32()?;
                r.skip(4)?;
                trexs.push(Trex {
                    track_id,
                    duration: r.u32()?,
                    size: r.u32()?,
                    flags: r.u32()?,
                });
            }
        }
    }
    let mut tracks: Vec<Track> = Vec::new();
    let mut first_error = None;
    for (t, p) in &kids {
        if t == b"trak" {
            match parse_trak(p, sample_cap) {
                Ok(Some(tr)) => tracks.push(tr),
                Ok(None) => {}
                Err(e) => {
                    if first_error.is_none() {
                        first_error = Some(e);
                    }
                }
            }
        }
    }
    if tracks.is_empty() {
        return Err(first_error.unwrap_or_else(|| {
            invalid("MP4 file has no video track (no `trak` with a `vide` handler)")
        }));
    }
    let pick = match wanted {
        Some(number) => tracks
            .iter()
            .position(|t| u64::from(t.track_id) == number)
            .ok_or_else(|| {
                let ids: Vec<u32> = tracks.iter().map(|t| t.track_id).collect();
                Error::InvalidArgument(format!(
                    "the MP4 file has no video track with id {number}; its video tracks are {ids:?}"
                ))
            })?,
        None => default_track(&tracks),
    };
    let listing: Vec<VideoTrack> = tracks
        .iter()
        .enumerate()
        .map(|(i, t)| VideoTrack {
            number: u64::from(t.track_id),
            codec: Some(t.codec),
            codec_id: format!("{:?}", t.codec),
            width: t.width,
            height: t.height,
            default: t.enabled,
            enabled: t.enabled,
            selected: i == pick,
        })
        .collect();
    let mut track = tracks.swap_remove(pick);
    let trex = trexs
        .iter()
        .find(|t| t.track_id == track.track_id)
        .copied()
        .unwrap_or_default();
    for (moof_start, payload) in &moofs {
        parse_moof(&mut track, *moof_start, payload, &trex, sample_cap)?;
    }
    let mut parsed = finish(track, movie_timescale)?;
    match parsed.info.codec {
        Codec::Mjpeg => super::mjpeg::fill_info(source, &mut parsed)?,
        Codec::Mpeg2 => super::mpeg2::fill_info(source, &mut parsed)?,
        _ => {}
    }
    Ok((parsed, listing))
}

/// The video track ffmpeg's command line maps by default (`map_auto_video`): the largest
/// `width * height`, with 5,000,000 added for a default track (ffmpeg marks MP4 tracks with
/// the `tkhd` enabled flag as default); the first such track on a tie.
fn default_track(tracks: &[Track]) -> usize {
    let score = |t: &Track| {
        u64::from(t.width) * u64::from(t.height) + if t.enabled { 5_000_000 } else { 0 }
    };
    let mut best = 0;
    for (i, t) in tracks.iter().enumerate() {
        if score(t) > score(&tracks[best]) {
            best = i;
        }
    }
    best
}

fn parse_mvhd(p: &[u8]) -> Result<u32> {
    let mut r = ByteReader::new(p, "mvhd box");
    let version = r.u8()?;
    r.skip(3)?;
    r.skip(if version == 1 { 16 } else { 8 })?;
    r.u32()
}

/// Rotation from a `tkhd` matrix (16.16 fixed point `a`, `b`).
fn rotation_of(a: i32, b: i32) -> i32 {
    match (a.signum(), b.signum()) {
        (0, 1) => 90,
        (-1, 0) => 180,
        (0, -1) => 270,
        _ => 0,
    }
}

fn parse_trak(p: &[u8], sample_cap: usize) -> Result<Option<Track>> {
    let kids = children(p, "trak")?;
    let Some(mdia) = child(&kids, b"mdia") else {
        return Ok(None);
    };
    let mdia = children(mdia, "mdia")?;
    let handler = child(&mdia, b"hdlr")
        .and_then(|h| h.get(8..12))
        .unwrap_or(&[]);
    if handler != b"vide" {
        return Ok(None);
    }
    let (mut track_id, mut rotation, mut enabled) = (0u32, 0i32, true);
    if let Some(tkhd) = child(&kids, b"tkhd") {
        let mut r = ByteReader::new(tkhd, "tkhd box");
        let version = r.u8()?;
        r.skip(2)?; // the high bytes of the 24-bit flags
        enabled = r.u8()? & 1 != 0; // track_enabled
        r.skip(if version == 1 { 16 } else { 8 })?;
        track_id = r.u32()?;
        r.skip(4)?;
        r.skip(if version == 1 { 8 } else { 4 })?;
        r.skip(8 + 8)?; // reserved, layer, alternate_group, volume, reserved
        let a = r.i32()?;
        let b = r.i32()?;
        rotation = rotation_of(a, b);
    }
    let mdhd = child(&mdia, b"mdhd").ok_or_else(|| invalid("video track has no `mdhd` box"))?;
    let mut r = ByteReader::new(mdhd, "mdhd box");
    let version = r.u8()?;
    r.skip(3)?;
    r.skip(if version == 1 { 16 } else { 8 })?;
    let timescale = r.u32()?;
    let media_duration = if version == 1 {
        r.u64()?
    } else {
        u64::from(r.u32()?)
    };
    if timescale == 0 {
        return Err(invalid("video track has a zero timescale in `mdhd`"));
    }
    let mut edits = Vec::new();
    if let Some(edts) = child(&kids, b"edts") {
        if let Some(elst) = child(&children(edts, "edts")?, b"elst") {
            edits = parse_elst(elst)?;
        }
    }
    let minf = child(&mdia, b"minf").ok_or_else(|| invalid("video track has no `minf` box"))?;
    let minf = children(minf, "minf")?;
    let stbl = child(&minf, b"stbl").ok_or_else(|| invalid("video track has no `stbl` box"))?;
    let stbl = children(stbl, "stbl")?;
    let stsd = child(&stbl, b"stsd").ok_or_else(|| invalid("video track has no `stsd` box"))?;
    let entry = parse_stsd(stsd)?;
    let mut track = Track {
        enabled,
        track_id,
        timescale,
        media_duration,
        rotation,
        codec: entry.codec,
        width: entry.width,
        height: entry.height,
        bit_depth: entry.bit_depth,
        chroma: entry.chroma,
        format: entry.format,
        parameter_sets: entry.parameter_sets,
        colour: entry.colour,
        edits,
        samples: Vec::new(),
        next_dts: 0,
    };
    build_samples(&mut track, &stbl, sample_cap)?;
    Ok(Some(track))
}

fn parse_elst(p: &[u8]) -> Result<Vec<Edit>> {
    let mut r = ByteReader::new(p, "elst box");
    let version = r.u8()?;
    r.skip(3)?;
    let n = r.u32()? as usize;
    let per = if version == 1 { 20 } else { 12 };
    if n.checked_mul(per).is_none_or(|b| b > r.remaining()) {
        return Err(invalid(format!(
            "`elst` claims {n} entries but holds {} bytes",
            r.remaining()
        )));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (segment_duration, media_time) = if version == 1 {
            (r.u64()?, r.i64()?)
        } else {
            (u64::from(r.u32()?), i64::from(r.i32()?))
        };
        r.skip(4)?; // media_rate
        out.push(Edit {
            segment_duration,
            media_time,
        });
    }
    Ok(out)
}

struct SampleDescription {
    codec: Codec,
    width: u32,
    height: u32,
    bit_depth: Option<u8>,
    chroma: Option<ChromaFormat>,
    format: PacketFormat,
    parameter_sets: Vec<u8>,
    /// From the `colr` box (`nclx`/`nclc`) or VP9's `vpcC`.
    colour: Option<ColourInfo>,
}

/// The `colr` box of a visual sample entry (ISO/IEC 14496-12 12.1.5): `nclx` carries H.273
/// primaries, transfer, matrix and the full-range flag; QuickTime's `nclc` the first three.
/// ICC profiles (`rICC`/`prof`) say nothing nvdx can use.
fn parse_colr(p: &[u8]) -> Result<Option<ColourInfo>> {
    let mut r = ByteReader::new(p, "colr box");
    let kind = r.bytes(4)?;
    if kind != b"nclx" && kind != b"nclc" {
        return Ok(None);
    }
    let code = |v: u16| u8::try_from(v).ok();
    let primaries = code(r.u16()?);
    let transfer = code(r.u16()?);
    let matrix = code(r.u16()?);
    let full_range = if kind == b"nclx" {
        Some(r.u8()? & 0x80 != 0)
    } else {
        None
    };
    Ok(Some(ColourInfo {
        primaries,
        transfer,
        matrix,
        full_range,
    }))
}

fn parse_stsd(p: &[u8]) -> Result<SampleDescription> {
    let mut r = ByteReader::new(p, "stsd box");
    r.skip(8)?; // version, flags, entry_count
    let rest = r.bytes(r.remaining())?;
    let entries = children(rest, "stsd")?;
    let Some(&(t, body)) = entries.first() else {
        return Err(invalid("`stsd` has no sample entry"));
    };
    let codec = match &t {
        b"avc1" | b"avc3" => Codec::H264,
        b"hvc1" | b"hev1" => Codec::Hevc,
        b"vp09" => Codec::Vp9,
        b"av01" => Codec::Av1,
        // Resolved from the `esds` objectTypeIndication below.
        b"mp4v" => Codec::Mpeg2,
        b"jpeg" | b"mjpa" => Codec::Mjpeg,
        b"mjpb" => {
            return Err(Error::Unsupported(
                "Motion JPEG format B (`mjpb`) is not supported (its pictures carry no JPEG \
                 markers); `jpeg` and `mjpa` are; convert with `ffmpeg -i IN -c:v copy -bsf:v \
                 mjpeg2jpeg` or re-encode"
                    .into(),
            ))
        }
        b"encv" => {
            return Err(Error::Unsupported(
                "the video track is encrypted (`encv`); nvdx cannot decrypt it".into(),
            ))
        }
        other => {
            return Err(Error::Unsupported(format!(
                "MP4 video sample entry `{}` is not supported (H.264 avc1/avc3, HEVC hvc1/hev1, \
                 VP9 vp09, AV1 av01, MPEG-2 mp4v and Motion JPEG jpeg/mjpa are); transcode \
                 with ffmpeg",
                fourcc_str(*other)
            )))
        }
    };
    let mut r = ByteReader::new(body, "visual sample entry");
    r.skip(24)?;
    let width = u32::from(r.u16()?);
    let height = u32::from(r.u16()?);
    r.skip(50)?;
    let boxes = children(r.bytes(r.remaining())?, "visual sample entry")?;
    let mut esds_config = Vec::new();
    let codec = if &t == b"mp4v" {
        let esds = child(&boxes, b"esds")
            .ok_or_else(|| invalid("`mp4v` sample entry has no `esds` box"))?;
        let (oti, config) = parse_esds(esds)?;
        esds_config = config;
        match oti {
            0x60..=0x65 => Codec::Mpeg2,
            0x6C => Codec::Mjpeg,
            other => {
                let what = match other {
                    0x20 => "MPEG-4 Part 2 video",
                    0x6A => "MPEG-1 video",
                    _ => "this format",
                };
                return Err(Error::Unsupported(format!(
                    "`mp4v` track with objectTypeIndication {other:#04x} ({what}) is not \
                     supported; MPEG-2 video (0x60..=0x65) and JPEG (0x6C) are"
                )));
            }
        }
    } else {
        codec
    };
    let mut d = SampleDescription {
        codec,
        width,
        height,
        bit_depth: None,
        chroma: None,
        format: PacketFormat::Raw,
        parameter_sets: Vec::new(),
        colour: match child(&boxes, b"colr") {
            Some(c) => parse_colr(c)?,
            None => None,
        },
    };
    match codec {
        Codec::H264 | Codec::Hevc => {
            let (name, cfg) = if codec == Codec::H264 {
                ("avcC", child(&boxes, b"avcC").map(parse_avcc))
            } else {
                ("hvcC", child(&boxes, b"hvcC").map(parse_hvcc))
            };
            let cfg = cfg.ok_or_else(|| {
                invalid(format!(
                    "{codec} sample entry `{}` has no `{name}` box",
                    fourcc_str(t)
                ))
            })??;
            d.bit_depth = cfg.bit_depth;
            d.format = PacketFormat::LengthPrefixed {
                length_size: cfg.length_size,
                parameter_sets: cfg.parameter_sets.clone(),
            };
            d.parameter_sets = cfg.parameter_sets;
        }
        Codec::Vp9 => {
            if let Some(v) = child(&boxes, b"vpcC") {
                let mut r = ByteReader::new(v, "vpcC box");
                r.skip(6)?;
                let b = r.u8()?;
                d.bit_depth = Some(b >> 4);
                d.chroma = Some(match (b >> 1) & 7 {
                    2 => ChromaFormat::Yuv422,
                    3 => ChromaFormat::Yuv444,
                    _ => ChromaFormat::Yuv420,
                });
                // vpcC v1: colourPrimaries, transferCharacteristics, matrixCoefficients follow.
                if d.colour.is_none() {
                    if let (Ok(p), Ok(t), Ok(m)) = (r.u8(), r.u8(), r.u8()) {
                        d.colour = Some(ColourInfo {
                            primaries: Some(p),
                            transfer: Some(t),
                            matrix: Some(m),
                            full_range: Some(b & 1 != 0),
                        });
                    }
                }
            }
        }
        Codec::Mpeg2 => {
            // The DecoderSpecificInfo is the sequence header; ffmpeg writes none (the header
            // is in-band), and `mpeg2::fill_info` then takes the first sample's.
            d.bit_depth = Some(8);
            d.parameter_sets = esds_config.clone();
            d.format = PacketFormat::Mpeg2 {
                sequence_header: esds_config,
            };
        }
        // Size, depth and chroma come from the first picture (`mjpeg::fill_info`).
        Codec::Mjpeg => {}
        Codec::Av1 => {
            if let Some(v) = child(&boxes, b"av1C") {
                let mut r = ByteReader::new(v, "av1C box");
                r.skip(2)?;
                let b = r.u8()?;
                d.bit_depth = Some(if b & 0x20 != 0 {
                    12
                } else if b & 0x40 != 0 {
                    10
                } else {
                    8
                });
                d.chroma = Some(match (b & 0x10 != 0, b & 0x08 != 0, b & 0x04 != 0) {
                    (true, _, _) => ChromaFormat::Monochrome,
                    (false, true, true) => ChromaFormat::Yuv420,
                    (false, true, false) => ChromaFormat::Yuv422,
                    _ => ChromaFormat::Yuv444,
                });
                // configOBUs (after the 4 fixed bytes): the sequence header's color_config
                // wins over `colr`.
                let seq = v.get(4..).and_then(super::ivf::av1_colour);
                d.colour = super::merge_colour(seq, d.colour);
            }
        }
    }
    Ok(d)
}

/// An MPEG-4 descriptor's expandable size (ISO/IEC 14496-1 8.3.3).
fn descriptor_len(r: &mut ByteReader<'_>) -> Result<usize> {
    let mut n = 0usize;
    for _ in 0..4 {
        let b = r.u8()?;
        n = (n << 7) | usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    Ok(n)
}

/// The `esds` box: the DecoderConfigDescriptor's objectTypeIndication and the
/// DecoderSpecificInfo bytes (empty when there are none).
fn parse_esds(p: &[u8]) -> Result<(u8, Vec<u8>)> {
    let mut r = ByteReader::new(p, "esds box");
    r.skip(4)?; // version, flags
    if r.u8()? != 3 {
        return Err(invalid("`esds` does not start with an ES_Descriptor"));
    }
    let n = descriptor_len(&mut r)?;
    let mut r = ByteReader::new(r.bytes(n.min(r.remaining()))?, "ES_Descriptor");
    r.skip(2)?; // ES_ID
    let flags = r.u8()?;
    if flags & 0x80 != 0 {
        r.skip(2)?; // dependsOn_ES_ID
    }
    if flags & 0x40 != 0 {
        let url = usize::from(r.u8()?);
        r.skip(url)?;
    }
    if flags & 0x20 != 0 {
        r.skip(2)?; // OCR_ES_Id
    }
    if r.u8()? != 4 {
        return Err(invalid("`esds` has no DecoderConfigDescriptor"));
    }
    let n = descriptor_len(&mut r)?;
    let mut r = ByteReader::new(r.bytes(n.min(r.remaining()))?, "DecoderConfigDescriptor");
    let oti = r.u8()?;
    r.skip(12)?; // streamType, bufferSizeDB, maxBitrate, avgBitrate
    let mut config = Vec::new();
    if r.remaining() > 0 && r.u8()? == 5 {
        let n = descriptor_len(&mut r)?;
        config = r.bytes(n.min(r.remaining()))?.to_vec();
    }
    Ok((oti, config))
}

/// Reads a FullBox with a u32 entry count and checks that `per_entry`-byte entries fit.
fn table<'a>(p: &'a [u8], name: &'static str, per_entry: usize) -> Result<(ByteReader<'a>, usize)> {
    let mut r = ByteReader::new(p, name);
    r.skip(4)?;
    let n = r.u32()? as usize;
    if n.checked_mul(per_entry).is_none_or(|b| b > r.remaining()) {
        return Err(invalid(format!(
            "{name} claims {n} entries but holds only {} bytes; the file is corrupt",
            r.remaining()
        )));
    }
    Ok((r, n))
}

fn too_many(n: usize, cap: usize) -> Error {
    invalid(format!(
        "track claims {n} samples, more than this file can hold ({cap}); the index is corrupt"
    ))
}

fn build_samples(track: &mut Track, stbl: &[(Fourcc, &[u8])], cap: usize) -> Result<()> {
    // Sizes.
    let mut sizes: Vec<u32> = Vec::new();
    if let Some(stsz) = child(stbl, b"stsz") {
        let mut r = ByteReader::new(stsz, "stsz box");
        r.skip(4)?;
        let constant = r.u32()?;
        let n = r.u32()? as usize;
        if n > cap {
            return Err(too_many(n, cap));
        }
        if constant != 0 {
            sizes = vec![constant; n];
        } else {
            if n.checked_mul(4).is_none_or(|b| b > r.remaining()) {
                return Err(invalid("stsz box is shorter than its sample count"));
            }
            sizes.reserve(n);
            for _ in 0..n {
                sizes.push(r.u32()?);
            }
        }
    } else if let Some(stz2) = child(stbl, b"stz2") {
        let mut r = ByteReader::new(stz2, "stz2 box");
        r.skip(7)?;
        let field = r.u8()?;
        let n = r.u32()? as usize;
        if n > cap {
            return Err(too_many(n, cap));
        }
        let bytes_needed = match field {
            4 => n.div_ceil(2),
            8 => n,
            16 => n.saturating_mul(2),
            _ => {
                return Err(invalid(format!(
                    "stz2 field size {field} is not 4, 8 or 16"
                )))
            }
        };
        if bytes_needed > r.remaining() {
            return Err(invalid("stz2 box is shorter than its sample count"));
        }
        while sizes.len() < n {
            match field {
                4 => {
                    let b = r.u8()?;
                    sizes.push(u32::from(b >> 4));
                    if sizes.len() < n {
                        sizes.push(u32::from(b & 0xf));
                    }
                }
                8 => sizes.push(u32::from(r.u8()?)),
                _ => sizes.push(u32::from(r.u16()?)),
            }
        }
    }
    let n = sizes.len();
    if n == 0 {
        return Ok(()); // fragmented: samples come from moof boxes
    }
    // Chunk offsets.
    let mut chunks: Vec<u64> = Vec::new();
    if let Some(stco) = child(stbl, b"stco") {
        let (mut r, c) = table(stco, "stco box", 4)?;
        for _ in 0..c {
            chunks.push(u64::from(r.u32()?));
        }
    } else if let Some(co64) = child(stbl, b"co64") {
        let (mut r, c) = table(co64, "co64 box", 8)?;
        for _ in 0..c {
            chunks.push(r.u64()?);
        }
    } else {
        return Err(invalid("video track has samples but no `stco`/`co64` box"));
    }
    let stsc = child(stbl, b"stsc").ok_or_else(|| invalid("video track has no `stsc` box"))?;
    let (mut r, ne) = table(stsc, "stsc box", 12)?;
    let mut runs = Vec::with_capacity(ne);
    for _ in 0..ne {
        let first = r.u32()?;
        let per = r.u32()?;
        r.skip(4)?;
        runs.push((first, per));
    }
    let mut offsets = Vec::with_capacity(n);
    let mut s = 0usize;
    'chunks: for (ci, &chunk_off) in chunks.iter().enumerate() {
        let chunk_no = u32::try_from(ci + 1).unwrap_or(u32::MAX);
        let per = runs
            .iter()
            .rev()
            .find(|(first, _)| *first <= chunk_no)
            .map_or(0, |(_, p)| *p);
        let mut off = chunk_off;
        for _ in 0..per {
            let Some(&size) = sizes.get(s) else {
                break 'chunks;
            };
            offsets.push(off);
            off = off
                .checked_add(u64::from(size))
                .ok_or_else(|| invalid("sample offsets overflow; the index is corrupt"))?;
            s += 1;
        }
    }
    if offsets.len() < n {
        return Err(invalid(format!(
            "`stsc`/`stco` place only {} of the {n} samples; the index is corrupt",
            offsets.len()
        )));
    }
    // Decode times.
    let stts = child(stbl, b"stts").ok_or_else(|| invalid("video track has no `stts` box"))?;
    let (mut r, ne) = table(stts, "stts box", 8)?;
    let mut durations = Vec::with_capacity(n);
    'stts: for _ in 0..ne {
        let count = r.u32()?;
        let delta = i64::from(r.u32()?);
        for _ in 0..count {
            if durations.len() >= n {
                break 'stts;
            }
            durations.push(delta);
        }
    }
    let last = durations.last().copied().unwrap_or(0);
    durations.resize(n, last);
    // Composition offsets.
    let mut cts = vec![0i64; n];
    if let Some(ctts) = child(stbl, b"ctts") {
        let (mut r, ne) = table(ctts, "ctts box", 8)?;
        let mut i = 0usize;
        'ctts: for _ in 0..ne {
            let count = r.u32()?;
            let off = i64::from(r.i32()?);
            for _ in 0..count {
                let Some(c) = cts.get_mut(i) else {
                    break 'ctts;
                };
                *c = off;
                i += 1;
            }
        }
    }
    // Sync samples.
    let sync: Option<Vec<bool>> = match child(stbl, b"stss") {
        Some(stss) => {
            let (mut r, ne) = table(stss, "stss box", 4)?;
            let mut v = vec![false; n];
            for _ in 0..ne {
                let k = r.u32()? as usize;
                if let Some(x) = k.checked_sub(1).and_then(|k| v.get_mut(k)) {
                    *x = true;
                }
            }
            Some(v)
        }
        None => None,
    };
    let mut dts = 0i64;
    track.samples.reserve(n);
    for i in 0..n {
        let d = durations.get(i).copied().unwrap_or(0);
        let c = cts.get(i).copied().unwrap_or(0);
        track.samples.push(SampleEntry {
            offset: offsets.get(i).copied().unwrap_or(0),
            size: sizes.get(i).copied().unwrap_or(0),
            pts: dts.saturating_add(c),
            dts,
            duration: d,
            keyframe: sync
                .as_ref()
                .is_none_or(|v| v.get(i).copied().unwrap_or(false)),
        });
        dts = dts.saturating_add(d);
    }
    track.next_dts = dts;
    Ok(())
}

fn parse_moof(
    track: &mut Track,
    moof_start: u64,
    payload: &[u8],
    trex: &Trex,
    cap: usize,
) -> Result<()> {
    for (t, traf) in children(payload, "moof")? {
        if &t != b"traf" {
            continue;
        }
        let kids = children(traf, "traf")?;
        let tfhd = child(&kids, b"tfhd").ok_or_else(|| invalid("`traf` has no `tfhd` box"))?;
        let mut r = ByteReader::new(tfhd, "tfhd box");
        let flags = r.u32()? & 0x00ff_ffff;
        if r.u32()? != track.track_id {
            continue;
        }
        let base = if flags & 0x1 != 0 {
            r.u64()?
        } else {
            moof_start
        };
        if flags & 0x2 != 0 {
            r.skip(4)?;
        }
        let def_dur = if flags & 0x8 != 0 {
            r.u32()?
        } else {
            trex.duration
        };
        let def_size = if flags & 0x10 != 0 {
            r.u32()?
        } else {
            trex.size
        };
        let def_flags = if flags & 0x20 != 0 {
            r.u32()?
        } else {
            trex.flags
        };
        let mut dts = track.next_dts;
        if let Some(tfdt) = child(&kids, b"tfdt") {
            let mut r = ByteReader::new(tfdt, "tfdt box");
            let v = r.u8()?;
            r.skip(3)?;
            let t = if v == 1 {
                r.u64()?
            } else {
                u64::from(r.u32()?)
            };
            dts = i64::try_from(t).map_err(|_| invalid("tfdt decode time out of range"))?;
        }
        let mut pos = base;
        for (t, trun) in &kids {
            if t != b"trun" {
                continue;
            }
            let mut r = ByteReader::new(trun, "trun box");
            let vf = r.u32()?;
            let (version, tf) = (vf >> 24, vf & 0x00ff_ffff);
            let count = r.u32()? as usize;
            if tf & 0x1 != 0 {
                let off = i64::from(r.i32()?);
                pos = base
                    .checked_add_signed(off)
                    .ok_or_else(|| invalid("trun data offset points before the file start"))?;
            }
            let first_flags = if tf & 0x4 != 0 { Some(r.u32()?) } else { None };
            let per = [0x100, 0x200, 0x400, 0x800]
                .iter()
                .filter(|&&f| tf & f != 0)
                .count()
                * 4;
            if count.checked_mul(per).is_none_or(|b| b > r.remaining())
                || track.samples.len().saturating_add(count) > cap
            {
                return Err(invalid(format!(
                    "`trun` claims {count} samples, more than it or the file can hold; \
                     the fragment is corrupt"
                )));
            }
            for i in 0..count {
                let d = if tf & 0x100 != 0 { r.u32()? } else { def_dur };
                let size = if tf & 0x200 != 0 { r.u32()? } else { def_size };
                let sf = if tf & 0x400 != 0 { r.u32()? } else { def_flags };
                let sf = match (i, first_flags) {
                    (0, Some(f)) => f,
                    _ => sf,
                };
                let c = if tf & 0x800 != 0 {
                    let raw = r.u32()?;
                    if version == 0 {
                        i64::from(raw)
                    } else {
                        i64::from(raw as i32)
                    }
                } else {
                    0
                };
                track.samples.push(SampleEntry {
                    offset: pos,
                    size,
                    pts: dts.saturating_add(c),
                    dts,
                    duration: i64::from(d),
                    keyframe: sf & 0x0001_0000 == 0,
                });
                pos = pos
                    .checked_add(u64::from(size))
                    .ok_or_else(|| invalid("fragment sample offsets overflow"))?;
                dts = dts.saturating_add(i64::from(d));
            }
        }
        track.next_dts = dts;
    }
    Ok(())
}

fn finish(mut track: Track, movie_timescale: u32) -> Result<Parsed> {
    if track.samples.is_empty() {
        return Err(invalid("the video track has no samples"));
    }
    let ts = track.timescale;
    // Edit list: empty edits delay the start, the first media edit says where it begins.
    let mut delay = 0i64;
    let mut media_start = None;
    let mut presented = 0u64;
    for e in &track.edits {
        if e.media_time == -1 {
            if media_start.is_none() {
                delay = delay.saturating_add(super::rescale(
                    i64::try_from(e.segment_duration).unwrap_or(i64::MAX),
                    movie_timescale,
                    ts,
                ));
            }
        } else {
            if media_start.is_none() {
                media_start = Some(e.media_time);
            }
            presented = presented.saturating_add(e.segment_duration);
        }
    }
    let shift = media_start.unwrap_or(0).saturating_sub(delay);
    for s in &mut track.samples {
        s.pts = s.pts.saturating_sub(shift);
        s.dts = s.dts.saturating_sub(shift);
    }
    let n = track.samples.len();
    let total: i64 = track
        .samples
        .iter()
        .fold(0i64, |a, s| a.saturating_add(s.duration));
    let duration_seconds = if presented > 0 && movie_timescale > 0 {
        Some(presented as f64 / f64::from(movie_timescale))
    } else if track.media_duration > 0 {
        Some(track.media_duration as f64 / f64::from(ts))
    } else {
        Some(ticks_to_seconds(total, ts))
    };
    let frame_rate = if total > 0 {
        let num = (n as u64).saturating_mul(u64::from(ts));
        let den = total as u64;
        let g = gcd(num, den);
        match (u32::try_from(num / g), u32::try_from(den / g)) {
            (Ok(a), Ok(b)) => Some((a, b)),
            _ => None,
        }
    } else {
        None
    };
    // Fill in what the container did not say from the SPS.
    let (mut width, mut height) = (track.width, track.height);
    let mut bit_depth = track.bit_depth;
    let mut chroma = track.chroma;
    let mut colour = track.colour;
    if matches!(track.codec, Codec::H264 | Codec::Hevc) {
        let codec = track.codec;
        if let Some(sps) = split_annexb(&track.parameter_sets).find(|n| annexb::is_sps(codec, n)) {
            if let Ok(info) = parse_sps(codec, sps) {
                // What the decoder sees wins over the container (as ffmpeg's decoders do).
                colour = super::merge_colour(info.colour, colour);
                if width == 0 || height == 0 {
                    width = info.width;
                    height = info.height;
                }
                bit_depth = Some(bit_depth.unwrap_or(info.bit_depth).max(info.bit_depth));
                chroma = Some(info.chroma);
            }
        }
    }
    Ok(Parsed {
        info: StreamInfo {
            container: Container::Mp4,
            codec: track.codec,
            width,
            height,
            bit_depth: bit_depth.unwrap_or(8),
            chroma: chroma.unwrap_or(ChromaFormat::Yuv420),
            timescale: ts,
            frame_rate,
            duration_seconds,
            frame_count: Some(n),
            rotation_degrees: track.rotation,
            parameter_sets: track.parameter_sets,
            colour,
        },
        samples: track.samples,
        format: track.format,
    })
}

#[cfg(test)]
pub(crate) fn parse_colr_for_tests(p: &[u8]) -> Result<Option<ColourInfo>> {
    parse_colr(p)
}
