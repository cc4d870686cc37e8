//! GPU tests of the lifetime model (issue 12): every allocation knows its pending work, drops
//! free in stream order, host reads are ordered after the last writer, pool frames wait for
//! their last use whoever used them, and contexts share one state per GPU without a cycle.
//!
//! Each race is made likely by queueing the first user behind about 1 GiB (or more) of memsets
//! on its stream, so that a missing wait shows up as wrong bytes.

use std::path::PathBuf;
use std::sync::Arc;

use nvdx::decode::{Decoder, DecoderConfig};
use nvdx::dlpack::{export, ConsumerStream, DlView, FramePart};
use nvdx::kernels::colour::{rgb_to_yuv420, yuv420_to_rgb, ColourSpace};
use nvdx::{
    Codec, Context, DeviceBuffer, Frame, FramePool, FrameView, HostBuffer, MemoryKind, PixelFormat,
    Stream,
};

use crate::common::{ctx, in_fresh_process, is_fresh_child, random_bytes, rng};

const GIB: usize = 1 << 30;

/// Queues `rounds` memsets of 1 GiB on `stream` (a few ms of work on an H200).
fn delay(stream: &Stream, big: &mut DeviceBuffer, rounds: u8) {
    for v in 0..rounds {
        big.memset_async(v, stream).unwrap();
    }
}

fn fixtures_dir() -> PathBuf {
    crate::decode::fixtures_dir()
}

fn random_frame(ctx: &Context, f: PixelFormat, w: u32, h: u32, seed: u8) -> (Frame, Vec<u8>) {
    let mut r = rng();
    let mut data = random_bytes(&mut r, f.row_bytes(w) * f.total_rows(h));
    data[0] = seed;
    let mut frame = Frame::new(ctx, f, w, h, MemoryKind::Device).unwrap();
    frame.copy_from_host(&data).unwrap();
    (frame, data)
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn a_source_dropped_right_after_its_kernel_is_not_reused_under_it() {
    let ctx = ctx();
    let (w, h) = (1920u32, 1080u32);
    let slow = Stream::new(&ctx).unwrap();
    let other = Stream::new(&ctx).unwrap();
    let mut big = DeviceBuffer::new(&ctx, GIB).unwrap();
    // The expected output, from a conversion nobody races.
    let (keep, rgb) = random_frame(&ctx, PixelFormat::Rgb24, w, h, 1);
    let mut expect = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
    rgb_to_yuv420(&keep, &mut expect, ColourSpace::BT709_LIMITED, &slow).unwrap();
    let expect = expect.to_host_vec().unwrap();
    let mut reused = 0;
    for round in 0..8 {
        let mut src = Frame::new(&ctx, PixelFormat::Rgb24, w, h, MemoryKind::Device).unwrap();
        src.copy_from_host(&rgb).unwrap();
        let old_ptr = src.device_ptr();
        let mut out = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
        out.memset_async(0xEE, &slow).unwrap();
        delay(&slow, &mut big, 4);
        rgb_to_yuv420(&src, &mut out, ColourSpace::BT709_LIMITED, &slow).unwrap();
        drop(src);
        // A new frame of the same size, filled at once on another stream.
        let mut thief = Frame::new(&ctx, PixelFormat::Rgb24, w, h, MemoryKind::Device).unwrap();
        if thief.device_ptr() == old_ptr {
            reused += 1;
        }
        thief.memset_async(0x00, &other).unwrap();
        let got = out.to_host_vec().unwrap();
        assert!(
            got == expect,
            "round {round}: the kernel read its dropped source after it was reused"
        );
    }
    eprintln!("the new frame reused the dropped source's address in {reused} of 8 rounds");
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn host_reads_right_after_gpu_work_see_its_result() {
    let ctx = ctx();
    let s = Stream::new(&ctx).unwrap();
    let mut big = DeviceBuffer::new(&ctx, GIB).unwrap();
    let (w, h) = (1920u32, 1080u32);
    // A frame memset behind 4 GiB of memsets, read at once: no user synchronisation.
    let mut f = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
    f.copy_from_host(&vec![
        0x11;
        PixelFormat::Nv12.row_bytes(w)
            * PixelFormat::Nv12.total_rows(h)
    ])
    .unwrap();
    delay(&s, &mut big, 4);
    f.memset_async(0x7B, &s).unwrap();
    let v = f.to_host_vec().unwrap();
    let fresh = v.iter().filter(|&&b| b == 0x7B).count();
    assert_eq!(
        fresh,
        v.len(),
        "{fresh} of {} bytes had the new value",
        v.len()
    );
    // A kernel's output (destination poisoned first), read at once.
    let (src, _) = random_frame(&ctx, PixelFormat::Nv12, w, h, 2);
    let mut rgb = Frame::new(&ctx, PixelFormat::Rgb24, w, h, MemoryKind::Device).unwrap();
    rgb.memset_async(0xEE, &s).unwrap();
    let reference = {
        let mut r = Frame::new(&ctx, PixelFormat::Rgb24, w, h, MemoryKind::Device).unwrap();
        yuv420_to_rgb(&src, &mut r, ColourSpace::BT709_LIMITED, &s).unwrap();
        s.synchronize().unwrap();
        r.to_host_vec().unwrap()
    };
    delay(&s, &mut big, 4);
    yuv420_to_rgb(&src, &mut rgb, ColourSpace::BT709_LIMITED, &s).unwrap();
    assert!(
        rgb.to_host_vec().unwrap() == reference,
        "stale kernel output"
    );
    // A pinned buffer filled by a copy, read at once; then rewritten by the host while the
    // next copy out of it is still queued behind memsets.
    let mut dev = DeviceBuffer::new(&ctx, 1 << 20).unwrap();
    let mut host = HostBuffer::new(&ctx, 1 << 20).unwrap();
    delay(&s, &mut big, 4);
    dev.memset_async(0x5C, &s).unwrap();
    host.copy_from_async(&dev, 1 << 20, &s).unwrap();
    assert!(host.as_slice().unwrap().iter().all(|&b| b == 0x5C));
    delay(&s, &mut big, 4);
    dev.copy_from_async(&host, 1 << 20, &s).unwrap();
    host.as_mut_slice().unwrap().fill(0x01);
    let mut back = vec![0u8; 1 << 20];
    dev.copy_to_host(&mut back).unwrap();
    assert!(
        back.iter().all(|&b| b == 0x5C),
        "the host overwrote a pinned buffer before the GPU copied it"
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn pool_frames_wait_for_kernels_on_a_foreign_stream() {
    let ctx = ctx();
    let (w, h) = (1280u32, 720u32);
    let owned = Stream::new(&ctx).unwrap();
    // SAFETY: `owned` outlives `foreign`, a borrowed view of the same stream with its own id
    // (what a PyTorch or cudarc stream handed to nvdx looks like).
    let foreign = unsafe { Stream::from_raw_borrowed(&ctx, owned.raw()) }.unwrap();
    let writer = Stream::new(&ctx).unwrap();
    let mut big = DeviceBuffer::new(&ctx, GIB).unwrap();
    let pool = FramePool::new(&ctx, PixelFormat::Nv12, w, h, 2, MemoryKind::Device).unwrap();
    let (_, data) = random_frame(&ctx, PixelFormat::Nv12, w, h, 3);
    let mut reference = Frame::new(&ctx, PixelFormat::Rgb24, w, h, MemoryKind::Device).unwrap();
    {
        let mut f = pool.acquire().unwrap();
        f.copy_from_host(&data).unwrap();
        yuv420_to_rgb(&*f, &mut reference, ColourSpace::BT601_LIMITED, &writer).unwrap();
    }
    let reference = reference.to_host_vec().unwrap();
    for round in 0..6 {
        let _hold = pool.acquire().unwrap();
        let mut f = pool.acquire().unwrap();
        f.copy_from_host(&data).unwrap();
        let mut out = Frame::new(&ctx, PixelFormat::Rgb24, w, h, MemoryKind::Device).unwrap();
        delay(&foreign, &mut big, 4);
        yuv420_to_rgb(&*f, &mut out, ColourSpace::BT601_LIMITED, &foreign).unwrap();
        drop(f);
        // The only free frame is the one the foreign stream still reads: overwrite it.
        let mut again = pool.acquire().unwrap();
        again.memset_async(0x00, &writer).unwrap();
        assert!(
            out.to_host_vec().unwrap() == reference,
            "round {round}: a pool frame was rewritten under a kernel on a foreign stream"
        );
    }
}

/// A DLPack export held by a consumer does not hide reads nvdx queued meanwhile on its own
/// streams: when the consumer's deleter runs, the next writer still waits for them.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn a_dlpack_deleter_keeps_reads_queued_during_the_export_ordered() {
    let ctx = ctx();
    let (w, h) = (1920u32, 1080u32);
    let slow = Stream::new(&ctx).unwrap();
    let consumer = Stream::new(&ctx).unwrap();
    let writer = Stream::new(&ctx).unwrap();
    let mut big = DeviceBuffer::new(&ctx, GIB).unwrap();
    let (src, rgb) = random_frame(&ctx, PixelFormat::Rgb24, w, h, 5);
    let mut expect = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
    rgb_to_yuv420(&src, &mut expect, ColourSpace::BT709_LIMITED, &slow).unwrap();
    let expect = expect.to_host_vec().unwrap();
    let mut src = Arc::new(src);
    for round in 0..6 {
        Arc::get_mut(&mut src)
            .unwrap()
            .copy_from_host(&rgb)
            .unwrap();
        let view = DlView::of_frame(&*src, FramePart::Whole).unwrap();
        // SAFETY: `consumer` is a live stream of the frame's context that outlives the export.
        let on = unsafe { ConsumerStream::raw_handle(consumer.raw()) };
        let exported = export(Arc::clone(&src), view, on).unwrap();
        let mut out = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
        out.memset_async(0xEE, &slow).unwrap();
        delay(&slow, &mut big, 4);
        // nvdx reads the frame on its own stream while the consumer holds the export.
        rgb_to_yuv420(&*src, &mut out, ColourSpace::BT709_LIMITED, &slow).unwrap();
        drop(exported); // the deleter: the consumer queued nothing
        let only = Arc::get_mut(&mut src).expect("the deleter released the frame");
        only.memset_async(0x00, &writer).unwrap();
        assert!(
            out.to_host_vec().unwrap() == expect,
            "round {round}: a write after the DLPack deleter overtook a read queued during the export"
        );
    }
}

/// Uses on streams nvdx owns are recorded lazily (an event only when another stream, the host
/// or a free needs one): the work must stay ordered when the stream that ran it is dropped
/// before anyone looks, and when the frame goes back to a pool and is reused on another stream.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn unrecorded_uses_on_a_dropped_stream_stay_ordered() {
    let ctx = ctx();
    let (w, h) = (1920u32, 1080u32);
    let mut big = DeviceBuffer::new(&ctx, GIB).unwrap();
    let other = Stream::new(&ctx).unwrap();
    let (src, data) = random_frame(&ctx, PixelFormat::Nv12, w, h, 5);
    for round in 0..4u8 {
        // Host read after a write on a stream that no longer exists.
        let mut f = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
        {
            let slow = Stream::new(&ctx).unwrap();
            delay(&slow, &mut big, 4);
            f.memset_async(0x40 + round, &slow).unwrap();
        }
        let got = f.to_host_vec().unwrap();
        assert!(
            got.iter().all(|&b| b == 0x40 + round),
            "round {round}: a host read overtook a write on a dropped stream"
        );
        // Device read on another stream after a write on a dropped stream.
        {
            let slow = Stream::new(&ctx).unwrap();
            delay(&slow, &mut big, 4);
            src.copy_to(&mut f, &slow).unwrap();
        }
        let mut out = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
        f.copy_to(&mut out, &other).unwrap();
        assert!(
            out.to_host_vec().unwrap() == data,
            "round {round}: a copy on another stream overtook a write on a dropped stream"
        );
    }
    // A pool frame written lazily, returned, and overwritten on another stream: the reader
    // (still queued behind the delay) must see the first contents.
    let pool = FramePool::new(&ctx, PixelFormat::Nv12, w, h, 2, MemoryKind::Device).unwrap();
    for round in 0..4 {
        let _hold = pool.acquire().unwrap();
        let mut out = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
        {
            let slow = Stream::new(&ctx).unwrap();
            let mut p = pool.acquire().unwrap();
            src.copy_to(&mut p, &slow).unwrap();
            delay(&slow, &mut big, 4);
            p.copy_to(&mut out, &slow).unwrap();
        }
        let mut again = pool.acquire().unwrap();
        again.memset_async(0x00, &other).unwrap();
        assert!(
            out.to_host_vec().unwrap() == data,
            "round {round}: a returned pool frame was rewritten under its last reader"
        );
    }
    // The same allocation, freed straight onto a dropped stream: a new allocation may take the
    // address only after the last use.
    for round in 0..4 {
        let mut out = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
        {
            let slow = Stream::new(&ctx).unwrap();
            let mut tmp = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
            src.copy_to(&mut tmp, &slow).unwrap();
            delay(&slow, &mut big, 4);
            tmp.copy_to(&mut out, &slow).unwrap();
        }
        let mut thief = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
        thief.memset_async(0x00, &other).unwrap();
        assert!(
            out.to_host_vec().unwrap() == data,
            "round {round}: a freed frame was reused under its last reader"
        );
    }
}

/// The lazy recording captures a use at the end of its own operation, not at the stream's
/// tail: a host wait, or a reader on another stream, must not wait for later, unrelated work
/// on the stream of the last use. (About 8 GiB of memsets queued behind the use keep that
/// stream busy for milliseconds after the use is done.)
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn waits_end_at_the_last_use_not_at_the_stream_tail() {
    let ctx = ctx();
    let (w, h) = (1280u32, 720u32);
    let mut big = DeviceBuffer::new(&ctx, GIB).unwrap();
    let s = Stream::new(&ctx).unwrap();
    let other = Stream::new(&ctx).unwrap();
    let (src, data) = random_frame(&ctx, PixelFormat::Nv12, w, h, 9);
    for round in 0..3 {
        let mut f = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
        s.synchronize().unwrap();
        src.copy_to(&mut f, &s).unwrap();
        delay(&s, &mut big, 8);
        // Host wait for the frame's uses.
        f.synchronize().unwrap();
        assert!(
            !s.is_idle().unwrap(),
            "round {round}: the host wait for a frame also waited for later work on its stream"
        );
        // A reader on another stream.
        let mut out = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
        src.copy_to(&mut f, &s).unwrap();
        delay(&s, &mut big, 8);
        f.copy_to(&mut out, &other).unwrap();
        other.synchronize().unwrap();
        assert!(
            !s.is_idle().unwrap(),
            "round {round}: a reader on another stream waited for later work on the writer's stream"
        );
        assert!(
            out.to_host_vec().unwrap() == data,
            "round {round}: wrong bytes"
        );
    }
}

/// Decodes `fixtures/h264.264` with a 2-frame output pool and hands every frame to a kernel on
/// a delayed second stream, dropping it at once: the decoder's next copy into the same pool
/// frame must wait for that kernel. Compares against an undisturbed decode.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn decoder_pool_frames_wait_for_their_consumers() {
    let ctx = ctx();
    let annexb = std::fs::read(fixtures_dir().join("h264.264")).unwrap();
    let decode_stream = Stream::new(&ctx).unwrap();
    let consumer = Stream::new(&ctx).unwrap();
    let mut big = DeviceBuffer::new(&ctx, GIB).unwrap();
    let convert_all = |delayed: bool, big: &mut DeviceBuffer| -> Vec<Vec<u8>> {
        let cfg = DecoderConfig {
            pool_size: 2,
            ..DecoderConfig::default()
        };
        let mut dec = Decoder::new(&ctx, Codec::H264, cfg).unwrap();
        dec.push(&annexb, None).unwrap();
        dec.flush().unwrap();
        let mut outs = Vec::new();
        while let Some(d) = dec.next_owned(&decode_stream).unwrap() {
            let mut rgb = Frame::new(
                &ctx,
                PixelFormat::Rgb24,
                d.frame.width(),
                d.frame.height(),
                MemoryKind::Device,
            )
            .unwrap();
            if delayed {
                delay(&consumer, big, 2);
            }
            yuv420_to_rgb(&d.frame, &mut rgb, ColourSpace::BT709_LIMITED, &consumer).unwrap();
            drop(d);
            outs.push(rgb);
        }
        outs.iter().map(|f| f.to_host_vec().unwrap()).collect()
    };
    let reference = {
        // Undisturbed: every frame converted and synchronised before the next decode.
        let cfg = DecoderConfig::default();
        let mut dec = Decoder::new(&ctx, Codec::H264, cfg).unwrap();
        dec.push(&annexb, None).unwrap();
        dec.flush().unwrap();
        let mut v = Vec::new();
        while let Some(d) = dec.next_owned(&decode_stream).unwrap() {
            let mut rgb = Frame::new(
                &ctx,
                PixelFormat::Rgb24,
                d.frame.width(),
                d.frame.height(),
                MemoryKind::Device,
            )
            .unwrap();
            yuv420_to_rgb(
                &d.frame,
                &mut rgb,
                ColourSpace::BT709_LIMITED,
                &decode_stream,
            )
            .unwrap();
            v.push(rgb.to_host_vec().unwrap());
        }
        v
    };
    assert!(reference.len() >= 4, "fixture too short");
    let got = convert_all(true, &mut big);
    assert_eq!(got.len(), reference.len());
    for (i, (g, r)) in got.iter().zip(&reference).enumerate() {
        assert!(
            g == r,
            "frame {i}: the decoder overwrote a pool frame under its consumer"
        );
    }
}

/// Pictures the decoder had to copy out early (spill pool) are consumed by delayed kernels and
/// dropped; a second pass over the stream reuses the spill frames while those may still run.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn spilled_frames_wait_for_their_consumers() {
    let ctx = ctx();
    let annexb = std::fs::read(fixtures_dir().join("h264.264")).unwrap();
    let s = Stream::new(&ctx).unwrap();
    let consumer = Stream::new(&ctx).unwrap();
    let mut big = DeviceBuffer::new(&ctx, GIB).unwrap();
    let mut dec = Decoder::new(&ctx, Codec::H264, DecoderConfig::default()).unwrap();
    let mut passes: Vec<Vec<Frame>> = Vec::new();
    for pass in 0..2 {
        dec.reset().unwrap();
        // Push everything before taking anything: the parser must spill.
        dec.push(&annexb, None).unwrap();
        dec.flush().unwrap();
        let mut outs = Vec::new();
        while let Some(m) = dec.map_next(&s).unwrap() {
            let mut rgb = Frame::new(
                &ctx,
                PixelFormat::Rgb24,
                m.width(),
                m.height(),
                MemoryKind::Device,
            )
            .unwrap();
            delay(&consumer, &mut big, 1);
            yuv420_to_rgb(&m, &mut rgb, ColourSpace::BT709_LIMITED, &consumer).unwrap();
            drop(m);
            outs.push(rgb);
        }
        eprintln!(
            "pass {pass}: {} frames, {} spilled so far",
            outs.len(),
            dec.stats().spilled
        );
        passes.push(outs);
    }
    assert!(
        dec.stats().spilled > 0,
        "the test did not make the decoder spill"
    );
    let a: Vec<Vec<u8>> = passes[0].iter().map(|f| f.to_host_vec().unwrap()).collect();
    let b: Vec<Vec<u8>> = passes[1].iter().map(|f| f.to_host_vec().unwrap()).collect();
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            x == y,
            "frame {i} differs between two decodes of the same stream"
        );
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn contexts_share_one_state_per_gpu() {
    let a = ctx();
    let b = Context::primary(0).unwrap();
    assert!(
        a.shares_state_with(&b),
        "two live handles to GPU 0 hold two retains"
    );
}

/// 1000 cycles of `Context::primary(0)` + one conversion + drop (`NVDX_CONTEXT_CYCLES`
/// overrides): device memory flat and the primary context inactive after the last drop.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn context_cycles_leak_nothing_and_release_the_primary_context() {
    in_fresh_process("lifetime::context_cycles_child");
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn context_cycles_child() {
    if !is_fresh_child("context_cycles_leak_nothing_and_release_the_primary_context") {
        return;
    }
    let dev = nvdx::Device::get(0).unwrap();
    let cycles: usize = std::env::var("NVDX_CONTEXT_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    assert!(
        !nvdx::context::primary_state(&dev).unwrap().active,
        "fresh process"
    );
    let used = || {
        let c = Context::primary(0).unwrap();
        let (free, total) = c.memory_info().unwrap();
        total - free
    };
    let cycle = || {
        let c = Context::primary(0).unwrap();
        let s = Stream::new(&c).unwrap();
        let (src, _) = random_frame(&c, PixelFormat::Rgb24, 256, 128, 4);
        let mut dst = Frame::new(&c, PixelFormat::Nv12, 256, 128, MemoryKind::Device).unwrap();
        rgb_to_yuv420(&src, &mut dst, ColourSpace::BT709_LIMITED, &s).unwrap();
        assert_eq!(dst.to_host_vec().unwrap().len(), 256 * 192);
    };
    for _ in 0..10 {
        cycle();
    }
    let before = used();
    let t0 = std::time::Instant::now();
    for _ in 10..cycles {
        cycle();
    }
    let after = used();
    let state = nvdx::context::primary_state(&dev).unwrap();
    eprintln!(
        "{cycles} cycles in {:.1} s; device memory in use {} -> {} MiB; primary context active after the last drop: {}",
        t0.elapsed().as_secs_f64(),
        before >> 20,
        after >> 20,
        state.active
    );
    assert!(
        !state.active,
        "the primary context stayed active after every handle dropped"
    );
    assert!(
        after <= before + (2 << 20),
        "device memory grew from {before} to {after} bytes over {cycles} cycles"
    );
}

/// NVDEC writes a decode surface when a picture is decoded into it, outside CUDA's stream
/// order, while the reads of its mapping (NVDEC's post-processing on the map stream, then the
/// copies after it) run in stream order. Here every mapping is read on a stream queued behind
/// memsets and the decoder goes on at once: a picture decoded over a surface whose reads have
/// not run yet would show up as a wrong copy. On the H200 (driver 580) the driver orders this
/// for H.264, HEVC and MPEG-2, not for MJPEG: its seeks failed here under the parallel suite
/// (tenth session) until an MJPEG decode waited on the host for the reads of its surface's last
/// mapping (nvdx's `SurfaceUse`). Decoder (in place and through its pool, chunk by
/// chunk) and VideoReader seeks (each range restarts on the first surfaces), checked against
/// a decode that downloads every picture before the next one.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn surfaces_are_not_decoded_over_under_their_queued_reads() {
    use nvdx::sample::{ReaderOptions, VideoReader};
    let ctx = ctx();
    let mut big = DeviceBuffer::new(&ctx, GIB).unwrap();
    let reference =
        |name: &str| crate::decode::sequential_decode(&ctx, &fixtures_dir().join(name)).0;
    let check = |what: &str, got: &[Vec<u8>], want: &[Vec<u8>]| {
        assert_eq!(got.len(), want.len(), "{what}: frame count");
        let bad: Vec<usize> = (0..got.len()).filter(|&i| got[i] != want[i]).collect();
        assert!(
            bad.is_empty(),
            "{what}: {} of {} pictures differ from the undisturbed decode (positions {bad:?})",
            bad.len(),
            got.len()
        );
        eprintln!("{what}: {} pictures bit-exact", got.len());
    };
    // The decoder, fed a chunk at a time, drained after each push.
    for (name, codec) in [("h264.264", Codec::H264), ("hevc.265", Codec::Hevc)] {
        let want = reference(name);
        let es = std::fs::read(fixtures_dir().join(name)).unwrap();
        for mapped in [true, false] {
            let map_stream = Stream::new(&ctx).unwrap();
            let reader = Stream::new(&ctx).unwrap();
            let cfg = DecoderConfig {
                pool_size: 16,
                ..DecoderConfig::default()
            };
            let mut dec = Decoder::new(&ctx, codec, cfg).unwrap();
            let mut outs: Vec<Frame> = Vec::new();
            let mut owned = Vec::new();
            let mut early: Vec<Vec<u8>> = Vec::new();
            let mut drain = |dec: &mut Decoder, big: &mut DeviceBuffer| {
                if mapped {
                    while let Some(m) = dec.map_next(&map_stream).unwrap() {
                        let mut f =
                            Frame::new(&ctx, m.format(), m.width(), m.height(), MemoryKind::Device)
                                .unwrap();
                        delay(&reader, big, 2);
                        m.copy_to(&mut f, &reader).unwrap();
                        drop(m);
                        outs.push(f);
                    }
                } else {
                    delay(&map_stream, big, 2);
                    while let Some(d) = dec.next_owned(&map_stream).unwrap() {
                        owned.push(d);
                        if owned.len() == 12 {
                            // Keep the pool from running dry: download the oldest.
                            early.push(owned.remove(0).frame.to_host_vec().unwrap());
                        }
                    }
                }
            };
            for c in es.chunks(512) {
                dec.push(c, None).unwrap();
                drain(&mut dec, &mut big);
            }
            dec.flush().unwrap();
            drain(&mut dec, &mut big);
            let mut got: Vec<Vec<u8>> = outs.iter().map(|f| f.to_host_vec().unwrap()).collect();
            got.append(&mut early);
            got.extend(owned.iter().map(|d| d.frame.to_host_vec().unwrap()));
            let how = if mapped { "map_next" } else { "next_owned" };
            check(&format!("{name} {how}"), &got, &want);
        }
    }
    // VideoReader seeks, one session: every frame backwards, then forwards.
    let stream = Stream::new(&ctx).unwrap();
    for name in ["sample.mp4", "mpeg2.mp4", "mjpeg.mov"] {
        let want = reference(name);
        for max_sessions in [1, 0] {
            let reader = VideoReader::open(fixtures_dir().join(name))
                .unwrap()
                .with_options(ReaderOptions {
                    max_sessions,
                    drop_non_reference: false,
                });
            let n = reader.len();
            let indices: Vec<usize> = (0..n).rev().chain(0..n).collect();
            delay(&stream, &mut big, 24);
            let frames = reader.frames(&indices, &stream).unwrap();
            let got: Vec<Vec<u8>> = frames.iter().map(|f| f.to_host_vec().unwrap()).collect();
            let want: Vec<Vec<u8>> = indices.iter().map(|&i| want[i].clone()).collect();
            check(
                &format!("{name} seeks, max_sessions {max_sessions}"),
                &got,
                &want,
            );
        }
    }
}

/// The decoder's copies out of its output surfaces, each burst on a new stream that is dropped
/// straight after: a slow stream (its copies queued behind memsets) alternates with a fast one,
/// whose mappings post-process into the same output surfaces. The fast stream's mappings must
/// wait for the slow stream's queued copies, though the decoder recorded nothing when it
/// queued them (the last use is recorded only when another stream needs it) and the stream
/// they ran on is gone.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn output_surfaces_wait_for_copies_on_dropped_streams() {
    let ctx = ctx();
    let mut big = DeviceBuffer::new(&ctx, GIB).unwrap();
    for (name, codec) in [("h264.264", Codec::H264), ("hevc.265", Codec::Hevc)] {
        let want = crate::decode::sequential_decode(&ctx, &fixtures_dir().join(name)).0;
        let es = std::fs::read(fixtures_dir().join(name)).unwrap();
        let mut dec = Decoder::new(&ctx, codec, DecoderConfig::default()).unwrap();
        let mut got: Vec<Frame> = Vec::new();
        let mut burst = 0usize;
        let mut drain = |dec: &mut Decoder, big: &mut DeviceBuffer| {
            let s = Stream::new(&ctx).unwrap();
            if burst.is_multiple_of(2) {
                delay(&s, big, 4);
            }
            burst += 1;
            while let Some(d) = dec.next_owned(&s).unwrap() {
                let mut f = Frame::new(
                    &ctx,
                    d.frame.format(),
                    d.frame.width(),
                    d.frame.height(),
                    MemoryKind::Device,
                )
                .unwrap();
                f.copy_from_async(&d.frame, &s).unwrap();
                got.push(f);
            }
            drop(s);
        };
        for c in es.chunks(2048) {
            dec.push(c, None).unwrap();
            drain(&mut dec, &mut big);
        }
        dec.flush().unwrap();
        drain(&mut dec, &mut big);
        let bursts = burst;
        drop(dec);
        let got: Vec<Vec<u8>> = got.iter().map(|f| f.to_host_vec().unwrap()).collect();
        assert_eq!(got.len(), want.len(), "{name}: frame count");
        let bad: Vec<usize> = (0..got.len()).filter(|&i| got[i] != want[i]).collect();
        assert!(
            bad.is_empty(),
            "{name}: {} of {} pictures differ from the undisturbed decode (positions {bad:?})",
            bad.len(),
            got.len()
        );
        eprintln!(
            "{name}: {} pictures bit-exact over {bursts} streams, every other one slow",
            got.len()
        );
    }
}

/// The legacy default stream, borrowed, from a thread where no context is current: its handle
/// (`0`) names the current context's stream, so nvdx binds the context for the waits and
/// records it makes on it (this failed with CUDA_ERROR_INVALID_CONTEXT in cuStreamWaitEvent).
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn a_borrowed_legacy_stream_works_on_a_thread_without_a_current_context() {
    let ctx = ctx();
    let (w, h) = (640u32, 360u32);
    let (src, data) = random_frame(&ctx, PixelFormat::Nv12, w, h, 7);
    let nvdx_stream = Stream::new(&ctx).unwrap();
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: the legacy default stream of `ctx`, alive as long as the context.
                let legacy = unsafe { Stream::from_raw_borrowed(&ctx, std::ptr::null_mut()) }
                    .expect("borrow the legacy stream");
                let mut a = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
                let mut b = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
                b.copy_from_host(&vec![0x5a; data.len()]).unwrap();
                // Written on the legacy stream, then read on an nvdx stream and back.
                src.copy_to(&mut a, &legacy)
                    .expect("copy on the legacy stream");
                a.copy_to(&mut b, &nvdx_stream)
                    .expect("copy after it on an nvdx stream");
                let e = legacy.record_event().expect("record on the legacy stream");
                nvdx_stream.wait_event(&e).unwrap();
                legacy
                    .wait_event(&nvdx_stream.record_event().unwrap())
                    .unwrap();
                assert!(b.to_host_vec().unwrap() == data, "the copies lost bytes");
            })
            .join()
            .expect("the thread");
    });
}
