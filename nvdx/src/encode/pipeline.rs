//! The encoder's pure bookkeeping, tested without a GPU: ring and output-delay sizing, the
//! drain of completed pictures, decode timestamps and the planning of a reconfiguration.

use std::collections::VecDeque;

use nvdx_sys::nvenc as sys;

use super::config::BuiltParams;
use super::{validate, EncoderCaps, EncoderConfig, RateControl, Reconfigure};
use crate::codec::Codec;
use crate::error::{Error, Result};

/// Extra bitstream buffers beyond the engine's own delay, as NvEncoder's
/// `m_nExtraOutputDelay`: the encoder keeps this many completed pictures unlocked so that
/// locking one (which waits for the engine) overlaps the next submissions.
pub(crate) const SLACK: usize = 3;

/// Ring and output-delay sizes of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pipeline {
    /// Pictures the engine may hold before answering SUCCESS: B-frames plus lookahead.
    pub(crate) engine_delay: usize,
    /// Of those, the lookahead depth (0 without lookahead): the newest pictures a SUCCESS
    /// leaves without output.
    pub(crate) lookahead: usize,
    /// No output delay at all (zero-latency sessions).
    pub(crate) zero_latency: bool,
}

impl Pipeline {
    pub(crate) fn new(config: &sys::NV_ENC_CONFIG, zero_latency: bool) -> Pipeline {
        let b = (config.frameIntervalP.max(1) - 1) as usize;
        let la = if config.rcParams.enableLookahead() != 0 {
            usize::from(config.rcParams.lookaheadDepth)
        } else {
            0
        };
        Pipeline {
            engine_delay: b + la,
            lookahead: la,
            zero_latency,
        }
    }
    /// Pending pictures (oldest first) whose output exists after an `nvEncEncodePicture` that
    /// returned `NV_ENC_SUCCESS`, with `pending` pictures submitted and not yet locked (the one
    /// just submitted included) and `ready` of them known to be complete before the call.
    ///
    /// A SUCCESS completes the B-frames waiting for their anchor (nvEncodeAPI.h: after it
    /// "the client can call NvEncLockBitstream() API on the output buffers in the same order"),
    /// but with lookahead the engine queues the newest `lookaheadDepth` pictures before it
    /// encodes them (the Programming Guide: frames "are queued up in the encoder"; NvEncoder's
    /// output delay counts `lookaheadDepth` pictures for this): the call that answers SUCCESS
    /// for picture `n` encodes picture `n - lookaheadDepth`, so the newest `lookaheadDepth`
    /// pending pictures have no output yet and must not be locked.
    pub(crate) fn ready_after_success(&self, pending: usize, ready: usize) -> usize {
        ready.max(pending.saturating_sub(self.lookahead))
    }
    /// Completed pictures left unlocked after a call (0 in zero-latency mode).
    pub(crate) fn output_delay(&self) -> usize {
        if self.zero_latency {
            0
        } else {
            SLACK
        }
    }
    /// Bitstream buffers: enough for the engine's delay, the output delay and the picture
    /// being submitted, so a submission never finds the ring full.
    pub(crate) fn ring_size(&self) -> usize {
        self.engine_delay + self.output_delay() + 1
    }
}

/// Decode timestamp of the packet in the k-th bitstream buffer: the pts of the k-th picture
/// submitted, shifted back by the reordering delay (FFmpeg's nvenc.c does the same), and never
/// after its pts. AV1 has no reordering in its packets (hidden frames are folded into the
/// shown ones): dts = pts.
pub(crate) fn packet_dts(codec: Codec, input_pts: i64, pts: i64, reorder: i64, step: i64) -> i64 {
    if codec == Codec::Av1 {
        return pts;
    }
    (input_pts - reorder * step).min(pts)
}

/// Locks completed pictures oldest first while more than `keep` are pending. `ready` counts
/// the pending pictures whose output exists (all of them after a SUCCESS). Packets go to `out`
/// as they are locked, so a failure loses none of them; the picture whose lock failed is
/// popped and `release`d (its output is lost with the session's error), so later bookkeeping
/// (timestamps, buffer order) does not drift.
pub(crate) fn drain_ready<P, T>(
    pending: &mut VecDeque<P>,
    ready: &mut usize,
    keep: usize,
    out: &mut Vec<T>,
    mut lock: impl FnMut(&P) -> Result<T>,
    mut release: impl FnMut(P) -> Result<()>,
) -> Result<()> {
    let mut first: Result<()> = Ok(());
    while *ready > 0 && pending.len() > keep {
        let p = pending.front().expect("ready <= pending");
        let locked = lock(p);
        let p = pending.pop_front().expect("non-empty");
        *ready -= 1;
        match locked {
            Ok(t) => out.push(t),
            Err(e) => {
                let _ = release(p);
                return Err(e);
            }
        }
        if let Err(e) = release(p) {
            first = first.and(Err(e));
        }
    }
    first
}

/// What [`plan_reconfigure`] decided.
pub(crate) struct ReconfigurePlan {
    pub(crate) config: EncoderConfig,
    pub(crate) params: BuiltParams,
    pub(crate) resize: bool,
    pub(crate) reset: bool,
}

fn rc_mode(rc: &RateControl) -> &'static str {
    match rc {
        RateControl::ConstQp { .. } => "constant QP",
        RateControl::Vbr { .. } => "VBR",
        RateControl::Cbr { .. } => "CBR",
    }
}

/// Checks `change` against the running session's capabilities and builds the new parameters.
pub(crate) fn plan_reconfigure(
    config: &EncoderConfig,
    params: &BuiltParams,
    caps: &EncoderCaps,
    gpu: &str,
    change: &Reconfigure,
) -> Result<ReconfigurePlan> {
    let mut next = config.clone();
    let mut b = params.duplicate();
    if let Some(rc) = change.rate_control {
        let old_mode = b.config.rcParams.rateControlMode;
        next.rate_control = Some(rc);
        if !caps.dynamic_bitrate {
            return Err(Error::Unsupported(format!(
                "{gpu} cannot change the bitrate of a running session"
            )));
        }
        rc.apply(&mut b.config.rcParams);
        let new_mode = b.config.rcParams.rateControlMode;
        if new_mode != old_mode {
            let to_const_qp = new_mode == sys::_NV_ENC_PARAMS_RC_MODE::NV_ENC_PARAMS_RC_CONSTQP;
            if to_const_qp && !caps.dynamic_force_constqp {
                return Err(Error::Unsupported(format!(
                    "{gpu} cannot switch a running session to constant QP \
                     (NV_ENC_CAPS_SUPPORT_DYN_FORCE_CONSTQP is 0)"
                )));
            }
            if !caps.dynamic_rc_mode {
                return Err(Error::Unsupported(format!(
                    "{gpu} cannot change the rate-control mode of a running session to {} \
                     (NV_ENC_CAPS_SUPPORT_DYN_RCMODE_CHANGE is 0); keep the mode or open a new \
                     Encoder",
                    rc_mode(&rc)
                )));
            }
        }
    }
    if let Some((num, den)) = change.frame_rate {
        next.frame_rate = (num, den);
        b.init.frameRateNum = num;
        b.init.frameRateDen = den;
    }
    let resize = change
        .size
        .is_some_and(|s| s != (config.width, config.height));
    if let Some((w, h)) = change.size {
        next.width = w;
        next.height = h;
        let (mw, mh) = (b.init.maxEncodeWidth, b.init.maxEncodeHeight);
        if w > mw || h > mh {
            return Err(Error::InvalidArgument(format!(
                "cannot grow to {w}x{h}: the session's max size is {mw}x{mh} (set EncoderConfig::max_size)"
            )));
        }
        if resize && !caps.dynamic_resolution {
            return Err(Error::Unsupported(format!(
                "{gpu} cannot change the resolution of a running session"
            )));
        }
        b.init.encodeWidth = w;
        b.init.encodeHeight = h;
        b.init.darWidth = w;
        b.init.darHeight = h;
    }
    next.max_size = Some((b.init.maxEncodeWidth, b.init.maxEncodeHeight));
    validate(&next, caps, gpu)?;
    b.relink();
    Ok(ReconfigurePlan {
        config: next,
        params: b,
        resize,
        reset: resize || change.force_idr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_has_slack_and_output_is_delayed_except_at_zero_latency() {
        let mut c = sys::NV_ENC_CONFIG {
            frameIntervalP: 3,
            ..Default::default()
        };
        c.rcParams.set_enableLookahead(1);
        c.rcParams.lookaheadDepth = 8;
        let p = Pipeline::new(&c, false);
        assert_eq!(p.engine_delay, 10);
        assert_eq!(p.output_delay(), SLACK);
        assert_eq!(p.ring_size(), 10 + SLACK + 1);
        let z = Pipeline::new(&sys::NV_ENC_CONFIG::default(), true);
        assert_eq!((z.output_delay(), z.ring_size()), (0, 1));
    }

    /// Issue 15, defect 6: a call locks only pictures older than the output delay, so the
    /// picture just submitted is not waited for; the ring never overflows.
    #[test]
    fn drain_keeps_the_output_delay_and_the_ring_never_overflows() {
        let c = sys::NV_ENC_CONFIG {
            frameIntervalP: 3,
            ..Default::default()
        };
        let p = Pipeline::new(&c, false);
        let mut pending = VecDeque::new();
        let mut ready = 0;
        let mut out = Vec::new();
        let mut max = 0;
        for i in 0..30u32 {
            pending.push_back(i);
            max = max.max(pending.len());
            assert!(pending.len() <= p.ring_size());
            let success = i % 3 == 0; // B-frames answer NEED_MORE_INPUT
            if success {
                ready = pending.len();
                drain_ready(
                    &mut pending,
                    &mut ready,
                    p.output_delay(),
                    &mut out,
                    |&x| Ok(x),
                    |_| Ok(()),
                )
                .unwrap();
                assert!(pending.len() <= p.output_delay());
                assert!(
                    !out.contains(&i) || i < SLACK as u32,
                    "locked the picture just submitted"
                );
            }
        }
        assert_eq!(max, p.ring_size());
        drain_ready(
            &mut pending,
            &mut ready,
            0,
            &mut out,
            |&x| Ok(x),
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(out, (0..28).collect::<Vec<_>>()); // 28, 29 are B-frames not yet ready
    }

    /// A model of NVENC with `enablePTD` (as nvEncodeAPI.h and the Programming Guide describe
    /// it, and as the NVENC double implements it): the newest `lookahead` pictures wait in the
    /// lookahead queue; the picture leaving it is either a B-frame, which waits for its anchor
    /// (the call answers NEED_MORE_INPUT), or an anchor, which is encoded together with the
    /// B-frames before it (the call answers SUCCESS).
    struct Engine {
        lookahead: usize,
        interval_p: usize,
        submitted: usize,
        /// Pictures (from the first) whose output exists.
        completed: usize,
    }

    impl Engine {
        /// Submits the next picture; true for SUCCESS.
        fn submit(&mut self) -> bool {
            self.submitted += 1;
            let Some(leaving) = self.submitted.checked_sub(self.lookahead + 1) else {
                return false;
            };
            if leaving % self.interval_p == 0 {
                self.completed = leaving + 1;
                true
            } else {
                false
            }
        }
    }

    /// Issue 15 (`encode_copy_with_deep_lookahead` on the NVENC double): a SUCCESS with
    /// lookahead does not complete the pictures still in the lookahead queue, so the encoder
    /// never locks a bitstream buffer before the engine produced its output, and the ring
    /// still never overflows; EOS then returns every picture in submission order.
    #[test]
    fn lookahead_pictures_are_not_locked_before_their_output_exists() {
        for b in 0..=3u32 {
            for la in [0u16, 1, 4, 8, 24] {
                for zero_latency in [false, true] {
                    if zero_latency && (b > 0 || la > 0) {
                        continue; // excluded by EncoderConfig::check
                    }
                    let mut c = sys::NV_ENC_CONFIG {
                        frameIntervalP: b as i32 + 1,
                        ..Default::default()
                    };
                    c.rcParams.set_enableLookahead(u32::from(la > 0));
                    c.rcParams.lookaheadDepth = la;
                    let p = Pipeline::new(&c, zero_latency);
                    let mut engine = Engine {
                        lookahead: usize::from(la),
                        interval_p: b as usize + 1,
                        submitted: 0,
                        completed: 0,
                    };
                    let mut pending = VecDeque::new();
                    let mut ready = 0;
                    let mut out = Vec::new();
                    let what = format!("{b} B-frames, lookahead {la}, zero latency {zero_latency}");
                    for i in 0..200usize {
                        assert!(pending.len() < p.ring_size(), "{what}: ring full at {i}");
                        pending.push_back(i);
                        if engine.submit() {
                            ready = p.ready_after_success(pending.len(), ready);
                        }
                        let completed = engine.completed;
                        drain_ready(
                            &mut pending,
                            &mut ready,
                            p.output_delay(),
                            &mut out,
                            |&x| {
                                assert!(
                                    x < completed,
                                    "{what}: locked picture {x} at submission {i}, but only \
                                     {completed} pictures have output"
                                );
                                Ok(x)
                            },
                            |_| Ok(()),
                        )
                        .unwrap();
                        if zero_latency {
                            assert!(pending.is_empty(), "{what}: zero latency keeps nothing");
                        }
                    }
                    // EOS: the engine completes everything.
                    ready = pending.len();
                    drain_ready(
                        &mut pending,
                        &mut ready,
                        0,
                        &mut out,
                        |&x| Ok(x),
                        |_| Ok(()),
                    )
                    .unwrap();
                    assert_eq!(out, (0..200).collect::<Vec<_>>(), "{what}");
                }
            }
        }
    }

    /// The same engine: with lookahead, the pictures a SUCCESS leaves in the lookahead queue
    /// are exactly the newest `lookaheadDepth` (none are held back longer than needed).
    #[test]
    fn a_success_completes_all_but_the_lookahead_queue() {
        let mut c = sys::NV_ENC_CONFIG {
            frameIntervalP: 3,
            ..Default::default()
        };
        c.rcParams.set_enableLookahead(1);
        c.rcParams.lookaheadDepth = 24;
        let p = Pipeline::new(&c, false);
        assert_eq!(p.lookahead, 24);
        let mut engine = Engine {
            lookahead: 24,
            interval_p: 3,
            submitted: 0,
            completed: 0,
        };
        let mut successes = 0;
        for n in 1..=100 {
            if engine.submit() {
                successes += 1;
                // Nothing locked in this test: `n` pictures pending.
                assert_eq!(p.ready_after_success(n, 0), engine.completed, "after {n}");
            }
        }
        assert!(successes > 20);
        // Without lookahead a SUCCESS completes every pending picture (B-frames included).
        let c = sys::NV_ENC_CONFIG {
            frameIntervalP: 3,
            ..Default::default()
        };
        assert_eq!(Pipeline::new(&c, false).ready_after_success(7, 2), 7);
    }

    /// Issue 15, defect 8: a failed lock keeps the packets already locked and pops the failed
    /// picture, so the next drain continues in order.
    #[test]
    fn a_failed_lock_loses_no_packets_and_keeps_order() {
        let mut pending: VecDeque<u32> = (0..6).collect();
        let mut ready = 6;
        let mut out = Vec::new();
        let mut released = Vec::new();
        let e = drain_ready(
            &mut pending,
            &mut ready,
            0,
            &mut out,
            |&x| {
                if x == 2 {
                    Err(Error::InvalidState("lock failed".into()))
                } else {
                    Ok(x * 10)
                }
            },
            |x| {
                released.push(x);
                Ok(())
            },
        );
        assert!(e.is_err());
        assert_eq!(out, [0, 10]);
        assert_eq!(released, [0, 1, 2]);
        assert_eq!((pending.len(), ready), (3, 3));
        drain_ready(
            &mut pending,
            &mut ready,
            0,
            &mut out,
            |&x| Ok(x * 10),
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(out, [0, 10, 30, 40, 50]);
    }

    /// Issue 15, defect 9: AV1 packets carry dts = pts.
    #[test]
    fn dts_is_shifted_by_the_reorder_delay_except_for_av1() {
        // I0 B1 B2 P3 submitted; buffers hold I0 P3 B1 B2.
        let pts = [0, 3, 1, 2];
        let dts: Vec<i64> = (0..4)
            .map(|k| packet_dts(Codec::H264, k, pts[k as usize], 2, 1))
            .collect();
        assert_eq!(dts, [-2, -1, 0, 1]);
        assert!(dts.iter().zip(pts).all(|(&d, p)| d <= p));
        for (k, &p) in pts.iter().enumerate() {
            assert_eq!(packet_dts(Codec::Av1, k as i64, p, 2, 1), p);
        }
        assert_eq!(packet_dts(Codec::Hevc, 3000, 3000, 1, 3000), 0);
    }

    fn caps() -> EncoderCaps {
        crate::encode::caps::tests::l4_like()
    }

    fn running(rc: RateControl) -> (EncoderConfig, BuiltParams) {
        let cfg = EncoderConfig::new(Codec::H264, 1280, 720).rate_control(rc);
        let params = cfg.build(&sys::NV_ENC_CONFIG::default()).unwrap();
        (cfg, params)
    }

    /// Issue 15, defect 7: a rate-control mode change needs DYN_RCMODE_CHANGE, a switch to
    /// constant QP needs DYN_FORCE_CONSTQP; a bitrate change within the mode needs neither.
    #[test]
    fn reconfigure_checks_rc_mode_and_constqp_capabilities() {
        let vbr = RateControl::Vbr {
            average_bitrate: 4_000_000,
            max_bitrate: 6_000_000,
            vbv_buffer_size: Some(2_000_000),
        };
        let (cfg, params) = running(vbr);
        let weak = EncoderCaps {
            dynamic_rc_mode: false,
            dynamic_force_constqp: false,
            ..caps()
        };
        let change = |rc| Reconfigure {
            rate_control: Some(rc),
            ..Default::default()
        };
        let lower = RateControl::Vbr {
            average_bitrate: 2_000_000,
            max_bitrate: 3_000_000,
            vbv_buffer_size: None,
        };
        let plan = plan_reconfigure(&cfg, &params, &weak, "GPU", &change(lower)).unwrap();
        assert_eq!(plan.params.config.rcParams.averageBitRate, 2_000_000);
        assert_eq!(
            plan.params.config.rcParams.vbvBufferSize, 0,
            "None VBV is the default"
        );
        assert!(!plan.reset);
        let cbr = RateControl::Cbr {
            bitrate: 3_000_000,
            vbv_buffer_size: None,
        };
        let e = plan_reconfigure(&cfg, &params, &weak, "GPU", &change(cbr))
            .err()
            .unwrap();
        assert!(e.to_string().contains("DYN_RCMODE_CHANGE"), "{e}");
        let cqp = RateControl::ConstQp {
            intra: 20,
            inter_p: 22,
            inter_b: 24,
        };
        let e = plan_reconfigure(&cfg, &params, &weak, "GPU", &change(cqp))
            .err()
            .unwrap();
        assert!(e.to_string().contains("DYN_FORCE_CONSTQP"), "{e}");
        assert!(plan_reconfigure(&cfg, &params, &caps(), "GPU", &change(cbr)).is_ok());
        assert!(plan_reconfigure(&cfg, &params, &caps(), "GPU", &change(cqp)).is_ok());
    }
}
