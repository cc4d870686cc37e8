#![no_main]
//! Annex B: NAL splitting, push-style access-unit grouping in arbitrary chunks, SPS parsing,
//! codec guessing and the indexed Annex B demuxer.
mod common;
use libfuzzer_sys::fuzz_target;
use nvdx::demux::{self, AnnexBSplitter};
use nvdx::Codec;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let codec = if sel & 1 == 0 {
        Codec::H264
    } else {
        Codec::Hevc
    };
    let chunk = usize::from(sel >> 1).max(1);
    let mut total = 0usize;
    if let Ok(mut sp) = AnnexBSplitter::new(codec, 1) {
        for c in rest.chunks(chunk) {
            match sp.push(c) {
                Ok(p) => total += p.iter().map(|p| p.data.len()).sum::<usize>(),
                Err(_) => return,
            }
        }
        if let Ok(p) = sp.flush() {
            total += p.iter().map(|p| p.data.len()).sum::<usize>();
        }
    }
    // Access units are slices of the input: never more bytes out than in.
    assert!(total <= rest.len());
    for nal in demux::split_annexb(rest) {
        assert!(!nal.is_empty());
        let _ = demux::parse_h264_sps(nal);
        let _ = demux::parse_hevc_sps(nal);
    }
    let _ = demux::guess_codec(rest);
    common::exercise(rest);
});
