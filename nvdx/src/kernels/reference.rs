//! CPU reference implementations (plain Rust, f64) of every conversion in [`super::colour`],
//! and the comparison helpers the GPU tests use.
//!
//! These functions *define* what the kernels compute; the kernels match them within 1 LSB for
//! integer outputs and within [`FLOAT_REL_TOL`] / [`FLOAT_ABS_TOL`] for tensors. Conventions:
//!
//! - **Quantisation** (`n` = 8 or 16 bits, `M = 2^n - 1`, `s = 2^(n-8)`): RGB samples are
//!   `R' = R / M`. `Y' = Kr R' + Kg G' + Kb B'`, `Pb = (B' - Y') / (2 (1 - Kb))`,
//!   `Pr = (R' - Y') / (2 (1 - Kr))`. Limited range: `Y = (16 + 219 Y') s`,
//!   `C = (128 + 224 P) s`; full range: `Y = M Y'`, `C = 2^(n-1) + M P`. Results are clamped to
//!   `[0, M]` and rounded to nearest. YUV -> RGB inverts these maps exactly.
//! - **Chroma subsampling**: the chroma of each 2x2 block comes from the block's average RGB;
//!   chroma is therefore centre-sited, at luma position `(2i + 0.5, 2j + 0.5)`.
//! - **Chroma upsampling** (NV12 -> RGB): bilinear at chroma position `x / 2 - 0.25`
//!   (weights 3/4 and 1/4), clamp to edge.
//! - **Resampling** (tensor, resize): bilinear, `align_corners = false`: output pixel `x` of
//!   `dw` reads the source plane at `(x + 0.5) * sw / dw - 0.5`, clamped to `[0, n - 1]` (clamp
//!   to edge); no antialiasing filter when downscaling (like PyTorch's default
//!   `interpolate(mode="bilinear", antialias=False)`).
//! - **Tensor**: Y, U and V are interpolated first (chroma at position
//!   `(x + 0.5) * sw / dw / 2 - 0.5` of the chroma plane), then converted to RGB, clamped to
//!   `[0, 1]`, then normalised: `(c - mean[c]) / std[c]`.

use crate::colour::ColourSpace;
pub use crate::colour::Quant;
use crate::error::{Error, Result};
use crate::frame::PixelFormat;
use crate::kernels::colour::TensorParams;

/// Relative tolerance of f32/f16 tensor outputs against the reference.
pub const FLOAT_REL_TOL: f64 = 1e-3;
/// Absolute tolerance of tensor outputs, which applies near 0: an element passes if
/// `|gpu - ref| <= max(FLOAT_REL_TOL * |ref|, FLOAT_ABS_TOL)`.
pub const FLOAT_ABS_TOL: f64 = 1e-3;

/// Largest per-channel error (8-bit LSB) of an RGB24 -> NV12 -> RGB24 round trip on
/// [`smooth_rgb`] pictures: chroma subsampling and re-interpolation of slowly varying colour,
/// plus two roundings.
pub const ROUND_TRIP_TOL: f64 = 6.0;

/// An integer sample type of a frame: `u8` (NV12, RGB24...) or `u16` (P016, RGB48).
pub trait Sample: Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// Bits per sample.
    const BITS: u32;
    /// The value as f64.
    fn to_f64(self) -> f64;
    /// Clamps to the type's range and rounds to nearest.
    fn from_f64(v: f64) -> Self;
    /// Appends the little-endian bytes (the layout of a frame in GPU memory).
    fn push_le(self, out: &mut Vec<u8>);
    /// Reads one sample from little-endian bytes (`bytes.len() == BITS / 8`).
    fn from_le(bytes: &[u8]) -> Self;
}

impl Sample for u8 {
    const BITS: u32 = 8;
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> u8 {
        v.clamp(0.0, 255.0).round() as u8
    }
    fn push_le(self, out: &mut Vec<u8>) {
        out.push(self);
    }
    fn from_le(bytes: &[u8]) -> u8 {
        bytes.first().copied().unwrap_or(0)
    }
}

impl Sample for u16 {
    const BITS: u32 = 16;
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(v: f64) -> u16 {
        v.clamp(0.0, 65535.0).round() as u16
    }
    fn push_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    fn from_le(bytes: &[u8]) -> u16 {
        match bytes {
            [a, b, ..] => u16::from_le_bytes([*a, *b]),
            _ => 0,
        }
    }
}

/// RGB sample values (`0..=M`) to unrounded, unclamped Y, U, V sample values.
pub fn rgb_to_yuv_f64(space: ColourSpace, bits: u32, rgb: [f64; 3]) -> [f64; 3] {
    let q = Quant::new(space, bits);
    let [r, g, b] = rgb.map(|v| v / q.max);
    let kg = 1.0 - q.kr - q.kb;
    let y = q.kr * r + kg * g + q.kb * b;
    let pb = (b - y) / (2.0 * (1.0 - q.kb));
    let pr = (r - y) / (2.0 * (1.0 - q.kr));
    [
        q.y_off + q.y_scale * y,
        q.c_off + q.c_scale * pb,
        q.c_off + q.c_scale * pr,
    ]
}

/// Y, U, V sample values to unclamped RGB in `[0, 1]` units.
pub fn yuv_to_rgb_f64(space: ColourSpace, bits: u32, yuv: [f64; 3]) -> [f64; 3] {
    let q = Quant::new(space, bits);
    let y = (yuv[0] - q.y_off) / q.y_scale;
    let pb = (yuv[1] - q.c_off) / q.c_scale;
    let pr = (yuv[2] - q.c_off) / q.c_scale;
    let kg = 1.0 - q.kr - q.kb;
    let r = y + 2.0 * (1.0 - q.kr) * pr;
    let b = y + 2.0 * (1.0 - q.kb) * pb;
    let g = (y - q.kr * r - q.kb * b) / kg;
    [r, g, b]
}

/// Where R, G and B sit in a packed RGB pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedRgb {
    /// Samples per pixel (3 or 4).
    pub channels: usize,
    /// Index of red.
    pub r: usize,
    /// Index of blue (green is always 1).
    pub b: usize,
    /// Bits per sample (8 or 16).
    pub bits: u32,
}

impl PackedRgb {
    /// The layout of a packed RGB format; `InvalidArgument` for any other format.
    pub fn of(format: PixelFormat) -> Result<PackedRgb> {
        let (channels, r, b, bits) = match format {
            PixelFormat::Rgb24 => (3, 0, 2, 8),
            PixelFormat::Bgr24 => (3, 2, 0, 8),
            PixelFormat::Rgba => (4, 0, 2, 8),
            PixelFormat::Bgra => (4, 2, 0, 8),
            PixelFormat::Rgb48 => (3, 0, 2, 16),
            other => {
                return Err(Error::InvalidArgument(format!(
                    "{other:?} is not a packed RGB format (Rgb24, Bgr24, Rgba, Bgra, Rgb48)"
                )))
            }
        };
        Ok(PackedRgb {
            channels,
            r,
            b,
            bits,
        })
    }
}

/// A tightly packed 4:2:0 picture on the host: `y` is `width * height` samples, `uv` is
/// `height / 2` rows of `width` interleaved U, V samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Yuv420<T> {
    /// Width in pixels (even).
    pub width: usize,
    /// Height in pixels (even).
    pub height: usize,
    /// Luma.
    pub y: Vec<T>,
    /// Interleaved chroma.
    pub uv: Vec<T>,
}

impl<T: Sample> Yuv420<T> {
    /// Splits tightly packed frame bytes (the layout of [`crate::FrameView::copy_to_host`] and of a
    /// raw `.yuv` file) into planes.
    pub fn from_tight_bytes(width: usize, height: usize, bytes: &[u8]) -> Result<Yuv420<T>> {
        let ss = (T::BITS / 8) as usize;
        let need = width * height * 3 / 2 * ss;
        if width % 2 != 0 || height % 2 != 0 || bytes.len() != need {
            return Err(Error::InvalidArgument(format!(
                "{width}x{height} 4:2:0 at {ss} bytes per sample needs {need} bytes and an even size, got {}",
                bytes.len()
            )));
        }
        let samples: Vec<T> = bytes.chunks_exact(ss).map(T::from_le).collect();
        let (y, uv) = samples.split_at(width * height);
        Ok(Yuv420 {
            width,
            height,
            y: y.to_vec(),
            uv: uv.to_vec(),
        })
    }

    /// The tightly packed frame bytes (luma rows, then chroma rows, little endian).
    pub fn to_tight_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity((self.y.len() + self.uv.len()) * (T::BITS / 8) as usize);
        for v in self.y.iter().chain(&self.uv) {
            v.push_le(&mut out);
        }
        out
    }

    fn luma(&self, x: usize, y: usize) -> f64 {
        self.y[y * self.width + x].to_f64()
    }

    fn chroma(&self, cx: usize, cy: usize, c: usize) -> f64 {
        self.uv[cy * self.width + 2 * cx + c].to_f64()
    }
}

fn check_size(width: usize, height: usize, len: usize, per_pixel: usize) -> Result<()> {
    if width == 0 || height == 0 || width % 2 != 0 || height % 2 != 0 {
        return Err(Error::InvalidArgument(format!(
            "4:2:0 needs a non-empty even size, got {width}x{height}"
        )));
    }
    if len != width * height * per_pixel {
        return Err(Error::InvalidArgument(format!(
            "{width}x{height} with {per_pixel} samples per pixel needs {} samples, got {len}",
            width * height * per_pixel
        )));
    }
    Ok(())
}

/// Packed RGB (tightly packed samples, layout `fmt`) to 4:2:0.
pub fn rgb_to_yuv420<T: Sample>(
    rgb: &[T],
    fmt: PackedRgb,
    width: usize,
    height: usize,
    space: ColourSpace,
) -> Result<Yuv420<T>> {
    check_size(width, height, rgb.len(), fmt.channels)?;
    let px = |x: usize, y: usize| -> [f64; 3] {
        let p = &rgb[(y * width + x) * fmt.channels..];
        [p[fmt.r].to_f64(), p[1].to_f64(), p[fmt.b].to_f64()]
    };
    let mut out = Yuv420 {
        width,
        height,
        y: vec![T::default(); width * height],
        uv: vec![T::default(); width * height / 2],
    };
    for y in 0..height {
        for x in 0..width {
            out.y[y * width + x] = T::from_f64(rgb_to_yuv_f64(space, T::BITS, px(x, y))[0]);
        }
    }
    for cy in 0..height / 2 {
        for cx in 0..width / 2 {
            let mut avg = [0.0; 3];
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let p = px(2 * cx + dx, 2 * cy + dy);
                for c in 0..3 {
                    avg[c] += p[c] / 4.0;
                }
            }
            let yuv = rgb_to_yuv_f64(space, T::BITS, avg);
            out.uv[cy * width + 2 * cx] = T::from_f64(yuv[1]);
            out.uv[cy * width + 2 * cx + 1] = T::from_f64(yuv[2]);
        }
    }
    Ok(out)
}

/// Bilinear sample of a `nx x ny` grid at (px, py) with clamp to edge.
fn bilinear(nx: usize, ny: usize, px: f64, py: f64, at: impl Fn(usize, usize) -> f64) -> f64 {
    let axis = |p: f64, n: usize| -> (usize, usize, f64) {
        let p = p.clamp(0.0, (n - 1) as f64);
        let i0 = p.floor() as usize;
        let i1 = (i0 + 1).min(n - 1);
        (i0, i1, p - i0 as f64)
    };
    let (x0, x1, fx) = axis(px, nx);
    let (y0, y1, fy) = axis(py, ny);
    let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
    let bot = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
    top * (1.0 - fy) + bot * fy
}

/// Source position of output index `x` when resampling `sn` samples to `dn` (align_corners =
/// false): `(x + 0.5) * sn / dn - 0.5`.
pub fn source_pos(x: usize, sn: usize, dn: usize) -> f64 {
    ((2 * x + 1) as f64 * sn as f64 - dn as f64) / (2.0 * dn as f64)
}

/// 4:2:0 to packed 8-bit RGB(A) (alpha 255) in layout `fmt` (8-bit).
pub fn yuv420_to_rgb<T: Sample>(src: &Yuv420<T>, fmt: PackedRgb, space: ColourSpace) -> Vec<u8> {
    let (w, h) = (src.width, src.height);
    let (cw, ch) = (w / 2, h / 2);
    let mut out = vec![255u8; w * h * fmt.channels];
    for y in 0..h {
        for x in 0..w {
            let (cxp, cyp) = (x as f64 / 2.0 - 0.25, y as f64 / 2.0 - 0.25);
            let u = bilinear(cw, ch, cxp, cyp, |i, j| src.chroma(i, j, 0));
            let v = bilinear(cw, ch, cxp, cyp, |i, j| src.chroma(i, j, 1));
            let rgb = yuv_to_rgb_f64(space, T::BITS, [src.luma(x, y), u, v]);
            let p = &mut out[(y * w + x) * fmt.channels..];
            p[fmt.r] = u8::from_f64(255.0 * rgb[0]);
            p[1] = u8::from_f64(255.0 * rgb[1]);
            p[fmt.b] = u8::from_f64(255.0 * rgb[2]);
        }
    }
    out
}

/// 4:2:0 to one normalised planar RGB tensor slot (`3 x dh x dw`, CHW) with a bilinear resize.
pub fn yuv420_to_planar<T: Sample>(
    src: &Yuv420<T>,
    dw: usize,
    dh: usize,
    params: &TensorParams,
) -> Vec<f64> {
    let (sw, sh) = (src.width, src.height);
    let (cw, ch) = (sw / 2, sh / 2);
    let plane = dw * dh;
    let mut out = vec![0.0; 3 * plane];
    for y in 0..dh {
        let ly = source_pos(y, sh, dh);
        let cy = ((2 * y + 1) as f64 * sh as f64 - 2.0 * dh as f64) / (4.0 * dh as f64);
        for x in 0..dw {
            let lx = source_pos(x, sw, dw);
            let cx = ((2 * x + 1) as f64 * sw as f64 - 2.0 * dw as f64) / (4.0 * dw as f64);
            let yv = bilinear(sw, sh, lx, ly, |i, j| src.luma(i, j));
            let u = bilinear(cw, ch, cx, cy, |i, j| src.chroma(i, j, 0));
            let v = bilinear(cw, ch, cx, cy, |i, j| src.chroma(i, j, 1));
            let rgb = yuv_to_rgb_f64(params.space, T::BITS, [yv, u, v]);
            for c in 0..3 {
                let val = rgb[c].clamp(0.0, 1.0);
                out[c * plane + y * dw + x] =
                    (val - f64::from(params.mean[c])) / f64::from(params.std[c]);
            }
        }
    }
    out
}

/// 4:2:0 bilinear resize; each plane resampled at its own resolution, rounded to nearest.
pub fn resize_yuv420<T: Sample>(src: &Yuv420<T>, dw: usize, dh: usize) -> Yuv420<T> {
    let (sw, sh) = (src.width, src.height);
    let mut out = Yuv420 {
        width: dw,
        height: dh,
        y: vec![T::default(); dw * dh],
        uv: vec![T::default(); dw * dh / 2],
    };
    for y in 0..dh {
        for x in 0..dw {
            let v = bilinear(
                sw,
                sh,
                source_pos(x, sw, dw),
                source_pos(y, sh, dh),
                |i, j| src.luma(i, j),
            );
            out.y[y * dw + x] = T::from_f64(v);
        }
    }
    let (scw, sch, dcw, dch) = (sw / 2, sh / 2, dw / 2, dh / 2);
    for cy in 0..dch {
        for cx in 0..dcw {
            for c in 0..2 {
                let v = bilinear(
                    scw,
                    sch,
                    source_pos(cx, scw, dcw),
                    source_pos(cy, sch, dch),
                    |i, j| src.chroma(i, j, c),
                );
                out.uv[cy * dw + 2 * cx + c] = T::from_f64(v);
            }
        }
    }
    out
}

/// A smooth test picture: packed samples (layout `fmt`, values `0..=M`), each channel a sum of
/// slow sinusoids with the given phases. Alpha (if any) is `M`.
pub fn smooth_rgb<T: Sample>(
    fmt: PackedRgb,
    width: usize,
    height: usize,
    phase: [f64; 3],
) -> Vec<T> {
    let max = f64::from((1u32 << T::BITS) - 1);
    let mut out = vec![T::from_f64(max); width * height * fmt.channels];
    for y in 0..height {
        for x in 0..width {
            let (xf, yf) = (x as f64, y as f64);
            let p = &mut out[(y * width + x) * fmt.channels..];
            for (c, idx) in [fmt.r, 1, fmt.b].into_iter().enumerate() {
                let t = 0.5
                    + 0.25 * (xf / 23.0 + phase[c]).sin()
                    + 0.2 * (yf / 31.0 + 2.0 * phase[c]).cos();
                p[idx] = T::from_f64(t * max);
            }
        }
    }
    out
}

/// The worst difference between two integer sample sequences.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Worst {
    /// Largest `|a - b|`.
    pub diff: f64,
    /// Index of the first element with that difference.
    pub index: usize,
    /// Number of elements over the tolerance.
    pub over: usize,
}

/// Compares integer samples; `Err` (with the worst element) if any differs by more than `tol`
/// or the lengths differ.
pub fn compare_ints<T: Sample>(
    what: &str,
    got: &[T],
    want: &[T],
    tol: f64,
) -> std::result::Result<Worst, String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} elements, reference has {}",
            got.len(),
            want.len()
        ));
    }
    let mut worst = Worst {
        diff: 0.0,
        index: 0,
        over: 0,
    };
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g.to_f64() - w.to_f64()).abs();
        if d > tol {
            worst.over += 1;
        }
        if d > worst.diff {
            worst.diff = d;
            worst.index = i;
        }
    }
    if worst.over > 0 {
        return Err(format!(
            "{what}: {} of {} elements off by more than {tol}; worst {} at index {} (got {:?}, reference {:?})",
            worst.over,
            got.len(),
            worst.diff,
            worst.index,
            got[worst.index],
            want[worst.index]
        ));
    }
    Ok(worst)
}

/// Compares float outputs with `|g - r| <= max(rel * |r|, abs)`; `Err` with the worst element.
pub fn compare_floats(
    what: &str,
    got: &[f32],
    want: &[f64],
    rel: f64,
    abs: f64,
) -> std::result::Result<Worst, String> {
    if got.len() != want.len() {
        return Err(format!(
            "{what}: {} elements, reference has {}",
            got.len(),
            want.len()
        ));
    }
    let mut worst = Worst {
        diff: 0.0,
        index: 0,
        over: 0,
    };
    let mut worst_ratio = -1.0;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let g = f64::from(*g);
        let d = (g - w).abs();
        let tol = (rel * w.abs()).max(abs);
        // NaN never passes.
        let ratio = if d.is_nan() { f64::INFINITY } else { d / tol };
        if ratio > 1.0 {
            worst.over += 1;
        }
        if ratio > worst_ratio {
            worst_ratio = ratio;
            worst.diff = d;
            worst.index = i;
        }
    }
    if worst.over > 0 {
        return Err(format!(
            "{what}: {} of {} elements outside max({rel} * |ref|, {abs}); worst |diff| {:.3e} at index {} (got {}, reference {})",
            worst.over,
            got.len(),
            worst.diff,
            worst.index,
            got[worst.index],
            want[worst.index]
        ));
    }
    Ok(worst)
}

/// Checks that the bytes of a pitched host copy beyond `row_bytes` in each of `rows` rows still
/// hold `poison`; `Err` names the first changed byte.
pub fn check_padding(
    what: &str,
    raw: &[u8],
    pitch: usize,
    row_bytes: usize,
    rows: usize,
    poison: u8,
) -> std::result::Result<(), String> {
    for r in 0..rows {
        let row = raw
            .get(r * pitch..(r + 1) * pitch)
            .ok_or_else(|| format!("{what}: buffer too short for {rows} rows of {pitch}"))?;
        if let Some(i) = row[row_bytes..].iter().position(|&b| b != poison) {
            return Err(format!(
                "{what}: padding byte {} of row {r} was overwritten ({:#04x}, poison {poison:#04x})",
                row_bytes + i,
                row[row_bytes + i]
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACES: [ColourSpace; 6] = [
        ColourSpace::BT601_LIMITED,
        ColourSpace::BT601_FULL,
        ColourSpace::BT709_LIMITED,
        ColourSpace::BT709_FULL,
        ColourSpace::BT2020_LIMITED,
        ColourSpace::BT2020_FULL,
    ];

    #[test]
    fn known_values_bt601_limited() {
        let s = ColourSpace::BT601_LIMITED;
        let white = rgb_to_yuv_f64(s, 8, [255.0; 3]);
        assert!((white[0] - 235.0).abs() < 1e-9 && (white[1] - 128.0).abs() < 1e-9);
        let black = rgb_to_yuv_f64(s, 8, [0.0; 3]);
        assert!((black[0] - 16.0).abs() < 1e-9 && (black[2] - 128.0).abs() < 1e-9);
        // The textbook coefficients 0.257, 0.504, 0.098 of the seed kernel.
        let red = rgb_to_yuv_f64(s, 8, [255.0, 0.0, 0.0]);
        assert!((red[0] - (16.0 + 0.257 * 255.0)).abs() < 0.1, "{red:?}");
        assert!((red[2] - (128.0 + 0.439 * 255.0)).abs() < 0.1, "{red:?}");
        let p016 = rgb_to_yuv_f64(s, 16, [65535.0; 3]);
        assert!((p016[0] - 235.0 * 256.0).abs() < 1e-6);
    }

    #[test]
    fn yuv_rgb_inverse() {
        for s in SPACES {
            for bits in [8, 16] {
                let m = f64::from((1u32 << bits) - 1);
                for rgb in [[0.0, 0.0, 0.0], [m, m, m], [m * 0.3, m * 0.8, m * 0.1]] {
                    let yuv = rgb_to_yuv_f64(s, bits, rgb);
                    let back = yuv_to_rgb_f64(s, bits, yuv);
                    for c in 0..3 {
                        assert!((back[c] * m - rgb[c]).abs() < 1e-6, "{s:?} {bits} {rgb:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn round_trip_smooth_within_subsampling_error() {
        for s in SPACES {
            let fmt = PackedRgb::of(PixelFormat::Rgb24).unwrap();
            let (w, h) = (66, 38);
            let rgb: Vec<u8> = smooth_rgb(fmt, w, h, [0.1, 1.2, 2.3]);
            let yuv = rgb_to_yuv420(&rgb, fmt, w, h, s).unwrap();
            let back = yuv420_to_rgb(&yuv, fmt, s);
            let worst = compare_ints("round trip", &back, &rgb, ROUND_TRIP_TOL).unwrap();
            assert!(worst.diff <= ROUND_TRIP_TOL, "{s:?}: {worst:?}");
        }
    }

    #[test]
    fn grey_round_trip_is_exact_enough() {
        let fmt = PackedRgb::of(PixelFormat::Rgba).unwrap();
        let rgb = vec![
            77u8, 77, 77, 255, 200, 200, 200, 255, 77, 77, 77, 255, 200, 200, 200, 255,
        ];
        let yuv = rgb_to_yuv420(&rgb, fmt, 2, 2, ColourSpace::BT709_FULL).unwrap();
        let back = yuv420_to_rgb(&yuv, fmt, ColourSpace::BT709_FULL);
        compare_ints("grey", &back, &rgb, 1.0).unwrap();
    }

    #[test]
    fn tight_bytes_round_trip() {
        let y = Yuv420::<u16> {
            width: 2,
            height: 2,
            y: vec![1, 2, 3, 0xABCD],
            uv: vec![5, 6],
        };
        let b = y.to_tight_bytes();
        assert_eq!(b.len(), 12);
        assert_eq!(Yuv420::<u16>::from_tight_bytes(2, 2, &b).unwrap(), y);
        assert!(Yuv420::<u16>::from_tight_bytes(2, 2, &b[1..]).is_err());
    }

    #[test]
    fn identity_resize_and_tensor_match_the_conversions() {
        let fmt = PackedRgb::of(PixelFormat::Rgb24).unwrap();
        let (w, h) = (8, 6);
        let rgb: Vec<u8> = smooth_rgb(fmt, w, h, [0.0, 1.0, 2.0]);
        let yuv = rgb_to_yuv420(&rgb, fmt, w, h, ColourSpace::BT709_LIMITED).unwrap();
        assert_eq!(resize_yuv420(&yuv, w, h), yuv);
        let p = TensorParams {
            space: ColourSpace::BT709_LIMITED,
            mean: [0.0; 3],
            std: [1.0; 3],
        };
        let t = yuv420_to_planar(&yuv, w, h, &p);
        let rgb8 = yuv420_to_rgb(&yuv, fmt, ColourSpace::BT709_LIMITED);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let a = t[c * w * h + y * w + x] * 255.0;
                    let b = f64::from(rgb8[(y * w + x) * 3 + c]);
                    assert!((a - b).abs() <= 0.5 + 1e-9, "{x},{y},{c}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn resize_positions() {
        assert_eq!(source_pos(0, 4, 4), 0.0);
        assert_eq!(source_pos(0, 4, 2), 0.5);
        assert_eq!(source_pos(1, 2, 4), 0.25);
        // Downscale 2:1 averages pairs.
        let src = Yuv420::<u8> {
            width: 4,
            height: 2,
            y: vec![0, 10, 20, 30, 0, 10, 20, 30],
            uv: vec![0, 100, 50, 200],
        };
        let out = resize_yuv420(&src, 2, 2);
        assert_eq!(out.y, vec![5, 25, 5, 25]);
    }

    #[test]
    fn comparisons_report_the_worst_element() {
        assert!(compare_ints::<u8>("a", &[1, 2, 3], &[1, 3, 3], 1.0).is_ok());
        let e = compare_ints::<u8>("a", &[1, 2, 9], &[1, 3, 3], 1.0).unwrap_err();
        assert!(e.contains("worst 6 at index 2"), "{e}");
        assert!(compare_ints::<u8>("a", &[1], &[1, 2], 1.0).is_err());
        assert!(compare_floats("f", &[1.0005, 0.0009], &[1.0, 0.0], 1e-3, 1e-3).is_ok());
        assert!(compare_floats("f", &[1.002], &[1.0], 1e-3, 1e-3).is_err());
        assert!(compare_floats("f", &[f32::NAN], &[1.0], 1e-3, 1e-3).is_err());
        assert!(compare_floats("f", &[0.002], &[0.0], 1e-3, 1e-3).is_err());
        let raw = [1, 2, 0xA5, 0xA5, 3, 4, 0xA5, 0];
        assert!(check_padding("p", &raw, 4, 2, 1, 0xA5).is_ok());
        assert!(check_padding("p", &raw, 4, 2, 2, 0xA5).is_err());
    }
}
