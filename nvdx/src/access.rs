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

use std::sync::Mutex;

use crate::context::Context;
use crate::cu;
use crate::error::{Error, Result};
use crate::stream::{Event, StreamRef};

/// The last-write and all-uses events of one allocation.
#[derive(Default)]
pub struct Access {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// One pair of events per context the allocation was used from (usually one).
    slots: Vec<Slot>,
    /// The last write: which slot's `write` event, and the stream that recorded it.
    write: Option<Mark>,
    /// The latest recording that covers every use so far.
    used: Option<Mark>,
}

struct Slot {
    ctx: Context,
    write: Event,
    used: Event,
}

#[derive(Clone, Copy)]
struct Mark {
    slot: usize,
    stream: u64,
    /// Which of the slot's two events holds the recording.
    event: Which,
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
        {
            let mut st = self.lock()?;
            st.write = None;
            st.used = None;
        }
        self.after_write(stream)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| {
            Error::InvalidState("allocation state poisoned by a panic on another thread".into())
        })
    }

    /// Makes `stream` wait for the last write (before reading on it).
    pub(crate) fn before_read(&self, stream: StreamRef<'_>) -> Result<()> {
        let st = self.lock()?;
        if let Some(m) = st.write {
            if m.stream != stream.id {
                cu::stream_wait_event(stream.raw, st.slots[m.slot].event(m.event).raw())?;
            }
        }
        Ok(())
    }

    /// Makes `stream` wait for every use so far (before writing on it).
    pub(crate) fn before_write(&self, stream: StreamRef<'_>) -> Result<()> {
        let st = self.lock()?;
        if let Some(m) = st.used {
            if m.stream != stream.id {
                cu::stream_wait_event(stream.raw, st.slots[m.slot].event(m.event).raw())?;
            }
        }
        Ok(())
    }

    /// Records a read enqueued on `stream`.
    pub(crate) fn after_read(&self, stream: StreamRef<'_>) -> Result<()> {
        let mut st = self.lock()?;
        let slot = st.slot_for(stream.ctx)?;
        if let Some(m) = st.used {
            if m.stream != stream.id {
                // Chain: this stream's record must also cover the earlier uses elsewhere.
                cu::stream_wait_event(stream.raw, st.slots[m.slot].event(m.event).raw())?;
            }
        }
        st.slots[slot].used.record_raw(stream.raw)?;
        st.used = Some(Mark {
            slot,
            stream: stream.id,
            event: Which::Used,
        });
        Ok(())
    }

    /// Records a write enqueued on `stream` (which waited for every use first).
    pub(crate) fn after_write(&self, stream: StreamRef<'_>) -> Result<()> {
        let mut st = self.lock()?;
        let slot = st.slot_for(stream.ctx)?;
        // One recording serves as both marks: the write waited for every use, so the point
        // after it covers them all. A later read re-records only the `used` event.
        let mark = Mark {
            slot,
            stream: stream.id,
            event: Which::Write,
        };
        st.slots[slot].write.record_raw(stream.raw)?;
        st.write = Some(mark);
        st.used = Some(mark);
        Ok(())
    }

    /// Blocks the calling thread until the last write has finished (before the host reads).
    pub(crate) fn host_wait_writes(&self) -> Result<()> {
        let mut st = self.lock()?;
        if let Some(m) = st.write {
            cu::event_synchronize(st.slots[m.slot].event(m.event).raw())?;
            st.write = None;
        }
        Ok(())
    }

    /// Blocks the calling thread until every use has finished (before the host writes or the
    /// memory is freed without a stream).
    pub(crate) fn host_wait_uses(&self) -> Result<()> {
        let mut st = self.lock()?;
        if let Some(m) = st.used {
            cu::event_synchronize(st.slots[m.slot].event(m.event).raw())?;
            st.write = None;
            st.used = None;
        }
        Ok(())
    }

    /// Whether every use has finished (no blocking).
    pub(crate) fn is_idle(&self) -> Result<bool> {
        let st = self.lock()?;
        match st.used {
            Some(m) => cu::event_query(st.slots[m.slot].event(m.event).raw()),
            None => Ok(true),
        }
    }

    /// Makes a raw stream wait for every use (a free queued after it then runs after them).
    pub(crate) fn order_raw_after_uses(&self, stream: nvdx_sys::cuda::CUstream) -> Result<()> {
        let st = self.lock()?;
        if let Some(m) = st.used {
            cu::stream_wait_event(stream, st.slots[m.slot].event(m.event).raw())?;
        }
        Ok(())
    }
}

impl State {
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
        Ok(())
    })();
    if let Err(e) = recorded {
        // The work is queued but not recorded: finish it now, so no later user can overtake it.
        let _ = cu::stream_synchronize(stream.raw);
        return Err(e);
    }
    Ok(r)
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
