//! Decode throughput: one session, and N sessions in threads, frames copied into pool frames
//! (GPU-resident output, no host download), with process CPU time per frame.
//!
//! Single-session runs also print where a frame's CPU time goes, stage by stage, from the
//! decoder's [`nvdx::decode::StageTimes`] in one extra run with
//! [`nvdx::decode::DecoderConfig::stage_timing`] on (the timed rows run without it): wall time
//! always, thread CPU time with `--features profile`. Multi-session runs print NVDEC utilisation beside the frame rate,
//! sampled with `nvidia-smi` (left out when nvidia-smi is missing).
//!
//! `NVDX_MEDIA_DIR=/path/to/media cargo bench --bench decode [--features profile]`; the peer figures (PyNvVideoCodec)
//! come from `NVDX_PEER_RESULTS` (the JSON `shared/peers/decode_peers.py` writes) when set, else
//! from the figures recorded in `shared/peers/RESULTS.md`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nvdx::decode::{DecoderConfig, FileDecoder, StageTime, StageTimes};
use nvdx::{Context, PrimaryContextFlags};

const FILES: &[(&str, &str, &str)] = &[
    ("h264_1080p", "h264_1080p_gop250.mp4", "H.264 1080p"),
    ("hevc_1080p", "hevc_1080p.mp4", "HEVC 1080p"),
    (
        "h264_720p_gop60",
        "h264_720p_10s_gop60.mp4",
        "H.264 720p GOP 60",
    ),
];
const SESSIONS: &[usize] = &[4, 7, 14, 21, 28];

#[path = "support/cpu_clock.rs"]
mod cpu_clock;
use cpu_clock::cpu_seconds;

/// The calling thread's CPU time in seconds.
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter; the call has no other effect.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// What one decode of a file leaves besides its frame count.
#[derive(Default)]
struct Detail {
    timing: StageTimes,
    demux: Duration,
    /// CPU time of the decoding thread.
    thread_cpu: f64,
    /// Pictures copied out of their surface early (the parser was about to reuse it).
    spilled: u64,
}

fn decode_all(ctx: &Context, path: &Path) -> nvdx::Result<usize> {
    decode_detailed(ctx, path, false).map(|(n, _)| n)
}

/// Decodes every frame of `path`; `stage_timing` turns on the decoder's per-stage clocks
/// (for the breakdown, from a run of its own: the timed rows run without them).
fn decode_detailed(
    ctx: &Context,
    path: &Path,
    stage_timing: bool,
) -> nvdx::Result<(usize, Detail)> {
    let c0 = thread_cpu_seconds();
    let config = DecoderConfig {
        stage_timing,
        ..DecoderConfig::default()
    };
    let mut d = FileDecoder::open(ctx, path, config)?;
    // NVDX_DECODE_AHEAD=N overrides how far the consumer stays behind the decoder.
    if let Some(n) = std::env::var("NVDX_DECODE_AHEAD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        d.set_decode_ahead(n);
    }
    let mut n = 0;
    while let Some(f) = d.next_frame()? {
        drop(f);
        n += 1;
    }
    d.stream().synchronize()?;
    let detail = Detail {
        timing: d.decoder().stats().timing,
        spilled: d.decoder().stats().spilled,
        demux: d.timings().0,
        thread_cpu: thread_cpu_seconds() - c0,
    };
    Ok((n, detail))
}

struct Run<T> {
    frames: usize,
    secs: f64,
    cpu: f64,
    detail: T,
}

fn best_of<T>(
    reps: usize,
    mut f: impl FnMut() -> nvdx::Result<(usize, T)>,
) -> nvdx::Result<Run<T>> {
    let mut best: Option<Run<T>> = None;
    for _ in 0..reps {
        let (c0, t0) = (cpu_seconds(), Instant::now());
        let (frames, detail) = f()?;
        let run = Run {
            frames,
            secs: t0.elapsed().as_secs_f64(),
            cpu: cpu_seconds() - c0,
            detail,
        };
        if best.as_ref().is_none_or(|b| run.secs < b.secs) {
            best = Some(run);
        }
    }
    best.ok_or_else(|| nvdx::Error::InvalidState("no runs".into()))
}

/// Samples NVDEC utilisation (`nvidia-smi --query-gpu=utilization.decoder`, percent) every
/// 100 ms in a background thread while it lives.
struct NvdecSampler {
    child: Child,
    reader: std::thread::JoinHandle<Vec<f64>>,
}

impl NvdecSampler {
    /// `None` (silently) when nvidia-smi cannot be started. `gpu` is the UUID to query.
    fn start(gpu: Option<&str>) -> Option<NvdecSampler> {
        let mut cmd = Command::new("nvidia-smi");
        cmd.args([
            "--query-gpu=utilization.decoder",
            "--format=csv,noheader,nounits",
            "-lms",
            "100",
        ]);
        if let Some(id) = gpu {
            cmd.arg(format!("--id={id}"));
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let out = child.stdout.take()?;
        let reader = std::thread::spawn(move || {
            std::io::BufReader::new(out)
                .lines()
                .map_while(|l| l.ok())
                .filter_map(|l| l.trim().parse::<f64>().ok())
                .collect()
        });
        Some(NvdecSampler { child, reader })
    }

    /// Stops sampling; mean and peak utilisation in percent, if any sample came.
    fn stop(mut self) -> Option<(f64, f64)> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let samples = self.reader.join().ok()?;
        if samples.is_empty() {
            return None;
        }
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let peak = samples.iter().copied().fold(0.0, f64::max);
        Some((mean, peak))
    }
}

/// One line of the per-frame breakdown: microseconds per frame of wall time and, with the
/// `profile` feature, thread CPU time.
fn stage_row(
    name: &str,
    wall_ns: f64,
    cpu_ns: Option<f64>,
    calls: Option<f64>,
    frames: f64,
) -> String {
    let us = |ns: f64| format!("{:.2}", ns / 1000.0 / frames);
    format!(
        "| {name} | {} | {} | {} |",
        cpu_ns.map(us).unwrap_or_else(|| "-".into()),
        us(wall_ns),
        calls
            .map(|c| format!("{:.2}", c / frames))
            .unwrap_or_else(|| "-".into())
    )
}

/// The per-frame breakdown of one single-session run.
fn breakdown(label: &str, r: &Run<Detail>) -> Vec<String> {
    let t = &r.detail.timing;
    let frames = r.frames.max(1) as f64;
    let cpu = StageTimes::THREAD_CPU;
    let w = |s: &StageTime| s.wall_ns as f64;
    let c = |s: &StageTime| cpu.then_some(s.cpu_ns as f64);
    let diff = |a: &StageTime, parts: &[&StageTime]| {
        let wall = w(a) - parts.iter().map(|p| w(p)).sum::<f64>();
        let cpu_ns = c(a).map(|x| x - parts.iter().map(|p| p.cpu_ns as f64).sum::<f64>());
        (wall, cpu_ns)
    };
    let mut rows = vec![
        format!(
            "\n### {label}, 1 session: where a frame's time goes (µs per frame{})\n",
            if cpu {
                "; thread CPU from CLOCK_THREAD_CPUTIME_ID"
            } else {
                "; wall time only, build with --features profile for thread CPU time"
            }
        ),
        "| stage | CPU µs/frame | wall µs/frame | calls/frame |".into(),
        "| --- | --- | --- | --- |".into(),
    ];
    let (pw, pc) = diff(&t.parse, &[&t.callbacks, &t.sequence]);
    rows.push(stage_row(
        "NVIDIA parser (cuvidParseVideoData without nvdx's callbacks)",
        pw,
        pc,
        Some(t.parse.calls as f64),
        frames,
    ));
    rows.push(stage_row(
        "sequence callback: decoder creation (once per stream)",
        w(&t.sequence),
        c(&t.sequence),
        Some(t.sequence.calls as f64),
        frames,
    ));
    let (cw, cc) = diff(&t.callbacks, &[&t.decode_picture]);
    rows.push(stage_row(
        "nvdx parser callbacks (without cuvidDecodePicture)",
        cw,
        cc,
        Some(t.callbacks.calls as f64),
        frames,
    ));
    let stages: [(&str, &StageTime); 9] = [
        ("cuvidDecodePicture", &t.decode_picture),
        ("cuvidGetDecodeStatus", &t.decode_status),
        ("cuvidMapVideoFrame64", &t.map),
        ("cuvidUnmapVideoFrame64", &t.unmap),
        ("copy enqueue (cuMemcpy2DAsync)", &t.copy),
        (
            "surface ordering (cuEventRecord, cuStreamWaitEvent)",
            &t.events,
        ),
        ("frame access tracking around the copy", &t.tracking),
        ("output pool acquire", &t.acquire),
        ("context push/pop (each a call)", &t.ctx),
    ];
    for (name, s) in stages {
        rows.push(stage_row(name, w(s), c(s), Some(s.calls as f64), frames));
    }
    let (bw, bc) = diff(
        &t.api,
        &[
            &t.parse,
            &t.decode_status,
            &t.map,
            &t.unmap,
            &t.copy,
            &t.events,
            &t.tracking,
            &t.acquire,
            &t.ctx,
        ],
    );
    rows.push(stage_row(
        "nvdx bookkeeping (rest of push/flush/next_owned)",
        bw,
        bc,
        None,
        frames,
    ));
    rows.push(stage_row(
        "all inside the decoder's calls",
        w(&t.api),
        c(&t.api),
        Some(t.api.calls as f64),
        frames,
    ));
    let demux_ns = r.detail.demux.as_nanos() as f64;
    rows.push(stage_row("demuxer (wall)", demux_ns, None, None, frames));
    // The rest: the decoding thread outside the decoder and demuxer (frame drops, which
    // record the frame's last use; the loop), and the other threads of the process.
    let inside = c(&t.api).unwrap_or(w(&t.api)) + demux_ns;
    let thread_ns = r.detail.thread_cpu * 1e9;
    let process_ns = r.cpu * 1e9;
    // Without thread CPU per stage (no `profile` feature) the decoder's share is wall time,
    // which includes waits: the difference would mix clocks, so it is not printed.
    if cpu {
        rows.push(stage_row(
            "unattributed, decoding thread (frame drop/return, loop)",
            thread_ns - inside,
            Some(thread_ns - inside),
            None,
            frames,
        ));
    } else {
        rows.push(
            "| unattributed, decoding thread (frame drop/return, loop) | - | - (build with --features profile) | - |"
                .into(),
        );
    }
    rows.push(stage_row(
        "unattributed, other threads (driver)",
        process_ns - thread_ns,
        Some(process_ns - thread_ns),
        None,
        frames,
    ));
    rows.push(stage_row(
        "process CPU (getrusage)",
        process_ns,
        Some(process_ns),
        None,
        frames,
    ));
    // Steady state: the process CPU less the decoder's creation (what a long stream costs per
    // frame; the creation's own share shrinks with the clip's length).
    let creation = c(&t.sequence).unwrap_or(w(&t.sequence));
    rows.push(stage_row(
        "process CPU without the decoder's creation",
        process_ns - creation,
        Some(process_ns - creation),
        None,
        frames,
    ));
    rows.push(format!(
        "| pictures spilled (copied out early) | - | - | {:.2} |",
        r.detail.spilled as f64 / frames
    ));
    rows
}

fn sessions(ctx: &Context, path: &Path, n: usize) -> nvdx::Result<usize> {
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let ctx = ctx.clone();
            let path = path.to_path_buf();
            std::thread::spawn(move || decode_all(&ctx, &path))
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h
            .join()
            .map_err(|_| nvdx::Error::InvalidState("decode thread panicked".into()))??;
    }
    Ok(total)
}

/// Peer figures: (fps, cpu seconds) by key, e.g. `pnv_full_h264_1080p`, `pnv_sessions4_hevc_1080p`.
struct Peers {
    source: String,
    values: Vec<(String, f64, Option<f64>)>,
}

impl Peers {
    fn load() -> Peers {
        if let Ok(p) = std::env::var("NVDX_PEER_RESULTS") {
            if let Ok(text) = std::fs::read_to_string(&p) {
                let mut values = Vec::new();
                for key in keys() {
                    if let Some(obj) = json_object(&text, &key) {
                        if let Some(fps) = json_number(obj, "fps") {
                            values.push((key, fps, json_number(obj, "cpu_s")));
                        }
                    }
                }
                return Peers {
                    source: format!(
                        "PyNvVideoCodec, from {p} (NVDX_PEER_RESULTS: the same run only if that \
                         JSON was written beside this run)"
                    ),
                    values,
                };
            }
            eprintln!("cannot read NVDX_PEER_RESULTS={p}; using the recorded figures");
        }
        let rec = |k: &str, fps: f64, cpu: Option<f64>| (k.to_owned(), fps, cpu);
        Peers {
            source: "recorded peer: PyNvVideoCodec 2.2.4 on 2x H200 (shared/peers/RESULTS.md, \
                     2026-11-22), not measured in this run"
                .into(),
            values: vec![
                rec("pnv_full_h264_1080p", 495.0, Some(0.33)),
                rec("pnv_full_hevc_1080p", 827.0, Some(0.37)),
                rec("pnv_full_h264_720p_gop60", 661.0, None),
                rec("pnv_sessions4_h264_1080p", 1609.0, None),
                rec("pnv_sessions7_h264_1080p", 2392.0, None),
                rec("pnv_sessions14_h264_1080p", 3044.0, None),
                rec("pnv_sessions4_hevc_1080p", 2363.0, None),
                rec("pnv_sessions7_hevc_1080p", 2787.0, None),
                rec("pnv_sessions14_hevc_1080p", 3700.0, None),
            ],
        }
    }

    fn get(&self, key: &str) -> Option<(f64, Option<f64>)> {
        self.values
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, f, c)| (*f, *c))
    }
}

fn keys() -> Vec<String> {
    let mut k: Vec<String> = FILES
        .iter()
        .map(|(n, _, _)| format!("pnv_full_{n}"))
        .collect();
    for (n, _, _) in &FILES[..2] {
        for s in SESSIONS {
            k.push(format!("pnv_sessions{s}_{n}"));
        }
    }
    k
}

/// The text of `"key": { ... }` in a flat JSON document (no nested objects inside).
fn json_object<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(&format!("\"{key}\""))?;
    let rest = &text[at..];
    let open = rest.find('{')?;
    let close = rest[open..].find('}')?;
    Some(&rest[open..open + close])
}

fn json_number(obj: &str, field: &str) -> Option<f64> {
    let at = obj.find(&format!("\"{field}\""))?;
    let rest = &obj[at + field.len() + 2..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(dir) = std::env::var_os("NVDX_MEDIA_DIR").map(PathBuf::from) else {
        eprintln!("set NVDX_MEDIA_DIR to the folder with h264_1080p_gop250.mp4, hevc_1080p.mp4 and h264_720p_10s_gop60.mp4");
        std::process::exit(2);
    };
    // NVDX_SCHED=auto|blocking|yield|spin picks the context's wait policy (default: auto, which
    // measured best on H100; blocking sync did not lower CPU time per frame).
    let sched = std::env::var("NVDX_SCHED").unwrap_or_else(|_| "auto".into());
    let flags = match sched.as_str() {
        "spin" => PrimaryContextFlags::SCHED_SPIN,
        "yield" => PrimaryContextFlags::SCHED_YIELD,
        "blocking" => PrimaryContextFlags::SCHED_BLOCKING_SYNC,
        _ => PrimaryContextFlags::SCHED_AUTO,
    };
    if let Ok(dev) = nvdx::Device::get(0) {
        if let Err(e) = Context::set_primary_flags(&dev, flags) {
            eprintln!("cannot set {flags:?}: {e}");
        }
    }
    let ctx = match Context::primary(0) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("no GPU: {e}");
            std::process::exit(1);
        }
    };
    let gpu = ctx.device().name().unwrap_or_default();
    let gpu_uuid = ctx.device().uuid_string().ok();
    let peers = Peers::load();
    let mut rows = Vec::new();
    let mut breakdowns = Vec::new();
    for (key, file, label) in FILES {
        let path = dir.join(file);
        if !path.exists() {
            eprintln!("{} missing, skipped", path.display());
            continue;
        }
        // Warm-up: context, library, first decoder creation.
        if let Err(e) = decode_all(&ctx, &path) {
            eprintln!("{label}: {e}");
            std::process::exit(1);
        }
        // The breakdown from one run with the decoder's stage clocks on (about 36 clock reads
        // a picture), the timed rows from runs without them.
        match best_of(1, || decode_detailed(&ctx, &path, true)) {
            Ok(r) => breakdowns.extend(breakdown(label, &r)),
            Err(e) => eprintln!("{label} (stage timing): {e}"),
        }
        match best_of(3, || decode_detailed(&ctx, &path, false)) {
            Ok(r) => {
                let fps = r.frames as f64 / r.secs;
                let cpu_ms = 1000.0 * r.cpu / r.frames.max(1) as f64;
                let peer = peers.get(&format!("pnv_full_{key}"));
                rows.push(format!(
                    "| full decode, {label}, 1 session | {} frames | {fps:.0} fps | {cpu_ms:.3} ms ({:.2} CPU-s) | - | {} |",
                    r.frames,
                    r.cpu,
                    peer.map(|(f, c)| format!(
                        "{f:.0} fps{}",
                        c.map(|c| format!(", {c:.2} CPU-s")).unwrap_or_default()
                    ))
                    .unwrap_or_else(|| "-".into())
                ));
                eprintln!("{label}: {fps:.0} fps, {cpu_ms:.3} CPU-ms/frame");
            }
            Err(e) => {
                eprintln!("{label}: {e}");
                std::process::exit(1);
            }
        }
    }
    for (key, file, label) in &FILES[..2] {
        let path = dir.join(file);
        if !path.exists() {
            continue;
        }
        for &n in SESSIONS {
            // NVDX_BENCH_NO_NVDEC_SAMPLER=1: no nvidia-smi beside the run (its driver queries
            // every 100 ms may cost the sessions CPU; the before binaries of
            // tools/gpu-verify/decode-ab.sh run none).
            let sampler = if std::env::var_os("NVDX_BENCH_NO_NVDEC_SAMPLER").is_some() {
                None
            } else {
                NvdecSampler::start(gpu_uuid.as_deref())
            };
            let run = best_of(1, || sessions(&ctx, &path, n).map(|f| (f, ())));
            let util = sampler.and_then(NvdecSampler::stop);
            match run {
                Ok(r) => {
                    let fps = r.frames as f64 / r.secs;
                    let cpu_ms = 1000.0 * r.cpu / r.frames.max(1) as f64;
                    let peer = peers.get(&format!("pnv_sessions{n}_{key}"));
                    let util = util
                        .map(|(mean, peak)| format!("{mean:.0}% (peak {peak:.0}%)"))
                        .unwrap_or_else(|| "-".into());
                    rows.push(format!(
                        "| {label}, {n} sessions in threads, aggregate | {} frames | {fps:.0} fps | {cpu_ms:.3} ms | {util} | {} |",
                        r.frames,
                        peer.map(|(f, _)| format!("{f:.0} fps")).unwrap_or_else(|| "-".into())
                    ));
                    eprintln!("{label} x{n}: {fps:.0} fps aggregate, NVDEC {util}");
                }
                Err(e) => {
                    eprintln!("{label} x{n}: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    println!("\n## nvdx decode on {gpu} (context scheduling {sched})\n");
    println!("| work | frames | nvdx | nvdx CPU per frame | NVDEC utilisation | peer |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for r in rows {
        println!("{r}");
    }
    for r in breakdowns {
        println!("{r}");
    }
    println!(
        "\nbreakdown: from one run of its own with DecoderConfig::stage_timing on (the rows \
         above run without it); the stages nest (the parser contains the callbacks, which contain \
         cuvidDecodePicture); the run includes opening the file and creating the decoder; \
         the unattributed rows are thread CPU minus the time inside the decoder (CPU with \
         --features profile, else wall) and the demuxer (wall), and process minus thread CPU"
    );
    println!("\npeer: {}", peers.source);
    println!("targets: 1 session >= 495 fps H.264 1080p, >= 827 fps HEVC; all engines >= 3500 fps H.264, >= 4000 fps HEVC; CPU <= 0.1 ms/frame");
}
