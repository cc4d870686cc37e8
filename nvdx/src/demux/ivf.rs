//! IVF (VP9, AV1): a 32-byte header, then frames with a 12-byte header each.

use super::reader::{BitReader, ByteReader};
use super::{Container, PacketFormat, Parsed, SampleEntry, Source, StreamInfo};
use crate::codec::{ChromaFormat, Codec};
use crate::{Error, Result};

/// Most frames nvdx indexes in one IVF file.
const MAX_FRAMES: usize = 1 << 24;

/// What a VP9 uncompressed frame header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vp9Header {
    pub keyframe: bool,
    pub bit_depth: Option<u8>,
    pub chroma: Option<ChromaFormat>,
    pub size: Option<(u32, u32)>,
    /// The keyframe's `color_space` and `color_range` as an H.273 description.
    pub colour: Option<super::ColourInfo>,
}

/// VP9's `color_space` (VP9 bitstream spec 7.2) as H.273 code points; sRGB (7) is full-range
/// RGB (identity matrix).
fn vp9_colour(cs: u32, srgb: bool) -> super::ColourInfo {
    // As ffmpeg's VP9 decoder: the header names the matrix only (and sRGB for 7).
    let matrix = match cs {
        1 => Some(5), // CS_BT_601 -> BT.470BG
        2 => Some(1), // CS_BT_709
        3 => Some(6), // CS_SMPTE_170
        4 => Some(7), // CS_SMPTE_240
        5 => Some(9), // CS_BT_2020 (non-constant luminance)
        7 => Some(0), // CS_RGB (identity)
        _ => None,    // CS_UNKNOWN, reserved
    };
    let (primaries, transfer) = if srgb {
        (Some(1), Some(13))
    } else {
        (None, None)
    };
    super::ColourInfo {
        primaries,
        transfer,
        matrix,
        full_range: srgb.then_some(true),
    }
}

/// Reads the start of a VP9 uncompressed header (the first frame of a superframe).
pub(crate) fn vp9_header(frame: &[u8]) -> Result<Vp9Header> {
    let mut r = BitReader::new(frame);
    if r.bits(2)? != 2 {
        return Err(Error::InvalidData("VP9 frame marker is wrong".into()));
    }
    let lo = r.bits(1)?;
    let hi = r.bits(1)?;
    let profile = (hi << 1) | lo;
    if profile == 3 {
        r.skip(1)?;
    }
    let mut h = Vp9Header {
        keyframe: false,
        bit_depth: None,
        chroma: None,
        size: None,
        colour: None,
    };
    if r.bit()? {
        return Ok(h); // show_existing_frame
    }
    if r.bit()? {
        return Ok(h); // non-key frame
    }
    h.keyframe = true;
    r.skip(2)?; // show_frame, error_resilient_mode
    if r.bits(24)? != 0x49_83_42 {
        return Err(Error::InvalidData("VP9 keyframe sync code is wrong".into()));
    }
    let depth = if profile >= 2 {
        if r.bit()? {
            12
        } else {
            10
        }
    } else {
        8
    };
    h.bit_depth = Some(depth);
    let cs = r.bits(3)?;
    let mut chroma = ChromaFormat::Yuv420;
    h.colour = Some(vp9_colour(cs, cs == 7));
    if cs != 7 {
        let full = r.bit()?;
        if let Some(c) = &mut h.colour {
            c.full_range = Some(full);
        }
        if profile == 1 || profile == 3 {
            let sx = r.bit()?;
            let sy = r.bit()?;
            r.skip(1)?;
            chroma = match (sx, sy) {
                (true, true) => ChromaFormat::Yuv420,
                (true, false) => ChromaFormat::Yuv422,
                _ => ChromaFormat::Yuv444,
            };
        }
    } else {
        chroma = ChromaFormat::Yuv444;
        if profile == 1 || profile == 3 {
            r.skip(1)?;
        }
    }
    h.chroma = Some(chroma);
    let w = r.bits(16)? + 1;
    let hh = r.bits(16)? + 1;
    h.size = Some((w, hh));
    Ok(h)
}

/// Whether an AV1 temporal unit holds a key frame: a frame (header) OBU with
/// `show_existing_frame = 0` and `frame_type = KEY_FRAME`.
pub(crate) fn av1_is_keyframe(tu: &[u8]) -> bool {
    let mut r = ByteReader::new(tu, "AV1 OBU");
    while r.remaining() > 0 {
        let Ok(h) = r.u8() else { return false };
        let obu_type = (h >> 3) & 0xf;
        let has_ext = h & 0x4 != 0;
        let has_size = h & 0x2 != 0;
        if has_ext && r.skip(1).is_err() {
            return false;
        }
        let size = if has_size {
            let mut v: u64 = 0;
            let mut ok = false;
            for i in 0..8 {
                let Ok(b) = r.u8() else { return false };
                v |= u64::from(b & 0x7f) << (7 * i);
                if b & 0x80 == 0 {
                    ok = true;
                    break;
                }
            }
            if !ok {
                return false;
            }
            usize::try_from(v).unwrap_or(usize::MAX)
        } else {
            r.remaining()
        };
        let Ok(payload) = r.bytes(size) else {
            return false;
        };
        if obu_type == 3 || obu_type == 6 {
            let mut b = BitReader::new(payload);
            return matches!((b.bit(), b.bits(2)), (Ok(false), Ok(0)));
        }
    }
    false
}

/// The OBUs of an AV1 temporal unit (or of an `av1C` box's `configOBUs`) as (type, payload);
/// stops at the first malformed header.
fn av1_obus(tu: &[u8]) -> impl Iterator<Item = (u8, &[u8])> {
    let mut r = ByteReader::new(tu, "AV1 OBU");
    std::iter::from_fn(move || {
        if r.remaining() == 0 {
            return None;
        }
        let h = r.u8().ok()?;
        let obu_type = (h >> 3) & 0xf;
        if h & 0x4 != 0 {
            r.skip(1).ok()?; // obu_extension_header
        }
        let size = if h & 0x2 != 0 {
            let mut v: u64 = 0;
            let mut end = false;
            for i in 0..8 {
                let b = r.u8().ok()?;
                v |= u64::from(b & 0x7f) << (7 * i);
                if b & 0x80 == 0 {
                    end = true;
                    break;
                }
            }
            if !end {
                return None;
            }
            usize::try_from(v).unwrap_or(usize::MAX)
        } else {
            r.remaining()
        };
        let payload = r.bytes(size).ok()?;
        Some((obu_type, payload))
    })
}

/// The colour description of the first sequence header OBU in `obus` (a temporal unit, or
/// `av1C`'s `configOBUs`): `color_range`, and the H.273 code points when
/// `color_description_present_flag` is set (AV1 spec 5.5.2, `color_config()`). `None` when
/// there is no sequence header or it ends early.
pub(crate) fn av1_colour(obus: &[u8]) -> Option<super::ColourInfo> {
    let (_, seq) = av1_obus(obus).find(|(t, _)| *t == 1)?; // OBU_SEQUENCE_HEADER
    av1_sequence_colour(seq).ok()
}

/// `uvlc()` (AV1 spec 4.10.3).
fn uvlc(r: &mut BitReader<'_>) -> Result<u32> {
    let mut zeros = 0;
    while !r.bit()? {
        zeros += 1;
        if zeros >= 32 {
            return Ok(u32::MAX);
        }
    }
    Ok(r.bits(zeros)? + ((1u32 << zeros) - 1))
}

/// `sequence_header_obu()` (AV1 spec 5.5.1) through `color_config()`.
fn av1_sequence_colour(seq: &[u8]) -> Result<super::ColourInfo> {
    let mut r = BitReader::new(seq);
    let profile = r.bits(3)?;
    r.skip(1)?; // still_picture
    let reduced = r.bit()?;
    if reduced {
        r.skip(5)?; // seq_level_idx[0]
    } else {
        let mut decoder_model_info = false;
        let mut buffer_delay_bits = 0;
        if r.bit()? {
            // timing_info_present_flag: timing_info()
            r.skip(64)?; // num_units_in_display_tick, time_scale
            if r.bit()? {
                uvlc(&mut r)?; // num_ticks_per_picture_minus_1
            }
            decoder_model_info = r.bit()?;
            if decoder_model_info {
                buffer_delay_bits = r.bits(5)? as usize + 1;
                r.skip(32 + 5 + 5)?;
            }
        }
        let initial_display_delay = r.bit()?;
        let points = r.bits(5)? + 1;
        for _ in 0..points {
            r.skip(12)?; // operating_point_idc
            if r.bits(5)? > 7 {
                r.skip(1)?; // seq_tier
            }
            if decoder_model_info && r.bit()? {
                // operating_parameters_info(): two delays and low_delay_mode_flag
                r.skip(2 * buffer_delay_bits + 1)?;
            }
            if initial_display_delay && r.bit()? {
                r.skip(4)?; // initial_display_delay_minus_1
            }
        }
    }
    let width_bits = r.bits(4)? as usize + 1;
    let height_bits = r.bits(4)? as usize + 1;
    r.skip(width_bits + height_bits)?; // max_frame_width/height_minus_1
    if !reduced && r.bit()? {
        // frame_id_numbers_present_flag
        r.skip(4 + 3)?;
    }
    // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    r.skip(3)?;
    if !reduced {
        // enable_interintra_compound, enable_masked_compound, enable_warped_motion,
        // enable_dual_filter
        r.skip(4)?;
        let order_hint = r.bit()?;
        if order_hint {
            r.skip(2)?; // enable_jnt_comp, enable_ref_frame_mvs
        }
        let force_screen_content_tools = if r.bit()? {
            2 // seq_choose_screen_content_tools: SELECT_SCREEN_CONTENT_TOOLS
        } else {
            r.bits(1)?
        };
        if force_screen_content_tools > 0 && !r.bit()? {
            r.skip(1)?; // seq_force_integer_mv
        }
        if order_hint {
            r.skip(3)?; // order_hint_bits_minus_1
        }
    }
    r.skip(3)?; // enable_superres, enable_cdef, enable_restoration
                // color_config()
    let high_bitdepth = r.bit()?;
    if profile == 2 && high_bitdepth {
        r.skip(1)?; // twelve_bit
    }
    let mono = profile != 1 && r.bit()?;
    let mut c = super::ColourInfo::default();
    if r.bit()? {
        // color_description_present_flag
        c.primaries = Some(r.bits(8)? as u8);
        c.transfer = Some(r.bits(8)? as u8);
        c.matrix = Some(r.bits(8)? as u8);
    }
    let srgb = !mono && (c.primaries, c.transfer, c.matrix) == (Some(1), Some(13), Some(0));
    // sRGB (BT.709 primaries, sRGB transfer, identity matrix) is full range implicitly.
    c.full_range = Some(srgb || r.bit()?);
    Ok(c)
}

pub(crate) fn parse(source: &mut Source) -> Result<Parsed> {
    let head = source.read_clamped(0, 32)?;
    let mut r = ByteReader::new(&head, "IVF file header");
    if r.bytes(4)? != b"DKIF" {
        return Err(Error::InvalidData("IVF signature DKIF missing".into()));
    }
    r.skip(2)?;
    let header_len = u64::from(r.u16_le()?);
    let fourcc = r.bytes(4)?;
    let codec = match fourcc {
        b"VP90" => Codec::Vp9,
        b"AV01" => Codec::Av1,
        other => {
            return Err(Error::Unsupported(format!(
                "IVF with FourCC {:?} is not supported (VP90 and AV01 are)",
                String::from_utf8_lossy(other)
            )))
        }
    };
    let mut width = u32::from(r.u16_le()?);
    let mut height = u32::from(r.u16_le()?);
    let rate = r.u32_le()?;
    let scale = r.u32_le()?;
    if rate == 0 || scale == 0 {
        return Err(Error::InvalidData(format!(
            "IVF time base {scale}/{rate} has a zero term"
        )));
    }
    let len = source.len();
    let mut pos = header_len.max(32);
    let cap = usize::try_from(len / 12)
        .unwrap_or(MAX_FRAMES)
        .min(MAX_FRAMES);
    let mut samples: Vec<SampleEntry> = Vec::new();
    let (mut bit_depth, mut chroma, mut colour) = (None, None, None);
    while pos < len {
        let fh = source.read_clamped(pos, 12)?;
        let mut r = ByteReader::new(&fh, "IVF frame header");
        let size = r.u32_le()?;
        let pts_raw = r.u64_le()?;
        let data_at = pos + 12;
        let end = data_at
            .checked_add(u64::from(size))
            .filter(|&e| e <= len)
            .ok_or_else(|| {
                Error::InvalidData(format!(
                    "IVF frame {} at offset {pos} claims {size} bytes past the end of the file; \
                     the file is truncated",
                    samples.len()
                ))
            })?;
        if samples.len() >= cap {
            return Err(Error::InvalidData("IVF file has too many frames".into()));
        }
        let peek = source.read_at(data_at, u64::from(size).min(64))?;
        let keyframe = match codec {
            Codec::Vp9 => match vp9_header(&peek) {
                Ok(h) => {
                    if h.keyframe && colour.is_none() {
                        colour = h.colour;
                    }
                    if h.keyframe && bit_depth.is_none() {
                        bit_depth = h.bit_depth;
                        chroma = h.chroma;
                        if let Some((w, hh)) = h.size {
                            if width == 0 || height == 0 {
                                (width, height) = (w, hh);
                            }
                        }
                    }
                    h.keyframe
                }
                Err(_) => false,
            },
            _ => {
                let tu = source.read_at(data_at, u64::from(size).min(4096))?;
                if colour.is_none() {
                    colour = av1_colour(&tu);
                }
                av1_is_keyframe(&tu)
            }
        };
        let pts = i64::try_from(pts_raw)
            .ok()
            .and_then(|p| p.checked_mul(i64::from(scale)))
            .ok_or_else(|| Error::InvalidData(format!("IVF pts {pts_raw} out of range")))?;
        samples.push(SampleEntry {
            offset: data_at,
            size,
            pts,
            dts: pts,
            duration: i64::from(scale),
            keyframe,
        });
        pos = end;
    }
    if samples.is_empty() {
        return Err(Error::InvalidData("IVF file has no frames".into()));
    }
    // Durations: distance to the next pts where it is known, else one time base unit.
    for i in 1..samples.len() {
        let next = samples.get(i).map(|s| s.pts);
        if let (Some(next), Some(prev)) = (next, samples.get_mut(i - 1)) {
            let d = next.saturating_sub(prev.pts);
            if d > 0 {
                prev.duration = d;
            }
        }
    }
    let n = samples.len();
    Ok(Parsed {
        info: StreamInfo {
            container: Container::Ivf,
            codec,
            width,
            height,
            bit_depth: bit_depth.unwrap_or(8),
            chroma: chroma.unwrap_or(ChromaFormat::Yuv420),
            timescale: rate,
            frame_rate: Some((rate, scale)),
            duration_seconds: Some(n as f64 * f64::from(scale) / f64::from(rate)),
            frame_count: Some(n),
            rotation_degrees: 0,
            parameter_sets: Vec::new(),
            colour,
        },
        samples,
        format: PacketFormat::Raw,
    })
}
