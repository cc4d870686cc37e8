//! Frame sampling for vision-language models: per video, open + sample K uniform frames (K =
//! 8, 16 and 32, as vLLM uses up to 32) into a 448x448 CLIP-normalised f16 tensor (and into
//! RGB24 frames), latency (median of 12) and process CPU time per video (`getrusage`, µs
//! resolution); then 16 concurrent requests (16 threads each doing open + sample K) in videos
//! per second. Printed as one markdown table per K beside the peers' (PyNvVideoCodec
//! SimpleDecoder + get_batch_frames_by_index, OpenCV; their figures are for 8 frames).
//!
//! `NVDX_MEDIA_DIR=/path/to/media cargo bench --bench sample` (`NVDX_SAMPLE_K=8,16` picks the
//! frame counts); peers from `NVDX_PEER_RESULTS`
//! (the JSON of `shared/peers/decode_peers.py`, labelled as coming from that file: it is the same
//! run only when the caller ran the script beside the bench) when set, else the
//! recorded figures. Without a GPU or media it prints why and exits 0.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nvdx::kernels::colour::{ColourSpace, Tensor, TensorDtype, TensorParams};
use nvdx::sample::{Output, VideoReader};
use nvdx::{Context, PixelFormat, Stream};

/// (peer key, file, label, target ms per video).
const FILES: &[(&str, &str, &str, f64)] = &[
    (
        "h264_1080p",
        "h264_1080p_gop250.mp4",
        "H.264 1080p GOP 250",
        250.0,
    ),
    ("hevc_1080p", "hevc_1080p.mp4", "HEVC 1080p", 180.0),
    (
        "h264_720p_gop60",
        "h264_720p_10s_gop60.mp4",
        "H.264 720p GOP 60",
        60.0,
    ),
];
/// Frames per video measured by default.
const KS: &[usize] = &[8, 16, 32];
const SIZE: u32 = 448;
const REPS: usize = 12;
const THREADS: usize = 16;
const PER_THREAD: usize = 4;

#[path = "support/cpu_clock.rs"]
mod cpu_clock;
use cpu_clock::cpu_seconds;

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// One request: open + sample K into the tensor, finished on the GPU.
fn tensor_request(path: &Path, k: usize, t: &mut Tensor, stream: &Stream) -> nvdx::Result<()> {
    let r = VideoReader::open(path)?;
    r.sample_uniform_tensor(k, t, 0, &TensorParams::clip(), stream)?;
    stream.synchronize()
}

/// One request into RGB24 frames (allocated once per file, outside the timing).
fn rgb_request(path: &Path, frames: &mut [nvdx::Frame], stream: &Stream) -> nvdx::Result<()> {
    let r = VideoReader::open(path)?;
    let idx = r.uniform_indices(frames.len())?;
    r.read(
        &idx,
        Output::Rgb {
            frames,
            space: ColourSpace::BT709_LIMITED,
        },
        stream,
    )?;
    stream.synchronize()
}

struct Row {
    k: usize,
    key: &'static str,
    label: &'static str,
    target: f64,
    tensor_ms: f64,
    rgb_ms: f64,
    cpu_ms: f64,
    vps16: f64,
    split: String,
}

fn measure(
    ctx: &Context,
    k: usize,
    key: &'static str,
    path: &Path,
    label: &'static str,
    target: f64,
) -> nvdx::Result<Row> {
    let stream = Stream::new(ctx)?;
    let mut t = Tensor::new(ctx, k, SIZE, SIZE, TensorDtype::F16)?;
    // Warm-up: sessions of the pool created, kernels loaded.
    tensor_request(path, k, &mut t, &stream)?;
    tensor_request(path, k, &mut t, &stream)?;
    let c0 = cpu_seconds();
    let mut lat = Vec::with_capacity(REPS);
    for _ in 0..REPS {
        let t0 = Instant::now();
        tensor_request(path, k, &mut t, &stream)?;
        lat.push(t0.elapsed());
    }
    let cpu_ms = (cpu_seconds() - c0) * 1000.0 / REPS as f64;
    let tensor_ms = median(lat);

    let r = VideoReader::open(path)?;
    let s = r.sample_uniform_tensor(k, &mut t, 0, &TensorParams::clip(), &stream)?;
    stream.synchronize()?;
    let st = s.stats;
    let split = format!(
        "plan {:.2} ms, sessions {:.2} ms, decode+enqueue {:.1} ms; {} ranges on {} sessions, {} packets decoded, {} non-reference left out",
        st.plan.as_secs_f64() * 1e3,
        st.acquire.as_secs_f64() * 1e3,
        st.decode.as_secs_f64() * 1e3,
        st.ranges,
        st.sessions,
        st.pushed,
        st.dropped
    );

    let mut frames = r.alloc_frames(&stream, PixelFormat::Rgb24, k)?;
    rgb_request(path, &mut frames, &stream)?;
    let mut lat = Vec::with_capacity(REPS);
    for _ in 0..REPS {
        let t0 = Instant::now();
        rgb_request(path, &mut frames, &stream)?;
        lat.push(t0.elapsed());
    }
    let rgb_ms = median(lat);

    // 16 concurrent requests, PER_THREAD videos each.
    let t0 = Instant::now();
    let errors: Vec<nvdx::Error> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..THREADS)
            .map(|_| {
                sc.spawn(|| -> nvdx::Result<()> {
                    let stream = Stream::new(ctx)?;
                    let mut t = Tensor::new(ctx, k, SIZE, SIZE, TensorDtype::F16)?;
                    for _ in 0..PER_THREAD {
                        tensor_request(path, k, &mut t, &stream)?;
                    }
                    Ok(())
                })
            })
            .collect();
        hs.into_iter()
            .filter_map(|h| match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(nvdx::Error::Decode("thread panicked".into())),
            })
            .collect()
    });
    if let Some(e) = errors.into_iter().next() {
        return Err(e);
    }
    let vps16 = (THREADS * PER_THREAD) as f64 / t0.elapsed().as_secs_f64();
    Ok(Row {
        k,
        key,
        label,
        target,
        tensor_ms,
        rgb_ms,
        cpu_ms,
        vps16,
        split,
    })
}

/// Peer figures by key: (seconds, cpu seconds).
struct Peers {
    same_run: bool,
    text: String,
}

impl Peers {
    fn load() -> Peers {
        if let Ok(p) = std::env::var("NVDX_PEER_RESULTS") {
            match std::fs::read_to_string(&p) {
                Ok(text) => {
                    return Peers {
                        same_run: true,
                        text,
                    }
                }
                Err(e) => {
                    eprintln!("cannot read NVDX_PEER_RESULTS={p} ({e}); using the recorded figures")
                }
            }
        }
        Peers {
            same_run: false,
            text: String::new(),
        }
    }

    fn get(&self, key: &str, field: &str) -> Option<f64> {
        let at = self.text.find(&format!("\"{key}\""))?;
        let rest = &self.text[at..];
        let open = rest.find('{')?;
        let close = rest[open..].find('}')?;
        let obj = &rest[open..open + close];
        let f = obj.find(&format!("\"{field}\""))?;
        let v = obj[f + field.len() + 2..]
            .trim_start()
            .strip_prefix(':')?
            .trim_start();
        let end = v
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+')))
            .unwrap_or(v.len());
        v[..end].parse().ok()
    }

    /// (PyNvVideoCodec ms, OpenCV ms, OpenCV CPU s, PyNvVideoCodec 16-thread videos/s).
    fn row(&self, key: &str) -> (Option<f64>, Option<f64>, Option<f64>, Option<f64>) {
        if self.same_run {
            return (
                self.get(&format!("pnv_sample8_open_NATIVE_{key}"), "s")
                    .map(|s| s * 1e3),
                self.get(&format!("cv_sample8_{key}"), "s").map(|s| s * 1e3),
                self.get(&format!("cv_sample8_{key}"), "cpu_s"),
                self.get(&format!("pnv_sample8_threads16_{key}"), "fps"),
            );
        }
        match key {
            "h264_1080p" => (Some(788.0), Some(534.0), Some(5.4), None),
            "hevc_1080p" => (Some(540.0), Some(1713.0), None, None),
            "h264_720p_gop60" => (Some(290.0), Some(190.0), None, None),
            _ => (None, None, None, None),
        }
    }
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".into(), |x| format!("{x:.digits$}"))
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let ctx = match Context::primary(0) {
        Ok(c) => c,
        Err(e) => {
            println!("sample bench skipped: no usable NVIDIA GPU ({e})");
            return;
        }
    };
    let Some(dir) = std::env::var_os("NVDX_MEDIA_DIR").map(PathBuf::from) else {
        println!("sample bench skipped: set NVDX_MEDIA_DIR to the folder with h264_1080p_gop250.mp4, hevc_1080p.mp4 and h264_720p_10s_gop60.mp4");
        return;
    };
    let gpu = ctx.device().name().unwrap_or_default();
    let peers = Peers::load();
    let ks: Vec<usize> = std::env::var("NVDX_SAMPLE_K")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| KS.to_vec());
    let mut rows = Vec::new();
    for &k in &ks {
        for &(key, file, label, target) in FILES {
            let path = dir.join(file);
            if !path.exists() {
                eprintln!("{} missing, skipped", path.display());
                continue;
            }
            match measure(&ctx, k, key, &path, label, target) {
                Ok(r) => {
                    println!("{label}, {k} frames: {}", r.split);
                    rows.push(r);
                }
                Err(e) => {
                    eprintln!("{label}, {k} frames: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    let src = if peers.same_run {
        "peers: from NVDX_PEER_RESULTS (the same run only if that JSON was written beside this run)"
    } else {
        "peers: recorded figures, not measured in this run"
    };
    for &k in &ks {
        println!(
            "\n### Open + sample {k} uniform frames, {SIZE}x{SIZE} f16 tensor ({gpu}; {src})\n"
        );
        if k != 8 {
            println!("(peer columns are the peers' 8-frame figures; the Python bench measures them at {k})\n");
        }
        println!("| video | nvdx tensor ms (target) | nvdx RGB ms | nvdx CPU ms/video | PyNvVideoCodec ms | OpenCV ms | OpenCV CPU ms/video | nvdx 16-concurrent videos/s | PyNvVideoCodec 16-thread videos/s |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for r in rows.iter().filter(|r| r.k == k) {
            let (pnv, cv, cv_cpu, pnv16) = peers.row(r.key);
            let pass = if r.tensor_ms <= r.target {
                "ok"
            } else {
                "MISSED"
            };
            println!(
                "| {} | {:.1} (<= {:.0}, {pass}) | {:.1} | {:.2} | {} | {} | {} | {:.1} | {} |",
                r.label,
                r.tensor_ms,
                r.target,
                r.rgb_ms,
                r.cpu_ms,
                fmt(pnv, 0),
                fmt(cv, 0),
                fmt(cv_cpu.map(|c| c * 1e3), 0),
                r.vps16,
                fmt(pnv16, 1),
            );
        }
    }
    println!("\nCPU target: nvdx CPU per video <= 1/20 of OpenCV's; throughput target: >= 2x PyNvVideoCodec with 16 threads.");
}
