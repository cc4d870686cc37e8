//! Colour conversion, resize and tensor kernels against the f64 CPU references of
//! `nvdx::kernels::reference`: random inputs drawn fresh each run (seed printed), destinations
//! poisoned before each launch, odd-multiple sizes and padded pitches; integer outputs within
//! 1 LSB, tensors within `max(1e-3 * |ref|, 1e-3)`, padding bytes untouched.

use nvdx::frame::FrameLayout;
use nvdx::kernels::colour::{self, ColourSpace, RawImage, Tensor, TensorDtype, TensorParams};
use nvdx::kernels::reference::{
    self as r, PackedRgb, Sample, Yuv420, FLOAT_ABS_TOL, FLOAT_REL_TOL,
};
use nvdx::FrameView;
use nvdx::{Error, Frame, MemoryKind, PixelFormat, Stream};
use rand::Rng;

use crate::common::{ctx, rng};

const POISON: u8 = 0xA5;
const SPACES: [ColourSpace; 6] = [
    ColourSpace::BT601_LIMITED,
    ColourSpace::BT601_FULL,
    ColourSpace::BT709_LIMITED,
    ColourSpace::BT709_FULL,
    ColourSpace::BT2020_LIMITED,
    ColourSpace::BT2020_FULL,
];
const SIZES: [(u32, u32); 4] = [(2, 2), (64, 64), (1918, 1078), (4096, 2160)];
/// Extra bytes per row: 0 = the driver's pitch; 2 = a pitch that is not a multiple of 4 (the
/// byte path); 68 = a padded pitch that keeps 4-byte alignment.
const PADS: [usize; 3] = [0, 2, 68];

fn frame(ctx: &nvdx::Context, f: PixelFormat, w: u32, h: u32, pad: usize) -> Frame {
    let made = if pad == 0 {
        Frame::new(ctx, f, w, h, MemoryKind::Device)
    } else {
        FrameLayout::new(f, w, h, f.row_bytes(w) + pad)
            .and_then(|l| Frame::with_layout(ctx, l, MemoryKind::Device))
    };
    match made {
        Ok(fr) => fr,
        Err(e) => panic!("allocating {f:?} {w}x{h} pad {pad}: {e}"),
    }
}

fn random_samples<T: Sample>(rng: &mut impl Rng, n: usize) -> Vec<T>
where
    rand::distributions::Standard: rand::distributions::Distribution<T>,
{
    (0..n).map(|_| rng.gen()).collect()
}

fn to_bytes<T: Sample>(v: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * (T::BITS / 8) as usize);
    for s in v {
        s.push_le(&mut out);
    }
    out
}

fn from_bytes<T: Sample>(b: &[u8]) -> Vec<T> {
    b.chunks_exact((T::BITS / 8) as usize)
        .map(T::from_le)
        .collect()
}

fn upload(f: &mut Frame, bytes: &[u8]) {
    f.copy_from_host(bytes)
        .unwrap_or_else(|e| panic!("upload: {e}"));
}

/// Downloads `f`, checks its padding still holds the poison, returns the tight bytes.
fn download_checked(what: &str, f: &Frame) -> Vec<u8> {
    let raw = f
        .raw_to_host_vec()
        .unwrap_or_else(|e| panic!("{what}: download: {e}"));
    let l = f.layout();
    if let Err(e) = r::check_padding(what, &raw, l.pitch, l.row_bytes(), l.rows(), POISON) {
        panic!("{e}");
    }
    f.to_host_vec()
        .unwrap_or_else(|e| panic!("{what}: download: {e}"))
}

fn sync(s: &Stream) {
    s.synchronize()
        .unwrap_or_else(|e| panic!("kernel failed: {e}"));
}

fn check_ints<T: Sample>(what: &str, got: &[T], want: &[T], tol: f64) {
    if let Err(e) = r::compare_ints(what, got, want, tol) {
        panic!("{e}");
    }
}

fn rgb_to_yuv_case<T: Sample>(
    rng: &mut impl Rng,
    ctx: &nvdx::Context,
    stream: &Stream,
    (sf, df): (PixelFormat, PixelFormat),
    (w, h): (u32, u32),
    pad: usize,
    space: ColourSpace,
) where
    rand::distributions::Standard: rand::distributions::Distribution<T>,
{
    let what = format!("{sf:?}->{df:?} {w}x{h} pad {pad} {space:?}");
    let layout = PackedRgb::of(sf).unwrap_or_else(|e| panic!("{e}"));
    let rgb: Vec<T> = random_samples(rng, (w * h) as usize * layout.channels);
    let mut src = frame(ctx, sf, w, h, pad);
    upload(&mut src, &to_bytes(&rgb));
    let mut dst = frame(ctx, df, w, h, pad);
    dst.memset_async(POISON, stream)
        .unwrap_or_else(|e| panic!("{e}"));
    colour::rgb_to_yuv420(&src, &mut dst, space, stream).unwrap_or_else(|e| panic!("{what}: {e}"));
    sync(stream);
    let got = download_checked(&what, &dst);
    let want = r::rgb_to_yuv420(&rgb, layout, w as usize, h as usize, space)
        .unwrap_or_else(|e| panic!("{e}"));
    check_ints(
        &format!("{what} luma+chroma"),
        &from_bytes::<T>(&got),
        &from_bytes::<T>(&want.to_tight_bytes()),
        1.0,
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn rgb_to_nv12_matches_reference() {
    let (ctx, mut rng) = (ctx(), rng());
    let stream = Stream::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    for sf in [
        PixelFormat::Rgb24,
        PixelFormat::Bgr24,
        PixelFormat::Rgba,
        PixelFormat::Bgra,
    ] {
        for size in SIZES {
            for pad in PADS {
                rgb_to_yuv_case::<u8>(
                    &mut rng,
                    &ctx,
                    &stream,
                    (sf, PixelFormat::Nv12),
                    size,
                    pad,
                    ColourSpace::BT709_LIMITED,
                );
            }
        }
    }
    for space in SPACES {
        for size in [(2, 2), (66, 38), (1918, 1078)] {
            rgb_to_yuv_case::<u8>(
                &mut rng,
                &ctx,
                &stream,
                (PixelFormat::Rgb24, PixelFormat::Nv12),
                size,
                2,
                space,
            );
            rgb_to_yuv_case::<u8>(
                &mut rng,
                &ctx,
                &stream,
                (PixelFormat::Bgra, PixelFormat::Nv12),
                size,
                0,
                space,
            );
        }
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn rgb48_to_p016_matches_reference() {
    let (ctx, mut rng) = (ctx(), rng());
    let stream = Stream::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    for size in SIZES {
        for pad in PADS {
            rgb_to_yuv_case::<u16>(
                &mut rng,
                &ctx,
                &stream,
                (PixelFormat::Rgb48, PixelFormat::P016),
                size,
                pad,
                ColourSpace::BT2020_LIMITED,
            );
        }
    }
    for space in SPACES {
        rgb_to_yuv_case::<u16>(
            &mut rng,
            &ctx,
            &stream,
            (PixelFormat::Rgb48, PixelFormat::P016),
            (130, 66),
            2,
            space,
        );
    }
}

fn yuv_to_rgb_case<T: Sample>(
    rng: &mut impl Rng,
    ctx: &nvdx::Context,
    stream: &Stream,
    (sf, df): (PixelFormat, PixelFormat),
    (w, h): (u32, u32),
    pad: usize,
    space: ColourSpace,
) where
    rand::distributions::Standard: rand::distributions::Distribution<T>,
{
    let what = format!("{sf:?}->{df:?} {w}x{h} pad {pad} {space:?}");
    let n = (w * h) as usize;
    let yuv = Yuv420::<T> {
        width: w as usize,
        height: h as usize,
        y: random_samples(rng, n),
        uv: random_samples(rng, n / 2),
    };
    let mut src = frame(ctx, sf, w, h, pad);
    upload(&mut src, &yuv.to_tight_bytes());
    let mut dst = frame(ctx, df, w, h, pad);
    dst.memset_async(POISON, stream)
        .unwrap_or_else(|e| panic!("{e}"));
    colour::yuv420_to_rgb(&src, &mut dst, space, stream).unwrap_or_else(|e| panic!("{what}: {e}"));
    sync(stream);
    let got = download_checked(&what, &dst);
    let want = r::yuv420_to_rgb(
        &yuv,
        PackedRgb::of(df).unwrap_or_else(|e| panic!("{e}")),
        space,
    );
    check_ints(&what, &got, &want, 1.0);
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn nv12_and_p016_to_rgb_match_reference() {
    let (ctx, mut rng) = (ctx(), rng());
    let stream = Stream::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    for df in [
        PixelFormat::Rgb24,
        PixelFormat::Bgr24,
        PixelFormat::Rgba,
        PixelFormat::Bgra,
    ] {
        for size in SIZES {
            for pad in PADS {
                yuv_to_rgb_case::<u8>(
                    &mut rng,
                    &ctx,
                    &stream,
                    (PixelFormat::Nv12, df),
                    size,
                    pad,
                    ColourSpace::BT709_LIMITED,
                );
            }
        }
        for size in [(2, 2), (66, 38), (1918, 1078)] {
            yuv_to_rgb_case::<u16>(
                &mut rng,
                &ctx,
                &stream,
                (PixelFormat::P016, df),
                size,
                2,
                ColourSpace::BT2020_LIMITED,
            );
        }
    }
    for space in SPACES {
        yuv_to_rgb_case::<u8>(
            &mut rng,
            &ctx,
            &stream,
            (PixelFormat::Nv12, PixelFormat::Rgb24),
            (1918, 1078),
            0,
            space,
        );
        yuv_to_rgb_case::<u16>(
            &mut rng,
            &ctx,
            &stream,
            (PixelFormat::P016, PixelFormat::Rgba),
            (66, 38),
            2,
            space,
        );
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn rgb_nv12_rgb_round_trip_on_smooth_images() {
    let (ctx, mut rng) = (ctx(), rng());
    let stream = Stream::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    for space in SPACES {
        for (w, h) in [(1918, 1078), (64, 64)] {
            let fmt = PackedRgb::of(PixelFormat::Rgb24).unwrap_or_else(|e| panic!("{e}"));
            let phase = [
                rng.gen::<f64>() * 6.0,
                rng.gen::<f64>() * 6.0,
                rng.gen::<f64>() * 6.0,
            ];
            let rgb: Vec<u8> = r::smooth_rgb(fmt, w as usize, h as usize, phase);
            let mut src = frame(&ctx, PixelFormat::Rgb24, w, h, 0);
            upload(&mut src, &rgb);
            let mut mid = frame(&ctx, PixelFormat::Nv12, w, h, 0);
            let mut back = frame(&ctx, PixelFormat::Rgb24, w, h, 2);
            back.memset_async(POISON, &stream)
                .unwrap_or_else(|e| panic!("{e}"));
            colour::rgb_to_yuv420(&src, &mut mid, space, &stream).unwrap_or_else(|e| panic!("{e}"));
            colour::yuv420_to_rgb(&mid, &mut back, space, &stream)
                .unwrap_or_else(|e| panic!("{e}"));
            sync(&stream);
            let got = download_checked("round trip", &back);
            check_ints(
                &format!("round trip {space:?} {w}x{h}"),
                &got,
                &rgb,
                r::ROUND_TRIP_TOL,
            );
        }
    }
}

fn tensor_case<T: Sample>(
    rng: &mut impl Rng,
    ctx: &nvdx::Context,
    stream: &Stream,
    (sf, (sw, sh), pad): (PixelFormat, (u32, u32), usize),
    (dw, dh, dtype): (u32, u32, TensorDtype),
    (batch, slot): (usize, usize),
    params: &TensorParams,
) where
    rand::distributions::Standard: rand::distributions::Distribution<T>,
{
    let what = format!("{sf:?} {sw}x{sh} pad {pad} -> {dtype:?} {dw}x{dh} slot {slot}/{batch}");
    let n = (sw * sh) as usize;
    let yuv = Yuv420::<T> {
        width: sw as usize,
        height: sh as usize,
        y: random_samples(rng, n),
        uv: random_samples(rng, n / 2),
    };
    let mut src = frame(ctx, sf, sw, sh, pad);
    upload(&mut src, &yuv.to_tight_bytes());
    let mut t = Tensor::new(ctx, batch, dh, dw, dtype).unwrap_or_else(|e| panic!("{e}"));
    t.buffer_mut()
        .memset_async(POISON, stream)
        .unwrap_or_else(|e| panic!("{e}"));
    colour::yuv420_to_tensor(&src, &mut t, slot, params, stream)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    sync(stream);
    let mut bytes = vec![0u8; t.buffer().len()];
    t.buffer()
        .copy_to_host(&mut bytes)
        .unwrap_or_else(|e| panic!("{e}"));
    let sb = t.slot_bytes();
    if let Some(i) = bytes[..slot * sb]
        .iter()
        .chain(&bytes[(slot + 1) * sb..])
        .position(|&b| b != POISON)
    {
        panic!("{what}: byte {i} outside the slot was written");
    }
    let got = colour::decode_elements(&bytes[slot * sb..(slot + 1) * sb], dtype);
    let want = r::yuv420_to_planar(&yuv, dw as usize, dh as usize, params);
    if let Err(e) = r::compare_floats(&what, &got, &want, FLOAT_REL_TOL, FLOAT_ABS_TOL) {
        panic!("{e}");
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn nv12_to_tensor_matches_reference() {
    let (ctx, mut rng) = (ctx(), rng());
    let stream = Stream::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    let imagenet = TensorParams::imagenet();
    for dtype in [TensorDtype::F16, TensorDtype::F32] {
        for ((sw, sh), (dw, dh)) in [
            ((1920, 1080), (448, 448)),
            ((1918, 1078), (224, 224)),
            ((4096, 2160), (448, 448)),
            ((2, 2), (5, 3)),
            ((64, 64), (64, 64)),
            ((64, 64), (130, 97)),
        ] {
            for pad in [0, 2] {
                tensor_case::<u8>(
                    &mut rng,
                    &ctx,
                    &stream,
                    (PixelFormat::Nv12, (sw, sh), pad),
                    (dw, dh, dtype),
                    (3, 1),
                    &imagenet,
                );
            }
        }
        for space in SPACES {
            let p = TensorParams::clip().with_space(space);
            tensor_case::<u8>(
                &mut rng,
                &ctx,
                &stream,
                (PixelFormat::Nv12, (1918, 1078), 0),
                (448, 448, dtype),
                (1, 0),
                &p,
            );
            tensor_case::<u16>(
                &mut rng,
                &ctx,
                &stream,
                (PixelFormat::P016, (130, 66), 2),
                (64, 48, dtype),
                (2, 1),
                &p,
            );
        }
        tensor_case::<u16>(
            &mut rng,
            &ctx,
            &stream,
            (PixelFormat::P016, (1920, 1080), 0),
            (448, 448, dtype),
            (8, 7),
            &TensorParams::unit(),
        );
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn nv12_batch_to_tensor_matches_reference() {
    let (ctx, mut rng) = (ctx(), rng());
    let stream = Stream::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    let params = TensorParams::imagenet();
    // 8 frames of mixed sizes in one launch, then 40 small frames (two launches of 32 + 8).
    for (count, sizes, (dw, dh), first) in [
        (
            8usize,
            vec![(1920u32, 1080u32), (1918, 1078), (64, 64), (2, 2)],
            (448u32, 448u32),
            1usize,
        ),
        (40, vec![(34, 18), (66, 38)], (32, 24), 2),
    ] {
        for dtype in [TensorDtype::F16, TensorDtype::F32] {
            let batch = first + count + 1;
            let mut frames = Vec::new();
            let mut refs = Vec::new();
            for i in 0..count {
                let (w, h) = sizes[i % sizes.len()];
                let n = (w * h) as usize;
                let yuv = Yuv420::<u8> {
                    width: w as usize,
                    height: h as usize,
                    y: random_samples(&mut rng, n),
                    uv: random_samples(&mut rng, n / 2),
                };
                let mut f = frame(
                    &ctx,
                    PixelFormat::Nv12,
                    w,
                    h,
                    if i % 2 == 0 { 0 } else { 2 },
                );
                upload(&mut f, &yuv.to_tight_bytes());
                frames.push(f);
                refs.push(yuv);
            }
            let mut t = Tensor::new(&ctx, batch, dh, dw, dtype).unwrap_or_else(|e| panic!("{e}"));
            t.buffer_mut()
                .memset_async(POISON, &stream)
                .unwrap_or_else(|e| panic!("{e}"));
            let srcs: Vec<&Frame> = frames.iter().collect();
            colour::yuv420_to_tensor_batch(&srcs, &mut t, first, &params, &stream)
                .unwrap_or_else(|e| panic!("{e}"));
            sync(&stream);
            let mut bytes = vec![0u8; t.buffer().len()];
            t.buffer()
                .copy_to_host(&mut bytes)
                .unwrap_or_else(|e| panic!("{e}"));
            let sb = t.slot_bytes();
            for slot in (0..first).chain(first + count..batch) {
                assert!(
                    bytes[slot * sb..(slot + 1) * sb]
                        .iter()
                        .all(|&b| b == POISON),
                    "slot {slot} outside the batch was written"
                );
            }
            for (i, yuv) in refs.iter().enumerate() {
                let slot = first + i;
                let got = colour::decode_elements(&bytes[slot * sb..(slot + 1) * sb], dtype);
                let want = r::yuv420_to_planar(yuv, dw as usize, dh as usize, &params);
                if let Err(e) = r::compare_floats(
                    &format!(
                        "batch {count} {dtype:?} frame {i} ({}x{})",
                        yuv.width, yuv.height
                    ),
                    &got,
                    &want,
                    FLOAT_REL_TOL,
                    FLOAT_ABS_TOL,
                ) {
                    panic!("{e}");
                }
            }
        }
    }
}

fn resize_case<T: Sample>(
    rng: &mut impl Rng,
    ctx: &nvdx::Context,
    stream: &Stream,
    f: PixelFormat,
    (sw, sh): (u32, u32),
    (dw, dh): (u32, u32),
    pad: usize,
) where
    rand::distributions::Standard: rand::distributions::Distribution<T>,
{
    let what = format!("resize {f:?} {sw}x{sh} -> {dw}x{dh} pad {pad}");
    let n = (sw * sh) as usize;
    let yuv = Yuv420::<T> {
        width: sw as usize,
        height: sh as usize,
        y: random_samples(rng, n),
        uv: random_samples(rng, n / 2),
    };
    let mut src = frame(ctx, f, sw, sh, pad);
    upload(&mut src, &yuv.to_tight_bytes());
    let mut dst = frame(ctx, f, dw, dh, pad);
    dst.memset_async(POISON, stream)
        .unwrap_or_else(|e| panic!("{e}"));
    colour::resize_yuv420(&src, &mut dst, stream).unwrap_or_else(|e| panic!("{what}: {e}"));
    sync(stream);
    let got = download_checked(&what, &dst);
    let want = r::resize_yuv420(&yuv, dw as usize, dh as usize);
    check_ints(
        &what,
        &from_bytes::<T>(&got),
        &from_bytes::<T>(&want.to_tight_bytes()),
        1.0,
    );
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn yuv420_resize_matches_reference() {
    let (ctx, mut rng) = (ctx(), rng());
    let stream = Stream::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    for (s, d) in [
        ((1920, 1080), (1280, 720)),
        ((1918, 1078), (4096, 2160)),
        ((4096, 2160), (1918, 1078)),
        ((64, 64), (2, 2)),
        ((2, 2), (64, 64)),
        ((66, 38), (66, 38)),
    ] {
        for pad in [0, 2] {
            resize_case::<u8>(&mut rng, &ctx, &stream, PixelFormat::Nv12, s, d, pad);
        }
        resize_case::<u16>(&mut rng, &ctx, &stream, PixelFormat::P016, s, d, 2);
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn naive_baseline_is_close_to_reference() {
    let (ctx, mut rng) = (ctx(), rng());
    let stream = Stream::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    let (w, h) = (1918u32, 1078u32);
    let rgb: Vec<u8> = random_samples(&mut rng, (w * h * 3) as usize);
    let mut src = frame(&ctx, PixelFormat::Rgb24, w, h, 0);
    upload(&mut src, &rgb);
    let mut dst = frame(&ctx, PixelFormat::Nv12, w, h, 0);
    dst.memset_async(POISON, &stream)
        .unwrap_or_else(|e| panic!("{e}"));
    // SAFETY: both frames are live until the synchronize below and do not overlap.
    unsafe { colour::naive_rgb24_to_nv12_raw(&RawImage::of(&src), &RawImage::of(&dst), &stream) }
        .unwrap_or_else(|e| panic!("{e}"));
    sync(&stream);
    let got = download_checked("naive", &dst);
    let fmt = PackedRgb::of(PixelFormat::Rgb24).unwrap_or_else(|e| panic!("{e}"));
    let want = r::rgb_to_yuv420(
        &rgb,
        fmt,
        w as usize,
        h as usize,
        ColourSpace::BT601_LIMITED,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Three-decimal coefficients and truncation: within 2 LSB of the exact BT.601 map.
    check_ints("naive", &got, &want.to_tight_bytes(), 2.0);
}

fn invalid<T: std::fmt::Debug>(r: nvdx::Result<T>, needle: &str) {
    match r {
        Err(Error::InvalidArgument(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
        other => panic!("expected InvalidArgument({needle}), got {other:?}"),
    }
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn invalid_arguments_are_rejected() {
    let ctx = ctx();
    let stream = Stream::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    let rgb = frame(&ctx, PixelFormat::Rgb24, 64, 64, 0);
    let rgb_odd = frame(&ctx, PixelFormat::Rgb24, 63, 64, 0);
    let mut nv12 = frame(&ctx, PixelFormat::Nv12, 64, 64, 0);
    let mut small = frame(&ctx, PixelFormat::Nv12, 32, 32, 0);
    let mut p016 = frame(&ctx, PixelFormat::P016, 64, 64, 0);
    let mut rgba = frame(&ctx, PixelFormat::Rgba, 64, 64, 0);
    invalid(
        colour::rgb_to_yuv420(&rgb, &mut p016, ColourSpace::default(), &stream),
        "no conversion",
    );
    invalid(
        colour::rgb_to_yuv420(&rgb, &mut small, ColourSpace::default(), &stream),
        "destination is 32x32",
    );
    invalid(
        colour::rgb_to_yuv420(&rgb_odd, &mut nv12, ColourSpace::default(), &stream),
        "even",
    );
    invalid(
        colour::yuv420_to_rgb(&rgb, &mut rgba, ColourSpace::default(), &stream),
        "no conversion",
    );
    invalid(
        colour::resize_yuv420(&nv12, &mut p016, &stream),
        "keeps the format",
    );
    let mut t = Tensor::new(&ctx, 2, 16, 16, TensorDtype::F16).unwrap_or_else(|e| panic!("{e}"));
    invalid(
        colour::yuv420_to_tensor(&nv12, &mut t, 2, &TensorParams::unit(), &stream),
        "slots 2..3",
    );
    invalid(
        colour::yuv420_to_tensor_batch(
            &[&nv12, &nv12, &nv12],
            &mut t,
            0,
            &TensorParams::unit(),
            &stream,
        ),
        "do not fit",
    );
    invalid(
        colour::yuv420_to_tensor(&rgb, &mut t, 0, &TensorParams::unit(), &stream),
        "Nv12 or P016",
    );
    invalid(Tensor::new(&ctx, 0, 16, 16, TensorDtype::F32), "empty");
    // A valid call still works after the rejected ones (on initialised input: grey).
    nv12.memset_async(128, &stream)
        .unwrap_or_else(|e| panic!("{e}"));
    t.buffer_mut()
        .memset_async(0xFF, &stream)
        .unwrap_or_else(|e| panic!("{e}"));
    colour::yuv420_to_tensor(&nv12, &mut t, 1, &TensorParams::unit(), &stream)
        .unwrap_or_else(|e| panic!("{e}"));
    sync(&stream);
    let v = t.to_host_f32().unwrap_or_else(|e| panic!("{e}"));
    let slot = &v[3 * 16 * 16..];
    // Y = U = V = 128, BT.709 limited: (128 - 16) / 219 = 0.5114 for every channel.
    assert!(
        slot.iter().all(|x| (x - 0.5114).abs() < 2e-3),
        "grey frame gave {:?}..",
        &slot[..4]
    );
}

/// A frame whose pitch is the row rounded up to 16 bytes plus `extra` (a multiple of 16 keeps
/// the 16-byte path with a pitch other than the driver's 512-byte rounding).
fn frame_pitch16(ctx: &nvdx::Context, f: PixelFormat, w: u32, h: u32, extra: usize) -> Frame {
    let pitch = f.row_bytes(w).div_ceil(16) * 16 + extra;
    FrameLayout::new(f, w, h, pitch)
        .and_then(|l| Frame::with_layout(ctx, l, MemoryKind::Device))
        .unwrap_or_else(|e| panic!("allocating {f:?} {w}x{h} pitch {pitch}: {e}"))
}

/// The three access paths (16-byte kernels, 4-byte and byte paths of the 4x2-block kernels)
/// give the same bytes for the same input, both directions, every 8-bit packed format.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn access_paths_agree_bit_for_bit() {
    use colour::{plan_rgb_to_yuv420, plan_yuv420_to_rgb, MemoryAccess};
    let (ctx, mut rng) = (ctx(), rng());
    let stream = Stream::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    let space = ColourSpace::BT709_LIMITED;
    for f in [
        PixelFormat::Rgb24,
        PixelFormat::Bgr24,
        PixelFormat::Rgba,
        PixelFormat::Bgra,
    ] {
        for (w, h) in [(1918u32, 1078u32), (3840, 16), (66, 38), (16, 2), (2, 2)] {
            let layout = PackedRgb::of(f).unwrap_or_else(|e| panic!("{e}"));
            let rgb: Vec<u8> = random_samples(&mut rng, (w * h) as usize * layout.channels);
            let n = (w * h) as usize;
            let yuv = Yuv420::<u8> {
                width: w as usize,
                height: h as usize,
                y: random_samples(&mut rng, n),
                uv: random_samples(&mut rng, n / 2),
            };
            let mut outs_yuv = Vec::new();
            let mut outs_rgb = Vec::new();
            // pad: 0 = 512-byte pitch, None = 16-byte pitch + 16, 68 / 2 as in PADS.
            for pad in [Some(0), None, Some(68), Some(2)] {
                let make = |fmt| match pad {
                    Some(p) => frame(&ctx, fmt, w, h, p),
                    None => frame_pitch16(&ctx, fmt, w, h, 16),
                };
                let mut src = make(f);
                upload(&mut src, &rgb);
                let mut dst = make(PixelFormat::Nv12);
                dst.memset_async(POISON, &stream)
                    .unwrap_or_else(|e| panic!("{e}"));
                let p = plan_rgb_to_yuv420(&RawImage::of(&src), &RawImage::of(&dst))
                    .unwrap_or_else(|e| panic!("{e}"));
                if pad.is_none_or(|p| p == 0) {
                    assert_eq!(p.access, MemoryAccess::Vec16, "{f:?} {w}x{h} pad {pad:?}");
                }
                colour::rgb_to_yuv420(&src, &mut dst, space, &stream)
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut ysrc = make(PixelFormat::Nv12);
                upload(&mut ysrc, &yuv.to_tight_bytes());
                let mut rdst = make(f);
                rdst.memset_async(POISON, &stream)
                    .unwrap_or_else(|e| panic!("{e}"));
                let q = plan_yuv420_to_rgb(&RawImage::of(&ysrc), &RawImage::of(&rdst))
                    .unwrap_or_else(|e| panic!("{e}"));
                colour::yuv420_to_rgb(&ysrc, &mut rdst, space, &stream)
                    .unwrap_or_else(|e| panic!("{e}"));
                sync(&stream);
                let what = format!("{f:?} {w}x{h} pad {pad:?} ({:?}/{:?})", p.access, q.access);
                outs_yuv.push((what.clone(), download_checked(&what, &dst)));
                outs_rgb.push((what.clone(), download_checked(&what, &rdst)));
            }
            for outs in [&outs_yuv, &outs_rgb] {
                for (what, o) in &outs[1..] {
                    if let Some(i) = o.iter().zip(&outs[0].1).position(|(a, b)| a != b) {
                        panic!(
                            "{what} differs from {} at byte {i}: {} vs {}",
                            outs[0].0, o[i], outs[0].1[i]
                        );
                    }
                }
            }
        }
    }
}

/// On compute capability 9.0 the colour kernels run from the embedded sm_90 cubin; elsewhere
/// from the PTX. Either way, the PTX JIT-compiled here gives the same bytes as the module in
/// use, for the 16-byte kernels.
#[test]
#[ignore = "needs an NVIDIA GPU"]
fn cubin_and_ptx_agree() {
    use nvdx::kernels::{LaunchConfig, Module, ModuleImage};
    use std::ffi::c_void;
    let (ctx, mut rng) = (ctx(), rng());
    let stream = Stream::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    let cc = ctx
        .device()
        .compute_capability()
        .unwrap_or_else(|e| panic!("{e}"));
    let cached = ctx
        .module(&colour::COLOUR_MODULE)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        cached.is_native(),
        cc == (9, 0),
        "compute capability {cc:?}"
    );
    static PTX_ONLY: ModuleImage = ModuleImage {
        name: "colour-ptx-only",
        image: colour::COLOUR_MODULE.image,
        cubins: &[],
    };
    let ptx = Module::load(&ctx, &PTX_ONLY).unwrap_or_else(|e| panic!("{e}"));
    assert!(!ptx.is_native());

    let (w, h) = (1918u32, 1078u32);
    let rgb: Vec<u8> = random_samples(&mut rng, (w * h * 3) as usize);
    let mut src = frame(&ctx, PixelFormat::Rgb24, w, h, 0);
    upload(&mut src, &rgb);
    let s = RawImage::of(&src);
    let mut outs = Vec::new();
    for m in [&cached, &ptx] {
        let dst = frame(&ctx, PixelFormat::Nv12, w, h, 0);
        let d = RawImage::of(&dst);
        let plan = colour::plan_rgb_to_yuv420(&s, &d).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.kernel, c"rgb24_to_nv12_v16");
        let f = m.function(plan.kernel).unwrap_or_else(|e| panic!("{e}"));
        let mut k = colour::Affine::rgb_to_yuv(ColourSpace::BT601_FULL, 8);
        let (mut sp, mut sptr) = (s.pitch as u32, s.ptr);
        let (mut yp, mut yptr) = (d.pitch as u32, d.ptr);
        let (mut cp, mut cptr) = (d.chroma_pitch as u32, d.chroma_ptr);
        let (mut wi, mut hi, mut vec) = (w as i32, h as i32, 1i32);
        let mut params: [*mut c_void; 10] = [
            (&mut sptr) as *mut _ as *mut c_void,
            (&mut sp) as *mut _ as *mut c_void,
            (&mut yptr) as *mut _ as *mut c_void,
            (&mut yp) as *mut _ as *mut c_void,
            (&mut cptr) as *mut _ as *mut c_void,
            (&mut cp) as *mut _ as *mut c_void,
            (&mut wi) as *mut _ as *mut c_void,
            (&mut hi) as *mut _ as *mut c_void,
            (&mut k) as *mut _ as *mut c_void,
            (&mut vec) as *mut _ as *mut c_void,
        ];
        let cfg: LaunchConfig = plan.config;
        // SAFETY: the parameters match rgb24_to_nv12_v16(const u8*, u32, u8*, u32, u8*, u32,
        // int, int, RgbToYuv, int); both frames are live until the synchronize below.
        unsafe { f.launch(cfg, &stream, &mut params) }.unwrap_or_else(|e| panic!("{e}"));
        sync(&stream);
        outs.push(dst.to_host_vec().unwrap_or_else(|e| panic!("{e}")));
    }
    assert!(outs[0] == outs[1], "cubin and PTX differ");
}
