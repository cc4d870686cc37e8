//! `cargo run --release --example transcode_multi_gpu -- IN... [--decode-gpus 0,1] [--target-gpu N]
//! [--mode auto|peer|staged] [--size 448] [--batch 8]`
//!
//! The nvdsxfer use case without GStreamer: each input is decoded on one of the decode GPUs
//! (round robin), its frames are moved to the target GPU ([`nvdx::xfer::Transfer`]: NVLink/PCIe
//! peer copies, or pinned-host staging), converted there into batches of normalized f16
//! tensors (standing in for inference), and encoded there when that GPU has NVENC. Without
//! NVENC it says so once and prints a hash of every converted batch instead, so the pipeline
//! still runs end to end. Prints per-stage throughput and the GPU-to-GPU bandwidth.
//!
//! With no input it uses `fixtures/sample.mp4`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nvdx::decode::{DecoderConfig, FileDecoder};
use nvdx::encode::{is_no_encoder, Encoder, EncoderConfig, InputFrame, PictureOptions};
use nvdx::kernels::colour::{yuv420_to_tensor_batch, Tensor, TensorDtype, TensorParams};
use nvdx::xfer::{Transfer, TransferMode};
use nvdx::FrameView;
use nvdx::{Codec, Context, Device, FramePool, MemoryKind, PooledFrame, Stream};

struct Args {
    inputs: Vec<PathBuf>,
    decode_gpus: Vec<u32>,
    target_gpu: u32,
    mode: TransferMode,
    size: u32,
    batch: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        inputs: Vec::new(),
        decode_gpus: vec![0],
        target_gpu: 0,
        mode: TransferMode::Auto,
        size: 448,
        batch: 8,
    };
    let mut it = std::env::args().skip(1);
    let mut target_set = false;
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--decode-gpus" => {
                a.decode_gpus = value("--decode-gpus")?
                    .split(',')
                    .map(|s| s.trim().parse::<u32>().map_err(|e| format!("--decode-gpus: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--target-gpu" => {
                a.target_gpu = value("--target-gpu")?.parse().map_err(|e| format!("--target-gpu: {e}"))?;
                target_set = true;
            }
            "--mode" => {
                a.mode = match value("--mode")?.as_str() {
                    "auto" => TransferMode::Auto,
                    "peer" => TransferMode::Peer,
                    "staged" => TransferMode::Staged,
                    m => return Err(format!("--mode {m}: use auto, peer or staged")),
                }
            }
            "--size" => a.size = value("--size")?.parse().map_err(|e| format!("--size: {e}"))?,
            "--batch" => a.batch = value("--batch")?.parse().map_err(|e| format!("--batch: {e}"))?,
            "-h" | "--help" => return Err("usage: transcode_multi_gpu IN... [--decode-gpus 0,1] [--target-gpu N] [--mode auto|peer|staged] [--size 448] [--batch 8]".into()),
            _ => a.inputs.push(PathBuf::from(arg)),
        }
    }
    if a.inputs.is_empty() {
        let dir = std::env::var_os("NVDX_FIXTURES_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures")));
        a.inputs.push(dir.join("sample.mp4"));
    }
    if a.decode_gpus.is_empty() || !(1..=16).contains(&a.batch) {
        return Err("need at least one decode GPU and a batch of 1..=16".into());
    }
    if !target_set {
        a.target_gpu = *a.decode_gpus.last().unwrap_or(&0);
    }
    Ok(a)
}

#[derive(Default)]
struct Stats {
    frames: u64,
    bytes: u64,
    decode: Duration,
    transfer: Duration,
    convert: Duration,
    encode: Duration,
    packets: u64,
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

fn run(args: &Args) -> nvdx::Result<()> {
    let n = Device::count()?;
    for g in args.decode_gpus.iter().chain([&args.target_gpu]) {
        if *g >= n {
            return Err(nvdx::Error::InvalidArgument(format!(
                "GPU {g} does not exist ({n} visible)"
            )));
        }
    }
    let target = Context::primary(args.target_gpu)?;
    println!(
        "decode on GPU(s) {:?}, convert and encode on GPU {} ({})",
        args.decode_gpus,
        args.target_gpu,
        target.device().name()?
    );
    let has_nvenc = match Encoder::capabilities(&target, Codec::H264) {
        Ok(_) => true,
        Err(e) if is_no_encoder(&e) => {
            println!("note: {e}; writing the converted batches' hashes instead of encoding");
            false
        }
        Err(e) => return Err(e),
    };

    let t0 = Instant::now();
    let results: Vec<nvdx::Result<Stats>> = std::thread::scope(|s| {
        let handles: Vec<_> = args
            .inputs
            .iter()
            .enumerate()
            .map(|(i, input)| {
                let gpu = args.decode_gpus[i % args.decode_gpus.len()];
                let target = target.clone();
                s.spawn(move || pipeline(i, input, gpu, &target, args, has_nvenc))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(nvdx::Error::InvalidState("pipeline thread panicked".into()))
                })
            })
            .collect()
    });
    let wall = t0.elapsed();
    let mut total = Stats::default();
    for r in results {
        let s = r?;
        total.frames += s.frames;
        total.bytes += s.bytes;
        total.decode += s.decode;
        total.transfer += s.transfer;
        total.convert += s.convert;
        total.encode += s.encode;
    }
    let per = |d: Duration| {
        if d.is_zero() {
            0.0
        } else {
            total.frames as f64 / d.as_secs_f64()
        }
    };
    println!(
        "\n{} frames from {} input(s) in {:.3} s: {:.0} fps end to end",
        total.frames,
        args.inputs.len(),
        wall.as_secs_f64(),
        total.frames as f64 / wall.as_secs_f64()
    );
    println!("stage throughput (summed over pipelines, host time per stage):");
    println!("  decode   {:>8.0} fps", per(total.decode));
    println!(
        "  transfer {:>8.0} fps, {:.1} GB/s GPU-to-GPU (incl. waits)",
        per(total.transfer),
        total.bytes as f64 / total.transfer.as_secs_f64().max(1e-9) / 1e9
    );
    println!("  convert  {:>8.0} fps", per(total.convert));
    if has_nvenc {
        println!("  encode   {:>8.0} fps", per(total.encode));
    }
    Ok(())
}

fn pipeline(
    i: usize,
    input: &PathBuf,
    gpu: u32,
    target: &Context,
    args: &Args,
    has_nvenc: bool,
) -> nvdx::Result<Stats> {
    let src = Context::primary(gpu)?;
    let mut dec = FileDecoder::open(&src, input, DecoderConfig::default())?;
    let info = dec.info().clone();
    let (w, h) = (info.width & !1, info.height & !1);
    let mut encoder = if has_nvenc {
        let stream = Arc::new(Stream::new(target)?);
        let cfg = EncoderConfig::new(Codec::H264, w, h);
        let enc = Encoder::new(&cfg, Arc::clone(&stream))?;
        println!("[{i}] encoding on {}", enc.engine_name());
        let path = format!("transcode_{i}.h264");
        let file = std::fs::File::create(&path).map_err(|e| nvdx::Error::Io {
            path: path.clone(),
            source: e,
        })?;
        Some(Enc {
            enc,
            stream,
            file,
            path,
        })
    } else {
        None
    };
    // The pool must cover the batch being gathered plus every frame the encoder holds
    // (`ring_size()`), or `send` waits forever for a frame the encoder will only release
    // after more input.
    let held = encoder.as_ref().map_or(args.batch, |e| e.enc.ring_size());
    let frames_needed = args.batch + held + 1;
    if frames_needed > 16 {
        return Err(nvdx::Error::InvalidArgument(format!(
            "--batch {} with an encoder that holds up to {held} frames needs a pool of \
             {frames_needed} frames; pools hold at most 16: use --batch {} or less",
            args.batch,
            16 - held - 1
        )));
    }
    let pool = FramePool::new(
        target,
        nvdx::PixelFormat::Nv12,
        w,
        h,
        frames_needed.max(2),
        MemoryKind::Device,
    )?;
    let mut xfer = Transfer::new(&src, pool, args.mode)?;
    println!(
        "[{i}] {} ({} {}x{}) GPU {gpu} -> GPU {}: {:?}",
        input.display(),
        info.codec,
        w,
        h,
        args.target_gpu,
        xfer.path()
    );
    let mut tensor = Tensor::new(target, args.batch, args.size, args.size, TensorDtype::F16)?;
    let params = TensorParams::imagenet();
    let mut stats = Stats::default();
    let mut batch: Vec<PooledFrame> = Vec::with_capacity(args.batch);
    let mut batch_no = 0;
    loop {
        let t = Instant::now();
        let Some(f) = dec.next_frame()? else { break };
        stats.decode += t.elapsed();
        if f.frame.width() != w || f.frame.height() != h {
            eprintln!("[{i}] resolution changed mid-stream; stopping this input");
            break;
        }
        let t = Instant::now();
        let moved = xfer.send(&f.frame, dec.stream())?;
        stats.transfer += t.elapsed();
        stats.bytes += moved.layout().tight_len() as u64;
        stats.frames += 1;
        batch.push(moved);
        if batch.len() == args.batch {
            flush(
                i,
                &mut batch,
                &mut batch_no,
                &mut tensor,
                &params,
                &xfer,
                &mut encoder,
                &mut stats,
            )?;
        }
    }
    if !batch.is_empty() {
        flush(
            i,
            &mut batch,
            &mut batch_no,
            &mut tensor,
            &params,
            &xfer,
            &mut encoder,
            &mut stats,
        )?;
    }
    if let Some(e) = encoder.as_mut() {
        let out = e.enc.finish()?;
        for p in out.packets {
            stats.packets += 1;
            e.file.write_all(&p.data).map_err(|err| nvdx::Error::Io {
                path: e.path.clone(),
                source: err,
            })?;
        }
    }
    if let Some(e) = encoder.take() {
        // Check the output: nvdx decodes it back and counts the pictures.
        let Enc {
            enc, path, file, ..
        } = e;
        drop(file);
        let label = if enc.is_double() {
            "[NVENC double] "
        } else {
            ""
        };
        drop(enc);
        let mut check = FileDecoder::open(target, &path, DecoderConfig::default())?;
        let mut decoded = 0u64;
        while check.next_frame()?.is_some() {
            decoded += 1;
        }
        println!(
            "[{i}] {label}wrote {path}: {} packets; nvdx decodes {decoded} of {} frames{}",
            stats.packets,
            stats.frames,
            if decoded == stats.frames {
                " (ok)"
            } else {
                " (MISMATCH)"
            }
        );
        if decoded != stats.frames {
            return Err(nvdx::Error::InvalidState(format!(
                "{path}: decoded {decoded} frames, encoded {}",
                stats.frames
            )));
        }
    }
    // Include the tail of the GPU work in the timings.
    let t = Instant::now();
    xfer.dst_stream().synchronize()?;
    stats.transfer += t.elapsed();
    Ok(stats)
}

#[allow(clippy::too_many_arguments)]
fn flush(
    i: usize,
    batch: &mut Vec<PooledFrame>,
    batch_no: &mut usize,
    tensor: &mut Tensor,
    params: &TensorParams,
    xfer: &Transfer,
    encoder: &mut Option<Enc>,
    stats: &mut Stats,
) -> nvdx::Result<()> {
    let t = Instant::now();
    let refs: Vec<&nvdx::Frame> = batch.iter().map(|f| &**f).collect();
    // The transferred frames are ready on the transfer's destination stream: convert there.
    yuv420_to_tensor_batch(&refs, tensor, 0, params, xfer.dst_stream())?;
    stats.convert += t.elapsed();
    match encoder {
        Some(e) => {
            let t = Instant::now();
            // Order the encoder's stream after the transfer's destination stream explicitly
            // (the frames' tracking orders the reads too; this keeps the example correct
            // for raw work on the frames as well), on the GPU, without a host wait.
            e.stream.wait_event(&xfer.dst_stream().record_event()?)?;
            for f in batch.drain(..) {
                let out = e
                    .enc
                    .encode(InputFrame::from(f), PictureOptions::default())?;
                for p in out.packets {
                    stats.packets += 1;
                    e.file.write_all(&p.data).map_err(|err| nvdx::Error::Io {
                        path: e.path.clone(),
                        source: err,
                    })?;
                }
            }
            stats.encode += t.elapsed();
        }
        None => {
            // Stand-in for the encoder: a hash of the converted batch (this syncs, once per batch).
            xfer.dst_stream().synchronize()?;
            let mut bytes = vec![0u8; tensor.buffer().len()];
            tensor.buffer().copy_to_host(&mut bytes)?;
            println!(
                "[{i}] batch {:>3}: {} frames, tensor fnv1a {:016x}",
                *batch_no,
                batch.len(),
                fnv1a(&bytes[..tensor.slot_bytes() * batch.len()])
            );
            batch.clear();
        }
    }
    *batch_no += 1;
    Ok(())
}

/// The encoder of one pipeline, its stream and output file.
struct Enc {
    enc: Encoder,
    stream: Arc<Stream>,
    file: std::fs::File,
    path: String,
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
