//! Pure planning of a sampling request: which packets to decode, on how many sessions, and
//! where each decoded picture goes. No GPU, no I/O: everything here is unit-tested on the CPU.
//!
//! Terms: *display index* = position of a frame in presentation (pts) order among the frames
//! that are shown; *decode index* = position of its sample in the container (decode order).

use std::collections::BTreeMap;

use crate::demux::SampleEntry;
use crate::error::{Error, Result};

/// The sample index of one stream, arranged for random access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleTable {
    /// `display[n]` = decode index of the `n`-th shown frame.
    display: Vec<usize>,
    /// Presentation time of each sample, decode order.
    pts: Vec<i64>,
    /// Duration of each sample, decode order.
    duration: Vec<i64>,
    /// Decode indices of the keyframes, ascending.
    keyframes: Vec<usize>,
}

impl SampleTable {
    /// Builds the table from a demuxer's samples (decode order). With `skip_preroll`, samples
    /// with a negative pts (MP4 edit-list pre-roll) are decoded when needed as references but
    /// are not frames of the video, as in [`crate::decode::FileDecoder`].
    pub fn new(samples: &[SampleEntry], skip_preroll: bool) -> SampleTable {
        let mut display: Vec<usize> = (0..samples.len())
            .filter(|&i| !skip_preroll || samples[i].pts >= 0)
            .collect();
        display.sort_by_key(|&i| (samples[i].pts, i));
        SampleTable {
            display,
            pts: samples.iter().map(|s| s.pts).collect(),
            duration: samples.iter().map(|s| s.duration).collect(),
            keyframes: samples
                .iter()
                .enumerate()
                .filter(|(_, s)| s.keyframe)
                .map(|(i, _)| i)
                .collect(),
        }
    }

    /// Number of frames (shown pictures).
    pub fn len(&self) -> usize {
        self.display.len()
    }

    /// Whether the video has no frames.
    pub fn is_empty(&self) -> bool {
        self.display.is_empty()
    }

    /// Number of samples (coded pictures, pre-roll included).
    pub fn sample_count(&self) -> usize {
        self.pts.len()
    }

    /// Decode index of frame `display`.
    pub fn decode_index(&self, display: usize) -> Option<usize> {
        self.display.get(display).copied()
    }

    /// Presentation time (ticks) of frame `display`.
    pub fn frame_pts(&self, display: usize) -> Option<i64> {
        self.decode_index(display)
            .and_then(|d| self.pts.get(d).copied())
    }

    /// Presentation time (ticks) of sample `decode`.
    pub fn sample_pts(&self, decode: usize) -> Option<i64> {
        self.pts.get(decode).copied()
    }

    /// Decode indices of the keyframes.
    pub fn keyframes(&self) -> &[usize] {
        &self.keyframes
    }

    /// Display indices of the keyframes that are frames (pre-roll keyframes left out),
    /// ascending.
    pub fn keyframe_frames(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .display
            .iter()
            .enumerate()
            .filter(|(_, d)| self.keyframes.binary_search(d).is_ok())
            .map(|(n, _)| n)
            .collect();
        v.sort_unstable();
        v
    }

    /// Where decoding must start to reconstruct sample `decode` exactly: the last keyframe at
    /// or before it in decode order that does not follow it in display order. A picture that
    /// precedes its keyframe in display order is a leading picture of an open GOP (HEVC
    /// RASL, H.264 before a recovery point) and may reference the previous GOP, so decoding
    /// then starts at the keyframe before. Sample 0 when there is no usable keyframe.
    pub fn start_keyframe(&self, decode: usize) -> usize {
        let Some(&target_pts) = self.pts.get(decode) else {
            return 0;
        };
        let n = self.keyframes.partition_point(|&k| k <= decode);
        self.keyframes[..n]
            .iter()
            .rev()
            .find(|&&k| self.pts.get(k).is_some_and(|&p| p <= target_pts))
            .copied()
            .unwrap_or(0)
    }

    /// The frame shown at `seconds`: the last frame whose pts is at or before
    /// `round(seconds * timescale)` (rounding to the nearest tick absorbs the error of a
    /// decimal time such as `frame / fps`). Times before the first frame give frame 0; times
    /// at or past the end of the last frame, negative or non-finite times are errors.
    pub fn index_at_time(&self, seconds: f64, timescale: u32) -> Result<usize> {
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(Error::InvalidArgument(format!(
                "time {seconds} s is not a finite, non-negative number of seconds"
            )));
        }
        if self.is_empty() {
            return Err(empty_error());
        }
        if timescale == 0 {
            return Err(Error::InvalidData("the stream has no timescale".into()));
        }
        let ticks = (seconds * f64::from(timescale)).round();
        if ticks > i64::MAX as f64 {
            return Err(past_end_time(seconds, self.end_seconds(timescale)));
        }
        let ticks = ticks as i64;
        let n = self
            .display
            .partition_point(|&d| self.pts.get(d).is_some_and(|&p| p <= ticks));
        let last = self.len() - 1;
        let end = self.end_ticks();
        if n > last && ticks >= end {
            return Err(past_end_time(seconds, self.end_seconds(timescale)));
        }
        Ok(n.saturating_sub(1))
    }

    /// End of the last frame in ticks (its pts plus its duration, at least one tick).
    pub fn end_ticks(&self) -> i64 {
        let Some(&d) = self.display.last() else {
            return 0;
        };
        let pts = self.pts.get(d).copied().unwrap_or(0);
        let dur = self.duration.get(d).copied().unwrap_or(1).max(1);
        pts.saturating_add(dur)
    }

    fn end_seconds(&self, timescale: u32) -> f64 {
        crate::demux::ticks_to_seconds(self.end_ticks(), timescale)
    }
}

fn empty_error() -> Error {
    Error::InvalidData("the video has no frames to sample".into())
}

fn past_end_time(seconds: f64, end: f64) -> Error {
    Error::InvalidArgument(format!(
        "time {seconds} s is past the end of the video ({end:.6} s)"
    ))
}

/// `k` frame indices spread uniformly over `n_total` frames:
/// `round(i * (n_total - 1) / (k - 1))` for `i` in `0..k` (the first and the last frame
/// included; the formula PyNvVideoCodec/vLLM loaders use). `k == 1` gives frame 0; `k` larger
/// than `n_total` repeats frames.
pub fn uniform_indices(n_total: usize, k: usize) -> Result<Vec<usize>> {
    if n_total == 0 {
        return Err(empty_error());
    }
    if k == 0 {
        return Err(Error::InvalidArgument(
            "asked for 0 frames; ask for at least one".into(),
        ));
    }
    if k == 1 {
        return Ok(vec![0]);
    }
    let (last, steps) = ((n_total - 1) as f64, (k - 1) as f64);
    Ok((0..k)
        .map(|i| {
            // Python's round() rounds halves to even; so does this.
            let x = i as f64 * last / steps;
            (x.round_ties_even() as usize).min(n_total - 1)
        })
        .collect())
}

/// One distinct frame to decode and where its picture goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Display index.
    pub display: usize,
    /// Decode index of its sample.
    pub decode: usize,
    /// Its presentation time (ticks); decoded pictures are matched to targets by pts.
    pub pts: i64,
    /// Positions in the request that asked for this frame (several when indices repeat).
    pub slots: Vec<usize>,
}

/// A run of samples to feed one decoder session after a reset: `start` (a keyframe) to `end`
/// inclusive, decode order, producing `targets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeRange {
    /// First sample (a keyframe, or 0).
    pub start: usize,
    /// Last sample needed (the largest decode index of the targets).
    pub end: usize,
    /// The frames this range produces, by decode index.
    pub targets: Vec<Target>,
}

impl DecodeRange {
    /// Number of samples read (before any non-reference picture is dropped).
    pub fn len(&self) -> usize {
        self.end + 1 - self.start
    }

    /// Always false: a range holds at least its start sample.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether sample `decode` is one of the targets.
    pub fn is_target(&self, decode: usize) -> bool {
        self.targets.iter().any(|t| t.decode == decode)
    }
}

/// What to decode for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Independent ranges, ascending and disjoint in decode order.
    pub ranges: Vec<DecodeRange>,
    /// Number of positions in the request (`indices.len()`).
    pub requested: usize,
}

impl Plan {
    /// Number of distinct frames.
    pub fn distinct(&self) -> usize {
        self.ranges.iter().map(|r| r.targets.len()).sum()
    }

    /// Samples read in all.
    pub fn samples(&self) -> usize {
        self.ranges.iter().map(DecodeRange::len).sum()
    }

    /// `(display index, pts)` for each request position, in request order.
    pub fn request_order(&self) -> Vec<(usize, i64)> {
        let mut out = vec![(0, 0); self.requested];
        for t in self.ranges.iter().flat_map(|r| &r.targets) {
            for &s in &t.slots {
                if let Some(o) = out.get_mut(s) {
                    *o = (t.display, t.pts);
                }
            }
        }
        out
    }
}

/// Plans the decoding of `indices` (display order, any order, repeats allowed): each distinct
/// frame once, from the keyframe [`SampleTable::start_keyframe`] gives, ranges that overlap or
/// share a keyframe merged, so each range is independent of the others (it starts at a
/// keyframe after a reset) and can run on its own session.
pub fn plan(table: &SampleTable, indices: &[usize]) -> Result<Plan> {
    if table.is_empty() {
        return Err(empty_error());
    }
    if indices.is_empty() {
        return Err(Error::InvalidArgument(
            "no frame indices given; ask for at least one".into(),
        ));
    }
    let mut wanted: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (slot, &i) in indices.iter().enumerate() {
        if i >= table.len() {
            return Err(Error::InvalidArgument(format!(
                "frame index {i} (position {slot} of the request) is past the end: the video \
                 has {} frames, 0..={}",
                table.len(),
                table.len() - 1
            )));
        }
        wanted.entry(i).or_default().push(slot);
    }
    let mut keyed: Vec<(usize, Target)> = Vec::with_capacity(wanted.len());
    for (display, slots) in wanted {
        let (Some(decode), Some(pts)) = (table.decode_index(display), table.frame_pts(display))
        else {
            return Err(Error::InvalidData(format!(
                "frame {display} has no sample in the index"
            )));
        };
        keyed.push((
            table.start_keyframe(decode),
            Target {
                display,
                decode,
                pts,
                slots,
            },
        ));
    }
    keyed.sort_by_key(|(k, t)| (*k, t.decode));
    let mut ranges: Vec<DecodeRange> = Vec::new();
    for (start, t) in keyed {
        match ranges.last_mut() {
            Some(r) if start <= r.end || start == r.start => {
                r.end = r.end.max(t.decode);
                r.targets.push(t);
            }
            _ => ranges.push(DecodeRange {
                start,
                end: t.decode,
                targets: vec![t],
            }),
        }
    }
    for r in &mut ranges {
        r.targets.sort_by_key(|t| t.decode);
    }
    Ok(Plan {
        ranges,
        requested: indices.len(),
    })
}

/// Spreads ranges over at most `sessions` sessions, balancing the samples each reads
/// (longest range first onto the least loaded session). Returns, per session, the indices
/// into `ranges` in decode order; never an empty session.
pub fn assign(ranges: &[DecodeRange], sessions: usize) -> Vec<Vec<usize>> {
    let n = sessions.max(1).min(ranges.len());
    if n == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..ranges.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(ranges[i].len()), i));
    let mut load = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in order {
        let (w, _) = load
            .iter()
            .enumerate()
            .min_by_key(|(w, l)| (**l, *w))
            .unwrap_or((0, &0));
        load[w] += ranges[i].len();
        out[w].push(i);
    }
    for v in &mut out {
        v.sort_unstable();
    }
    out
}
