//! `cargo run --release --features cudarc --example cudarc_kernel -- [VIDEO] [-n 8]`
//!
//! Runs a user kernel through cudarc on NV12 frames nvdx decoded, with no copy: one primary
//! context shared by both crates, one cudarc stream used by nvdx for decoding and by cudarc for
//! the launch, and each frame seen as a `CudaSlice<u8>` (`nvdx::cudarc::CudarcStream::frame`)
//! whose use is recorded on the frame when the view drops. The kernel sums the luma plane;
//! the example checks each sum against the frame downloaded to the host.
//!
//! The kernel is a hand-written PTX string (cudarc's NVRTC would need a CUDA toolkit at run
//! time; loading PTX needs only the driver).

use cudarc::driver::{CudaContext, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::Ptx;
use nvdx::cudarc::CudarcStream;
use nvdx::sample::VideoReader;
use nvdx::{Context, FrameView};

/// `luma_sum(src, pitch, width, height, sum)`: one thread per luma sample, `sum += Y`.
const PTX: &str = r#"
.version 7.0
.target sm_70
.address_size 64

.visible .entry luma_sum(
    .param .u64 p_src,
    .param .u64 p_pitch,
    .param .u32 p_width,
    .param .u32 p_height,
    .param .u64 p_sum
)
{
    .reg .pred %p<3>;
    .reg .b32 %r<9>;
    .reg .b64 %rd<8>;

    ld.param.u64 %rd1, [p_src];
    ld.param.u64 %rd2, [p_pitch];
    ld.param.u32 %r1, [p_width];
    ld.param.u32 %r2, [p_height];
    ld.param.u64 %rd3, [p_sum];
    mov.u32 %r3, %ctaid.x;
    mov.u32 %r4, %ntid.x;
    mov.u32 %r5, %tid.x;
    mad.lo.s32 %r6, %r3, %r4, %r5;
    mov.u32 %r7, %ctaid.y;
    setp.ge.u32 %p1, %r6, %r1;
    setp.ge.u32 %p2, %r7, %r2;
    or.pred %p1, %p1, %p2;
    @%p1 bra DONE;
    cvt.u64.u32 %rd4, %r7;
    mul.lo.u64 %rd5, %rd4, %rd2;
    cvt.u64.u32 %rd6, %r6;
    add.u64 %rd5, %rd5, %rd6;
    add.u64 %rd7, %rd1, %rd5;
    ld.global.u8 %r8, [%rd7];
    red.global.add.u32 [%rd3], %r8;
DONE:
    ret;
}
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut video = "fixtures/sample.mp4".to_string();
    let mut n = 8usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "-n" => n = args.next().ok_or("-n needs a value")?.parse()?,
            _ => video = a,
        }
    }

    // One primary context for both crates, one stream for both.
    let cctx = CudaContext::new(0)?;
    let ctx = Context::from_cudarc(&cctx)?;
    let stream = CudarcStream::new(&ctx, cctx.new_stream()?)?;
    let module = cctx.load_module(Ptx::from_src(PTX))?;
    let func = module.load_function("luma_sum")?;

    let reader = VideoReader::open(&video)?;
    let frames = reader.sample_uniform(n, stream.nvdx())?;
    let mut sums = stream.cudarc().alloc_zeros::<u32>(frames.len())?;
    for (i, frame) in frames.iter().enumerate() {
        let (w, h, pitch) = (frame.width(), frame.height(), frame.pitch() as u64);
        // The view orders the launch after the decode (same stream here; any stream works)
        // and records it on the frame when the closure returns.
        stream.with_frame(frame, |view| -> Result<(), Box<dyn std::error::Error>> {
            let mut out = sums.slice_mut(i..i + 1);
            let cfg = LaunchConfig {
                grid_dim: (w.div_ceil(256), h, 1),
                block_dim: (256, 1, 1),
                shared_mem_bytes: 0,
            };
            let input = view.slice();
            let mut launch = stream.cudarc().launch_builder(&func);
            launch.arg(&input).arg(&pitch).arg(&w).arg(&h).arg(&mut out);
            // SAFETY: the arguments match the kernel's signature; the view covers the frame's
            // `pitch * rows` bytes, of which the kernel reads the luma rows.
            unsafe { launch.launch(cfg) }?;
            Ok(())
        })??;
    }
    let got = stream.cudarc().clone_dtoh(&sums)?;

    for (frame, gpu) in frames.iter().zip(&got) {
        let host = frame.to_host_vec()?;
        let luma = frame.width() as usize * frame.height() as usize;
        let cpu: u64 = host[..luma].iter().map(|&v| u64::from(v)).sum();
        let status = if u64::from(*gpu) == cpu {
            "ok"
        } else {
            "MISMATCH"
        };
        println!(
            "frame {:>5}: mean luma {:7.3} (cudarc kernel {gpu}, host {cpu}) {status}",
            frame.meta().index.unwrap_or(0),
            f64::from(*gpu) / luma as f64
        );
        if status != "ok" {
            return Err("the kernel's sum differs from the host's".into());
        }
    }
    println!(
        "{} frames summed by a cudarc kernel with no copy",
        got.len()
    );
    Ok(())
}
