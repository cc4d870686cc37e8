//! GPU tests of NVENC encoding.
//!
//! Two kinds:
//! - tests that run on any NVIDIA GPU (including H100/H200, which have no NVENC): API version
//!   negotiation, the specific "no encode engine" error naming the GPU, capability queries;
//! - tests that need an encode engine (L4, L40S, A10, RTX): they open a session first and, on a
//!   GPU without NVENC, print "skipped: no NVENC on <GPU>" and return; where an engine exists
//!   they assert for real (encode → NVDEC decode round trip with PSNR, lossless bit-exactness,
//!   forced IDR positions, reconfiguration, 1000 frames without leaks).
//!
//! With `NVDX_LIBNVIDIA_ENCODE_PATH` pointing at the workspace's NVENC double (`run.sh` does
//! that in a second pass), the engine tests run against it: it checks NVENC's contract on the
//! real CUDA driver and emits lossless H.264, so the round trip through NVDEC is bit-exact.
//! Results from the double are labelled `[NVENC double]`; it encodes only H.264, so HEVC/AV1
//! tests skip there (saying so). With the variable set, failing to load the double fails.

use std::sync::Arc;

use nvdx::decode::{Decoder, DecoderConfig};
use nvdx::encode::{
    is_no_encoder, version, ApiVersion, EncodedPacket, Encoder, EncoderConfig, FrameType,
    PictureOptions, Preset, RateControl, Reconfigure, Tuning,
};
use nvdx::FrameView;
use nvdx::{Codec, Error, Frame, FramePool, MemoryKind, PixelFormat, Stream};

use super::common::{ctx, random_bytes, rng};

/// The NVENC double, when `NVDX_LIBNVIDIA_ENCODE_PATH` selects it (its test hooks).
fn double() -> Option<&'static libloading::Library> {
    static LIB: std::sync::OnceLock<Option<libloading::Library>> = std::sync::OnceLock::new();
    LIB.get_or_init(|| {
        let path = std::env::var("NVDX_LIBNVIDIA_ENCODE_PATH").ok()?;
        // SAFETY: the same library nvdx-sys opened (dlopen returns the same handle).
        let lib = unsafe { libloading::Library::new(&path) }.ok()?;
        // SAFETY: only checks that the symbol exists.
        let is_double =
            unsafe { lib.get::<unsafe extern "C" fn() -> u64>(b"nvenc_double_violations\0") }
                .is_ok();
        is_double.then_some(lib)
    })
    .as_ref()
}

/// Contract violations the double has reported so far (0 without the double).
fn violations() -> u64 {
    let Some(lib) = double() else { return 0 };
    // SAFETY: the double exports `u64 nvenc_double_violations(void)`.
    unsafe {
        lib.get::<unsafe extern "C" fn() -> u64>(b"nvenc_double_violations\0")
            .unwrap()()
    }
}

/// Sessions the double has open.
fn live_sessions() -> u64 {
    let Some(lib) = double() else { return 0 };
    // SAFETY: the double exports `u64 nvenc_double_live_sessions(void)`.
    unsafe {
        lib.get::<unsafe extern "C" fn() -> u64>(b"nvenc_double_live_sessions\0")
            .unwrap()()
    }
}

/// Makes the next call `name` on this thread fail (the double's fault injection).
fn fail_next(name: &std::ffi::CStr) {
    let lib = double().expect("fault injection needs the double");
    // SAFETY: the double exports `void nvenc_double_fail_next(const char *)`.
    unsafe {
        lib.get::<unsafe extern "C" fn(*const std::ffi::c_char)>(b"nvenc_double_fail_next\0")
            .unwrap()(name.as_ptr())
    }
}

/// Fails the test if the double saw contract violations since `before`.
fn assert_no_violations(before: u64, what: &str) {
    let now = violations();
    assert_eq!(
        now, before,
        "[NVENC double] {what}: {} contract violations (see the NVENC DOUBLE CONTRACT VIOLATION lines)",
        now - before
    );
}

/// `[NVENC double] ` for results from the double, else the empty string.
fn label(enc: &Encoder) -> &'static str {
    if enc.is_double() {
        "[NVENC double] "
    } else {
        ""
    }
}

/// `[NVENC double] ` when the double is the loaded NVENC library (for results that come from
/// no `Encoder`: the API version, capability queries, errors), else the empty string.
fn double_label() -> &'static str {
    if double().is_some() {
        "[NVENC double] "
    } else {
        ""
    }
}

/// Opens an encoder, or returns `None` (after printing why) on a GPU without NVENC, or for a
/// codec the double does not implement. With `NVDX_LIBNVIDIA_ENCODE_PATH` set, an engine must
/// open: a missing double fails instead of skipping.
fn encoder_or_skip(cfg: &EncoderConfig, stream: &Arc<Stream>) -> Option<Encoder> {
    let forced = std::env::var_os("NVDX_LIBNVIDIA_ENCODE_PATH").is_some();
    match Encoder::new(cfg, Arc::clone(stream)) {
        Ok(e) => {
            if e.is_double() {
                assert!(double().is_some(), "the double's test hooks did not load");
            }
            Some(e)
        }
        Err(e) if is_no_encoder(&e) && !forced => {
            let name = stream.context().device().name().unwrap_or_default();
            eprintln!("skipped: no NVENC on {name} ({e})");
            None
        }
        Err(Error::Unsupported(m)) if double().is_some() => {
            eprintln!("[NVENC double] skipped: {m} (the double encodes only H.264)");
            None
        }
        Err(e) => panic!("opening the encoder failed: {e}"),
    }
}

/// A moving test pattern as tight NV12: gradients plus a moving square, smooth enough for a
/// high-quality encode to exceed 40 dB.
fn nv12_pattern(w: u32, h: u32, t: u32) -> Vec<u8> {
    let (w, h) = (w as usize, h as usize);
    let mut v = vec![0u8; w * h * 3 / 2];
    let t = t as usize;
    for y in 0..h {
        for x in 0..w {
            let inside = (x + 2 * t) % w < w / 4 && (y + t) % h < h / 4;
            v[y * w + x] = if inside {
                200
            } else {
                (16 + (x + y + t) * 200 / (w + h)) as u8
            };
        }
    }
    let c = &mut v[w * h..];
    for y in 0..h / 2 {
        for x in 0..w / 2 {
            c[y * w + 2 * x] = (64 + (x * 128) / (w / 2)) as u8;
            c[y * w + 2 * x + 1] = (64 + ((y + t) * 128) / (h / 2 + t + 1)) as u8;
        }
    }
    v
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = f64::from(x) - f64::from(y);
            d * d
        })
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// NAL unit types of an Annex B H.264 packet.
fn h264_nal_types(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 < data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            out.push(data[i + 3] & 0x1f);
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

/// Encodes `n` pattern frames (with `opts(i)`), returning the packets and the source frames.
fn encode_pattern(
    enc: &mut Encoder,
    stream: &Arc<Stream>,
    n: u32,
    opts: impl Fn(u32) -> PictureOptions,
) -> (Vec<EncodedPacket>, Vec<Vec<u8>>) {
    let (w, h) = enc.config().size();
    let ctx = stream.context().clone();
    let mut packets = Vec::new();
    let mut sources = Vec::new();
    for i in 0..n {
        let mut f = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
        let src = nv12_pattern(w, h, i);
        f.copy_from_host(&src).unwrap();
        sources.push(src);
        let out = enc.encode(f, opts(i)).unwrap();
        packets.extend(out.packets);
    }
    packets.extend(enc.finish().unwrap().packets);
    (packets, sources)
}

/// Decodes an elementary stream into tight NV12 pictures in display order.
fn decode_all(codec: Codec, packets: &[EncodedPacket], stream: &Stream) -> Vec<Vec<u8>> {
    let ctx = stream.context().clone();
    let mut dec = Decoder::new(&ctx, codec, DecoderConfig::default()).unwrap();
    let mut out = Vec::new();
    let mut take = |dec: &mut Decoder| {
        while let Some(f) = dec.next_owned(stream).unwrap() {
            stream.synchronize().unwrap();
            out.push(f.frame.to_host_vec().unwrap());
        }
    };
    for p in packets {
        dec.push(&p.data, Some(p.pts)).unwrap();
        take(&mut dec);
    }
    dec.flush().unwrap();
    take(&mut dec);
    out
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn api_version_is_negotiated_with_the_driver() {
    let _ctx = ctx();
    let driver = version::driver_api_version().unwrap();
    // With the double loaded, the version is the double's, not the driver's.
    let source = if double().is_some() {
        "the NVENC double (not the driver)"
    } else {
        "the driver"
    };
    eprintln!(
        "{}NVENC API {driver} from {source}, bindings {}",
        double_label(),
        ApiVersion::BINDINGS
    );
    assert!(
        driver >= ApiVersion::BINDINGS,
        "driver {driver} older than 12.1"
    );
    assert_eq!(
        version::session_api_version().unwrap(),
        ApiVersion::BINDINGS
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn session_opens_or_fails_naming_the_gpu_without_nvenc() {
    let ctx = ctx();
    let name = ctx.device().name().unwrap();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    let cfg = EncoderConfig::new(Codec::H264, 1280, 720);
    match Encoder::new(&cfg, stream) {
        Ok(enc) => {
            if enc.is_double() {
                // The double opened the session: this says nothing about the GPU's NVENC.
                eprintln!(
                    "{}session opened on {} (on {name}, not NVENC hardware): API {}",
                    label(&enc),
                    enc.engine_name(),
                    enc.api_version()
                );
            } else {
                eprintln!("{name} has NVENC: API {}", enc.api_version());
            }
            assert_eq!(enc.api_version(), ApiVersion::BINDINGS);
            assert!(enc.caps().max_width >= 1920);
        }
        Err(e) => {
            let msg = e.to_string();
            eprintln!("{}{msg}", double_label());
            assert!(is_no_encoder(&e), "expected the no-engine error, got {e:?}");
            assert!(
                matches!(&e, Error::Nvenc { call: "nvEncOpenEncodeSessionEx", name: n, .. }
                    if *n == "NV_ENC_ERR_NO_ENCODE_DEVICE" || *n == "NV_ENC_ERR_UNSUPPORTED_DEVICE"),
                "{e:?}"
            );
            assert!(
                msg.contains(&format!("{name} has no NVENC engine")),
                "{msg}"
            );
            assert!(msg.contains("L4, L40S, A10 or RTX"), "{msg}");
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn capability_queries_need_a_session() {
    let ctx = ctx();
    for codec in [Codec::H264, Codec::Hevc, Codec::Av1] {
        match Encoder::capabilities(&ctx, codec) {
            Ok(c) => {
                eprintln!("{}{codec}: {c:?}", double_label());
                assert!(c.max_width >= 1920 && c.max_height >= 1080, "{c:?}");
                assert!(c.min_width <= 256, "{c:?}");
            }
            Err(e) if is_no_encoder(&e) => eprintln!("{}{codec}: {e}", double_label()),
            Err(Error::Unsupported(m)) => {
                // e.g. AV1 on a GPU before Ada; HEVC and AV1 on the double.
                assert!(m.contains("cannot encode"), "{m}");
                if double().is_some() {
                    assert!(m.contains("NVENC double"), "names the double: {m}");
                }
                eprintln!("{}{codec}: {m}", double_label());
            }
            Err(e) => panic!("{codec}: {e:?}"),
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn invalid_configs_fail_before_the_driver() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    // Odd size: rejected by validation before any session (so the same on every GPU).
    let e = Encoder::new(
        &EncoderConfig::new(Codec::H264, 1281, 720),
        Arc::clone(&stream),
    )
    .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e:?}");
    let e = Encoder::new(
        &EncoderConfig::new(Codec::Vp9, 1280, 720),
        Arc::clone(&stream),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn wrong_frames_are_rejected() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    let cfg = EncoderConfig::new(Codec::H264, 640, 480);
    let Some(mut enc) = encoder_or_skip(&cfg, &stream) else {
        return;
    };
    let f = Frame::new(&ctx, PixelFormat::Nv12, 320, 240, MemoryKind::Device).unwrap();
    assert!(matches!(
        enc.encode(f, PictureOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
    let f = Frame::new(&ctx, PixelFormat::Rgba, 640, 480, MemoryKind::Device).unwrap();
    assert!(matches!(
        enc.encode(f, PictureOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
    let f = Frame::new(&ctx, PixelFormat::Nv12, 640, 480, MemoryKind::Pinned).unwrap();
    assert!(matches!(
        enc.encode(f, PictureOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn round_trip_high_quality_psnr_above_40db() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    for codec in [Codec::H264, Codec::Hevc] {
        let cfg = EncoderConfig::new(codec, 640, 480)
            .preset(Preset::P7)
            .tuning(Tuning::HighQuality)
            .rate_control(RateControl::ConstQp {
                intra: 18,
                inter_p: 20,
                inter_b: 22,
            })
            .b_frames(2)
            .gop_length(30);
        let Some(mut enc) = encoder_or_skip(&cfg, &stream) else {
            continue;
        };
        let (packets, sources) =
            encode_pattern(&mut enc, &stream, 40, |_| PictureOptions::default());
        assert_eq!(packets.len(), 40);
        assert!(packets[0].keyframe && packets[0].frame_type == FrameType::Idr);
        assert!(
            packets.iter().all(|p| p.dts <= p.pts),
            "dts must not exceed pts"
        );
        assert!(
            packets.windows(2).all(|w| w[0].dts < w[1].dts),
            "dts strictly increasing"
        );
        let decoded = decode_all(codec, &packets, &stream);
        assert_eq!(decoded.len(), sources.len());
        for (i, (d, s)) in decoded.iter().zip(&sources).enumerate() {
            let p = psnr(d, s);
            assert!(p >= 40.0, "{codec} frame {i}: PSNR {p:.1} dB");
        }
        eprintln!(
            "{}{codec}: 40 frames round trip, PSNR >= 40 dB",
            label(&enc)
        );
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn lossless_hevc_is_bit_exact() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    let cfg = EncoderConfig::new(Codec::Hevc, 640, 480)
        .preset(Preset::P3)
        .tuning(Tuning::Lossless);
    let Some(mut enc) = encoder_or_skip(&cfg, &stream) else {
        return;
    };
    let (packets, sources) = encode_pattern(&mut enc, &stream, 12, |_| PictureOptions::default());
    let decoded = decode_all(Codec::Hevc, &packets, &stream);
    assert_eq!(decoded.len(), sources.len());
    for (i, (d, s)) in decoded.iter().zip(&sources).enumerate() {
        assert!(d == s, "frame {i} differs after lossless round trip");
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn forced_idr_lands_where_asked() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    let cfg = EncoderConfig::new(Codec::H264, 640, 480)
        .tuning(Tuning::LowLatency)
        .b_frames(0)
        .gop_length(u32::MAX)
        .repeat_headers(true);
    let Some(mut enc) = encoder_or_skip(&cfg, &stream) else {
        return;
    };
    let want = [0i64, 7, 20];
    let (packets, _) = encode_pattern(&mut enc, &stream, 30, |i| PictureOptions {
        force_idr: want.contains(&i64::from(i)),
        output_headers: false,
    });
    assert_eq!(packets.len(), 30);
    for p in &packets {
        let idr = want.contains(&p.pts);
        assert_eq!(p.keyframe, idr, "pts {}: {:?}", p.pts, p.frame_type);
        let nals = h264_nal_types(&p.data);
        assert_eq!(nals.contains(&5), idr, "pts {} NAL types {nals:?}", p.pts);
        if idr {
            // repeatSPSPPS: SPS (7) and PPS (8) precede every IDR.
            assert!(nals.contains(&7) && nals.contains(&8), "{nals:?}");
        }
    }
    let headers = enc.sequence_headers().unwrap();
    let nals = h264_nal_types(&headers);
    assert!(nals.contains(&7) && nals.contains(&8), "{nals:?}");
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn reconfigure_bitrate_and_resolution() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    let cfg = EncoderConfig::new(Codec::H264, 1280, 720)
        .tuning(Tuning::LowLatency)
        .b_frames(0)
        .rate_control(RateControl::Cbr {
            bitrate: 4_000_000,
            vbv_buffer_size: None,
        })
        .max_size(1920, 1080);
    let Some(mut enc) = encoder_or_skip(&cfg, &stream) else {
        return;
    };
    let pool = FramePool::new(&ctx, PixelFormat::Nv12, 1280, 720, 4, MemoryKind::Device).unwrap();
    let mut bytes_before = 0;
    for _ in 0..30 {
        let mut f = pool.acquire().unwrap();
        f.memset_async(0x80, &stream).unwrap();
        let out = enc.encode(f, PictureOptions::default()).unwrap();
        bytes_before += out.packets.iter().map(|p| p.data.len()).sum::<usize>();
    }
    enc.reconfigure(&Reconfigure {
        rate_control: Some(RateControl::Cbr {
            bitrate: 1_000_000,
            vbv_buffer_size: None,
        }),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        enc.config().size(),
        (1280, 720),
        "a bitrate change keeps the size"
    );
    enc.reconfigure(&Reconfigure {
        size: Some((1920, 1080)),
        ..Default::default()
    })
    .unwrap();
    // Old-size frames are rejected now.
    let f = pool.acquire().unwrap();
    assert!(matches!(
        enc.encode(f, PictureOptions::default()),
        Err(Error::InvalidArgument(_))
    ));
    let big = FramePool::new(&ctx, PixelFormat::Nv12, 1920, 1080, 4, MemoryKind::Device).unwrap();
    let mut after = Vec::new();
    for _ in 0..10 {
        let mut f = big.acquire().unwrap();
        f.memset_async(0x40, &stream).unwrap();
        let out = enc.encode(f, PictureOptions::default()).unwrap();
        after.extend(out.packets);
    }
    after.extend(enc.finish().unwrap().packets);
    // Packets of the first 30 pictures (pts 0..30) may come first (output delay).
    let resized: Vec<_> = after.iter().filter(|p| p.pts >= 30).collect();
    assert_eq!(resized.len(), 10);
    assert!(resized[0].keyframe, "a size change starts with an IDR");
    assert!(resized[1..].iter().all(|p| !p.keyframe));
    eprintln!(
        "{}reconfigure: bitrate, then 1280x720 -> 1920x1080 with an IDR",
        label(&enc)
    );
    assert!(enc
        .reconfigure(&Reconfigure {
            size: Some((3840, 2160)),
            ..Default::default()
        })
        .is_err());
    assert!(bytes_before > 0 || enc.ring_size() > 30);
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn thousand_frames_without_leaks_and_pool_frames_come_back() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    let before = violations();
    let cfg = EncoderConfig::new(Codec::H264, 640, 360)
        .preset(Preset::P1)
        .b_frames(2);
    let Some(enc) = encoder_or_skip(&cfg, &stream) else {
        return;
    };
    drop(enc);
    // Device memory comes from the default memory pool and is freed in stream order on nvdx's
    // internal stream of the context (see nvdx::memory), which the encoder's stream does not
    // cover; the pool hands freed memory back to the driver only at a synchronisation after
    // the frees ran. So both readings follow a context-wide synchronisation, and the first
    // stream-ordered allocation of the process (pool and internal stream set-up) happens
    // before the first reading, as the encoder's set-up above does.
    drop(FramePool::new(&ctx, PixelFormat::Nv12, 640, 360, 6, MemoryKind::Device).unwrap());
    ctx.synchronize().unwrap();
    let (free_before, _) = ctx.memory_info().unwrap();
    for round in 0..2 {
        let mut enc = encoder_or_skip(&cfg, &stream).unwrap();
        let pool =
            FramePool::new(&ctx, PixelFormat::Nv12, 640, 360, 6, MemoryKind::Device).unwrap();
        let mut packets = 0;
        for i in 0..1000u32 {
            let mut f = pool.acquire().unwrap();
            f.memset_async((i % 256) as u8, &stream).unwrap();
            let opts = PictureOptions {
                force_idr: i % 250 == 0,
                output_headers: i % 100 == 0,
            };
            let out = if i % 3 == 0 {
                // The copy path: the caller's frame is free right away.
                let r = enc.encode_copy(&f, opts).unwrap();
                drop(f); // back to the pool at once; the encoder holds its own copy
                r
            } else {
                enc.encode(f, opts).unwrap()
            };
            packets += out.packets.len();
            drop(out.released);
            assert!(enc.pending() < enc.ring_size(), "pending {}", enc.pending());
            // Caller frames are registered only while held; copy frames for their life.
            assert!(
                enc.registered_frames() <= 2 * enc.ring_size(),
                "{}",
                enc.registered_frames()
            );
            assert!(enc.copy_frames() <= enc.ring_size());
        }
        packets += enc.finish().unwrap().packets.len();
        assert_eq!(packets, 1000, "round {round}");
        assert_eq!(pool.available(), 6, "every pool frame came back");
        drop(enc);
    }
    ctx.synchronize().unwrap();
    let (free_after, _) = ctx.memory_info().unwrap();
    let lost = free_before.saturating_sub(free_after);
    assert!(
        lost < 16 << 20,
        "{lost} bytes of GPU memory not returned (free {free_before} before, {free_after} after)"
    );
    assert_no_violations(before, "1000 frames");
    assert_eq!(live_sessions(), 0);
    eprintln!(
        "{}2 x 1000 frames (B-frames, copy and zero-copy paths): {} KiB of device memory not returned",
        double_label(),
        lost >> 10
    );
}

/// md5 of the concatenated pictures, printed so runs can be compared.
fn md5_hex(pictures: &[Vec<u8>]) -> String {
    use md5::Digest;
    let mut h = md5::Md5::new();
    for p in pictures {
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The double's lossless H.264 through NVDEC, bit-exact, with B-frame reordering, both input
/// paths, a pitch wider than the row, and frames written on another stream right before the
/// encode (the double reads on the IO stream: a missing dependency gives wrong pixels).
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn round_trip_is_bit_exact_through_nvdec() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    let side = Stream::new(&ctx).unwrap();
    let before = violations();
    let (w, h) = (320u32, 240u32);
    let cfg = EncoderConfig::new(Codec::H264, w, h)
        .b_frames(2)
        .gop_length(24)
        .frame_rate(30, 1);
    let Some(mut enc) = encoder_or_skip(&cfg, &stream) else {
        return;
    };
    if !enc.is_double() {
        eprintln!(
            "{}: H.264 from NVENC is lossy; the bit-exact round trip on hardware is \
             lossless_hevc_is_bit_exact",
            enc.engine_name()
        );
        return;
    }
    let mut rng = rng();
    let n = 48u32;
    let mut sources = Vec::new();
    let mut packets = Vec::new();
    for i in 0..n {
        let src = random_bytes(&mut rng, (w * h * 3 / 2) as usize);
        let mut f = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
        if i % 4 == 1 {
            // A write on another stream, queued just before the encode: only the frame's
            // tracking orders the engine's read after it.
            f.memset_async((i * 5) as u8, &side).unwrap();
            sources.push(vec![(i * 5) as u8; src.len()]);
        } else {
            f.copy_from_host(&src).unwrap();
            sources.push(src);
        }
        f.meta.pts = i64::from(i) * 3000;
        f.meta.timescale = 90_000;
        let out = if i % 3 == 2 {
            enc.encode_copy(&f, PictureOptions::default()).unwrap()
        } else {
            enc.encode(f, PictureOptions::default()).unwrap()
        };
        packets.extend(out.packets);
    }
    packets.extend(enc.finish().unwrap().packets);
    assert_eq!(packets.len(), n as usize);
    assert!(packets.iter().all(|p| p.dts <= p.pts), "dts <= pts");
    assert!(
        packets.windows(2).all(|p| p[0].dts < p[1].dts),
        "dts increasing"
    );
    let b = packets
        .iter()
        .filter(|p| p.frame_type == FrameType::B)
        .count();
    assert!(b > 0, "B-frames were reordered");
    assert_ne!(
        packets.iter().map(|p| p.pts).collect::<Vec<_>>(),
        (0..n as i64).map(|i| i * 3000).collect::<Vec<_>>(),
        "packets come in decode order, not display order"
    );
    let decoded = decode_all(Codec::H264, &packets, &stream);
    assert_eq!(decoded.len(), sources.len());
    for (i, (d, s)) in decoded.iter().zip(&sources).enumerate() {
        assert!(d == s, "frame {i} differs after the round trip");
    }
    assert_no_violations(before, "round trip");
    eprintln!(
        "[NVENC double] round trip {n} frames {w}x{h}, {b} B-frames: bit-exact through NVDEC, \
         md5 {} (source) = {} (decoded)",
        md5_hex(&sources),
        md5_hex(&decoded)
    );
}

/// Registrations end with the frames: every drop order of the encoder, the caller's pool,
/// the released frames and the stream handle is clean (the double checks that nothing stays
/// registered past its memory, and that the IO stream lives until the session is destroyed),
/// and freed frames re-allocated at the same address never meet a stale registration.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn every_drop_order_is_clean() {
    let ctx = ctx();
    let before = violations();
    let cfg = EncoderConfig::new(Codec::H264, 256, 128).b_frames(2);
    let orders: [[usize; 4]; 24] = {
        let mut v = Vec::new();
        for a in 0..4 {
            for b in 0..4 {
                for c in 0..4 {
                    for d in 0..4 {
                        let o = [a, b, c, d];
                        if (0..4).all(|x| o.contains(&x)) {
                            v.push(o);
                        }
                    }
                }
            }
        }
        v.try_into().unwrap()
    };
    let mut engine = String::new();
    for order in orders {
        let stream = Arc::new(Stream::new(&ctx).unwrap());
        let Some(mut enc) = encoder_or_skip(&cfg, &stream) else {
            return;
        };
        engine = enc.engine_name().to_owned();
        let pool =
            FramePool::new(&ctx, PixelFormat::Nv12, 256, 128, 12, MemoryKind::Device).unwrap();
        let mut released = Vec::new();
        for i in 0..7u32 {
            if i % 2 == 0 {
                let mut f = pool.acquire().unwrap();
                f.memset_async(i as u8, &stream).unwrap();
                released.extend(enc.encode(f, PictureOptions::default()).unwrap().released);
            } else {
                // Owned frames, dropped as soon as they come back: the next allocation often
                // lands at the same address.
                let mut f =
                    Frame::new(&ctx, PixelFormat::Nv12, 256, 128, MemoryKind::Device).unwrap();
                f.memset_async(i as u8, &stream).unwrap();
                drop(enc.encode(f, PictureOptions::default()).unwrap().released);
            }
        }
        assert!(enc.pending() > 0, "pictures still pending at drop time");
        let mut enc = Some(enc);
        let mut pool = Some(pool);
        let mut released = Some(released);
        let mut stream = Some(stream);
        for what in order {
            match what {
                0 => drop(enc.take()),
                1 => drop(pool.take()),
                2 => drop(released.take()),
                _ => drop(stream.take()),
            }
        }
        assert_no_violations(before, &format!("drop order {order:?}"));
    }
    ctx.synchronize().unwrap();
    assert_no_violations(before, "after all drop orders");
    eprintln!(
        "{}24 drop orders of encoder/pool/released frames/stream: clean",
        if engine.starts_with("NVENC double") {
            "[NVENC double] "
        } else {
            ""
        }
    );
}

/// An encoder dropped with nothing pending still sends EOS before destroy; one that encoded
/// and finished needs nothing more. The double reports a missing EOS as a violation.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn drop_sends_eos_even_when_nothing_is_pending() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    let before = violations();
    let cfg = EncoderConfig::new(Codec::H264, 128, 64);
    let Some(enc) = encoder_or_skip(&cfg, &stream) else {
        return;
    };
    assert_eq!(enc.pending(), 0);
    let l = label(&enc);
    drop(enc);
    let mut enc = encoder_or_skip(&cfg, &stream).unwrap();
    let f = Frame::new(&ctx, PixelFormat::Nv12, 128, 64, MemoryKind::Device).unwrap();
    let mut n = enc
        .encode(f, PictureOptions::default())
        .unwrap()
        .packets
        .len();
    n += enc.finish().unwrap().packets.len();
    assert_eq!(n, 1);
    drop(enc);
    assert_no_violations(before, "drop without pending pictures");
    eprintln!("{l}EOS before destroy with and without pending pictures");
}

/// Error paths lose no output: a failed lock keeps the packets locked before it, a failed
/// EOS leaves the encoder unfinished so `finish` can be retried (fault injection: double only).
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn error_paths_keep_output() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    let cfg = EncoderConfig::new(Codec::H264, 128, 64).b_frames(0);
    let Some(mut enc) = encoder_or_skip(&cfg, &stream) else {
        return;
    };
    if !enc.is_double() {
        eprintln!(
            "{}: fault injection needs the NVENC double",
            enc.engine_name()
        );
        return;
    }
    let pool = FramePool::new(&ctx, PixelFormat::Nv12, 128, 64, 8, MemoryKind::Device).unwrap();
    let mut pts = Vec::new();
    let mut released = 0;
    let mut failed = 0;
    for i in 0..12 {
        let f = pool.acquire().unwrap();
        if i == 6 {
            fail_next(c"nvEncLockBitstream");
        }
        match enc.encode(f, PictureOptions::default()) {
            Ok(out) => {
                pts.extend(out.packets.iter().map(|p| p.pts));
                released += out.released.len();
            }
            Err(e) => {
                assert!(e.to_string().contains("injected"), "{e}");
                failed += 1;
            }
        }
    }
    assert_eq!(failed, 1);
    fail_next(c"nvEncEncodePicture");
    assert!(enc.finish().is_err(), "EOS failed");
    let out = enc
        .finish()
        .expect("finish can be retried after a failed EOS");
    pts.extend(out.packets.iter().map(|p| p.pts));
    released += out.released.len();
    // The last pictures' frames come back in this output: hand them back to the pool (the
    // test held them here, which is why only 5 of the 8 pool frames were back on the H200).
    drop(out);
    // One picture's output was lost with the failed lock; every other one came out, in order.
    assert_eq!(pts.len(), 11, "{pts:?}");
    assert!(pts.windows(2).all(|w| w[0] < w[1]), "{pts:?}");
    // Every frame came back through `released`, the failed lock's included.
    assert_eq!(released, 12, "frames returned in EncodeOutput::released");
    drop(enc);
    assert_eq!(pool.available(), 8, "every frame came back");
    eprintln!("[NVENC double] failed lock and failed EOS: no other output lost ({pts:?})");
}

/// Deep lookahead with `encode_copy`: the encoder's own frames grow to the ring, never fail.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn encode_copy_with_deep_lookahead() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    let cfg = EncoderConfig::new(Codec::H264, 256, 128)
        .tuning(Tuning::HighQuality)
        .b_frames(0)
        .lookahead(24);
    let Some(mut enc) = encoder_or_skip(&cfg, &stream) else {
        return;
    };
    assert!(enc.ring_size() > 16, "ring {}", enc.ring_size());
    let mut f = Frame::new(&ctx, PixelFormat::Nv12, 256, 128, MemoryKind::Device).unwrap();
    let mut n = 0;
    for i in 0..80u32 {
        f.memset_async(i as u8, &stream).unwrap();
        n += enc
            .encode_copy(&f, PictureOptions::default())
            .unwrap()
            .packets
            .len();
        assert!(enc.copy_frames() <= enc.ring_size());
    }
    n += enc.finish().unwrap().packets.len();
    assert_eq!(n, 80);
    eprintln!(
        "{}lookahead 24: 80 pictures through {} copy frames (ring {})",
        label(&enc),
        enc.copy_frames(),
        enc.ring_size()
    );
}

/// With the double selected, nvdx reports it as the engine, never as NVENC hardware.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn the_double_is_labelled_as_such() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    let Some(enc) = encoder_or_skip(&EncoderConfig::new(Codec::H264, 128, 64), &stream) else {
        return;
    };
    let forced = std::env::var("NVDX_LIBNVIDIA_ENCODE_PATH").unwrap_or_default();
    if forced.contains("nvenc_double") {
        assert!(enc.is_double());
        assert_eq!(enc.engine_name(), "NVENC double (test stand-in)");
    } else {
        assert!(!enc.is_double());
        assert!(
            enc.engine_name().starts_with("NVENC on "),
            "{}",
            enc.engine_name()
        );
    }
    eprintln!("{}engine: {}", label(&enc), enc.engine_name());
}

/// The encoder's internal copy pool under reuse: one caller frame, rewritten on a delayed
/// second stream before every `encode_copy`, with B-frames holding copies in the pool while
/// later pictures arrive. Each copy must wait for its source's write, the source's next write
/// must wait for the copy, and a pool frame must not be rewritten before the engine read it:
/// any missing wait shows up as a wrong picture after the lossless round trip (double only).
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn encode_copy_pool_reuse_is_ordered() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    let writer = Stream::new(&ctx).unwrap();
    let (w, h) = (320u32, 240u32);
    let cfg = EncoderConfig::new(Codec::H264, w, h)
        .b_frames(3)
        .gop_length(30)
        .frame_rate(30, 1);
    let Some(mut enc) = encoder_or_skip(&cfg, &stream) else {
        return;
    };
    if !enc.is_double() {
        eprintln!(
            "{}: the bit-exact check needs a lossless encoder (the NVENC double)",
            enc.engine_name()
        );
        return;
    }
    let before = violations();
    let mut big = nvdx::DeviceBuffer::new(&ctx, 256 << 20).unwrap();
    let mut src = Frame::new(&ctx, PixelFormat::Nv12, w, h, MemoryKind::Device).unwrap();
    let mut rng = rng();
    let n = 40u32;
    let mut sources = Vec::new();
    let mut packets = Vec::new();
    for i in 0..n {
        let bytes = random_bytes(&mut rng, (w * h * 3 / 2) as usize);
        if i % 2 == 0 {
            // Queue a slow write: the copy must wait for it, on the GPU.
            for v in 0..4u8 {
                big.memset_async(v, &writer).unwrap();
            }
            src.memset_async(i as u8, &writer).unwrap();
            sources.push(vec![i as u8; bytes.len()]);
        } else {
            src.copy_from_host(&bytes).unwrap();
            sources.push(bytes);
        }
        src.meta.pts = i64::from(i) * 3000;
        src.meta.timescale = 90_000;
        packets.extend(
            enc.encode_copy(&src, PictureOptions::default())
                .unwrap()
                .packets,
        );
        assert!(enc.copy_frames() <= enc.ring_size());
    }
    packets.extend(enc.finish().unwrap().packets);
    assert_eq!(packets.len(), n as usize);
    let decoded = decode_all(Codec::H264, &packets, &stream);
    assert_eq!(decoded.len(), sources.len());
    for (i, (d, s)) in decoded.iter().zip(&sources).enumerate() {
        assert!(
            d == s,
            "picture {i} differs: a copy or the source was not ordered"
        );
    }
    assert_no_violations(before, "copy pool reuse");
    eprintln!(
        "[NVENC double] encode_copy pool reuse: {n} pictures from one rewritten frame through {} \
         copy frames, bit-exact, md5 {}",
        enc.copy_frames(),
        md5_hex(&decoded)
    );
}
