//! NVENC per-frame encode latency at 720p, 1080p, 1440p and 4K: zero-copy (the NV12 frame is
//! already on the GPU and goes to NVENC as is) against host upload (the frame is uploaded from
//! pageable host memory before each encode, as a CPU-side pipeline would).
//!
//! `cargo bench --bench encode` (harness = false). Low-latency H.264 P1/P4, no B-frames, so each
//! encode call returns its packet and the wall time of the call is the frame's latency. On a
//! GPU without NVENC it prints why and exits 0.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nvdx::encode::{is_no_encoder, Encoder, EncoderConfig, PictureOptions, Preset, Tuning};
use nvdx::{Codec, Context, FramePool, MemoryKind, PixelFormat, Stream};

const SIZES: [(&str, u32, u32); 4] = [
    ("720p", 1280, 720),
    ("1080p", 1920, 1080),
    ("1440p", 2560, 1440),
    ("4K", 3840, 2160),
];
const WARMUP: usize = 10;
const FRAMES: usize = 120;

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Row {
    zero_copy: Duration,
    upload: Duration,
    p95_zero_copy: Duration,
}

fn bench_size(ctx: &Context, preset: Preset, w: u32, h: u32) -> nvdx::Result<Row> {
    let stream = Arc::new(Stream::new(ctx)?);
    let cfg = EncoderConfig::new(Codec::H264, w, h)
        .preset(preset)
        .tuning(Tuning::LowLatency)
        .b_frames(0)
        .frame_rate(60, 1);
    let mut enc = Encoder::new(&cfg, Arc::clone(&stream))?;
    if enc.is_double() {
        return Err(nvdx::Error::Unsupported(format!(
            "{} is loaded (NVDX_LIBNVIDIA_ENCODE_PATH): its throughput says nothing about \
             NVENC; the encode bench runs on NVENC hardware only",
            enc.engine_name()
        )));
    }
    // The encoder holds up to ring_size() frames: the pool needs more.
    let pool = FramePool::new(
        ctx,
        PixelFormat::Nv12,
        w,
        h,
        enc.ring_size() + 1,
        MemoryKind::Device,
    )?;
    let host: Vec<u8> = (0..(w as usize * h as usize * 3 / 2))
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    // Zero-copy: fill every pool frame once, then encode them round-robin.
    {
        let mut frames = Vec::new();
        for _ in 0..4 {
            let mut f = pool.acquire()?;
            f.copy_from_host(&host)?;
            frames.push(f);
        }
    }
    let mut zc = Vec::with_capacity(FRAMES);
    for i in 0..WARMUP + FRAMES {
        let f = pool.acquire()?;
        let t = Instant::now();
        let out = enc.encode(f, PictureOptions::default())?;
        let dt = t.elapsed();
        assert_eq!(out.packets.len(), 1, "no B-frames: one packet per call");
        if i >= WARMUP {
            zc.push(dt);
        }
    }
    // Host upload: a synchronous upload of the picture, then the encode.
    let mut up = Vec::with_capacity(FRAMES);
    for i in 0..WARMUP + FRAMES {
        let mut f = pool.acquire()?;
        let t = Instant::now();
        f.copy_from_host(&host)?;
        let out = enc.encode(f, PictureOptions::default())?;
        let dt = t.elapsed();
        drop(out);
        if i >= WARMUP {
            up.push(dt);
        }
    }
    enc.finish()?;
    let mut zc_sorted = zc.clone();
    zc_sorted.sort();
    let p95 = zc_sorted[zc_sorted.len() * 95 / 100];
    Ok(Row {
        zero_copy: median(&mut zc),
        upload: median(&mut up),
        p95_zero_copy: p95,
    })
}

fn main() {
    let ctx = match Context::primary(0) {
        Ok(c) => c,
        Err(e) => {
            println!("encode bench skipped: no usable GPU ({e})");
            return;
        }
    };
    let name = ctx.device().name().unwrap_or_default();
    // Probe once: a GPU without NVENC stops here with the reason.
    if let Err(e) = Encoder::capabilities(&ctx, Codec::H264) {
        if is_no_encoder(&e) {
            println!("encode bench skipped: {e}");
        } else {
            println!("encode bench skipped: cannot query NVENC on {name}: {e}");
        }
        return;
    }
    println!("NVENC per-frame encode latency on {name} (H.264, low-latency tuning, IPPP, median of {FRAMES})");
    println!(
        "{:<7} {:<6} {:>14} {:>14} {:>16} {:>12}",
        "size", "preset", "zero-copy ms", "zero-copy p95", "host-upload ms", "zero-copy fps"
    );
    for preset in [Preset::P1, Preset::P4] {
        for (label, w, h) in SIZES {
            match bench_size(&ctx, preset, w, h) {
                Ok(r) => println!(
                    "{:<7} {:<6} {:>14.3} {:>14.3} {:>16.3} {:>12.0}",
                    label,
                    format!("{preset:?}"),
                    ms(r.zero_copy),
                    ms(r.p95_zero_copy),
                    ms(r.upload),
                    1.0 / r.zero_copy.as_secs_f64()
                ),
                Err(e) => println!("{label:<7} {preset:?}: {e}"),
            }
        }
    }
}
