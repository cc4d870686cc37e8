//! Stream-ordered access tracking: what every GPU allocation knows about its pending work.
//!
//! Each allocation (buffer, frame, mapped decoder surface) owns an [`Access`]: the event of its
//! last **write** and an event that covers **every use** so far (reads and writes). Every safe
//! operation that touches an allocation on a stream goes through [`ordered`]:
//! - a read waits (on the GPU, `cuStreamWaitEvent`) for the last write;
//! - a write waits for every use;
//! - afterwards the operation's stream records the use (and the write).
//!
//! Uses on different streams are chained: a reader on stream B that follows a use on stream A
//! makes B wait for A's use before B records, so the one "every use" event always covers all
//! earlier uses (two readers still run concurrently: B's wait is enqueued after B's read).
//! Waits on the stream that recorded the event are skipped (stream ids are never reused).
//!
//! Events are per GPU (CUDA records an event only on streams of its own context): an
//! allocation touched from two GPUs (a peer transfer) keeps one pair per GPU, created on first
//! use, so the steady state creates nothing.
//!
//! Host access ([`Access::host_wait_writes`], [`Access::host_wait_uses`]) blocks on those same
//! events, and drops queue the free after the "every use" event.
//!
//! Recording is lazy on streams nvdx owns: a use on an owned stream leaves a *pending* mark
//! (the stream's handle, kept alive by the mark) instead of an event. The event is recorded
//! when the stream's *next* tracked operation starts, for the allocations that operation does
//! not use again ([`op_begin`]: exactly the end of the previous one), or earlier when
//! something needs it (a use on another stream, a host access, a pool return). A recording
//! made late only covers more of the stream's work (never less), so it can over-wait, never
//! miss; the boundary capture keeps that to untracked work a caller queued on the stream
//! itself. So a chain of operations on the same allocations on one stream (kernels, copies,
//! transfers back to back) records nothing, and a drop frees straight onto that stream. Borrowed streams (another library's) and
//! nvdx's internal streams are recorded at once, as their life cannot be extended.

use std::sync::{Arc, Mutex, Weak};

use nvdx_sys::cuda::CUevent;

use crate::context::Context;
use crate::cu;
use crate::error::{Error, Result};
use crate::stream::{Event, StreamInner, StreamRef};

/// The last-write and all-uses events of one allocation.
///
/// The state is shared (`Arc`) so that an owned stream can name the allocations its latest
/// operation left unrecorded (weakly) and capture them when its next operation starts.
#[derive(Default)]
pub struct Access {
    state: Arc<Mutex<State>>,
}

/// What an owned stream remembers of its latest tracked operation: the allocations it used
/// (weakly) and whether it wrote them. At the start of the stream's next operation, those the
/// new one does not supersede get their pending marks recorded, exactly at the boundary.
#[derive(Default)]
pub(crate) struct LastOp {
    uses: Vec<(Weak<Mutex<State>>, bool)>,
}

#[derive(Default)]
struct State {
    /// One pair of events per context the allocation was used from (usually one).
    slots: Vec<Slot>,
    /// The last write: where it is captured, and the stream it ran on.
    write: Option<Mark>,
    /// The point that covers every use so far.
    used: Option<Mark>,
    /// A stream other than the writer's that already waits for the current write (so its
    /// next reads need no new wait); cleared by every write.
    reader_after_write: Option<u64>,
}

struct Slot {
    ctx: Context,
    write: Event,
    used: Event,
}

struct Mark {
    stream: u64,
    point: Point,
}

/// Where a mark's point in its stream is kept.
enum Point {
    /// In one of a slot's two events.
    Recorded { slot: usize, event: Which },
    /// Not captured yet: the work is the latest of this (owned, kept alive) stream's uses, and
    /// an event is recorded only when another stream, the host or a free needs it. Nothing
    /// can be enqueued between the use and the recording that the recording must not cover
    /// (both cover the stream's work up to then), so a late recording only over-waits.
    Pending(Arc<StreamInner>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Write,
    Used,
}

impl Slot {
    fn event(&self, which: Which) -> &Event {
        match which {
            Which::Write => &self.write,
            Which::Used => &self.used,
        }
    }
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access").finish_non_exhaustive()
    }
}

impl Access {
    /// Tracking for an allocation with no pending work.
    pub(crate) fn new() -> Access {
        Access::default()
    }

    /// Tracking for an allocation whose creation was queued on `stream` (a stream-ordered
    /// allocation): every later user waits for that point.
    pub(crate) fn written_on(stream: StreamRef<'_>) -> Result<Access> {
        let a = Access::new();
        a.after_write(stream)?;
        Ok(a)
    }

    /// Forgets the marks (keeping the events) and records a write on `stream`: for tracking
    /// that is reused for a new picture in the same memory (the decoder's mapped surface),
    /// whose earlier uses were already ordered before this point.
    pub(crate) fn reset_written_on(&self, stream: StreamRef<'_>) -> Result<()> {
        op_begin(stream, &[], &[self])?;
        {
            let mut st = self.lock()?;
            st.write = None;
            st.used = None;
            st.reader_after_write = None;
        }
        self.after_write(stream)?;
        op_end(stream, &[], &[self]);
        Ok(())
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| {
            Error::InvalidState("allocation state poisoned by a panic on another thread".into())
        })
    }

    /// Makes `stream` wait for the last write (before reading on it).
    pub(crate) fn before_read(&self, stream: StreamRef<'_>) -> Result<()> {
        // A legacy default stream handle needs its context current.
        let _g = stream.bind_if_legacy()?;
        let mut st = self.lock()?;
        let Some(m) = &st.write else { return Ok(()) };
        if m.stream == stream.id || st.reader_after_write == Some(stream.id) {
            return Ok(());
        }
        let e = st.capture_write()?;
        cu::stream_wait_event(stream.raw, e)?;
        st.reader_after_write = Some(stream.id);
        Ok(())
    }

    /// Makes `stream` wait for every use so far (before writing on it).
    pub(crate) fn before_write(&self, stream: StreamRef<'_>) -> Result<()> {
        // A legacy default stream handle needs its context current.
        let _g = stream.bind_if_legacy()?;
        let mut st = self.lock()?;
        let Some(m) = &st.used else { return Ok(()) };
        if m.stream == stream.id {
            return Ok(());
        }
        let e = st.capture_used()?;
        cu::stream_wait_event(stream.raw, e)
    }

    /// Records a read enqueued on `stream`.
    pub(crate) fn after_read(&self, stream: StreamRef<'_>) -> Result<()> {
        // A legacy default stream handle needs its context current.
        let _g = stream.bind_if_legacy()?;
        let mut st = self.lock()?;
        if matches!(&st.write, Some(m) if m.stream != stream.id && matches!(m.point, Point::Pending(_)))
        {
            // A read that skipped `before_read`: capture the other stream's write anyway, so
            // the marks never name two different pending streams.
            st.capture_write()?;
        }
        if let Some(m) = &st.used {
            if m.stream == stream.id && matches!(m.point, Point::Pending(_)) {
                // The stream's latest use is already this allocation's "every use" point.
                return Ok(());
            }
            if m.stream != stream.id {
                // Chain: this stream's point must also cover the earlier uses elsewhere.
                let e = st.capture_used()?;
                let waited_already = st.reader_after_write == Some(stream.id)
                    && matches!(&st.write, Some(Mark { point: Point::Recorded { slot, event }, .. })
                        if st.slots[*slot].event(*event).raw() == e);
                if !waited_already {
                    cu::stream_wait_event(stream.raw, e)?;
                }
            }
        }
        let point = match stream.keep {
            Some(keep) => Point::Pending(keep.clone()),
            None => {
                let slot = st.slot_for(stream.ctx)?;
                st.slots[slot].used.record_raw(stream.raw)?;
                Point::Recorded {
                    slot,
                    event: Which::Used,
                }
            }
        };
        st.used = Some(Mark {
            stream: stream.id,
            point,
        });
        Ok(())
    }

    /// Records a write enqueued on `stream` (which waited for every use first).
    pub(crate) fn after_write(&self, stream: StreamRef<'_>) -> Result<()> {
        // A legacy default stream handle needs its context current.
        let _g = stream.bind_if_legacy()?;
        let mut st = self.lock()?;
        st.reader_after_write = None;
        // One point serves as both marks: the write waited for every use, so the point after
        // it covers them all. A later read moves only the `used` mark.
        let (write, used) = match stream.keep {
            Some(keep) => (Point::Pending(keep.clone()), Point::Pending(keep.clone())),
            None => {
                let slot = st.slot_for(stream.ctx)?;
                st.slots[slot].write.record_raw(stream.raw)?;
                let p = || Point::Recorded {
                    slot,
                    event: Which::Write,
                };
                (p(), p())
            }
        };
        st.write = Some(Mark {
            stream: stream.id,
            point: write,
        });
        st.used = Some(Mark {
            stream: stream.id,
            point: used,
        });
        Ok(())
    }

    /// Captures unrecorded marks in events now (a pool frame going back to its pool: the next
    /// user then waits for the work up to here, not for whatever its last stream runs later,
    /// and the stream handle is let go).
    pub(crate) fn settle(&self) -> Result<()> {
        let mut st = self.lock()?;
        if st.write.is_some() {
            st.capture_write()?;
        }
        if st.used.is_some() {
            st.capture_used()?;
        }
        Ok(())
    }

    /// Blocks the calling thread until the last write has finished (before the host reads).
    pub(crate) fn host_wait_writes(&self) -> Result<()> {
        let mut st = self.lock()?;
        if st.write.is_some() {
            let e = st.capture_write()?;
            cu::event_synchronize(e)?;
            st.write = None;
        }
        Ok(())
    }

    /// Blocks the calling thread until every use has finished (before the host writes or the
    /// memory is freed without a stream).
    pub(crate) fn host_wait_uses(&self) -> Result<()> {
        let mut st = self.lock()?;
        if st.used.is_some() {
            let e = st.capture_used()?;
            cu::event_synchronize(e)?;
            st.write = None;
            st.used = None;
            st.reader_after_write = None;
        }
        Ok(())
    }

    /// Whether every use has finished (no blocking).
    pub(crate) fn is_idle(&self) -> Result<bool> {
        let mut st = self.lock()?;
        if st.used.is_none() {
            return Ok(true);
        }
        let e = st.capture_used()?;
        cu::event_query(e)
    }

    /// Makes `stream` wait for every use (a free or unmap queued on it after this then runs
    /// after them); nothing when the last use ran on `stream` itself.
    pub(crate) fn order_after_uses(&self, stream: StreamRef<'_>) -> Result<()> {
        self.before_write(stream)
    }

    /// The owned stream whose work covers every use, when that point is still unrecorded and
    /// the stream belongs to `ctx`: a stream-ordered free can go straight onto it, with no
    /// event and no wait.
    pub(crate) fn pending_stream_in(&self, ctx: &Context) -> Option<Arc<StreamInner>> {
        let st = self.state.lock().ok()?;
        match &st.used {
            Some(Mark {
                point: Point::Pending(s),
                ..
            }) if &s.ctx == ctx => Some(s.clone()),
            _ => None,
        }
    }
}

impl State {
    /// Records the marks still pending on stream `id` (its next operation is about to start).
    fn capture_pending_on(&mut self, id: u64) -> Result<()> {
        if matches!(&self.write, Some(Mark { stream, point: Point::Pending(_) }) if *stream == id) {
            self.capture_write()?;
        }
        if matches!(&self.used, Some(Mark { stream, point: Point::Pending(_) }) if *stream == id) {
            self.capture_used()?;
        }
        Ok(())
    }

    fn slot_for(&mut self, ctx: &Context) -> Result<usize> {
        if let Some(i) = self.slots.iter().position(|s| &s.ctx == ctx) {
            return Ok(i);
        }
        self.slots.push(Slot {
            ctx: ctx.clone(),
            write: Event::new_sync_only(ctx)?,
            used: Event::new_sync_only(ctx)?,
        });
        Ok(self.slots.len() - 1)
    }

    /// The event of the last write, recorded now if it was pending. Call only with a write mark.
    fn capture_write(&mut self) -> Result<CUevent> {
        let (stream, keep) = match &self.write {
            None => return Err(Error::InvalidState("no write to wait for".into())),
            Some(Mark {
                point: Point::Recorded { slot, event },
                ..
            }) => return Ok(self.slots[*slot].event(*event).raw()),
            Some(Mark {
                stream,
                point: Point::Pending(keep),
            }) => (*stream, keep.clone()),
        };
        let slot = self.slot_for(&keep.ctx)?;
        // The capture may run where no context is current (a pool return, a drop).
        let _g = keep.ctx.bind()?;
        self.slots[slot].write.record_raw(keep.raw)?;
        let point = || Point::Recorded {
            slot,
            event: Which::Write,
        };
        self.write = Some(Mark {
            stream,
            point: point(),
        });
        // A pending write's stream is also the pending "every use" point (a use elsewhere
        // would have captured the write first): the same recording covers both.
        if let Some(Mark {
            stream: s,
            point: Point::Pending(_),
        }) = &self.used
        {
            if *s == stream {
                self.used = Some(Mark {
                    stream,
                    point: point(),
                });
            }
        }
        Ok(self.slots[slot].write.raw())
    }

    /// The event covering every use, recorded now if it was pending. Call only with a mark.
    fn capture_used(&mut self) -> Result<CUevent> {
        let (stream, keep) = match &self.used {
            None => return Err(Error::InvalidState("no use to wait for".into())),
            Some(Mark {
                point: Point::Recorded { slot, event },
                ..
            }) => return Ok(self.slots[*slot].event(*event).raw()),
            Some(Mark {
                stream,
                point: Point::Pending(keep),
            }) => (*stream, keep.clone()),
        };
        let write_pending_here = matches!(
            &self.write,
            Some(Mark { stream: s, point: Point::Pending(_) }) if *s == stream
        );
        if write_pending_here {
            // One recording for both marks (the write's event).
            return self.capture_write();
        }
        let slot = self.slot_for(&keep.ctx)?;
        let _g = keep.ctx.bind()?;
        self.slots[slot].used.record_raw(keep.raw)?;
        self.used = Some(Mark {
            stream,
            point: Point::Recorded {
                slot,
                event: Which::Used,
            },
        });
        Ok(self.slots[slot].used.raw())
    }
}

/// Runs `op`, which enqueues work on `stream` that reads the allocations in `reads` and writes
/// those in `writes`, ordered after their conflicting work, and records it on them.
///
/// If `op` fails nothing is recorded (the waits it added only delay the stream).
pub(crate) fn ordered<R>(
    stream: StreamRef<'_>,
    reads: &[&Access],
    writes: &[&Access],
    op: impl FnOnce() -> Result<R>,
) -> Result<R> {
    op_begin(stream, reads, writes)?;
    for a in reads {
        a.before_read(stream)?;
    }
    for a in writes {
        a.before_write(stream)?;
    }
    let r = op()?;
    let recorded = (|| {
        for a in reads {
            a.after_read(stream)?;
        }
        for a in writes {
            a.after_write(stream)?;
        }
        op_end(stream, reads, writes);
        Ok(())
    })();
    if let Err(e) = recorded {
        // The work is queued but not recorded: finish it now, so no later user can overtake it.
        let _ = cu::stream_synchronize(stream.raw);
        return Err(e);
    }
    Ok(r)
}

/// The start of a tracked operation on `stream`: the allocations the stream's previous
/// operation left pending and this one does not supersede (not used again, or only read after
/// a write) get their marks recorded now, so the event is exactly the previous operation's end
/// and later users never wait for work queued after it. Nothing for borrowed and internal
/// streams (recorded at once anyway).
pub(crate) fn op_begin(stream: StreamRef<'_>, reads: &[&Access], writes: &[&Access]) -> Result<()> {
    let Some(keep) = stream.keep else {
        return Ok(());
    };
    let mut last = keep
        .last
        .lock()
        .map_err(|_| Error::InvalidState("stream state poisoned by a panic".into()))?;
    let mut result = Ok(());
    for (w, wrote) in last.uses.drain(..) {
        let same = |a: &&Access| std::ptr::eq(Arc::as_ptr(&a.state), w.as_ptr());
        let superseded = writes.iter().any(same) || (!wrote && reads.iter().any(same));
        if superseded {
            continue;
        }
        if let Some(state) = w.upgrade() {
            let r = match state.lock() {
                Ok(mut st) => st.capture_pending_on(stream.id),
                Err(_) => Err(Error::InvalidState(
                    "allocation state poisoned by a panic on another thread".into(),
                )),
            };
            if result.is_ok() {
                result = r;
            }
        }
    }
    result
}

/// The end of a tracked operation on `stream` (its marks are set): remember what it used, for
/// [`op_begin`] of the stream's next operation.
pub(crate) fn op_end(stream: StreamRef<'_>, reads: &[&Access], writes: &[&Access]) {
    let Some(keep) = stream.keep else { return };
    if let Ok(mut last) = keep.last.lock() {
        last.uses.clear();
        last.uses
            .extend(reads.iter().map(|a| (Arc::downgrade(&a.state), false)));
        last.uses
            .extend(writes.iter().map(|a| (Arc::downgrade(&a.state), true)));
    }
}

/// A borrowed view of tracked memory: address, size, kind, identity, context and tracking.
/// Public in a private module: nameable only inside nvdx.
#[derive(Clone, Copy)]
pub struct MemRef<'a> {
    pub(crate) ptr: nvdx_sys::cuda::CUdeviceptr,
    pub(crate) len: usize,
    pub(crate) kind: crate::memory::MemoryKind,
    pub(crate) id: u64,
    pub(crate) ctx: &'a Context,
    pub(crate) access: &'a Access,
}

/// The sealing supertrait of [`crate::AsDevicePtr`]: only nvdx's types implement it.
pub trait MemorySealed {
    /// The memory's tracked view.
    fn mem(&self) -> MemRef<'_>;
}

/// What a frame view exposes to nvdx: its memory and geometry. Public in a private module.
#[derive(Clone, Copy)]
pub struct FrameParts<'a> {
    pub(crate) mem: MemRef<'a>,
    pub(crate) layout: &'a crate::frame::FrameLayout,
    pub(crate) meta: crate::frame::FrameMeta,
}

/// The sealing supertrait of [`crate::FrameView`]: only nvdx's frame types implement it.
pub trait FrameSealed {
    /// The view's memory and geometry.
    fn frame_parts(&self) -> FrameParts<'_>;
}
