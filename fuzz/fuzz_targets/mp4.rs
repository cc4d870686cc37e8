#![no_main]
//! MP4/fragmented MP4 demuxing: box parsing, sample tables, edit lists, AVCC conversion.
mod common;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::exercise(data);
});
