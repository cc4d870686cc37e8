//! `cargo run --release --example sample_frames -- VIDEO -n 8 [--size 448] [--png DIR]`
//!
//! Samples `n` uniformly spaced frames of VIDEO with [`nvdx::sample::VideoReader`] into an
//! `n x 3 x size x size` f16 tensor (CLIP normalisation), prints the chosen indices and
//! timestamps and the latency split (open, seek/plan, decode, convert), and with `--png DIR`
//! also writes the frames as RGB PNG files (`DIR/frame_NNNNNN.png`) for a person to look at.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nvdx::kernels::colour::{ColourSpace, Tensor, TensorDtype, TensorParams};
use nvdx::sample::VideoReader;
#[allow(unused_imports)]
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

    let params = TensorParams::clip();
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
        let frames = reader.frames_rgb(
            &got.indices,
            PixelFormat::Rgb24,
            ColourSpace::BT709_LIMITED,
            &stream,
        )?;
        stream.synchronize()?;
        for f in &frames {
            let rgb = f.to_host_vec()?;
            let path = dir.join(format!("frame_{:06}.png", f.meta.index.unwrap_or(0)));
            let png = encode_png(f.width(), f.height(), &rgb);
            let mut file = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
            file.write_all(&png).map_err(|e| io(&path, e))?;
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

// ---- a minimal PNG encoder: RGB8, no filtering, stored (uncompressed) deflate blocks -------------

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    (b << 16) | a
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// PNG bytes of a tightly packed RGB24 image.
fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    let row = width as usize * 3;
    let mut raw = Vec::with_capacity((row + 1) * height as usize);
    for r in rgb.chunks_exact(row).take(height as usize) {
        raw.push(0); // filter: none
        raw.extend_from_slice(r);
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65535).collect();
    for (i, b) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = b.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(b);
    }
    if blocks.is_empty() {
        z.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, RGB, deflate, adaptive filters, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}
