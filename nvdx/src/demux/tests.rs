//! Tests over the committed fixtures (`fixtures/`, see `fixtures/README.md`) and hostile input.

use super::*;

fn fixture(name: &str) -> String {
    crate::testdata::fixtures_dir()
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

struct ManifestRow {
    file: String,
    codec: String,
    width: u32,
    height: u32,
    frames: Option<usize>,
    bit_depth: u8,
    packets: Option<usize>,
}

fn manifest() -> Vec<ManifestRow> {
    let text = std::fs::read_to_string(fixture("manifest.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            ManifestRow {
                file: f[0].to_string(),
                codec: f[1].to_string(),
                width: f[2].parse().unwrap(),
                height: f[3].parse().unwrap(),
                frames: f[4].parse().ok(),
                bit_depth: f[5].parse().unwrap(),
                packets: f[6].parse().ok(),
            }
        })
        .collect()
}

fn codec_name(c: Codec) -> &'static str {
    match c {
        Codec::H264 => "h264",
        Codec::Hevc => "hevc",
        Codec::Vp9 => "vp9",
        Codec::Av1 => "av1",
        Codec::Mpeg2 => "mpeg2",
        Codec::Mjpeg => "mjpeg",
    }
}

/// `pts` column of a framemd5 file (display order).
fn framemd5_pts(name: &str) -> Vec<i64> {
    std::fs::read_to_string(fixture(&format!("{name}.framemd5")))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(',').nth(2).unwrap().trim().parse().unwrap())
        .collect()
}

fn all_packets(d: &mut dyn Demux) -> Vec<Packet> {
    let mut v = Vec::new();
    while let Some(p) = d.next_packet().unwrap() {
        v.push(p);
    }
    v
}

#[test]
fn every_fixture_matches_the_manifest() {
    let rows = manifest();
    assert!(rows.len() >= 15, "manifest has {} rows", rows.len());
    let mut checked = 0;
    for row in rows.iter().filter(|r| r.packets.is_some()) {
        let name = &row.file;
        let mut d = open(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let info = d.info().clone();
        assert_eq!(codec_name(info.codec), row.codec, "{name}");
        assert_eq!((info.width, info.height), (row.width, row.height), "{name}");
        assert_eq!(info.bit_depth, row.bit_depth, "{name}");
        assert_eq!(info.frame_count, row.packets, "{name}");
        // Every clip is 4:2:0 but the 4:4:4 one (named so).
        let chroma = if name.contains("_444") {
            ChromaFormat::Yuv444
        } else {
            ChromaFormat::Yuv420
        };
        assert_eq!(info.chroma, chroma, "{name}");
        let samples = d.samples().unwrap().to_vec();
        assert_eq!(Some(samples.len()), row.packets, "{name}");
        assert!(
            samples[0].keyframe,
            "{name}: first sample is not a keyframe"
        );
        assert_eq!(d.keyframes().first(), Some(&0), "{name}");
        let packets = all_packets(d.as_mut());
        assert_eq!(packets.len(), samples.len(), "{name}");
        for (i, p) in packets.iter().enumerate() {
            assert_eq!(p.index, i);
            assert_eq!(
                (p.pts, p.dts, p.keyframe),
                (samples[i].pts, samples[i].dts, samples[i].keyframe)
            );
            assert!(p.dts <= p.pts, "{name} #{i}: dts > pts");
            if matches!(info.codec, Codec::H264 | Codec::Hevc) {
                assert_eq!(&p.data[..4], &[0, 0, 0, 1], "{name} #{i}: not Annex B");
                assert!(split_annexb(&p.data).count() >= 1);
                if p.keyframe {
                    let sps: Vec<&[u8]> = split_annexb(&p.data)
                        .filter(|n| annexb::is_sps(info.codec, n))
                        .collect();
                    assert_eq!(
                        sps.len(),
                        1,
                        "{name} #{i}: keyframe without exactly one SPS"
                    );
                    let s = parse_sps(info.codec, sps[0]).unwrap();
                    if i == 0 {
                        assert_eq!(
                            (s.width, s.height, s.bit_depth),
                            (row.width, row.height, row.bit_depth),
                            "{name}"
                        );
                    }
                }
            } else {
                assert_eq!(p.data.len(), samples[i].size as usize);
            }
        }
        // Displayed pictures in display order, at ffmpeg's 1/30 s, equal the framemd5 pts
        // (Annex B: pts from the picture order count, see `annexb_display_order_from_poc`).
        let order = d.display_order();
        let shown: Vec<i64> = order
            .iter()
            .map(|&i| samples[i].pts)
            .filter(|&p| p >= 0)
            .map(|p| rescale(p, info.timescale, 30))
            .collect();
        assert_eq!(Some(shown.len()), row.frames, "{name}: displayed frames");
        // The ffmpeg CLI shifts its output to start at 0 (a fragmented file without an
        // edit list starts at the B-frame delay), so compare from the first picture.
        let want = framemd5_pts(name);
        let rel = |v: &[i64]| v.iter().map(|p| p - v[0]).collect::<Vec<_>>();
        assert_eq!(rel(&shown), rel(&want), "{name}: display pts vs framemd5");
        assert!(
            samples.windows(2).all(|w| w[0].dts < w[1].dts),
            "{name}: dts not increasing"
        );
        // Random access gives the same bytes as sequential reading.
        for &i in &[samples.len() - 1, samples.len() / 2, 0] {
            assert_eq!(d.read_packet(i).unwrap(), packets[i], "{name} #{i}");
        }
        d.seek(samples.len() - 1).unwrap();
        assert_eq!(d.next_packet().unwrap().unwrap().index, samples.len() - 1);
        assert!(d.next_packet().unwrap().is_none());
        assert!(d.read_packet(samples.len()).is_err());
        assert!(d.seek(samples.len() + 1).is_err());
        // In-memory input gives the same result.
        let mut m = from_bytes(read_fixture(name)).unwrap();
        assert_eq!(m.info(), &info, "{name}");
        assert_eq!(all_packets(m.as_mut()), packets, "{name}");
        checked += 1;
    }
    assert!(checked >= 13, "only {checked} fixtures checked");
}

fn keyframes_of(name: &str) -> Vec<usize> {
    open(fixture(name)).unwrap().keyframes().to_vec()
}

#[test]
fn keyframes_follow_the_gop() {
    assert_eq!(keyframes_of("sample.mp4"), [0, 15, 30, 45]);
    assert_eq!(keyframes_of("h264_bframes.mp4"), [0, 10, 20]);
    assert_eq!(keyframes_of("h264_fragmented.mp4"), [0, 10, 20]);
    assert_eq!(keyframes_of("h264.264"), [0, 10, 20]);
    assert_eq!(keyframes_of("h264_res_change.264"), [0, 10]);
    assert_eq!(keyframes_of("vp9.ivf"), [0, 10, 20]);
    assert_eq!(keyframes_of("av1.ivf")[0], 0);
    for f in [
        "hevc_main_hvc1.mp4",
        "hevc_main_hev1.mp4",
        "hevc_main10.mp4",
        "hevc.265",
    ] {
        assert_eq!(keyframes_of(f), [0, 10, 20], "{f}");
    }
    let d = open(fixture("sample.mp4")).unwrap();
    assert_eq!(d.keyframe_before(0), Some(0));
    assert_eq!(d.keyframe_before(14), Some(0));
    assert_eq!(d.keyframe_before(15), Some(15));
    assert_eq!(d.keyframe_before(59), Some(45));
}

#[test]
fn sample_mp4_info() {
    let d = open(fixture("sample.mp4")).unwrap();
    let i = d.info();
    assert_eq!(i.container, Container::Mp4);
    assert_eq!(i.frame_rate, Some((30, 1)));
    assert_eq!(i.rotation_degrees, 0);
    let dur = i.duration_seconds.unwrap();
    assert!((dur - 2.0).abs() < 0.01, "{dur}");
    // B-frames: decode order differs from display order, pts are distinct.
    let s = d.samples().unwrap();
    assert!(s.windows(2).any(|w| w[1].pts < w[0].pts));
    assert!(s.windows(2).all(|w| w[1].dts > w[0].dts));
    let order = d.display_order();
    assert!(order.windows(2).all(|w| s[w[0]].pts < s[w[1]].pts));
    assert_ne!(order, (0..60).collect::<Vec<_>>());
    assert!(!i.parameter_sets.is_empty());
}

#[test]
fn edit_list_is_applied() {
    let d = open(fixture("h264_editlist.mp4")).unwrap();
    let s = d.samples().unwrap();
    let ts = d.info().timescale;
    // 12 pre-roll frames before the 0.4 s seek point are decoded but not shown.
    let hidden = s.iter().filter(|e| e.pts < 0).count();
    assert_eq!(hidden, 12);
    assert_eq!(s.iter().map(|e| e.pts).filter(|&p| p >= 0).min(), Some(0));
    assert_eq!(rescale(s[0].pts, ts, 30), -12);
    let dur = d.info().duration_seconds.unwrap();
    assert!((dur - 0.6).abs() < 0.01, "{dur}");
    // The B-frame delay edit of h264_bframes.mp4 makes the first displayed pts 0.
    let d = open(fixture("h264_bframes.mp4")).unwrap();
    let min = d.samples().unwrap().iter().map(|e| e.pts).min();
    assert_eq!(min, Some(0));
    assert!(d.samples().unwrap()[0].dts < 0);
}

#[test]
fn fragmented_mp4_samples() {
    let mut d = open(fixture("h264_fragmented.mp4")).unwrap();
    let len = std::fs::metadata(fixture("h264_fragmented.mp4"))
        .unwrap()
        .len();
    let s = d.samples().unwrap().to_vec();
    assert_eq!(s.len(), 30);
    assert!(s
        .windows(2)
        .all(|w| w[1].offset >= w[0].offset + u64::from(w[0].size)));
    assert!(s.iter().all(|e| e.offset + u64::from(e.size) <= len));
    // Same pictures as the non-fragmented encode of the same settings would give: same
    // number of NAL-unit-bearing packets and keyframes with parameter sets in front.
    let p = d.read_packet(10).unwrap();
    assert!(p.keyframe);
    assert_eq!(
        annexb::nal_type(Codec::H264, split_annexb(&p.data).next().unwrap()),
        Some(7)
    );
}

#[test]
fn hevc_parameter_sets() {
    for f in [
        "hevc_main_hvc1.mp4",
        "hevc_main_hev1.mp4",
        "hevc_main10.mp4",
    ] {
        let mut d = open(fixture(f)).unwrap();
        let types: Vec<u8> = split_annexb(&d.info().parameter_sets)
            .filter_map(|n| annexb::nal_type(Codec::Hevc, n))
            .collect();
        assert_eq!(types, [32, 33, 34], "{f}");
        let p = d.read_packet(0).unwrap();
        let vps = split_annexb(&p.data)
            .filter(|n| annexb::nal_type(Codec::Hevc, n) == Some(32))
            .count();
        assert_eq!(vps, 1, "{f}");
        // Non-keyframes carry no parameter sets.
        let p = d.read_packet(1).unwrap();
        assert!(
            !split_annexb(&p.data).any(|n| annexb::is_parameter_set(Codec::Hevc, n)),
            "{f}"
        );
    }
}

#[test]
fn annexb_resolution_change() {
    let mut d = open(fixture("h264_res_change.264")).unwrap();
    assert_eq!(d.info().container, Container::AnnexB);
    assert_eq!((d.info().width, d.info().height), (176, 144));
    assert_eq!(d.info().frame_rate, Some((30, 1)));
    let p = d.read_packet(10).unwrap();
    assert!(p.keyframe);
    let sps = split_annexb(&p.data)
        .find(|n| annexb::is_sps(Codec::H264, n))
        .unwrap();
    let s = parse_h264_sps(sps).unwrap();
    assert_eq!((s.width, s.height, s.bit_depth), (320, 240, 8));
    // The stored spans tile the file.
    let s = d.samples().unwrap();
    let len = std::fs::metadata(fixture("h264_res_change.264"))
        .unwrap()
        .len();
    assert_eq!(s[0].offset, 0);
    let last = s[s.len() - 1];
    assert_eq!(last.offset + u64::from(last.size), len);
}

/// `hash` column of a framemd5 file (display order).
fn framemd5_hashes(name: &str) -> Vec<String> {
    std::fs::read_to_string(fixture(&format!("{name}.framemd5")))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap().trim().to_string())
        .collect()
}

/// The slice NAL units of each picture, in display order.
fn slices_in_display_order(name: &str) -> Vec<Vec<Vec<u8>>> {
    let mut d = open(fixture(name)).unwrap();
    let codec = d.info().codec;
    let packets = all_packets(d.as_mut());
    d.display_order()
        .iter()
        .map(|&i| {
            split_annexb(&packets[i].data)
                .filter(|n| match (codec, annexb::nal_type(codec, n)) {
                    (Codec::Hevc, Some(t)) => t < 32,
                    (_, Some(t)) => (1..=5).contains(&t),
                    _ => false,
                })
                .map(<[u8]>::to_vec)
                .collect()
        })
        .collect()
}

#[test]
fn annexb_display_order_from_poc() {
    // `ffprobe -show_frames -show_entries frame=coded_picture_number fixtures/h264.264`:
    // the decode index of each displayed picture.
    let d = open(fixture("h264.264")).unwrap();
    let want = [
        0, 2, 3, 1, 5, 6, 4, 8, 7, 9, 10, 12, 11, 14, 15, 13, 17, 18, 16, 19, 20, 22, 23, 21, 25,
        24, 27, 28, 26, 29,
    ];
    assert_eq!(d.display_order(), want);
    // Frame n is shown at n frames; dts trail by the one-frame reorder delay.
    let s = d.samples().unwrap();
    for (n, &i) in want.iter().enumerate() {
        assert_eq!(s[i].pts, n as i64, "h264.264 display {n}");
    }
    assert_eq!(
        s.iter().map(|e| e.dts).collect::<Vec<_>>(),
        (-1..29).collect::<Vec<_>>()
    );

    // Each Annex B fixture has an MP4 twin encoded with the same settings (same framemd5):
    // in display order, both give the same slices. HEVC: an IDR, then two CRAs that do not
    // restart the POC.
    for (es, mp4) in [
        ("h264.264", "h264_fragmented.mp4"),
        ("hevc.265", "hevc_main_hev1.mp4"),
    ] {
        assert_eq!(framemd5_hashes(es), framemd5_hashes(mp4), "{es} vs {mp4}");
        let a = slices_in_display_order(es);
        let b = slices_in_display_order(mp4);
        assert_eq!(a.len(), 30);
        assert_ne!(
            open(fixture(es)).unwrap().display_order(),
            (0..30).collect::<Vec<_>>(),
            "{es}"
        );
        for (n, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(x == y, "{es} vs {mp4}: display position {n} differs");
        }
    }

    // No B-frames (POC type 2): display order is decode order, across the new SPS.
    let d = open(fixture("h264_res_change.264")).unwrap();
    assert_eq!(d.display_order(), (0..20).collect::<Vec<_>>());
    assert!(d.samples().unwrap().iter().all(|e| e.pts == e.dts));

    // Bit flips in slice data: still a permutation with distinct pts.
    let d = open(fixture("corrupt_bitflip.264")).unwrap();
    let mut order = d.display_order();
    order.sort_unstable();
    assert_eq!(order, (0..30).collect::<Vec<_>>());
    let mut pts: Vec<i64> = d.samples().unwrap().iter().map(|e| e.pts).collect();
    pts.sort_unstable();
    pts.dedup();
    assert_eq!(pts.len(), 30);
}

#[test]
fn splitter_matches_indexed_demuxer() {
    for (f, codec) in [("h264.264", Codec::H264), ("hevc.265", Codec::Hevc)] {
        let bytes = read_fixture(f);
        let mut d = from_bytes(bytes.clone()).unwrap();
        let want = all_packets(d.as_mut());
        let mut sp = AnnexBSplitter::new(codec, 1).unwrap();
        let mut got = Vec::new();
        for c in bytes.chunks(777) {
            got.extend(sp.push(c).unwrap());
        }
        got.extend(sp.flush().unwrap());
        assert_eq!(got.len(), want.len(), "{f}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                (&g.data, g.keyframe, g.index),
                (&w.data, w.keyframe, w.index),
                "{f}"
            );
        }
    }
}

#[test]
fn odd_size_uses_sps_cropping() {
    let d = open(fixture("h264_1918x1078.mp4")).unwrap();
    let sps = split_annexb(&d.info().parameter_sets)
        .find(|n| annexb::is_sps(Codec::H264, n))
        .unwrap();
    let s = parse_h264_sps(sps).unwrap();
    assert_eq!((s.width, s.height), (1918, 1078));
    assert_eq!(s.profile, 100);
}

#[test]
fn corrupt_fixtures() {
    let e = match open(fixture("corrupt_truncated.mp4")) {
        Err(e) => e,
        Ok(_) => panic!("truncated MP4 opened"),
    };
    assert!(
        matches!(&e, Error::InvalidData(m) if m.contains("moov")),
        "{e}"
    );
    let e = match open(fixture("garbage.bin")) {
        Err(e) => e,
        Ok(_) => panic!("garbage opened"),
    };
    assert!(matches!(e, Error::InvalidData(_)), "{e}");
    // Bit flips inside slice data are the decoder's problem: the demuxer still splits.
    let mut d = open(fixture("corrupt_bitflip.264")).unwrap();
    assert_eq!(all_packets(d.as_mut()).len(), 30);
    let e = match open(fixture("does-not-exist.mp4")) {
        Err(e) => e,
        Ok(_) => panic!("missing file opened"),
    };
    assert!(matches!(e, Error::Io { .. }), "{e}");
}

#[test]
fn rescale_rounds_and_saturates() {
    assert_eq!(rescale(512, 15360, 30), 1);
    assert_eq!(rescale(-512, 15360, 30), -1);
    assert_eq!(rescale(1, 3, 2), 1);
    assert_eq!(rescale(i64::MAX, 1, 1000), i64::MAX);
    assert_eq!(rescale(i64::MIN, 1, 1000), i64::MIN);
    assert_eq!(rescale(5, 0, 1000), 0);
    assert_eq!(ticks_to_seconds(45, 90), 0.5);
}

#[test]
fn sniffing() {
    assert_eq!(sniff(b"\0\0\0\x18ftypisom").unwrap(), Container::Mp4);
    assert_eq!(sniff(b"DKIF\0\0 \0").unwrap(), Container::Ivf);
    assert_eq!(sniff(&[0, 0, 0, 1, 0x67]).unwrap(), Container::AnnexB);
    assert_eq!(
        sniff(&[0x1a, 0x45, 0xdf, 0xa3, 0, 0, 0, 0]).unwrap(),
        Container::Matroska
    );
    assert!(matches!(sniff(b""), Err(Error::InvalidData(_))));
    // MPEG-2 video: a sequence header, or a program stream's pack header (rejected later).
    assert_eq!(
        sniff(&[0, 0, 1, 0xB3, 0x06, 0, 0x40]).unwrap(),
        Container::Mpeg2Video
    );
    assert_eq!(
        sniff(&[0, 0, 0, 1, 0xBA, 0x44]).unwrap(),
        Container::Mpeg2Video
    );
    // H.264/HEVC streams that start with a NAL unit stay Annex B.
    for nal in [0x09, 0x67, 0x40, 0x46] {
        assert_eq!(sniff(&[0, 0, 1, nal, 0]).unwrap(), Container::AnnexB);
    }
}

/// xorshift64*: deterministic pseudo-random bytes for the hostile-input tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Opens `bytes` and reads every packet; must not panic. Returns whether it opened.
fn exercise(bytes: Vec<u8>) -> bool {
    match from_bytes(bytes) {
        Ok(mut d) => {
            let n = d.samples().map_or(0, <[SampleEntry]>::len);
            for i in 0..n.min(64) {
                let _ = d.read_packet(i);
            }
            let _ = d.display_order();
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

#[test]
fn truncation_at_every_offset_never_panics() {
    for (name, step) in [
        ("h264_fragmented.mp4", 1),
        ("h264_bframes.mp4", 1),
        ("vp9.ivf", 1),
        ("av1.ivf", 1),
        ("hevc.265", 13),
        ("h264.mkv", 1),
        ("h264_nocues.mkv", 1),
        ("h264_blockgroups.mkv", 3),
        ("av1.webm", 1),
        ("mpeg2.m2v", 1),
        ("mpeg2.mp4", 7),
        ("mpeg2.mkv", 7),
        ("mjpeg.mov", 7),
        ("mjpeg.mkv", 7),
    ] {
        let bytes = read_fixture(name);
        let mut opened = 0;
        for cut in (0..bytes.len()).step_by(step) {
            opened += usize::from(exercise(bytes[..cut].to_vec()));
        }
        // Files with the index first open when cut late; a moov at the end must fail.
        if matches!(name, "h264_bframes.mp4" | "mpeg2.mp4" | "mjpeg.mov") {
            assert_eq!(opened, 0, "{name}");
        } else {
            assert!(opened > 0, "{name}: no truncation opened");
        }
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for name in [
        "sample.mp4",
        "h264_fragmented.mp4",
        "hevc_main_hev1.mp4",
        "vp9.ivf",
        "av1.ivf",
        "h264.264",
        "h264.mkv",
        "hevc.mkv",
        "vp9.webm",
        "h264_blockgroups.mkv",
        "two_tracks.mkv",
        "mpeg2.m2v",
        "mpeg2.mp4",
        "mpeg2.mkv",
        "mjpeg.mov",
        "mjpeg.mkv",
    ] {
        let orig = read_fixture(name);
        for _ in 0..150 {
            let mut b = orig.clone();
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            exercise(b);
        }
    }
}

#[test]
fn random_garbage_is_rejected() {
    let mut rng = Rng(42);
    let prefixes: [&[u8]; 7] = [
        b"",
        &[0, 0, 1, 0xB3],
        b"\0\0\0\x10ftypisom\0\0\0\0",
        b"DKIF\0\0\x20\0VP90",
        &[0, 0, 0, 1, 0x67],
        &[0, 0, 0, 1, 0x40, 0x01],
        &[0x1a, 0x45, 0xdf, 0xa3],
    ];
    let mut rejected = 0;
    for round in 0..2000 {
        let mut b = prefixes[round % prefixes.len()].to_vec();
        let n = rng.below(600);
        b.extend((0..n).map(|_| rng.next() as u8));
        if !exercise(b) {
            rejected += 1;
        }
    }
    assert!(
        rejected > 1900,
        "random bytes accepted too often: {rejected}"
    );
}

#[test]
fn hostile_box_sizes() {
    // moov claiming 4 GiB, a 64-bit size of u64::MAX, and a zero-size box.
    let cases: [&[u8]; 4] = [
        b"\0\0\0\x08ftyp\xff\xff\xff\xffmoov",
        b"\0\0\0\x08ftyp\0\0\0\x01moov\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\0\0\0\x08ftyp\0\0\0\x10moov\0\0\0\0trak",
        b"\0\0\0\x08ftyp\0\0\0\x18moov\0\0\0\x10mvex\0\0\0\x20trex",
    ];
    for c in cases {
        assert!(matches!(from_bytes(c.to_vec()), Err(Error::InvalidData(_))));
    }
    // An IVF frame whose size runs past the end.
    let mut ivf = b"DKIF\0\0\x20\0VP90\xb0\0\x90\0\x1e\0\0\0\x01\0\0\0\x01\0\0\0\0\0\0\0".to_vec();
    ivf.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    let e = match from_bytes(ivf) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened"),
    };
    assert!(e.contains("truncated"), "{e}");
}

/// Hostile inputs kept as regression tests (`src/demux/regressions/`; fuzz crashes go there
/// too, see `fuzz/README.md`). Files named `reject-*` must fail to open, cleanly.
#[test]
fn fuzz_regressions() {
    let dir = crate::testdata::demux_regressions_dir();
    let mut seen = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let opened = exercise(bytes.clone());
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("reject-")
        {
            assert!(!opened, "{} opened", path.display());
        }
        for nal in split_annexb(&bytes) {
            let _ = parse_h264_sps(nal);
            let _ = parse_hevc_sps(nal);
        }
        for ls in [1, 2, 4] {
            let _ = avcc_to_annexb(&bytes, ls);
        }
        seen += 1;
    }
    assert!(seen >= 4, "regression inputs missing: {seen}");
}

/// `read_packet_into` / `next_packet_into` give the same packets as the allocating calls, for
/// every container and packet format, and reuse the buffer once it is large enough.
#[test]
fn packet_into_matches_and_reuses_its_buffer() {
    let rows = manifest();
    let valid: Vec<_> = rows.iter().filter(|r| r.frames.is_some()).collect();
    assert!(valid.len() >= 13, "{} valid fixtures", valid.len());
    for row in valid {
        let name = row.file.as_str();
        let mut d = open(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = all_packets(d.as_mut());
        assert!(!want.is_empty(), "{name}");
        // A poisoned start: stale bytes and fields must all be replaced.
        let mut p = Packet {
            data: vec![0xEE; 3],
            pts: -99,
            dts: -99,
            duration: -99,
            keyframe: true,
            index: 9999,
        };
        d.seek(0).unwrap();
        let mut n = 0;
        while d.next_packet_into(&mut p).unwrap() {
            assert_eq!(p, want[n], "{name}: packet {n} (next_packet_into)");
            n += 1;
        }
        assert_eq!(n, want.len(), "{name}");
        // Largest packet first: after it, no later read may reallocate.
        let largest = (0..want.len()).max_by_key(|&i| want[i].data.len()).unwrap();
        d.read_packet_into(largest, &mut p).unwrap();
        let ptr = p.data.as_ptr();
        for i in (0..want.len()).rev() {
            d.read_packet_into(i, &mut p).unwrap();
            assert_eq!(p, want[i], "{name}: packet {i} (read_packet_into)");
            assert_eq!(
                p.data.as_ptr(),
                ptr,
                "{name}: packet {i} reallocated the buffer"
            );
        }
        // An out-of-range read is an error and leaves the packet usable.
        assert!(d.read_packet_into(want.len(), &mut p).is_err());
        d.read_packet_into(0, &mut p).unwrap();
        assert_eq!(p, want[0], "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Matroska / WebM

const MKV_FIXTURES: [&str; 9] = [
    "h264.mkv",
    "hevc.mkv",
    "vp9.webm",
    "av1.webm",
    "h264_nocues.mkv",
    "h264_blockgroups.mkv",
    "two_tracks.mkv",
    "mpeg2.mkv",
    "mjpeg.mkv",
];

/// Adler-32 as ffmpeg's framecrc computes it (`av_adler32_update(0, ..)`: starting from 0,
/// not the usual 1).
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (0u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}

/// One packet line of a framecrc file: pts, size, Adler-32, keyframe.
#[derive(Debug, PartialEq, Eq)]
struct CrcRow {
    pts: i64,
    size: usize,
    crc: u32,
    key: bool,
}

/// `NAME.framecrc` (ffmpeg's stream-copied packets in decode order) and its time base.
fn framecrc(name: &str) -> (u32, Vec<CrcRow>) {
    let text = std::fs::read_to_string(fixture(&format!("{name}.framecrc"))).unwrap();
    let tb = text
        .lines()
        .find_map(|l| l.strip_prefix("#tb 0: 1/"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let rows = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            CrcRow {
                pts: f[2].parse().unwrap(),
                size: f[4].parse().unwrap(),
                crc: u32::from_str_radix(f[5].trim_start_matches("0x"), 16).unwrap(),
                // Non-key packets carry `F=0x0`; keyframes have no flags column.
                key: !f.get(6).is_some_and(|x| x.starts_with("F=0x0")),
            }
        })
        .collect();
    (tb, rows)
}

/// Our Annex B packet laid out the way ffmpeg's `h264_mp4toannexb` / `hevc_mp4toannexb` do it,
/// without touching any NAL unit: parameter sets that precede the first slice go right before
/// that slice (ffmpeg inserts them there, after any SEI; nvdx puts them first), and start
/// codes are 4 bytes for HEVC, and for H.264 4 bytes for the first NAL unit and parameter sets,
/// 3 bytes for the others (nvdx always writes 4).
fn ffmpeg_layout(codec: Codec, data: &[u8]) -> Vec<u8> {
    let is_vcl = |n: &[u8]| match (codec, annexb::nal_type(codec, n)) {
        (Codec::Hevc, Some(t)) => t < 32,
        (_, Some(t)) => (1..=5).contains(&t),
        _ => false,
    };
    let nals: Vec<&[u8]> = split_annexb(data).collect();
    let first_vcl = nals.iter().position(|n| is_vcl(n)).unwrap_or(nals.len());
    let (head, tail) = nals.split_at(first_vcl);
    let ps = head.iter().filter(|n| annexb::is_parameter_set(codec, n));
    let other = head.iter().filter(|n| !annexb::is_parameter_set(codec, n));
    let mut out = Vec::new();
    for nal in other.chain(ps).chain(tail.iter()) {
        if codec == Codec::Hevc || out.is_empty() || annexb::is_parameter_set(codec, nal) {
            out.push(0);
        }
        out.extend_from_slice(&[0, 0, 1]);
        out.extend_from_slice(nal);
    }
    out
}

#[test]
fn matroska_packets_match_ffmpeg_byte_for_byte() {
    for name in MKV_FIXTURES {
        let mut d = open(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.info().container, Container::Matroska, "{name}");
        let ts = d.info().timescale;
        let (tb, want) = framecrc(name);
        let codec = d.info().codec;
        let got: Vec<CrcRow> = all_packets(d.as_mut())
            .iter()
            .map(|p| {
                let data = if matches!(codec, Codec::H264 | Codec::Hevc) {
                    ffmpeg_layout(codec, &p.data)
                } else {
                    p.data.clone()
                };
                CrcRow {
                    pts: rescale(p.pts, ts, tb),
                    size: data.len(),
                    crc: adler32(&data),
                    key: p.keyframe,
                }
            })
            .collect();
        assert_eq!(got.len(), want.len(), "{name}: packet count");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g, w, "{name}: packet {i} differs from ffmpeg's");
        }
    }
}

#[test]
fn matroska_info_and_seeking() {
    let d = open(fixture("h264.mkv")).unwrap();
    let i = d.info();
    assert_eq!(i.timescale, 1000);
    assert_eq!(i.frame_rate, Some((30, 1)));
    assert_eq!((i.width, i.height), (128, 72));
    assert_eq!(
        i.colour,
        Some(ColourInfo {
            primaries: Some(1),
            transfer: Some(1),
            matrix: Some(1),
            full_range: Some(false),
        })
    );
    let dur = i.duration_seconds.unwrap();
    assert!((dur - 1.0).abs() < 0.01, "{dur}");
    assert!(!i.parameter_sets.is_empty());
    // No Colour element; x265's SPS VUI states limited range and no colour description.
    assert_eq!(
        open(fixture("hevc.mkv")).unwrap().info().colour,
        Some(ColourInfo {
            full_range: Some(false),
            ..ColourInfo::default()
        })
    );
    // (MPEG-2 and MJPEG: see `mpeg2_elementary_stream_matches_ffmpegs_parser` and
    // `mjpeg_every_sample_is_a_keyframe`.)
    for f in MKV_FIXTURES
        .iter()
        .filter(|f| !f.starts_with("av1") && !f.starts_with("mpeg2") && !f.starts_with("mjpeg"))
    {
        assert_eq!(keyframes_of(f), [0, 10, 20], "{f}");
    }
    assert_eq!(keyframes_of("av1.webm")[0], 0);
    // B-frames: decode order differs from display order, and the display order gives the
    // pictures 1/30 s apart; seeking to a keyframe and reading on gives the same packets.
    for f in [
        "h264.mkv",
        "hevc.mkv",
        "h264_nocues.mkv",
        "h264_blockgroups.mkv",
    ] {
        let mut d = open(fixture(f)).unwrap();
        let s = d.samples().unwrap().to_vec();
        let order = d.display_order();
        assert_ne!(order, (0..30).collect::<Vec<_>>(), "{f}");
        for (n, &k) in order.iter().enumerate() {
            assert_eq!(rescale(s[k].pts, 1000, 30), n as i64, "{f} display {n}");
        }
        let all = all_packets(d.as_mut());
        let target = order[17];
        let key = d.keyframe_before(target).unwrap();
        assert_eq!(key, 10, "{f}");
        d.seek(key).unwrap();
        for want in &all[key..=target] {
            assert_eq!(&d.next_packet().unwrap().unwrap(), want, "{f}");
        }
    }
    // The same encode with and without Cues/SimpleBlocks indexes the same samples.
    let a = all_packets(open(fixture("h264_blockgroups.mkv")).unwrap().as_mut());
    let b = open(fixture("h264_blockgroups.mkv")).unwrap();
    assert_eq!(a.len(), b.samples().unwrap().len());
}

/// MP4 with two video tracks, audio and subtitles: the list, ffmpeg's default choice (the
/// enabled track, then the larger one), and an explicit choice.
#[test]
fn mp4_two_video_tracks() {
    let d = open(fixture("two_video_tracks.mp4")).unwrap();
    let t = d.video_tracks();
    assert_eq!(t.len(), 2, "{t:?}");
    assert_eq!((t[0].width, t[0].height, t[0].enabled), (320, 180, true));
    assert_eq!((t[1].width, t[1].height, t[1].enabled), (480, 270, false));
    assert!(t[0].selected && !t[1].selected);
    assert_eq!((d.info().width, d.info().height), (320, 180));
    let both = open(fixture("two_video_tracks_both_enabled.mp4")).unwrap();
    assert!(both.video_tracks()[1].selected);
    assert_eq!((both.info().width, both.info().height), (480, 270));
    let n = t[1].number;
    let mut other = Demuxer::open_track(fixture("two_video_tracks.mp4"), n).unwrap();
    assert_eq!((other.info().width, other.info().height), (480, 270));
    assert!(other.video_tracks()[1].selected);
    let p = other.next_packet().unwrap().unwrap();
    let sps = split_annexb(&p.data)
        .find(|n| annexb::is_sps(Codec::H264, n))
        .unwrap();
    assert_eq!(parse_h264_sps(sps).unwrap().width, 480);
    assert!(matches!(
        Demuxer::open_track(fixture("two_video_tracks.mp4"), 99),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn matroska_two_video_tracks() {
    let d = open(fixture("two_tracks.mkv")).unwrap();
    let t = d.video_tracks().to_vec();
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].number, t[0].width, t[0].height), (1, 128, 72));
    assert_eq!((t[1].number, t[1].width, t[1].height), (2, 64, 64));
    assert!(!t[0].default && t[1].default);
    // ffmpeg picks the default-flagged track over the larger one.
    assert!(!t[0].selected && t[1].selected);
    assert_eq!((d.info().width, d.info().height), (64, 64));
    assert_eq!(t[0].codec, Some(Codec::H264));
    let mut other = Demuxer::open_track(fixture("two_tracks.mkv"), 1).unwrap();
    assert_eq!((other.info().width, other.info().height), (128, 72));
    assert!(other.video_tracks()[0].selected);
    let p = other.next_packet().unwrap().unwrap();
    let sps = split_annexb(&p.data)
        .find(|n| annexb::is_sps(Codec::H264, n))
        .unwrap();
    assert_eq!(parse_h264_sps(sps).unwrap().width, 128);
    let m = Demuxer::from_bytes_track(read_fixture("two_tracks.mkv"), 2).unwrap();
    assert_eq!(m.info(), d.info());
    assert!(matches!(
        Demuxer::open_track(fixture("two_tracks.mkv"), 3),
        Err(Error::InvalidArgument(_))
    ));
    // MP4 tracks are chosen by track id; Annex B has a single stream.
    assert!(Demuxer::open_track(fixture("sample.mp4"), 1).is_ok());
    assert!(Demuxer::open_track(fixture("sample.mp4"), 7).is_err());
    assert!(Demuxer::open_track(fixture("h264.264"), 1).is_err());
    assert!(open(fixture("sample.mp4"))
        .unwrap()
        .video_tracks()
        .is_empty());
}

/// A minimal Matroska writer for the tests: EBML elements with 8-byte sizes.
fn el(id: u32, body: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = id
        .to_be_bytes()
        .iter()
        .copied()
        .skip_while(|&b| b == 0)
        .collect();
    v.push(0x01);
    v.extend_from_slice(&(body.len() as u64).to_be_bytes()[1..]);
    v.extend_from_slice(body);
    v
}

fn el_uint(id: u32, x: u64) -> Vec<u8> {
    el(id, &x.to_be_bytes())
}

/// How the test writer stores a group of frames.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Lacing {
    Xiph,
    Ebml,
    Fixed,
    /// A BlockGroup holding an EBML-laced Block and a BlockDuration.
    GroupEbml,
}

/// A Cues-less file of one `codec_id` track whose frames are stored `group` to a block.
fn build_mkv(
    codec_id: &str,
    private: &[u8],
    frames: &[Vec<u8>],
    keys: &[bool],
    group: usize,
    lacing: Lacing,
) -> Vec<u8> {
    let ebml = el(
        0x1A45_DFA3,
        &[el(0x4282, b"matroska"), el_uint(0x4287, 4)].concat(),
    );
    let info = el(0x1549_A966, &el_uint(0x2A_D7B1, 1_000_000));
    let video = el(0xE0, &[el_uint(0xB0, 64), el_uint(0xBA, 48)].concat());
    let track = el(
        0xAE,
        &[
            el_uint(0xD7, 1),
            el_uint(0x83, 1),
            el(0x86, codec_id.as_bytes()),
            el(0x63A2, private),
            el_uint(0x23_E383, 33_333_333),
            video,
        ]
        .concat(),
    );
    let tracks = el(0x1654_AE6B, &track);
    let mut clusters = Vec::new();
    for (g, chunk) in frames.chunks(group).enumerate() {
        let mut block = vec![0x81, 0, 0];
        let code = match lacing {
            Lacing::Xiph => 1,
            Lacing::Fixed => 2,
            Lacing::Ebml | Lacing::GroupEbml => 3,
        };
        let key = keys[g * group];
        block.push(
            (code << 1)
                | if key && lacing != Lacing::GroupEbml {
                    0x80
                } else {
                    0
                },
        );
        block.push((chunk.len() - 1) as u8);
        let sizes: Vec<usize> = chunk.iter().map(Vec::len).collect();
        match lacing {
            Lacing::Xiph => {
                for &s in &sizes[..sizes.len() - 1] {
                    block.extend(std::iter::repeat_n(255u8, s / 255));
                    block.push((s % 255) as u8);
                }
            }
            Lacing::Fixed => {}
            Lacing::Ebml | Lacing::GroupEbml => {
                if sizes.len() > 1 {
                    block.extend_from_slice(&[0x40 | (sizes[0] >> 8) as u8, sizes[0] as u8]);
                    for w in sizes[..sizes.len() - 1].windows(2) {
                        let diff = w[1] as i64 - w[0] as i64 + 0x1FFF; // 2-byte signed vint
                        block.extend_from_slice(&[0x40 | (diff >> 8) as u8, diff as u8]);
                    }
                }
            }
        }
        for f in chunk {
            block.extend_from_slice(f);
        }
        let ts = el_uint(0xE7, (g * group) as u64 * 33);
        let b = if lacing == Lacing::GroupEbml {
            let mut body = el(0xA1, &block);
            body.extend(el_uint(0x9B, 33 * chunk.len() as u64));
            if !key {
                body.extend(el_uint(0xFB, 1));
            }
            el(0xA0, &body)
        } else {
            el(0xA3, &block)
        };
        clusters.extend(el(0x1F43_B675, &[ts, b].concat()));
    }
    // Segment of unknown size: 0x01 followed by seven 0xFF bytes.
    let mut seg = vec![
        0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ];
    seg.extend([info, tracks, clusters].concat());
    [ebml, seg].concat()
}

#[test]
fn matroska_lacing_and_block_groups() {
    // VP9 frames of the WebM fixture, five to a laced block (keyframes 0, 10, 20 start one).
    let mut src = open(fixture("vp9.webm")).unwrap();
    let packets = all_packets(src.as_mut());
    let frames: Vec<Vec<u8>> = packets.iter().map(|p| p.data.clone()).collect();
    let keys: Vec<bool> = packets.iter().map(|p| p.keyframe).collect();
    for lacing in [Lacing::Xiph, Lacing::Ebml, Lacing::GroupEbml] {
        let bytes = build_mkv("V_VP9", &[], &frames, &keys, 5, lacing);
        let mut d = from_bytes(bytes).unwrap_or_else(|e| panic!("{lacing:?}: {e}"));
        assert_eq!((d.info().width, d.info().height), (64, 48));
        let got = all_packets(d.as_mut());
        assert_eq!(got.len(), frames.len(), "{lacing:?}");
        for (i, p) in got.iter().enumerate() {
            assert_eq!(p.data, frames[i], "{lacing:?} #{i}");
            // Laced frames after the first: block time plus the lace's share of the duration.
            assert_eq!(
                p.pts,
                (i / 5 * 5) as i64 * 33 + (i % 5) as i64 * 33,
                "{lacing:?} #{i}"
            );
            assert_eq!(p.keyframe, keys[i] && i % 5 == 0, "{lacing:?} #{i}");
        }
        assert_eq!(d.keyframes(), [0, 10, 20], "{lacing:?}");
    }
    // Fixed-size lacing needs equal frames: synthetic ones.
    let frames: Vec<Vec<u8>> = (0..12u8).map(|i| vec![i; 40]).collect();
    let keys = vec![true; 12];
    let mut d = from_bytes(build_mkv("V_AV1", &[], &frames, &keys, 4, Lacing::Fixed)).unwrap();
    let got = all_packets(d.as_mut());
    assert_eq!(
        got.iter().map(|p| p.data.clone()).collect::<Vec<_>>(),
        frames
    );
    assert_eq!(d.keyframes(), [0, 4, 8]);
    // AVCC samples in a laced, Cues-less file still become Annex B with parameter sets.
    let mut h = open(fixture("h264.mkv")).unwrap();
    let sps_pps = h.info().parameter_sets.clone();
    let annexb_packets = all_packets(h.as_mut());
    let avcc: Vec<Vec<u8>> = annexb_packets
        .iter()
        .map(|p| {
            let au: Vec<u8> = split_annexb(&p.data)
                .filter(|n| !annexb::is_parameter_set(Codec::H264, n))
                .flat_map(|n| [&(n.len() as u32).to_be_bytes()[..], n].concat())
                .collect();
            au
        })
        .collect();
    let keys: Vec<bool> = annexb_packets.iter().map(|p| p.keyframe).collect();
    let record = {
        let nals: Vec<&[u8]> = split_annexb(&sps_pps).collect();
        let mut r = vec![1, nals[0][1], nals[0][2], nals[0][3], 0xFF, 0xE1];
        r.extend_from_slice(&(nals[0].len() as u16).to_be_bytes());
        r.extend_from_slice(nals[0]);
        r.push(1);
        r.extend_from_slice(&(nals[1].len() as u16).to_be_bytes());
        r.extend_from_slice(nals[1]);
        r
    };
    let bytes = build_mkv("V_MPEG4/ISO/AVC", &record, &avcc, &keys, 10, Lacing::Xiph);
    let mut d = from_bytes(bytes).unwrap();
    let got = all_packets(d.as_mut());
    assert_eq!(got.len(), 30);
    for (g, w) in got.iter().zip(&annexb_packets) {
        assert_eq!(g.data, w.data);
    }
}

#[test]
fn matroska_hostile_input() {
    let good = build_mkv(
        "V_VP9",
        &[],
        &[vec![1; 10], vec![2; 20]],
        &[true, false],
        2,
        Lacing::Xiph,
    );
    assert!(from_bytes(good.clone()).is_ok());
    let lace_at = good.len() - 30 - 2; // lace count byte, then the Xiph size of frame 0
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // Lace size larger than the block.
        (
            {
                let mut b = good.clone();
                b[lace_at + 1] = 200;
                b
            },
            "exceed",
        ),
        // Lace count past the block.
        (
            {
                let mut b = good.clone();
                b[lace_at] = 255;
                b
            },
            "truncated",
        ),
        // Unsupported codec, wrong DocType.
        (
            build_mkv("V_MPEG1", &[], &[vec![1; 4]], &[true], 1, Lacing::Xiph),
            "not supported",
        ),
        // MPEG-2 without a sequence header, in CodecPrivate or in the first frame.
        (
            build_mkv("V_MPEG2", &[], &[vec![1; 4]], &[true], 1, Lacing::Xiph),
            "sequence header",
        ),
        (
            {
                let mut b = good.clone();
                b[22..30].copy_from_slice(b"matrosky");
                b
            },
            "DocType",
        ),
        // No frames at all.
        (
            build_mkv("V_VP9", &[], &[], &[], 1, Lacing::Xiph),
            "no frames",
        ),
        // A header with an element size of 2^56 - 2.
        (
            [
                &good[..good.len() - 40],
                &[0xA3, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE],
            ]
            .concat(),
            "",
        ),
        // An invalid element ID (first byte 0) as the first element.
        (vec![0x00, 0x45, 0xDF, 0xA3, 0x80], ""),
        (vec![0x1A, 0x45, 0xDF, 0xA3], "truncated"),
        (vec![0x1A, 0x45, 0xDF, 0xA3, 0x00], "8 bytes"),
    ];
    for (i, (bytes, what)) in cases.into_iter().enumerate() {
        match from_bytes(bytes) {
            Ok(mut d) => {
                // Only the truncated-at-the-end cases may open, with what was complete.
                assert!(what.is_empty(), "case {i} opened");
                let _ = all_packets(d.as_mut());
            }
            Err(e) => {
                let m = e.to_string();
                assert!(m.contains(what), "case {i}: {m}");
            }
        }
    }
}

/// Positions of `pat` in `b`.
fn find_all(b: &[u8], pat: &[u8]) -> Vec<usize> {
    (0..b.len().saturating_sub(pat.len()))
        .filter(|&i| b[i..].starts_with(pat))
        .collect()
}

#[test]
fn matroska_unknown_size_clusters_and_timestamp_scale() {
    let mut src = open(fixture("vp9.webm")).unwrap();
    let packets = all_packets(src.as_mut());
    let frames: Vec<Vec<u8>> = packets.iter().map(|p| p.data.clone()).collect();
    let keys: Vec<bool> = packets.iter().map(|p| p.keyframe).collect();
    let mut bytes = build_mkv("V_VP9", &[], &frames, &keys, 1, Lacing::Xiph);
    // Every Cluster of unknown size (as live muxers write them): each ends where the next
    // Cluster starts.
    let clusters = find_all(&bytes, &[0x1F, 0x43, 0xB6, 0x75, 0x01]);
    assert_eq!(clusters.len(), 30);
    for c in clusters {
        bytes[c + 5..c + 12].fill(0xFF);
    }
    // TimestampScale 333,333 ns, which does not divide 1e9: 1e9 ticks per second.
    let ts = find_all(&bytes, &[0x2A, 0xD7, 0xB1, 0x01]);
    assert_eq!(ts.len(), 1);
    bytes[ts[0] + 11..ts[0] + 19].copy_from_slice(&333_333u64.to_be_bytes());
    // No DefaultDuration (its ID renamed to an unknown one): the frame rate comes from the
    // distance between pictures, 33 units of 333,333 ns.
    let dd = find_all(&bytes, &[0x23, 0xE3, 0x83]);
    assert_eq!(dd.len(), 1);
    bytes[dd[0] + 2] = 0x84;
    let mut d = from_bytes(bytes).unwrap();
    assert_eq!(d.info().timescale, 1_000_000_000);
    let (num, den) = d.info().frame_rate.unwrap();
    assert_eq!(
        u64::from(den) * 1_000_000_000,
        33 * 333_333 * u64::from(num)
    );
    let got = all_packets(d.as_mut());
    assert_eq!(got.len(), 30);
    for (i, p) in got.iter().enumerate() {
        assert_eq!(p.data, frames[i], "#{i}");
        assert_eq!(p.pts, i as i64 * 33 * 333_333, "#{i}");
    }
    assert_eq!(d.keyframes(), [0, 10, 20]);
}

/// Each tagged fixture's colour description, as ffprobe reports it (`-show_entries
/// stream=color_range,color_space,color_primaries,color_transfer`): from the SPS VUI, from the
/// MP4 `colr` box when the SPS says nothing, from Matroska's `Colour` element; and the
/// conversion nvdx derives from it.
#[test]
fn colour_descriptions_follow_the_stream() {
    use crate::colour::{ColourMatrix, ColourRange};
    // (file, primaries, transfer, matrix, full range, conversion matrix, conversion range)
    let cases: [(&str, u8, u8, u8, bool, ColourMatrix, ColourRange); 15] = [
        (
            "colour_bt601_limited.264",
            6,
            6,
            6,
            false,
            ColourMatrix::Bt601,
            ColourRange::Limited,
        ),
        (
            "colour_bt601_full.264",
            5,
            6,
            5,
            true,
            ColourMatrix::Bt601,
            ColourRange::Full,
        ),
        (
            "colour_bt709_limited.264",
            1,
            1,
            1,
            false,
            ColourMatrix::Bt709,
            ColourRange::Limited,
        ),
        (
            "colour_bt709_full.264",
            1,
            1,
            1,
            true,
            ColourMatrix::Bt709,
            ColourRange::Full,
        ),
        (
            "colour_bt2020_limited.264",
            9,
            14,
            9,
            false,
            ColourMatrix::Bt2020,
            ColourRange::Limited,
        ),
        (
            "colour_bt2020_full.264",
            9,
            14,
            9,
            true,
            ColourMatrix::Bt2020,
            ColourRange::Full,
        ),
        (
            "colour_hevc_bt601_limited.265",
            6,
            6,
            6,
            false,
            ColourMatrix::Bt601,
            ColourRange::Limited,
        ),
        (
            "colour_hevc_bt601_full.265",
            5,
            6,
            5,
            true,
            ColourMatrix::Bt601,
            ColourRange::Full,
        ),
        (
            "colour_hevc_bt709_limited.265",
            1,
            1,
            1,
            false,
            ColourMatrix::Bt709,
            ColourRange::Limited,
        ),
        (
            "colour_hevc_bt709_full.265",
            1,
            1,
            1,
            true,
            ColourMatrix::Bt709,
            ColourRange::Full,
        ),
        (
            "colour_hevc_bt2020_limited.265",
            9,
            14,
            9,
            false,
            ColourMatrix::Bt2020,
            ColourRange::Limited,
        ),
        (
            "colour_hevc_bt2020_full.265",
            9,
            14,
            9,
            true,
            ColourMatrix::Bt2020,
            ColourRange::Full,
        ),
        (
            "colour_av1_bt709_full.ivf",
            1,
            1,
            1,
            true,
            ColourMatrix::Bt709,
            ColourRange::Full,
        ),
        (
            "colour_colr_bt709_full.mp4",
            1,
            1,
            1,
            true,
            ColourMatrix::Bt709,
            ColourRange::Full,
        ),
        (
            "h264.mkv",
            1,
            1,
            1,
            false,
            ColourMatrix::Bt709,
            ColourRange::Limited,
        ),
    ];
    for (name, p, t, m, full, matrix, range) in cases {
        let d = open(fixture(name)).unwrap();
        let c = d
            .info()
            .colour
            .unwrap_or_else(|| panic!("{name}: no colour description"));
        assert_eq!(
            (c.primaries, c.transfer, c.matrix, c.full_range),
            (Some(p), Some(t), Some(m), Some(full)),
            "{name}"
        );
        let space = c.description().conversion_space(176, 144);
        assert_eq!((space.matrix, space.range), (matrix, range), "{name}");
    }
    // The HEVC VUI's timing: x265 states 30 fps (the SPS's frame rate was not read before).
    let es = std::fs::read(fixture("colour_hevc_bt709_full.265")).unwrap();
    let sps = split_annexb(&es)
        .find(|n| super::annexb::is_sps(Codec::Hevc, n))
        .unwrap();
    let info = super::parse_hevc_sps(sps).unwrap();
    assert_eq!(
        (info.width, info.height, info.frame_rate),
        (176, 144, Some((30, 1)))
    );
    // VP9 in Matroska reads the keyframe header's colour as IVF does (the same stream).
    let webm = open(fixture("vp9.webm")).unwrap().info().colour;
    assert!(webm.is_some(), "vp9.webm: no colour from the VP9 header");
    assert_eq!(webm, open(fixture("vp9.ivf")).unwrap().info().colour);
    // AV1 always states its range (color_config's color_range); libaom writes no colour
    // description. av1.webm has no Colour element: both come from the sequence header (in
    // av1C's configOBUs).
    for name in ["av1.ivf", "av1.webm"] {
        assert_eq!(
            open(fixture(name)).unwrap().info().colour,
            Some(ColourInfo {
                full_range: Some(false),
                ..ColourInfo::default()
            }),
            "{name}"
        );
    }
    // A sequence header in a temporal unit and in av1C alike; garbage and truncated ones give
    // no colour.
    let tagged = std::fs::read(fixture("colour_av1_bt709_full.ivf")).unwrap();
    let tu = &tagged[32 + 12..];
    let c = super::ivf::av1_colour(tu).unwrap();
    assert_eq!((c.matrix, c.full_range), (Some(1), Some(true)));
    assert_eq!(super::ivf::av1_colour(&tu[..4]), None);
    assert_eq!(super::ivf::av1_colour(&[0xff; 16]), None);
    // Untagged streams say nothing (the caller's or the size-based default applies).
    for name in ["h264.264", "h264_bframes.mp4"] {
        assert_eq!(open(fixture(name)).unwrap().info().colour, None, "{name}");
    }
}

/// The MP4 `colr` parser: `nclx` with the full-range bit, QuickTime's `nclc` without, and ICC
/// profiles ignored; truncated boxes are errors, not panics.
#[test]
fn colr_boxes() {
    let nclx = [b'n', b'c', b'l', b'x', 0, 9, 0, 16, 0, 9, 0x80];
    let c = super::mp4::parse_colr_for_tests(&nclx).unwrap().unwrap();
    assert_eq!(
        (c.primaries, c.transfer, c.matrix, c.full_range),
        (Some(9), Some(16), Some(9), Some(true))
    );
    let nclc = [b'n', b'c', b'l', b'c', 0, 1, 0, 1, 0, 6];
    let c = super::mp4::parse_colr_for_tests(&nclc).unwrap().unwrap();
    assert_eq!((c.matrix, c.full_range), (Some(6), None));
    assert_eq!(super::mp4::parse_colr_for_tests(b"rICCxxxx").unwrap(), None);
    assert!(super::mp4::parse_colr_for_tests(b"nclx\0\x01").is_err());
}

/// SPS cropping on all four sides (`h264_metadata`/`hevc_metadata` crop 26 left/right, 60
/// top/bottom of 352x288): the displayed area is 300x168 at (26, 60), and the decoder's SPS
/// scan finds the same offsets in the first access unit.
#[test]
fn left_and_top_cropping() {
    for (name, codec) in [
        ("h264_crop_left_top.264", Codec::H264),
        ("hevc_crop_left_top.265", Codec::Hevc),
    ] {
        let mut d = open(fixture(name)).unwrap();
        assert_eq!((d.info().width, d.info().height), (300, 168), "{name}");
        let sps = split_annexb(&d.info().parameter_sets)
            .find(|n| annexb::is_sps(codec, n))
            .unwrap_or_else(|| panic!("{name}: no SPS"));
        let s = parse_sps(codec, sps).unwrap();
        assert_eq!(
            (s.crop_left, s.crop_top, s.width, s.height),
            (26, 60, 300, 168),
            "{name}"
        );
        let first = d.next_packet().unwrap().unwrap();
        let c = crate::decode::scan_sps_crop_for_tests(codec, &first.data)
            .unwrap_or_else(|| panic!("{name}: the decoder's scan found no SPS"));
        assert_eq!(c, (26, 60, 300, 168), "{name}");
    }
    // Uncropped streams scan to a zero offset; VP9 is never scanned.
    let mut d = open(fixture("h264.264")).unwrap();
    let first = d.next_packet().unwrap().unwrap();
    let c = crate::decode::scan_sps_crop_for_tests(Codec::H264, &first.data).unwrap();
    assert_eq!((c.0, c.1), (0, 0));
    assert_eq!(
        crate::decode::scan_sps_crop_for_tests(Codec::Vp9, &first.data),
        None
    );
}

// ---- MPEG-2 video and Motion JPEG ----

/// The sequence header and sequence extension of `mpeg2.m2v` (96x64, 30 fps, 4:2:0).
const M2V_SEQ: [u8; 22] = [
    0, 0, 1, 0xB3, 0x06, 0x00, 0x40, 0x15, 0xFF, 0xFF, 0xE0, 0x18, 0, 0, 1, 0xB5, 0x14, 0x8A, 0x00,
    0x01, 0x00, 0x00,
];
const M2V_GOP: [u8; 8] = [0, 0, 1, 0xB8, 0x00, 0x08, 0x00, 0x40];

/// A picture header (`temporal_reference`, `picture_coding_type`), a picture coding extension
/// with `picture_structure` (3: frame, 1/2: top/bottom field) and one short slice.
fn m2v_picture(tr: u32, ty: u32, structure: u8) -> Vec<u8> {
    let v = (tr << 22) | (ty << 19) | (0xFFFF << 3);
    let mut b = vec![0, 0, 1, 0];
    b.extend_from_slice(&v.to_be_bytes());
    b.extend_from_slice(&[0, 0, 1, 0xB5, 0x8F, 0xFF, 0xF0 | structure, 0x41, 0x80]);
    b.extend_from_slice(&[0, 0, 1, 0x01, 0x12, 0x34, 0x56, 0x78]);
    b
}

#[test]
fn mpeg2_elementary_stream_matches_ffmpegs_parser() {
    let mut d = open(fixture("mpeg2.m2v")).unwrap();
    let info = d.info().clone();
    assert_eq!(info.container, Container::Mpeg2Video);
    assert_eq!(info.codec, Codec::Mpeg2);
    assert_eq!((info.width, info.height), (96, 64));
    assert_eq!((info.timescale, info.frame_rate), (30, Some((30, 1))));
    assert_eq!(info.chroma, ChromaFormat::Yuv420);
    assert_eq!(
        info.parameter_sets, M2V_SEQ,
        "sequence header and extension"
    );
    assert_eq!(d.keyframes(), &[0, 4, 10]);
    let packets = all_packets(d.as_mut());
    // ffmpeg's MPEG video parser cuts the same packets, byte for byte.
    let (_, want) = framecrc("mpeg2.m2v");
    assert_eq!(packets.len(), want.len());
    for (i, (p, w)) in packets.iter().zip(&want).enumerate() {
        assert_eq!(
            (p.data.len(), adler32(&p.data), p.keyframe),
            (w.size, w.crc, w.key),
            "packet {i}"
        );
    }
    // The same bitstream in MP4 and Matroska: the same packets, the same display order, and
    // the same presentation times (from the containers there, from temporal_reference here).
    let rel30 = |d: &dyn Demux| -> Vec<i64> {
        let s = d.samples().unwrap();
        let ts = d.info().timescale;
        s.iter()
            .map(|x| rescale(x.pts - s[0].pts, ts, 30))
            .collect()
    };
    for other in ["mpeg2.mp4", "mpeg2.mkv"] {
        let mut o = open(fixture(other)).unwrap();
        let i = o.info().clone();
        assert_eq!(
            (i.codec, i.width, i.height),
            (Codec::Mpeg2, 96, 64),
            "{other}"
        );
        assert_eq!(i.parameter_sets, M2V_SEQ, "{other}");
        assert_eq!(o.keyframes(), d.keyframes(), "{other}");
        assert_eq!(o.display_order(), d.display_order(), "{other}");
        assert_eq!(rel30(o.as_ref()), rel30(d.as_ref()), "{other}");
        let op = all_packets(o.as_mut());
        for (k, (a, b)) in op.iter().zip(&packets).enumerate() {
            assert_eq!(a.data, b.data, "{other} packet {k}");
        }
    }
    // Leading B-pictures of the open GOP at decode index 10 (display 11) come after it in
    // decode order but before it in display order.
    let s = d.samples().unwrap();
    assert!(s[11].pts < s[10].pts && s[10].keyframe);
    // ffmpeg decodes the three files to the same pictures, and the raw reference holds them.
    let hashes = framemd5_hashes("mpeg2.m2v");
    assert_eq!(hashes.len(), 12);
    assert_eq!(framemd5_hashes("mpeg2.mp4"), hashes);
    assert_eq!(framemd5_hashes("mpeg2.mkv"), hashes);
    assert_eq!(read_fixture("mpeg2.yuv").len(), 12 * 96 * 64 * 3 / 2);
}

#[test]
fn mpeg2_synthetic_streams() {
    let es = |parts: &[&[u8]]| parts.concat();
    let i_frame = m2v_picture(0, 1, 3);
    // Two field pictures are one packet; the next frame another.
    let b = es(&[
        &M2V_SEQ,
        &M2V_GOP,
        &m2v_picture(0, 1, 1),
        &m2v_picture(0, 2, 2),
        &m2v_picture(1, 2, 3),
    ]);
    let d = from_bytes(b.clone()).unwrap();
    let s = d.samples().unwrap().to_vec();
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[0].offset, s[1].offset + u64::from(s[1].size)),
        (0, b.len() as u64)
    );
    assert_eq!(s[0].size, s[1].offset as u32);
    assert_eq!(d.keyframes(), &[0]);
    assert_eq!((s[0].pts, s[1].pts), (0, 1));
    // A keyframe with a GOP header but no sequence header gets the stream's in front; an I
    // picture with neither is not a keyframe; a sequence end code stays with its picture.
    let b = es(&[
        &M2V_SEQ,
        &M2V_GOP,
        &i_frame,
        &M2V_GOP,
        &i_frame,
        &i_frame,
        &[0, 0, 1, 0xB7],
    ]);
    let mut d = from_bytes(b.clone()).unwrap();
    assert_eq!(d.keyframes(), &[0, 1]);
    let p1 = d.read_packet(1).unwrap();
    let stored = [&M2V_GOP[..], &i_frame].concat();
    assert_eq!(p1.data, [&M2V_SEQ[..], &stored].concat());
    assert_eq!(d.samples().unwrap()[1].size as usize, stored.len());
    let p2 = d.read_packet(2).unwrap();
    assert_eq!(p2.data, [&i_frame[..], &[0, 0, 1, 0xB7]].concat());
    // Display order restarts at each GOP header: pts 0, then 1 and 2 in the second GOP.
    let pts: Vec<i64> = d.samples().unwrap().iter().map(|s| s.pts).collect();
    assert_eq!(pts, [0, 1, 2]);
    // B-pictures: I0 P3 B1 B2 -> display I0 B1 B2 P3, decode times shifted back.
    let b = es(&[
        &M2V_SEQ,
        &M2V_GOP,
        &m2v_picture(0, 1, 3),
        &m2v_picture(3, 2, 3),
        &m2v_picture(1, 3, 3),
        &m2v_picture(2, 3, 3),
    ]);
    let d = from_bytes(b).unwrap();
    let s = d.samples().unwrap();
    let pts: Vec<i64> = s.iter().map(|s| s.pts).collect();
    assert_eq!(pts, [0, 3, 1, 2]);
    assert!(s.iter().all(|s| s.dts <= s.pts));
    assert_eq!(d.display_order(), [0, 2, 3, 1]);
    // Hostile temporal references (duplicates, out of range): distinct pts, no panic.
    let b = es(&[
        &M2V_SEQ,
        &m2v_picture(1023, 1, 3),
        &m2v_picture(5, 2, 3),
        &m2v_picture(5, 3, 3),
        &m2v_picture(0, 3, 3),
    ]);
    let d = from_bytes(b).unwrap();
    let mut pts: Vec<i64> = d.samples().unwrap().iter().map(|s| s.pts).collect();
    pts.sort_unstable();
    pts.dedup();
    assert_eq!(pts.len(), 4);
    // MPEG-1 (no sequence extension) and program streams are unsupported; no sequence
    // header, a zero size or no picture is invalid.
    let mpeg1 = es(&[&M2V_SEQ[..12], &M2V_GOP, &i_frame]);
    let ps = [
        &[0u8, 0, 1, 0xBA, 0x44, 0, 4, 0, 4, 1][..],
        &M2V_SEQ,
        &i_frame,
    ]
    .concat();
    let mut zero = M2V_SEQ.to_vec();
    zero[4..7].fill(0);
    for (b, unsupported, what) in [
        (mpeg1, true, "MPEG-1"),
        (ps, true, "program stream"),
        (
            es(&[&M2V_GOP, &i_frame, &[0, 0, 1, 0xB3]]),
            false,
            "truncated",
        ),
        (es(&[&zero, &i_frame]), false, "0x0"),
        (es(&[&M2V_SEQ, &M2V_GOP]), false, "no pictures"),
    ] {
        let e = from_bytes(b).err().expect(what);
        assert_eq!(
            matches!(e, Error::Unsupported(_)),
            unsupported,
            "{what}: {e}"
        );
        assert!(e.to_string().contains(what), "{what}: {e}");
    }
}

#[test]
fn mjpeg_every_sample_is_a_keyframe() {
    let mut mov = open(fixture("mjpeg.mov")).unwrap();
    let mut mkv = open(fixture("mjpeg.mkv")).unwrap();
    for d in [&mov, &mkv] {
        let i = d.info();
        assert_eq!((i.codec, i.width, i.height), (Codec::Mjpeg, 96, 64));
        assert_eq!((i.chroma, i.bit_depth), (ChromaFormat::Yuv420, 8));
        assert_eq!(i.colour.and_then(|c| c.full_range), Some(true));
        assert_eq!(i.colour.and_then(|c| c.matrix), Some(5));
        assert_eq!(d.keyframes(), &[0, 1, 2, 3, 4, 5]);
    }
    let a = all_packets(mov.as_mut());
    let b = all_packets(mkv.as_mut());
    assert_eq!(a.len(), 6);
    for (p, q) in a.iter().zip(&b) {
        assert_eq!(p.data, q.data);
        assert_eq!(&p.data[..2], &[0xFF, 0xD8]);
        assert_eq!(&p.data[p.data.len() - 2..], &[0xFF, 0xD9]);
        let j = mjpeg::jpeg_info(&p.data).unwrap();
        assert_eq!(
            (j.width, j.height, j.chroma),
            (96, 64, ChromaFormat::Yuv420)
        );
    }
    let hashes = framemd5_hashes("mjpeg.mov");
    assert_eq!(hashes.len(), 6);
    assert_eq!(framemd5_hashes("mjpeg.mkv"), hashes);
    assert_eq!(read_fixture("mjpeg.yuv").len(), 6 * 96 * 64 * 3 / 2);
    // Hostile JPEG headers never panic.
    let first = a[0].data.clone();
    for cut in 0..first.len().min(700) {
        let _ = mjpeg::jpeg_info(&first[..cut]);
    }
}

#[test]
fn mp4v_object_types_and_mjpeg_b() {
    let mp4 = read_fixture("mpeg2.mp4");
    let at = find_all(&mp4, b"esds")[0];
    // ES_Descriptor tag 3 at +8, DecoderConfigDescriptor (tag 4) with the OTI after it.
    let oti = at + 8 + find_all(&mp4[at + 8..], &[0x04, 0x80, 0x80, 0x80])[0] + 5;
    assert_eq!(mp4[oti], 0x61, "objectTypeIndication of MPEG-2 Main");
    for (v, what) in [(0x20u8, "MPEG-4 Part 2"), (0x6A, "MPEG-1"), (0xC0, "0xc0")] {
        let mut b = mp4.clone();
        b[oti] = v;
        match from_bytes(b) {
            Err(Error::Unsupported(m)) => assert!(m.contains(what), "{m}"),
            other => panic!("{what}: {:?}", other.map(|d| d.info().codec)),
        }
    }
    let mut b = mp4.clone();
    b[at + 8] = 0x07;
    assert!(matches!(from_bytes(b), Err(Error::InvalidData(_))));
    let mov = read_fixture("mjpeg.mov");
    let mut b = mov.clone();
    let j = find_all(&b, b"jpeg")[0];
    b[j..j + 4].copy_from_slice(b"mjpb");
    assert!(matches!(from_bytes(b), Err(Error::Unsupported(m)) if m.contains("format B")));
    let mut b = mov;
    b[j..j + 4].copy_from_slice(b"mjpa");
    assert_eq!(from_bytes(b).unwrap().info().codec, Codec::Mjpeg);
}

/// `Source::read_into` on a file: random ranges read back the file's bytes (into a reused,
/// poisoned buffer), ranges past the end and a file that shrank while open are errors that
/// leave the buffer empty.
#[test]
fn file_source_reads_ranges_and_reports_a_shrunk_file() {
    let path = std::env::temp_dir().join(format!("nvdx-read-into-{}.bin", std::process::id()));
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let bytes: Vec<u8> = (0..70_000).map(|_| next() as u8).collect();
    std::fs::write(&path, &bytes).expect("write the temporary file");
    let file = File::open(&path).expect("open the temporary file");
    let mut src = Source::File {
        file,
        path: path.display().to_string(),
        len: bytes.len() as u64,
    };
    let mut out = vec![0xa5u8; 100_000];
    for _ in 0..200 {
        let off = next() % bytes.len() as u64;
        let len = next() % (bytes.len() as u64 - off + 1);
        src.read_into(off, len, &mut out).expect("an in-range read");
        assert_eq!(
            out,
            bytes[off as usize..(off + len) as usize],
            "{off} + {len}"
        );
    }
    assert!(src.read_into(69_990, 11, &mut out).is_err());
    assert!(out.is_empty());
    // The file shrinks under the open source: its recorded length is stale.
    std::fs::write(&path, &bytes[..50_000]).expect("truncate the temporary file");
    let e = src
        .read_into(49_990, 20, &mut out)
        .expect_err("a read past the new end");
    assert!(e.to_string().contains("shrank"), "{e}");
    assert!(out.is_empty());
    src.read_into(10, 20, &mut out)
        .expect("a read before the new end");
    assert_eq!(out, bytes[10..30]);
    let _ = std::fs::remove_file(&path);
}
