//! Frame transfer bench: `cargo bench --bench xfer`.
//!
//! Measures, for each pair of GPUs (and GPU 0 to itself on a one-GPU host):
//! - one 1080p NV12 frame back to back (per frame, with the host's time per send beside it) and one frame including the wait;
//! - a batch of 8 1080p frames as one operation;
//! - a 256 MB buffer (a 2D "frame" of 16384 x 16384 bytes);
//! - the staged path (pinned host, double-buffered) against the host link's own bandwidth
//!   (pinned device-to-host and host-to-device copies of the same bytes).
//!
//! Peer figures (the copy engine back to back, a simple SM pull kernel) come from
//! `shared/peers/xfer_preproc_peers.py`, and PyTorch `copy_` from
//! `benches/peers/torch_peer_copy.py`, run in the same session on a two-GPU host.

use std::time::{Duration, Instant};

use nvdx::xfer::{CopyMethod, Transfer, TransferMode};
use nvdx::FrameView;
use nvdx::{Context, Device, Event, Frame, FramePool, HostBuffer, MemoryKind, PixelFormat, Stream};

fn main() {
    if let Err(e) = run() {
        println!("xfer bench skipped: {e}");
    }
}

fn gbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e9
}

fn run() -> nvdx::Result<()> {
    let n = Device::count()?;
    if n == 0 {
        return Err(nvdx::Error::Unsupported("no GPU".into()));
    }
    let gpu = Device::get(0)?.name()?;
    println!("## nvdx transfers on {n} x {gpu}\n");
    println!("| path | case | bytes | time | GB/s |");
    println!("| --- | --- | --- | --- | --- |");
    let mut pairs = vec![(0u32, 0u32)];
    if n >= 2 {
        pairs = vec![(0, 1), (1, 0)];
    }
    for (a, b) in pairs {
        let src = Context::primary(a)?;
        let dst = Context::primary(b)?;
        for (mode, method) in [
            (TransferMode::Auto, CopyMethod::CopyEngine),
            (TransferMode::Auto, CopyMethod::SmKernel),
            (TransferMode::Auto, CopyMethod::Auto),
            (TransferMode::Staged, CopyMethod::Auto),
        ] {
            bench_pair(&src, &dst, mode, method, a, b)?;
        }
    }
    // The host link itself, for the staged path's yardstick.
    let ctx = Context::primary(0)?;
    let s = Stream::new(&ctx)?;
    let len = 256 << 20;
    let mut host = HostBuffer::new(&ctx, len)?;
    let mut dev = nvdx::DeviceBuffer::new(&ctx, len)?;
    let (start, end) = (Event::new(&ctx)?, Event::new(&ctx)?);
    for (label, h2d) in [("host->device", true), ("device->host", false)] {
        let mut best = Duration::MAX;
        for _ in 0..5 {
            start.record(&s)?;
            if h2d {
                dev.copy_from_async(&host, len, &s)?;
            } else {
                host.copy_from_async(&dev, len, &s)?;
            }
            end.record(&s)?;
            end.synchronize()?;
            best = best.min(Event::elapsed(&start, &end)?);
        }
        println!(
            "| host link | {label} pinned, 256 MB | {len} | {:.0} us | {:.1} |",
            best.as_secs_f64() * 1e6,
            gbps(len, best)
        );
    }
    // What the staged path needs at once: a download from GPU 0 and an upload to the
    // destination (GPU 1 on a two-GPU host, else GPU 0 again), 256 MB each on two streams,
    // timed together. Pinned buffers are portable, so either GPU copies at full speed.
    let up_ctx = Context::primary(if n >= 2 { 1 } else { 0 })?;
    let up_stream = Stream::new(&up_ctx)?;
    let mut up_dev = nvdx::DeviceBuffer::new(&up_ctx, len)?;
    let s2 = Stream::new(&ctx)?;
    let mut host2 = HostBuffer::new(&ctx, len)?;
    let mut best = Duration::MAX;
    for _ in 0..5 {
        up_stream.synchronize()?;
        s2.synchronize()?;
        let t = Instant::now();
        up_dev.copy_from_async(&host, len, &up_stream)?;
        host2.copy_from_async(&dev, len, &s2)?;
        up_stream.synchronize()?;
        s2.synchronize()?;
        best = best.min(t.elapsed());
    }
    println!(
        "| host link | GPU0->host and host->GPU{} at once, 256 MB each | {len} | {:.0} us | {:.1} per direction |",
        up_ctx.device().ordinal(),
        best.as_secs_f64() * 1e6,
        gbps(len, best)
    );
    Ok(())
}

fn bench_pair(
    src: &Context,
    dst: &Context,
    mode: TransferMode,
    method: CopyMethod,
    a: u32,
    b: u32,
) -> nvdx::Result<()> {
    let s = Stream::new(src)?;
    // One 1080p frame, back to back and with a wait.
    let pool = FramePool::new(dst, PixelFormat::Nv12, 1920, 1080, 16, MemoryKind::Device)?;
    let mut x = Transfer::new(src, pool, mode)?;
    x.set_copy_method(method);
    let label = match x.path() {
        nvdx::xfer::TransferPath::Staged => format!("GPU{a}->GPU{b} staged"),
        p => format!("GPU{a}->GPU{b} {p:?} {method:?}"),
    };
    let frame = Frame::new(src, PixelFormat::Nv12, 1920, 1080, MemoryKind::Device)?;
    let bytes = frame.layout().tight_len();
    for _ in 0..20 {
        drop(x.send(&frame, &s)?);
    }
    x.dst_stream().synchronize()?;
    let iters = 200;
    let (start, end) = (Event::new(dst)?, Event::new(dst)?);
    start.record(x.dst_stream())?;
    let host = Instant::now();
    for _ in 0..iters {
        drop(x.send(&frame, &s)?);
    }
    let host = host.elapsed() / iters;
    end.record(x.dst_stream())?;
    end.synchronize()?;
    let per = Event::elapsed(&start, &end)? / iters;
    // The host's time per send + drop beside the GPU's: where they meet, the row is host-bound.
    println!(
        "| {label} | 1080p NV12 frame, back to back (host {:.1} us a send) | {bytes} | {:.1} us | {:.0} |",
        host.as_secs_f64() * 1e6,
        per.as_secs_f64() * 1e6,
        gbps(bytes, per)
    );
    let mut best = Duration::MAX;
    for _ in 0..50 {
        s.synchronize()?;
        let t = Instant::now();
        let f = x.send(&frame, &s)?;
        x.dst_stream().synchronize()?;
        best = best.min(t.elapsed());
        drop(f);
    }
    println!(
        "| {label} | 1080p NV12 frame, single copy incl. wait | {bytes} | {:.1} us | {:.0} |",
        best.as_secs_f64() * 1e6,
        gbps(bytes, best)
    );

    // A batch of 8 as one operation.
    let frames: Vec<Frame> = (0..8)
        .map(|_| Frame::new(src, PixelFormat::Nv12, 1920, 1080, MemoryKind::Device))
        .collect::<nvdx::Result<_>>()?;
    let refs: Vec<&Frame> = frames.iter().collect();
    drop(x.send_batch(&refs, &s)?);
    x.dst_stream().synchronize()?;
    start.record(x.dst_stream())?;
    let batches = 50;
    for _ in 0..batches {
        drop(x.send_batch(&refs, &s)?);
    }
    end.record(x.dst_stream())?;
    end.synchronize()?;
    let per = Event::elapsed(&start, &end)? / batches;
    println!(
        "| {label} | batch of 8 1080p frames | {} | {:.1} us | {:.0} |",
        bytes * 8,
        per.as_secs_f64() * 1e6,
        gbps(bytes * 8, per)
    );

    // 256 MB as one 2D transfer (16384 x 16384 planar u8 = 256 MiB).
    let big_pool = FramePool::new(
        dst,
        PixelFormat::RgbPlanarU8,
        16384,
        5461,
        2,
        MemoryKind::Device,
    )?;
    let mut xb = Transfer::new(src, big_pool, mode)?;
    xb.set_copy_method(method);
    let big = Frame::new(
        src,
        PixelFormat::RgbPlanarU8,
        16384,
        5461,
        MemoryKind::Device,
    )?;
    let big_bytes = big.layout().tight_len();
    drop(xb.send(&big, &s)?);
    xb.dst_stream().synchronize()?;
    let (bs, be) = (Event::new(dst)?, Event::new(dst)?);
    bs.record(xb.dst_stream())?;
    for _ in 0..5 {
        drop(xb.send(&big, &s)?);
    }
    be.record(xb.dst_stream())?;
    be.synchronize()?;
    let per = Event::elapsed(&bs, &be)? / 5;
    println!(
        "| {label} | 256 MB | {big_bytes} | {:.0} us | {:.0} |",
        per.as_secs_f64() * 1e6,
        gbps(big_bytes, per)
    );
    Ok(())
}
