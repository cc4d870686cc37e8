//! Host time of one `Transfer::send` + drop of a 1080p NV12 frame (same GPU, back to back), and
//! nothing else: a diagnostic for the transfer bench's host-bound single-frame rows.
//!
//! On a GPU host it measures nvdx's work plus the driver's calls. With the CUDA stand-in of
//! `tools/cuda-stub` (`NVDX_LIBCUDA_PATH=.../libcuda.so.1`), whose calls do nothing, it measures
//! nvdx's own work alone, and the stand-in can count the driver calls a send makes; its lines
//! then say `[CUDA stub]`.
//!
//! `cargo run --release --example xfer_host_cost -- [ce|sm|auto|staged] [SENDS]`
use std::time::Instant;

use nvdx::xfer::{CopyMethod, Transfer, TransferMode};
use nvdx::{Context, Frame, FramePool, MemoryKind, PixelFormat, Stream};

fn main() -> nvdx::Result<()> {
    let ctx = Context::primary(0)?;
    let label = if ctx.device().name()?.contains("CUDA stub") {
        "[CUDA stub] "
    } else {
        ""
    };
    let s = Stream::new(&ctx)?;
    let n: u32 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let arg = std::env::args().nth(1);
    let method = match arg.as_deref() {
        Some("ce") => CopyMethod::CopyEngine,
        Some("sm") => CopyMethod::SmKernel,
        _ => CopyMethod::Auto,
    };
    // `staged`: through the pinned host ring, as between GPUs without peer access.
    let mode = match arg.as_deref() {
        Some("staged") => TransferMode::Staged,
        _ => TransferMode::Auto,
    };
    let pool = FramePool::new(&ctx, PixelFormat::Nv12, 1920, 1080, 16, MemoryKind::Device)?;
    let mut x = Transfer::new(&ctx, pool, mode)?;
    x.set_copy_method(method);
    let mut frame = Frame::new(&ctx, PixelFormat::Nv12, 1920, 1080, MemoryKind::Device)?;
    frame.memset_async(0x40, &s)?;
    for _ in 0..1000 {
        drop(x.send(&frame, &s)?);
    }
    s.synchronize()?;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..n {
            drop(x.send(&frame, &s)?);
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e9 / f64::from(n));
        x.dst_stream().synchronize()?;
    }
    let what = if mode == TransferMode::Staged {
        "Staged".to_string()
    } else {
        format!("{method:?}")
    };
    println!("{label}{what}: {best:.0} ns of host time a send + drop (best of 5 x {n})");
    Ok(())
}
