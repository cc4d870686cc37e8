//! A tiny H.264 writer: baseline SPS/PPS and pictures made only of I_PCM macroblocks.
//!
//! Pure (no CUDA), so it is unit-tested on the CPU. I_PCM carries the samples verbatim, so a
//! conforming decoder reproduces the NV12 input bit-exactly (the crop window hides the padding
//! to whole macroblocks).

/// An RBSP bit writer.
#[derive(Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    cur: u8,
    nbits: u8,
}

impl BitWriter {
    /// Appends the low `n` bits of `v`, most significant first.
    pub fn u(&mut self, n: u32, v: u32) {
        for i in (0..n).rev() {
            self.bit((v >> i) & 1 != 0);
        }
    }
    /// One bit.
    pub fn bit(&mut self, b: bool) {
        self.cur = (self.cur << 1) | u8::from(b);
        self.nbits += 1;
        if self.nbits == 8 {
            self.bytes.push(self.cur);
            self.cur = 0;
            self.nbits = 0;
        }
    }
    /// Unsigned Exp-Golomb.
    pub fn ue(&mut self, v: u32) {
        let x = u64::from(v) + 1;
        let len = 64 - x.leading_zeros();
        for _ in 0..len - 1 {
            self.bit(false);
        }
        for i in (0..len).rev() {
            self.bit((x >> i) & 1 != 0);
        }
    }
    /// Signed Exp-Golomb.
    pub fn se(&mut self, v: i32) {
        let k = if v > 0 {
            (2 * v - 1) as u32
        } else {
            (-2 * v) as u32
        };
        self.ue(k);
    }
    /// Whether the writer sits on a byte boundary.
    pub fn aligned(&self) -> bool {
        self.nbits == 0
    }
    /// Appends whole bytes (the writer must be aligned).
    pub fn bytes(&mut self, b: &[u8]) {
        debug_assert!(self.aligned());
        self.bytes.extend_from_slice(b);
    }
    /// `rbsp_trailing_bits()`: a one, then zeros to the byte boundary; returns the RBSP.
    pub fn finish_rbsp(mut self) -> Vec<u8> {
        self.bit(true);
        while !self.aligned() {
            self.bit(false);
        }
        self.bytes
    }
}

/// Appends `00 00 00 01`, the NAL header and the RBSP with emulation prevention.
pub fn push_nal(out: &mut Vec<u8>, nal_ref_idc: u8, nal_type: u8, rbsp: &[u8]) {
    out.extend_from_slice(&[0, 0, 0, 1, (nal_ref_idc << 5) | nal_type]);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        out.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
}

/// `log2_max_frame_num` and `log2_max_pic_order_cnt_lsb` of the streams written here.
pub const LOG2_MAX_FRAME_NUM: u32 = 16;
/// See [`LOG2_MAX_FRAME_NUM`].
pub const LOG2_MAX_POC_LSB: u32 = 16;
/// `mb_type` of I_PCM in an I slice.
pub const MB_TYPE_I_PCM: u32 = 25;

/// Sequence-level settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqParams {
    /// Picture width in luma samples.
    pub width: u32,
    /// Picture height in luma samples.
    pub height: u32,
    /// Pictures that may follow a picture in decode order and precede it in output order.
    pub max_reorder: u32,
}

impl SeqParams {
    /// Width in macroblocks.
    pub fn mb_width(&self) -> u32 {
        self.width.div_ceil(16)
    }
    /// Height in macroblocks.
    pub fn mb_height(&self) -> u32 {
        self.height.div_ceil(16)
    }
}

/// The SPS RBSP: constrained baseline (profile 66, constraint_set0/1), level 5.2, POC type 0,
/// one reference frame, crop to the picture size, VUI with bitstream restrictions.
pub fn sps_rbsp(p: &SeqParams) -> Vec<u8> {
    let mut w = BitWriter::default();
    w.u(8, 66); // profile_idc: baseline
    w.u(1, 1); // constraint_set0_flag
    w.u(1, 1); // constraint_set1_flag (constrained baseline)
    w.u(6, 0); // constraint_set2..5, reserved_zero_2bits
    w.u(8, 52); // level_idc 5.2
    w.ue(0); // seq_parameter_set_id
    w.ue(LOG2_MAX_FRAME_NUM - 4);
    w.ue(0); // pic_order_cnt_type
    w.ue(LOG2_MAX_POC_LSB - 4);
    w.ue(1); // max_num_ref_frames
    w.u(1, 0); // gaps_in_frame_num_value_allowed_flag
    w.ue(p.mb_width() - 1);
    w.ue(p.mb_height() - 1);
    w.u(1, 1); // frame_mbs_only_flag
    w.u(1, 1); // direct_8x8_inference_flag
    let (cr, cb) = (p.mb_width() * 16 - p.width, p.mb_height() * 16 - p.height);
    if cr != 0 || cb != 0 {
        w.u(1, 1); // frame_cropping_flag; 4:2:0 crop units are 2x2
        w.ue(0);
        w.ue(cr / 2);
        w.ue(0);
        w.ue(cb / 2);
    } else {
        w.u(1, 0);
    }
    w.u(1, 1); // vui_parameters_present_flag
    w.u(1, 0); // aspect_ratio_info_present_flag
    w.u(1, 0); // overscan_info_present_flag
    w.u(1, 0); // video_signal_type_present_flag
    w.u(1, 0); // chroma_loc_info_present_flag
    w.u(1, 0); // timing_info_present_flag
    w.u(1, 0); // nal_hrd_parameters_present_flag
    w.u(1, 0); // vcl_hrd_parameters_present_flag
    w.u(1, 0); // pic_struct_present_flag
    w.u(1, 1); // bitstream_restriction_flag
    w.u(1, 1); // motion_vectors_over_pic_boundaries_flag
    w.ue(0); // max_bytes_per_pic_denom
    w.ue(0); // max_bits_per_mb_denom
    w.ue(16); // log2_max_mv_length_horizontal
    w.ue(16); // log2_max_mv_length_vertical
    w.ue(p.max_reorder); // max_num_reorder_frames
    w.ue(p.max_reorder + 1); // max_dec_frame_buffering
    w.finish_rbsp()
}

/// The PPS RBSP: CAVLC, one slice group, deblocking control present.
pub fn pps_rbsp() -> Vec<u8> {
    let mut w = BitWriter::default();
    w.ue(0); // pic_parameter_set_id
    w.ue(0); // seq_parameter_set_id
    w.u(1, 0); // entropy_coding_mode_flag: CAVLC
    w.u(1, 0); // bottom_field_pic_order_in_frame_present_flag
    w.ue(0); // num_slice_groups_minus1
    w.ue(0); // num_ref_idx_l0_default_active_minus1
    w.ue(0); // num_ref_idx_l1_default_active_minus1
    w.u(1, 0); // weighted_pred_flag
    w.u(2, 0); // weighted_bipred_idc
    w.se(0); // pic_init_qp_minus26
    w.se(0); // pic_init_qs_minus26
    w.se(0); // chroma_qp_index_offset
    w.u(1, 1); // deblocking_filter_control_present_flag
    w.u(1, 0); // constrained_intra_pred_flag
    w.u(1, 0); // redundant_pic_cnt_present_flag
    w.finish_rbsp()
}

/// SPS and PPS as Annex B NAL units.
pub fn headers(p: &SeqParams) -> Vec<u8> {
    let mut out = Vec::new();
    push_nal(&mut out, 3, 7, &sps_rbsp(p));
    push_nal(&mut out, 3, 8, &pps_rbsp());
    out
}

/// One coded picture's slice-level settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PicParams {
    /// An IDR picture (NAL type 5) rather than a non-IDR I picture (type 1).
    pub idr: bool,
    /// Used for reference (`nal_ref_idc != 0`); non-reference pictures stand in for B-frames.
    pub reference: bool,
    /// `frame_num` (mod 2^LOG2_MAX_FRAME_NUM).
    pub frame_num: u32,
    /// `idr_pic_id` (IDR only).
    pub idr_pic_id: u32,
    /// `pic_order_cnt_lsb` (mod 2^LOG2_MAX_POC_LSB).
    pub poc_lsb: u32,
}

/// One picture as a single I slice of I_PCM macroblocks, from tight NV12
/// (`width * height` luma bytes then `width * height / 2` interleaved CbCr bytes). Samples
/// outside the picture (padding to whole macroblocks) repeat the edge.
pub fn picture(seq: &SeqParams, pic: &PicParams, nv12: &[u8]) -> Vec<u8> {
    let (w, h) = (seq.width as usize, seq.height as usize);
    assert!(w % 2 == 0 && h % 2 == 0, "NV12 needs an even size");
    assert_eq!(nv12.len(), w * h * 3 / 2, "tight NV12 of {w}x{h}");
    let (luma, chroma) = nv12.split_at(w * h);
    let mut b = BitWriter::default();
    b.ue(0); // first_mb_in_slice
    b.ue(7); // slice_type: I (all slices of the picture)
    b.ue(0); // pic_parameter_set_id
    b.u(
        LOG2_MAX_FRAME_NUM,
        pic.frame_num % (1 << LOG2_MAX_FRAME_NUM),
    );
    if pic.idr {
        b.ue(pic.idr_pic_id % 65536);
    }
    b.u(LOG2_MAX_POC_LSB, pic.poc_lsb % (1 << LOG2_MAX_POC_LSB));
    if pic.reference {
        // dec_ref_pic_marking()
        if pic.idr {
            b.u(1, 0); // no_output_of_prior_pics_flag
            b.u(1, 0); // long_term_reference_flag
        } else {
            b.u(1, 0); // adaptive_ref_pic_marking_mode_flag: sliding window
        }
    }
    b.se(0); // slice_qp_delta
    b.ue(1); // disable_deblocking_filter_idc: off
    let mut samples = [0u8; 384];
    for my in 0..seq.mb_height() as usize {
        for mx in 0..seq.mb_width() as usize {
            b.ue(MB_TYPE_I_PCM);
            while !b.aligned() {
                b.bit(false); // pcm_alignment_zero_bit
            }
            for y in 0..16 {
                let sy = (my * 16 + y).min(h - 1);
                for x in 0..16 {
                    let sx = (mx * 16 + x).min(w - 1);
                    samples[y * 16 + x] = luma[sy * w + sx];
                }
            }
            for plane in 0..2 {
                for y in 0..8 {
                    let sy = (my * 8 + y).min(h / 2 - 1);
                    for x in 0..8 {
                        let sx = (mx * 8 + x).min(w / 2 - 1);
                        samples[256 + plane * 64 + y * 8 + x] = chroma[sy * w + 2 * sx + plane];
                    }
                }
            }
            b.bytes(&samples);
        }
    }
    let rbsp = b.finish_rbsp();
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 64 + 8);
    let ref_idc = if pic.reference { 2 } else { 0 };
    push_nal(&mut out, ref_idc, if pic.idr { 5 } else { 1 }, &rbsp);
    out
}

#[cfg(test)]
mod tests;
