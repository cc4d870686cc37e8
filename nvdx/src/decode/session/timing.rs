//! Per-stage timing of a session's per-picture path ([`StageTimes`], part of
//! [`super::DecoderStats`]).
//!
//! Every stage counts its calls. With [`crate::decode::DecoderConfig::stage_timing`] on, each
//! stage also reads the monotonic clock (`Instant`) at its start and end (about 36 reads a
//! picture: a vDSO call of about 20 ns where the kernel's clock source allows one, a system
//! call where it does not, as on some virtual machines), and with the cargo feature
//! `profile` the thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`, a system call of a few hundred
//! nanoseconds), so that CPU time spent spinning or working can be told from time spent
//! blocked. Off by default: a decoder that nobody profiles reads no clock per stage.

use std::time::Instant;

/// Time spent in one stage: how often it ran, wall time, and (feature `profile`) the calling
/// thread's CPU time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StageTime {
    /// Times the stage ran.
    pub calls: u64,
    /// Wall-clock nanoseconds inside the stage (0 unless
    /// [`crate::decode::DecoderConfig::stage_timing`] is on).
    pub wall_ns: u64,
    /// Thread CPU nanoseconds inside the stage (0 without the `profile` feature or with
    /// stage timing off).
    pub cpu_ns: u64,
}

impl StageTime {
    /// Nanoseconds of the clock the stage is best judged by: thread CPU time where it is
    /// measured ([`StageTimes::THREAD_CPU`]), else wall time.
    pub fn ns(&self) -> u64 {
        if StageTimes::THREAD_CPU {
            self.cpu_ns
        } else {
            self.wall_ns
        }
    }
}

/// Where a session's time goes, by stage. The driver stages nest: `parse` (the whole
/// `cuvidParseVideoData`) contains `sequence` and `callbacks` (nvdx's parser callbacks), and
/// `callbacks` contains `decode_picture`; `api` contains everything the session did inside its
/// public calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StageTimes {
    /// Inside [`super::Decoder::push`], [`super::Decoder::flush`],
    /// [`super::Decoder::next_owned`] and [`super::Decoder::map_next`] (not the drop of a
    /// [`super::MappedFrame`]).
    pub api: StageTime,
    /// `cuvidParseVideoData`, the callbacks it runs included.
    pub parse: StageTime,
    /// The sequence callback: the decoder's creation (capability query, `cuvidCreateDecoder`)
    /// or reconfiguration, once per sequence header that changes the format. A one-time cost
    /// that a short clip divides among few frames (about 40 ms on an H200 for 1080p).
    pub sequence: StageTime,
    /// nvdx's per-picture parser callbacks (decode, display), `cuvidDecodePicture` included.
    pub callbacks: StageTime,
    /// `cuvidDecodePicture`.
    pub decode_picture: StageTime,
    /// `cuvidGetDecodeStatus`.
    pub decode_status: StageTime,
    /// `cuvidMapVideoFrame64`.
    pub map: StageTime,
    /// `cuvidUnmapVideoFrame64` (those the session makes; not the drop of a mapped frame).
    pub unmap: StageTime,
    /// Enqueueing the copy out of the surface (`cuMemcpy2DAsync`).
    pub copy: StageTime,
    /// Ordering of the output surfaces: `cuStreamWaitEvent` for a change of stream and the
    /// `cuEventRecord` after each copy.
    pub events: StageTime,
    /// The destination frame's access tracking around the copy (waits for its earlier uses,
    /// recording of the write).
    pub tracking: StageTime,
    /// Taking a frame from the output pool.
    pub acquire: StageTime,
    /// Context push and pop (`cuCtxPushCurrent` / `cuCtxPopCurrent`), each counted as a call.
    pub ctx: StageTime,
}

impl StageTimes {
    /// Whether thread CPU time is measured (the `profile` feature).
    pub const THREAD_CPU: bool = cfg!(feature = "profile");
}

/// A started measurement of one stage: its clocks when timing is on, nothing otherwise.
pub(crate) struct Timer {
    wall: Option<Instant>,
    #[cfg(feature = "profile")]
    cpu: u64,
}

impl Timer {
    /// Starts a stage; reads the clocks only if `timed`.
    #[inline]
    pub(crate) fn start(timed: bool) -> Timer {
        Timer {
            #[cfg(feature = "profile")]
            cpu: if timed { thread_cpu_ns() } else { 0 },
            wall: timed.then(Instant::now),
        }
    }

    /// Adds one call to `into`, and the time since [`Timer::start`] if it was timed.
    #[inline]
    pub(crate) fn stop(&self, into: &mut StageTime) {
        into.calls += 1;
        if let Some(wall) = self.wall {
            into.wall_ns += u64::try_from(wall.elapsed().as_nanos()).unwrap_or(u64::MAX);
            #[cfg(feature = "profile")]
            {
                into.cpu_ns += thread_cpu_ns().saturating_sub(self.cpu);
            }
        }
    }
}

/// The calling thread's CPU time in nanoseconds (0 if the clock cannot be read).
#[cfg(feature = "profile")]
pub(crate) fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter; the call has no other effect.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_counts_calls_and_time() {
        let mut s = StageTime::default();
        let t = Timer::start(true);
        std::thread::sleep(std::time::Duration::from_millis(2));
        t.stop(&mut s);
        Timer::start(true).stop(&mut s);
        assert_eq!(s.calls, 2);
        assert!(s.wall_ns >= 2_000_000, "{s:?}");
        if !StageTimes::THREAD_CPU {
            assert_eq!(s.cpu_ns, 0);
            assert_eq!(s.ns(), s.wall_ns);
        }
    }

    #[test]
    fn an_untimed_stage_counts_calls_only() {
        let mut s = StageTime::default();
        let t = Timer::start(false);
        std::thread::sleep(std::time::Duration::from_millis(2));
        t.stop(&mut s);
        assert_eq!(
            s,
            StageTime {
                calls: 1,
                wall_ns: 0,
                cpu_ns: 0
            }
        );
    }
}
