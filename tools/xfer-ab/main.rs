//! The transfer bench's single-GPU rows for three builds of nvdx in ONE process, alternated
//! round by round: BEFORE and PREV (two git revisions, renamed crates) and NOW (the working
//! tree). The single-frame rows are host-bound on the driver's calls and a process runs fast
//! or slow as a whole (the spread between processes reaches 20 %, more than the differences
//! to be measured); in one process that spread is common to the three builds.
//!
//! Built by `tools/xfer-ab/build.sh` (not a workspace member: it links three copies of nvdx).
//! `xfer-ab [ROUNDS]` prints one table of medians over ROUNDS rounds (default 30; the order of
//! the three builds rotates each round; one warm-up round is dropped). Each round per build and
//! copy method: 200 sends back to back (GPU time on the destination stream, and the host's
//! time a send), the best of 50 single sends including the wait (split into the send and the
//! wait), and 50 batches of 8, as `benches/xfer.rs` measures them; then 200 RGB24 -> NV12
//! conversions back to back per size, as `benches/colour.rs` (GPU and host time a launch: the
//! small sizes are host-bound like the single sends).
use std::time::{Duration, Instant};

macro_rules! variant {
    ($m:ident, $k:ident) => {
        mod $m {
            use super::*;
            use nvdx::kernels::colour::{self, ColourSpace};
            use nvdx::xfer::{CopyMethod, Transfer, TransferMode};
            use nvdx::{Context, Event, Frame, FramePool, MemoryKind, PixelFormat, Stream};
            use $k as nvdx;
            pub struct Rig {
                s: Stream,
                xs: Vec<Transfer>,
                frame: Frame,
                frames: Vec<Frame>,
                start: Event,
                end: Event,
                /// RGB24 source and NV12 destination per size of `COLOUR_SIZES`.
                colour: Vec<(Frame, Frame)>,
                _ctx: Context,
            }
            pub fn rig() -> nvdx::Result<Rig> {
                let ctx = Context::primary(0)?;
                let s = Stream::new(&ctx)?;
                let mut xs = Vec::new();
                for (mode, method) in [
                    (TransferMode::Auto, CopyMethod::CopyEngine),
                    (TransferMode::Auto, CopyMethod::SmKernel),
                    (TransferMode::Auto, CopyMethod::Auto),
                    (TransferMode::Staged, CopyMethod::Auto),
                ] {
                    let pool = FramePool::new(
                        &ctx,
                        PixelFormat::Nv12,
                        1920,
                        1080,
                        16,
                        MemoryKind::Device,
                    )?;
                    let mut x = Transfer::new(&ctx, pool, mode)?;
                    x.set_copy_method(method);
                    xs.push(x);
                }
                let frame = Frame::new(&ctx, PixelFormat::Nv12, 1920, 1080, MemoryKind::Device)?;
                let frames = (0..8)
                    .map(|_| Frame::new(&ctx, PixelFormat::Nv12, 1920, 1080, MemoryKind::Device))
                    .collect::<nvdx::Result<Vec<_>>>()?;
                let mut colour = Vec::new();
                for (w, h) in COLOUR_SIZES {
                    #[allow(unused_mut)] // `memset_async` takes `&self` in BEFORE
                    let mut src = Frame::new(&ctx, PixelFormat::Rgb24, w, h, MemoryKind::Device)?;
                    src.memset_async(0x40, &s)?;
                    let dst = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device)?;
                    colour.push((src, dst));
                }
                s.synchronize()?;
                Ok(Rig {
                    s,
                    colour,
                    xs,
                    frame,
                    frames,
                    start: Event::new(&ctx)?,
                    end: Event::new(&ctx)?,
                    _ctx: ctx,
                })
            }
            /// Per mode: back to back (GPU us a send), host us a send, single incl. wait, batch of 8.
            pub fn round(r: &mut Rig) -> nvdx::Result<Vec<f64>> {
                let mut out = Vec::new();
                let refs: Vec<&Frame> = r.frames.iter().collect();
                for x in r.xs.iter_mut() {
                    for _ in 0..20 {
                        drop(x.send(&r.frame, &r.s)?);
                    }
                    x.dst_stream().synchronize()?;
                    let iters = 200u32;
                    r.start.record(x.dst_stream())?;
                    let host = Instant::now();
                    for _ in 0..iters {
                        drop(x.send(&r.frame, &r.s)?);
                    }
                    let host = host.elapsed() / iters;
                    r.end.record(x.dst_stream())?;
                    r.end.synchronize()?;
                    let per = Event::elapsed(&r.start, &r.end)? / iters;
                    out.push(per.as_secs_f64() * 1e6);
                    out.push(host.as_secs_f64() * 1e6);
                    let (mut best, mut best_send, mut best_sync) =
                        (Duration::MAX, Duration::MAX, Duration::MAX);
                    for _ in 0..50 {
                        r.s.synchronize()?;
                        let t = Instant::now();
                        let f = x.send(&r.frame, &r.s)?;
                        let t1 = Instant::now();
                        x.dst_stream().synchronize()?;
                        let t2 = Instant::now();
                        best = best.min(t2 - t);
                        best_send = best_send.min(t1 - t);
                        best_sync = best_sync.min(t2 - t1);
                        drop(f);
                    }
                    out.push(best.as_secs_f64() * 1e6);
                    out.push(best_send.as_secs_f64() * 1e6);
                    out.push(best_sync.as_secs_f64() * 1e6);
                    drop(x.send_batch(&refs, &r.s)?);
                    x.dst_stream().synchronize()?;
                    r.start.record(x.dst_stream())?;
                    let batches = 50u32;
                    for _ in 0..batches {
                        drop(x.send_batch(&refs, &r.s)?);
                    }
                    r.end.record(x.dst_stream())?;
                    r.end.synchronize()?;
                    out.push((Event::elapsed(&r.start, &r.end)? / batches).as_secs_f64() * 1e6);
                }
                // Colour: RGB24 -> NV12 back to back, as benches/colour.rs (the small sizes are
                // host-bound: the GPU time a launch is the host's enqueue time).
                for (src, dst) in r.colour.iter_mut() {
                    for _ in 0..20 {
                        colour::rgb_to_yuv420(&*src, dst, ColourSpace::BT601_LIMITED, &r.s)?;
                    }
                    r.s.synchronize()?;
                    let iters = 200u32;
                    r.start.record(&r.s)?;
                    let host = Instant::now();
                    for _ in 0..iters {
                        colour::rgb_to_yuv420(&*src, dst, ColourSpace::BT601_LIMITED, &r.s)?;
                    }
                    let host = host.elapsed() / iters;
                    r.end.record(&r.s)?;
                    r.end.synchronize()?;
                    out.push((Event::elapsed(&r.start, &r.end)? / iters).as_secs_f64() * 1e6);
                    out.push(host.as_secs_f64() * 1e6);
                }
                r.s.synchronize()?;
                Ok(out)
            }
        }
    };
}
/// The colour rows' sizes (RGB24 -> NV12).
const COLOUR_SIZES: [(u32, u32); 3] = [(1280, 720), (1920, 1080), (3840, 2160)];

variant!(v_before, nvdx_before);
variant!(v_prev, nvdx_prev);
variant!(v_now, nvdx);

fn fail<T>(which: &str, e: impl std::fmt::Display) -> T {
    eprintln!("xfer-ab: the {which} build failed: {e}");
    std::process::exit(1)
}

fn median(v: &mut Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(30);
    let name = nvdx::Device::get(0)
        .and_then(|d| d.name())
        .unwrap_or_default();
    let mut rb = v_before::rig().unwrap_or_else(|e| fail("before", e));
    let mut rp = v_prev::rig().unwrap_or_else(|e| fail("prev", e));
    let mut rn = v_now::rig().unwrap_or_else(|e| fail("now", e));
    // samples[variant][row] over rounds
    let rows = 24 + 2 * COLOUR_SIZES.len();
    let mut samples: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); rows]; 3];
    for i in 0..(rounds + 1) {
        let mut res: [Vec<f64>; 3] = Default::default();
        for k in 0..3 {
            let v = (i + k) % 3; // rotate the order round by round
            res[v] = match v {
                0 => v_before::round(&mut rb).unwrap_or_else(|e| fail("before", e)),
                1 => v_prev::round(&mut rp).unwrap_or_else(|e| fail("prev", e)),
                _ => v_now::round(&mut rn).unwrap_or_else(|e| fail("now", e)),
            };
        }
        if i == 0 {
            continue; // warm-up round
        }
        for v in 0..3 {
            for (j, x) in res[v].iter().enumerate() {
                samples[v][j].push(*x);
            }
        }
    }
    let (before, prev) = (env!("XFER_AB_BEFORE"), env!("XFER_AB_PREV"));
    println!("## xfer A/B/C in one process on {name}: medians of {rounds} rotated rounds (us)\n");
    println!("| row | before {before} | prev {prev} | now | now / before | prev / before |");
    println!("| --- | --- | --- | --- | --- | --- |");
    let modes = ["CE", "SM", "Auto", "staged"];
    let cases = [
        "back to back (GPU)",
        "back to back, host a send",
        "single incl. wait",
        "single: the send (min)",
        "single: the wait (min)",
        "batch of 8",
    ];
    let mut names = Vec::new();
    for m in modes {
        for c in cases {
            names.push(format!("{m}, {c}"));
        }
    }
    for (w, h) in COLOUR_SIZES {
        names.push(format!("colour Rgb24->NV12 {w}x{h} (GPU)"));
        names.push(format!("colour Rgb24->NV12 {w}x{h}, host a launch"));
    }
    for (j, name) in names.iter().enumerate() {
        let b = median(&mut samples[0][j].clone());
        let p = median(&mut samples[1][j].clone());
        let n = median(&mut samples[2][j].clone());
        println!(
            "| {name} | {b:.2} | {p:.2} | {n:.2} | {:+.1} % | {:+.1} % |",
            (n / b - 1.0) * 100.0,
            (p / b - 1.0) * 100.0
        );
    }
}
