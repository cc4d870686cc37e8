#![no_main]
//! Matroska/WebM demuxing: EBML element headers, Tracks/Colour, Cluster and BlockGroup scanning,
//! Xiph/EBML/fixed lacing, avcC/hvcC conversion, track choice.
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::exercise(data);
});
