//! Colour conversion, 4:2:0 resize and tensor kernels.
//!
//! | from | to | function |
//! | --- | --- | --- |
//! | RGB24, BGR24, RGBA, BGRA | NV12 | [`rgb_to_yuv420`] |
//! | RGB48 (16-bit RGB) | P016 | [`rgb_to_yuv420`] |
//! | NV12, P016 | RGB24, BGR24, RGBA, BGRA | [`yuv420_to_rgb`] |
//! | NV12, P016 | f32/f16 planar RGB tensor slot, resized, normalised | [`yuv420_to_tensor`], [`yuv420_to_tensor_batch`] |
//! | NV12 / P016 | NV12 / P016 at another size | [`resize_yuv420`] |
//!
//! Every function enqueues one kernel launch (the batch function one per 32 frames) on the
//! caller's stream and returns; nothing synchronises. Arguments are validated before any driver
//! call, with [`Error::InvalidArgument`] naming what is wrong. Pitches may be padded; bytes beyond
//! a row's pixels are never written. Frames and tensors may live in any memory a kernel can
//! address (device memory, mapped host memory, a peer GPU with peer access enabled); they must
//! stay alive and unaliased until the stream has run the kernel, which the borrow of the safe
//! functions guarantees only up to their return: keep the buffers until the stream is synchronised
//! or an event after the launch has completed.
//!
//! The arithmetic is defined by the CPU references in [`super::reference`]: BT.601 / BT.709 /
//! BT.2020 matrices, limited or full range, chroma from the 2x2 average (centre-sited), bilinear
//! chroma upsampling, bilinear resampling with `align_corners = false` and clamp to edge, YUV
//! interpolated before conversion to RGB.
//!
//! # Driver floor
//! The kernels are embedded as PTX ISA 8.1 for `compute_70` (built by NVRTC/nvcc 12.1), so they
//! load on **NVIDIA drivers >= 530 (CUDA 12.1) on Volta (sm_70) and every later GPU**; the driver
//! JIT-compiles them once per process and caches the result on disk. An older driver fails the
//! first conversion with `CUDA_ERROR_UNSUPPORTED_PTX_VERSION` (an [`Error::Cuda`]). A unit test
//! asserts the embedded header.
//!
//! # Example
//! RGB from an application feeding an encoder frame, and decoded NV12 feeding a model:
//! ```no_run
//! # fn main() -> nvdx::Result<()> {
//! use nvdx::kernels::colour::{self, ColourSpace, Tensor, TensorDtype, TensorParams};
//! use nvdx::{Context, Frame, MemoryKind, PixelFormat, Stream};
//!
//! let ctx = Context::primary(0)?;
//! let stream = Stream::new(&ctx)?;
//!
//! // RGB24 (e.g. a rendered image) -> NV12, the input format of NVENC.
//! let rgb = Frame::new(&ctx, PixelFormat::Rgb24, 1920, 1080, MemoryKind::Device)?;
//! let mut nv12 = Frame::new(&ctx, PixelFormat::Nv12, 1920, 1080, MemoryKind::Device)?;
//! colour::rgb_to_yuv420(&rgb, &mut nv12, ColourSpace::BT709_LIMITED, &stream)?;
//! // ... hand `nv12` to the encoder (same stream, or synchronise first).
//!
//! // Decoded NV12 -> slot 0 of a 8 x 3 x 448 x 448 f16 tensor, ImageNet-normalised.
//! let mut batch = Tensor::new(&ctx, 8, 448, 448, TensorDtype::F16)?;
//! colour::yuv420_to_tensor(&nv12, &mut batch, 0, &TensorParams::imagenet(), &stream)?;
//! stream.synchronize()?;
//! // `batch.device_ptr()` is now a contiguous NCHW f16 tensor for the model.
//! # Ok(()) }
//! ```

use std::ffi::{c_void, CStr};

use half::f16;

use crate::access::MemorySealed;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::frame::{Frame, FrameView, PixelFormat};
use crate::kernels::reference::Quant;
use crate::kernels::{LaunchConfig, ModuleImage};
use crate::memory::DeviceBuffer;
use crate::stream::Stream;

/// The embedded PTX of `nvdx/kernels/colour.cu` (NUL-terminated).
pub static COLOUR_MODULE: ModuleImage = ModuleImage {
    name: "colour",
    image: concat!(include_str!("../../kernels/ptx/colour.ptx"), "\0").as_bytes(),
};

/// Most frames one tensor launch converts (`NVDX_MAX_BATCH` in the CUDA source); larger batches
/// take several launches.
pub const MAX_BATCH_PER_LAUNCH: usize = 32;

/// Largest width or height accepted by the resampling kernels (their integer position
/// arithmetic stays within 32 bits up to this size).
pub const MAX_RESAMPLE_DIM: u32 = 16384;

const BLOCK: (u32, u32) = (32, 8);

/// The YUV <-> RGB matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColourMatrix {
    /// ITU-R BT.601 (SD): `Kr = 0.299`, `Kb = 0.114`.
    Bt601,
    /// ITU-R BT.709 (HD): `Kr = 0.2126`, `Kb = 0.0722`.
    Bt709,
    /// ITU-R BT.2020 non-constant luminance (UHD): `Kr = 0.2627`, `Kb = 0.0593`.
    Bt2020,
}

/// The quantisation range of Y, U and V.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColourRange {
    /// "TV"/"MPEG" range: Y in 16..=235, chroma in 16..=240 (times 256 for 16-bit samples).
    Limited,
    /// "PC"/"JPEG" range: all codes used.
    Full,
}

/// A matrix and a range: what a conversion between RGB and YUV needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ColourSpace {
    /// The matrix.
    pub matrix: ColourMatrix,
    /// The range.
    pub range: ColourRange,
}

impl ColourSpace {
    /// BT.601, limited range (SD video).
    pub const BT601_LIMITED: ColourSpace =
        ColourSpace::new(ColourMatrix::Bt601, ColourRange::Limited);
    /// BT.601, full range (JPEG).
    pub const BT601_FULL: ColourSpace = ColourSpace::new(ColourMatrix::Bt601, ColourRange::Full);
    /// BT.709, limited range (HD video; the default).
    pub const BT709_LIMITED: ColourSpace =
        ColourSpace::new(ColourMatrix::Bt709, ColourRange::Limited);
    /// BT.709, full range.
    pub const BT709_FULL: ColourSpace = ColourSpace::new(ColourMatrix::Bt709, ColourRange::Full);
    /// BT.2020, limited range (UHD/HDR video).
    pub const BT2020_LIMITED: ColourSpace =
        ColourSpace::new(ColourMatrix::Bt2020, ColourRange::Limited);
    /// BT.2020, full range.
    pub const BT2020_FULL: ColourSpace = ColourSpace::new(ColourMatrix::Bt2020, ColourRange::Full);

    /// A colour space from its parts.
    pub const fn new(matrix: ColourMatrix, range: ColourRange) -> ColourSpace {
        ColourSpace { matrix, range }
    }
}

impl Default for ColourSpace {
    fn default() -> ColourSpace {
        ColourSpace::BT709_LIMITED
    }
}

/// How [`yuv420_to_tensor`] turns YUV into tensor values: the colour space of the source and
/// the per-channel normalisation `(rgb - mean) / std` applied to RGB in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorParams {
    /// Colour space of the 4:2:0 source.
    pub space: ColourSpace,
    /// Per-channel mean (R, G, B).
    pub mean: [f32; 3],
    /// Per-channel standard deviation (R, G, B); must be finite and non-zero.
    pub std: [f32; 3],
}

impl TensorParams {
    /// RGB in `[0, 1]`, BT.709 limited range source.
    pub fn unit() -> TensorParams {
        TensorParams {
            space: ColourSpace::BT709_LIMITED,
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

    /// ImageNet normalisation (mean 0.485, 0.456, 0.406; std 0.229, 0.224, 0.225), BT.709
    /// limited range source.
    pub fn imagenet() -> TensorParams {
        TensorParams {
            space: ColourSpace::BT709_LIMITED,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
        }
    }

    /// CLIP normalisation (mean 0.4815, 0.4578, 0.4082; std 0.2686, 0.2613, 0.2758).
    pub fn clip() -> TensorParams {
        TensorParams {
            space: ColourSpace::BT709_LIMITED,
            mean: [0.481_454_66, 0.457_827_5, 0.408_210_73],
            std: [0.268_629_55, 0.261_302_6, 0.275_777_1],
        }
    }

    /// The same normalisation for a source in `space`.
    pub fn with_space(mut self, space: ColourSpace) -> TensorParams {
        self.space = space;
        self
    }
}

// ---- kernel parameter structs (must match colour.cu) ------------------------------------------

/// `struct RgbToYuv` / `struct YuvToRgb` of colour.cu: `out[k] = m[k] . in + off[k]`, clamped to
/// `[0, maxv]`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// Rows of the matrix.
    pub m: [[f32; 3]; 3],
    /// Offsets.
    pub off: [f32; 3],
    /// Upper clamp of the outputs.
    pub maxv: f32,
}

impl Affine {
    /// The RGB -> YUV map of `space` on raw samples of `bits` bits.
    pub fn rgb_to_yuv(space: ColourSpace, bits: u32) -> Affine {
        let q = Quant::new(space, bits);
        let kg = 1.0 - q.kr - q.kb;
        let ys = q.y_scale / q.max;
        let us = q.c_scale / (2.0 * (1.0 - q.kb) * q.max);
        let vs = q.c_scale / (2.0 * (1.0 - q.kr) * q.max);
        let m = [
            [q.kr * ys, kg * ys, q.kb * ys],
            [-q.kr * us, -kg * us, (1.0 - q.kb) * us],
            [(1.0 - q.kr) * vs, -kg * vs, -q.kb * vs],
        ];
        Affine {
            m: m.map(|r| r.map(|v| v as f32)),
            off: [q.y_off as f32, q.c_off as f32, q.c_off as f32],
            maxv: q.max as f32,
        }
    }

    /// The YUV -> RGB map of `space` on raw samples of `bits` bits, with RGB scaled to
    /// `[0, out_max]` (255 for 8-bit RGB, 1 for tensors).
    pub fn yuv_to_rgb(space: ColourSpace, bits: u32, out_max: f64) -> Affine {
        let q = Quant::new(space, bits);
        let kg = 1.0 - q.kr - q.kb;
        let a = out_max / q.y_scale;
        let c = out_max / q.c_scale;
        let rv = 2.0 * (1.0 - q.kr) * c;
        let bu = 2.0 * (1.0 - q.kb) * c;
        let gu = -2.0 * q.kb * (1.0 - q.kb) / kg * c;
        let gv = -2.0 * q.kr * (1.0 - q.kr) / kg * c;
        let m = [[a, 0.0, rv], [a, gu, gv], [a, bu, 0.0]];
        let off = m.map(|r| -(r[0] * q.y_off + r[1] * q.c_off + r[2] * q.c_off));
        Affine {
            m: m.map(|r| r.map(|v| v as f32)),
            off: off.map(|v| v as f32),
            maxv: out_max as f32,
        }
    }

    /// Evaluates the map in f64, without clamping (for checks against the references).
    pub fn apply(&self, v: [f64; 3]) -> [f64; 3] {
        let mut out = [0.0; 3];
        for (k, o) in out.iter_mut().enumerate() {
            *o = f64::from(self.off[k])
                + (0..3).map(|j| f64::from(self.m[k][j]) * v[j]).sum::<f64>();
        }
        out
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Norm {
    scale: [f32; 3],
    bias: [f32; 3],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct Yuv420Src {
    luma: u64,
    chroma: u64,
    luma_pitch: u32,
    chroma_pitch: u32,
    width: u32,
    height: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Yuv420Batch {
    f: [Yuv420Src; MAX_BATCH_PER_LAUNCH],
}

// ---- raw image and tensor descriptors ---------------------------------------------------------

/// A picture in memory the caller manages: format, size, and where its planes are.
///
/// For packed RGB formats only `ptr` and `pitch` are used. For NV12/P016 the chroma plane is at
/// `chroma_ptr` with `chroma_pitch` (NVDEC surfaces and frames from other libraries may put it
/// elsewhere than right after the luma rows). Addresses are unified virtual addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawImage {
    /// Pixel format.
    pub format: PixelFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// First (or only) plane.
    pub ptr: u64,
    /// Bytes between rows of the first plane.
    pub pitch: usize,
    /// Chroma plane of 4:2:0 formats (ignored otherwise).
    pub chroma_ptr: u64,
    /// Bytes between chroma rows (ignored for non-4:2:0 formats).
    pub chroma_pitch: usize,
}

impl RawImage {
    /// A single-plane picture (packed RGB).
    pub fn packed(
        format: PixelFormat,
        width: u32,
        height: u32,
        ptr: u64,
        pitch: usize,
    ) -> RawImage {
        RawImage {
            format,
            width,
            height,
            ptr,
            pitch,
            chroma_ptr: 0,
            chroma_pitch: 0,
        }
    }

    /// A 4:2:0 picture whose chroma plane follows the luma rows in one allocation
    /// (`chroma = ptr + pitch * height`), the layout of [`Frame`].
    pub fn contiguous_yuv420(
        format: PixelFormat,
        width: u32,
        height: u32,
        ptr: u64,
        pitch: usize,
    ) -> RawImage {
        RawImage {
            format,
            width,
            height,
            ptr,
            pitch,
            chroma_ptr: ptr.wrapping_add(pitch as u64 * u64::from(height)),
            chroma_pitch: pitch,
        }
    }

    /// The descriptor of a frame view (its addresses are only borrowed: pass it to a `_raw`
    /// function only while the view is alive and its work ordered).
    pub fn of(frame: &(impl FrameView + ?Sized)) -> RawImage {
        RawImage {
            format: frame.format(),
            width: frame.width(),
            height: frame.height(),
            ptr: frame.device_ptr(),
            pitch: frame.pitch(),
            chroma_ptr: frame.chroma_ptr(),
            chroma_pitch: frame.pitch(),
        }
    }
}

/// Element type of a [`Tensor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorDtype {
    /// IEEE binary32.
    F32,
    /// IEEE binary16 (`half::f16`), rounded to nearest even.
    F16,
}

impl TensorDtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            TensorDtype::F32 => 4,
            TensorDtype::F16 => 2,
        }
    }
}

/// Where a caller-managed `N x 3 x H x W` tensor lives (contiguous, NCHW).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawTensor {
    /// Address of element (0, 0, 0, 0); aligned to the element size.
    pub ptr: u64,
    /// N.
    pub batch: usize,
    /// H.
    pub height: u32,
    /// W.
    pub width: u32,
    /// Element type.
    pub dtype: TensorDtype,
}

impl RawTensor {
    /// Bytes of one slot (`3 * H * W` elements).
    pub fn slot_bytes(&self) -> usize {
        3 * self.height as usize * self.width as usize * self.dtype.size()
    }
}

/// A contiguous `N x 3 x H x W` (NCHW) f32 or f16 tensor in device memory: the destination of
/// [`yuv420_to_tensor`]. Slot `i` is image `i` of the batch.
///
/// ```no_run
/// # fn main() -> nvdx::Result<()> {
/// use nvdx::kernels::colour::{Tensor, TensorDtype};
/// let ctx = nvdx::Context::primary(0)?;
/// let t = Tensor::new(&ctx, 8, 448, 448, TensorDtype::F16)?;
/// assert_eq!(t.shape(), [8, 3, 448, 448]);
/// assert_eq!(t.slot_ptr(1)?, t.device_ptr() + 3 * 448 * 448 * 2);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Tensor {
    buf: DeviceBuffer,
    raw: RawTensor,
}

impl Tensor {
    /// Allocates an uninitialised tensor.
    pub fn new(
        ctx: &Context,
        batch: usize,
        height: u32,
        width: u32,
        dtype: TensorDtype,
    ) -> Result<Tensor> {
        let bytes = tensor_bytes(batch, height, width, dtype)?;
        let buf = DeviceBuffer::new(ctx, bytes)?;
        let raw = RawTensor {
            ptr: buf.device_ptr(),
            batch,
            height,
            width,
            dtype,
        };
        Ok(Tensor { buf, raw })
    }

    /// `[N, 3, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        [
            self.raw.batch,
            3,
            self.raw.height as usize,
            self.raw.width as usize,
        ]
    }
    /// N.
    pub fn batch(&self) -> usize {
        self.raw.batch
    }
    /// H.
    pub fn height(&self) -> u32 {
        self.raw.height
    }
    /// W.
    pub fn width(&self) -> u32 {
        self.raw.width
    }
    /// Element type.
    pub fn dtype(&self) -> TensorDtype {
        self.raw.dtype
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.raw.batch * 3 * self.raw.height as usize * self.raw.width as usize
    }
    /// Always false: empty tensors cannot be created.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Bytes of one slot.
    pub fn slot_bytes(&self) -> usize {
        self.raw.slot_bytes()
    }
    /// Address of element (0, 0, 0, 0).
    pub fn device_ptr(&self) -> u64 {
        self.raw.ptr
    }
    /// Address of slot `i`.
    pub fn slot_ptr(&self, i: usize) -> Result<u64> {
        if i >= self.raw.batch {
            return Err(Error::InvalidArgument(format!(
                "tensor slot {i} out of range for a batch of {}",
                self.raw.batch
            )));
        }
        Ok(self.raw.ptr + (i * self.slot_bytes()) as u64)
    }
    /// The descriptor, for the `_raw` functions.
    pub fn raw(&self) -> RawTensor {
        self.raw
    }
    /// The underlying buffer.
    pub fn buffer(&self) -> &DeviceBuffer {
        &self.buf
    }
    /// The underlying buffer, mutably (e.g. to poison or clear it).
    pub fn buffer_mut(&mut self) -> &mut DeviceBuffer {
        &mut self.buf
    }
    /// Downloads the whole tensor as f32 (f16 elements are widened); synchronous.
    pub fn to_host_f32(&self) -> Result<Vec<f32>> {
        let mut bytes = vec![0u8; self.buf.len()];
        self.buf.copy_to_host(&mut bytes)?;
        Ok(decode_elements(&bytes, self.raw.dtype))
    }
}

/// Little-endian tensor bytes to f32 values.
pub fn decode_elements(bytes: &[u8], dtype: TensorDtype) -> Vec<f32> {
    match dtype {
        TensorDtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        TensorDtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
    }
}

fn tensor_bytes(batch: usize, height: u32, width: u32, dtype: TensorDtype) -> Result<usize> {
    if batch == 0 || height == 0 || width == 0 {
        return Err(Error::InvalidArgument(format!(
            "tensor shape [{batch}, 3, {height}, {width}] is empty"
        )));
    }
    if height > MAX_RESAMPLE_DIM || width > MAX_RESAMPLE_DIM {
        return Err(Error::InvalidArgument(format!(
            "tensor size {width}x{height} exceeds {MAX_RESAMPLE_DIM}x{MAX_RESAMPLE_DIM}"
        )));
    }
    batch
        .checked_mul(3 * height as usize * width as usize * dtype.size())
        .ok_or_else(|| Error::InvalidArgument(format!("tensor of {batch} slots is too large")))
}

// ---- validation (pure, no driver calls) -------------------------------------------------------

fn bad(msg: String) -> Error {
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

fn is_vec4(vals: &[u64]) -> bool {
    vals.iter().all(|v| v % 4 == 0)
}

/// What [`rgb_to_yuv420`] launches, once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RgbToYuvPlan {
    /// Kernel name.
    pub kernel: &'static CStr,
    /// Bits per sample.
    pub bits: u32,
    /// Whether the 32-bit load/store path is allowed.
    pub vec4: bool,
    /// Launch geometry.
    pub config: LaunchConfig,
}

/// Validates an RGB -> 4:2:0 conversion without touching the GPU.
pub fn plan_rgb_to_yuv420(src: &RawImage, dst: &RawImage) -> Result<RgbToYuvPlan> {
    let kernel = match (src.format, dst.format) {
        (PixelFormat::Rgb24, PixelFormat::Nv12) => c"rgb24_to_nv12",
        (PixelFormat::Bgr24, PixelFormat::Nv12) => c"bgr24_to_nv12",
        (PixelFormat::Rgba, PixelFormat::Nv12) => c"rgba_to_nv12",
        (PixelFormat::Bgra, PixelFormat::Nv12) => c"bgra_to_nv12",
        (PixelFormat::Rgb48, PixelFormat::P016) => c"rgb48_to_p016",
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
    let vec4 = is_vec4(&[
        src.ptr,
        src.pitch as u64,
        dst.ptr,
        dst.pitch as u64,
        dst.chroma_ptr,
        dst.chroma_pitch as u64,
    ]);
    Ok(RgbToYuvPlan {
        kernel,
        bits,
        vec4,
        config: LaunchConfig::for_2d(src.width.div_ceil(4), src.height / 2, BLOCK),
    })
}

/// Validates a 4:2:0 -> RGB conversion without touching the GPU; same plan type.
pub fn plan_yuv420_to_rgb(src: &RawImage, dst: &RawImage) -> Result<RgbToYuvPlan> {
    let kernel = match (src.format, dst.format) {
        (PixelFormat::Nv12, PixelFormat::Rgb24) => c"nv12_to_rgb24",
        (PixelFormat::Nv12, PixelFormat::Bgr24) => c"nv12_to_bgr24",
        (PixelFormat::Nv12, PixelFormat::Rgba) => c"nv12_to_rgba",
        (PixelFormat::Nv12, PixelFormat::Bgra) => c"nv12_to_bgra",
        (PixelFormat::P016, PixelFormat::Rgb24) => c"p016_to_rgb24",
        (PixelFormat::P016, PixelFormat::Bgr24) => c"p016_to_bgr24",
        (PixelFormat::P016, PixelFormat::Rgba) => c"p016_to_rgba",
        (PixelFormat::P016, PixelFormat::Bgra) => c"p016_to_bgra",
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
    let vec4 = is_vec4(&[dst.ptr, dst.pitch as u64]);
    Ok(RgbToYuvPlan {
        kernel,
        bits,
        vec4,
        config: LaunchConfig::for_2d(src.width.div_ceil(4), src.height / 2, BLOCK),
    })
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

// ---- launches ---------------------------------------------------------------------------------

fn function(stream: &Stream, name: &CStr) -> Result<crate::kernels::Function> {
    stream.context().module(&COLOUR_MODULE)?.function(name)
}

fn yuv420_src(s: &RawImage) -> Yuv420Src {
    Yuv420Src {
        luma: s.ptr,
        chroma: s.chroma_ptr,
        // Validated to fit in u32 by check_plane.
        luma_pitch: s.pitch as u32,
        chroma_pitch: s.chroma_pitch as u32,
        width: s.width,
        height: s.height,
    }
}

fn norm(p: &TensorParams) -> Norm {
    Norm {
        scale: p.std.map(|s| 1.0 / s),
        bias: [0, 1, 2].map(|c| -p.mean[c] / p.std[c]),
    }
}

macro_rules! arg {
    ($v:expr) => {
        (&mut $v) as *mut _ as *mut c_void
    };
}

/// Converts packed RGB to 4:2:0 in memory the caller manages; see [`rgb_to_yuv420`].
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
    let mut vec = i32::from(plan.vec4);
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
    // int, RgbToYuv, int)` in order and type (Affine is repr(C) like RgbToYuv); the planes were
    // validated to hold width x height samples at their pitches and the caller guarantees they
    // are live and unaliased until the stream has run the kernel.
    unsafe { f.launch(plan.config, stream, &mut params) }
}

/// Converts 4:2:0 to packed 8-bit RGB in memory the caller manages; see [`yuv420_to_rgb`].
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
    let mut vec = i32::from(plan.vec4);
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
    // int, YuvToRgb, int)`; validated geometry; the caller guarantees liveness and no aliasing.
    unsafe { f.launch(plan.config, stream, &mut params) }
}

/// Converts 4:2:0 frames into consecutive slots `first_slot..` of a caller-managed tensor, one
/// launch per [`MAX_BATCH_PER_LAUNCH`] frames; see [`yuv420_to_tensor_batch`]. A single source
/// uses the single-frame kernel.
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
    if let [one] = srcs {
        let f = function(stream, kernel)?;
        let mut s = yuv420_src(one);
        let mut out = dst.ptr + (first_slot * dst.slot_bytes()) as u64;
        let mut p = [arg!(s), arg!(out), arg!(dw), arg!(dh), arg!(k), arg!(nm)];
        let cfg = LaunchConfig::for_2d(dst.width, dst.height, BLOCK);
        // SAFETY: parameters match `name(Yuv420Src, u8*, int, int, YuvToRgb, Norm)`; the slot
        // was checked to lie inside the tensor; the caller guarantees liveness.
        return unsafe { f.launch(cfg, stream, &mut p) };
    }
    let name =
        CStr::from_bytes_until_nul(format!("{}_batch\0", kernel.to_string_lossy()).as_bytes())
            .map_err(|e| Error::InvalidArgument(e.to_string()))?
            .to_owned();
    let f = function(stream, &name)?;
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
        let mut cfg = LaunchConfig::for_2d(dst.width, dst.height, BLOCK);
        cfg.grid.2 = chunk.len() as u32;
        // SAFETY: parameters match `name_batch(Yuv420Batch, u8*, int, int, YuvToRgb, Norm)`
        // (Yuv420Batch is repr(C), 32 descriptors); blockIdx.z < chunk.len() only reads filled
        // descriptors; slots slot..slot + chunk.len() were checked to lie in the tensor.
        unsafe { f.launch(cfg, stream, &mut p)? };
    }
    Ok(())
}

/// Converts one 4:2:0 frame into slot `slot` of a caller-managed tensor; see
/// [`yuv420_to_tensor`].
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

/// Resizes a 4:2:0 picture in caller-managed memory; see [`resize_yuv420`].
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
/// [`rgb_to_yuv420`] instead.
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

// ---- safe API ----------------------------------------------------------------------------------
//
// Each wrapper runs its launch through the allocations' tracking (`access::ordered`): the
// stream waits for the sources' last writes and for every pending use of the destination, and
// records the launch on all of them. Dropping a frame right after a launch is therefore safe
// (its free waits for the kernel) and costs no host synchronisation.

/// Launches `op` on `stream`, ordered after the conflicting work on the sources (`reads`) and
/// the destination (`write`), and recorded on them.
fn tracked<R>(
    stream: &Stream,
    reads: &[&crate::access::Access],
    write: &crate::access::Access,
    op: impl FnOnce() -> Result<R>,
) -> Result<R> {
    let mut result = None;
    crate::access::ordered(stream.tracking_ref(), reads, &[write], || {
        result = Some(op()?);
        Ok(())
    })?;
    result.ok_or_else(|| Error::InvalidState("launch produced no result".into()))
}

fn access_of<F: FrameView + ?Sized>(f: &F) -> &crate::access::Access {
    f.frame_parts().mem.access
}

fn check_context<F: FrameView + ?Sized>(stream: &Stream, what: &F) -> Result<()> {
    if what.context() != stream.context() {
        return Err(Error::InvalidArgument(format!(
            "a frame of GPU {} cannot be processed on a stream of GPU {}: transfer it first \
             (nvdx::xfer)",
            what.context().device().ordinal(),
            stream.context().device().ordinal()
        )));
    }
    Ok(())
}

/// Converts packed RGB to 4:2:0: `Rgb24`/`Bgr24`/`Rgba`/`Bgra` into `Nv12`, `Rgb48` into `P016`
/// (alpha is ignored). Chroma comes from the average of each 2x2 block. Same size in and out.
///
/// Enqueued on `stream`, ordered after the pending work on both frames (any stream); either
/// may be dropped right after the call. `src` and `dst` cannot be the same frame:
///
/// ```compile_fail
/// # use nvdx::kernels::colour::{rgb_to_yuv420, ColourSpace};
/// # fn f(frame: &mut nvdx::Frame, s: &nvdx::Stream) -> nvdx::Result<()> {
/// rgb_to_yuv420(frame, frame, ColourSpace::BT709_LIMITED, s)?; // error: `*frame` borrowed twice
/// # Ok(()) }
/// ```
pub fn rgb_to_yuv420(
    src: &impl FrameView,
    dst: &mut Frame,
    space: ColourSpace,
    stream: &Stream,
) -> Result<()> {
    check_context(stream, src)?;
    check_context(stream, dst)?;
    let (s, d) = (RawImage::of(src), RawImage::of(dst));
    tracked(stream, &[access_of(src)], dst.mem().access, || {
        // SAFETY: both views own (or borrow for the call) allocations matching their
        // descriptors; `dst` is borrowed mutably so it cannot be `src`; the tracking keeps
        // both allocations alive and unmodified until the stream has run the kernel.
        unsafe { rgb_to_yuv420_raw(&s, &d, space, stream) }
    })
}

/// Converts `Nv12` or `P016` to packed 8-bit `Rgb24`, `Bgr24`, `Rgba` or `Bgra` (alpha 255), with
/// bilinear chroma upsampling. Same size in and out. Ordered like [`rgb_to_yuv420`].
pub fn yuv420_to_rgb(
    src: &impl FrameView,
    dst: &mut Frame,
    space: ColourSpace,
    stream: &Stream,
) -> Result<()> {
    check_context(stream, src)?;
    check_context(stream, dst)?;
    let (s, d) = (RawImage::of(src), RawImage::of(dst));
    tracked(stream, &[access_of(src)], dst.mem().access, || {
        // SAFETY: as in rgb_to_yuv420.
        unsafe { yuv420_to_rgb_raw(&s, &d, space, stream) }
    })
}

/// Converts an `Nv12` or `P016` frame into slot `slot` of `dst`: bilinear resize to the tensor's
/// `H x W`, conversion to RGB in `[0, 1]`, then `(rgb - mean) / std`, stored as planar R, G, B.
/// Ordered like [`rgb_to_yuv420`].
pub fn yuv420_to_tensor(
    src: &impl FrameView,
    dst: &mut Tensor,
    slot: usize,
    params: &TensorParams,
    stream: &Stream,
) -> Result<()> {
    yuv420_to_tensor_batch(&[src], dst, slot, params, stream)
}

/// [`yuv420_to_tensor`] for several frames (of one format, any sizes) into slots
/// `first_slot..first_slot + srcs.len()`, in one launch per 32 frames (`blockIdx.z` = frame).
/// Allocates nothing on the host.
pub fn yuv420_to_tensor_batch<F: FrameView + ?Sized>(
    srcs: &[&F],
    dst: &mut Tensor,
    first_slot: usize,
    params: &TensorParams,
    stream: &Stream,
) -> Result<()> {
    if dst.buffer().context() != stream.context() {
        return Err(Error::InvalidArgument(
            "the tensor and the stream belong to different GPUs".into(),
        ));
    }
    let raw_tensor = dst.raw();
    for (chunk_index, chunk) in srcs.chunks(MAX_BATCH_PER_LAUNCH).enumerate() {
        let mut raws = [RawImage::packed(PixelFormat::Nv12, 0, 0, 0, 0); MAX_BATCH_PER_LAUNCH];
        for (r, f) in raws.iter_mut().zip(chunk) {
            check_context(stream, *f)?;
            *r = RawImage::of(*f);
        }
        let slot = first_slot + chunk_index * MAX_BATCH_PER_LAUNCH;
        let access = dst.buffer().mem().access;
        let reads: [&crate::access::Access; MAX_BATCH_PER_LAUNCH] =
            std::array::from_fn(|i| chunk.get(i).map_or(access, |f| access_of(*f)));
        tracked(stream, &reads[..chunk.len()], access, || {
            // SAFETY: the views' descriptors describe live allocations, kept alive and
            // unmodified until the kernel has run by the tracking; the tensor owns
            // batch * 3 * H * W elements (the plan checks the slots).
            unsafe {
                yuv420_to_tensor_batch_raw(&raws[..chunk.len()], &raw_tensor, slot, params, stream)
            }
        })?;
    }
    Ok(())
}

/// Writers of one tensor's slots from several streams at once (the sampler's sessions, one
/// thread and stream each), without serialising the streams on each other.
///
/// Each stream's writer first waits for the tensor's pending uses; each slot is written at most
/// once (so concurrent writers never touch the same bytes); [`SlotWriter::finish`] makes the
/// caller's stream wait for every writer and records the whole as the tensor's last write. If
/// it is dropped unfinished (an error path), it waits on the host for the writers' work.
pub(crate) struct SlotWriter<'a> {
    raw: RawTensor,
    access: &'a crate::access::Access,
    ctx: &'a Context,
    claimed: std::sync::Mutex<Vec<bool>>,
    joins: std::sync::Mutex<Vec<crate::stream::Event>>,
    finished: bool,
}

impl<'a> SlotWriter<'a> {
    pub(crate) fn new(tensor: &'a mut Tensor) -> SlotWriter<'a> {
        let raw = tensor.raw;
        let mem = tensor.buf.mem();
        SlotWriter {
            raw,
            access: mem.access,
            ctx: mem.ctx,
            claimed: std::sync::Mutex::new(vec![false; raw.batch]),
            joins: std::sync::Mutex::new(Vec::new()),
            finished: false,
        }
    }

    /// A writer on `stream` (of the tensor's GPU), ordered after the tensor's pending uses.
    pub(crate) fn on<'s>(&'s self, stream: &'s Stream) -> Result<SlotStream<'s>> {
        if stream.context() != self.ctx {
            return Err(Error::InvalidArgument(
                "the tensor and the stream belong to different GPUs".into(),
            ));
        }
        let join = crate::stream::Event::new_sync_only(self.ctx)?;
        self.access.before_write(stream.tracking_ref())?;
        Ok(SlotStream {
            writer: self,
            stream,
            join: Some(join),
        })
    }

    /// Makes `stream` wait for every writer (all dropped by now: they borrow `self`) and
    /// records that point as the tensor's last write.
    pub(crate) fn finish(mut self, stream: &Stream) -> Result<()> {
        let joins = std::mem::take(
            &mut *self
                .joins
                .lock()
                .map_err(|_| Error::InvalidState("tensor writers poisoned".into()))?,
        );
        for e in &joins {
            stream.wait_event(e)?;
        }
        self.access.after_write(stream.tracking_ref())?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for SlotWriter<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Ok(joins) = self.joins.lock() {
            for e in joins.iter() {
                let _ = e.synchronize();
            }
        }
    }
}

/// One stream's writer of a [`SlotWriter`]'s tensor.
pub(crate) struct SlotStream<'s> {
    writer: &'s SlotWriter<'s>,
    stream: &'s Stream,
    join: Option<crate::stream::Event>,
}

impl SlotStream<'_> {
    /// Converts `src` into slot `slot` (see [`yuv420_to_tensor`]) on this writer's stream.
    pub(crate) fn write<F: FrameView + ?Sized>(
        &self,
        src: &F,
        slot: usize,
        params: &TensorParams,
    ) -> Result<()> {
        check_context(self.stream, src)?;
        {
            let mut claimed = self
                .writer
                .claimed
                .lock()
                .map_err(|_| Error::InvalidState("tensor writers poisoned".into()))?;
            match claimed.get_mut(slot) {
                Some(c) if !*c => *c = true,
                Some(_) => {
                    return Err(Error::InvalidArgument(format!(
                        "tensor slot {slot} is written twice in one request"
                    )))
                }
                None => {
                    return Err(Error::InvalidArgument(format!(
                        "slot {slot} is outside the tensor's batch of {}",
                        self.writer.raw.batch
                    )))
                }
            }
        }
        let s = RawImage::of(src);
        let raw = self.writer.raw;
        let access = src.frame_parts().mem.access;
        crate::access::ordered(self.stream.tracking_ref(), &[access], &[], || {
            // SAFETY: `src` describes a live allocation whose tracking orders this read; the
            // tensor is borrowed mutably by the SlotWriter for the whole request, this slot is
            // written by no other launch (claimed above), the stream waited for the tensor's
            // pending uses, and the SlotWriter joins this stream before the tensor is used
            // again (or waits on the host when dropped unfinished).
            unsafe { yuv420_to_tensor_raw(&s, &raw, slot, params, self.stream) }
        })
    }
}

impl Drop for SlotStream<'_> {
    fn drop(&mut self) {
        let Some(join) = self.join.take() else { return };
        if join.record(self.stream).is_err() {
            let _ = self.stream.synchronize();
            return;
        }
        match self.writer.joins.lock() {
            Ok(mut j) => j.push(join),
            Err(_) => {
                let _ = self.stream.synchronize();
            }
        }
    }
}

/// Resizes an `Nv12` (or `P016`) frame into `dst` of the same format and any even size,
/// bilinearly, each plane at its own resolution (e.g. to feed an encoder at another size).
/// Ordered like [`rgb_to_yuv420`].
pub fn resize_yuv420(src: &impl FrameView, dst: &mut Frame, stream: &Stream) -> Result<()> {
    check_context(stream, src)?;
    check_context(stream, dst)?;
    let (s, d) = (RawImage::of(src), RawImage::of(dst));
    tracked(stream, &[access_of(src)], dst.mem().access, || {
        // SAFETY: as in rgb_to_yuv420.
        unsafe { resize_yuv420_raw(&s, &d, stream) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::{rgb_to_yuv_f64, yuv_to_rgb_f64};

    fn header_field<'a>(key: &str) -> &'a str {
        let text = std::str::from_utf8(COLOUR_MODULE.image).unwrap();
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {key} in the embedded PTX"))
    }

    /// The driver floor documented above: PTX ISA <= 8.1 (driver >= 530), target <= sm_70.
    #[test]
    fn embedded_ptx_meets_driver_floor() {
        assert_eq!(COLOUR_MODULE.image.last(), Some(&0));
        assert_eq!(COLOUR_MODULE.image.iter().filter(|&&b| b == 0).count(), 1);
        let v = header_field(".version");
        let (maj, min) = v.split_once('.').unwrap();
        let (maj, min): (u32, u32) = (maj.parse().unwrap(), min.parse().unwrap());
        assert!(
            (maj, min) <= (8, 1),
            "PTX ISA {v} needs a driver newer than 530"
        );
        let t = header_field(".target");
        let sm: u32 = t.strip_prefix("sm_").unwrap().parse().unwrap();
        assert!(sm <= 70, "target {t} excludes Volta");
        assert_eq!(header_field(".address_size"), "64");
    }

    #[test]
    fn every_kernel_is_in_the_ptx() {
        let text = std::str::from_utf8(COLOUR_MODULE.image).unwrap();
        let mut names: Vec<String> = vec!["rgb24_to_nv12_naive".into()];
        for s in ["rgb24", "bgr24", "rgba", "bgra"] {
            names.push(format!("{s}_to_nv12"));
            names.push(format!("nv12_to_{s}"));
            names.push(format!("p016_to_{s}"));
        }
        names.push("rgb48_to_p016".into());
        for s in ["nv12", "p016"] {
            names.push(format!("{s}_resize"));
            for t in ["f32", "f16"] {
                names.push(format!("{s}_to_planar_{t}"));
                names.push(format!("{s}_to_planar_{t}_batch"));
            }
        }
        for n in names {
            assert!(text.contains(&format!(".entry {n}(")), "kernel {n} missing");
        }
    }

    #[test]
    fn param_struct_sizes_match_cuda() {
        assert_eq!(std::mem::size_of::<Affine>(), 52);
        assert_eq!(std::mem::size_of::<Norm>(), 24);
        assert_eq!(std::mem::size_of::<Yuv420Src>(), 32);
        assert_eq!(std::mem::size_of::<Yuv420Batch>(), 32 * 32);
    }

    const SPACES: [ColourSpace; 6] = [
        ColourSpace::BT601_LIMITED,
        ColourSpace::BT601_FULL,
        ColourSpace::BT709_LIMITED,
        ColourSpace::BT709_FULL,
        ColourSpace::BT2020_LIMITED,
        ColourSpace::BT2020_FULL,
    ];

    #[test]
    fn kernel_coefficients_match_the_reference() {
        for s in SPACES {
            for bits in [8u32, 16] {
                let m = f64::from((1u32 << bits) - 1);
                let fwd = Affine::rgb_to_yuv(s, bits);
                let inv = Affine::yuv_to_rgb(s, bits, 255.0);
                for rgb in [
                    [0.0, 0.0, 0.0],
                    [m, m, m],
                    [0.1 * m, 0.7 * m, 0.4 * m],
                    [m, 0.0, 0.5 * m],
                ] {
                    let want = rgb_to_yuv_f64(s, bits, rgb);
                    let got = fwd.apply(rgb);
                    for c in 0..3 {
                        // f32 coefficients: relative error ~1e-7 of the full scale.
                        assert!((got[c] - want[c]).abs() < 1e-5 * m, "{s:?} {bits} {rgb:?}");
                    }
                    let want = yuv_to_rgb_f64(s, bits, want).map(|v| 255.0 * v);
                    let got = inv.apply(rgb_to_yuv_f64(s, bits, rgb));
                    for c in 0..3 {
                        assert!((got[c] - want[c]).abs() < 1e-3, "{s:?} {bits} {rgb:?}");
                    }
                }
            }
        }
    }

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
        assert_eq!(p.kernel, c"rgb24_to_nv12");
        assert!(p.vec4);
        assert_eq!(p.config.grid, (15, 68, 1));
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
        assert!(!p.vec4, "odd pitch must take the byte path");
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

    #[test]
    fn tensor_helpers() {
        assert_eq!(tensor(2, TensorDtype::F16).slot_bytes(), 3 * 448 * 448 * 2);
        let bytes = [0x00, 0x3c, 0x00, 0xc0];
        assert_eq!(decode_elements(&bytes, TensorDtype::F16), vec![1.0, -2.0]);
        assert_eq!(
            decode_elements(&1.5f32.to_le_bytes(), TensorDtype::F32),
            vec![1.5]
        );
        let n = norm(&TensorParams::imagenet());
        assert!(
            (n.scale[0] - 1.0 / 0.229).abs() < 1e-5 && (n.bias[2] + 0.406 / 0.225).abs() < 1e-5
        );
    }
}
