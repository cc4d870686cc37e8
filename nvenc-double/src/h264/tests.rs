//! CPU tests of the writer: parse the output back with a reader of this exact format, and
//! decode it with ffmpeg where one is installed.

use super::*;

/// Splits Annex B into (nal_ref_idc, nal_type, RBSP with emulation prevention removed).
fn nals(stream: &[u8]) -> Vec<(u8, u8, Vec<u8>)> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(stream.len(), |&n| n - 3);
        while end > s && stream[end - 1] == 0 {
            end -= 1; // the leading zero of the next 4-byte start code
        }
        let payload = &stream[s + 1..end];
        let mut rbsp = Vec::new();
        let mut zeros = 0;
        for &b in payload {
            if zeros >= 2 && b == 3 {
                zeros = 0;
                continue;
            }
            assert!(!(zeros >= 2 && b <= 2), "start code emulation inside a NAL");
            rbsp.push(b);
            zeros = if b == 0 { zeros + 1 } else { 0 };
        }
        out.push((stream[s] >> 5, stream[s] & 0x1f, rbsp));
    }
    out
}

struct Reader<'a> {
    d: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn bit(&mut self) -> u32 {
        let b = (self.d[self.pos / 8] >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        u32::from(b)
    }
    fn u(&mut self, n: u32) -> u32 {
        (0..n).fold(0, |v, _| (v << 1) | self.bit())
    }
    fn ue(&mut self) -> u32 {
        let mut z = 0;
        while self.bit() == 0 {
            z += 1;
        }
        ((1u64 << z) - 1 + u64::from(self.u(z))) as u32
    }
    fn se(&mut self) -> i32 {
        let k = self.ue() as i64;
        (if k % 2 == 1 { (k + 1) / 2 } else { -k / 2 }) as i32
    }
    fn trailing(&mut self) {
        assert_eq!(self.bit(), 1, "rbsp_stop_one_bit");
        while self.pos % 8 != 0 {
            assert_eq!(self.bit(), 0);
        }
        assert_eq!(self.pos / 8, self.d.len(), "bytes after the trailing bits");
    }
}

#[derive(Debug, PartialEq)]
struct Sps {
    profile: u32,
    constraints: u32,
    level: u32,
    poc_type: u32,
    refs: u32,
    mbw: u32,
    mbh: u32,
    crop: Option<(u32, u32, u32, u32)>,
    reorder: u32,
    dec_buf: u32,
}

fn parse_sps(d: &[u8]) -> Sps {
    let mut r = Reader { d, pos: 0 };
    let profile = r.u(8);
    let constraints = r.u(8);
    let level = r.u(8);
    assert_eq!(r.ue(), 0, "sps id");
    assert_eq!(r.ue() + 4, LOG2_MAX_FRAME_NUM);
    let poc_type = r.ue();
    assert_eq!(r.ue() + 4, LOG2_MAX_POC_LSB);
    let refs = r.ue();
    assert_eq!(r.bit(), 0, "gaps allowed");
    let mbw = r.ue() + 1;
    let mbh = r.ue() + 1;
    assert_eq!(r.bit(), 1, "frame_mbs_only");
    assert_eq!(r.bit(), 1, "direct_8x8_inference");
    let crop = (r.bit() == 1).then(|| (r.ue(), r.ue(), r.ue(), r.ue()));
    assert_eq!(r.bit(), 1, "vui present");
    for what in [
        "aspect",
        "overscan",
        "signal",
        "chroma loc",
        "timing",
        "nal hrd",
        "vcl hrd",
    ] {
        assert_eq!(r.bit(), 0, "{what}");
    }
    assert_eq!(r.bit(), 0, "pic_struct_present");
    assert_eq!(r.bit(), 1, "bitstream_restriction");
    assert_eq!(r.bit(), 1);
    assert_eq!((r.ue(), r.ue(), r.ue(), r.ue()), (0, 0, 16, 16));
    let reorder = r.ue();
    let dec_buf = r.ue();
    r.trailing();
    Sps {
        profile,
        constraints,
        level,
        poc_type,
        refs,
        mbw,
        mbh,
        crop,
        reorder,
        dec_buf,
    }
}

/// Parses a slice of I_PCM macroblocks back into tight NV12.
fn parse_picture(seq: &SeqParams, nal_type: u8, ref_idc: u8, d: &[u8]) -> (PicParams, Vec<u8>) {
    let mut r = Reader { d, pos: 0 };
    assert_eq!(r.ue(), 0, "first_mb_in_slice");
    assert_eq!(r.ue(), 7, "slice_type I");
    assert_eq!(r.ue(), 0, "pps id");
    let frame_num = r.u(LOG2_MAX_FRAME_NUM);
    let idr = nal_type == 5;
    let idr_pic_id = if idr { r.ue() } else { 0 };
    let poc_lsb = r.u(LOG2_MAX_POC_LSB);
    if ref_idc != 0 {
        if idr {
            assert_eq!((r.bit(), r.bit()), (0, 0));
        } else {
            assert_eq!(r.bit(), 0);
        }
    }
    assert_eq!(r.se(), 0, "slice_qp_delta");
    assert_eq!(r.ue(), 1, "deblocking off");
    let (w, h) = (seq.width as usize, seq.height as usize);
    let mut out = vec![0u8; w * h * 3 / 2];
    for my in 0..seq.mb_height() as usize {
        for mx in 0..seq.mb_width() as usize {
            assert_eq!(r.ue(), MB_TYPE_I_PCM);
            while r.pos % 8 != 0 {
                assert_eq!(r.bit(), 0, "pcm_alignment_zero_bit");
            }
            for y in 0..16 {
                for x in 0..16 {
                    let v = r.u(8) as u8;
                    let (sx, sy) = (mx * 16 + x, my * 16 + y);
                    if sx < w && sy < h {
                        out[sy * w + sx] = v;
                    }
                }
            }
            for plane in 0..2 {
                for y in 0..8 {
                    for x in 0..8 {
                        let v = r.u(8) as u8;
                        let (sx, sy) = (mx * 8 + x, my * 8 + y);
                        if sx < w / 2 && sy < h / 2 {
                            out[w * h + sy * w + 2 * sx + plane] = v;
                        }
                    }
                }
            }
        }
    }
    r.trailing();
    let pic = PicParams {
        idr,
        reference: ref_idc != 0,
        frame_num,
        idr_pic_id,
        poc_lsb,
    };
    (pic, out)
}

/// A deterministic pseudo-random NV12 picture (xorshift), with runs of zeros so that
/// emulation prevention is exercised.
fn random_nv12(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..(w * h * 3 / 2) as usize)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            if i % 97 < 5 {
                0
            } else {
                s as u8
            }
        })
        .collect()
}

#[test]
fn exp_golomb_and_emulation_prevention() {
    let mut w = BitWriter::default();
    for v in [0, 1, 2, 3, 7, 25, 255, 65535] {
        w.ue(v);
    }
    for v in [0, 1, -1, 2, -2, 26, -26] {
        w.se(v);
    }
    let d = w.finish_rbsp();
    let mut r = Reader { d: &d, pos: 0 };
    for v in [0, 1, 2, 3, 7, 25, 255, 65535] {
        assert_eq!(r.ue(), v);
    }
    for v in [0, 1, -1, 2, -2, 26, -26] {
        assert_eq!(r.se(), v);
    }
    r.trailing();
    let mut out = Vec::new();
    // (An RBSP never ends in a zero byte: the trailing bits end with a one.)
    push_nal(&mut out, 0, 1, &[0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 1]);
    assert_eq!(out[5..], [0, 0, 3, 0, 0, 3, 1, 0, 0, 3, 3, 0, 0, 3, 1]);
    assert_eq!(nals(&out)[0].2, [0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 1]);
}

#[test]
fn sps_and_pps_fields() {
    let seq = SeqParams {
        width: 1918,
        height: 1080,
        max_reorder: 2,
    };
    let n = nals(&headers(&seq));
    assert_eq!(n.len(), 2);
    assert_eq!((n[0].0, n[0].1, n[1].0, n[1].1), (3, 7, 3, 8));
    let sps = parse_sps(&n[0].2);
    assert_eq!(
        sps,
        Sps {
            profile: 66,
            constraints: 0b1100_0000,
            level: 52,
            poc_type: 0,
            refs: 1,
            mbw: 120,
            mbh: 68,
            crop: Some((0, 1, 0, 4)),
            reorder: 2,
            dec_buf: 3,
        }
    );
    let no_crop = SeqParams {
        width: 64,
        height: 48,
        max_reorder: 0,
    };
    assert_eq!(parse_sps(&nals(&headers(&no_crop))[0].2).crop, None);
    let pps = pps_rbsp();
    let mut r = Reader { d: &pps, pos: 0 };
    assert_eq!((r.ue(), r.ue(), r.bit(), r.bit(), r.ue()), (0, 0, 0, 0, 0));
    assert_eq!((r.ue(), r.ue(), r.bit(), r.u(2)), (0, 0, 0, 0));
    assert_eq!((r.se(), r.se(), r.se()), (0, 0, 0));
    assert_eq!((r.bit(), r.bit(), r.bit()), (1, 0, 0));
    r.trailing();
}

#[test]
fn i_pcm_pictures_parse_back_bit_exactly() {
    for (w, h, seed) in [(64, 48, 1), (34, 18, 2), (16, 16, 3), (130, 66, 4)] {
        let seq = SeqParams {
            width: w,
            height: h,
            max_reorder: 0,
        };
        let src = random_nv12(w, h, seed);
        for pic in [
            PicParams {
                idr: true,
                reference: true,
                frame_num: 0,
                idr_pic_id: 7,
                poc_lsb: 0,
            },
            PicParams {
                idr: false,
                reference: true,
                frame_num: 3,
                idr_pic_id: 0,
                poc_lsb: 6,
            },
            PicParams {
                idr: false,
                reference: false,
                frame_num: 4,
                idr_pic_id: 0,
                poc_lsb: 2,
            },
        ] {
            let coded = picture(&seq, &pic, &src);
            let n = nals(&coded);
            assert_eq!(n.len(), 1);
            let (ref_idc, ty, rbsp) = &n[0];
            assert_eq!(*ty, if pic.idr { 5 } else { 1 });
            let (back_pic, back) = parse_picture(&seq, *ty, *ref_idc, rbsp);
            assert_eq!(back_pic, pic, "{w}x{h}");
            assert!(back == src, "{w}x{h}: samples differ");
        }
    }
}

/// Decodes the double's output with ffmpeg (when installed) and compares bit-exactly.
#[test]
fn ffmpeg_decodes_the_stream_bit_exactly() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if Command::new("ffmpeg").arg("-version").output().is_err() {
        eprintln!(
            "skipped: no ffmpeg on this machine (the parse-back test still checks the format)"
        );
        return;
    }
    let (w, h) = (64, 48);
    let seq = SeqParams {
        width: w,
        height: h,
        max_reorder: 0,
    };
    let pics: Vec<Vec<u8>> = (0..3).map(|i| random_nv12(w, h, 10 + i)).collect();
    let mut stream = headers(&seq);
    for (i, p) in pics.iter().enumerate() {
        let i = i as u32;
        let pic = PicParams {
            idr: i == 0,
            reference: true,
            frame_num: i,
            idr_pic_id: 0,
            poc_lsb: 2 * i,
        };
        stream.extend(picture(&seq, &pic, p));
    }
    let mut child = Command::new("ffmpeg")
        .args([
            "-v", "error", "-f", "h264", "-i", "-", "-f", "rawvideo", "-pix_fmt", "nv12", "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ffmpeg");
    let mut stdin = child.stdin.take().expect("stdin");
    let feeder = std::thread::spawn(move || stdin.write_all(&stream));
    let out = child.wait_with_output().expect("ffmpeg output");
    feeder.join().expect("feeder").expect("write to ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), pics.concat().len(), "picture count/size");
    assert!(
        out.stdout == pics.concat(),
        "ffmpeg's decode differs from the input"
    );
    eprintln!("ffmpeg decoded 3 I_PCM pictures of {w}x{h} bit-exactly");
}
