//! Interop with [`cudarc`] 0.19 (feature `cudarc`): one primary context, shared streams, and
//! frames and tensors seen as cudarc device slices without a copy, stream-ordered both ways.
//!
//! - [`Context::from_cudarc`] / [`Context::to_cudarc`]: both wrap the device's **primary**
//!   context (nvdx always works there, as does `CudaContext::new`), so memory, modules and
//!   streams are shared as they are.
//! - [`CudarcStream`]: a cudarc stream used as an nvdx [`Stream`] without taking ownership
//!   (it holds the cudarc `Arc`, so the stream outlives every use); [`Stream::to_cudarc`] goes
//!   the other way.
//! - [`CudarcStream::with_frame`], [`CudarcStream::with_frame_mut`],
//!   [`CudarcStream::with_tensor`], [`CudarcStream::with_tensor_mut`]: run a closure with the
//!   memory as cudarc device memory (non-owning `CudaView`/`CudaViewMut`) for `launch_builder`
//!   and cudarc copies. The stream waits (on the GPU) for the memory's last nvdx write (or every
//!   use, for the write views) before the closure; when it returns, the work on the stream until
//!   then is recorded on the memory, so nvdx's later writers, pool reuse and free wait for it.
//!   The scope is a closure so that no leaked view can skip that record.
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
//! stream.with_frame(&frame, |view| {
//!     // stream.cudarc().launch_builder(&func).arg(&view.slice())... reads the NV12 bytes.
//!     let _ = view.len();
//! })?; // the work enqueued in the closure is recorded on the frame
//! # Ok(()) }
//! ```

use std::mem::ManuallyDrop;
use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaSlice, CudaStream, CudaView, CudaViewMut, DriverError};

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
        let nvdx = unsafe { Stream::from_raw_borrowed(ctx, stream.cu_stream() as _) }?;
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

    fn with_view<T, R>(
        &self,
        ptr: u64,
        bytes: usize,
        guard: StreamUse<'_>,
        writable: bool,
        f: impl FnOnce(&mut CudarcView<'_, T>) -> R,
    ) -> Result<R> {
        let size = std::mem::size_of::<T>().max(1);
        if bytes % size != 0 {
            return Err(Error::InvalidArgument(format!(
                "{bytes} bytes are not a whole number of {size}-byte elements"
            )));
        }
        // SAFETY: `ptr..ptr + bytes` is a live nvdx allocation, kept alive (and ordered) by the
        // borrow behind `guard`; the slice never leaves the view (only non-owning cudarc views
        // are handed out) and is leaked, never freed by cudarc (see Drop).
        let slice = unsafe { self.cudarc.upgrade_device_ptr::<T>(ptr, bytes / size) };
        let mut view = CudarcView {
            slice: ManuallyDrop::new(slice),
            writable,
            _scope: std::marker::PhantomData,
        };
        let r = f(&mut view);
        // The view (and cudarc's own events of the slice) goes first, then the guard records
        // the stream's work on the memory: the closure cannot skip this (no `mem::forget` of
        // an owned view is possible), so nvdx's later users always wait for the cudarc work.
        drop(view);
        drop(guard);
        Ok(r)
    }

    /// Runs `f` with a read view of `frame`'s whole allocation (`pitch * rows` bytes; NV12
    /// chroma at `pitch * height`). The stream first waits for the frame's last write; the
    /// work `f` enqueues on the stream is recorded on the frame when `f` returns.
    pub fn with_frame<R>(
        &self,
        frame: &(impl FrameView + ?Sized),
        f: impl FnOnce(&mut CudarcView<'_, u8>) -> R,
    ) -> Result<R> {
        let guard = frame.use_on(&self.nvdx)?;
        let mem = frame.frame_parts().mem;
        self.with_view(mem.ptr, mem.len, guard, false, f)
    }

    /// Runs `f` with a write view of `frame` (the stream waits for every pending use first;
    /// the work is recorded as the frame's last write when `f` returns).
    pub fn with_frame_mut<R>(
        &self,
        frame: &mut Frame,
        f: impl FnOnce(&mut CudarcView<'_, u8>) -> R,
    ) -> Result<R> {
        let (ptr, len) = {
            let mem = frame.mem();
            (mem.ptr, mem.len)
        };
        let guard = frame.write_on(&self.nvdx)?;
        self.with_view(ptr, len, guard, true, f)
    }

    /// Runs `f` with a read view of a tensor as elements of `T` (`half::f16`/`u16` or `f32`,
    /// matching its dtype's size).
    pub fn with_tensor<T, R>(
        &self,
        tensor: &Tensor,
        f: impl FnOnce(&mut CudarcView<'_, T>) -> R,
    ) -> Result<R> {
        check_element::<T>(tensor)?;
        let mem = tensor.mem();
        let guard = StreamUse::begin(mem.access, &self.nvdx, false)?;
        self.with_view(mem.ptr, mem.len, guard, false, f)
    }

    /// Runs `f` with a write view of a tensor (the stream waits for every pending use first).
    pub fn with_tensor_mut<T, R>(
        &self,
        tensor: &mut Tensor,
        f: impl FnOnce(&mut CudarcView<'_, T>) -> R,
    ) -> Result<R> {
        check_element::<T>(tensor)?;
        let tensor: &Tensor = tensor;
        let mem = tensor.mem();
        let guard = StreamUse::begin(mem.access, &self.nvdx, true)?;
        self.with_view(mem.ptr, mem.len, guard, true, f)
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

/// nvdx memory as cudarc device memory, inside [`CudarcStream::with_frame`] and friends. It
/// hands out only non-owning cudarc views (`CudaView` / `CudaViewMut`), so the memory cannot
/// be taken over by cudarc, and write access only on write views.
pub struct CudarcView<'a, T> {
    slice: ManuallyDrop<CudaSlice<T>>,
    writable: bool,
    _scope: std::marker::PhantomData<&'a mut ()>,
}

impl<T> std::fmt::Debug for CudarcView<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudarcView")
            .field("len", &self.slice.len())
            .field("writable", &self.writable)
            .finish_non_exhaustive()
    }
}

impl<T> CudarcView<'_, T> {
    /// A read view, for `launch_builder(..).arg(&view.slice())` and cudarc copies out.
    pub fn slice(&self) -> CudaView<'_, T> {
        self.slice.as_view()
    }

    /// A write view (only on views made with `with_frame_mut` / `with_tensor_mut`), for
    /// cudarc copies in, memsets and kernel outputs.
    pub fn slice_mut(&mut self) -> Result<CudaViewMut<'_, T>> {
        if !self.writable {
            return Err(Error::InvalidArgument(
                "this is a read view: use with_frame_mut / with_tensor_mut to write".into(),
            ));
        }
        Ok(self.slice.as_view_mut())
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.slice.len()
    }

    /// Whether the view has no elements.
    pub fn is_empty(&self) -> bool {
        self.slice.len() == 0
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
