//! Running a plan: one decoder session per group of ranges, each on its own thread and
//! stream, pictures delivered straight from the mapped NVDEC surface into the caller's
//! outputs.

use std::sync::Mutex;

use crate::decode::{DecodeStatus, MappedFrame};
use crate::demux::Demux;
use crate::error::{Error, Result};
use crate::frame::{Frame, FrameMeta, FrameView};
use crate::kernels::colour::{yuv420_to_rgb, ColourSpace, SlotStream, SlotWriter, TensorParams};
use crate::stream::Stream;

use super::nal::DropPolicy;
use super::plan::{DecodeRange, Target};
use super::pool::Session;

/// Where one session's pictures go.
pub(crate) enum Sink<'a> {
    /// Copies into NV12/P016 frames, by request position.
    Yuv(Vec<(usize, &'a mut Frame)>),
    /// Converts into packed 8-bit RGB frames, by request position.
    Rgb(Vec<(usize, &'a mut Frame)>, ColourSpace),
    /// Converts into tensor slots `first_slot + position`, through the request's shared
    /// slot writer (a writer per session stream is made when the session starts).
    Tensor {
        writer: &'a SlotWriter<'a>,
        first_slot: usize,
        params: TensorParams,
    },
}

fn frame_for<'b>(frames: &'b mut [(usize, &mut Frame)], slot: usize) -> Result<&'b mut Frame> {
    frames
        .iter_mut()
        .find(|(s, _)| *s == slot)
        .map(|(_, f)| &mut **f)
        .ok_or_else(|| Error::InvalidState(format!("no output frame for request position {slot}")))
}

/// A sink bound to the session's stream for one run.
enum Bound<'a, 's> {
    Yuv(&'s mut Vec<(usize, &'a mut Frame)>),
    Rgb(&'s mut Vec<(usize, &'a mut Frame)>, ColourSpace),
    Tensor {
        slots: SlotStream<'s>,
        first_slot: usize,
        params: TensorParams,
    },
}

impl<'a> Sink<'a> {
    fn bind<'s>(&'s mut self, stream: &'s Stream) -> Result<Bound<'a, 's>>
    where
        'a: 's,
    {
        Ok(match self {
            Sink::Yuv(f) => Bound::Yuv(f),
            Sink::Rgb(f, space) => Bound::Rgb(f, *space),
            Sink::Tensor {
                writer,
                first_slot,
                params,
            } => Bound::Tensor {
                slots: writer.on(stream)?,
                first_slot: *first_slot,
                params: *params,
            },
        })
    }
}

impl Bound<'_, '_> {
    fn deliver(
        &mut self,
        m: &MappedFrame<'_>,
        target: &Target,
        meta: FrameMeta,
        stream: &Stream,
    ) -> Result<()> {
        for &slot in &target.slots {
            match self {
                Bound::Yuv(frames) => {
                    let f = frame_for(frames, slot)?;
                    m.copy_to(f, stream)?;
                    f.meta = meta;
                }
                Bound::Rgb(frames, space) => {
                    let f = frame_for(frames, slot)?;
                    yuv420_to_rgb(m, f, *space, stream)?;
                    f.meta = meta;
                }
                Bound::Tensor {
                    slots,
                    first_slot,
                    params,
                } => slots.write(m, *first_slot + slot, params)?,
            }
        }
        Ok(())
    }
}

/// Counters of one session's work.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Work {
    pub(crate) pushed: usize,
    pub(crate) dropped: usize,
    pub(crate) skipped: usize,
}

/// Decodes `ranges` on `sess` in order and hands every target to `sink`; records
/// `sess.done` on the session's stream at the end.
pub(crate) fn run(
    sess: &mut Session,
    demux: &Mutex<Box<dyn Demux>>,
    ranges: &[&DecodeRange],
    policy: Option<DropPolicy>,
    timescale: u32,
    sink: &mut Sink<'_>,
) -> Result<Work> {
    let mut work = Work::default();
    let Session {
        decoder,
        stream,
        done: finished,
        packet,
        ..
    } = sess;
    decoder.set_timescale(timescale);
    let mut sink = sink.bind(stream)?;
    let mut done: Vec<bool> = Vec::with_capacity(32);
    for range in ranges {
        decoder.reset()?;
        done.clear();
        done.resize(range.targets.len(), false);
        let mut remaining = range.targets.len();
        let mut drain = |decoder: &mut crate::decode::Decoder,
                         done: &mut Vec<bool>,
                         remaining: &mut usize,
                         work: &mut Work|
         -> Result<()> {
            while let Some(meta) = decoder.peek_meta() {
                let hit = range
                    .targets
                    .iter()
                    .enumerate()
                    .position(|(j, t)| t.pts == meta.pts && !done[j]);
                let Some(j) = hit else {
                    decoder.skip_next();
                    work.skipped += 1;
                    continue;
                };
                let target = &range.targets[j];
                let Some(m) = decoder.map_next(stream)? else {
                    break;
                };
                if m.status() == DecodeStatus::Error {
                    return Err(Error::Decode(format!(
                        "NVDEC reported an error decoding frame {} (pts {})",
                        target.display, target.pts
                    )));
                }
                let out_meta = FrameMeta {
                    pts: target.pts,
                    timescale,
                    index: Some(target.display as u64),
                };
                sink.deliver(&m, target, out_meta, stream)?;
                drop(m);
                done[j] = true;
                *remaining -= 1;
            }
            Ok(())
        };
        for i in range.start..=range.end {
            {
                let mut d = demux
                    .lock()
                    .map_err(|_| Error::InvalidState("demuxer lock poisoned".into()))?;
                d.read_packet_into(i, packet)?;
            }
            if let Some(p) = &policy {
                if !range.is_target(i) && p.droppable(&packet.data) {
                    work.dropped += 1;
                    continue;
                }
            }
            decoder.push(&packet.data, Some(packet.pts))?;
            work.pushed += 1;
            drain(decoder, &mut done, &mut remaining, &mut work)?;
            if remaining == 0 {
                break;
            }
        }
        if remaining > 0 {
            decoder.flush()?;
            drain(decoder, &mut done, &mut remaining, &mut work)?;
        }
        if remaining > 0 {
            let missing: Vec<usize> = range
                .targets
                .iter()
                .zip(&done)
                .filter(|(_, d)| !**d)
                .map(|(t, _)| t.display)
                .collect();
            return Err(Error::Decode(format!(
                "the decoder did not output frame(s) {missing:?} after decoding samples {}..={}; \
                 the stream's timestamps or keyframe flags may be wrong",
                range.start, range.end
            )));
        }
    }
    finished.record(stream)?;
    Ok(work)
}
