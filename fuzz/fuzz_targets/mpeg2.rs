#![no_main]
//! MPEG-2 video elementary streams: start-code scanning across chunks, sequence header and
//! extensions, GOP and picture headers, field-pair merging, temporal_reference display order,
//! the sequence header put before keyframes. Every input is also tried behind a valid
//! sequence header and extension, so that random bytes reach the picture-level parsing.
mod common;
use libfuzzer_sys::fuzz_target;

/// `fixtures/mpeg2.m2v`'s sequence header (96x64, 30 fps) and sequence extension (4:2:0).
const SEQ: [u8; 22] = [
    0, 0, 1, 0xB3, 0x06, 0x00, 0x40, 0x15, 0xFF, 0xFF, 0xE0, 0x18, 0, 0, 1, 0xB5, 0x14, 0x8A,
    0x00, 0x01, 0x00, 0x00,
];

fuzz_target!(|data: &[u8]| {
    common::exercise(data);
    let mut v = SEQ.to_vec();
    v.extend_from_slice(data);
    common::exercise(&v);
});
