//! Normalisation settings of the tensor conversions and the parameter structs passed to the
//! kernels (their layout must match `nvdx/kernels/colour.cu`).

use super::{ColourSpace, RawImage, MAX_BATCH_PER_LAUNCH};
use crate::colour::Quant;

/// How [`yuv420_to_tensor`](super::yuv420_to_tensor) turns YUV into tensor values: the colour space of the source and
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
pub(super) struct Norm {
    pub(super) scale: [f32; 3],
    pub(super) bias: [f32; 3],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Yuv420Src {
    pub(super) luma: u64,
    pub(super) chroma: u64,
    pub(super) luma_pitch: u32,
    pub(super) chroma_pitch: u32,
    pub(super) width: u32,
    pub(super) height: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(super) struct Yuv420Batch {
    pub(super) f: [Yuv420Src; MAX_BATCH_PER_LAUNCH],
}

/// The kernel descriptor of a 4:2:0 source.
pub(super) fn yuv420_src(s: &RawImage) -> Yuv420Src {
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

/// `(rgb - mean) / std` as the kernels apply it: `rgb * scale + bias`.
pub(super) fn norm(p: &TensorParams) -> Norm {
    Norm {
        scale: p.std.map(|s| 1.0 / s),
        bias: [0, 1, 2].map(|c| -p.mean[c] / p.std[c]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::reference::{rgb_to_yuv_f64, yuv_to_rgb_f64};

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

    #[test]
    fn normalisation_is_scale_and_bias() {
        let n = norm(&TensorParams::imagenet());
        assert!(
            (n.scale[0] - 1.0 / 0.229).abs() < 1e-5 && (n.bias[2] + 0.406 / 0.225).abs() < 1e-5
        );
    }
}
