//! Decodes a video on the GPU and optionally writes raw frames.
//!
//! `cargo run --release --example decode -- [INPUT] [-o out.yuv] [--format nv12|i420|p016] [--gpu N]`
//!
//! Without INPUT it decodes `fixtures/sample.mp4` (next to the executable, in
//! `NVDX_FIXTURES_DIR`, or in the source tree). Prints frames, fps, CPU time and the time spent
//! demuxing, decoding + copying, and downloading + writing.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nvdx::decode::{nv12_to_i420, DecoderConfig, FileDecoder};
use nvdx::FrameView;
use nvdx::{Context, PixelFormat};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum OutFormat {
    Nv12,
    I420,
    P016,
}

struct Args {
    input: PathBuf,
    output: Option<PathBuf>,
    format: OutFormat,
    gpu: u32,
}

fn usage() -> String {
    "usage: decode [INPUT] [-o out.yuv] [--format nv12|i420|p016] [--gpu N]".into()
}

fn default_input() -> PathBuf {
    if let Ok(d) = std::env::var("NVDX_FIXTURES_DIR") {
        return PathBuf::from(d).join("sample.mp4");
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from))
    {
        for cand in [
            dir.join("fixtures/sample.mp4"),
            dir.join("../../fixtures/sample.mp4"),
        ] {
            if cand.exists() {
                return cand;
            }
        }
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/sample.mp4"))
}

fn parse_args() -> Result<Args, String> {
    let mut input = None;
    let mut output = None;
    let mut format = OutFormat::Nv12;
    let mut gpu = 0;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" | "--output" => output = Some(PathBuf::from(it.next().ok_or_else(usage)?)),
            "--format" => {
                format = match it.next().as_deref() {
                    Some("nv12") => OutFormat::Nv12,
                    Some("i420") => OutFormat::I420,
                    Some("p016") => OutFormat::P016,
                    other => return Err(format!("unknown format {other:?}; {}", usage())),
                }
            }
            "--gpu" => {
                gpu = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("--gpu needs a number; {}", usage()))?
            }
            "-h" | "--help" => return Err(usage()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}; {}", usage())),
            s => input = Some(PathBuf::from(s)),
        }
    }
    Ok(Args {
        input: input.unwrap_or_else(default_input),
        output,
        format,
        gpu,
    })
}

/// Process CPU time (user + system) in seconds, from /proc/self/stat (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(rest) = s.rfind(')').map(|i| &s[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

/// Converts a tight NV12/P016 picture into the requested layout.
fn convert(
    tight: &[u8],
    fmt: PixelFormat,
    w: u32,
    h: u32,
    out: OutFormat,
    buf: &mut Vec<u8>,
) -> nvdx::Result<()> {
    buf.clear();
    let bps = fmt.bytes_per_sample();
    match (out, bps) {
        (OutFormat::Nv12, 1) | (OutFormat::P016, 2) => buf.extend_from_slice(tight),
        (OutFormat::I420, _) => nv12_to_i420(tight, w as usize, h as usize, bps, buf)?,
        (OutFormat::P016, _) => {
            for &b in tight {
                buf.extend_from_slice(&(u16::from(b) << 8).to_le_bytes());
            }
        }
        (OutFormat::Nv12, _) => {
            // 16-bit to 8-bit: keep the high byte.
            buf.extend(tight.chunks_exact(2).map(|s| s[1]));
        }
    }
    Ok(())
}

fn run(args: &Args) -> nvdx::Result<()> {
    let ctx = Context::primary(args.gpu)?;
    let t_start = Instant::now();
    let cpu0 = cpu_seconds();
    let mut dec = FileDecoder::open(&ctx, &args.input, DecoderConfig::default())?;
    let info = dec.info().clone();
    eprintln!(
        "{}: {} {}x{} {}-bit, {} frames, on {}",
        args.input.display(),
        info.codec,
        info.width,
        info.height,
        info.bit_depth,
        info.frame_count.map_or("?".into(), |n| n.to_string()),
        ctx.device().name().unwrap_or_default()
    );
    let mut out = match &args.output {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| nvdx::Error::Io {
                path: p.display().to_string(),
                source: e,
            },
        )?)),
        None => None,
    };
    let total = info.frame_count.unwrap_or(0);
    let mut frames = 0usize;
    let mut concealed = 0usize;
    let mut write_time = Duration::ZERO;
    let (mut host, mut conv) = (Vec::new(), Vec::new());
    let mut last_progress = Instant::now();
    while let Some(f) = dec.next_frame()? {
        frames += 1;
        if !f.status.is_ok() {
            concealed += 1;
        }
        if let Some(w) = out.as_mut() {
            let t0 = Instant::now();
            dec.stream().synchronize()?;
            host.resize(f.frame.layout().tight_len(), 0);
            f.frame.copy_to_host(&mut host)?;
            convert(
                &host,
                f.frame.format(),
                f.frame.width(),
                f.frame.height(),
                args.format,
                &mut conv,
            )?;
            w.write_all(&conv).map_err(|e| nvdx::Error::Io {
                path: args
                    .output
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                source: e,
            })?;
            write_time += t0.elapsed();
        }
        if total > 200 && last_progress.elapsed() > Duration::from_millis(250) {
            last_progress = Instant::now();
            eprint!(
                "\r{frames}/{total} frames ({:.0}%)",
                100.0 * frames as f64 / total as f64
            );
        }
    }
    dec.stream().synchronize()?;
    if let Some(mut w) = out.take() {
        w.flush().map_err(|e| nvdx::Error::Io {
            path: args
                .output
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            source: e,
        })?;
    }
    if total > 200 {
        eprintln!();
    }
    let wall = t_start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let (demux, decode) = dec.timings();
    let stats = dec.decoder().stats();
    println!(
        "{frames} frames in {wall:.3} s: {:.0} fps, CPU {cpu:.3} s ({:.3} ms/frame)",
        frames as f64 / wall.max(1e-9),
        1000.0 * cpu / frames.max(1) as f64
    );
    println!(
        "stages: demux {:.1} ms, decode+copy {:.1} ms, download+write {:.1} ms",
        demux.as_secs_f64() * 1000.0,
        decode.as_secs_f64() * 1000.0,
        write_time.as_secs_f64() * 1000.0
    );
    if let Some(sf) = dec.decoder().stream_format() {
        println!(
            "output {:?} {}x{}, {} decode surfaces, decoders created {}, reconfigured {}, concealed/error frames {concealed}",
            sf.output_format, sf.width, sf.height, sf.decode_surfaces, stats.created, stats.reconfigured
        );
    }
    if let Some(p) = &args.output {
        println!("wrote {} ({:?})", p.display(), args.format);
    }
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
