//! Host time of single CUDA driver calls, with no nvdx layer in between: a diagnostic for the
//! transfer bench's host-bound single-frame rows. Compares what a `Transfer::send` of a 1080p
//! NV12 frame asks of the driver, on memory from `cuMemAllocPitch` (what nvdx used before its
//! stream-ordered pool) and from the device's default memory pool (`cuMemAllocFromPoolAsync`,
//! what it uses now).
//!
//! `cargo run --release --example driver_call_cost -- [CALLS]`
use std::ffi::c_void;
use std::time::Instant;

use nvdx_sys::cuda::*;

fn ck(what: &str, r: Result<CUresult, nvdx_sys::MissingSymbol>) -> CUdeviceptr {
    match r {
        Ok(CUresult::CUDA_SUCCESS) => 0,
        Ok(e) => {
            eprintln!("{what} failed: {e:?}");
            std::process::exit(1)
        }
        Err(e) => {
            eprintln!("{what}: {e}");
            std::process::exit(1)
        }
    }
}

/// Best of 5 rounds of `n` calls of `f`, in ns a call; the streams are synchronised between
/// rounds (not timed).
fn time(n: u32, mut f: impl FnMut(), sync: &dyn Fn()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e9 / f64::from(n));
        sync();
    }
    best
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let api = match nvdx_sys::cuda() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1)
        }
    };
    let (w, rows) = (1920usize, 1620usize);
    // SAFETY: a diagnostic of raw driver calls: every handle below is created here, used on
    // this thread with the primary context current, and every pointer passed is to a live
    // local; the copies stay within the allocations (rows x w bytes at pitch <= allocation).
    unsafe {
        ck("cuInit", api.cuInit(0));
        let mut dev = 0;
        ck("cuDeviceGet", api.cuDeviceGet(&mut dev, 0));
        let mut name = [0i8; 128];
        ck(
            "cuDeviceGetName",
            api.cuDeviceGetName(name.as_mut_ptr(), 128, dev),
        );
        let name = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        let mut drv = 0;
        ck("cuDriverGetVersion", api.cuDriverGetVersion(&mut drv));
        let mut ctx = std::ptr::null_mut();
        ck(
            "cuDevicePrimaryCtxRetain",
            api.cuDevicePrimaryCtxRetain(&mut ctx, dev),
        );
        ck("cuCtxSetCurrent", api.cuCtxSetCurrent(ctx));
        let mut s = std::ptr::null_mut();
        let mut d = std::ptr::null_mut();
        ck("cuStreamCreate", api.cuStreamCreate(&mut s, 1));
        ck("cuStreamCreate", api.cuStreamCreate(&mut d, 1));
        let mut e = std::ptr::null_mut();
        ck("cuEventCreate", api.cuEventCreate(&mut e, 2));
        let (mut t0, mut t1) = (std::ptr::null_mut(), std::ptr::null_mut());
        ck("cuEventCreate", api.cuEventCreate(&mut t0, 0));
        ck("cuEventCreate", api.cuEventCreate(&mut t1, 0));
        // Two frames each way.
        let mut pitched = [0u64; 2];
        let mut pitch = 0usize;
        for p in &mut pitched {
            ck(
                "cuMemAllocPitch",
                api.cuMemAllocPitch_v2(p, &mut pitch, w, rows, 16),
            );
        }
        let mut pool = std::ptr::null_mut();
        ck(
            "cuDeviceGetDefaultMemPool",
            api.cuDeviceGetDefaultMemPool(&mut pool, dev),
        );
        let mut pooled = [0u64; 2];
        for p in &mut pooled {
            ck(
                "cuMemAllocFromPoolAsync",
                api.cuMemAllocFromPoolAsync(p, pitch * rows, pool, s),
            );
        }
        let mut plain = [0u64; 2];
        for p in &mut plain {
            ck("cuMemAlloc", api.cuMemAlloc_v2(p, pitch * rows));
        }
        ck("cuStreamSynchronize", api.cuStreamSynchronize(s));
        let sync = || {
            ck("cuStreamSynchronize", api.cuStreamSynchronize(s));
            ck("cuStreamSynchronize", api.cuStreamSynchronize(d));
        };
        println!("## driver call cost on {name}, driver API {drv}, {n} calls a round, best of 5\n");
        println!("| call | memory | host ns a call | GPU us a copy (back to back) |");
        println!("| --- | --- | --- | --- |");
        let c2d = |src: u64, dst: u64| CUDA_MEMCPY2D {
            srcXInBytes: 0,
            srcY: 0,
            srcMemoryType: CUmemorytype::CU_MEMORYTYPE_DEVICE,
            srcHost: std::ptr::null(),
            srcDevice: src,
            srcArray: std::ptr::null_mut(),
            srcPitch: pitch,
            dstXInBytes: 0,
            dstY: 0,
            dstMemoryType: CUmemorytype::CU_MEMORYTYPE_DEVICE,
            dstHost: std::ptr::null_mut(),
            dstDevice: dst,
            dstArray: std::ptr::null_mut(),
            dstPitch: pitch,
            WidthInBytes: w,
            Height: rows,
        };
        for (label, m) in [
            ("cuMemAllocPitch", pitched),
            ("memory pool", pooled),
            ("cuMemAlloc", plain),
        ] {
            let p = c2d(m[0], m[1]);
            let host = time(
                n,
                || {
                    ck("cuMemcpy2DAsync", api.cuMemcpy2DAsync_v2(&p, s));
                },
                &sync,
            );
            // GPU time of 200 back-to-back copies.
            ck("cuEventRecord", api.cuEventRecord(t0, s));
            for _ in 0..200 {
                ck("cuMemcpy2DAsync", api.cuMemcpy2DAsync_v2(&p, s));
            }
            ck("cuEventRecord", api.cuEventRecord(t1, s));
            ck("cuEventSynchronize", api.cuEventSynchronize(t1));
            let mut ms = 0f32;
            ck(
                "cuEventElapsedTime",
                api.cuEventElapsedTime_v2(&mut ms, t0, t1),
            );
            println!(
                "| cuMemcpy2DAsync 1920x1620 | {label} | {host:.0} | {:.2} |",
                ms * 1000.0 / 200.0
            );
            let host = time(
                n,
                || {
                    ck(
                        "cuMemcpyAsync",
                        api.cuMemcpyAsync(m[1], m[0], pitch * rows, s),
                    );
                },
                &sync,
            );
            println!(
                "| cuMemcpyAsync {} B | {label} | {host:.0} | |",
                pitch * rows
            );
            let host = time(
                n,
                || {
                    ck("cuMemcpy2DAsync", api.cuMemcpy2DAsync_v2(&p, s));
                    ck("cuEventRecord", api.cuEventRecord(e, s));
                    ck("cuStreamWaitEvent", api.cuStreamWaitEvent(d, e, 0));
                },
                &sync,
            );
            println!("| copy + cuEventRecord + cuStreamWaitEvent | {label} | {host:.0} | |");
            let mut attr = 0u64;
            let host = time(
                n,
                || {
                    ck(
                        "cuPointerGetAttribute",
                        api.cuPointerGetAttribute(
                            (&mut attr as *mut u64).cast::<c_void>(),
                            CUpointer_attribute::CU_POINTER_ATTRIBUTE_CONTEXT,
                            m[0],
                        ),
                    );
                },
                &sync,
            );
            println!("| cuPointerGetAttribute(CONTEXT) | {label} | {host:.0} | |");
        }
        // Kernel launches: an empty kernel with an 8-byte and with a 272-byte parameter (the
        // size of the transfer's batch struct), JIT-compiled from PTX by the driver.
        let ptx = c".version 7.0\n.target sm_50\n.address_size 64\n.visible .entry noop8(.param .u64 p) { ret; }\n.visible .entry noop272(.param .align 8 .b8 p[272]) { ret; }\n";
        let mut module = std::ptr::null_mut();
        ck(
            "cuModuleLoadData",
            api.cuModuleLoadData(&mut module, ptx.as_ptr().cast()),
        );
        for (kname, bytes) in [(c"noop8", 8usize), (c"noop272", 272)] {
            let mut f = std::ptr::null_mut();
            ck(
                "cuModuleGetFunction",
                api.cuModuleGetFunction(&mut f, module, kname.as_ptr()),
            );
            let mut arg = [0u64; 34];
            arg[0] = pooled[0];
            let mut params = [arg.as_mut_ptr().cast::<c_void>()];
            let host = time(
                n,
                || {
                    ck(
                        "cuLaunchKernel",
                        api.cuLaunchKernel(
                            f,
                            190,
                            1,
                            1,
                            256,
                            1,
                            1,
                            0,
                            s,
                            params.as_mut_ptr(),
                            std::ptr::null_mut(),
                        ),
                    );
                },
                &sync,
            );
            println!(
                "| cuLaunchKernel, 190 x 256 threads, {bytes}-byte parameter | - | {host:.0} | |"
            );
        }
        ck("cuModuleUnload", api.cuModuleUnload(module));
        let host = time(
            n,
            || {
                ck("cuEventRecord", api.cuEventRecord(e, s));
            },
            &sync,
        );
        println!("| cuEventRecord (no timing) | - | {host:.0} | |");
        let host = time(
            n,
            || {
                ck("cuEventRecord", api.cuEventRecord(e, s));
                ck("cuStreamWaitEvent", api.cuStreamWaitEvent(d, e, 0));
            },
            &sync,
        );
        println!("| cuEventRecord + cuStreamWaitEvent (other stream) | - | {host:.0} | |");
        let host = time(
            n,
            || {
                ck("cuStreamWaitEvent", api.cuStreamWaitEvent(s, e, 0));
            },
            &sync,
        );
        println!("| cuStreamWaitEvent (same stream, completed event) | - | {host:.0} | |");
        let host = time(
            n,
            || {
                ck("cuCtxPushCurrent", api.cuCtxPushCurrent_v2(ctx));
                let mut old = std::ptr::null_mut();
                ck("cuCtxPopCurrent", api.cuCtxPopCurrent_v2(&mut old));
            },
            &sync,
        );
        println!("| cuCtxPushCurrent + cuCtxPopCurrent | - | {host:.0} | |");
        let mut cur = std::ptr::null_mut();
        let host = time(
            n,
            || {
                ck("cuCtxGetCurrent", api.cuCtxGetCurrent(&mut cur));
            },
            &sync,
        );
        println!("| cuCtxGetCurrent | - | {host:.0} | |");
        // The per-send call sequences of `Transfer::send` + drop (copy engine, one GPU), as the
        // CUDA stand-in traced them (tools/cuda-stub, NVDX_STUB_TRACE), replayed with no nvdx
        // in between, alternated in this one process (whose fast or slow mode then holds for
        // all of them). `rel`/`used` cycle over 16 events as the pool's 16 frames do.
        let mut ring = [std::ptr::null_mut(); 16];
        for r in &mut ring {
            ck("cuEventCreate", api.cuEventCreate(r, 2));
        }
        let p = c2d(pooled[0], pooled[1]);
        // Sixteen destinations in turn, as the pool's frames are.
        let mut dsts = [0u64; 16];
        for m in &mut dsts {
            ck(
                "cuMemAllocFromPoolAsync",
                api.cuMemAllocFromPoolAsync(m, pitch * rows, pool, s),
            );
        }
        ck("cuStreamSynchronize", api.cuStreamSynchronize(s));
        let ring_copies: Vec<CUDA_MEMCPY2D> = dsts.iter().map(|&m| c2d(pooled[0], m)).collect();
        let push = || ck("cuCtxPushCurrent", api.cuCtxPushCurrent_v2(ctx));
        let pop = || {
            let mut old = std::ptr::null_mut();
            ck("cuCtxPopCurrent", api.cuCtxPopCurrent_v2(&mut old));
        };
        let mut i = 0usize;
        // b5ad378: src waits for the pool frame's release (recorded on dst), copy, copied
        // recorded on src, dst waits, release recorded on dst; every call in push/pop.
        let before = |i: &mut usize, turn: bool| {
            let p = if turn { &ring_copies[*i] } else { &p };
            push();
            ck("cuStreamWaitEvent", api.cuStreamWaitEvent(s, ring[*i], 0));
            pop();
            push();
            ck("cuMemcpy2DAsync", api.cuMemcpy2DAsync_v2(p, s));
            pop();
            push();
            ck("cuEventRecord", api.cuEventRecord(e, s));
            pop();
            push();
            ck("cuStreamWaitEvent", api.cuStreamWaitEvent(d, e, 0));
            pop();
            push();
            ck("cuEventRecord", api.cuEventRecord(ring[*i], d));
            pop();
            *i = (*i + 1) % 16;
        };
        // The submitted code: the previous pool frame's use recorded on src, copy, copied
        // recorded on src and waited on by dst (those two with no context current).
        // `variant`: 1 as traced; 2 the context kept current; 3 the last two calls in a push/pop
        // too; 4 one push/pop around the whole send; 5 as traced, into 16 frames in turn.
        let after = |i: &mut usize, variant: usize| {
            let p = if variant == 5 { &ring_copies[*i] } else { &p };
            let split = variant == 1 || variant == 3 || variant == 5;
            if variant == 4 {
                push();
            }
            if split {
                push();
            }
            ck("cuEventRecord", api.cuEventRecord(ring[*i], s));
            if split {
                pop();
                push();
            }
            ck("cuMemcpy2DAsync", api.cuMemcpy2DAsync_v2(p, s));
            if split {
                pop();
            }
            if variant == 3 {
                push();
            }
            ck("cuEventRecord", api.cuEventRecord(e, s));
            ck("cuStreamWaitEvent", api.cuStreamWaitEvent(d, e, 0));
            if variant == 3 || variant == 4 {
                pop();
            }
            *i = (*i + 1) % 16;
        };
        let seq_sync = || {
            push();
            sync();
            pop();
        };
        ck("cuCtxSetCurrent", api.cuCtxSetCurrent(std::ptr::null_mut()));
        let names = [
            "send sequence of b5ad378 (15 calls, no context current between)",
            "send sequence of the submitted code (8 calls, no context current between)",
            "same, context kept current (no push/pop)",
            "same, the record + wait in a push/pop too",
            "same, one push/pop around the whole send",
            "the submitted code's sequence into 16 destination frames in turn",
            "b5ad378's sequence into 16 destination frames in turn",
        ];
        let mut runs: [Vec<f64>; 7] = Default::default();
        for _ in 0..6 {
            for (k, r) in runs.iter_mut().enumerate() {
                if k == 2 {
                    ck("cuCtxSetCurrent", api.cuCtxSetCurrent(ctx));
                }
                let host = time(
                    n,
                    || match k {
                        0 => before(&mut i, false),
                        6 => before(&mut i, true),
                        k => after(&mut i, k),
                    },
                    &seq_sync,
                );
                if k == 2 {
                    ck("cuCtxSetCurrent", api.cuCtxSetCurrent(std::ptr::null_mut()));
                }
                r.push(host);
            }
        }
        for (name, r) in names.iter().zip(runs.iter_mut()) {
            let list: Vec<String> = r.iter().map(|v| format!("{v:.0}")).collect();
            r.sort_by(f64::total_cmp);
            println!(
                "| {name} | pool | median {:.0} ({}) | |",
                (r[2] + r[3]) / 2.0,
                list.join(" ")
            );
        }
        ck("cuCtxSetCurrent", api.cuCtxSetCurrent(ctx));
        for r in ring {
            ck("cuEventDestroy", api.cuEventDestroy_v2(r));
        }
        for m in dsts {
            ck("cuMemFreeAsync", api.cuMemFreeAsync(m, s));
        }
        sync();
        for m in pitched.iter().chain(plain.iter()) {
            ck("cuMemFree", api.cuMemFree_v2(*m));
        }
        for m in pooled {
            ck("cuMemFreeAsync", api.cuMemFreeAsync(m, s));
        }
        sync();
    }
}
