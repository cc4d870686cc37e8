//! Colour kernels on the GPU: each case times nvdx's kernel, the naive one-thread-per-pixel
//! reference design where there is one (RGB24 -> NV12), and a device-to-device copy moving the
//! same number of bytes (the floor), all with CUDA events around back-to-back launches on one
//! stream. Prints one table line per case:
//! `name | nvdx us | naive us | copy floor us | GB/s | floor/nvdx | nvdx host enqueue us` (the
//! last: the host's time to enqueue one launch; where it reaches the GPU time, the launch is
//! host-bound)
//! then runs the same launches under criterion (`iter_custom`, GPU time per launch).
//!
//! `cargo bench --bench colour` (skips with a message and exit 0 without a GPU/driver).
//! `NVDX_COLOUR_CASES=4K,x8` keeps only the cases whose name contains one of the comma-separated
//! parts (`4K` matches `3840x2160`), e.g. to profile one kernel under `ncu` with a filter that
//! matches no criterion benchmark (`bench-colour --bench none`).

use std::time::Duration;

use criterion::Criterion;
use nvdx::kernels::colour::{self, ColourSpace, RawImage, Tensor, TensorDtype, TensorParams};
use nvdx::{Context, DeviceBuffer, Event, Frame, MemoryKind, PixelFormat, Stream};

/// Launches per table measurement.
const TABLE_ITERS: u32 = 200;

type Launch<'a> = Box<dyn FnMut() -> nvdx::Result<()> + 'a>;

struct Gpu {
    ctx: Context,
    stream: Stream,
    start: Event,
    end: Event,
}

impl Gpu {
    fn new() -> nvdx::Result<Gpu> {
        let ctx = Context::primary(0)?;
        let stream = Stream::new(&ctx)?;
        let start = Event::new(&ctx)?;
        let end = Event::new(&ctx)?;
        Ok(Gpu {
            ctx,
            stream,
            start,
            end,
        })
    }

    /// GPU time of `iters` back-to-back launches.
    fn time(&self, iters: u64, f: &mut Launch<'_>) -> nvdx::Result<Duration> {
        self.time_with_host(iters, f).map(|(gpu, _)| gpu)
    }

    /// GPU time of `iters` back-to-back launches, and the host's time to enqueue them (when
    /// the host is the slower, the GPU waits between launches and the GPU time is the host's).
    fn time_with_host(&self, iters: u64, f: &mut Launch<'_>) -> nvdx::Result<(Duration, Duration)> {
        f()?; // warm (module load, JIT, caches)
        self.start.record(&self.stream)?;
        let t0 = std::time::Instant::now();
        for _ in 0..iters {
            f()?;
        }
        let host = t0.elapsed();
        self.end.record(&self.stream)?;
        self.end.synchronize()?;
        Ok((Event::elapsed(&self.start, &self.end)?, host))
    }

    /// Microseconds per launch on the GPU and on the host (best of 3 rounds each, to dodge
    /// clock ramp-up).
    fn us_per_launch(&self, f: &mut Launch<'_>) -> nvdx::Result<(f64, f64)> {
        let (mut gpu, mut host) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..3 {
            let (g, h) = self.time_with_host(u64::from(TABLE_ITERS), f)?;
            gpu = gpu.min(g.as_secs_f64() * 1e6 / f64::from(TABLE_ITERS));
            host = host.min(h.as_secs_f64() * 1e6 / f64::from(TABLE_ITERS));
        }
        Ok((gpu, host))
    }

    fn frame(&self, f: PixelFormat, w: u32, h: u32) -> nvdx::Result<Frame> {
        let mut fr = Frame::new(&self.ctx, f, w, h, MemoryKind::Device)?;
        fr.memset_async(0x40, &self.stream)?;
        Ok(fr)
    }
}

struct Case<'a> {
    name: String,
    /// Bytes read + written per launch (per frame for batches).
    bytes: f64,
    /// Frames per launch (per-frame figures divide by it).
    frames: u32,
    nvdx: Launch<'a>,
    naive: Option<Launch<'a>>,
    /// Copies bytes / 2 (so that it reads + writes `bytes`), per frame.
    floor: Launch<'a>,
}

fn copy_floor<'a>(gpu: &'a Gpu, bytes: f64) -> nvdx::Result<Launch<'a>> {
    let n = (bytes / 2.0).ceil() as usize;
    let src = DeviceBuffer::new(&gpu.ctx, n)?;
    let mut dst = DeviceBuffer::new(&gpu.ctx, n)?;
    Ok(Box::new(move || dst.copy_from_async(&src, n, &gpu.stream)))
}

fn rgb_to_nv12_case(
    gpu: &Gpu,
    sf: PixelFormat,
    w: u32,
    h: u32,
    naive: bool,
) -> nvdx::Result<Case<'_>> {
    let src = gpu.frame(sf, w, h)?;
    let mut dst = gpu.frame(PixelFormat::Nv12, w, h)?;
    let bytes = (sf.row_bytes(w) * h as usize) as f64 + (w * h) as f64 * 1.5;
    let naive_launch: Option<Launch<'_>> = if naive {
        let s = gpu.frame(sf, w, h)?;
        let d = gpu.frame(PixelFormat::Nv12, w, h)?;
        Some(Box::new(move || {
            // SAFETY: both frames are owned by this closure, which outlives every launch it makes
            // (the bench synchronises before dropping the case).
            unsafe {
                colour::naive_rgb24_to_nv12_raw(&RawImage::of(&s), &RawImage::of(&d), &gpu.stream)
            }
        }))
    } else {
        None
    };
    Ok(Case {
        name: format!("{sf:?}->NV12 {w}x{h}"),
        bytes,
        frames: 1,
        nvdx: Box::new(move || {
            colour::rgb_to_yuv420(&src, &mut dst, ColourSpace::BT601_LIMITED, &gpu.stream)
        }),
        naive: naive_launch,
        floor: copy_floor(gpu, bytes)?,
    })
}

fn nv12_to_rgb_case(gpu: &Gpu, df: PixelFormat, w: u32, h: u32) -> nvdx::Result<Case<'_>> {
    let src = gpu.frame(PixelFormat::Nv12, w, h)?;
    let mut dst = gpu.frame(df, w, h)?;
    let bytes = (df.row_bytes(w) * h as usize) as f64 + (w * h) as f64 * 1.5;
    Ok(Case {
        name: format!("NV12->{df:?} {w}x{h}"),
        bytes,
        frames: 1,
        nvdx: Box::new(move || {
            colour::yuv420_to_rgb(&src, &mut dst, ColourSpace::BT709_LIMITED, &gpu.stream)
        }),
        naive: None,
        floor: copy_floor(gpu, bytes)?,
    })
}

fn tensor_case(gpu: &Gpu, frames: usize, dtype: TensorDtype) -> nvdx::Result<Case<'_>> {
    let (w, h, d) = (1920u32, 1080u32, 448u32);
    let srcs: Vec<Frame> = (0..frames)
        .map(|_| gpu.frame(PixelFormat::Nv12, w, h))
        .collect::<nvdx::Result<_>>()?;
    let mut t = Tensor::new(&gpu.ctx, frames, d, d, dtype)?;
    let params = TensorParams::imagenet();
    // Bytes a resize has to touch at least: the output, plus the source pixels it samples
    // (about 4 luma + 4 chroma bytes per output pixel at this 4.3x downscale, all distinct).
    let per_frame = (3 * d * d) as f64 * dtype.size() as f64 + (d * d) as f64 * 8.0;
    let nvdx: Launch<'_> = if frames == 1 {
        Box::new(move || colour::yuv420_to_tensor(&srcs[0], &mut t, 0, &params, &gpu.stream))
    } else {
        Box::new(move || {
            let refs: Vec<&Frame> = srcs.iter().collect();
            colour::yuv420_to_tensor_batch(&refs, &mut t, 0, &params, &gpu.stream)
        })
    };
    Ok(Case {
        name: format!("NV12 1080p->{d}x{d} {dtype:?} x{frames}"),
        bytes: per_frame,
        frames: frames as u32,
        nvdx,
        naive: None,
        floor: copy_floor(gpu, per_frame * frames as f64)?,
    })
}

fn resize_case(gpu: &Gpu) -> nvdx::Result<Case<'_>> {
    let src = gpu.frame(PixelFormat::Nv12, 1920, 1080)?;
    let mut dst = gpu.frame(PixelFormat::Nv12, 1280, 720)?;
    let bytes = 1920.0 * 1080.0 * 1.5 + 1280.0 * 720.0 * 1.5;
    Ok(Case {
        name: "NV12 resize 1080p->720p".into(),
        bytes,
        frames: 1,
        nvdx: Box::new(move || colour::resize_yuv420(&src, &mut dst, &gpu.stream)),
        naive: None,
        floor: copy_floor(gpu, bytes)?,
    })
}

fn cases(gpu: &Gpu) -> nvdx::Result<Vec<Case<'_>>> {
    let mut v = Vec::new();
    for (w, h) in [(1280, 720), (1920, 1080), (2560, 1440), (3840, 2160)] {
        v.push(rgb_to_nv12_case(gpu, PixelFormat::Rgb24, w, h, true)?);
    }
    v.push(rgb_to_nv12_case(gpu, PixelFormat::Rgba, 3840, 2160, false)?);
    v.push(rgb_to_nv12_case(gpu, PixelFormat::Bgra, 1920, 1080, false)?);
    v.push(nv12_to_rgb_case(gpu, PixelFormat::Rgb24, 1920, 1080)?);
    v.push(nv12_to_rgb_case(gpu, PixelFormat::Rgb24, 3840, 2160)?);
    v.push(nv12_to_rgb_case(gpu, PixelFormat::Rgba, 3840, 2160)?);
    v.push(tensor_case(gpu, 1, TensorDtype::F16)?);
    v.push(tensor_case(gpu, 8, TensorDtype::F16)?);
    v.push(tensor_case(gpu, 1, TensorDtype::F32)?);
    v.push(resize_case(gpu)?);
    if let Ok(keep) = std::env::var("NVDX_COLOUR_CASES") {
        let parts: Vec<String> = keep
            .split(',')
            .map(|p| p.trim().replace("4K", "3840x2160"))
            .filter(|p| !p.is_empty())
            .collect();
        v.retain(|c| parts.iter().any(|p| c.name.contains(p.as_str())));
    }
    Ok(v)
}

fn table(gpu: &Gpu, cases: &mut [Case<'_>]) -> nvdx::Result<()> {
    println!(
        "name | nvdx us | naive us | copy floor us | GB/s | floor/nvdx | nvdx host enqueue us"
    );
    println!("--- | --- | --- | --- | --- | --- | ---");
    for c in cases.iter_mut() {
        let frames = f64::from(c.frames);
        let (nv, host) = gpu.us_per_launch(&mut c.nvdx)?;
        let (nv, host) = (nv / frames, host / frames);
        let naive = match c.naive.as_mut() {
            Some(f) => format!("{:.1}", gpu.us_per_launch(f)?.0 / frames),
            None => "-".into(),
        };
        let floor = gpu.us_per_launch(&mut c.floor)?.0 / frames;
        let gbs = c.bytes / (nv * 1e-6) / 1e9;
        let per = if c.frames > 1 { " (per frame)" } else { "" };
        println!(
            "{}{per} | {nv:.1} | {naive} | {floor:.1} | {gbs:.0} | {:.2} | {host:.1}",
            c.name,
            floor / nv
        );
    }
    Ok(())
}

fn main() {
    let gpu = match Gpu::new() {
        Ok(g) => g,
        Err(e) => {
            println!("colour bench skipped: no usable NVIDIA GPU/driver ({e})");
            return;
        }
    };
    let mut cases = match cases(&gpu) {
        Ok(c) => c,
        Err(e) => {
            println!("colour bench skipped: setting up failed ({e})");
            return;
        }
    };
    if let Err(e) = table(&gpu, &mut cases) {
        eprintln!("colour bench: timing failed: {e}");
        std::process::exit(1);
    }
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    for case in cases.iter_mut() {
        for (label, f) in [
            ("nvdx", Some(&mut case.nvdx)),
            ("naive", case.naive.as_mut()),
            ("copy", Some(&mut case.floor)),
        ] {
            let Some(f) = f else { continue };
            let name = format!("colour/{}/{label}", case.name);
            c.bench_function(&name, |b| {
                b.iter_custom(|iters| match gpu.time(iters, f) {
                    Ok(d) => d,
                    Err(e) => panic!("{name}: {e}"),
                })
            });
        }
    }
    if let Err(e) = gpu.stream.synchronize() {
        eprintln!("colour bench: {e}");
        std::process::exit(1);
    }
    c.final_summary();
}
