//! The double's picture-type decision and reordering, as NVENC does with `enablePTD`: pictures
//! between anchors become B-frames that wait for the next anchor (the encode call answers
//! `NV_ENC_ERR_NEED_MORE_INPUT`), lookahead holds pictures back, and the coded order is anchor
//! first, then its B-frames. Pure, so it is unit-tested on the CPU.

use crate::h264::PicParams;

/// Picture type of a coded picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// IDR.
    Idr,
    /// Intra, not IDR (GOP boundary).
    I,
    /// Anchor (reference) picture.
    P,
    /// Non-reference picture between anchors.
    B,
}

/// A picture in coded order with its slice parameters.
#[derive(Debug)]
pub struct Coded<T> {
    /// What was pushed.
    pub item: T,
    /// Its type.
    pub kind: Kind,
    /// Its slice header fields.
    pub pic: PicParams,
}

struct Waiting<T> {
    item: T,
    force_idr: bool,
}

/// Picture-type decision and reordering state.
pub struct Gop<T> {
    /// `frameIntervalP` (1: no B-frames).
    pub interval_p: u32,
    /// `gopLength` (`u32::MAX`: infinite).
    pub gop_length: u32,
    /// IDR period (`u32::MAX`: only the first picture).
    pub idr_period: u32,
    /// Lookahead depth in pictures.
    pub lookahead: u32,
    lookahead_q: std::collections::VecDeque<Waiting<T>>,
    /// B-frames waiting for their anchor: (item, display index since the IDR).
    b_frames: Vec<(T, u32)>,
    since_idr: u32,
    started: bool,
    next_frame_num: u32,
    idr_count: u32,
}

impl<T> Gop<T> {
    /// A new sequence.
    pub fn new(interval_p: u32, gop_length: u32, idr_period: u32, lookahead: u32) -> Self {
        Gop {
            interval_p: interval_p.max(1),
            gop_length: gop_length.max(1),
            idr_period: idr_period.max(1),
            lookahead,
            lookahead_q: Default::default(),
            b_frames: Vec::new(),
            since_idr: 0,
            started: false,
            next_frame_num: 0,
            idr_count: 0,
        }
    }

    /// Pictures pushed and not yet coded.
    pub fn waiting(&self) -> usize {
        self.lookahead_q.len() + self.b_frames.len()
    }

    /// Pushes a picture in display order; returns the pictures coded now, in coded order
    /// (empty: NVENC would answer NEED_MORE_INPUT).
    pub fn push(&mut self, item: T, force_idr: bool) -> Vec<Coded<T>> {
        self.lookahead_q.push_back(Waiting { item, force_idr });
        let mut out = Vec::new();
        while self.lookahead_q.len() > self.lookahead as usize {
            let w = self.lookahead_q.pop_front().expect("non-empty");
            self.decide(w, &mut out);
        }
        out
    }

    /// End of stream: codes everything still waiting (pending B-frames become P).
    pub fn flush(&mut self) -> Vec<Coded<T>> {
        let mut out = Vec::new();
        while let Some(w) = self.lookahead_q.pop_front() {
            self.decide(w, &mut out);
        }
        self.close_b_frames(&mut out);
        out
    }

    /// Forces the next picture to be an IDR (reconfigure with forceIDR/resetEncoder).
    pub fn restart(&mut self) -> Vec<Coded<T>> {
        let out = self.flush();
        self.started = false;
        out
    }

    fn decide(&mut self, w: Waiting<T>, out: &mut Vec<Coded<T>>) {
        let n = if self.started { self.since_idr + 1 } else { 0 };
        let idr = !self.started
            || w.force_idr
            || (self.idr_period != u32::MAX && n % self.idr_period == 0);
        if idr {
            self.close_b_frames(out);
            self.started = true;
            self.since_idr = 0;
            self.next_frame_num = 1;
            let pic = PicParams {
                idr: true,
                reference: true,
                frame_num: 0,
                idr_pic_id: self.idr_count,
                poc_lsb: 0,
            };
            self.idr_count += 1;
            out.push(Coded {
                item: w.item,
                kind: Kind::Idr,
                pic,
            });
            return;
        }
        self.since_idr = n;
        let gop_start = self.gop_length != u32::MAX && n % self.gop_length == 0;
        if !gop_start && self.interval_p > 1 && n % self.interval_p != 0 {
            self.b_frames.push((w.item, n));
            return;
        }
        let kind = if gop_start { Kind::I } else { Kind::P };
        out.push(self.reference(w.item, kind, n));
        let bs = std::mem::take(&mut self.b_frames);
        for (item, bn) in bs {
            let pic = PicParams {
                idr: false,
                reference: false,
                frame_num: self.next_frame_num,
                idr_pic_id: 0,
                poc_lsb: 2 * bn,
            };
            out.push(Coded {
                item,
                kind: Kind::B,
                pic,
            });
        }
    }

    fn reference(&mut self, item: T, kind: Kind, n: u32) -> Coded<T> {
        let pic = PicParams {
            idr: false,
            reference: true,
            frame_num: self.next_frame_num,
            idr_pic_id: 0,
            poc_lsb: 2 * n,
        };
        self.next_frame_num = self.next_frame_num.wrapping_add(1);
        Coded { item, kind, pic }
    }

    fn close_b_frames(&mut self, out: &mut Vec<Coded<T>>) {
        for (item, n) in std::mem::take(&mut self.b_frames) {
            let c = self.reference(item, Kind::P, n);
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(g: &mut Gop<u32>, n: u32, idr_at: &[u32]) -> (Vec<(u32, Kind)>, Vec<usize>) {
        let mut coded = Vec::new();
        let mut need_more = Vec::new();
        for i in 0..n {
            let c = g.push(i, idr_at.contains(&i));
            if c.is_empty() {
                need_more.push(i as usize);
            }
            coded.extend(c.into_iter().map(|c| (c.item, c.kind)));
        }
        coded.extend(g.flush().into_iter().map(|c| (c.item, c.kind)));
        (coded, need_more)
    }

    #[test]
    fn b_frames_wait_for_their_anchor() {
        use Kind::*;
        let mut g = Gop::new(3, u32::MAX - 1, u32::MAX, 0);
        let (coded, need) = run(&mut g, 8, &[]);
        assert_eq!(
            coded,
            [
                (0, Idr),
                (3, P),
                (1, B),
                (2, B),
                (6, P),
                (4, B),
                (5, B),
                (7, P)
            ]
        );
        assert_eq!(need, [1, 2, 4, 5, 7]);
    }

    #[test]
    fn forced_idr_closes_pending_b_frames_as_p() {
        use Kind::*;
        let mut g = Gop::new(3, u32::MAX, u32::MAX, 0);
        let (coded, _) = run(&mut g, 6, &[2]);
        assert_eq!(coded, [(0, Idr), (1, P), (2, Idr), (5, P), (3, B), (4, B)]);
    }

    #[test]
    fn gop_and_idr_periods_and_lookahead() {
        use Kind::*;
        let mut g = Gop::new(1, 3, 6, 2);
        let (coded, need) = run(&mut g, 8, &[]);
        let kinds: Vec<Kind> = coded.iter().map(|c| c.1).collect();
        assert_eq!(kinds, [Idr, P, P, I, P, P, Idr, P]);
        assert_eq!(need, [0, 1]);
        assert!(coded.iter().enumerate().all(|(i, c)| c.0 == i as u32));
    }

    #[test]
    fn frame_num_and_poc() {
        let mut g = Gop::new(3, u32::MAX, u32::MAX, 0);
        let mut all = Vec::new();
        for i in 0..7 {
            all.extend(g.push(i, false));
        }
        all.extend(g.flush());
        let f: Vec<(u32, u32, bool)> = all
            .iter()
            .map(|c| (c.pic.frame_num, c.pic.poc_lsb, c.pic.reference))
            .collect();
        // I0 P3 B1 B2 P6 B4 B5
        assert_eq!(
            f,
            [
                (0, 0, true),
                (1, 6, true),
                (2, 2, false),
                (2, 4, false),
                (2, 12, true),
                (3, 8, false),
                (3, 10, false)
            ]
        );
    }

    /// A reordered stream (B-frames as non-reference I_PCM pictures) decodes in display order.
    #[test]
    fn ffmpeg_outputs_reordered_pictures_in_display_order() {
        use crate::h264::{headers, picture, SeqParams};
        use std::io::Write;
        use std::process::{Command, Stdio};
        if Command::new("ffmpeg").arg("-version").output().is_err() {
            eprintln!("skipped: no ffmpeg");
            return;
        }
        let (w, h) = (32u32, 32u32);
        let seq = SeqParams {
            width: w,
            height: h,
            max_reorder: 2,
        };
        let pics: Vec<Vec<u8>> = (0..10u8)
            .map(|i| vec![i * 20 + 5; (w * h * 3 / 2) as usize])
            .collect();
        let mut g = Gop::new(3, u32::MAX, u32::MAX, 0);
        let mut coded = Vec::new();
        for i in 0..pics.len() {
            coded.extend(g.push(i, i == 7));
        }
        coded.extend(g.flush());
        let mut stream = Vec::new();
        for c in &coded {
            if c.pic.idr {
                stream.extend(headers(&seq));
            }
            stream.extend(picture(&seq, &c.pic, &pics[c.item]));
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
        let out = child.wait_with_output().expect("ffmpeg");
        feeder.join().expect("feeder").expect("write");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let firsts: Vec<u8> = out
            .stdout
            .chunks((w * h * 3 / 2) as usize)
            .map(|p| p[0])
            .collect();
        let want: Vec<u8> = (0..10u8).map(|i| i * 20 + 5).collect();
        assert_eq!(firsts, want, "display order after reordering");
    }
}
