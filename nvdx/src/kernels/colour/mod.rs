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
//! asserts the embedded header. On compute capability 9.0 (Hopper) the same PTX assembled for
//! sm_90 by ptxas 12.1 is embedded as a cubin and loaded instead (no JIT); if the driver rejects
//! it, the PTX is loaded.
//!
//! # Memory access
//! 8-bit RGB <-> NV12 conversions whose plane addresses and pitches are all multiples of 16
//! (every device [`crate::Frame`]) run kernels that move 16 pixels of two rows per thread with
//! 16-byte loads and stores; other layouts (raw images, DLPack views, crops) and the 16-bit
//! formats take kernels with 4-byte or sample-sized accesses ([`MemoryAccess`], chosen per
//! launch). Every path computes the same bytes.
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

mod convert;
mod image;
mod launch;
mod params;
mod plan;
mod tensor;

pub use convert::{
    resize_yuv420, rgb_to_yuv420, yuv420_to_rgb, yuv420_to_tensor, yuv420_to_tensor_batch,
};
pub(crate) use convert::{SlotStream, SlotWriter};
pub use image::RawImage;
pub use launch::{
    naive_rgb24_to_nv12_raw, resize_yuv420_raw, rgb_to_yuv420_raw, yuv420_to_rgb_raw,
    yuv420_to_tensor_batch_raw, yuv420_to_tensor_raw,
};
pub use params::{Affine, TensorParams};
pub use plan::{
    plan_resize_yuv420, plan_rgb_to_yuv420, plan_yuv420_to_rgb, plan_yuv420_to_tensor,
    MemoryAccess, RgbToYuvPlan,
};
pub use tensor::{decode_elements, RawTensor, Tensor, TensorDtype};

/// The colour-space types, defined in [`crate::colour`].
pub use crate::colour::{ColourMatrix, ColourRange, ColourSpace};

#[cfg(doc)]
use crate::error::Error;
use crate::kernels::{Aligned, Cubin, ModuleImage};

/// The embedded PTX of `nvdx/kernels/colour.cu` (NUL-terminated), with its sm_90 cubin (loaded
/// instead on compute capability 9.0).
pub static COLOUR_MODULE: ModuleImage = ModuleImage {
    name: "colour",
    image: concat!(include_str!("../../../kernels/ptx/colour.ptx"), "\0").as_bytes(),
    cubins: &[Cubin {
        compute_capability: (9, 0),
        image: &COLOUR_SM90.0,
    }],
};

/// `nvdx/kernels/cubin/colour.sm_90.cubin`: the PTX above assembled for sm_90 by ptxas 12.1.
static COLOUR_SM90: &Aligned<[u8]> =
    &Aligned(*include_bytes!("../../../kernels/cubin/colour.sm_90.cubin"));

/// Most frames one tensor launch converts (`NVDX_MAX_BATCH` in the CUDA source); larger batches
/// take several launches.
pub const MAX_BATCH_PER_LAUNCH: usize = 32;

/// Largest width or height accepted by the resampling kernels (their integer position
/// arithmetic stays within 32 bits up to this size).
pub const MAX_RESAMPLE_DIM: u32 = 16384;

/// Thread block of the 2-D kernels.
const BLOCK: (u32, u32) = (32, 8);

#[cfg(test)]
mod tests {
    use super::*;

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

    /// The cubin is an ELF image for sm_90 (e_flags' low byte) assembled from compute_70 PTX
    /// (the virtual architecture in bits 16..24), and holds every kernel of the PTX.
    #[test]
    fn embedded_cubin_is_sm90_elf_of_the_ptx() {
        let cubin = COLOUR_MODULE.cubin_for((9, 0)).unwrap();
        assert!(cubin.starts_with(b"\x7fELF\x02"), "not a 64-bit ELF");
        assert_eq!(cubin.as_ptr() as usize % 16, 0);
        let flags = u32::from_le_bytes(cubin[0x30..0x34].try_into().unwrap());
        assert_eq!(flags & 0xff, 90, "e_flags {flags:#x}");
        assert_eq!((flags >> 16) & 0xff, 70, "e_flags {flags:#x}");
        assert_eq!(COLOUR_MODULE.cubin_for((8, 0)), None);
        let text = std::str::from_utf8(COLOUR_MODULE.image).unwrap();
        let entries: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix(".visible .entry "))
            .map(|l| l.split('(').next().unwrap())
            .collect();
        assert!(entries.len() > 30, "{entries:?}");
        for e in entries {
            let sym = format!(".text.{e}\0");
            assert!(
                cubin.windows(sym.len()).any(|w| w == sym.as_bytes()),
                "kernel {e} missing from the cubin"
            );
        }
    }

    #[test]
    fn every_kernel_is_in_the_ptx() {
        let text = std::str::from_utf8(COLOUR_MODULE.image).unwrap();
        let mut names: Vec<String> = vec!["rgb24_to_nv12_naive".into()];
        for s in ["rgb24", "bgr24", "rgba", "bgra"] {
            names.push(format!("{s}_to_nv12"));
            names.push(format!("{s}_to_nv12_v16"));
            names.push(format!("nv12_to_{s}"));
            names.push(format!("nv12_to_{s}_v16"));
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
}
