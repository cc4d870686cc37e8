//! Tensors: [`Tensor`] (an owned NCHW f32/f16 batch in device memory), its caller-managed
//! descriptor [`RawTensor`], and decoding of downloaded tensor bytes.

use half::f16;

use super::MAX_RESAMPLE_DIM;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::memory::DeviceBuffer;

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
/// [`yuv420_to_tensor`](super::yuv420_to_tensor). Slot `i` is image `i` of the batch.
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

pub(super) fn tensor_bytes(
    batch: usize,
    height: u32,
    width: u32,
    dtype: TensorDtype,
) -> Result<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_helpers() {
        assert_eq!(
            RawTensor {
                ptr: 0x3000_0000,
                batch: 2,
                height: 448,
                width: 448,
                dtype: TensorDtype::F16,
            }
            .slot_bytes(),
            3 * 448 * 448 * 2
        );
        let bytes = [0x00, 0x3c, 0x00, 0xc0];
        assert_eq!(decode_elements(&bytes, TensorDtype::F16), vec![1.0, -2.0]);
        assert_eq!(
            decode_elements(&1.5f32.to_le_bytes(), TensorDtype::F32),
            vec![1.5]
        );
    }
}
