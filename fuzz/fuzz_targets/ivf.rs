#![no_main]
//! IVF demuxing, VP9 frame headers, AV1 OBU scanning.
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::exercise(data);
});
