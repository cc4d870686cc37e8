#![no_main]
//! AVCC/HVCC -> Annex B conversion (1, 2 and 4-byte lengths), the inverse, and avcC/hvcC
//! record parsing. Checks the round trip on success.
use libfuzzer_sys::fuzz_target;
use nvdx::demux;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let ls = [1u8, 2, 4, 3][usize::from(sel & 3)];
    if let Ok(annexb) = demux::avcc_to_annexb(rest, ls) {
        // Every NAL we wrote comes back out of the splitter, unless it ends in zero bytes
        // or contains a start code itself (which length-prefixed data may, Annex B may not).
        if let Ok(avcc) = demux::annexb_to_avcc(&annexb) {
            let again = demux::avcc_to_annexb(&avcc, 4).expect("re-conversion of our own output");
            assert_eq!(
                demux::split_annexb(&again).count(),
                demux::split_annexb(&annexb).count()
            );
        }
    }
    let _ = demux::parse_avcc(rest);
    let _ = demux::parse_hvcc(rest);
});
