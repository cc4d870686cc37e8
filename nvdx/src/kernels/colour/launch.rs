//! The `_raw` functions: kernel launches on memory the caller manages (unsafe, validated by
//! [`super::plan`] first).

use std::ffi::{c_void, CStr};

use super::params::{norm, yuv420_src, Affine, Yuv420Batch, Yuv420Src};
use super::plan::{
    bad, plan_resize_yuv420, plan_rgb_to_yuv420, plan_yuv420_to_rgb, plan_yuv420_to_tensor,
};
use super::{
    ColourSpace, RawImage, RawTensor, TensorParams, BLOCK, COLOUR_MODULE, MAX_BATCH_PER_LAUNCH,
};
use crate::error::{Error, Result};
use crate::frame::PixelFormat;
use crate::kernels::LaunchConfig;
use crate::stream::Stream;

fn function(stream: &Stream, name: &'static CStr) -> Result<crate::kernels::Function> {
    stream.context().function(&COLOUR_MODULE, name)
}

/// The variant of a single-frame tensor kernel that runs: batched (`blockIdx.z` = frame) or
/// not, and with two output pixels a thread (`_x2`, stored as one word of two elements) or one.
fn tensor_kernel(kernel: &CStr, batch: bool, pairs: bool) -> Result<&'static CStr> {
    const TABLE: [[&CStr; 4]; 4] = [
        [
            c"nv12_to_planar_f32",
            c"nv12_to_planar_f32_batch",
            c"nv12_to_planar_f32_x2",
            c"nv12_to_planar_f32_batch_x2",
        ],
        [
            c"nv12_to_planar_f16",
            c"nv12_to_planar_f16_batch",
            c"nv12_to_planar_f16_x2",
            c"nv12_to_planar_f16_batch_x2",
        ],
        [
            c"p016_to_planar_f32",
            c"p016_to_planar_f32_batch",
            c"p016_to_planar_f32_x2",
            c"p016_to_planar_f32_batch_x2",
        ],
        [
            c"p016_to_planar_f16",
            c"p016_to_planar_f16_batch",
            c"p016_to_planar_f16_x2",
            c"p016_to_planar_f16_batch_x2",
        ],
    ];
    let row = TABLE.iter().find(|r| r[0] == kernel).ok_or_else(|| {
        Error::InvalidArgument(format!("kernel {kernel:?} is not a tensor kernel"))
    })?;
    Ok(row[usize::from(batch) + 2 * usize::from(pairs)])
}

/// Whether a tensor launch takes the two-pixels-a-thread kernels: an even width (so a pair
/// never straddles rows, and every slot and plane starts at an even element) and an address
/// aligned to two elements.
pub(super) fn tensor_pairs(dst: &RawTensor) -> bool {
    dst.width % 2 == 0 && dst.ptr % (2 * dst.dtype.size() as u64) == 0
}

macro_rules! arg {
    ($v:expr) => {
        (&mut $v) as *mut _ as *mut c_void
    };
}

/// Converts packed RGB to 4:2:0 in memory the caller manages; see
/// [`rgb_to_yuv420`](super::rgb_to_yuv420).
///
/// # Safety
/// `src` and `dst` must describe live GPU-addressable memory of at least `pitch * rows` bytes per
/// plane, which stays valid, and is not written by anything else, until `stream` has run the
/// kernel; `dst` must not overlap `src`.
pub unsafe fn rgb_to_yuv420_raw(
    src: &RawImage,
    dst: &RawImage,
    space: ColourSpace,
    stream: &Stream,
) -> Result<()> {
    let plan = plan_rgb_to_yuv420(src, dst)?;
    let f = function(stream, plan.kernel)?;
    let mut k = Affine::rgb_to_yuv(space, plan.bits);
    let (mut s, mut sp) = (src.ptr, src.pitch as u32);
    let (mut y, mut yp) = (dst.ptr, dst.pitch as u32);
    let (mut uv, mut uvp) = (dst.chroma_ptr, dst.chroma_pitch as u32);
    let (mut w, mut h) = (src.width as i32, src.height as i32);
    let mut vec = plan.vec_arg();
    let mut params = [
        arg!(s),
        arg!(sp),
        arg!(y),
        arg!(yp),
        arg!(uv),
        arg!(uvp),
        arg!(w),
        arg!(h),
        arg!(k),
        arg!(vec),
    ];
    // SAFETY: the parameters match `rgb_to_yuv420<..>(const u8*, u32, u8*, u32, u8*, u32, int,
    // int, RgbToYuv, int)` in order and type, as do those of the `*_v16` kernels (Affine is
    // repr(C) like RgbToYuv); the planes were validated to hold width x height samples at their
    // pitches, with the alignment the plan's access path needs, and the caller guarantees they
    // are live and unaliased until the stream has run the kernel.
    unsafe { f.launch(plan.config, stream, &mut params) }
}

/// Converts 4:2:0 to packed 8-bit RGB in memory the caller manages; see
/// [`yuv420_to_rgb`](super::yuv420_to_rgb).
///
/// # Safety
/// As [`rgb_to_yuv420_raw`].
pub unsafe fn yuv420_to_rgb_raw(
    src: &RawImage,
    dst: &RawImage,
    space: ColourSpace,
    stream: &Stream,
) -> Result<()> {
    let plan = plan_yuv420_to_rgb(src, dst)?;
    let f = function(stream, plan.kernel)?;
    let mut k = Affine::yuv_to_rgb(space, plan.bits, 255.0);
    let (mut y, mut yp) = (src.ptr, src.pitch as u32);
    let (mut uv, mut uvp) = (src.chroma_ptr, src.chroma_pitch as u32);
    let (mut d, mut dp) = (dst.ptr, dst.pitch as u32);
    let (mut w, mut h) = (src.width as i32, src.height as i32);
    let mut vec = plan.vec_arg();
    let mut params = [
        arg!(y),
        arg!(yp),
        arg!(uv),
        arg!(uvp),
        arg!(d),
        arg!(dp),
        arg!(w),
        arg!(h),
        arg!(k),
        arg!(vec),
    ];
    // SAFETY: parameters match `yuv420_to_rgb<..>(const u8*, u32, const u8*, u32, u8*, u32, int,
    // int, YuvToRgb, int)` and the `*_v16` kernels alike; validated geometry and alignment; the
    // caller guarantees liveness and no aliasing.
    unsafe { f.launch(plan.config, stream, &mut params) }
}

/// Converts 4:2:0 frames into consecutive slots `first_slot..` of a caller-managed tensor, one
/// launch per [`MAX_BATCH_PER_LAUNCH`] frames; see
/// [`yuv420_to_tensor_batch`](super::yuv420_to_tensor_batch). A single source uses the
/// single-frame kernel.
///
/// # Safety
/// As [`rgb_to_yuv420_raw`], for every source and the tensor (`batch * 3 * H * W` elements).
pub unsafe fn yuv420_to_tensor_batch_raw(
    srcs: &[RawImage],
    dst: &RawTensor,
    first_slot: usize,
    params: &TensorParams,
    stream: &Stream,
) -> Result<()> {
    let (kernel, bits) = plan_yuv420_to_tensor(srcs, dst, first_slot, params)?;
    let mut k = Affine::yuv_to_rgb(params.space, bits, 1.0);
    let mut nm = norm(params);
    let (mut dw, mut dh) = (dst.width as i32, dst.height as i32);
    let pairs = tensor_pairs(dst);
    let threads_x = if pairs { dst.width / 2 } else { dst.width };
    if let [one] = srcs {
        let f = function(stream, tensor_kernel(kernel, false, pairs)?)?;
        let mut s = yuv420_src(one);
        let mut out = dst.ptr + (first_slot * dst.slot_bytes()) as u64;
        let mut p = [arg!(s), arg!(out), arg!(dw), arg!(dh), arg!(k), arg!(nm)];
        let cfg = LaunchConfig::for_2d(threads_x, dst.height, BLOCK);
        // SAFETY: parameters match `name(Yuv420Src, u8*, int, int, YuvToRgb, Norm)` and its
        // `_x2` variant; the slot was checked to lie inside the tensor; `_x2` only with an even
        // width and a 2-element-aligned address (`tensor_pairs`), so its paired stores are
        // aligned and stay in the slot; the caller guarantees liveness.
        return unsafe { f.launch(cfg, stream, &mut p) };
    }
    let f = function(stream, tensor_kernel(kernel, true, pairs)?)?;
    for (chunk_index, chunk) in srcs.chunks(MAX_BATCH_PER_LAUNCH).enumerate() {
        let mut b = Yuv420Batch {
            f: [Yuv420Src::default(); MAX_BATCH_PER_LAUNCH],
        };
        for (d, s) in b.f.iter_mut().zip(chunk) {
            *d = yuv420_src(s);
        }
        let slot = first_slot + chunk_index * MAX_BATCH_PER_LAUNCH;
        let mut out = dst.ptr + (slot * dst.slot_bytes()) as u64;
        let mut p = [arg!(b), arg!(out), arg!(dw), arg!(dh), arg!(k), arg!(nm)];
        let mut cfg = LaunchConfig::for_2d(threads_x, dst.height, BLOCK);
        cfg.grid.2 = chunk.len() as u32;
        // SAFETY: parameters match `name_batch(Yuv420Batch, u8*, int, int, YuvToRgb, Norm)`
        // and `name_batch_x2` (Yuv420Batch is repr(C), 32 descriptors); blockIdx.z <
        // chunk.len() only reads filled descriptors; slots slot..slot + chunk.len() were checked
        // to lie in the tensor; `_x2` as above.
        unsafe { f.launch(cfg, stream, &mut p)? };
    }
    Ok(())
}

/// Converts one 4:2:0 frame into slot `slot` of a caller-managed tensor; see
/// [`yuv420_to_tensor`](super::yuv420_to_tensor).
///
/// # Safety
/// As [`yuv420_to_tensor_batch_raw`].
pub unsafe fn yuv420_to_tensor_raw(
    src: &RawImage,
    dst: &RawTensor,
    slot: usize,
    params: &TensorParams,
    stream: &Stream,
) -> Result<()> {
    // SAFETY: forwarded caller contract.
    unsafe { yuv420_to_tensor_batch_raw(std::slice::from_ref(src), dst, slot, params, stream) }
}

/// Resizes a 4:2:0 picture in caller-managed memory; see
/// [`resize_yuv420`](super::resize_yuv420).
///
/// # Safety
/// As [`rgb_to_yuv420_raw`].
pub unsafe fn resize_yuv420_raw(src: &RawImage, dst: &RawImage, stream: &Stream) -> Result<()> {
    let kernel = plan_resize_yuv420(src, dst)?;
    let f = function(stream, kernel)?;
    let mut s = yuv420_src(src);
    let (mut y, mut yp) = (dst.ptr, dst.pitch as u32);
    let (mut uv, mut uvp) = (dst.chroma_ptr, dst.chroma_pitch as u32);
    let (mut dw, mut dh) = (dst.width as i32, dst.height as i32);
    let mut p = [
        arg!(s),
        arg!(y),
        arg!(yp),
        arg!(uv),
        arg!(uvp),
        arg!(dw),
        arg!(dh),
    ];
    let cfg = LaunchConfig::for_2d(dst.width / 2, dst.height / 2, BLOCK);
    // SAFETY: parameters match `name(Yuv420Src, u8*, u32, u8*, u32, int, int)`; validated
    // geometry; the caller guarantees liveness and no aliasing.
    unsafe { f.launch(cfg, stream, &mut p) }
}

/// The naive reference design (one thread per pixel, BT.601 limited range with 3-decimal
/// coefficients, tight or pitched RGB24 -> NV12), kept as the benchmark baseline. Use
/// [`rgb_to_yuv420`](super::rgb_to_yuv420) instead.
///
/// # Safety
/// As [`rgb_to_yuv420_raw`].
pub unsafe fn naive_rgb24_to_nv12_raw(
    src: &RawImage,
    dst: &RawImage,
    stream: &Stream,
) -> Result<()> {
    let plan = plan_rgb_to_yuv420(src, dst)?;
    if src.format != PixelFormat::Rgb24 {
        return Err(bad(format!(
            "the naive kernel reads Rgb24, got {:?}",
            src.format
        )));
    }
    let f = function(stream, c"rgb24_to_nv12_naive")?;
    let (mut s, mut sp) = (src.ptr, src.pitch as u32);
    let (mut y, mut yp) = (dst.ptr, dst.pitch as u32);
    let (mut uv, mut uvp) = (dst.chroma_ptr, dst.chroma_pitch as u32);
    let (mut w, mut h) = (src.width as i32, src.height as i32);
    let mut p = [
        arg!(s),
        arg!(sp),
        arg!(y),
        arg!(yp),
        arg!(uv),
        arg!(uvp),
        arg!(w),
        arg!(h),
    ];
    let _ = plan;
    let cfg = LaunchConfig::for_2d(src.width, src.height, BLOCK);
    // SAFETY: parameters match `rgb24_to_nv12_naive(const u8*, u32, u8*, u32, u8*, u32, int,
    // int)`; validated geometry; caller guarantees liveness.
    unsafe { f.launch(cfg, stream, &mut p) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tensor_kernel_has_its_batched_and_paired_variants_in_the_ptx() {
        let text = std::str::from_utf8(COLOUR_MODULE.image).unwrap();
        for k in [
            c"nv12_to_planar_f32",
            c"nv12_to_planar_f16",
            c"p016_to_planar_f32",
            c"p016_to_planar_f16",
        ] {
            for (batch, pairs, suffix) in [
                (false, false, ""),
                (true, false, "_batch"),
                (false, true, "_x2"),
                (true, true, "_batch_x2"),
            ] {
                let v = tensor_kernel(k, batch, pairs).unwrap();
                assert_eq!(
                    v.to_bytes(),
                    [k.to_bytes(), suffix.as_bytes()].concat().as_slice()
                );
                let entry = format!(".entry {}(", v.to_str().unwrap());
                assert!(text.contains(&entry), "{entry} missing from the PTX");
            }
        }
        assert!(tensor_kernel(c"nv12_resize", true, false).is_err());
    }

    #[test]
    fn pairs_need_an_even_width_and_a_two_element_address() {
        use super::super::TensorDtype;
        let t = |ptr, width, dtype| RawTensor {
            ptr,
            batch: 2,
            height: 7,
            width,
            dtype,
        };
        assert!(tensor_pairs(&t(0x1000, 448, TensorDtype::F16)));
        assert!(tensor_pairs(&t(0x1004, 448, TensorDtype::F16)));
        assert!(!tensor_pairs(&t(0x1002, 448, TensorDtype::F16)));
        assert!(tensor_pairs(&t(0x1008, 448, TensorDtype::F32)));
        assert!(!tensor_pairs(&t(0x1004, 448, TensorDtype::F32)));
        assert!(!tensor_pairs(&t(0x1000, 447, TensorDtype::F16)));
        assert!(!tensor_pairs(&t(0x1000, 1, TensorDtype::F32)));
    }
}
