//! The safe API: conversions between frame views and [`Tensor`]s, ordered by the allocations'
//! tracking, and the sampler's concurrent slot writers.

use super::launch::{
    resize_yuv420_raw, rgb_to_yuv420_raw, yuv420_to_rgb_raw, yuv420_to_tensor_batch_raw,
    yuv420_to_tensor_raw,
};
use super::{ColourSpace, RawImage, RawTensor, Tensor, TensorParams, MAX_BATCH_PER_LAUNCH};
use crate::access::MemorySealed;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::frame::{Frame, FrameView, PixelFormat};
use crate::stream::Stream;

// ---- safe API ----------------------------------------------------------------------------------
//
// Each wrapper runs its launch through the allocations' tracking (`access::ordered`): the
// stream waits for the sources' last writes and for every pending use of the destination, and
// records the launch on all of them. Dropping a frame right after a launch is therefore safe
// (its free waits for the kernel) and costs no host synchronisation.

/// Launches `op` on `stream`, ordered after the conflicting work on the sources (`reads`) and
/// the destination (`write`), and recorded on them.
fn tracked<R>(
    stream: &Stream,
    reads: &[&crate::access::Access],
    write: &crate::access::Access,
    op: impl FnOnce() -> Result<R>,
) -> Result<R> {
    let mut result = None;
    crate::access::ordered(stream.tracking_ref(), reads, &[write], || {
        result = Some(op()?);
        Ok(())
    })?;
    result.ok_or_else(|| Error::InvalidState("launch produced no result".into()))
}

fn access_of<F: FrameView + ?Sized>(f: &F) -> &crate::access::Access {
    f.frame_parts().mem.access
}

fn check_context<F: FrameView + ?Sized>(stream: &Stream, what: &F) -> Result<()> {
    if what.context() != stream.context() {
        return Err(Error::InvalidArgument(format!(
            "a frame of GPU {} cannot be processed on a stream of GPU {}: transfer it first \
             (nvdx::xfer)",
            what.context().device().ordinal(),
            stream.context().device().ordinal()
        )));
    }
    Ok(())
}

/// Converts packed RGB to 4:2:0: `Rgb24`/`Bgr24`/`Rgba`/`Bgra` into `Nv12`, `Rgb48` into `P016`
/// (alpha is ignored). Chroma comes from the average of each 2x2 block. Same size in and out.
///
/// Enqueued on `stream`, ordered after the pending work on both frames (any stream); either
/// may be dropped right after the call. `src` and `dst` cannot be the same frame:
///
/// ```compile_fail
/// # use nvdx::kernels::colour::{rgb_to_yuv420, ColourSpace};
/// # fn f(frame: &mut nvdx::Frame, s: &nvdx::Stream) -> nvdx::Result<()> {
/// rgb_to_yuv420(frame, frame, ColourSpace::BT709_LIMITED, s)?; // error: `*frame` borrowed twice
/// # Ok(()) }
/// ```
pub fn rgb_to_yuv420(
    src: &impl FrameView,
    dst: &mut Frame,
    space: ColourSpace,
    stream: &Stream,
) -> Result<()> {
    check_context(stream, src)?;
    check_context(stream, dst)?;
    let (s, d) = (RawImage::of(src), RawImage::of(dst));
    tracked(stream, &[access_of(src)], dst.mem().access, || {
        // SAFETY: both views own (or borrow for the call) allocations matching their
        // descriptors; `dst` is borrowed mutably so it cannot be `src`; the tracking keeps
        // both allocations alive and unmodified until the stream has run the kernel.
        unsafe { rgb_to_yuv420_raw(&s, &d, space, stream) }
    })
}

/// Converts `Nv12` or `P016` to packed 8-bit `Rgb24`, `Bgr24`, `Rgba` or `Bgra` (alpha 255), with
/// bilinear chroma upsampling. Same size in and out. Ordered like [`rgb_to_yuv420`].
pub fn yuv420_to_rgb(
    src: &impl FrameView,
    dst: &mut Frame,
    space: ColourSpace,
    stream: &Stream,
) -> Result<()> {
    check_context(stream, src)?;
    check_context(stream, dst)?;
    let (s, d) = (RawImage::of(src), RawImage::of(dst));
    tracked(stream, &[access_of(src)], dst.mem().access, || {
        // SAFETY: as in rgb_to_yuv420.
        unsafe { yuv420_to_rgb_raw(&s, &d, space, stream) }
    })
}

/// Converts an `Nv12` or `P016` frame into slot `slot` of `dst`: bilinear resize to the tensor's
/// `H x W`, conversion to RGB in `[0, 1]`, then `(rgb - mean) / std`, stored as planar R, G, B.
/// Ordered like [`rgb_to_yuv420`].
pub fn yuv420_to_tensor(
    src: &impl FrameView,
    dst: &mut Tensor,
    slot: usize,
    params: &TensorParams,
    stream: &Stream,
) -> Result<()> {
    yuv420_to_tensor_batch(&[src], dst, slot, params, stream)
}

/// [`yuv420_to_tensor`] for several frames (of one format, any sizes) into slots
/// `first_slot..first_slot + srcs.len()`, in one launch per 32 frames (`blockIdx.z` = frame).
/// Allocates nothing on the host.
pub fn yuv420_to_tensor_batch<F: FrameView + ?Sized>(
    srcs: &[&F],
    dst: &mut Tensor,
    first_slot: usize,
    params: &TensorParams,
    stream: &Stream,
) -> Result<()> {
    if dst.buffer().context() != stream.context() {
        return Err(Error::InvalidArgument(
            "the tensor and the stream belong to different GPUs".into(),
        ));
    }
    let raw_tensor = dst.raw();
    for (chunk_index, chunk) in srcs.chunks(MAX_BATCH_PER_LAUNCH).enumerate() {
        let mut raws = [RawImage::packed(PixelFormat::Nv12, 0, 0, 0, 0); MAX_BATCH_PER_LAUNCH];
        for (r, f) in raws.iter_mut().zip(chunk) {
            check_context(stream, *f)?;
            *r = RawImage::of(*f);
        }
        let slot = first_slot + chunk_index * MAX_BATCH_PER_LAUNCH;
        let access = dst.buffer().mem().access;
        let reads: [&crate::access::Access; MAX_BATCH_PER_LAUNCH] =
            std::array::from_fn(|i| chunk.get(i).map_or(access, |f| access_of(*f)));
        tracked(stream, &reads[..chunk.len()], access, || {
            // SAFETY: the views' descriptors describe live allocations, kept alive and
            // unmodified until the kernel has run by the tracking; the tensor owns
            // batch * 3 * H * W elements (the plan checks the slots).
            unsafe {
                yuv420_to_tensor_batch_raw(&raws[..chunk.len()], &raw_tensor, slot, params, stream)
            }
        })?;
    }
    Ok(())
}

/// Writers of one tensor's slots from several streams at once (the sampler's sessions, one
/// thread and stream each), without serialising the streams on each other.
///
/// Each stream's writer first waits for the tensor's pending uses; each slot is written at most
/// once (so concurrent writers never touch the same bytes); [`SlotWriter::finish`] makes the
/// caller's stream wait for every writer and records the whole as the tensor's last write. If
/// it is dropped unfinished (an error path), it waits on the host for the writers' work.
pub(crate) struct SlotWriter<'a> {
    raw: RawTensor,
    access: &'a crate::access::Access,
    ctx: &'a Context,
    claimed: std::sync::Mutex<Vec<bool>>,
    joins: std::sync::Mutex<Vec<crate::stream::Event>>,
    finished: bool,
}

impl<'a> SlotWriter<'a> {
    pub(crate) fn new(tensor: &'a mut Tensor) -> SlotWriter<'a> {
        let raw = tensor.raw();
        let mem = tensor.buffer().mem();
        SlotWriter {
            raw,
            access: mem.access,
            ctx: mem.ctx,
            claimed: std::sync::Mutex::new(vec![false; raw.batch]),
            joins: std::sync::Mutex::new(Vec::new()),
            finished: false,
        }
    }

    /// A writer on `stream` (of the tensor's GPU), ordered after the tensor's pending uses.
    pub(crate) fn on<'s>(&'s self, stream: &'s Stream) -> Result<SlotStream<'s>> {
        if stream.context() != self.ctx {
            return Err(Error::InvalidArgument(
                "the tensor and the stream belong to different GPUs".into(),
            ));
        }
        let join = crate::stream::Event::new_sync_only(self.ctx)?;
        self.access.before_write(stream.tracking_ref())?;
        Ok(SlotStream {
            writer: self,
            stream,
            join: Some(join),
        })
    }

    /// Makes `stream` wait for every writer (all dropped by now: they borrow `self`) and
    /// records that point as the tensor's last write.
    pub(crate) fn finish(mut self, stream: &Stream) -> Result<()> {
        {
            let joins = self
                .joins
                .lock()
                .map_err(|_| Error::InvalidState("tensor writers poisoned".into()))?;
            for e in joins.iter() {
                // On an error the joins stay, and Drop waits for them on the host.
                stream.wait_event(e)?;
            }
        }
        self.access.after_write(stream.tracking_ref())?;
        self.finished = true;
        Ok(())
    }
}

impl Drop for SlotWriter<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let Ok(joins) = self.joins.lock() {
            for e in joins.iter() {
                let _ = e.synchronize();
            }
        }
    }
}

/// One stream's writer of a [`SlotWriter`]'s tensor.
pub(crate) struct SlotStream<'s> {
    writer: &'s SlotWriter<'s>,
    stream: &'s Stream,
    join: Option<crate::stream::Event>,
}

impl SlotStream<'_> {
    /// Converts `src` into slot `slot` (see [`yuv420_to_tensor`]) on this writer's stream.
    pub(crate) fn write<F: FrameView + ?Sized>(
        &self,
        src: &F,
        slot: usize,
        params: &TensorParams,
    ) -> Result<()> {
        check_context(self.stream, src)?;
        {
            let mut claimed = self
                .writer
                .claimed
                .lock()
                .map_err(|_| Error::InvalidState("tensor writers poisoned".into()))?;
            match claimed.get_mut(slot) {
                Some(c) if !*c => *c = true,
                Some(_) => {
                    return Err(Error::InvalidArgument(format!(
                        "tensor slot {slot} is written twice in one request"
                    )))
                }
                None => {
                    return Err(Error::InvalidArgument(format!(
                        "slot {slot} is outside the tensor's batch of {}",
                        self.writer.raw.batch
                    )))
                }
            }
        }
        let s = RawImage::of(src);
        let raw = self.writer.raw;
        let access = src.frame_parts().mem.access;
        crate::access::ordered(self.stream.tracking_ref(), &[access], &[], || {
            // SAFETY: `src` describes a live allocation whose tracking orders this read; the
            // tensor is borrowed mutably by the SlotWriter for the whole request, this slot is
            // written by no other launch (claimed above), the stream waited for the tensor's
            // pending uses, and the SlotWriter joins this stream before the tensor is used
            // again (or waits on the host when dropped unfinished).
            unsafe { yuv420_to_tensor_raw(&s, &raw, slot, params, self.stream) }
        })
    }
}

impl Drop for SlotStream<'_> {
    fn drop(&mut self) {
        let Some(join) = self.join.take() else { return };
        if join.record(self.stream).is_err() {
            let _ = self.stream.synchronize();
            return;
        }
        match self.writer.joins.lock() {
            Ok(mut j) => j.push(join),
            Err(_) => {
                let _ = self.stream.synchronize();
            }
        }
    }
}

/// Resizes an `Nv12` (or `P016`) frame into `dst` of the same format and any even size,
/// bilinearly, each plane at its own resolution (e.g. to feed an encoder at another size).
/// Ordered like [`rgb_to_yuv420`].
pub fn resize_yuv420(src: &impl FrameView, dst: &mut Frame, stream: &Stream) -> Result<()> {
    check_context(stream, src)?;
    check_context(stream, dst)?;
    let (s, d) = (RawImage::of(src), RawImage::of(dst));
    tracked(stream, &[access_of(src)], dst.mem().access, || {
        // SAFETY: as in rgb_to_yuv420.
        unsafe { resize_yuv420_raw(&s, &d, stream) }
    })
}
