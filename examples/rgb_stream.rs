//! Renders a moving RGBA pattern, converts it to NV12 on the GPU and encodes it zero-copy with
//! NVENC into an elementary stream file.
//!
//! ```text
//! cargo run --release --example rgb_stream -- [out.h264|out.hevc] [frames] [width] [height]
//! ```
//!
//! The codec follows the file extension (`.hevc`/`.h265` → HEVC, anything else → H.264). The
//! encode session is opened before anything is rendered, so on a GPU without NVENC (H100, H200,
//! A100) the program stops at once with the error naming the GPU, and exits with status 1.
//!
//! The pattern is generated on the CPU into a pinned buffer and uploaded asynchronously on the
//! encoder's stream (the colour module has no pattern kernel yet); RGBA→NV12 runs on the GPU
//! (`kernels::colour::rgb_to_yuv420`, BT.709 limited, the same colour description the encoder
//! writes into the VUI), and the NV12 pool frames go to NVENC without a copy, ordered after the
//! conversion by `nvEncSetIOCudaStreams`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use nvdx::encode::{
    ColourDescription, ColourMatrix, Encoder, EncoderConfig, PictureOptions, Preset, Tuning,
};
use nvdx::kernels::colour::{rgb_to_yuv420, ColourSpace};
use nvdx::{Codec, Context, Frame, FramePool, HostBuffer, MemoryKind, PixelFormat, Stream};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rgb_stream: {e}");
            ExitCode::FAILURE
        }
    }
}

fn pattern(buf: &mut [u8], w: usize, h: usize, t: usize) {
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) * 4;
            let in_box = (x + 4 * t) % w < w / 5 && (y + 2 * t) % h < h / 5;
            buf[i] = ((x + t) * 255 / w) as u8;
            buf[i + 1] = ((y + t / 2) * 255 / h) as u8;
            buf[i + 2] = if in_box {
                255
            } else {
                ((x ^ y) & 0xff) as u8 / 2
            };
            buf[i + 3] = 255;
        }
    }
}

fn run() -> nvdx::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .cloned()
        .unwrap_or_else(|| "rgb_stream.h264".into());
    let arg = |i: usize, d: u32| -> nvdx::Result<u32> {
        match args.get(i) {
            None => Ok(d),
            Some(s) => s
                .parse()
                .map_err(|_| nvdx::Error::InvalidArgument(format!("not a number: {s}"))),
        }
    };
    let frames = arg(1, 300)?;
    let (w, h) = (arg(2, 1920)?, arg(3, 1080)?);
    let codec = if path.ends_with(".hevc") || path.ends_with(".h265") {
        Codec::Hevc
    } else {
        Codec::H264
    };

    let ctx = Context::primary(0)?;
    let stream = Arc::new(Stream::new(&ctx)?);
    let cfg = EncoderConfig::new(codec, w, h)
        .frame_rate(60, 1)
        .preset(Preset::P4)
        .tuning(Tuning::LowLatency)
        .colour(Some(ColourDescription {
            matrix: ColourMatrix::Bt709,
            full_range: false,
        }))
        .repeat_headers(true);
    // First: fails here, before any rendering, on a GPU without NVENC.
    let mut enc = Encoder::new(&cfg, Arc::clone(&stream))?;
    let label = if enc.is_double() {
        "[NVENC double] "
    } else {
        ""
    };
    eprintln!(
        "{label}encoding {frames} frames of {w}x{h} {codec} on {} of {} (NVENC API {})",
        enc.engine_name(),
        enc.gpu_name(),
        enc.api_version()
    );

    let io = |e: std::io::Error| nvdx::Error::Io {
        path: path.clone(),
        source: e,
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io)?);
    let mut rgba = Frame::new(&ctx, PixelFormat::Rgba, w, h, MemoryKind::Device)?;
    let row = PixelFormat::Rgba.row_bytes(w);
    let mut host = [
        HostBuffer::new(&ctx, row * h as usize)?,
        HostBuffer::new(&ctx, row * h as usize)?,
    ];
    // The encoder holds up to `ring_size()` frames until their packets are out: the pool
    // needs at least one more, or `acquire` waits forever.
    let pool = FramePool::new(
        &ctx,
        PixelFormat::Nv12,
        w,
        h,
        enc.ring_size() + 1,
        MemoryKind::Device,
    )?;
    let mut bytes = 0usize;
    let start = std::time::Instant::now();
    for t in 0..frames {
        let hb = &mut host[t as usize % 2];
        // `as_mut_slice` waits for the upload that last read this pinned buffer (two frames
        // ago), on its own event: no stream or device synchronisation.
        pattern(hb.as_mut_slice()?, w as usize, h as usize, t as usize);
        rgba.copy_from_buffer_async(&*hb, row, &stream)?;
        let mut nv12 = pool.acquire()?;
        rgb_to_yuv420(&rgba, &mut nv12, ColourSpace::BT709_LIMITED, &stream)?;
        nv12.meta.pts = i64::from(t);
        nv12.meta.timescale = 60;
        let out = enc.encode(nv12, PictureOptions::default())?;
        for p in &out.packets {
            file.write_all(&p.data).map_err(io)?;
            bytes += p.data.len();
        }
    }
    for p in enc.finish()?.packets {
        file.write_all(&p.data).map_err(io)?;
        bytes += p.data.len();
    }
    file.flush().map_err(io)?;
    stream.synchronize()?;
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{label}wrote {path}: {bytes} bytes, {frames} frames in {secs:.2} s ({:.0} fps{})",
        f64::from(frames) / secs,
        if label.is_empty() {
            ""
        } else {
            "; a test double's speed, not NVENC's"
        }
    );
    // The encoder is done (its frames back in the pool) before the pool drops.
    drop(enc);
    drop(pool);
    // Check the file: nvdx decodes it and counts the pictures.
    let mut dec =
        nvdx::decode::FileDecoder::open(&ctx, &path, nvdx::decode::DecoderConfig::default())?;
    let mut decoded = 0u32;
    while dec.next_frame()?.is_some() {
        decoded += 1;
    }
    eprintln!("{label}nvdx decodes {decoded} of {frames} frames from {path}");
    if decoded != frames {
        return Err(nvdx::Error::InvalidState(format!(
            "{path}: decoded {decoded} frames, encoded {frames}"
        )));
    }
    println!("{label}rgb_stream ok: {frames} frames encoded and decoded back");
    Ok(())
}
