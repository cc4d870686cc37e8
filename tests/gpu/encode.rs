//! GPU tests of NVENC encoding.
//!
//! Two kinds:
//! - tests that run on any NVIDIA GPU (including H100/H200, which have no NVENC): API version
//!   negotiation, the specific "no encode engine" error naming the GPU, capability queries;
//! - tests that need an encode engine (L4, L40S, A10, RTX): they open a session first and, on a
//!   GPU without NVENC, print "skipped: no NVENC on <GPU>" and return; where an engine exists
//!   they assert for real (encode → NVDEC decode round trip with PSNR, lossless bit-exactness,
//!   forced IDR positions, reconfiguration, 1000 frames without leaks).

use std::sync::Arc;

use nvdx::decode::{Decoder, DecoderConfig};
use nvdx::encode::{
    is_no_encoder, version, ApiVersion, EncodedPacket, Encoder, EncoderConfig, FrameType,
    PictureOptions, Preset, RateControl, Reconfigure, Tuning,
};
use nvdx::FrameView;
use nvdx::{Codec, Error, Frame, FramePool, MemoryKind, PixelFormat, Stream};

use super::common::ctx;

/// Opens an encoder, or returns `None` (after printing why) on a GPU without NVENC.
fn encoder_or_skip(cfg: &EncoderConfig, stream: &Arc<Stream>) -> Option<Encoder> {
    match Encoder::new(cfg, Arc::clone(stream)) {
        Ok(e) => Some(e),
        Err(e) if is_no_encoder(&e) => {
            let name = stream.context().device().name().unwrap_or_default();
            eprintln!("skipped: no NVENC on {name} ({e})");
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
    eprintln!(
        "driver NVENC API {driver}, bindings {}",
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
            eprintln!("{name} has NVENC: API {}", enc.api_version());
            assert_eq!(enc.api_version(), ApiVersion::BINDINGS);
            assert!(enc.caps().max_width >= 1920);
        }
        Err(e) => {
            let msg = e.to_string();
            eprintln!("{msg}");
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
                eprintln!("{codec}: {c:?}");
                assert!(c.max_width >= 1920 && c.max_height >= 1080, "{c:?}");
                assert!(c.min_width <= 256, "{c:?}");
            }
            Err(e) if is_no_encoder(&e) => eprintln!("{codec}: {e}"),
            Err(Error::Unsupported(m)) => {
                // e.g. AV1 on a GPU before Ada.
                assert!(m.contains("cannot encode"), "{m}");
                eprintln!("{codec}: {m}");
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
            return;
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
    let mut first = true;
    for _ in 0..10 {
        let mut f = big.acquire().unwrap();
        f.memset_async(0x40, &stream).unwrap();
        let out = enc.encode(f, PictureOptions::default()).unwrap();
        assert_eq!(out.packets.len(), 1);
        if first {
            assert!(out.packets[0].keyframe, "a size change starts with an IDR");
            first = false;
        }
    }
    assert!(enc
        .reconfigure(&Reconfigure {
            size: Some((3840, 2160)),
            ..Default::default()
        })
        .is_err());
    assert!(bytes_before > 0);
    enc.finish().unwrap();
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn thousand_frames_without_leaks_and_pool_frames_come_back() {
    let ctx = ctx();
    let stream = Arc::new(Stream::new(&ctx).unwrap());
    let cfg = EncoderConfig::new(Codec::Hevc, 640, 360)
        .preset(Preset::P1)
        .b_frames(2);
    let Some(enc) = encoder_or_skip(&cfg, &stream) else {
        return;
    };
    drop(enc);
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
            assert!(enc.pending() <= 3, "pending {}", enc.pending());
            assert!(
                enc.registered_frames() <= 6 + 16,
                "{}",
                enc.registered_frames()
            );
        }
        packets += enc.finish().unwrap().packets.len();
        assert_eq!(packets, 1000, "round {round}");
        assert_eq!(pool.available(), 6, "every pool frame came back");
        drop(enc);
    }
    stream.synchronize().unwrap();
    let (free_after, _) = ctx.memory_info().unwrap();
    let lost = free_before.saturating_sub(free_after);
    assert!(lost < 16 << 20, "{lost} bytes of GPU memory not returned");
}
