//! Streams and events: the ordering of GPU work.
//!
//! Every copy and kernel in nvdx is enqueued on a caller-given [`Stream`]; ordering between
//! streams, also across GPUs, goes through [`Event`]s (record on one stream, wait on another)
//! with no host synchronisation.
//!
//! Both types are `Send + Sync`: the driver's stream and event calls are thread-safe.

use std::time::Duration;

use nvdx_sys::cuda::{CUevent, CUevent_flags, CUresult, CUstream, CUstream_flags};

use crate::context::Context;
use crate::device::driver;
use crate::error::{check, Error, Result};

/// A CUDA stream (non-blocking with respect to the legacy default stream).
pub struct Stream {
    ctx: Context,
    raw: CUstream,
}

// SAFETY: CUstream handles may be used from any thread; every use binds the owning context.
unsafe impl Send for Stream {}
// SAFETY: as above; the handle is never mutated after creation.
unsafe impl Sync for Stream {}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("raw", &self.raw)
            .finish_non_exhaustive()
    }
}

impl Stream {
    /// Creates a stream on `ctx` that does not synchronise with the legacy default stream.
    pub fn new(ctx: &Context) -> Result<Stream> {
        let _g = ctx.bind()?;
        let api = driver()?;
        let mut raw: CUstream = std::ptr::null_mut();
        // SAFETY: the context is current; `raw` is a valid out-parameter.
        check("cuStreamCreate", unsafe {
            api.cuStreamCreate(&mut raw, CUstream_flags::CU_STREAM_NON_BLOCKING.0)
        })?;
        Ok(Stream {
            ctx: ctx.clone(),
            raw,
        })
    }

    /// The context the stream belongs to.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The raw `CUstream` (to hand to other libraries, e.g. PyTorch's external stream).
    pub fn raw(&self) -> CUstream {
        self.raw
    }

    /// Blocks until all work enqueued so far has finished.
    pub fn synchronize(&self) -> Result<()> {
        let _g = self.ctx.bind()?;
        let api = driver()?;
        // SAFETY: the stream is alive (owned by self).
        check("cuStreamSynchronize", unsafe {
            api.cuStreamSynchronize(self.raw)
        })
    }

    /// Whether all enqueued work has finished, without blocking.
    pub fn is_idle(&self) -> Result<bool> {
        let _g = self.ctx.bind()?;
        let api = driver()?;
        // SAFETY: the stream is alive.
        let status = unsafe { api.cuStreamQuery(self.raw) }?;
        match status {
            CUresult::CUDA_SUCCESS => Ok(true),
            CUresult::CUDA_ERROR_NOT_READY => Ok(false),
            s => Err(Error::cuda("cuStreamQuery", s)),
        }
    }

    /// Makes all future work on this stream wait for `event` (which may belong to another
    /// stream or another GPU). Does not block the host.
    pub fn wait_event(&self, event: &Event) -> Result<()> {
        let _g = self.ctx.bind()?;
        let api = driver()?;
        // SAFETY: both handles are alive.
        check("cuStreamWaitEvent", unsafe {
            api.cuStreamWaitEvent(self.raw, event.raw, 0)
        })
    }

    /// Records a new event on this stream and returns it (convenience for one-off ordering).
    pub fn record_event(&self) -> Result<Event> {
        let e = Event::new_sync_only(&self.ctx)?;
        e.record(self)?;
        Ok(e)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let (Ok(_g), Ok(api)) = (self.ctx.bind(), driver()) {
            // SAFETY: the stream is owned by self; pending work completes before the driver
            // frees the stream's resources (cuStreamDestroy is asynchronous).
            let _ = unsafe { api.cuStreamDestroy_v2(self.raw) };
        }
    }
}

/// A CUDA event: a marker in a stream that other streams or the host can wait for.
pub struct Event {
    ctx: Context,
    raw: CUevent,
}

// SAFETY: CUevent handles may be used from any thread.
unsafe impl Send for Event {}
// SAFETY: as above; the handle is never mutated after creation.
unsafe impl Sync for Event {}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("raw", &self.raw)
            .finish_non_exhaustive()
    }
}

impl Event {
    /// An event that records timestamps (for [`Event::elapsed`]).
    pub fn new(ctx: &Context) -> Result<Event> {
        Event::with_flags(ctx, CUevent_flags::CU_EVENT_DEFAULT.0)
    }

    /// A lighter event without timing, for ordering only.
    pub fn new_sync_only(ctx: &Context) -> Result<Event> {
        Event::with_flags(ctx, CUevent_flags::CU_EVENT_DISABLE_TIMING.0)
    }

    /// An event whose [`Event::synchronize`] blocks the thread instead of spinning.
    pub fn new_blocking(ctx: &Context) -> Result<Event> {
        Event::with_flags(
            ctx,
            CUevent_flags::CU_EVENT_DISABLE_TIMING.0 | CUevent_flags::CU_EVENT_BLOCKING_SYNC.0,
        )
    }

    fn with_flags(ctx: &Context, flags: u32) -> Result<Event> {
        let _g = ctx.bind()?;
        let api = driver()?;
        let mut raw: CUevent = std::ptr::null_mut();
        // SAFETY: the context is current; valid out-parameter.
        check("cuEventCreate", unsafe {
            api.cuEventCreate(&mut raw, flags)
        })?;
        Ok(Event {
            ctx: ctx.clone(),
            raw,
        })
    }

    /// The context the event was created in (it can be recorded only on that context's
    /// streams).
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The raw `CUevent`.
    pub fn raw(&self) -> CUevent {
        self.raw
    }

    /// Captures the work enqueued on `stream` so far. The stream may be on another context of
    /// the same process (cross-device ordering).
    pub fn record(&self, stream: &Stream) -> Result<()> {
        let _g = stream.context().bind()?;
        let api = driver()?;
        // SAFETY: both handles are alive.
        check("cuEventRecord", unsafe {
            api.cuEventRecord(self.raw, stream.raw())
        })
    }

    /// Blocks until the captured work has finished.
    pub fn synchronize(&self) -> Result<()> {
        let _g = self.ctx.bind()?;
        let api = driver()?;
        // SAFETY: the event is alive.
        check("cuEventSynchronize", unsafe {
            api.cuEventSynchronize(self.raw)
        })
    }

    /// Whether the captured work has finished, without blocking.
    pub fn is_complete(&self) -> Result<bool> {
        let _g = self.ctx.bind()?;
        let api = driver()?;
        // SAFETY: the event is alive.
        match unsafe { api.cuEventQuery(self.raw) }? {
            CUresult::CUDA_SUCCESS => Ok(true),
            CUresult::CUDA_ERROR_NOT_READY => Ok(false),
            s => Err(Error::cuda("cuEventQuery", s)),
        }
    }

    /// GPU time between two recorded, completed timing events.
    pub fn elapsed(start: &Event, end: &Event) -> Result<Duration> {
        let _g = start.ctx.bind()?;
        let api = driver()?;
        let mut ms: f32 = 0.0;
        // SAFETY: both events are alive; the driver checks they were recorded.
        check("cuEventElapsedTime", unsafe {
            api.cuEventElapsedTime(&mut ms, start.raw, end.raw)
        })?;
        Ok(Duration::from_secs_f64(f64::from(ms.max(0.0)) / 1000.0))
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        if let (Ok(_g), Ok(api)) = (self.ctx.bind(), driver()) {
            // SAFETY: the event is owned by self.
            let _ = unsafe { api.cuEventDestroy_v2(self.raw) };
        }
    }
}
