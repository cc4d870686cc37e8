//! Process CPU of whole decode cycles (`FileDecoder::open`, every frame, sync, drop), with the
//! device's default memory pool left as CUDA sets it (release threshold 0: memory a cycle
//! freed goes back to the OS at the next synchronisation) and with a release threshold that
//! keeps it. A diagnostic for the decode bench's CPU-per-frame column, which counts one
//! decoder's creation and teardown per row: that column rose by 2-12 % after nvdx moved its
//! frames to the stream-ordered pool, with no more driver calls per picture. If the pool's
//! release and re-mapping of the frames' memory on every cycle is the cost, the "keep" rows
//! are cheaper than the "release" rows; if not, they match.
//!
//! Modes alternate in one process (`ROUNDS` rounds of `CYCLES` cycles each); the pool's
//! reserved memory after each cycle's drop shows whether the memory went back.
//!
//! `cargo run --release --example decode_cycle_cost -- CLIP [CYCLES] [ROUNDS]`
use std::ffi::c_void;
use std::path::PathBuf;
use std::time::Instant;

use nvdx::decode::{DecoderConfig, FileDecoder};
use nvdx::Context;
use nvdx_sys::cuda::*;

#[path = "../benches/support/cpu_clock.rs"]
mod cpu_clock;
use cpu_clock::cpu_seconds;

/// The device's default memory pool, whose attributes this diagnostic sets and reads.
struct DefaultPool {
    api: &'static nvdx_sys::cuda::CudaFns,
    pool: CUmemoryPool,
}

impl DefaultPool {
    fn of_device(ordinal: i32) -> Result<DefaultPool, String> {
        let api = nvdx_sys::cuda().map_err(|e| e.to_string())?;
        let mut dev: CUdevice = 0;
        let mut pool: CUmemoryPool = std::ptr::null_mut();
        // SAFETY: out-parameters to live locals; the driver is initialised (a `Context` exists).
        unsafe {
            check("cuDeviceGet", api.cuDeviceGet(&mut dev, ordinal))?;
            check(
                "cuDeviceGetDefaultMemPool",
                api.cuDeviceGetDefaultMemPool(&mut pool, dev),
            )?;
        }
        Ok(DefaultPool { api, pool })
    }

    fn set_release_threshold(&self, bytes: u64) -> Result<(), String> {
        let mut v = bytes;
        // SAFETY: the attribute takes a `cuuint64_t`, `v` is one and lives across the call.
        unsafe {
            check(
                "cuMemPoolSetAttribute",
                self.api.cuMemPoolSetAttribute(
                    self.pool,
                    CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
                    (&mut v as *mut u64).cast::<c_void>(),
                ),
            )?;
            // Back to nothing kept when the threshold drops, so each mode starts alike.
            check("cuMemPoolTrimTo", self.api.cuMemPoolTrimTo(self.pool, 0))
        }
    }

    fn reserved_bytes(&self) -> u64 {
        let mut v = 0u64;
        // SAFETY: the attribute is a `cuuint64_t` written to `v`, which outlives the call.
        let r = unsafe {
            self.api.cuMemPoolGetAttribute(
                self.pool,
                CUmemPool_attribute::CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT,
                (&mut v as *mut u64).cast::<c_void>(),
            )
        };
        match r {
            Ok(CUresult::CUDA_SUCCESS) => v,
            _ => u64::MAX,
        }
    }
}

fn check(what: &str, r: Result<CUresult, nvdx_sys::MissingSymbol>) -> Result<(), String> {
    match r {
        Ok(CUresult::CUDA_SUCCESS) => Ok(()),
        Ok(e) => Err(format!("{what} failed: {e:?}")),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// One cycle: (frames, process CPU s from open to the first frame, process CPU s in all, wall s).
fn cycle(ctx: &Context, clip: &PathBuf) -> nvdx::Result<(usize, f64, f64, f64)> {
    let (c0, t0) = (cpu_seconds(), Instant::now());
    let mut d = FileDecoder::open(ctx, clip, DecoderConfig::default())?;
    let mut n = 0usize;
    let mut first = 0.0;
    while let Some(f) = d.next_frame()? {
        if n == 0 {
            first = cpu_seconds() - c0;
        }
        drop(f);
        n += 1;
    }
    d.stream().synchronize()?;
    drop(d);
    Ok((n, first, cpu_seconds() - c0, t0.elapsed().as_secs_f64()))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let clip = PathBuf::from(
        args.next()
            .ok_or("usage: decode_cycle_cost CLIP [CYCLES] [ROUNDS]")?,
    );
    let cycles: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let ctx = Context::primary(0).map_err(|e| e.to_string())?;
    let pool = DefaultPool::of_device(0)?;
    // One untimed cycle: modules, the demuxer's first read, the driver's lazy set-up.
    cycle(&ctx, &clip).map_err(|e| e.to_string())?;
    let modes = [
        ("release (threshold 0)", 0u64),
        ("keep (threshold max)", u64::MAX),
    ];
    // Per mode: CPU ms a cycle to the first frame, CPU ms a cycle, CPU µs a frame, wall ms.
    let mut got: Vec<[Vec<f64>; 4]> = vec![Default::default(), Default::default()];
    let mut reserved = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for k in 0..modes.len() {
            // Alternate which mode goes first, so neither always follows the other.
            let m = if round % 2 == 0 {
                k
            } else {
                modes.len() - 1 - k
            };
            pool.set_release_threshold(modes[m].1)?;
            for _ in 0..cycles {
                let (n, first, cpu, wall) = cycle(&ctx, &clip).map_err(|e| e.to_string())?;
                got[m][0].push(first * 1e3);
                got[m][1].push(cpu * 1e3);
                got[m][2].push(cpu * 1e6 / n.max(1) as f64);
                got[m][3].push(wall * 1e3);
                reserved[m].push(pool.reserved_bytes());
            }
        }
    }
    pool.set_release_threshold(0)?;
    let device = ctx.device().name().map_err(|e| e.to_string())?;
    println!(
        "## decode cycles of {} on {device} ({cycles} cycles x {rounds} rounds a mode, \
         alternated; medians)",
        clip.display()
    );
    println!();
    println!("| pool | CPU ms to the first frame | CPU ms a cycle | CPU µs a frame | wall ms a cycle | pool reserved after a cycle, MiB (min-max) |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (m, (name, _)) in modes.iter().enumerate() {
        let r = &reserved[m];
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        let lo = r.iter().copied().min().unwrap_or(0);
        let hi = r.iter().copied().max().unwrap_or(0);
        let g = &mut got[m];
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1}-{:.1} |",
            median(&mut g[0]),
            median(&mut g[1]),
            median(&mut g[2]),
            median(&mut g[3]),
            mib(lo),
            mib(hi)
        );
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("decode_cycle_cost: {e}");
        std::process::exit(1);
    }
}
