//! Which pictures nothing else references, so that a sampler may leave them out of the
//! decoder when they are not wanted (bit-exact for every other picture).

use crate::codec::Codec;
use crate::demux::split_annexb;

/// What the stream allows to be dropped before the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropPolicy {
    /// The codec of the packets.
    pub codec: Codec,
    /// HEVC: the highest temporal sub-layer of the stream (`sps_max_sub_layers_minus1`); only
    /// sub-layer non-reference pictures of this sub-layer are referenced by nothing.
    /// `None` when no SPS was found, which disables dropping for HEVC.
    pub hevc_max_tid: Option<u8>,
}

impl DropPolicy {
    /// The policy of a stream given its Annex B parameter sets (VPS/SPS/PPS, may be empty).
    pub fn new(codec: Codec, parameter_sets: &[u8]) -> DropPolicy {
        let hevc_max_tid = if codec == Codec::Hevc {
            split_annexb(parameter_sets)
                .filter(|n| n.first().map(|b| (b >> 1) & 0x3f) == Some(33))
                .filter_map(|n| n.get(2).map(|b| (b >> 1) & 7))
                .max()
        } else {
            None
        };
        DropPolicy {
            codec,
            hevc_max_tid,
        }
    }

    /// Whether the Annex B access unit `au` is a picture no other picture uses for
    /// prediction:
    /// - H.264: every slice has `nal_ref_idc == 0` (a non-reference picture never enters the
    ///   DPB as a reference, and does not take part in frame_num/POC derivation of others);
    /// - HEVC: every slice is a sub-layer non-reference type (TRAIL_N, TSA_N, STSA_N, RADL_N,
    ///   RASL_N, RSV_VCL_N10/12/14) in the highest temporal sub-layer (lower sub-layers' `_N`
    ///   pictures may still be referenced by higher sub-layers);
    ///
    /// and the unit carries no parameter set (the parser must see those). Always false for
    /// other codecs.
    pub fn droppable(&self, au: &[u8]) -> bool {
        let mut slices = 0usize;
        for nal in split_annexb(au) {
            let Some(&b0) = nal.first() else { continue };
            match self.codec {
                Codec::H264 => {
                    let t = b0 & 0x1f;
                    match t {
                        1..=5 => {
                            if (b0 >> 5) & 3 != 0 {
                                return false;
                            }
                            slices += 1;
                        }
                        // SPS, PPS, SPS extension, subset SPS, slice extensions: keep.
                        7 | 8 | 13 | 15 | 20 | 21 => return false,
                        _ => {}
                    }
                }
                Codec::Hevc => {
                    let Some(max_tid) = self.hevc_max_tid else {
                        return false;
                    };
                    let t = (b0 >> 1) & 0x3f;
                    match t {
                        0..=31 => {
                            let Some(&b1) = nal.get(1) else { return false };
                            let tid = (b1 & 7).wrapping_sub(1);
                            let sub_layer_non_ref = t <= 14 && t % 2 == 0;
                            if !sub_layer_non_ref || tid != max_tid {
                                return false;
                            }
                            slices += 1;
                        }
                        32..=34 => return false,
                        _ => {}
                    }
                }
                _ => return false,
            }
        }
        slices > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn au(nals: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for n in nals {
            v.extend_from_slice(&[0, 0, 0, 1]);
            v.extend_from_slice(n);
        }
        v
    }

    #[test]
    fn h264_reference_flags() {
        let p = DropPolicy::new(Codec::H264, &[]);
        // nal_ref_idc 0, type 1 (non-IDR slice): droppable, also with an AUD and SEI first.
        assert!(p.droppable(&au(&[&[0x01, 0x9a, 0x00]])));
        assert!(p.droppable(&au(&[&[0x09, 0x10], &[0x06, 0x05, 0x01], &[0x01, 0x9a]])));
        // nal_ref_idc 2, type 1: a reference B/P picture.
        assert!(!p.droppable(&au(&[&[0x41, 0x9a]])));
        // IDR (type 5, ref_idc 3).
        assert!(!p.droppable(&au(&[&[0x65, 0x88]])));
        // One reference slice among non-reference ones: keep.
        assert!(!p.droppable(&au(&[&[0x01, 0x9a], &[0x21, 0x9a]])));
        // Carries an SPS: keep.
        assert!(!p.droppable(&au(&[&[0x67, 0x64], &[0x01, 0x9a]])));
        // No slice at all: keep.
        assert!(!p.droppable(&au(&[&[0x09, 0x10]])));
        assert!(!p.droppable(&[]));
    }

    #[test]
    fn hevc_sub_layer_non_reference() {
        // SPS (type 33): header 0x42 0x01, then vps id 0 / max_sub_layers_minus1 0.
        let sps0 = au(&[&[0x42, 0x01, 0x01, 0x01]]);
        let p = DropPolicy::new(Codec::Hevc, &sps0);
        assert_eq!(p.hevc_max_tid, Some(0));
        // TRAIL_N (0), tid 0: droppable. TRAIL_R (1): keep. RASL_N (8): droppable.
        assert!(p.droppable(&au(&[&[0x00, 0x01, 0xaf]])));
        assert!(!p.droppable(&au(&[&[0x02, 0x01, 0xaf]])));
        assert!(p.droppable(&au(&[&[0x10, 0x01, 0xaf]])));
        // CRA (21), IDR_W_RADL (19): keep.
        assert!(!p.droppable(&au(&[&[0x2a, 0x01]])));
        assert!(!p.droppable(&au(&[&[0x26, 0x01]])));
        // SEI prefix (39) before a TRAIL_N: still droppable.
        assert!(p.droppable(&au(&[&[0x4e, 0x01, 0x05], &[0x00, 0x01, 0xaf]])));
        // Three temporal layers (max_sub_layers_minus1 = 2): only tid 2 _N pictures go.
        let sps2 = au(&[&[0x42, 0x01, 0x05, 0x01]]);
        let p2 = DropPolicy::new(Codec::Hevc, &sps2);
        assert_eq!(p2.hevc_max_tid, Some(2));
        assert!(!p2.droppable(&au(&[&[0x00, 0x01, 0xaf]])));
        assert!(!p2.droppable(&au(&[&[0x00, 0x02, 0xaf]])));
        assert!(p2.droppable(&au(&[&[0x00, 0x03, 0xaf]])));
        // No SPS known: never drop.
        let none = DropPolicy::new(Codec::Hevc, &[]);
        assert!(!none.droppable(&au(&[&[0x00, 0x01, 0xaf]])));
    }

    #[test]
    fn other_codecs_never_drop() {
        for c in [Codec::Vp9, Codec::Av1, Codec::Mpeg2] {
            assert!(!DropPolicy::new(c, &[]).droppable(&[0, 0, 0, 1, 0x01, 0x9a]));
        }
    }
}
