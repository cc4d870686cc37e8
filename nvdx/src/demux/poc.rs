//! Picture order count (POC) of H.264/HEVC access units, giving the display order of Annex B
//! elementary streams, which carry no timestamps.
//!
//! [`PocTracker`] sees every access unit in decode order, keeps the SPS/PPS fields it needs
//! (keyed by their ids, the latest one of an id wins) and parses the slice header of each
//! picture's first slice up to the POC syntax elements:
//!
//! - H.264 (ITU-T H.264 8.2.1): `pic_order_cnt_type` 0 (PicOrderCntMsb wrap from the previous
//!   reference picture), 1 (expected POC from the `offset_for_ref_frame` cycle) and 2 (POC
//!   follows `frame_num`, i.e. display order is decode order). Fields get their own POC, a
//!   frame the smaller of its two field counts. Not handled: `memory_management_control_operation`
//!   5 (which resets POC like an IDR without being one), because finding it means parsing the
//!   whole slice header (reference list modification, weight tables). Encoders rarely use it;
//!   pictures after it keep counting from the pictures before it, which is right whenever the
//!   encoder did not reorder across it.
//! - HEVC (ITU-T H.265 8.3.1): `slice_pic_order_cnt_lsb` with PicOrderCntMsb from the previous
//!   `TemporalId` 0 picture that is not RASL, RADL or a sub-layer non-reference picture; POC
//!   0 at IDR, PicOrderCntMsb 0 at IRAP pictures with NoRaslOutputFlag (IDR, BLA, a CRA that
//!   is first in the stream or follows an end of sequence NAL unit).
//!
//! POC restarts at each IDR (HEVC: each IRAP with NoRaslOutputFlag), which starts a new
//! *period*: every picture of a period is displayed before any picture of the next, so the
//! display order is the order of [`PicKey`] `(period, poc)`. A CRA that is not first does not
//! start a period: its leading pictures have a lower POC and are displayed before it, after the
//! previous pictures.
//!
//! A picture whose POC cannot be derived (corrupt or missing parameter sets or slice header)
//! falls back to decode order: it is displayed right after the picture decoded before it (see
//! [`display_ranks`]). Nothing here panics; all arithmetic is checked.

use std::collections::HashMap;

use super::annexb::{nal_type, split_annexb};
use super::reader::{remove_emulation_prevention, BitReader};
use super::sps::{
    parse_h264_pps, parse_h264_sps_full, parse_hevc_pps, parse_hevc_sps_full, H264PocSps, H264Pps,
    HevcPocSps, HevcPps,
};
use crate::codec::Codec;
use crate::{Error, Result};

/// Slice header bytes unescaped for parsing: the POC syntax elements of either codec lie well
/// inside the first 96 bytes of a slice NAL unit.
const SLICE_HEADER_BYTES: usize = 96;

/// Where a picture sorts in display order: by `period`, then `poc` (`None`: unknown, see
/// [`display_ranks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PicKey {
    /// Counts the IDR pictures (HEVC: IRAP with NoRaslOutputFlag) up to this one.
    pub period: u64,
    /// The picture order count within the period.
    pub poc: Option<i64>,
}

fn corrupt(what: &str) -> Error {
    Error::InvalidData(format!("slice header: {what}; the stream is corrupt"))
}

/// PicOrderCntMsb from the previous picture's msb/lsb and this picture's lsb (H.264 8-3,
/// H.265 8-1), `max` = MaxPicOrderCntLsb.
fn poc_msb(prev_msb: i64, prev_lsb: i64, lsb: i64, max: i64) -> Option<i64> {
    let half = max / 2;
    if lsb < prev_lsb && prev_lsb.checked_sub(lsb)? >= half {
        prev_msb.checked_add(max)
    } else if lsb > prev_lsb && lsb.checked_sub(prev_lsb)? > half {
        prev_msb.checked_sub(max)
    } else {
        Some(prev_msb)
    }
}

#[derive(Debug, Default)]
struct H264State {
    sps: HashMap<u32, H264PocSps>,
    pps: HashMap<u32, H264Pps>,
    /// PicOrderCntMsb and pic_order_cnt_lsb of the previous reference picture (type 0).
    prev_ref_msb: i64,
    prev_ref_lsb: i64,
    /// FrameNumOffset and frame_num of the previous picture (types 1 and 2).
    prev_frame_num_offset: i64,
    prev_frame_num: i64,
}

/// The POC syntax of one H.264 slice header.
struct H264Slice {
    idr: bool,
    reference: bool,
    frame_num: i64,
    field: bool,
    bottom: bool,
    poc_lsb: i64,
    delta_bottom: i64,
    delta: [i64; 2],
}

impl H264State {
    fn parameter_set(&mut self, nal: &[u8]) {
        match nal.first().map(|b| b & 0x1f) {
            Some(7) => {
                if let Ok((_, s)) = parse_h264_sps_full(nal) {
                    self.sps.insert(s.sps_id, s);
                }
            }
            Some(8) => {
                if let Ok(p) = parse_h264_pps(nal) {
                    self.pps.insert(p.pps_id, p);
                }
            }
            _ => {}
        }
    }

    fn slice_header(&self, nal: &[u8]) -> Result<(&H264PocSps, H264Slice)> {
        let (&hdr, body) = nal.split_first().ok_or_else(|| corrupt("empty NAL unit"))?;
        let rbsp = remove_emulation_prevention(body.get(..SLICE_HEADER_BYTES).unwrap_or(body));
        let mut r = BitReader::new(&rbsp);
        r.ue()?; // first_mb_in_slice
        r.ue_max(9, "slice_type")?;
        let pps_id = r.ue_max(255, "pic_parameter_set_id")?;
        let pps = self
            .pps
            .get(&pps_id)
            .ok_or_else(|| corrupt(&format!("PPS {pps_id} was not sent before the slice")))?;
        let sps = self
            .sps
            .get(&pps.sps_id)
            .ok_or_else(|| corrupt(&format!("SPS {} was not sent before the slice", pps.sps_id)))?;
        let idr = hdr & 0x1f == 5;
        if sps.separate_colour_plane {
            r.skip(2)?; // colour_plane_id
        }
        let frame_num = i64::from(r.bits(sps.log2_max_frame_num)?);
        let (mut field, mut bottom) = (false, false);
        if !sps.frame_mbs_only {
            field = r.bit()?;
            if field {
                bottom = r.bit()?;
            }
        }
        if idr {
            r.ue()?; // idr_pic_id
        }
        let mut s = H264Slice {
            idr,
            reference: (hdr >> 5) & 3 != 0,
            frame_num,
            field,
            bottom,
            poc_lsb: 0,
            delta_bottom: 0,
            delta: [0; 2],
        };
        let frame_deltas = pps.bottom_field_pic_order_in_frame_present && !field;
        if sps.poc_type == 0 {
            s.poc_lsb = i64::from(r.bits(sps.log2_max_poc_lsb)?);
            if frame_deltas {
                s.delta_bottom = i64::from(r.se()?);
            }
        }
        if sps.poc_type == 1 && !sps.delta_pic_order_always_zero {
            s.delta[0] = i64::from(r.se()?);
            if frame_deltas {
                s.delta[1] = i64::from(r.se()?);
            }
        }
        Ok((sps, s))
    }

    /// The POC of the picture whose first slice is `nal`, updating the state.
    fn picture(&mut self, nal: &[u8]) -> Option<i64> {
        let (sps, s) = self.slice_header(nal).ok()?;
        let top_bottom = |top: Option<i64>, bottom: Option<i64>| -> Option<i64> {
            if !s.field {
                Some(top?.min(bottom?))
            } else if s.bottom {
                bottom
            } else {
                top
            }
        };
        if sps.poc_type == 0 {
            // 8.2.1.1 (memory_management_control_operation 5 is not looked for).
            let (prev_msb, prev_lsb) = if s.idr {
                (0, 0)
            } else {
                (self.prev_ref_msb, self.prev_ref_lsb)
            };
            let max = 1i64 << sps.log2_max_poc_lsb;
            let msb = poc_msb(prev_msb, prev_lsb, s.poc_lsb, max)?;
            let mut top = None;
            let mut bottom = None;
            if !s.bottom {
                top = msb.checked_add(s.poc_lsb);
            }
            if !s.field {
                bottom = top?.checked_add(s.delta_bottom);
            } else if s.bottom {
                bottom = msb.checked_add(s.poc_lsb);
            }
            let poc = top_bottom(top, bottom)?;
            if s.reference {
                self.prev_ref_msb = msb;
                self.prev_ref_lsb = s.poc_lsb;
            }
            return Some(poc);
        }
        // 8.2.1.2 and 8.2.1.3: FrameNumOffset.
        let max_frame_num = 1i64 << sps.log2_max_frame_num;
        let offset = if s.idr {
            0
        } else if self.prev_frame_num > s.frame_num {
            self.prev_frame_num_offset.checked_add(max_frame_num)?
        } else {
            self.prev_frame_num_offset
        };
        let poc = if sps.poc_type == 1 {
            let expected = h264_expected_poc(sps, offset, s.frame_num, s.reference)?;
            let top = expected.checked_add(s.delta[0]);
            let bottom = if s.field {
                expected
                    .checked_add(i64::from(sps.offset_for_top_to_bottom_field))?
                    .checked_add(s.delta[0])
            } else {
                top?.checked_add(i64::from(sps.offset_for_top_to_bottom_field))?
                    .checked_add(s.delta[1])
            };
            top_bottom(top, bottom)?
        } else {
            let n = offset.checked_add(s.frame_num)?.checked_mul(2)?;
            if s.idr {
                0
            } else if s.reference {
                n
            } else {
                n.checked_sub(1)?
            }
        };
        self.prev_frame_num_offset = offset;
        self.prev_frame_num = s.frame_num;
        Some(poc)
    }
}

/// expectedPicOrderCnt of H.264 8.2.1.2.
fn h264_expected_poc(
    sps: &H264PocSps,
    offset: i64,
    frame_num: i64,
    reference: bool,
) -> Option<i64> {
    let cycle = &sps.offset_for_ref_frame;
    let mut abs = if cycle.is_empty() {
        0
    } else {
        offset.checked_add(frame_num)?
    };
    if !reference && abs > 0 {
        abs -= 1;
    }
    let mut expected = 0i64;
    if abs > 0 {
        let n = i64::try_from(cycle.len()).ok()?;
        let cycle_cnt = (abs - 1) / n;
        let in_cycle = usize::try_from((abs - 1) % n).ok()?;
        let delta_per_cycle = cycle.iter().map(|&o| i64::from(o)).sum::<i64>();
        expected = cycle_cnt.checked_mul(delta_per_cycle)?;
        for &o in cycle.get(..=in_cycle)? {
            expected = expected.checked_add(i64::from(o))?;
        }
    }
    if !reference {
        expected = expected.checked_add(i64::from(sps.offset_for_non_ref_pic))?;
    }
    Some(expected)
}

#[derive(Debug, Default)]
struct HevcState {
    sps: HashMap<u32, HevcPocSps>,
    pps: HashMap<u32, HevcPps>,
    /// POC of prevTid0Pic.
    prev_tid0_poc: i64,
    /// Whether a picture was seen (a CRA that is first gets NoRaslOutputFlag).
    started: bool,
    /// Whether an end of sequence NAL unit came after the last picture.
    after_eos: bool,
}

impl HevcState {
    fn parameter_set(&mut self, nal: &[u8]) {
        match nal_type(Codec::Hevc, nal) {
            Some(33) => {
                if let Ok((_, Ok(s))) = parse_hevc_sps_full(nal) {
                    self.sps.insert(s.sps_id, s);
                }
            }
            Some(34) => {
                if let Ok(p) = parse_hevc_pps(nal) {
                    self.pps.insert(p.pps_id, p);
                }
            }
            _ => {}
        }
    }

    /// slice_pic_order_cnt_lsb and MaxPicOrderCntLsb from a first slice segment header.
    fn poc_lsb(&self, nal: &[u8], t: u8) -> Result<(i64, i64)> {
        let body = nal
            .get(2..)
            .ok_or_else(|| corrupt("NAL unit shorter than its header"))?;
        let rbsp = remove_emulation_prevention(body.get(..SLICE_HEADER_BYTES).unwrap_or(body));
        let mut r = BitReader::new(&rbsp);
        if !r.bit()? {
            return Err(corrupt("the picture's first slice segment is missing"));
        }
        if (16..=23).contains(&t) {
            r.skip(1)?; // no_output_of_prior_pics_flag
        }
        let pps_id = r.ue_max(63, "slice_pic_parameter_set_id")?;
        let pps = self
            .pps
            .get(&pps_id)
            .ok_or_else(|| corrupt(&format!("PPS {pps_id} was not sent before the slice")))?;
        let sps = self
            .sps
            .get(&pps.sps_id)
            .ok_or_else(|| corrupt(&format!("SPS {} was not sent before the slice", pps.sps_id)))?;
        r.skip(pps.num_extra_slice_header_bits as usize)?; // slice_reserved_flag[]
        r.ue_max(2, "slice_type")?;
        if pps.output_flag_present {
            r.skip(1)?; // pic_output_flag
        }
        if sps.separate_colour_plane {
            r.skip(2)?; // colour_plane_id
        }
        let lsb = i64::from(r.bits(sps.log2_max_poc_lsb)?);
        Ok((lsb, 1i64 << sps.log2_max_poc_lsb))
    }

    /// The POC of the picture whose first slice segment is `nal` (type `t`), updating the
    /// state; `no_rasl_output` is the picture's NoRaslOutputFlag.
    fn picture(&mut self, nal: &[u8], t: u8, no_rasl_output: bool) -> Option<i64> {
        let poc = if matches!(t, 19 | 20) {
            0 // IDR: slice_pic_order_cnt_lsb is absent and inferred 0
        } else {
            let (lsb, max) = self.poc_lsb(nal, t).ok()?;
            let msb = if no_rasl_output {
                0
            } else {
                let prev_lsb = self.prev_tid0_poc.rem_euclid(max);
                let prev_msb = self.prev_tid0_poc.checked_sub(prev_lsb)?;
                poc_msb(prev_msb, prev_lsb, lsb, max)?
            };
            msb.checked_add(lsb)?
        };
        let tid = nal.get(1).map_or(1, |b| b & 7);
        // RADL_N/R, RASL_N/R and sub-layer non-reference pictures are not prevTid0Pic.
        let sub_layer_non_ref = t <= 14 && t % 2 == 0;
        if tid == 1 && !matches!(t, 6..=9) && !sub_layer_non_ref {
            self.prev_tid0_poc = poc;
        }
        Some(poc)
    }
}

/// Derives the [`PicKey`] of each access unit of an H.264 or HEVC Annex B stream, in decode
/// order.
#[derive(Debug)]
pub(crate) struct PocTracker {
    codec: Codec,
    period: u64,
    h264: H264State,
    hevc: HevcState,
}

impl PocTracker {
    pub(crate) fn new(codec: Codec) -> Self {
        PocTracker {
            codec,
            period: 0,
            h264: H264State::default(),
            hevc: HevcState::default(),
        }
    }

    /// The key of access unit `au` (Annex B, the next one in decode order).
    pub(crate) fn access_unit(&mut self, au: &[u8]) -> PicKey {
        let codec = self.codec;
        let mut poc = None;
        let mut seen_vcl = false;
        for nal in split_annexb(au) {
            let Some(t) = nal_type(codec, nal) else {
                continue;
            };
            match codec {
                Codec::Hevc => match t {
                    32..=34 => self.hevc.parameter_set(nal),
                    36 => self.hevc.after_eos = true,
                    0..=31 if !seen_vcl => {
                        seen_vcl = true;
                        let irap = (16..=23).contains(&t);
                        let no_rasl_output = irap
                            && (matches!(t, 16..=20) || !self.hevc.started || self.hevc.after_eos);
                        if no_rasl_output || !self.hevc.started {
                            self.period = self.period.saturating_add(1);
                        }
                        self.hevc.started = true;
                        self.hevc.after_eos = false;
                        poc = self.hevc.picture(nal, t, no_rasl_output);
                    }
                    _ => {}
                },
                _ => match t {
                    7 | 8 => self.h264.parameter_set(nal),
                    1 | 2 | 5 if !seen_vcl => {
                        seen_vcl = true;
                        if t == 5 || self.period == 0 {
                            self.period = self.period.saturating_add(1);
                        }
                        poc = self.h264.picture(nal);
                    }
                    _ => {}
                },
            }
        }
        PicKey {
            period: self.period,
            poc,
        }
    }
}

/// The display position of each picture given its key (decode order in, a permutation of
/// `0..keys.len()` out): pictures sort by `(period, poc)`, ties by decode order. A picture
/// with an unknown POC takes the POC of the picture decoded before it in the same period (or
/// sorts first when there is none), so it is displayed right after that picture.
pub(crate) fn display_ranks(keys: &[PicKey]) -> Vec<usize> {
    let mut last: Option<(u64, i64)> = None;
    let mut order: Vec<(u64, i64, usize)> = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let poc = match (k.poc, last) {
            (Some(p), _) => p,
            (None, Some((period, p))) if period == k.period => p,
            (None, _) => i64::MIN,
        };
        last = Some((k.period, poc));
        order.push((k.period, poc, i));
    }
    order.sort_unstable();
    let mut rank = vec![0; keys.len()];
    for (n, &(_, _, i)) in order.iter().enumerate() {
        if let Some(r) = rank.get_mut(i) {
            *r = n;
        }
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MSB-first bit writer with exp-Golomb codes, for synthetic parameter sets and slices.
    #[derive(Default)]
    struct Bits(Vec<bool>);

    impl Bits {
        fn u(mut self, n: u32, v: u64) -> Self {
            for i in (0..n).rev() {
                self.0.push((v >> i) & 1 == 1);
            }
            self
        }
        fn ue(self, v: u64) -> Self {
            let n = 64 - (v + 1).leading_zeros();
            self.u(n - 1, 0).u(n, v + 1)
        }
        /// NAL unit with a 4-byte start code: `header`, then the bits, rbsp trailing bits and
        /// emulation prevention.
        fn nal(self, header: &[u8]) -> Vec<u8> {
            let mut bits = self.u(1, 1).0;
            while bits.len() % 8 != 0 {
                bits.push(false);
            }
            let mut out = vec![0, 0, 0, 1];
            out.extend_from_slice(header);
            let mut zeros = 0;
            for c in bits.chunks(8) {
                let b = c.iter().fold(0u8, |a, &x| (a << 1) | u8::from(x));
                if zeros >= 2 && b <= 3 {
                    out.push(3);
                    zeros = 0;
                }
                zeros = if b == 0 { zeros + 1 } else { 0 };
                out.push(b);
            }
            out
        }
    }

    fn keys(codec: Codec, aus: &[Vec<u8>]) -> Vec<PicKey> {
        let mut t = PocTracker::new(codec);
        aus.iter().map(|au| t.access_unit(au)).collect()
    }

    #[test]
    fn h264_poc_type0_wraps_and_restarts_at_idr() {
        // Baseline SPS 0: log2_max_frame_num 4, POC type 0 with MaxPicOrderCntLsb 16, 16x16.
        let sps = Bits::default()
            .u(8, 66)
            .u(16, 0)
            .ue(0)
            .ue(0)
            .ue(0)
            .ue(0)
            .ue(1)
            .u(1, 0)
            .ue(0)
            .ue(0)
            .u(3, 0b110)
            .nal(&[0x67]);
        // PPS 0 -> SPS 0, bottom_field_pic_order_in_frame_present 0.
        let pps = Bits::default().ue(0).ue(0).u(2, 0).nal(&[0x68]);
        let slice = |idr: bool, reference: bool, frame_num: u64, lsb: u64| {
            let hdr = match (idr, reference) {
                (true, _) => 0x65,
                (false, true) => 0x41,
                (false, false) => 0x01,
            };
            let b = Bits::default()
                .ue(0)
                .ue(if reference { 0 } else { 1 })
                .ue(0);
            let b = b.u(4, frame_num);
            let b = if idr { b.ue(0) } else { b };
            b.u(4, lsb).u(8, 0xa5).nal(&[hdr])
        };
        let idr = [sps, pps, slice(true, true, 0, 0)].concat();
        let mut aus = vec![idr.clone()];
        // P6 B2 B4 P12 B8 B10 P18 B14 B16 (lsb = POC mod 16), then IDR, P4 B2.
        for (r, f, l) in [
            (true, 1, 6),
            (false, 2, 2),
            (false, 2, 4),
            (true, 2, 12),
            (false, 3, 8),
            (false, 3, 10),
            (true, 3, 2),
            (false, 4, 14),
            (false, 4, 0),
        ] {
            aus.push(slice(false, r, f, l));
        }
        aus.push(idr);
        aus.push(slice(false, true, 1, 4));
        aus.push(slice(false, false, 2, 2));
        let k = keys(Codec::H264, &aus);
        let poc: Vec<Option<i64>> = k.iter().map(|k| k.poc).collect();
        let want = [0, 6, 2, 4, 12, 8, 10, 18, 14, 16, 0, 4, 2];
        assert_eq!(poc, want.map(Some));
        let period: Vec<u64> = k.iter().map(|k| k.period).collect();
        assert_eq!(period, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2]);
        assert_eq!(
            display_ranks(&k),
            [0, 3, 1, 2, 6, 4, 5, 9, 7, 8, 10, 12, 11]
        );
        // Without parameter sets the POC is unknown.
        assert_eq!(keys(Codec::H264, &aus[1..2])[0].poc, None);
    }

    #[test]
    fn hevc_poc_cra_leading_pictures_and_eos() {
        let vps = Bits::default().u(16, 0).nal(&[0x40, 0x01]);
        // SPS 0: one sub-layer, 4:2:0 16x16, 8-bit, MaxPicOrderCntLsb 16.
        let sps = Bits::default()
            .u(4, 0)
            .u(3, 0)
            .u(1, 1)
            .u(8, 1)
            .u(32, 0)
            .u(48, 0)
            .u(8, 30)
            .ue(0)
            .ue(1)
            .ue(16)
            .ue(16)
            .u(1, 0)
            .ue(0)
            .ue(0)
            .ue(0)
            .nal(&[0x42, 0x01]);
        // PPS 0 -> SPS 0: output_flag_present 1, one extra slice header bit.
        let pps = Bits::default()
            .ue(0)
            .ue(0)
            .u(1, 0)
            .u(1, 1)
            .u(3, 1)
            .nal(&[0x44, 0x01]);
        let slice = |t: u8, lsb: u64| {
            let b = Bits::default().u(1, 1);
            let b = if (16..=23).contains(&t) { b.u(1, 0) } else { b };
            let b = b.ue(0).u(1, 0).ue(1).u(1, 1);
            let b = if matches!(t, 19 | 20) { b } else { b.u(4, lsb) };
            b.u(8, 0x5a).nal(&[t << 1, 1])
        };
        let eos = vec![0, 0, 0, 1, 36 << 1, 1];
        let aus = vec![
            [vps, sps, pps, slice(19, 0)].concat(),
            slice(1, 4),                  // TRAIL_R 4
            slice(0, 2),                  // TRAIL_N 2
            slice(1, 12),                 // TRAIL_R 12
            slice(1, 2),                  // TRAIL_R 18 (wraps)
            slice(0, 14),                 // TRAIL_N 14
            slice(21, 8),                 // CRA 24, not first: same period
            slice(8, 4),                  // RASL_N 20: before the CRA, after 18
            [slice(1, 12), eos].concat(), // TRAIL_R 28, then end of sequence
            slice(21, 3),                 // CRA after EOS: NoRaslOutputFlag, POC 3, new period
            slice(9, 1),                  // RASL_R 1
            slice(1, 5),                  // TRAIL_R 5
            slice(16, 2),                 // BLA: POC 2, new period
        ];
        let k = keys(Codec::Hevc, &aus);
        let poc: Vec<Option<i64>> = k.iter().map(|k| k.poc).collect();
        let want = [0, 4, 2, 12, 18, 14, 24, 20, 28, 3, 1, 5, 2];
        assert_eq!(poc, want.map(Some));
        let period: Vec<u64> = k.iter().map(|k| k.period).collect();
        assert_eq!(period, [1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 3]);
        assert_eq!(
            display_ranks(&k),
            [0, 2, 1, 3, 5, 4, 7, 6, 8, 10, 9, 11, 12]
        );
    }

    #[test]
    fn msb_wraps_both_ways() {
        // MaxPicOrderCntLsb 16.
        assert_eq!(poc_msb(0, 14, 2, 16), Some(16));
        assert_eq!(poc_msb(16, 2, 14, 16), Some(0));
        assert_eq!(poc_msb(0, 4, 10, 16), Some(0));
        assert_eq!(poc_msb(0, 10, 4, 16), Some(0));
        assert_eq!(poc_msb(0, 12, 4, 16), Some(16));
        assert_eq!(poc_msb(i64::MAX, 15, 0, 16), None);
    }

    #[test]
    fn ranks_follow_period_then_poc() {
        let k = |period, poc| PicKey { period, poc };
        // I0 P6 B2 B4 | IDR0 P4 B2, with an unknown POC after P6.
        let keys = [
            k(1, Some(0)),
            k(1, Some(6)),
            k(1, None),
            k(1, Some(2)),
            k(2, Some(0)),
            k(2, None),
            k(2, Some(4)),
            k(3, None),
        ];
        assert_eq!(display_ranks(&keys), [0, 2, 3, 1, 4, 5, 6, 7]);
        assert!(display_ranks(&[]).is_empty());
    }

    #[test]
    fn h264_type1_expected_poc() {
        let sps = H264PocSps {
            sps_id: 0,
            separate_colour_plane: false,
            log2_max_frame_num: 4,
            poc_type: 1,
            log2_max_poc_lsb: 4,
            delta_pic_order_always_zero: true,
            offset_for_non_ref_pic: -2,
            offset_for_top_to_bottom_field: 0,
            offset_for_ref_frame: vec![4, 2],
            frame_mbs_only: true,
        };
        // absFrameNum 1, 2, 3, 4 => 4, 6, 10, 12; a non-reference picture with frame_num 3
        // (absFrameNum 2) => 6 - 2.
        let e = |f, r| h264_expected_poc(&sps, 0, f, r);
        assert_eq!(e(0, true), Some(0));
        assert_eq!(e(1, true), Some(4));
        assert_eq!(e(2, true), Some(6));
        assert_eq!(e(3, true), Some(10));
        assert_eq!(e(4, true), Some(12));
        assert_eq!(e(3, false), Some(4));
        assert_eq!(h264_expected_poc(&sps, i64::MAX, 1, true), None);
    }
}
