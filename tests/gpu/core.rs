//! The foundation on a GPU: contexts, memory, frames, pools, events, leaks.

use std::time::Duration;

use nvdx::context::{primary_state, FlagsOutcome};
use nvdx::FrameView;
use nvdx::{
    Context, Device, DeviceBuffer, Error, Event, Frame, FrameLayout, FramePool, HostBuffer,
    ManagedBuffer, MemoryKind, PixelFormat, PrimaryContextFlags, Stream,
};

use crate::common::{ctx, in_fresh_process, random_bytes, rng};

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn primary_context_flags_semantics() {
    in_fresh_process("core::flags_in_fresh_process");
}

/// The body of `primary_context_flags_semantics`; only meaningful in a fresh process.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn flags_in_fresh_process() {
    if std::env::var_os("NVDX_FRESH_PROCESS").is_none() {
        eprintln!("runs only as the child of primary_context_flags_semantics");
        return;
    }
    let dev = Device::get(0).unwrap();
    let before = primary_state(&dev).unwrap();
    assert!(
        !before.active,
        "primary context already active in a fresh process: {before:?}"
    );

    // Set before activation: takes effect when the context is created.
    let outcome =
        Context::set_primary_flags(&dev, PrimaryContextFlags::SCHED_BLOCKING_SYNC).unwrap();
    assert_eq!(outcome, FlagsOutcome::Applied);
    let ctx = Context::primary_on(&dev).unwrap();
    let live = ctx.flags().unwrap();
    assert!(
        live.contains(PrimaryContextFlags::SCHED_BLOCKING_SYNC),
        "live flags {live:?}"
    );
    let state = primary_state(&dev).unwrap();
    assert!(state.active);
    assert_eq!(
        state.flags & PrimaryContextFlags::SCHED_BLOCKING_SYNC,
        PrimaryContextFlags::SCHED_BLOCKING_SYNC
    );

    // Same flags again while active: nothing to do.
    assert_eq!(
        Context::set_primary_flags(&dev, state.flags).unwrap(),
        FlagsOutcome::AlreadySet
    );

    // Different flags while active: whatever the driver does, nvdx reports it truthfully.
    match Context::set_primary_flags(&dev, PrimaryContextFlags::SCHED_SPIN) {
        Ok(FlagsOutcome::AppliedWhileActive { previous }) => {
            assert!(previous.contains(PrimaryContextFlags::SCHED_BLOCKING_SYNC));
            let st = primary_state(&dev).unwrap();
            println!(
                "driver applied SCHED_SPIN to the active primary context: state {st:?}, live {:?}",
                ctx.flags().unwrap()
            );
            assert!(st.flags.contains(PrimaryContextFlags::SCHED_SPIN), "{st:?}");
        }
        Err(Error::InvalidState(msg)) => {
            println!("driver refused to change flags of the active context: {msg}");
            assert!(msg.contains("already active"));
            let st = primary_state(&dev).unwrap();
            assert!(st.flags.contains(PrimaryContextFlags::SCHED_BLOCKING_SYNC));
        }
        other => panic!("unexpected outcome {other:?}"),
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn device_properties() {
    let n = Device::count().unwrap();
    assert!(n >= 1);
    let d = Device::get(0).unwrap();
    let name = d.name().unwrap();
    assert!(name.contains("NVIDIA"), "{name}");
    let (major, _) = d.compute_capability().unwrap();
    assert!(major >= 5);
    assert!(d.total_memory().unwrap() > 1 << 30);
    assert!(d.uuid_string().unwrap().starts_with("GPU-"));
    assert!(d.pci_bus_id().unwrap().contains(':'));
    let e = Device::get(n).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    let (maj, _) = nvdx::device::driver_version().unwrap();
    assert!(maj >= 12);
    let (free, total) = ctx().memory_info().unwrap();
    assert!(free > 0 && free <= total);
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn buffer_round_trips_on_random_data() {
    let ctx = ctx();
    let stream = Stream::new(&ctx).unwrap();
    let mut rng = rng();
    for &len in &[1usize, 7, 4096, 1 << 20, 3 * 1024 * 1024 + 5] {
        let data = random_bytes(&mut rng, len);
        // pageable <-> device
        let mut d = DeviceBuffer::new(&ctx, len).unwrap();
        d.memset_async(0xA5, &stream).unwrap();
        stream.synchronize().unwrap();
        d.copy_from_host(&data).unwrap();
        let mut back = vec![0x5Au8; len];
        d.copy_to_host(&mut back).unwrap();
        assert!(back == data, "device round trip of {len} bytes differs");

        // pinned -> device -> managed -> pinned, all async on one stream
        let mut pinned = HostBuffer::new(&ctx, len).unwrap();
        pinned.as_mut_slice().unwrap().copy_from_slice(&data);
        let mut d2 = DeviceBuffer::new(&ctx, len).unwrap();
        d2.memset_async(0x11, &stream).unwrap();
        d2.copy_from_async(&pinned, len, &stream).unwrap();
        let mut managed = ManagedBuffer::new(&ctx, len).unwrap();
        managed.memset_async(0x22, &stream).unwrap();
        managed.copy_from_async(&d2, len, &stream).unwrap();
        let mut out = HostBuffer::new(&ctx, len).unwrap();
        out.as_mut_slice().unwrap().fill(0x33);
        out.copy_from_async(&managed, len, &stream).unwrap();
        // No synchronisation: host access waits for the buffers' own pending GPU writes.
        assert!(
            out.as_slice().unwrap() == &data[..],
            "async chain of {len} bytes differs"
        );
        assert!(managed.as_slice().unwrap() == &data[..]);
    }
    // Oversized copies are argument errors, not crashes.
    let mut small = DeviceBuffer::new(&ctx, 8).unwrap();
    assert!(matches!(
        small.copy_from_host(&[0u8; 9]),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn frames_round_trip_with_padded_pitches_and_all_kinds() {
    let ctx = ctx();
    let stream = Stream::new(&ctx).unwrap();
    let mut rng = rng();
    let formats = [
        (PixelFormat::Nv12, 1918, 1078),
        (PixelFormat::P016, 64, 32),
        (PixelFormat::Rgb24, 333, 17),
        (PixelFormat::Rgba, 2, 2),
        (PixelFormat::RgbPlanarF32, 45, 11),
        (PixelFormat::Yuv444, 31, 7),
    ];
    for (fmt, w, h) in formats {
        let packed = FrameLayout::packed(fmt, w, h).unwrap();
        let padded =
            FrameLayout::new(fmt, w, h, packed.row_bytes() + 64 * fmt.bytes_per_sample()).unwrap();
        let data = random_bytes(&mut rng, packed.tight_len());
        let mut src = Frame::with_layout(&ctx, padded, MemoryKind::Device).unwrap();
        src.memset_async(0xEE, &stream).unwrap();
        stream.synchronize().unwrap();
        src.copy_from_host(&data).unwrap();
        assert_eq!(src.to_host_vec().unwrap(), data, "{fmt:?} upload/download");
        // Padding bytes were not touched by the 2D upload.
        let raw = src.raw_to_host_vec().unwrap();
        for r in 0..padded.rows() {
            let pad = &raw[r * padded.pitch + padded.row_bytes()..(r + 1) * padded.pitch];
            assert!(
                pad.iter().all(|&b| b == 0xEE),
                "{fmt:?} padding of row {r} overwritten"
            );
        }
        for kind in [MemoryKind::Device, MemoryKind::Pinned, MemoryKind::Managed] {
            let mut dst = Frame::new(&ctx, fmt, w, h, kind).unwrap();
            dst.memset_async(0x5A, &stream).unwrap();
            src.meta.pts = 1234;
            dst.copy_from_async(&src, &stream).unwrap();
            stream.synchronize().unwrap();
            assert_eq!(
                dst.to_host_vec().unwrap(),
                data,
                "{fmt:?} copy into {kind:?}"
            );
            assert_eq!(dst.meta.pts, 1234);
        }
    }
    // Mismatched frames are refused.
    let a = Frame::new(&ctx, PixelFormat::Nv12, 64, 64, MemoryKind::Device).unwrap();
    let mut b = Frame::new(&ctx, PixelFormat::Nv12, 64, 32, MemoryKind::Device).unwrap();
    assert!(matches!(
        b.copy_from_async(&a, &stream),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Frame::new(&ctx, PixelFormat::Nv12, 63, 64, MemoryKind::Device),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn nv12_planes_sit_at_pitch_times_height() {
    let ctx = ctx();
    let (w, h) = (1920u32, 1080u32);
    let mut f = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
    assert!(f.pitch() >= w as usize);
    assert_eq!(
        f.chroma_ptr(),
        f.device_ptr() + (f.pitch() * h as usize) as u64
    );
    assert_eq!(f.plane_ptr(1).unwrap(), f.chroma_ptr());
    assert!(f.plane_ptr(2).is_err());
    let mut tight = vec![0u8; f.layout().tight_len()];
    let luma = (w * h) as usize;
    tight[..luma].fill(16);
    for (i, b) in tight[luma..].iter_mut().enumerate() {
        *b = if i % 2 == 0 { 90 } else { 240 };
    }
    f.copy_from_host(&tight).unwrap();
    // Read the chroma plane straight from its device address.
    let mut chroma_row = vec![0u8; w as usize];
    let stream = Stream::new(&ctx).unwrap();
    let mut host = HostBuffer::new(&ctx, w as usize).unwrap();
    // SAFETY: both ranges are inside live allocations; synchronised below.
    unsafe {
        nvdx::memory::copy_raw(
            host.device_ptr(),
            f.chroma_ptr() + (f.pitch() * 7) as u64,
            w as usize,
            &stream,
        )
    }
    .unwrap();
    stream.synchronize().unwrap();
    chroma_row.copy_from_slice(host.as_slice().unwrap());
    assert!(chroma_row.chunks(2).all(|c| c == [90, 240]));
    host.as_mut_slice().unwrap().fill(0);
    // SAFETY: as above.
    unsafe {
        nvdx::memory::copy_raw(
            host.device_ptr(),
            f.luma_ptr() + (f.pitch() * (h as usize - 1)) as u64,
            w as usize,
            &stream,
        )
    }
    .unwrap();
    stream.synchronize().unwrap();
    assert!(host.as_slice().unwrap().iter().all(|&b| b == 16));
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn pool_recycles_frames() {
    let ctx = ctx();
    assert!(matches!(
        FramePool::new(&ctx, PixelFormat::Nv12, 64, 64, 1, MemoryKind::Device),
        Err(Error::InvalidArgument(_))
    ));
    for kind in [MemoryKind::Device, MemoryKind::Pinned, MemoryKind::Managed] {
        let pool = FramePool::new(&ctx, PixelFormat::Nv12, 320, 240, 3, kind).unwrap();
        let a = pool.acquire().unwrap();
        let b = pool.acquire().unwrap();
        let c = pool.try_acquire().unwrap();
        let mut ptrs = vec![a.device_ptr(), b.device_ptr(), c.device_ptr()];
        ptrs.sort();
        ptrs.dedup();
        assert_eq!(ptrs.len(), 3);
        assert!(pool.try_acquire().is_none());
        assert!(matches!(
            pool.acquire_timeout(Duration::from_millis(20)),
            Err(Error::PoolExhausted { capacity: 3 })
        ));
        let released = b.device_ptr();
        drop(b);
        let again = pool.acquire_timeout(Duration::from_millis(20)).unwrap();
        assert_eq!(again.device_ptr(), released, "the returned frame is reused");
        assert_eq!(again.memory_kind(), kind);
        // A blocked acquire wakes up when another thread drops a frame.
        let p2 = pool.clone();
        let waiter = std::thread::spawn(move || p2.acquire().map(|f| f.device_ptr()));
        std::thread::sleep(Duration::from_millis(30));
        let a_ptr = a.device_ptr();
        drop(a);
        assert_eq!(waiter.join().unwrap().unwrap(), a_ptr);
        drop((c, again));
        assert_eq!(pool.available(), 3);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn events_order_work_across_streams() {
    let ctx = ctx();
    let a = Stream::new(&ctx).unwrap();
    let b = Stream::new(&ctx).unwrap();
    let len = 256 << 20;
    for round in 0..5u8 {
        let mut big = DeviceBuffer::new(&ctx, len).unwrap();
        // Plenty of work on A, ending with the value we expect B to see.
        for v in 0..8u8 {
            big.memset_async(v, &a).unwrap();
        }
        big.memset_async(0xC0 + round, &a).unwrap();
        let done = Event::new(&ctx).unwrap();
        done.record(&a).unwrap();
        b.wait_event(&done).unwrap();
        let mut out = HostBuffer::new(&ctx, 4096).unwrap();
        out.copy_from_async(&big, 4096, &b).unwrap();
        let mut tail = HostBuffer::new(&ctx, 4096).unwrap();
        // The last page too.
        // SAFETY: the range is inside `big`; synchronised below.
        unsafe {
            nvdx::memory::copy_raw(
                tail.device_ptr(),
                big.device_ptr() + (len - 4096) as u64,
                4096,
                &b,
            )
        }
        .unwrap();
        b.synchronize().unwrap();
        assert!(
            out.as_slice()
                .unwrap()
                .iter()
                .chain(tail.as_slice().unwrap().iter())
                .all(|&x| x == 0xC0 + round),
            "stream B ran before A's event"
        );
        tail.as_mut_slice().unwrap().fill(0);
    }
    // Timing events measure something positive.
    let s = Event::new(&ctx).unwrap();
    let e = Event::new(&ctx).unwrap();
    let mut buf = DeviceBuffer::new(&ctx, 64 << 20).unwrap();
    s.record(&a).unwrap();
    buf.memset_async(1, &a).unwrap();
    e.record(&a).unwrap();
    e.synchronize().unwrap();
    assert!(e.is_complete().unwrap());
    assert!(Event::elapsed(&s, &e).unwrap() > Duration::ZERO);
}

/// Memory accounting needs a process of its own: the other tests allocate concurrently.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn no_leak_over_many_allocations_and_pushes() {
    in_fresh_process("core::leak_check_in_fresh_process");
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn leak_check_in_fresh_process() {
    if std::env::var_os("NVDX_FRESH_PROCESS").is_none() {
        eprintln!("runs only as the child of no_leak_over_many_allocations_and_pushes");
        return;
    }
    let ctx = ctx();
    let stream = Stream::new(&ctx).unwrap();
    let round = |n: usize| {
        for i in 0..n {
            let mut b = DeviceBuffer::new(&ctx, (1 << 20) + i).unwrap();
            b.memset_async(1, &stream).unwrap();
            let f = Frame::new(&ctx, PixelFormat::Nv12, 640, 480, MemoryKind::Device).unwrap();
            drop(f);
            if i % 100 == 0 {
                drop(HostBuffer::new(&ctx, 1 << 16).unwrap());
            }
            if i % 50 == 49 {
                // Bound the queue of pending work (the driver grows its command buffers with it).
                stream.synchronize().unwrap();
            }
        }
        for _ in 0..n {
            let _g = ctx.bind().unwrap();
            let _g2 = ctx.bind().unwrap();
        }
        ctx.synchronize().unwrap();
    };
    // Warm up the driver's internal pools with the same work, then measure a second round.
    round(200);
    let (free_before, _) = ctx.memory_info().unwrap();
    round(1000);
    let (free_after, _) = ctx.memory_info().unwrap();
    assert_eq!(
        free_before,
        free_after,
        "device memory leaked: {} bytes",
        free_before as i64 - free_after as i64
    );
}
