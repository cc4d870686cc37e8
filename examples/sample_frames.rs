//! `cargo run --release --example sample_frames -- VIDEO -n 8 [--size 448] [--png DIR]`
//!
//! Samples `n` uniformly spaced frames of VIDEO with [`nvdx::sample::VideoReader`] into an
//! `n x 3 x size x size` f16 tensor (CLIP normalisation), prints the chosen indices and
//! timestamps and the latency split (open, seek/plan, decode, convert), and with `--png DIR`
//! also writes the frames as RGB PNG files (`DIR/frame_NNNNNN.png`) for a person to look at.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nvdx::kernels::colour::{Tensor, TensorDtype, TensorParams};
use nvdx::sample::VideoReader;
use nvdx::FrameView;
use nvdx::{Context, PixelFormat, Stream};

struct Args {
    video: PathBuf,
    n: usize,
    size: u32,
    png: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!("usage: sample_frames VIDEO [-n 8] [--size 448] [--png DIR]");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let (mut video, mut n, mut size, mut png) = (None, 8usize, 448u32, None);
    while let Some(a) = it.next() {
        match a.as_str() {
            "-n" => {
                n = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--size" => {
                size = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--png" => png = Some(PathBuf::from(it.next().unwrap_or_else(|| usage()))),
            "-h" | "--help" => usage(),
            _ if video.is_none() => video = Some(PathBuf::from(a)),
            _ => usage(),
        }
    }
    Args {
        video: video.unwrap_or_else(|| usage()),
        n,
        size,
        png,
    }
}

fn main() {
    if let Err(e) = run(parse_args()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run(args: Args) -> nvdx::Result<()> {
    let ctx = Context::primary(0)?;
    let stream = Stream::new(&ctx)?;
    let mut tensor = Tensor::new(&ctx, args.n.max(1), args.size, args.size, TensorDtype::F16)?;

    let t0 = Instant::now();
    let reader = VideoReader::open(&args.video)?;
    let open = t0.elapsed();
    let i = reader.info();
    println!(
        "{}: {} {}x{} {}-bit, {} frames, {:?} fps, {:.3} s, keyframes at {:?}{}",
        args.video.display(),
        i.codec,
        i.width,
        i.height,
        i.bit_depth,
        i.frame_count,
        i.frame_rate,
        i.duration_seconds.unwrap_or(0.0),
        &i.keyframes[..i.keyframes.len().min(16)],
        if i.rotation_degrees != 0 {
            format!(", rotate {} degrees for display", i.rotation_degrees)
        } else {
            String::new()
        }
    );

    // Convert with the stream's own colour description; where it states none, as ffmpeg and
    // torchcodec do (BT.601, limited range).
    let space = match reader.info().colour {
        Some(c) => {
            let (w, h) = reader.output_size();
            c.description().conversion_space(w, h)
        }
        None => nvdx::colour::ColourDescription::UNSPECIFIED.ffmpeg_conversion_space(),
    };
    println!("colour conversion: {space:?}");
    let params = TensorParams::clip().with_space(space);
    let t1 = Instant::now();
    let got = reader.sample_uniform_tensor(args.n, &mut tensor, 0, &params, &stream)?;
    let enqueued = t1.elapsed();
    stream.synchronize()?;
    let total = t1.elapsed();
    let s = got.stats;
    for (k, (idx, sec)) in got.indices.iter().zip(got.seconds()).enumerate() {
        println!("  slot {k}: frame {idx} at {sec:.3} s");
    }
    println!(
        "latency: open {:.2} ms, seek/plan {:.2} ms, sessions {:.2} ms, decode {:.2} ms, \
         convert (GPU tail) {:.2} ms, total {:.2} ms (first call includes session creation)",
        ms(open),
        ms(s.plan),
        ms(s.acquire),
        ms(s.decode),
        ms(total.saturating_sub(enqueued)),
        ms(open + total)
    );
    println!(
        "work: {} ranges on {} sessions, {} packets decoded, {} non-reference left out, \
         {} pictures dropped unmapped, {} distinct frames",
        s.ranges, s.sessions, s.pushed, s.dropped, s.skipped, s.distinct
    );
    // A second, warm request shows the steady-state latency.
    let t2 = Instant::now();
    let warm = reader.sample_uniform_tensor(args.n, &mut tensor, 0, &params, &stream)?;
    stream.synchronize()?;
    println!(
        "warm request: {:.2} ms (decode {:.2} ms)",
        ms(t2.elapsed()),
        ms(warm.stats.decode)
    );

    if let Some(dir) = &args.png {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let frames = reader.frames_rgb(&got.indices, PixelFormat::Rgb24, space, &stream)?;
        stream.synchronize()?;
        for f in &frames {
            let rgb = f.to_host_vec()?;
            let path = dir.join(format!("frame_{:06}.png", f.meta.index.unwrap_or(0)));
            write_png(&path, f.width(), f.height(), &rgb)
                .map_err(|e| io(&path, std::io::Error::other(e)))?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

fn io(path: &Path, source: std::io::Error) -> nvdx::Error {
    nvdx::Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes a tightly packed RGB24 image as an 8-bit RGB PNG (deflate-compressed by the `png` crate).
fn write_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> Result<(), png::EncodingError> {
    let file = std::fs::File::create(path)?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()
}
