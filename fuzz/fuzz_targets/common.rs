// Shared by the container targets: open the bytes and read what the index promises, through
// both the allocating and the buffer-reusing calls, which must agree.
use nvdx::demux::{Demux, Demuxer, Packet};

pub fn exercise(data: &[u8]) {
    if let Ok(mut d) = Demuxer::from_bytes(data.to_vec()) {
        let n = d.samples().map_or(0, |s| s.len());
        // One reused packet, starting poisoned: stale bytes must never leak into a result.
        let mut reused = Packet {
            data: vec![0xEE; 7],
            pts: -1,
            dts: -1,
            duration: -1,
            keyframe: true,
            index: usize::MAX,
        };
        for i in (0..n.min(256)).rev() {
            let fresh = d.read_packet(i);
            let again = d.read_packet_into(i, &mut reused);
            match (fresh, again) {
                (Ok(p), Ok(())) => assert_eq!(p, reused, "read_packet_into differs at {i}"),
                (Err(_), Err(_)) => {}
                (a, b) => panic!(
                    "read_packet {:?} vs read_packet_into {:?} at {i}",
                    a.is_ok(),
                    b.is_ok()
                ),
            }
        }
        let _ = d.display_order();
        let _ = d.keyframe_before(n / 2);
        while let Ok(Some(_)) = d.next_packet() {}
        let _ = d.seek(0);
        while let Ok(true) = d.next_packet_into(&mut reused) {}
    }
}
