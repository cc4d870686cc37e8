// Shared by the container targets: open the bytes and read what the index promises.
use nvdx::demux::{Demux, Demuxer};

pub fn exercise(data: &[u8]) {
    if let Ok(mut d) = Demuxer::from_bytes(data.to_vec()) {
        let n = d.samples().map_or(0, |s| s.len());
        for i in 0..n.min(256) {
            let _ = d.read_packet(i);
        }
        let _ = d.display_order();
        let _ = d.keyframe_before(n / 2);
        while let Ok(Some(_)) = d.next_packet() {}
    }
}
