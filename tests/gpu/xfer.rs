//! Frame transfer: same-GPU and staged paths on one GPU; peer paths on two (skipped, with a
//! message, where the host has one GPU).

use std::time::Duration;

use nvdx::xfer::{CopyMethod, LinkKind, PeerLink, Transfer, TransferMode, TransferPath};
use nvdx::FrameView;
use nvdx::{
    Context, Device, Error, Frame, FrameLayout, FramePool, MemoryKind, PixelFormat, Stream,
};

use crate::common::{ctx, in_fresh_process, is_fresh_child, random_bytes, rng};

fn contexts() -> Vec<(Context, Context, &'static str)> {
    let a = ctx();
    let mut v = vec![(a.clone(), a.clone(), "GPU0->GPU0")];
    if Device::count().unwrap_or(0) >= 2 {
        let b = Context::primary(1).unwrap();
        v.push((a.clone(), b.clone(), "GPU0->GPU1"));
        v.push((b, a, "GPU1->GPU0"));
    } else {
        eprintln!("one GPU: peer-to-peer cases skipped (they run on a two-GPU host)");
    }
    v
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn frames_arrive_intact_for_every_format_kind_and_path() {
    let mut rng = rng();
    let formats = [
        (PixelFormat::Nv12, 1920, 1080),
        (PixelFormat::Nv12, 1918, 1078),
        (PixelFormat::P016, 640, 360),
        (PixelFormat::Yuv444, 320, 240),
        (PixelFormat::Rgb24, 333, 111),
        (PixelFormat::RgbPlanarF16, 448, 448),
    ];
    for (src_ctx, dst_ctx, label) in contexts() {
        let src_stream = Stream::new(&src_ctx).unwrap();
        for (mode, method) in [
            (TransferMode::Auto, CopyMethod::Auto),
            (TransferMode::Auto, CopyMethod::CopyEngine),
            (TransferMode::Auto, CopyMethod::SmKernel),
            (TransferMode::Staged, CopyMethod::Auto),
        ] {
            for kind in [MemoryKind::Device, MemoryKind::Pinned, MemoryKind::Managed] {
                for (fmt, w, h) in formats {
                    let pool = FramePool::new(&dst_ctx, fmt, w, h, 2, kind).unwrap();
                    let mut x = Transfer::new(&src_ctx, pool.clone(), mode).unwrap();
                    x.set_copy_method(method);
                    if mode == TransferMode::Staged {
                        assert_eq!(x.path(), TransferPath::Staged);
                    }
                    // A padded source pitch: the 2D layout goes as it is.
                    let packed = FrameLayout::packed(fmt, w, h).unwrap();
                    let layout = FrameLayout::new(fmt, w, h, packed.pitch + 512).unwrap();
                    let mut src = Frame::with_layout(&src_ctx, layout, MemoryKind::Device).unwrap();
                    let data = random_bytes(&mut rng, packed.tight_len());
                    src.copy_from_host(&data).unwrap();
                    src.meta.pts = 777;
                    {
                        let mut poison = pool.acquire().unwrap();
                        poison.memset_async(0xA5, x.dst_stream()).unwrap();
                        x.dst_stream().synchronize().unwrap();
                    }
                    let got = x.send(&src, &src_stream).unwrap();
                    x.dst_stream().synchronize().unwrap();
                    assert_eq!(got.meta.pts, 777);
                    assert!(
                        got.to_host_vec().unwrap() == data,
                        "{label} {mode:?} {kind:?} {fmt:?} {w}x{h}: bytes differ"
                    );
                }
            }
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn batches_and_overwrite_ordering() {
    let mut rng = rng();
    for (src_ctx, dst_ctx, label) in contexts() {
        let src_stream = Stream::new(&src_ctx).unwrap();
        for (mode, method) in [
            (TransferMode::Auto, CopyMethod::SmKernel),
            (TransferMode::Auto, CopyMethod::CopyEngine),
            (TransferMode::Staged, CopyMethod::Auto),
        ] {
            let pool = FramePool::new(
                &dst_ctx,
                PixelFormat::Nv12,
                1920,
                1080,
                8,
                MemoryKind::Device,
            )
            .unwrap();
            let mut x = Transfer::new(&src_ctx, pool, mode).unwrap();
            x.set_copy_method(method);
            let mut srcs = Vec::new();
            let mut datas = Vec::new();
            for i in 0..8 {
                let mut f = Frame::new(&src_ctx, PixelFormat::Nv12, 1920, 1080, MemoryKind::Device)
                    .unwrap();
                let d = random_bytes(&mut rng, f.layout().tight_len());
                f.copy_from_host(&d).unwrap();
                f.meta.pts = i;
                srcs.push(f);
                datas.push(d);
            }
            let refs: Vec<&Frame> = srcs.iter().collect();
            let got = x.send_batch(&refs, &src_stream).unwrap();
            // Overwrite every source right after the call, on the source stream: the transfer
            // must already have read the old contents.
            for f in &mut srcs {
                f.memset_async(0x00, &src_stream).unwrap();
            }
            src_stream.synchronize().unwrap();
            x.dst_stream().synchronize().unwrap();
            for (i, (g, d)) in got.iter().zip(&datas).enumerate() {
                assert_eq!(g.meta.pts, i as i64);
                assert!(
                    g.to_host_vec().unwrap() == *d,
                    "{label} {mode:?} {method:?}: frame {i} corrupted by the overwrite"
                );
            }
        }
    }
}

/// A pool frame's last user runs on the destination stream and is still queued (behind a few
/// milliseconds of memsets) when the frame is dropped; the transfers that reuse the frame
/// right after (first-in first-out: the third send) must wait for it. Without the release
/// event the copy on the source stream would overwrite the frame before it was read.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn reused_pool_frames_wait_for_their_last_user() {
    let mut rng = rng();
    for (src_ctx, dst_ctx, label) in contexts() {
        let src_stream = Stream::new(&src_ctx).unwrap();
        let mut delay = nvdx::DeviceBuffer::new(&dst_ctx, 1 << 30).unwrap();
        for (mode, method) in [
            (TransferMode::Auto, CopyMethod::SmKernel),
            (TransferMode::Auto, CopyMethod::CopyEngine),
            (TransferMode::Staged, CopyMethod::Auto),
        ] {
            let (w, h) = (1920, 1080);
            let pool =
                FramePool::new(&dst_ctx, PixelFormat::Nv12, w, h, 2, MemoryKind::Device).unwrap();
            let mut x = Transfer::new(&src_ctx, pool, mode).unwrap();
            x.set_copy_method(method);
            let mut frames = Vec::new();
            let mut datas = Vec::new();
            for _ in 0..3 {
                let mut f =
                    Frame::new(&src_ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
                let d = random_bytes(&mut rng, f.layout().tight_len());
                f.copy_from_host(&d).unwrap();
                frames.push(f);
                datas.push(d);
            }
            let mut seen =
                Frame::new(&dst_ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
            seen.memset_async(0x5A, x.dst_stream()).unwrap();
            let a = x.send(&frames[0], &src_stream).unwrap();
            let a_ptr = a.device_ptr();
            // The last user of `a`: a copy out of it, queued behind ~4 GiB of memsets.
            for _ in 0..4 {
                delay.memset_async(0, x.dst_stream()).unwrap();
            }
            seen.copy_from_async(&a, x.dst_stream()).unwrap();
            drop(a);
            let b = x.send(&frames[1], &src_stream).unwrap();
            let c = x.send(&frames[2], &src_stream).unwrap();
            assert_eq!(
                c.device_ptr(),
                a_ptr,
                "{label}: the pool is not first-in first-out"
            );
            x.dst_stream().synchronize().unwrap();
            src_stream.synchronize().unwrap();
            assert!(
                seen.to_host_vec().unwrap() == datas[0],
                "{label} {mode:?} {method:?}: the reused frame was overwritten before its last \
                 user read it"
            );
            assert!(
                b.to_host_vec().unwrap() == datas[1],
                "{label} {mode:?}: frame b"
            );
            assert!(
                c.to_host_vec().unwrap() == datas[2],
                "{label} {mode:?}: frame c"
            );
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn pool_exhaustion_blocks_or_errors() {
    let c = ctx();
    let s = Stream::new(&c).unwrap();
    let pool = FramePool::new(&c, PixelFormat::Nv12, 64, 64, 2, MemoryKind::Device).unwrap();
    let mut x = Transfer::new(&c, pool.clone(), TransferMode::Auto).unwrap();
    let mut src = Frame::new(&c, PixelFormat::Nv12, 64, 64, MemoryKind::Device).unwrap();
    // Written first, so that compute-sanitizer's initcheck sees no read of uninitialized memory.
    src.memset_async(0x5A, &s).unwrap();
    let a = x.send(&src, &s).unwrap();
    let b = x.try_send(&src, &s).unwrap();
    assert!(matches!(
        x.try_send(&src, &s),
        Err(Error::PoolExhausted { capacity: 2 })
    ));
    let batch = [&src, &src, &src];
    assert!(matches!(
        x.send_batch(&batch, &s),
        Err(Error::InvalidArgument(_))
    ));
    // A blocking send resumes when a frame comes back.
    let released = a.device_ptr();
    let h = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        drop(a);
    });
    let c2 = x.send(&src, &s).unwrap();
    h.join().unwrap();
    assert_eq!(c2.device_ptr(), released);
    drop((b, c2));
    // Mismatched frames are argument errors.
    let other = Frame::new(&c, PixelFormat::Nv12, 32, 32, MemoryKind::Device).unwrap();
    assert!(matches!(x.send(&other, &s), Err(Error::InvalidArgument(_))));
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn peer_link_reports_and_rejects_truthfully() {
    let a = ctx();
    let same = PeerLink::enable(&a, &a).unwrap();
    assert_eq!(same.kind(), LinkKind::SameDevice);
    if Device::count().unwrap() < 2 {
        eprintln!("one GPU: the two-GPU link checks run on a two-GPU host");
        return;
    }
    let b = Context::primary(1).unwrap();
    let can = a.device().can_access_peer(&b.device()).unwrap();
    match PeerLink::enable(&a, &b) {
        Ok(link) => {
            assert!(can);
            assert!(matches!(link.kind(), LinkKind::NvLink | LinkKind::Pcie));
            // Enabling twice is fine.
            PeerLink::enable(&a, &b).unwrap();
            PeerLink::enable(&b, &a).unwrap();
        }
        Err(e) => {
            assert!(!can);
            assert!(matches!(e, Error::Unsupported(_)), "{e}");
        }
    }
}

/// Memory accounting runs in a process of its own (the other tests allocate concurrently).
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn ten_thousand_transfers_leak_nothing() {
    in_fresh_process("xfer::transfer_leak_check_in_fresh_process");
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn transfer_leak_check_in_fresh_process() {
    if !is_fresh_child("ten_thousand_transfers_leak_nothing") {
        return;
    }
    let c = ctx();
    let s = Stream::new(&c).unwrap();
    let pool = FramePool::new(&c, PixelFormat::Nv12, 320, 240, 4, MemoryKind::Device).unwrap();
    let mut direct = Transfer::new(&c, pool.clone(), TransferMode::Auto).unwrap();
    let mut staged = Transfer::new(&c, pool, TransferMode::Staged).unwrap();
    let src = Frame::new(&c, PixelFormat::Nv12, 320, 240, MemoryKind::Device).unwrap();
    // Warm up both paths (staging buffers are allocated once; the driver grows internal pools
    // during the first transfers).
    for i in 0..1000 {
        drop(direct.send(&src, &s).unwrap());
        drop(staged.send(&src, &s).unwrap());
        if i % 50 == 49 {
            direct.dst_stream().synchronize().unwrap();
            staged.dst_stream().synchronize().unwrap();
        }
    }
    c.synchronize().unwrap();
    let (free0, _) = c.memory_info().unwrap();
    for i in 0..10_000 {
        let x = if i % 2 == 0 { &mut direct } else { &mut staged };
        let f = x.send(&src, &s).unwrap();
        drop(f);
        if i % 100 == 99 {
            // Bound the queue of pending work: the driver grows its command buffers with the
            // queue depth and keeps them, which is not a leak of ours.
            direct.dst_stream().synchronize().unwrap();
            staged.dst_stream().synchronize().unwrap();
        }
    }
    c.synchronize().unwrap();
    let (free1, _) = c.memory_info().unwrap();
    assert_eq!(
        free0,
        free1,
        "device memory changed by {} bytes over 10,000 transfers",
        free0 as i64 - free1 as i64
    );
}
