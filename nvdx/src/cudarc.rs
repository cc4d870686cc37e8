//! Interop with [`cudarc`] 0.19 (feature `cudarc`): one primary context, shared streams, and
//! frames and tensors seen as cudarc device slices without a copy, stream-ordered both ways.
//!
//! - [`Context::from_cudarc`] / [`Context::to_cudarc`]: both wrap the device's **primary**
//!   context (nvdx always works there, as does `CudaContext::new`), so memory, modules and
//!   streams are shared as they are.
//! - [`CudarcStream`]: a cudarc stream used as an nvdx [`Stream`] without taking ownership
//!   (it holds the cudarc `Arc`, so the stream outlives every use); [`Stream::to_cudarc`] goes
//!   the other way.
//! - [`CudarcStream::frame`], [`CudarcStream::frame_mut`], [`CudarcStream::tensor`],
//!   [`CudarcStream::tensor_mut`]: a `CudaSlice` over the memory for `launch_builder`. The
//!   stream waits (on the GPU) for the memory's last nvdx write (or every use, for the mutable
//!   views) when the view is made; when the view drops, the work on the stream until then is
//!   recorded on the memory, so nvdx's later writers, pool reuse and free wait for it. The
//!   slice is never freed by cudarc.
//!
//! cudarc is built with `default-features = false` and the `driver`, `std`,
//! `fallback-dynamic-loading` and `cuda-version-from-build-system` + `fallback-latest`
//! features: libcuda is opened at run time and no CUDA toolkit is needed to build. A crate
//! that pins a CUDA version (`cudarc/cuda-12080`, or `CUDARC_CUDA_VERSION=12080`) overrides
//! the fallback.
//!
//! ```no_run
//! # fn main() -> nvdx::Result<()> {
//! use nvdx::cudarc::CudarcStream;
//! let cctx = cudarc::driver::CudaContext::new(0).expect("cudarc context");
//! let ctx = nvdx::Context::from_cudarc(&cctx)?;
//! let stream = CudarcStream::new(&ctx, cctx.new_stream().expect("stream"))?;
//! let reader = nvdx::VideoReader::open("fixtures/sample.mp4")?;
//! let frame = reader.frame_at(0, stream.nvdx())?;
//! let view = stream.frame(&frame)?;
//! // stream.cudarc().launch_builder(&func).arg(view.slice())... reads the NV12 bytes.
//! drop(view); // the launch is recorded on the frame
//! # Ok(()) }
//! ```

use std::mem::ManuallyDrop;
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaSlice, CudaStream, DriverError};

use crate::access::MemorySealed;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::frame::{Frame, FrameView, StreamUse};
use crate::kernels::colour::Tensor;
use crate::stream::Stream;

fn cudarc_error(call: &'static str, e: DriverError) -> Error {
    Error::Cuda {
        call,
        code: e.0 as u32,
        name: format!("{:?}", e.0),
        description: format!("through cudarc: {e}"),
    }
}

/// Whether an nvdx and a cudarc context handle are the same CUDA context (the two crates'
/// bindings name the opaque type differently).
fn same_context(nvdx: nvdx_sys::cuda::CUcontext, cctx: &CudaContext) -> bool {
    std::ptr::eq(nvdx.cast::<u8>(), cctx.cu_ctx().cast::<u8>())
}

impl Context {
    /// The nvdx context of the primary context `cctx` wraps (`CudaContext::new`). Fails for
    /// cudarc's non-primary contexts: nvdx works on primary contexts only.
    pub fn from_cudarc(cctx: &CudaContext) -> Result<Context> {
        if !cctx.is_primary() {
            return Err(Error::Unsupported(
                "the cudarc context is not a primary context (nvdx shares primary contexts \
                 only: use CudaContext::new)"
                    .into(),
            ));
        }
        let ctx = Context::primary(cctx.ordinal() as u32)?;
        if !same_context(ctx.raw(), cctx) {
            return Err(Error::InvalidState(format!(
                "cudarc's context for GPU {} is not the primary context nvdx retained",
                cctx.ordinal()
            )));
        }
        Ok(ctx)
    }

    /// A cudarc context on the same primary context (`CudaContext::new` retains it once
    /// more; it stays active while either side holds a handle).
    pub fn to_cudarc(&self) -> Result<Arc<CudaContext>> {
        let cctx = CudaContext::new(self.device().ordinal() as usize)
            .map_err(|e| cudarc_error("CudaContext::new", e))?;
        if !same_context(self.raw(), &cctx) {
            return Err(Error::InvalidState(
                "cudarc's primary context differs from nvdx's".into(),
            ));
        }
        Ok(cctx)
    }
}

impl Stream {
    /// This stream as a cudarc stream of `cctx` (which must be this stream's context), not
    /// owned by cudarc (dropping it destroys nothing).
    ///
    /// # Safety
    /// The returned stream (and every cudarc object holding it, e.g. slices allocated on it)
    /// must not be used after this `Stream` is dropped.
    pub unsafe fn to_cudarc(&self, cctx: &Arc<CudaContext>) -> Result<Arc<CudaStream>> {
        if !same_context(self.context().raw(), cctx) {
            return Err(Error::InvalidArgument(
                "the cudarc context is not this stream's context".into(),
            ));
        }
        // SAFETY: the handle is a live stream of `cctx`'s context; the caller keeps `self`
        // alive while cudarc uses it.
        Ok(unsafe { cctx.wrap_borrowed_stream(self.raw() as _) })
    }
}

/// A cudarc stream used as an nvdx [`Stream`] (borrowed: neither side destroys it while the
/// other may use it, since this holds the cudarc `Arc`).
pub struct CudarcStream {
    // Field order: the nvdx wrapper drops before the cudarc stream it borrows.
    nvdx: Stream,
    cudarc: Arc<CudaStream>,
}

impl std::fmt::Debug for CudarcStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudarcStream")
            .field("nvdx", &self.nvdx)
            .finish_non_exhaustive()
    }
}

impl CudarcStream {
    /// Wraps `stream`, a stream of `ctx`'s primary context.
    pub fn new(ctx: &Context, stream: Arc<CudaStream>) -> Result<CudarcStream> {
        if !same_context(ctx.raw(), stream.context()) {
            return Err(Error::InvalidArgument(format!(
                "the cudarc stream belongs to another context than GPU {}'s primary context",
                ctx.device().ordinal()
            )));
        }
        // SAFETY: the handle is a live stream of `ctx`; `self.cudarc` keeps it alive for as
        // long as the nvdx wrapper exists (it drops first).
        let nvdx = unsafe { Stream::from_raw_borrowed(ctx, stream.cu_stream() as _) };
        Ok(CudarcStream {
            nvdx,
            cudarc: stream,
        })
    }

    /// The nvdx side, for nvdx calls (decoding, kernels) on this stream.
    pub fn nvdx(&self) -> &Stream {
        &self.nvdx
    }

    /// The cudarc side, for `launch_builder` and cudarc copies.
    pub fn cudarc(&self) -> &Arc<CudaStream> {
        &self.cudarc
    }

    fn view<'a, T>(
        &'a self,
        ptr: u64,
        bytes: usize,
        guard: StreamUse<'a>,
    ) -> Result<CudarcView<'a, T>> {
        let size = std::mem::size_of::<T>().max(1);
        if bytes % size != 0 {
            return Err(Error::InvalidArgument(format!(
                "{bytes} bytes are not a whole number of {size}-byte elements"
            )));
        }
        // SAFETY: `ptr..ptr + bytes` is a live nvdx allocation, kept alive (and ordered) by the
        // borrow behind `guard`; the slice is leaked, never freed by cudarc (see Drop).
        let slice = unsafe { self.cudarc.upgrade_device_ptr::<T>(ptr, bytes / size) };
        Ok(CudarcView {
            slice: ManuallyDrop::new(slice),
            _guard: guard,
        })
    }

    /// A read view of `frame`'s whole allocation (`pitch * rows` bytes; NV12 chroma at
    /// `pitch * height`).
    pub fn frame<'a>(&'a self, frame: &'a (impl FrameView + ?Sized)) -> Result<CudarcView<'a, u8>> {
        let guard = frame.use_on(&self.nvdx)?;
        let mem = frame.frame_parts().mem;
        self.view(mem.ptr, mem.len, guard)
    }

    /// A write view of `frame` (the stream waits for every pending use first).
    pub fn frame_mut<'a>(&'a self, frame: &'a mut Frame) -> Result<CudarcView<'a, u8>> {
        let (ptr, len) = {
            let mem = frame.mem();
            (mem.ptr, mem.len)
        };
        let guard = frame.write_on(&self.nvdx)?;
        self.view(ptr, len, guard)
    }

    /// A read view of a tensor as elements of `T` (`half::f16`/`u16` or `f32`, matching its
    /// dtype's size).
    pub fn tensor<'a, T>(&'a self, tensor: &'a Tensor) -> Result<CudarcView<'a, T>> {
        check_element::<T>(tensor)?;
        let mem = tensor.mem();
        let guard = StreamUse::begin(mem.access, &self.nvdx, false)?;
        self.view(mem.ptr, mem.len, guard)
    }

    /// A write view of a tensor (the stream waits for every pending use first).
    pub fn tensor_mut<'a, T>(&'a self, tensor: &'a mut Tensor) -> Result<CudarcView<'a, T>> {
        check_element::<T>(tensor)?;
        let tensor: &'a Tensor = tensor;
        let mem = tensor.mem();
        let guard = StreamUse::begin(mem.access, &self.nvdx, true)?;
        self.view(mem.ptr, mem.len, guard)
    }
}

fn check_element<T>(t: &Tensor) -> Result<()> {
    if std::mem::size_of::<T>() != t.dtype().size() {
        return Err(Error::InvalidArgument(format!(
            "a {:?} tensor has {}-byte elements, the view's type {} bytes",
            t.dtype(),
            t.dtype().size(),
            std::mem::size_of::<T>()
        )));
    }
    Ok(())
}

/// nvdx memory as a cudarc slice on a [`CudarcStream`]; recorded on the memory when dropped.
/// The memory is borrowed: the slice is never freed by cudarc.
pub struct CudarcView<'a, T> {
    slice: ManuallyDrop<CudaSlice<T>>,
    _guard: StreamUse<'a>,
}

impl<T> std::fmt::Debug for CudarcView<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudarcView")
            .field("len", &self.slice.len())
            .finish_non_exhaustive()
    }
}

impl<T> CudarcView<'_, T> {
    /// The slice, for `launch_builder(..).arg(view.slice())` and cudarc copies.
    pub fn slice(&self) -> &CudaSlice<T> {
        &self.slice
    }

    /// The slice, mutably (for `arg(view.slice_mut())` on write views).
    pub fn slice_mut(&mut self) -> &mut CudaSlice<T> {
        &mut self.slice
    }
}

impl<T> Drop for CudarcView<'_, T> {
    fn drop(&mut self) {
        // SAFETY: taken once, here. `leak` makes the stream wait for cudarc's own events of
        // the slice (uses on other cudarc streams) and frees nothing; the guard (dropped after
        // this) then records the stream's work on the nvdx memory.
        let slice = unsafe { ManuallyDrop::take(&mut self.slice) };
        let _ = slice.leak();
    }
}
