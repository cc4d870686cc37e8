//! CPU tests of the planning logic.

use super::plan::*;
use crate::demux::SampleEntry;
use crate::Error;

fn entry(pts: i64, keyframe: bool) -> SampleEntry {
    SampleEntry {
        offset: 0,
        size: 1,
        pts,
        dts: 0,
        duration: 1,
        keyframe,
    }
}

/// A stream with GOPs of `gop` frames and mini-GOPs `P B B B` (3 B-frames), decode order:
/// I0 P4 B1 B2 B3 P8 B5 B6 B7 ... (pts in frames). Keyframe every `gop`.
fn bframe_stream(frames: usize, gop: usize) -> Vec<SampleEntry> {
    let mut v = Vec::new();
    let mut g = 0;
    while g < frames {
        let end = (g + gop).min(frames);
        v.push(entry(g as i64, true));
        let mut base = g;
        while base + 1 < end {
            let p = (base + 4).min(end - 1);
            v.push(entry(p as i64, false));
            for b in base + 1..p {
                v.push(entry(b as i64, false));
            }
            base = p;
        }
        g = end;
    }
    v
}

#[test]
fn display_and_decode_order() {
    let s = bframe_stream(20, 10);
    let t = SampleTable::new(&s, false);
    assert_eq!(t.len(), 20);
    for n in 0..20 {
        let d = t.decode_index(n).unwrap();
        assert_eq!(s[d].pts, n as i64);
        assert_eq!(t.frame_pts(n), Some(n as i64));
    }
    assert_eq!(t.keyframes(), &[0, 10]);
    assert_eq!(t.keyframe_frames(), vec![0, 10]);
    assert_eq!(t.decode_index(20), None);
}

#[test]
fn uniform_matches_the_peers_formula() {
    // Python: [int(round(i * (n - 1) / (k - 1))) for i in range(k)]
    assert_eq!(
        uniform_indices(600, 8).unwrap(),
        vec![0, 86, 171, 257, 342, 428, 513, 599]
    );
    assert_eq!(
        uniform_indices(300, 8).unwrap(),
        vec![0, 43, 85, 128, 171, 214, 256, 299]
    );
    // Halves round to even like Python's round(): 1 * 9 / 6 = 1.5 -> 2, 3 * 9 / 6 = 4.5 -> 4.
    assert_eq!(uniform_indices(10, 7).unwrap(), vec![0, 2, 3, 4, 6, 8, 9]);
    assert_eq!(uniform_indices(5, 1).unwrap(), vec![0]);
    assert_eq!(uniform_indices(1, 3).unwrap(), vec![0, 0, 0]);
    assert_eq!(uniform_indices(3, 5).unwrap(), vec![0, 0, 1, 2, 2]);
    assert!(matches!(uniform_indices(0, 8), Err(Error::InvalidData(_))));
    assert!(matches!(
        uniform_indices(10, 0),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn ranges_start_at_keyframes_and_end_at_the_last_target() {
    let s = bframe_stream(30, 10);
    let t = SampleTable::new(&s, false);
    // Frame 3 is B3 of the first mini-GOP: decode index 4 (I0 P4 B1 B2 B3).
    let p = plan(&t, &[3]).unwrap();
    assert_eq!(p.ranges.len(), 1);
    assert_eq!((p.ranges[0].start, p.ranges[0].end), (0, 4));
    // Frame 4 is P4: decode index 1, so only I0 and P4 are read.
    let p = plan(&t, &[4]).unwrap();
    assert_eq!((p.ranges[0].start, p.ranges[0].end), (0, 1));
    // Frames 12 and 25: one range per GOP, each from its keyframe.
    let p = plan(&t, &[25, 12]).unwrap();
    assert_eq!(p.ranges.len(), 2);
    assert_eq!(p.ranges[0].start, 10);
    assert_eq!(p.ranges[1].start, 20);
    assert_eq!(p.ranges[0].targets[0].display, 12);
    assert_eq!(p.ranges[1].targets[0].display, 25);
    assert_eq!(p.request_order(), vec![(25, 25), (12, 12)]);
    // Keyframes themselves: a one-sample range each.
    let p = plan(&t, &[0, 10, 20]).unwrap();
    let r: Vec<_> = p.ranges.iter().map(|r| (r.start, r.end)).collect();
    assert_eq!(r, vec![(0, 0), (10, 10), (20, 20)]);
    // The last frame.
    let last = t.len() - 1;
    let p = plan(&t, &[last]).unwrap();
    assert_eq!(p.ranges[0].start, 20);
    assert_eq!(p.ranges[0].end, t.decode_index(last).unwrap());
}

#[test]
fn repeated_and_unsorted_indices_decode_once_in_request_order() {
    let s = bframe_stream(30, 10);
    let t = SampleTable::new(&s, false);
    let req = [17, 3, 17, 29, 3, 0, 17];
    let p = plan(&t, &req).unwrap();
    assert_eq!(p.distinct(), 4);
    assert_eq!(p.requested, req.len());
    let order = p.request_order();
    assert_eq!(order.iter().map(|o| o.0).collect::<Vec<_>>(), req.to_vec());
    let t17 = p
        .ranges
        .iter()
        .flat_map(|r| &r.targets)
        .find(|t| t.display == 17)
        .unwrap();
    assert_eq!(t17.slots, vec![0, 2, 6]);
    // Frames 0 and 3 share keyframe 0: one range; 17 and 29 have their own.
    assert_eq!(p.ranges.len(), 3);
    assert_eq!(p.ranges[0].targets.len(), 2);
    // Targets within a range are in decode order.
    for r in &p.ranges {
        assert!(r.targets.windows(2).all(|w| w[0].decode < w[1].decode));
        assert!(r
            .targets
            .iter()
            .all(|x| x.decode >= r.start && x.decode <= r.end));
        assert_eq!(r.end, r.targets.iter().map(|x| x.decode).max().unwrap());
    }
}

#[test]
fn errors() {
    let s = bframe_stream(30, 10);
    let t = SampleTable::new(&s, false);
    let e = plan(&t, &[5, 30]).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidArgument(m) if m.contains("30") && m.contains("past the end")),
        "{e}"
    );
    assert!(matches!(plan(&t, &[]), Err(Error::InvalidArgument(_))));
    let empty = SampleTable::new(&[], false);
    assert!(empty.is_empty());
    assert!(matches!(plan(&empty, &[0]), Err(Error::InvalidData(_))));
    assert!(matches!(
        empty.index_at_time(0.0, 30),
        Err(Error::InvalidData(_))
    ));
}

#[test]
fn open_gop_leading_pictures_start_at_the_previous_keyframe() {
    // Decode order: I0(pts 0) P4 B1 B2 B3 | CRA(pts 8) B5 B6 B7 (leading: before 8) P12 B9 B10 B11
    let mut s = vec![
        entry(0, true),
        entry(4, false),
        entry(1, false),
        entry(2, false),
        entry(3, false),
        entry(8, true),
        entry(5, false),
        entry(6, false),
        entry(7, false),
        entry(12, false),
        entry(9, false),
        entry(10, false),
        entry(11, false),
    ];
    let t = SampleTable::new(&s, false);
    // Frame 6 (decode 7) lies before the CRA in display order: start at I0.
    assert_eq!(t.start_keyframe(7), 0);
    let p = plan(&t, &[6]).unwrap();
    assert_eq!((p.ranges[0].start, p.ranges[0].end), (0, 7));
    // Frame 10 (decode 11) follows the CRA: start there.
    assert_eq!(t.start_keyframe(11), 5);
    // Frames 6 and 10 together: ranges [0, 7] and [5, 11] overlap and merge.
    let p = plan(&t, &[10, 6]).unwrap();
    assert_eq!(p.ranges.len(), 1);
    assert_eq!((p.ranges[0].start, p.ranges[0].end), (0, 11));
    // No keyframe flags at all: start at sample 0.
    for e in &mut s {
        e.keyframe = false;
    }
    let t = SampleTable::new(&s, false);
    assert_eq!(t.start_keyframe(11), 0);
}

#[test]
fn preroll_is_decoded_but_not_a_frame() {
    // Edit list: the first 3 samples have negative pts.
    let s: Vec<SampleEntry> = (0..10).map(|i| entry(i - 3, i == 0 || i == 5)).collect();
    let t = SampleTable::new(&s, true);
    assert_eq!(t.len(), 7);
    assert_eq!(t.frame_pts(0), Some(0));
    // Frame 0 is sample 3, decoded from keyframe 0.
    let p = plan(&t, &[0]).unwrap();
    assert_eq!((p.ranges[0].start, p.ranges[0].end), (0, 3));
    assert_eq!(t.keyframe_frames(), vec![2]);
    // Without skipping, every sample is a frame.
    assert_eq!(SampleTable::new(&s, false).len(), 10);
}

#[test]
fn time_rounding() {
    // 30000/1001 fps: pts in ticks of 1/30000 s, 1001 per frame.
    let s: Vec<SampleEntry> = (0..100)
        .map(|i| SampleEntry {
            duration: 1001,
            ..entry(i * 1001, i % 30 == 0)
        })
        .collect();
    let t = SampleTable::new(&s, false);
    let ts = 30000;
    assert_eq!(t.index_at_time(0.0, ts).unwrap(), 0);
    // Exactly at frame 7's time, computed in decimal: frame 7, not 6.
    let t7 = 7.0 * 1001.0 / 30000.0;
    assert_eq!(t.index_at_time(t7, ts).unwrap(), 7);
    assert_eq!(t.index_at_time(t7 - 1e-9, ts).unwrap(), 7);
    // Just before frame 8: frame 7.
    assert_eq!(
        t.index_at_time(8.0 * 1001.0 / 30000.0 - 0.001, ts).unwrap(),
        7
    );
    // Inside the last frame, and past the end.
    let end = 100.0 * 1001.0 / 30000.0;
    assert_eq!(t.index_at_time(end - 0.01, ts).unwrap(), 99);
    assert!(matches!(
        t.index_at_time(end, ts),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        t.index_at_time(1e30, ts),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        t.index_at_time(-0.5, ts),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        t.index_at_time(f64::NAN, ts),
        Err(Error::InvalidArgument(_))
    ));
    // A stream starting late: times before the first frame give frame 0.
    let late: Vec<SampleEntry> = (0..5).map(|i| entry(10 + i, i == 0)).collect();
    assert_eq!(
        SampleTable::new(&late, false)
            .index_at_time(0.1, 30)
            .unwrap(),
        0
    );
}

#[test]
fn assignment_balances_and_keeps_order() {
    let s = bframe_stream(600, 250);
    let t = SampleTable::new(&s, false);
    let p = plan(&t, &uniform_indices(600, 8).unwrap()).unwrap();
    assert_eq!(p.ranges.len(), 3);
    let starts: Vec<_> = p.ranges.iter().map(|r| r.start).collect();
    assert_eq!(starts, vec![0, 250, 500]);
    let a = assign(&p.ranges, 7);
    assert_eq!(a.len(), 3);
    let mut all: Vec<usize> = a.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(all, vec![0, 1, 2]);
    // Two sessions for five equal ranges: 3 + 2, each list ascending.
    let s = bframe_stream(50, 10);
    let t = SampleTable::new(&s, false);
    let p = plan(&t, &[5, 15, 25, 35, 45]).unwrap();
    let a = assign(&p.ranges, 2);
    assert_eq!(a.len(), 2);
    assert_eq!(a.iter().map(Vec::len).sum::<usize>(), 5);
    assert!(a
        .iter()
        .all(|v| !v.is_empty() && v.windows(2).all(|w| w[0] < w[1])));
    let load = |v: &Vec<usize>| v.iter().map(|&i| p.ranges[i].len()).sum::<usize>();
    assert!(
        load(&a[0]).abs_diff(load(&a[1])) <= p.ranges.iter().map(DecodeRange::len).max().unwrap()
    );
    // Zero sessions asked: still one; no ranges: no sessions.
    assert_eq!(assign(&p.ranges, 0).len(), 1);
    assert!(assign(&[], 4).is_empty());
}

#[test]
fn plan_covers_every_request_for_random_inputs() {
    // Deterministic pseudo-random requests over several GOP structures.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |m: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % m as u64) as usize
    };
    for (frames, gop) in [(30, 10), (61, 15), (600, 250), (7, 1)] {
        let s = bframe_stream(frames, gop);
        let t = SampleTable::new(&s, false);
        for _ in 0..50 {
            let k = 1 + next(12);
            let req: Vec<usize> = (0..k).map(|_| next(frames)).collect();
            let p = plan(&t, &req).unwrap();
            let order = p.request_order();
            for (i, &r) in req.iter().enumerate() {
                assert_eq!(order[i], (r, r as i64));
            }
            // Ranges ascending and disjoint; every target's keyframe inside its range.
            assert!(p.ranges.windows(2).all(|w| w[0].end < w[1].start));
            for r in &p.ranges {
                assert!(s[r.start].keyframe);
                for tg in &r.targets {
                    assert!(t.start_keyframe(tg.decode) >= r.start);
                }
            }
        }
    }
}

fn fixture(name: &str) -> std::path::PathBuf {
    crate::testdata::fixtures_dir().join(name)
}

#[test]
fn reader_lists_and_chooses_video_tracks() {
    let r = super::VideoReader::open(fixture("two_video_tracks_both_enabled.mp4")).unwrap();
    let tracks = r.video_tracks();
    assert_eq!(tracks.len(), 2);
    assert!(
        tracks[1].selected,
        "ffmpeg's choice is the larger enabled track"
    );
    assert_eq!((r.info().width, r.info().height), (480, 270));
    let small = super::VideoReader::open_track(
        fixture("two_video_tracks_both_enabled.mp4"),
        tracks[0].number,
    )
    .unwrap();
    assert_eq!((small.info().width, small.info().height), (320, 180));
    assert_eq!(small.info().frame_count, 30);
}

#[test]
fn reader_metadata_without_a_gpu() {
    let r = super::VideoReader::open(fixture("h264_bframes.mp4")).unwrap();
    let i = r.info();
    assert_eq!((i.width, i.height, i.frame_count), (176, 144, 30));
    assert_eq!((i.coded_width, i.coded_height), (176, 144));
    assert_eq!(i.keyframes.first(), Some(&0));
    assert_eq!(r.output_size(), (176, 144));
    assert_eq!(r.output_format(), crate::PixelFormat::Nv12);
    let p = r.plan(&r.uniform_indices(8).unwrap()).unwrap();
    assert_eq!(p.requested, 8);
    // Every keyframe plans as a one-sample range.
    for &k in &i.keyframes {
        let p = r.plan(&[k]).unwrap();
        assert_eq!(p.ranges[0].start, p.ranges[0].end);
    }
    assert!(matches!(r.plan(&[30]), Err(Error::InvalidArgument(_))));
    let t = r.time_of(29).unwrap();
    assert_eq!(r.index_at_time(t).unwrap(), 29);
}

#[test]
fn non_reference_pictures_are_found_in_the_bframe_fixtures() {
    use crate::demux;
    for name in ["h264_bframes.mp4", "hevc_main_hvc1.mp4"] {
        let mut d = demux::open(fixture(name)).unwrap();
        let policy = super::DropPolicy::new(d.info().codec, &d.info().parameter_sets);
        let n = d.samples().unwrap().len();
        let mut dropped = 0;
        for i in 0..n {
            let p = d.read_packet(i).unwrap();
            if policy.droppable(&p.data) {
                dropped += 1;
                assert!(!p.keyframe, "{name}: keyframe {i} marked droppable");
            }
        }
        eprintln!("{name}: {dropped} of {n} pictures droppable");
        assert!(dropped < n);
    }
}
