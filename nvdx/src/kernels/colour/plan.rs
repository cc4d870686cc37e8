//! Validation and launch planning of every conversion, without touching the GPU: formats,
//! sizes, plane addresses and pitches are checked here, before any driver call.

use std::ffi::CStr;

use super::tensor::tensor_bytes;
use super::{RawImage, RawTensor, TensorDtype, TensorParams, BLOCK, MAX_RESAMPLE_DIM};
use crate::error::{Error, Result};
use crate::frame::PixelFormat;
use crate::kernels::LaunchConfig;

pub(super) fn bad(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

fn check_plane(what: &str, img: &RawImage, ptr: u64, pitch: usize, row_bytes: usize) -> Result<()> {
    let align = img.format.bytes_per_sample() as u64;
    if ptr == 0 {
        return Err(bad(format!("{what}: null {:?} plane address", img.format)));
    }
    if ptr % align != 0 || pitch as u64 % align != 0 {
        return Err(bad(format!(
            "{what}: {:?} plane address {ptr:#x} and pitch {pitch} must be multiples of {align}",
            img.format
        )));
    }
    if pitch < row_bytes {
        return Err(bad(format!(
            "{what}: pitch {pitch} is smaller than a {:?} row of {} pixels ({row_bytes} bytes)",
            img.format, img.width
        )));
    }
    if pitch > u32::MAX as usize {
        return Err(bad(format!("{what}: pitch {pitch} exceeds 4 GiB")));
    }
    Ok(())
}

fn check_image(what: &str, img: &RawImage) -> Result<()> {
    if img.width == 0 || img.height == 0 {
        return Err(bad(format!(
            "{what}: {:?} size {}x{} is empty",
            img.format, img.width, img.height
        )));
    }
    if img.width > 32768 || img.height > 32768 {
        return Err(bad(format!(
            "{what}: size {}x{} exceeds 32768x32768",
            img.width, img.height
        )));
    }
    let row = img.format.row_bytes(img.width);
    if img.format.is_420() {
        if img.width % 2 != 0 || img.height % 2 != 0 {
            return Err(bad(format!(
                "{what}: {:?} is 4:2:0 and needs an even width and height, got {}x{}",
                img.format, img.width, img.height
            )));
        }
        check_plane(what, img, img.ptr, img.pitch, row)?;
        check_plane(what, img, img.chroma_ptr, img.chroma_pitch, row)?;
    } else {
        check_plane(what, img, img.ptr, img.pitch, row)?;
    }
    Ok(())
}

fn yuv420_bits(what: &str, f: PixelFormat) -> Result<u32> {
    match f {
        PixelFormat::Nv12 => Ok(8),
        PixelFormat::P016 => Ok(16),
        other => Err(bad(format!("{what} must be Nv12 or P016, got {other:?}"))),
    }
}

fn same_size(src: &RawImage, dst: &RawImage) -> Result<()> {
    if (src.width, src.height) != (dst.width, dst.height) {
        return Err(bad(format!(
            "source is {}x{} but destination is {}x{}; use resize_yuv420 or a tensor conversion to change size",
            src.width, src.height, dst.width, dst.height
        )));
    }
    Ok(())
}

/// How a packed RGB <-> 4:2:0 conversion kernel accesses memory; chosen on the host for each
/// launch from the alignment of the plane addresses and pitches (see [`MemoryAccess::select`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryAccess {
    /// The `*_v16` kernels: one thread per run of 16 pixels of two rows, every plane read and
    /// written with 16-byte accesses (a row's last run, when the width is not a multiple of 16,
    /// with byte accesses). 8-bit formats whose plane addresses and pitches are all multiples
    /// of 16, which every [`crate::Frame`] of device memory satisfies
    /// ([`crate::frame::DEVICE_PITCH_ALIGN`] = 512).
    Vec16,
    /// One thread per 4x2 pixel block; the packed plane (and, RGB -> 4:2:0, the luma and chroma
    /// planes) read or written with 4-byte accesses: their addresses and pitches are multiples
    /// of 4.
    Vec4,
    /// One thread per 4x2 pixel block, sample-sized accesses: any other layout.
    Scalar,
}

impl MemoryAccess {
    /// The widest access that `bits`-per-sample planes allow: [`Vec16`](Self::Vec16) when
    /// `bits` is 8 and every value of `vec16` (all plane addresses and pitches of the launch)
    /// is a multiple of 16, else [`Vec4`](Self::Vec4) when every value of `vec4` (the ones the
    /// 4-byte path accesses by words) is a multiple of 4, else [`Scalar`](Self::Scalar).
    pub fn select(bits: u32, vec16: &[u64], vec4: &[u64]) -> MemoryAccess {
        if bits == 8 && vec16.iter().all(|v| v % 16 == 0) {
            MemoryAccess::Vec16
        } else if vec4.iter().all(|v| v % 4 == 0) {
            MemoryAccess::Vec4
        } else {
            MemoryAccess::Scalar
        }
    }

    /// Pixels per thread along a row.
    pub fn run_pixels(self) -> u32 {
        match self {
            MemoryAccess::Vec16 => 16,
            MemoryAccess::Vec4 | MemoryAccess::Scalar => 4,
        }
    }
}

/// What [`rgb_to_yuv420`](super::rgb_to_yuv420) launches, once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RgbToYuvPlan {
    /// Kernel name.
    pub kernel: &'static CStr,
    /// Bits per sample.
    pub bits: u32,
    /// The memory access path (it also picks `kernel`).
    pub access: MemoryAccess,
    /// Launch geometry.
    pub config: LaunchConfig,
}

impl RgbToYuvPlan {
    fn new(
        kernels: (&'static CStr, Option<&'static CStr>),
        bits: u32,
        access: MemoryAccess,
        (width, height): (u32, u32),
    ) -> RgbToYuvPlan {
        let (kernel, access) = match (access, kernels.1) {
            (MemoryAccess::Vec16, Some(v16)) => (v16, MemoryAccess::Vec16),
            // No 16-byte kernel for this pair (16-bit formats): the 4-byte path, which Vec16's
            // alignment implies.
            (MemoryAccess::Vec16, None) => (kernels.0, MemoryAccess::Vec4),
            (a, _) => (kernels.0, a),
        };
        RgbToYuvPlan {
            kernel,
            bits,
            access,
            config: LaunchConfig::for_2d(width.div_ceil(access.run_pixels()), height / 2, BLOCK),
        }
    }

    /// The kernel's `vec` argument (read by the 4x2-block kernels only).
    pub(super) fn vec_arg(&self) -> i32 {
        i32::from(self.access != MemoryAccess::Scalar)
    }
}

/// Validates an RGB -> 4:2:0 conversion without touching the GPU.
pub fn plan_rgb_to_yuv420(src: &RawImage, dst: &RawImage) -> Result<RgbToYuvPlan> {
    let kernels = match (src.format, dst.format) {
        (PixelFormat::Rgb24, PixelFormat::Nv12) => (c"rgb24_to_nv12", Some(c"rgb24_to_nv12_v16")),
        (PixelFormat::Bgr24, PixelFormat::Nv12) => (c"bgr24_to_nv12", Some(c"bgr24_to_nv12_v16")),
        (PixelFormat::Rgba, PixelFormat::Nv12) => (c"rgba_to_nv12", Some(c"rgba_to_nv12_v16")),
        (PixelFormat::Bgra, PixelFormat::Nv12) => (c"bgra_to_nv12", Some(c"bgra_to_nv12_v16")),
        (PixelFormat::Rgb48, PixelFormat::P016) => (c"rgb48_to_p016", None),
        (s, d) => {
            return Err(bad(format!(
                "no conversion from {s:?} to {d:?}: RGB24/BGR24/RGBA/BGRA convert to Nv12, Rgb48 to P016"
            )))
        }
    };
    check_image("source", src)?;
    check_image("destination", dst)?;
    if !dst.format.is_420() || src.width % 2 != 0 || src.height % 2 != 0 {
        return Err(bad(format!(
            "4:2:0 output needs an even width and height, got {}x{}",
            src.width, src.height
        )));
    }
    same_size(src, dst)?;
    let bits = yuv420_bits("destination", dst.format)?;
    let planes = [
        src.ptr,
        src.pitch as u64,
        dst.ptr,
        dst.pitch as u64,
        dst.chroma_ptr,
        dst.chroma_pitch as u64,
    ];
    let access = MemoryAccess::select(bits, &planes, &planes);
    Ok(RgbToYuvPlan::new(
        kernels,
        bits,
        access,
        (src.width, src.height),
    ))
}

/// Validates a 4:2:0 -> RGB conversion without touching the GPU; same plan type.
pub fn plan_yuv420_to_rgb(src: &RawImage, dst: &RawImage) -> Result<RgbToYuvPlan> {
    let kernels = match (src.format, dst.format) {
        (PixelFormat::Nv12, PixelFormat::Rgb24) => (c"nv12_to_rgb24", Some(c"nv12_to_rgb24_v16")),
        (PixelFormat::Nv12, PixelFormat::Bgr24) => (c"nv12_to_bgr24", Some(c"nv12_to_bgr24_v16")),
        // With their warp-staged stores the 16-byte kernels beat the 4x2-block ones for 4-byte
        // pixels too (H200, NV12->RGBA 4K: 16.4 us against 22.5 us, same bytes).
        (PixelFormat::Nv12, PixelFormat::Rgba) => (c"nv12_to_rgba", Some(c"nv12_to_rgba_v16")),
        (PixelFormat::Nv12, PixelFormat::Bgra) => (c"nv12_to_bgra", Some(c"nv12_to_bgra_v16")),
        (PixelFormat::P016, PixelFormat::Rgb24) => (c"p016_to_rgb24", None),
        (PixelFormat::P016, PixelFormat::Bgr24) => (c"p016_to_bgr24", None),
        (PixelFormat::P016, PixelFormat::Rgba) => (c"p016_to_rgba", None),
        (PixelFormat::P016, PixelFormat::Bgra) => (c"p016_to_bgra", None),
        (s, d) => {
            return Err(bad(format!(
                "no conversion from {s:?} to {d:?}: Nv12 and P016 convert to Rgb24, Bgr24, Rgba or Bgra"
            )))
        }
    };
    check_image("source", src)?;
    check_image("destination", dst)?;
    same_size(src, dst)?;
    let bits = yuv420_bits("source", src.format)?;
    let access = MemoryAccess::select(
        bits,
        &[
            src.ptr,
            src.pitch as u64,
            src.chroma_ptr,
            src.chroma_pitch as u64,
            dst.ptr,
            dst.pitch as u64,
        ],
        // The 4x2-block kernel reads the source sample by sample.
        &[dst.ptr, dst.pitch as u64],
    );
    Ok(RgbToYuvPlan::new(
        kernels,
        bits,
        access,
        (src.width, src.height),
    ))
}

fn check_resample_src(what: &str, src: &RawImage) -> Result<u32> {
    check_image(what, src)?;
    let bits = yuv420_bits(what, src.format)?;
    if src.width > MAX_RESAMPLE_DIM || src.height > MAX_RESAMPLE_DIM {
        return Err(bad(format!(
            "{what}: size {}x{} exceeds {MAX_RESAMPLE_DIM}x{MAX_RESAMPLE_DIM} for resampling",
            src.width, src.height
        )));
    }
    Ok(bits)
}

fn check_tensor(dst: &RawTensor, first_slot: usize, count: usize) -> Result<()> {
    tensor_bytes(dst.batch, dst.height, dst.width, dst.dtype)?;
    if dst.ptr == 0 || dst.ptr % dst.dtype.size() as u64 != 0 {
        return Err(bad(format!(
            "tensor address {:#x} is null or not aligned to its {}-byte elements",
            dst.ptr,
            dst.dtype.size()
        )));
    }
    if count == 0 {
        return Err(bad("no source frames".into()));
    }
    if first_slot
        .checked_add(count)
        .is_none_or(|end| end > dst.batch)
    {
        return Err(bad(format!(
            "slots {first_slot}..{} do not fit a tensor batch of {}",
            first_slot.saturating_add(count),
            dst.batch
        )));
    }
    Ok(())
}

fn check_params(p: &TensorParams) -> Result<()> {
    for c in 0..3 {
        if !p.mean[c].is_finite() || !p.std[c].is_finite() || p.std[c] == 0.0 {
            return Err(bad(format!(
                "normalisation of channel {c} has mean {} and std {}; both must be finite and std non-zero",
                p.mean[c], p.std[c]
            )));
        }
    }
    Ok(())
}

/// Validates a tensor conversion of `srcs` into slots `first_slot..` of `dst` without touching
/// the GPU; returns the kernel name (single-frame variant) and the bits per sample.
pub fn plan_yuv420_to_tensor(
    srcs: &[RawImage],
    dst: &RawTensor,
    first_slot: usize,
    params: &TensorParams,
) -> Result<(&'static CStr, u32)> {
    check_tensor(dst, first_slot, srcs.len())?;
    check_params(params)?;
    let mut bits = None;
    for (i, s) in srcs.iter().enumerate() {
        let b = check_resample_src(&format!("source {i}"), s)?;
        if bits.is_some_and(|prev| prev != b) {
            return Err(bad(format!(
                "source {i} is {:?} but source 0 is {:?}; a batch has one format",
                s.format, srcs[0].format
            )));
        }
        bits = Some(b);
    }
    let kernel = match (bits, dst.dtype) {
        (Some(8), TensorDtype::F32) => c"nv12_to_planar_f32",
        (Some(8), TensorDtype::F16) => c"nv12_to_planar_f16",
        (_, TensorDtype::F32) => c"p016_to_planar_f32",
        (_, TensorDtype::F16) => c"p016_to_planar_f16",
    };
    Ok((kernel, bits.unwrap_or(8)))
}

/// Validates a 4:2:0 resize without touching the GPU; returns the kernel name.
pub fn plan_resize_yuv420(src: &RawImage, dst: &RawImage) -> Result<&'static CStr> {
    let bits = check_resample_src("source", src)?;
    check_resample_src("destination", dst)?;
    if src.format != dst.format {
        return Err(bad(format!(
            "resize keeps the format: source is {:?}, destination {:?}",
            src.format, dst.format
        )));
    }
    Ok(if bits == 8 {
        c"nv12_resize"
    } else {
        c"p016_resize"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn img(format: PixelFormat, w: u32, h: u32) -> RawImage {
        let pitch = format.row_bytes(w).div_ceil(256) * 256;
        if format.is_420() {
            RawImage::contiguous_yuv420(format, w, h, 0x1000_0000, pitch)
        } else {
            RawImage::packed(format, w, h, 0x2000_0000, pitch)
        }
    }

    fn is_invalid<T: std::fmt::Debug>(r: Result<T>, needle: &str) {
        match r {
            Err(Error::InvalidArgument(m)) => assert!(m.contains(needle), "{m:?} lacks {needle:?}"),
            other => panic!("expected InvalidArgument({needle}), got {other:?}"),
        }
    }

    #[test]
    fn rgb_to_yuv_validation() {
        let p = plan_rgb_to_yuv420(
            &img(PixelFormat::Rgb24, 1918, 1078),
            &img(PixelFormat::Nv12, 1918, 1078),
        )
        .unwrap();
        assert_eq!(p.kernel, c"rgb24_to_nv12_v16");
        assert_eq!(p.access, MemoryAccess::Vec16);
        // 120 runs of 16 pixels (the last one 14) in blocks of 32; 539 row pairs in blocks of 8.
        assert_eq!(p.config.grid, (4, 68, 1));
        let p = plan_rgb_to_yuv420(
            &img(PixelFormat::Rgb48, 2, 2),
            &img(PixelFormat::P016, 2, 2),
        )
        .unwrap();
        assert_eq!((p.kernel, p.bits), (c"rgb48_to_p016", 16));
        is_invalid(
            plan_rgb_to_yuv420(
                &img(PixelFormat::Rgb24, 3, 2),
                &img(PixelFormat::Nv12, 4, 2),
            ),
            "even",
        );
        is_invalid(
            plan_rgb_to_yuv420(
                &img(PixelFormat::Rgb24, 4, 3),
                &img(PixelFormat::Nv12, 4, 4),
            ),
            "even",
        );
        is_invalid(
            plan_rgb_to_yuv420(
                &img(PixelFormat::Rgb24, 4, 2),
                &img(PixelFormat::Nv12, 8, 2),
            ),
            "resize",
        );
        is_invalid(
            plan_rgb_to_yuv420(
                &img(PixelFormat::Rgb24, 4, 2),
                &img(PixelFormat::P016, 4, 2),
            ),
            "no conversion",
        );
        is_invalid(
            plan_rgb_to_yuv420(
                &img(PixelFormat::Rgb48, 4, 2),
                &img(PixelFormat::Nv12, 4, 2),
            ),
            "no conversion",
        );
        is_invalid(
            plan_rgb_to_yuv420(&img(PixelFormat::Nv12, 4, 2), &img(PixelFormat::Nv12, 4, 2)),
            "no conversion",
        );
        let mut s = img(PixelFormat::Rgb24, 64, 2);
        s.pitch = 100;
        is_invalid(
            plan_rgb_to_yuv420(&s, &img(PixelFormat::Nv12, 64, 2)),
            "pitch 100",
        );
        s.pitch = 193;
        let p = plan_rgb_to_yuv420(&s, &img(PixelFormat::Nv12, 64, 2)).unwrap();
        assert_eq!(
            p.access,
            MemoryAccess::Scalar,
            "odd pitch must take the byte path"
        );
        assert_eq!((p.kernel, p.vec_arg()), (c"rgb24_to_nv12", 0));
        s.ptr = 0;
        is_invalid(
            plan_rgb_to_yuv420(&s, &img(PixelFormat::Nv12, 64, 2)),
            "null",
        );
        let mut d = img(PixelFormat::P016, 4, 2);
        d.chroma_pitch = 15;
        is_invalid(
            plan_rgb_to_yuv420(&img(PixelFormat::Rgb48, 4, 2), &d),
            "multiples of 2",
        );
        is_invalid(
            plan_rgb_to_yuv420(
                &img(PixelFormat::Rgb24, 0, 2),
                &img(PixelFormat::Nv12, 0, 2),
            ),
            "empty",
        );
    }

    #[test]
    fn access_path_follows_alignment() {
        use MemoryAccess::*;
        assert_eq!(
            MemoryAccess::select(8, &[0x1000, 512, 0x2000, 3840], &[0x1000]),
            Vec16
        );
        assert_eq!(
            MemoryAccess::select(8, &[0x1000, 512, 0x2004], &[0x1000, 512, 0x2004]),
            Vec4
        );
        assert_eq!(
            MemoryAccess::select(8, &[0x1000, 5760 + 8], &[0x1000, 5768]),
            Vec4
        );
        assert_eq!(
            MemoryAccess::select(8, &[0x1000, 5762], &[0x1000, 5762]),
            Scalar
        );
        // Only the vec4 list matters for the 4-byte path (4:2:0 -> RGB reads its source by samples).
        assert_eq!(
            MemoryAccess::select(8, &[0x1001, 512], &[0x1000, 512]),
            Vec4
        );
        assert_eq!(
            MemoryAccess::select(16, &[0x1000, 512], &[0x1000, 512]),
            Vec4
        );
        assert_eq!(Vec16.run_pixels(), 16);
        assert_eq!(Vec4.run_pixels(), 4);
    }

    /// Which kernel each layout of a 4K conversion launches, both directions.
    #[test]
    fn conversions_pick_the_path_per_launch() {
        let (w, h) = (3840, 2160);
        let rgb = img(PixelFormat::Rgb24, w, h);
        let nv12 = img(PixelFormat::Nv12, w, h);
        let p = plan_rgb_to_yuv420(&rgb, &nv12).unwrap();
        assert_eq!(
            (p.kernel, p.access),
            (c"rgb24_to_nv12_v16", MemoryAccess::Vec16)
        );
        // 240 runs per row in blocks of 32 threads, 1080 row pairs in blocks of 8.
        assert_eq!((p.config.grid, p.config.block), ((8, 135, 1), (32, 8, 1)));
        let p = plan_yuv420_to_rgb(&nv12, &rgb).unwrap();
        assert_eq!(
            (p.kernel, p.access),
            (c"nv12_to_rgb24_v16", MemoryAccess::Vec16)
        );
        assert_eq!(p.config.grid, (8, 135, 1));
        for (f, v16) in [
            (PixelFormat::Bgr24, c"bgr24_to_nv12_v16"),
            (PixelFormat::Rgba, c"rgba_to_nv12_v16"),
            (PixelFormat::Bgra, c"bgra_to_nv12_v16"),
        ] {
            let p = plan_rgb_to_yuv420(&img(f, 66, 38), &img(PixelFormat::Nv12, 66, 38)).unwrap();
            assert_eq!((p.kernel, p.access), (v16, MemoryAccess::Vec16));
            assert_eq!(p.config.grid, (1, 3, 1));
        }
        let p = plan_yuv420_to_rgb(
            &img(PixelFormat::Nv12, 2, 2),
            &img(PixelFormat::Bgr24, 2, 2),
        )
        .unwrap();
        assert_eq!(
            (p.kernel, p.access),
            (c"nv12_to_bgr24_v16", MemoryAccess::Vec16)
        );
        // 4-byte outputs take the 16-byte kernels too (their staged stores); a 16-byte
        // misaligned pitch the 4x2-block ones.
        for (f, k, k4) in [
            (PixelFormat::Rgba, c"nv12_to_rgba_v16", c"nv12_to_rgba"),
            (PixelFormat::Bgra, c"nv12_to_bgra_v16", c"nv12_to_bgra"),
        ] {
            let p = plan_yuv420_to_rgb(&img(PixelFormat::Nv12, 2, 2), &img(f, 2, 2)).unwrap();
            assert_eq!((p.kernel, p.access), (k, MemoryAccess::Vec16));
            let mut d = img(f, 64, 2);
            d.pitch = 4 * 64 + 4;
            let p = plan_yuv420_to_rgb(&img(PixelFormat::Nv12, 64, 2), &d).unwrap();
            assert_eq!((p.kernel, p.access), (k4, MemoryAccess::Vec4));
        }

        // A raw RGB image with a pitch that is a multiple of 4 but not 16: the 4x2-block kernel.
        let mut r = rgb;
        r.pitch = 3 * 3840 + 4;
        let p = plan_rgb_to_yuv420(&r, &nv12).unwrap();
        assert_eq!(
            (p.kernel, p.access, p.vec_arg()),
            (c"rgb24_to_nv12", MemoryAccess::Vec4, 1)
        );
        assert_eq!(p.config.grid, (30, 135, 1));
        let p = plan_yuv420_to_rgb(&nv12, &r).unwrap();
        assert_eq!((p.kernel, p.access), (c"nv12_to_rgb24", MemoryAccess::Vec4));
        // An odd pitch: bytes.
        r.pitch = 3 * 3840 + 1;
        let p = plan_rgb_to_yuv420(&r, &nv12).unwrap();
        assert_eq!(
            (p.kernel, p.access, p.vec_arg()),
            (c"rgb24_to_nv12", MemoryAccess::Scalar, 0)
        );
        // A source address 8 bytes off (a crop of a larger image).
        let mut r = rgb;
        r.ptr += 8;
        let p = plan_rgb_to_yuv420(&r, &nv12).unwrap();
        assert_eq!((p.kernel, p.access), (c"rgb24_to_nv12", MemoryAccess::Vec4));
        // A chroma plane 4 bytes off: both directions leave the 16-byte path; NV12 -> RGB still
        // writes words (the 4x2-block kernel reads its source by samples).
        let mut n = nv12;
        n.chroma_ptr += 4;
        let p = plan_rgb_to_yuv420(&rgb, &n).unwrap();
        assert_eq!((p.kernel, p.access), (c"rgb24_to_nv12", MemoryAccess::Vec4));
        let p = plan_yuv420_to_rgb(&n, &rgb).unwrap();
        assert_eq!((p.kernel, p.access), (c"nv12_to_rgb24", MemoryAccess::Vec4));
        n.chroma_pitch += 2;
        let p = plan_yuv420_to_rgb(&n, &rgb).unwrap();
        assert_eq!((p.kernel, p.access), (c"nv12_to_rgb24", MemoryAccess::Vec4));
        let p = plan_rgb_to_yuv420(&rgb, &n).unwrap();
        assert_eq!(
            (p.kernel, p.access),
            (c"rgb24_to_nv12", MemoryAccess::Scalar)
        );

        // 16-bit formats have no 16-byte kernel: aligned planes take the 4-byte path.
        let p = plan_rgb_to_yuv420(
            &img(PixelFormat::Rgb48, w, h),
            &img(PixelFormat::P016, w, h),
        )
        .unwrap();
        assert_eq!((p.kernel, p.access), (c"rgb48_to_p016", MemoryAccess::Vec4));
        assert_eq!(p.config.grid, (30, 135, 1));
        let p = plan_yuv420_to_rgb(&img(PixelFormat::P016, w, h), &img(PixelFormat::Rgba, w, h))
            .unwrap();
        assert_eq!((p.kernel, p.access), (c"p016_to_rgba", MemoryAccess::Vec4));
    }

    #[test]
    fn yuv_to_rgb_validation() {
        let p = plan_yuv420_to_rgb(&img(PixelFormat::P016, 2, 2), &img(PixelFormat::Bgra, 2, 2))
            .unwrap();
        assert_eq!((p.kernel, p.bits), (c"p016_to_bgra", 16));
        is_invalid(
            plan_yuv420_to_rgb(
                &img(PixelFormat::Nv12, 4, 4),
                &img(PixelFormat::Rgb48, 4, 4),
            ),
            "no conversion",
        );
        is_invalid(
            plan_yuv420_to_rgb(
                &img(PixelFormat::Nv12, 4, 4),
                &img(PixelFormat::Rgb24, 4, 2),
            ),
            "destination is 4x2",
        );
        let mut s = img(PixelFormat::Nv12, 6, 6);
        s.width = 5;
        is_invalid(
            plan_yuv420_to_rgb(&s, &img(PixelFormat::Rgb24, 5, 6)),
            "even",
        );
    }

    fn tensor(batch: usize, dtype: TensorDtype) -> RawTensor {
        RawTensor {
            ptr: 0x3000_0000,
            batch,
            height: 448,
            width: 448,
            dtype,
        }
    }

    #[test]
    fn tensor_validation() {
        let s = img(PixelFormat::Nv12, 1920, 1080);
        let p = TensorParams::imagenet();
        let (k, bits) = plan_yuv420_to_tensor(&[s], &tensor(8, TensorDtype::F16), 7, &p).unwrap();
        assert_eq!((k, bits), (c"nv12_to_planar_f16", 8));
        is_invalid(
            plan_yuv420_to_tensor(&[s], &tensor(8, TensorDtype::F16), 8, &p),
            "slots 8..9",
        );
        is_invalid(
            plan_yuv420_to_tensor(&[s; 3], &tensor(8, TensorDtype::F32), 6, &p),
            "slots 6..9",
        );
        is_invalid(
            plan_yuv420_to_tensor(&[], &tensor(8, TensorDtype::F32), 0, &p),
            "no source",
        );
        is_invalid(
            plan_yuv420_to_tensor(
                &[s, img(PixelFormat::P016, 4, 4)],
                &tensor(8, TensorDtype::F32),
                0,
                &p,
            ),
            "one format",
        );
        is_invalid(
            plan_yuv420_to_tensor(
                &[img(PixelFormat::Rgb24, 4, 4)],
                &tensor(1, TensorDtype::F32),
                0,
                &p,
            ),
            "Nv12 or P016",
        );
        let mut t = tensor(1, TensorDtype::F32);
        t.ptr += 2;
        is_invalid(plan_yuv420_to_tensor(&[s], &t, 0, &p), "aligned");
        t = tensor(0, TensorDtype::F32);
        is_invalid(plan_yuv420_to_tensor(&[s], &t, 0, &p), "empty");
        let mut bad_p = p;
        bad_p.std[1] = 0.0;
        is_invalid(
            plan_yuv420_to_tensor(&[s], &tensor(1, TensorDtype::F32), 0, &bad_p),
            "std",
        );
        is_invalid(
            plan_yuv420_to_tensor(
                &[img(PixelFormat::Nv12, 20000, 4)],
                &tensor(1, TensorDtype::F32),
                0,
                &p,
            ),
            "exceeds",
        );
        let (k, _) = plan_yuv420_to_tensor(
            &[img(PixelFormat::P016, 4, 4)],
            &tensor(1, TensorDtype::F32),
            0,
            &p,
        )
        .unwrap();
        assert_eq!(k, c"p016_to_planar_f32");
    }

    #[test]
    fn resize_validation() {
        assert_eq!(
            plan_resize_yuv420(
                &img(PixelFormat::Nv12, 1920, 1080),
                &img(PixelFormat::Nv12, 1280, 720)
            )
            .unwrap(),
            c"nv12_resize"
        );
        assert_eq!(
            plan_resize_yuv420(&img(PixelFormat::P016, 2, 2), &img(PixelFormat::P016, 4, 4))
                .unwrap(),
            c"p016_resize"
        );
        is_invalid(
            plan_resize_yuv420(&img(PixelFormat::Nv12, 8, 8), &img(PixelFormat::P016, 4, 4)),
            "keeps the format",
        );
        is_invalid(
            plan_resize_yuv420(
                &img(PixelFormat::Rgb24, 8, 8),
                &img(PixelFormat::Rgb24, 4, 4),
            ),
            "Nv12 or P016",
        );
    }
}
