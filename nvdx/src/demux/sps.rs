//! Minimal H.264 and HEVC parameter set parsing: picture size after cropping, bit depth,
//! chroma format, the VUI frame rate and video signal type (range, colour description) from
//! the SPS, and the SPS/PPS fields that
//! picture order count derivation needs (display order of Annex B streams).

use super::reader::{remove_emulation_prevention, BitReader};
use crate::codec::ChromaFormat;
use crate::{Error, Result};

/// What nvdx reads from a sequence parameter set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    /// Displayed width (coded width minus cropping / conformance window).
    pub width: u32,
    /// Displayed height.
    pub height: u32,
    /// Left edge of the displayed area in the coded picture, in luma samples (H.264
    /// `frame_crop_left_offset` times the crop unit, HEVC `conf_win_left_offset` likewise).
    pub crop_left: u32,
    /// Top edge of the displayed area in the coded picture, in luma samples.
    pub crop_top: u32,
    /// Luma bit depth (8..=16).
    pub bit_depth: u8,
    /// Chroma subsampling.
    pub chroma: ChromaFormat,
    /// `profile_idc` (H.264) or `general_profile_idc` (HEVC).
    pub profile: u8,
    /// Frame rate from the VUI timing info as (numerator, denominator), when present (H.264:
    /// `time_scale / (2 * num_units_in_tick)`; HEVC: `vui_time_scale / vui_num_units_in_tick`).
    pub frame_rate: Option<(u32, u32)>,
    /// The VUI's video signal type (range, and the H.273 colour description when present);
    /// `None` when the SPS has none (no VUI, or a VUI without `video_signal_type_present_flag`).
    pub colour: Option<super::ColourInfo>,
}

fn chroma_of(idc: u32) -> ChromaFormat {
    match idc {
        0 => ChromaFormat::Monochrome,
        2 => ChromaFormat::Yuv422,
        3 => ChromaFormat::Yuv444,
        _ => ChromaFormat::Yuv420,
    }
}

fn bad(msg: &str) -> Error {
    Error::InvalidData(format!(
        "sequence parameter set: {msg}; the stream is corrupt"
    ))
}

fn scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<()> {
    let mut last: i32 = 8;
    let mut next: i32 = 8;
    for _ in 0..size {
        if next != 0 {
            let delta = r.se()?;
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// The H.264 SPS fields that slice header parsing and picture order count derivation need
/// (ITU-T H.264 7.4.2.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct H264PocSps {
    pub sps_id: u32,
    pub separate_colour_plane: bool,
    /// `log2_max_frame_num_minus4 + 4` (4..=16).
    pub log2_max_frame_num: u32,
    /// `pic_order_cnt_type` (0..=2).
    pub poc_type: u32,
    /// `log2_max_pic_order_cnt_lsb_minus4 + 4` (4..=16), type 0 only.
    pub log2_max_poc_lsb: u32,
    pub delta_pic_order_always_zero: bool,
    pub offset_for_non_ref_pic: i32,
    pub offset_for_top_to_bottom_field: i32,
    /// `offset_for_ref_frame[]`, `num_ref_frames_in_pic_order_cnt_cycle` entries.
    pub offset_for_ref_frame: Vec<i32>,
    pub frame_mbs_only: bool,
}

/// Parses an H.264 SPS NAL unit (header byte included, emulation prevention still present).
pub fn parse_h264_sps(nal: &[u8]) -> Result<SpsInfo> {
    parse_h264_sps_full(nal).map(|(info, _)| info)
}

/// [`parse_h264_sps`], plus the fields picture order count derivation needs.
pub(crate) fn parse_h264_sps_full(nal: &[u8]) -> Result<(SpsInfo, H264PocSps)> {
    let Some((&hdr, body)) = nal.split_first() else {
        return Err(bad("empty NAL unit"));
    };
    if hdr & 0x1f != 7 {
        return Err(bad(&format!("NAL type {} is not an SPS (7)", hdr & 0x1f)));
    }
    let rbsp = remove_emulation_prevention(body);
    let mut r = BitReader::new(&rbsp);
    let profile = r.bits(8)? as u8;
    r.skip(16)?; // constraint flags, level_idc
    let sps_id = r.ue_max(31, "seq_parameter_set_id")?;
    let mut chroma_idc = 1;
    let mut separate_planes = false;
    let mut bit_depth = 8;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma_idc = r.ue_max(3, "chroma_format_idc")?;
        if chroma_idc == 3 {
            separate_planes = r.bit()?;
        }
        bit_depth = r.ue_max(6, "bit_depth_luma_minus8")? + 8;
        r.ue_max(6, "bit_depth_chroma_minus8")?;
        r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
        if r.bit()? {
            let lists = if chroma_idc == 3 { 12 } else { 8 };
            for i in 0..lists {
                if r.bit()? {
                    scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    let log2_max_frame_num = r.ue_max(12, "log2_max_frame_num_minus4")? + 4;
    let poc_type = r.ue_max(2, "pic_order_cnt_type")?;
    let mut poc = H264PocSps {
        sps_id,
        separate_colour_plane: separate_planes,
        log2_max_frame_num,
        poc_type,
        log2_max_poc_lsb: 4,
        delta_pic_order_always_zero: false,
        offset_for_non_ref_pic: 0,
        offset_for_top_to_bottom_field: 0,
        offset_for_ref_frame: Vec::new(),
        frame_mbs_only: true,
    };
    match poc_type {
        0 => {
            poc.log2_max_poc_lsb = r.ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")? + 4;
        }
        1 => {
            poc.delta_pic_order_always_zero = r.bit()?;
            poc.offset_for_non_ref_pic = r.se()?;
            poc.offset_for_top_to_bottom_field = r.se()?;
            let n = r.ue_max(255, "num_ref_frames_in_pic_order_cnt_cycle")?;
            for _ in 0..n {
                poc.offset_for_ref_frame.push(r.se()?);
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
    let w_mbs = r.ue_max(1 << 16, "pic_width_in_mbs_minus1")? + 1;
    let h_units = r.ue_max(1 << 16, "pic_height_in_map_units_minus1")? + 1;
    let frame_mbs_only = r.bit()?;
    poc.frame_mbs_only = frame_mbs_only;
    if !frame_mbs_only {
        r.skip(1)?;
    }
    r.skip(1)?; // direct_8x8_inference_flag
    let (mut cl, mut cr, mut ct, mut cb) = (0u32, 0u32, 0u32, 0u32);
    if r.bit()? {
        cl = r.ue()?;
        cr = r.ue()?;
        ct = r.ue()?;
        cb = r.ue()?;
    }
    let (mut frame_rate, mut colour) = (None, None);
    if r.bit()? {
        (frame_rate, colour) = parse_h264_vui(&mut r).unwrap_or((None, None));
    }
    let array_type = if separate_planes { 0 } else { chroma_idc };
    let (sub_w, sub_h): (u32, u32) = match array_type {
        0 => (1, 1),
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    };
    let field_mult = if frame_mbs_only { 1 } else { 2 };
    let crop_x = u64::from(sub_w) * (u64::from(cl) + u64::from(cr));
    let crop_y = u64::from(sub_h) * field_mult * (u64::from(ct) + u64::from(cb));
    let coded_w = u64::from(w_mbs) * 16;
    let coded_h = u64::from(h_units) * 16 * field_mult;
    let width = coded_w
        .checked_sub(crop_x)
        .filter(|w| *w > 0)
        .ok_or_else(|| bad("cropping is larger than the picture"))?;
    let height = coded_h
        .checked_sub(crop_y)
        .filter(|h| *h > 0)
        .ok_or_else(|| bad("cropping is larger than the picture"))?;
    let info = SpsInfo {
        width: u32::try_from(width).map_err(|_| bad("width out of range"))?,
        height: u32::try_from(height).map_err(|_| bad("height out of range"))?,
        crop_left: u32::try_from(u64::from(sub_w) * u64::from(cl))
            .map_err(|_| bad("crop out of range"))?,
        crop_top: u32::try_from(u64::from(sub_h) * field_mult * u64::from(ct))
            .map_err(|_| bad("crop out of range"))?,
        bit_depth: bit_depth as u8,
        chroma: chroma_of(chroma_idc),
        profile,
        frame_rate,
        colour,
    };
    Ok((info, poc))
}

/// What nvdx reads from an H.264 or HEVC VUI: the frame rate and the video signal type.
type Vui = (Option<(u32, u32)>, Option<super::ColourInfo>);

/// The H.264 VUI (E.1.1) up to the timing info: the frame rate and the video signal type.
fn parse_h264_vui(r: &mut BitReader<'_>) -> Result<Vui> {
    if r.bit()? {
        // aspect_ratio_info_present_flag
        if r.bits(8)? == 255 {
            r.skip(32)?;
        }
    }
    if r.bit()? {
        r.skip(1)?; // overscan_appropriate_flag
    }
    let colour = video_signal_type(r)?;
    Ok((parse_h264_vui_timing(r).unwrap_or(None), colour))
}

/// The rest of the H.264 VUI up to and with the timing info (after the video signal type).
fn parse_h264_vui_timing(r: &mut BitReader<'_>) -> Result<Option<(u32, u32)>> {
    if r.bit()? {
        r.ue()?;
        r.ue()?;
    }
    if r.bit()? {
        let units = r.bits(32)?;
        let scale = r.bits(32)?;
        if units > 0 && scale > 0 {
            let den = u64::from(units) * 2;
            let g = gcd(u64::from(scale), den);
            let (n, d) = (u64::from(scale) / g, den / g);
            if let (Ok(n), Ok(d)) = (u32::try_from(n), u32::try_from(d)) {
                return Ok(Some((n, d)));
            }
        }
    }
    Ok(None)
}

pub(crate) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a.max(1)
}

/// The HEVC SPS fields that slice segment header parsing and picture order count derivation
/// need (ITU-T H.265 7.4.3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HevcPocSps {
    pub sps_id: u32,
    pub separate_colour_plane: bool,
    /// `log2_max_pic_order_cnt_lsb_minus4 + 4` (4..=16).
    pub log2_max_poc_lsb: u32,
}

/// Parses an HEVC SPS NAL unit (2-byte header included, emulation prevention still present).
pub fn parse_hevc_sps(nal: &[u8]) -> Result<SpsInfo> {
    parse_hevc_sps_full(nal).map(|(info, _)| info)
}

/// [`parse_hevc_sps`], plus the fields picture order count derivation needs (an error when
/// the SPS ends before them).
pub(crate) fn parse_hevc_sps_full(nal: &[u8]) -> Result<(SpsInfo, Result<HevcPocSps>)> {
    let (Some(&h0), Some(body)) = (nal.first(), nal.get(2..)) else {
        return Err(bad("NAL unit shorter than its header"));
    };
    if (h0 >> 1) & 0x3f != 33 {
        return Err(bad(&format!(
            "NAL type {} is not an SPS (33)",
            (h0 >> 1) & 0x3f
        )));
    }
    let rbsp = remove_emulation_prevention(body);
    let mut r = BitReader::new(&rbsp);
    r.skip(4)?; // sps_video_parameter_set_id
    let max_sub_layers_minus1 = r.bits(3)? as usize;
    r.skip(1)?;
    // profile_tier_level(1, max_sub_layers_minus1)
    r.skip(3)?; // profile_space, tier
    let profile = r.bits(5)? as u8;
    r.skip(32 + 48 + 8)?; // compatibility flags, constraint flags, general_level_idc
    let mut sub_profile = [false; 8];
    let mut sub_level = [false; 8];
    for i in 0..max_sub_layers_minus1 {
        sub_profile[i] = r.bit()?;
        sub_level[i] = r.bit()?;
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - max_sub_layers_minus1))?;
    }
    for i in 0..max_sub_layers_minus1 {
        if sub_profile[i] {
            r.skip(88)?;
        }
        if sub_level[i] {
            r.skip(8)?;
        }
    }
    let sps_id = r.ue_max(15, "sps_seq_parameter_set_id")?;
    let chroma_idc = r.ue_max(3, "chroma_format_idc")?;
    let separate_colour_plane = chroma_idc == 3 && r.bit()?;
    let w = r.ue_max(1 << 16, "pic_width_in_luma_samples")?;
    let h = r.ue_max(1 << 16, "pic_height_in_luma_samples")?;
    let (sub_w, sub_h) = match chroma_idc {
        1 => (2u64, 2u64),
        2 => (2, 1),
        _ => (1, 1),
    };
    let (mut cl, mut cr, mut ct, mut cb) = (0u64, 0u64, 0u64, 0u64);
    if r.bit()? {
        cl = u64::from(r.ue()?);
        cr = u64::from(r.ue()?);
        ct = u64::from(r.ue()?);
        cb = u64::from(r.ue()?);
    }
    let bit_depth = r.ue_max(8, "bit_depth_luma_minus8")? + 8;
    // Fields past the ones `SpsInfo` needs: a truncated SPS still gives its `SpsInfo`.
    let log2_max_poc_lsb = r
        .ue_max(8, "bit_depth_chroma_minus8")
        .and_then(|_| r.ue_max(12, "log2_max_pic_order_cnt_lsb_minus4"))
        .map(|v| v + 4);
    // The rest of the SPS up to the VUI: its frame rate and video signal type (best effort:
    // an SPS that ends early or breaks a limit on the way has neither).
    let (frame_rate, colour) = match log2_max_poc_lsb {
        Ok(lsb) => parse_hevc_sps_vui(&mut r, max_sub_layers_minus1, lsb).unwrap_or((None, None)),
        Err(_) => (None, None),
    };
    let width = u64::from(w)
        .checked_sub(sub_w * (cl + cr))
        .filter(|v| *v > 0)
        .ok_or_else(|| bad("conformance window is larger than the picture"))?;
    let height = u64::from(h)
        .checked_sub(sub_h * (ct + cb))
        .filter(|v| *v > 0)
        .ok_or_else(|| bad("conformance window is larger than the picture"))?;
    let info = SpsInfo {
        width: u32::try_from(width).map_err(|_| bad("width out of range"))?,
        height: u32::try_from(height).map_err(|_| bad("height out of range"))?,
        crop_left: u32::try_from(sub_w * cl).map_err(|_| bad("window out of range"))?,
        crop_top: u32::try_from(sub_h * ct).map_err(|_| bad("window out of range"))?,
        bit_depth: bit_depth as u8,
        chroma: chroma_of(chroma_idc),
        profile,
        frame_rate,
        colour,
    };
    let poc = log2_max_poc_lsb.map(|log2_max_poc_lsb| HevcPocSps {
        sps_id,
        separate_colour_plane,
        log2_max_poc_lsb,
    });
    Ok((info, poc))
}

/// The HEVC SPS from `sps_sub_layer_ordering_info_present_flag` through the VUI (ITU-T H.265
/// 7.3.2.2.1): skips the coding tool fields, scaling lists, short-term reference picture sets
/// and long-term reference pictures, then reads the VUI's video signal type and timing
/// (E.2.1). `None`s when the SPS has no VUI.
fn parse_hevc_sps_vui(
    r: &mut BitReader<'_>,
    max_sub_layers_minus1: usize,
    log2_max_poc_lsb: u32,
) -> Result<Vui> {
    let ordering_info = r.bit()?;
    let first = if ordering_info {
        0
    } else {
        max_sub_layers_minus1
    };
    for _ in first..=max_sub_layers_minus1 {
        r.ue_max(15, "sps_max_dec_pic_buffering_minus1")?;
        r.ue_max(15, "sps_max_num_reorder_pics")?;
        r.ue()?; // sps_max_latency_increase_plus1
    }
    r.ue_max(3, "log2_min_luma_coding_block_size_minus3")?;
    r.ue_max(3, "log2_diff_max_min_luma_coding_block_size")?;
    r.ue_max(3, "log2_min_luma_transform_block_size_minus2")?;
    r.ue_max(3, "log2_diff_max_min_luma_transform_block_size")?;
    r.ue_max(4, "max_transform_hierarchy_depth_inter")?;
    r.ue_max(4, "max_transform_hierarchy_depth_intra")?;
    if r.bit()? && r.bit()? {
        // scaling_list_enabled_flag, sps_scaling_list_data_present_flag
        hevc_scaling_list_data(r)?;
    }
    r.skip(2)?; // amp_enabled_flag, sample_adaptive_offset_enabled_flag
    if r.bit()? {
        // pcm_enabled_flag: sample bit depths (4 + 4), block sizes, loop filter flag
        r.skip(8)?;
        r.ue()?;
        r.ue()?;
        r.skip(1)?;
    }
    let num_sets = r.ue_max(64, "num_short_term_ref_pic_sets")? as usize;
    // NumDeltaPocs of each set: what the syntax of a later, predicted set depends on.
    let mut num_delta_pocs = [0u32; 64];
    for i in 0..num_sets {
        num_delta_pocs[i] = hevc_st_ref_pic_set(r, i, &num_delta_pocs)?;
    }
    if r.bit()? {
        // long_term_ref_pics_present_flag
        let n = r.ue_max(32, "num_long_term_ref_pics_sps")?;
        for _ in 0..n {
            // lt_ref_pic_poc_lsb_sps, used_by_curr_pic_lt_sps_flag
            r.skip(log2_max_poc_lsb as usize + 1)?;
        }
    }
    r.skip(2)?; // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
    if !r.bit()? {
        // vui_parameters_present_flag
        return Ok((None, None));
    }
    parse_hevc_vui(r)
}

/// `scaling_list_data()` (H.265 7.3.4), skipped.
fn hevc_scaling_list_data(r: &mut BitReader<'_>) -> Result<()> {
    for size_id in 0..4u32 {
        let step = if size_id == 3 { 3 } else { 1 };
        for _ in (0..6).step_by(step) {
            if !r.bit()? {
                r.ue_max(5, "scaling_list_pred_matrix_id_delta")?;
            } else {
                let coefs = 64.min(1 << (4 + (size_id << 1)));
                if size_id > 1 {
                    r.se()?; // scaling_list_dc_coef_minus8
                }
                for _ in 0..coefs {
                    r.se()?; // scaling_list_delta_coef
                }
            }
        }
    }
    Ok(())
}

/// `st_ref_pic_set(idx)` of the SPS (H.265 7.3.7), skipped; returns its `NumDeltaPocs`.
///
/// A set predicted from the one before counts the entries it keeps (`used_by_curr_pic_flag`
/// or `use_delta_flag`), as libavcodec does.
fn hevc_st_ref_pic_set(
    r: &mut BitReader<'_>,
    idx: usize,
    num_delta_pocs: &[u32; 64],
) -> Result<u32> {
    if idx != 0 && r.bit()? {
        // inter_ref_pic_set_prediction_flag (delta_idx_minus1 is only in slice headers: the
        // reference is the set before).
        r.skip(1)?; // delta_rps_sign
        r.ue_max(1 << 15, "abs_delta_rps_minus1")?;
        let reference = num_delta_pocs[idx - 1];
        let mut n = 0;
        for _ in 0..=reference {
            let used = r.bit()?;
            if used || r.bit()? {
                n += 1;
            }
        }
        if n > 32 {
            return Err(bad(
                "a predicted short-term reference picture set is too large",
            ));
        }
        return Ok(n);
    }
    let neg = r.ue_max(16, "num_negative_pics")?;
    let pos = r.ue_max(16, "num_positive_pics")?;
    for _ in 0..neg + pos {
        r.ue_max(1 << 15, "delta_poc_minus1")?;
        r.skip(1)?; // used_by_curr_pic_flag
    }
    Ok(neg + pos)
}

/// The HEVC VUI (H.265 E.2.1) up to and with the timing info: the video signal type and the
/// frame rate (`vui_time_scale / vui_num_units_in_tick`).
fn parse_hevc_vui(r: &mut BitReader<'_>) -> Result<Vui> {
    if r.bit()? {
        // aspect_ratio_info_present_flag
        if r.bits(8)? == 255 {
            r.skip(32)?;
        }
    }
    if r.bit()? {
        r.skip(1)?; // overscan_appropriate_flag
    }
    let colour = video_signal_type(r)?;
    let mut timing = || -> Result<Option<(u32, u32)>> {
        if r.bit()? {
            // chroma_loc_info_present_flag
            r.ue()?;
            r.ue()?;
        }
        // neutral_chroma_indication_flag, field_seq_flag, frame_field_info_present_flag
        r.skip(3)?;
        if r.bit()? {
            // default_display_window_flag
            for _ in 0..4 {
                r.ue()?;
            }
        }
        if !r.bit()? {
            // vui_timing_info_present_flag
            return Ok(None);
        }
        let units = r.bits(32)?;
        let scale = r.bits(32)?;
        if units == 0 || scale == 0 {
            return Ok(None);
        }
        let g = gcd(u64::from(scale), u64::from(units));
        Ok(
            match (
                u32::try_from(u64::from(scale) / g),
                u32::try_from(u64::from(units) / g),
            ) {
                (Ok(n), Ok(d)) => Some((n, d)),
                _ => None,
            },
        )
    };
    Ok((timing().unwrap_or(None), colour))
}

/// `video_signal_type_present_flag` and what follows it, the same in H.264 (E.1.1) and H.265
/// (E.2.1) VUIs: the range flag and, when present, the H.273 colour description.
fn video_signal_type(r: &mut BitReader<'_>) -> Result<Option<super::ColourInfo>> {
    if !r.bit()? {
        return Ok(None);
    }
    r.skip(3)?; // video_format
    let full_range = r.bit()?;
    let mut c = super::ColourInfo {
        primaries: None,
        transfer: None,
        matrix: None,
        full_range: Some(full_range),
    };
    if r.bit()? {
        // colour_description_present_flag
        c.primaries = Some(r.bits(8)? as u8);
        c.transfer = Some(r.bits(8)? as u8);
        c.matrix = Some(r.bits(8)? as u8);
    }
    Ok(Some(c))
}

fn bad_pps(msg: &str) -> Error {
    Error::InvalidData(format!(
        "picture parameter set: {msg}; the stream is corrupt"
    ))
}

/// The H.264 PPS fields that slice header parsing needs (7.3.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct H264Pps {
    pub pps_id: u32,
    pub sps_id: u32,
    pub bottom_field_pic_order_in_frame_present: bool,
}

/// Parses the start of an H.264 PPS NAL unit (header byte included).
pub(crate) fn parse_h264_pps(nal: &[u8]) -> Result<H264Pps> {
    let Some((&hdr, body)) = nal.split_first() else {
        return Err(bad_pps("empty NAL unit"));
    };
    if hdr & 0x1f != 8 {
        return Err(bad_pps(&format!(
            "NAL type {} is not a PPS (8)",
            hdr & 0x1f
        )));
    }
    let rbsp = remove_emulation_prevention(body.get(..16).unwrap_or(body));
    let mut r = BitReader::new(&rbsp);
    let pps_id = r.ue_max(255, "pic_parameter_set_id")?;
    let sps_id = r.ue_max(31, "seq_parameter_set_id")?;
    r.skip(1)?; // entropy_coding_mode_flag
    let bottom_field_pic_order_in_frame_present = r.bit()?;
    Ok(H264Pps {
        pps_id,
        sps_id,
        bottom_field_pic_order_in_frame_present,
    })
}

/// The HEVC PPS fields that slice segment header parsing needs (7.3.2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HevcPps {
    pub pps_id: u32,
    pub sps_id: u32,
    pub output_flag_present: bool,
    pub num_extra_slice_header_bits: u32,
}

/// Parses the start of an HEVC PPS NAL unit (2-byte header included).
pub(crate) fn parse_hevc_pps(nal: &[u8]) -> Result<HevcPps> {
    let (Some(&h0), Some(body)) = (nal.first(), nal.get(2..)) else {
        return Err(bad_pps("NAL unit shorter than its header"));
    };
    if (h0 >> 1) & 0x3f != 34 {
        return Err(bad_pps(&format!(
            "NAL type {} is not a PPS (34)",
            (h0 >> 1) & 0x3f
        )));
    }
    let rbsp = remove_emulation_prevention(body.get(..16).unwrap_or(body));
    let mut r = BitReader::new(&rbsp);
    let pps_id = r.ue_max(63, "pps_pic_parameter_set_id")?;
    let sps_id = r.ue_max(15, "pps_seq_parameter_set_id")?;
    // dependent_slice_segments_enabled_flag: only first slice segments are parsed, and
    // those are never dependent.
    r.skip(1)?;
    let output_flag_present = r.bit()?;
    let num_extra_slice_header_bits = r.bits(3)?;
    Ok(HevcPps {
        pps_id,
        sps_id,
        output_flag_present,
        num_extra_slice_header_bits,
    })
}
