//! Streams and events: the ordering of GPU work.
//!
//! Every copy and kernel in nvdx is enqueued on a caller-given [`Stream`]; ordering between
//! streams, also across GPUs, goes through [`Event`]s (record on one stream, wait on another)
//! with no host synchronisation.
//!
//! Both types are `Send + Sync`: the driver's stream and event calls are thread-safe.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nvdx_sys::cuda::{CUevent, CUevent_flags, CUstream};

use crate::context::Context;
use crate::cu;
use crate::error::{Error, Result};

/// A CUDA stream (non-blocking with respect to the legacy default stream), owned by nvdx or
/// borrowed from another library ([`Stream::from_raw_borrowed`]).
///
/// An owned stream's handle lives as long as the `Stream` *or* any allocation whose last use
/// on it has not been captured by an event yet (nvdx records those events lazily, when another
/// stream, the host or a free needs them): the driver's stream is destroyed when the last of
/// them lets go.
///
/// Because those events (and stream-ordered frees of memory last used on the stream) are
/// enqueued when needed, possibly from another thread, do not capture a CUDA graph on an owned
/// `Stream` through [`Stream::raw`]; capture on a stream of your own and hand nvdx a borrowed
/// view of it only outside the capture.
pub struct Stream {
    inner: Arc<StreamInner>,
}

/// The handle behind a [`Stream`], shared with the lifetime tracking of allocations whose last
/// use on an owned stream is still unrecorded (see [`crate::access`]).
pub(crate) struct StreamInner {
    pub(crate) ctx: Context,
    pub(crate) raw: CUstream,
    pub(crate) id: u64,
    owned: bool,
    /// The allocations the latest tracked operation used (see [`crate::access::op_begin`]).
    pub(crate) last: std::sync::Mutex<crate::access::LastOp>,
}

/// Hands out stream identities: unique for the life of the process (raw handles are reused by
/// the driver after a destroy; ids never are), so "this work ran on the same stream" is exact.
pub(crate) fn next_stream_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A stream as the lifetime tracking sees it: a raw handle, its unique id and its context,
/// and, for streams nvdx owns, a share of the handle so that a use on it may stay unrecorded
/// until someone needs an event (borrowed streams, whose life nvdx cannot extend, and
/// internal streams are recorded at once).
#[derive(Clone, Copy)]
pub(crate) struct StreamRef<'a> {
    pub(crate) raw: CUstream,
    pub(crate) id: u64,
    pub(crate) ctx: &'a Context,
    pub(crate) keep: Option<&'a Arc<StreamInner>>,
}

/// Whether `raw` is a legacy default stream handle (`0`, or `1`, `CU_STREAM_LEGACY`): it names
/// the stream of whichever context is current, so a call on it needs its context bound.
pub(crate) fn is_legacy(raw: CUstream) -> bool {
    (raw as usize) < 2
}

impl<'a> StreamRef<'a> {
    /// Binds the stream's context for a call on the raw handle when the handle is a legacy
    /// default stream (see [`is_legacy`]); other handles carry their context.
    pub(crate) fn bind_if_legacy(&self) -> Result<Option<crate::context::ContextGuard<'a>>> {
        if is_legacy(self.raw) {
            self.ctx.bind().map(Some)
        } else {
            Ok(None)
        }
    }
}

// SAFETY: CUstream handles may be used from any thread; every use binds the owning context.
unsafe impl Send for StreamInner {}
// SAFETY: as above; the handle is never mutated after creation.
unsafe impl Sync for StreamInner {}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("raw", &self.inner.raw)
            .field("id", &self.inner.id)
            .finish_non_exhaustive()
    }
}

impl Stream {
    /// Creates a stream on `ctx` that does not synchronise with the legacy default stream.
    pub fn new(ctx: &Context) -> Result<Stream> {
        let raw = {
            let _g = ctx.bind()?;
            cu::stream_create_non_blocking()?
        };
        Ok(Stream {
            inner: Arc::new(StreamInner {
                ctx: ctx.clone(),
                raw,
                id: next_stream_id(),
                owned: true,
                last: Default::default(),
            }),
        })
    }

    /// Uses another library's stream (PyTorch's current stream, a cudarc stream, ...) as an
    /// nvdx stream without taking ownership: dropping the `Stream` does not destroy it.
    ///
    /// The per-thread default stream (`2`, `CU_STREAM_PER_THREAD`) is refused: a `Stream` may
    /// be used from several threads, and `2` names a different stream on each, which would
    /// defeat nvdx's "same stream, already ordered" reasoning. Pass the stream's own handle.
    ///
    /// # Safety
    /// `raw` is a live stream of `ctx` (or the context's legacy default stream, `0` or `1`),
    /// and stays alive for as long as the returned `Stream` and any work nvdx enqueued on it
    /// through this value are in use.
    pub unsafe fn from_raw_borrowed(ctx: &Context, raw: CUstream) -> Result<Stream> {
        if raw as usize == 2 {
            return Err(Error::InvalidArgument(
                "the per-thread default stream (2) names another stream on every thread: pass \
                 an explicit stream handle"
                    .into(),
            ));
        }
        Ok(Stream {
            inner: Arc::new(StreamInner {
                ctx: ctx.clone(),
                raw,
                id: next_stream_id(),
                owned: false,
                last: Default::default(),
            }),
        })
    }

    /// The stream's identity: unique for the life of the process, never reused (unlike raw
    /// handles).
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Whether nvdx created this stream (and destroys it on drop).
    pub fn is_owned(&self) -> bool {
        self.inner.owned
    }

    pub(crate) fn tracking_ref(&self) -> StreamRef<'_> {
        StreamRef {
            raw: self.inner.raw,
            id: self.inner.id,
            ctx: &self.inner.ctx,
            keep: self.inner.owned.then_some(&self.inner),
        }
    }

    /// The context the stream belongs to.
    pub fn context(&self) -> &Context {
        &self.inner.ctx
    }

    /// The raw `CUstream` (to hand to other libraries, e.g. PyTorch's external stream).
    pub fn raw(&self) -> CUstream {
        self.inner.raw
    }

    /// Blocks until all work enqueued so far has finished.
    pub fn synchronize(&self) -> Result<()> {
        let _g = self.inner.ctx.bind()?;
        cu::stream_synchronize(self.inner.raw)
    }

    /// Whether all enqueued work has finished, without blocking.
    pub fn is_idle(&self) -> Result<bool> {
        let _g = self.inner.ctx.bind()?;
        cu::stream_query(self.inner.raw)
    }

    /// Makes all future work on this stream wait for `event` (which may belong to another
    /// stream or another GPU). Does not block the host.
    pub fn wait_event(&self, event: &Event) -> Result<()> {
        let _g = self.tracking_ref().bind_if_legacy()?;
        cu::stream_wait_event(self.inner.raw, event.raw)
    }

    /// Records a new event on this stream and returns it (convenience for one-off ordering).
    pub fn record_event(&self) -> Result<Event> {
        let e = Event::new_sync_only(&self.inner.ctx)?;
        e.record(self)?;
        Ok(e)
    }
}

impl Drop for StreamInner {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        if let Ok(_g) = self.ctx.bind() {
            // SAFETY: the stream is owned by self and never used again; pending work completes
            // before the driver frees the stream's resources (cuStreamDestroy is asynchronous).
            let _ = unsafe { cu::stream_destroy(self.raw) };
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
        let raw = {
            let _g = ctx.bind()?;
            cu::event_create(flags)?
        };
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

    /// Captures the work enqueued on `stream` so far. The stream must belong to the event's
    /// context (CUDA's rule; an [`Error::InvalidArgument`] otherwise). Any stream of any GPU
    /// may then *wait* for the event ([`Stream::wait_event`]): that is how work is ordered
    /// across GPUs.
    pub fn record(&self, stream: &Stream) -> Result<()> {
        if stream.context() != &self.ctx {
            return Err(Error::InvalidArgument(format!(
                "an event of GPU {} cannot be recorded on a stream of GPU {}: create the event in \
                 the stream's context",
                self.ctx.device().ordinal(),
                stream.context().device().ordinal()
            )));
        }
        let _g = stream.tracking_ref().bind_if_legacy()?;
        cu::event_record(self.raw, stream.raw())
    }

    /// Records on a raw stream of the event's context (internal streams).
    pub(crate) fn record_raw(&self, stream: CUstream) -> Result<()> {
        cu::event_record(self.raw, stream)
    }

    /// Blocks until the captured work has finished.
    pub fn synchronize(&self) -> Result<()> {
        let _g = self.ctx.bind()?;
        cu::event_synchronize(self.raw)
    }

    /// Whether the captured work has finished, without blocking.
    pub fn is_complete(&self) -> Result<bool> {
        let _g = self.ctx.bind()?;
        cu::event_query(self.raw)
    }

    /// GPU time between two recorded, completed timing events.
    pub fn elapsed(start: &Event, end: &Event) -> Result<Duration> {
        let _g = start.ctx.bind()?;
        let ms = cu::event_elapsed_time(start.raw, end.raw)?;
        Ok(Duration::from_secs_f64(f64::from(ms.max(0.0)) / 1000.0))
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        if let Ok(_g) = self.ctx.bind() {
            // SAFETY: the event is owned by self and never used again.
            let _ = unsafe { cu::event_destroy(self.raw) };
        }
    }
}
