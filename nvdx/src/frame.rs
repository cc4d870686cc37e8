//! Frames: one pitched allocation per picture, and pools that recycle them.
//!
//! An NV12 (or P016) frame is ONE allocation of `height * 3 / 2` rows of `pitch` bytes: luma
//! rows first, the interleaved chroma plane right after at `base + pitch * height`. That is the
//! layout NVENC's `CUDADEVICEPTR` input needs, what NVDEC's mapped surfaces look like, and what
//! lets a frame move between GPUs as a single 2D copy. Planar formats (YUV 4:4:4, planar RGB)
//! stack their planes the same way.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nvdx_sys::cuda::CUdeviceptr;

use crate::access::{Access, FrameParts, FrameSealed, MemRef, MemorySealed};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::memory::{
    copy_2d_tracked, download_2d, memset_tracked, upload_2d, AsDevicePtr, MemoryKind, RawAlloc,
};
use crate::stream::Stream;

/// Pixel layouts nvdx frames can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PixelFormat {
    /// 8-bit 4:2:0: a Y plane, then one interleaved UV plane of half height.
    Nv12,
    /// 16-bit 4:2:0 (10/12-bit data in the high bits), NV12 layout with 2-byte samples.
    P016,
    /// 8-bit 4:4:4, three full planes Y, U, V.
    Yuv444,
    /// 16-bit 4:4:4, three full planes.
    Yuv444_16,
    /// Packed 8-bit R, G, B.
    Rgb24,
    /// Packed 8-bit B, G, R.
    Bgr24,
    /// Packed 8-bit R, G, B, A.
    Rgba,
    /// Packed 8-bit B, G, R, A.
    Bgra,
    /// Packed 16-bit R, G, B (native-endian u16 per channel).
    Rgb48,
    /// Planar 8-bit R, G, B (three planes, CHW).
    RgbPlanarU8,
    /// Planar f16 R, G, B (CHW).
    RgbPlanarF16,
    /// Planar f32 R, G, B (CHW).
    RgbPlanarF32,
}

/// One plane of a frame: where it starts and how big it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneLayout {
    /// Offset from the frame's base address, in bytes.
    pub offset: usize,
    /// Number of rows.
    pub rows: usize,
    /// Bytes of pixel data per row (without padding).
    pub row_bytes: usize,
}

impl PixelFormat {
    /// Whether the format subsamples chroma 2x2 (and so needs even width and height).
    pub fn is_420(self) -> bool {
        matches!(self, PixelFormat::Nv12 | PixelFormat::P016)
    }

    /// Bytes per sample (a channel value).
    pub fn bytes_per_sample(self) -> usize {
        match self {
            PixelFormat::Nv12
            | PixelFormat::Yuv444
            | PixelFormat::Rgb24
            | PixelFormat::Bgr24
            | PixelFormat::Rgba
            | PixelFormat::Bgra
            | PixelFormat::RgbPlanarU8 => 1,
            PixelFormat::P016
            | PixelFormat::Yuv444_16
            | PixelFormat::Rgb48
            | PixelFormat::RgbPlanarF16 => 2,
            PixelFormat::RgbPlanarF32 => 4,
        }
    }

    /// Samples per pixel in one row of the first plane (3 for RGB24, 1 for NV12's luma).
    pub fn samples_per_pixel(self) -> usize {
        match self {
            PixelFormat::Rgb24 | PixelFormat::Bgr24 | PixelFormat::Rgb48 => 3,
            PixelFormat::Rgba | PixelFormat::Bgra => 4,
            _ => 1,
        }
    }

    /// Number of planes.
    pub fn plane_count(self) -> usize {
        match self {
            PixelFormat::Nv12 | PixelFormat::P016 => 2,
            PixelFormat::Yuv444 | PixelFormat::Yuv444_16 => 3,
            PixelFormat::RgbPlanarU8 | PixelFormat::RgbPlanarF16 | PixelFormat::RgbPlanarF32 => 3,
            _ => 1,
        }
    }

    /// Bytes of pixel data in one row of any plane for a frame `width` pixels wide.
    pub fn row_bytes(self, width: u32) -> usize {
        width as usize * self.samples_per_pixel() * self.bytes_per_sample()
    }

    /// Total rows of the single allocation for a frame `height` pixels high.
    pub fn total_rows(self, height: u32) -> usize {
        let h = height as usize;
        match self.plane_count() {
            2 => h + h / 2,
            3 => 3 * h,
            _ => h,
        }
    }
}

/// The geometry of a frame: format, size and pitch, and the planes that follow from them.
/// Pure arithmetic, no GPU needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    /// Pixel format.
    pub format: PixelFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from one row to the next (all planes share it).
    pub pitch: usize,
}

impl FrameLayout {
    /// Validates a geometry: non-zero size, even size for 4:2:0, pitch wide enough.
    pub fn new(format: PixelFormat, width: u32, height: u32, pitch: usize) -> Result<FrameLayout> {
        if width == 0 || height == 0 {
            return Err(Error::InvalidArgument(format!(
                "frame size {width}x{height} is empty"
            )));
        }
        if width > 32768 || height > 32768 {
            return Err(Error::InvalidArgument(format!(
                "frame size {width}x{height} exceeds 32768x32768"
            )));
        }
        if format.is_420() && (width % 2 != 0 || height % 2 != 0) {
            return Err(Error::InvalidArgument(format!(
                "{format:?} is 4:2:0 and needs an even width and height, got {width}x{height}; \
                 crop or pad to {}x{}",
                width & !1,
                height & !1
            )));
        }
        let row = format.row_bytes(width);
        if pitch < row {
            return Err(Error::InvalidArgument(format!(
                "pitch {pitch} is smaller than a {format:?} row of {width} pixels ({row} bytes)"
            )));
        }
        if pitch % format.bytes_per_sample() != 0 {
            return Err(Error::InvalidArgument(format!(
                "pitch {pitch} is not a multiple of the {}-byte sample size",
                format.bytes_per_sample()
            )));
        }
        Ok(FrameLayout {
            format,
            width,
            height,
            pitch,
        })
    }

    /// The layout with the smallest pitch nvdx would choose for host-visible memory
    /// (row bytes rounded up to 256).
    pub fn packed(format: PixelFormat, width: u32, height: u32) -> Result<FrameLayout> {
        let pitch = format.row_bytes(width).div_ceil(256) * 256;
        FrameLayout::new(format, width, height, pitch)
    }

    /// Rows of the whole allocation.
    pub fn rows(&self) -> usize {
        self.format.total_rows(self.height)
    }

    /// Size of the allocation in bytes.
    pub fn byte_len(&self) -> usize {
        self.pitch * self.rows()
    }

    /// Bytes of pixel data per row.
    pub fn row_bytes(&self) -> usize {
        self.format.row_bytes(self.width)
    }

    /// The planes, in memory order.
    pub fn planes(&self) -> Vec<PlaneLayout> {
        let h = self.height as usize;
        let row = self.row_bytes();
        match self.format.plane_count() {
            2 => vec![
                PlaneLayout {
                    offset: 0,
                    rows: h,
                    row_bytes: row,
                },
                PlaneLayout {
                    offset: self.pitch * h,
                    rows: h / 2,
                    row_bytes: row,
                },
            ],
            3 => (0..3)
                .map(|i| PlaneLayout {
                    offset: self.pitch * h * i,
                    rows: h,
                    row_bytes: row,
                })
                .collect(),
            _ => vec![PlaneLayout {
                offset: 0,
                rows: h,
                row_bytes: row,
            }],
        }
    }

    /// Size of the same picture packed without padding (pitch = row bytes).
    pub fn tight_len(&self) -> usize {
        self.row_bytes() * self.rows()
    }
}

/// Per-frame metadata carried through decode, conversion and transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameMeta {
    /// Presentation timestamp in the source's timescale.
    pub pts: i64,
    /// Timescale of `pts` (ticks per second), 0 if unknown.
    pub timescale: u32,
    /// Index of the picture in display order within its stream, if known.
    pub index: Option<u64>,
}

/// Row alignment of device frames (what `cuMemAllocPitch` chooses on current GPUs; NVENC and
/// 16-byte vector kernels are happy with it).
pub const DEVICE_PITCH_ALIGN: usize = 512;

/// A picture in one pitched allocation.
///
/// Its GPU work is tracked like every nvdx allocation's (see [`crate::memory`]): safe
/// operations order themselves after conflicting work on any stream, host copies wait for
/// the last write, and dropping the frame queues its free after the last use.
///
/// ```no_run
/// # fn main() -> nvdx::Result<()> {
/// use nvdx::{Context, Frame, FrameView, MemoryKind, PixelFormat};
/// let ctx = Context::primary(0)?;
/// let f = Frame::new(&ctx, PixelFormat::Nv12, 1920, 1080, MemoryKind::Device)?;
/// assert_eq!(f.chroma_ptr(), f.device_ptr() + (f.pitch() * 1080) as u64);
/// # Ok(()) }
/// ```
pub struct Frame {
    alloc: RawAlloc,
    layout: FrameLayout,
    /// Timestamps and position of the picture.
    pub meta: FrameMeta,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("layout", &self.layout)
            .field("kind", &self.alloc.kind())
            .field("ptr", &format_args!("{:#x}", self.alloc.ptr()))
            .field("meta", &self.meta)
            .finish()
    }
}

/// A view of a picture in GPU-visible memory that nvdx's kernels, copies, transfers and the
/// encoder read: [`Frame`], [`PooledFrame`] and the decoder's
/// [`MappedFrame`](crate::decode::MappedFrame). Sealed: nvdx trusts the geometry and the
/// tracking behind it.
///
/// Every safe operation that reads a view on a stream first makes that stream wait for the
/// view's last write, and records its read, so the view's memory is neither reused nor freed
/// before the read has run, on whatever stream, whoever drops what when. For your own raw
/// work on the pointers (kernels, other libraries), bracket it with [`FrameView::use_on`].
pub trait FrameView: FrameSealed {
    /// The geometry.
    fn layout(&self) -> &FrameLayout {
        self.frame_parts().layout
    }
    /// Pixel format.
    fn format(&self) -> PixelFormat {
        self.layout().format
    }
    /// Width in pixels.
    fn width(&self) -> u32 {
        self.layout().width
    }
    /// Height in pixels.
    fn height(&self) -> u32 {
        self.layout().height
    }
    /// Bytes between rows (all planes share it).
    fn pitch(&self) -> usize {
        self.layout().pitch
    }
    /// Rows of the allocation (`height * 3 / 2` for NV12).
    fn rows(&self) -> usize {
        self.layout().rows()
    }
    /// Where the picture lives.
    fn memory_kind(&self) -> MemoryKind {
        self.frame_parts().mem.kind
    }
    /// The owning context.
    fn context(&self) -> &Context {
        self.frame_parts().mem.ctx
    }
    /// Timestamp and display index.
    fn meta(&self) -> FrameMeta {
        self.frame_parts().meta
    }
    /// Base address (the first plane), for your own kernels (see [`FrameView::use_on`]).
    fn device_ptr(&self) -> CUdeviceptr {
        self.frame_parts().mem.ptr
    }
    /// Address of the luma (first) plane.
    fn luma_ptr(&self) -> CUdeviceptr {
        self.device_ptr()
    }
    /// Address of the chroma plane of NV12/P016 (`base + pitch * height`); for other formats
    /// the second plane if any, else the base.
    fn chroma_ptr(&self) -> CUdeviceptr {
        let l = self.layout();
        self.device_ptr() + (l.pitch * l.height as usize) as u64
    }
    /// Address of plane `i`; an error if the format has fewer planes.
    fn plane_ptr(&self, i: usize) -> Result<CUdeviceptr> {
        let planes = self.layout().planes();
        planes
            .get(i)
            .map(|p| self.device_ptr() + p.offset as u64)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "{:?} has {} plane(s), not {}",
                    self.format(),
                    planes.len(),
                    i + 1
                ))
            })
    }
    /// Downloads the picture tightly packed (no padding). Synchronous, and ordered after the
    /// picture's last write on any stream (no other synchronisation needed).
    fn copy_to_host(&self, tight: &mut [u8]) -> Result<()> {
        let l = *self.layout();
        let (row, rows) = (l.row_bytes(), l.rows());
        if tight.len() != row * rows {
            return Err(Error::InvalidArgument(format!(
                "{:?} {}x{} has {} tightly packed bytes, the buffer has {}",
                l.format,
                l.width,
                l.height,
                row * rows,
                tight.len()
            )));
        }
        download_2d(tight, row, self.frame_parts().mem, 0, l.pitch, row, rows)
    }
    /// Downloads the picture into a new tightly packed vector (tests, tools).
    fn to_host_vec(&self) -> Result<Vec<u8>> {
        let mut v = vec![0u8; self.layout().tight_len()];
        self.copy_to_host(&mut v)?;
        Ok(v)
    }
    /// Enqueues a copy of the picture into `dst` (same format and size; pitches, memory kinds
    /// and GPUs may differ) on `stream`: one 2D copy for all planes. Copies the metadata.
    fn copy_to(&self, dst: &mut Frame, stream: &Stream) -> Result<()> {
        dst.copy_from_async(self, stream)
    }
    /// Orders your own work on `stream` that reads this picture through its raw pointers:
    /// `stream` waits for the picture's last write now, and when the returned guard drops,
    /// the work enqueued on `stream` until then is recorded as a use (later writers and the
    /// picture's free wait for it). Enqueue the work while the guard lives.
    fn use_on<'a>(&'a self, stream: &'a Stream) -> Result<StreamUse<'a>> {
        let access = self.frame_parts().mem.access;
        access.before_read(stream.tracking_ref())?;
        Ok(StreamUse {
            access,
            stream,
            write: false,
        })
    }
}

/// Work on a stream that uses an allocation through its raw pointers, recorded when this
/// drops (see [`FrameView::use_on`], [`Frame::write_on`]).
pub struct StreamUse<'a> {
    access: &'a Access,
    stream: &'a Stream,
    write: bool,
}

impl std::fmt::Debug for StreamUse<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamUse")
            .field("write", &self.write)
            .finish_non_exhaustive()
    }
}

impl<'a> StreamUse<'a> {
    /// Starts a raw use of `access` on `stream` (it waits for the last write, or for every use
    /// when `write`); recorded when the guard drops.
    #[cfg_attr(not(feature = "cudarc"), allow(dead_code))]
    pub(crate) fn begin(access: &'a Access, stream: &'a Stream, write: bool) -> Result<Self> {
        let (r, w): (&[&Access], &[&Access]) = if write {
            (&[], &[access])
        } else {
            (&[access], &[])
        };
        crate::access::op_begin(stream.tracking_ref(), r, w)?;
        if write {
            access.before_write(stream.tracking_ref())?;
        } else {
            access.before_read(stream.tracking_ref())?;
        }
        Ok(StreamUse {
            access,
            stream,
            write,
        })
    }

    /// The stream the work runs on.
    pub fn stream(&self) -> &Stream {
        self.stream
    }
}

impl Drop for StreamUse<'_> {
    fn drop(&mut self) {
        let s = self.stream.tracking_ref();
        let r = if self.write {
            self.access.after_write(s)
        } else {
            self.access.after_read(s)
        };
        let acc: &[&Access] = &[self.access];
        if self.write {
            crate::access::op_end(s, &[], acc);
        } else {
            crate::access::op_end(s, acc, &[]);
        }
        if r.is_err() {
            // Not recorded: finish the work now so no later user can overtake it.
            let _ = self.stream.synchronize();
        }
    }
}

impl FrameSealed for Frame {
    fn frame_parts(&self) -> FrameParts<'_> {
        FrameParts {
            mem: self.alloc.mem(),
            layout: &self.layout,
            meta: self.meta,
        }
    }
}
impl FrameView for Frame {}

impl MemorySealed for Frame {
    fn mem(&self) -> MemRef<'_> {
        self.alloc.mem()
    }
}
impl AsDevicePtr for Frame {}

impl Frame {
    /// Allocates a frame; device frames round rows up to [`DEVICE_PITCH_ALIGN`] bytes,
    /// host-visible ones to 256.
    pub fn new(
        ctx: &Context,
        format: PixelFormat,
        width: u32,
        height: u32,
        kind: MemoryKind,
    ) -> Result<Frame> {
        let packed = FrameLayout::packed(format, width, height)?;
        if kind != MemoryKind::Device {
            return Frame::with_layout(ctx, packed, kind);
        }
        let pitch = packed.row_bytes().div_ceil(DEVICE_PITCH_ALIGN) * DEVICE_PITCH_ALIGN;
        Frame::with_layout(ctx, FrameLayout::new(format, width, height, pitch)?, kind)
    }

    /// Allocates a frame with an explicit layout (e.g. a padded pitch).
    pub fn with_layout(ctx: &Context, layout: FrameLayout, kind: MemoryKind) -> Result<Frame> {
        let layout = FrameLayout::new(layout.format, layout.width, layout.height, layout.pitch)?;
        let alloc = RawAlloc::new(ctx, layout.byte_len(), kind)?;
        Ok(Frame {
            alloc,
            layout,
            meta: FrameMeta::default(),
        })
    }

    /// Enqueues a fill of the whole allocation (padding included) with `value`.
    pub fn memset_async(&mut self, value: u8, stream: &Stream) -> Result<()> {
        memset_tracked(self.alloc.mem(), value, stream)
    }

    /// Uploads a tightly packed picture (rows of `row_bytes`, planes one after another, the
    /// layout of a raw `.yuv` file for NV12) into the frame. Synchronous, and ordered after
    /// every pending use of the frame on any stream.
    pub fn copy_from_host(&mut self, tight: &[u8]) -> Result<()> {
        let (row, rows) = (self.layout.row_bytes(), self.layout.rows());
        if tight.len() != row * rows {
            return Err(Error::InvalidArgument(format!(
                "{:?} {}x{} needs {} tightly packed bytes, got {}",
                self.layout.format,
                self.layout.width,
                self.layout.height,
                row * rows,
                tight.len()
            )));
        }
        upload_2d(
            self.alloc.mem(),
            0,
            self.layout.pitch,
            tight,
            row,
            row,
            rows,
        )
    }

    /// Downloads the whole allocation including padding (pitch * rows bytes); synchronous and
    /// ordered like [`FrameView::copy_to_host`].
    pub fn raw_to_host_vec(&self) -> Result<Vec<u8>> {
        let mut v = vec![0u8; self.layout.byte_len()];
        download_2d(
            &mut v,
            self.layout.pitch,
            self.alloc.mem(),
            0,
            self.layout.pitch,
            self.layout.pitch,
            self.layout.rows(),
        )?;
        Ok(v)
    }

    /// Enqueues a copy of `src`'s picture into this frame (same format and size; pitches and
    /// memory kinds may differ; `src` may live on another GPU with peer access or UVA), on
    /// `stream`, ordered after conflicting work on both. One 2D copy covers all planes (never a
    /// 1D copy of rows and padding together: it would read the source's uninitialised padding,
    /// and on the H200 back-to-back 1D copies of 1080p NV12 pictures ran at 10.5 us a frame
    /// against 6.3 us for 2D copies).
    pub fn copy_from_async(
        &mut self,
        src: &(impl FrameView + ?Sized),
        stream: &Stream,
    ) -> Result<()> {
        let sl = *src.layout();
        if sl.format != self.layout.format
            || sl.width != self.layout.width
            || sl.height != self.layout.height
        {
            return Err(Error::InvalidArgument(format!(
                "cannot copy a {:?} {}x{} frame into a {:?} {}x{} frame",
                sl.format,
                sl.width,
                sl.height,
                self.layout.format,
                self.layout.width,
                self.layout.height
            )));
        }
        let parts = src.frame_parts();
        copy_2d_tracked(
            self.alloc.mem(),
            0,
            self.layout.pitch,
            parts.mem,
            0,
            sl.pitch,
            self.layout.row_bytes(),
            self.layout.rows(),
            stream,
        )?;
        self.meta = parts.meta;
        Ok(())
    }

    /// Enqueues a copy of a tightly or evenly pitched picture in a buffer (e.g. a pinned
    /// [`HostBuffer`](crate::HostBuffer) a renderer filled) into this frame on `stream`: rows
    /// of `src_pitch` bytes, planes one after another as in the frame's layout. Ordered after
    /// conflicting work on both (so the host may refill the buffer through
    /// [`HostBuffer::as_mut_slice`](crate::HostBuffer::as_mut_slice) as soon as it likes: that
    /// call waits for this copy).
    pub fn copy_from_buffer_async(
        &mut self,
        src: &(impl AsDevicePtr + ?Sized),
        src_pitch: usize,
        stream: &Stream,
    ) -> Result<()> {
        let (row, rows) = (self.layout.row_bytes(), self.layout.rows());
        copy_2d_tracked(
            self.alloc.mem(),
            0,
            self.layout.pitch,
            src.mem(),
            0,
            src_pitch,
            row,
            rows,
            stream,
        )
    }

    /// Orders your own work on `stream` that writes this frame through its raw pointers:
    /// `stream` waits for every pending use now, and when the guard drops the work enqueued
    /// on `stream` until then is recorded as the frame's last write.
    pub fn write_on<'a>(&'a mut self, stream: &'a Stream) -> Result<StreamUse<'a>> {
        let access = self.alloc.access();
        access.before_write(stream.tracking_ref())?;
        Ok(StreamUse {
            access,
            stream,
            write: true,
        })
    }

    /// Blocks until every GPU use of the frame enqueued so far has finished (on any stream).
    pub fn synchronize(&self) -> Result<()> {
        self.alloc.access().host_wait_uses()
    }

    /// Whether every GPU use of the frame enqueued so far has finished (no blocking).
    pub fn is_idle(&self) -> Result<bool> {
        self.alloc.access().is_idle()
    }
}

// ---------------------------------------------------------------------------------------------
// Pools

/// A fixed set of reusable items with blocking and non-blocking acquire, handed out in the
/// order they were returned (first in, first out: the item returned longest ago, whose pending
/// GPU work is most likely done, goes out first). Generic so that its bookkeeping is testable
/// without a GPU; [`FramePool`] is a `Recycler` of frames plus a spec.
pub(crate) struct Recycler<T> {
    free: Mutex<Shelf<T>>,
    returned: Condvar,
    capacity: usize,
}

/// The free items and how many takers are blocked waiting for one (so that a return with
/// nobody waiting skips the condition variable: std's `notify_one` is a `futex` system call
/// even when no thread waits, one per frame returned).
struct Shelf<T> {
    items: VecDeque<T>,
    waiters: usize,
}

impl<T> Recycler<T> {
    pub(crate) fn new(items: Vec<T>) -> Arc<Recycler<T>> {
        let capacity = items.len();
        Arc::new(Recycler {
            free: Mutex::new(Shelf {
                items: items.into(),
                waiters: 0,
            }),
            returned: Condvar::new(),
            capacity,
        })
    }

    pub(crate) fn try_take(&self) -> Option<T> {
        self.free.lock().ok()?.items.pop_front()
    }

    pub(crate) fn take_timeout(&self, timeout: Option<Duration>) -> Result<T> {
        // The deadline is computed on the first wait: a free item costs no clock read.
        let mut deadline = None;
        let mut free = self.free.lock().map_err(|_| {
            Error::InvalidState("frame pool poisoned by a panic on another thread".into())
        })?;
        loop {
            if let Some(item) = free.items.pop_front() {
                return Ok(item);
            }
            if deadline.is_none() {
                deadline = timeout.map(|t| Instant::now() + t);
            }
            let wait_for = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(Error::PoolExhausted {
                            capacity: self.capacity,
                        });
                    }
                    Some(d - now)
                }
            };
            // Counted under the lock before waiting: a return after this point sees it.
            free.waiters += 1;
            free = match wait_for {
                None => self
                    .returned
                    .wait(free)
                    .map_err(|_| Error::InvalidState("frame pool poisoned".into()))?,
                Some(t) => {
                    self.returned
                        .wait_timeout(free, t)
                        .map_err(|_| Error::InvalidState("frame pool poisoned".into()))?
                        .0
                }
            };
            free.waiters -= 1;
        }
    }

    pub(crate) fn give_back(&self, item: T) {
        if let Ok(mut free) = self.free.lock() {
            free.items.push_back(item);
            if free.waiters > 0 {
                self.returned.notify_one();
            }
        }
    }

    pub(crate) fn available(&self) -> usize {
        self.free.lock().map(|f| f.items.len()).unwrap_or(0)
    }
}

/// A fixed-size pool of identical frames (2 to 16, like DeepStream's `buffer-pool-size`).
/// Frames return to the pool when their [`PooledFrame`] drops. Cloning the pool shares it.
///
/// ```no_run
/// # fn main() -> nvdx::Result<()> {
/// use nvdx::{Context, FramePool, MemoryKind, PixelFormat};
/// let ctx = Context::primary(0)?;
/// let pool = FramePool::new(&ctx, PixelFormat::Nv12, 1920, 1080, 4, MemoryKind::Device)?;
/// let a = pool.acquire()?;            // blocks while all 4 are out
/// let b = pool.try_acquire();          // None when exhausted
/// assert_eq!(pool.available(), 2);
/// drop((a, b));
/// assert_eq!(pool.available(), 4);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FramePool {
    ctx: Context,
    shared: Arc<Recycler<Frame>>,
    format: PixelFormat,
    width: u32,
    height: u32,
    kind: MemoryKind,
}

impl std::fmt::Debug for FramePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FramePool")
            .field("format", &self.format)
            .field("size", &(self.width, self.height))
            .field("capacity", &self.shared.capacity)
            .field("available", &self.shared.available())
            .finish()
    }
}

/// Smallest and largest pool sizes.
pub const POOL_SIZE_RANGE: std::ops::RangeInclusive<usize> = 2..=16;

/// Checks a requested pool size.
pub fn validate_pool_size(capacity: usize) -> Result<()> {
    if POOL_SIZE_RANGE.contains(&capacity) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "pool size {capacity} is outside 2..=16"
        )))
    }
}

impl FramePool {
    /// Allocates `capacity` frames up front.
    pub fn new(
        ctx: &Context,
        format: PixelFormat,
        width: u32,
        height: u32,
        capacity: usize,
        kind: MemoryKind,
    ) -> Result<FramePool> {
        validate_pool_size(capacity)?;
        FrameLayout::packed(format, width, height)?;
        let frames = (0..capacity)
            .map(|_| Frame::new(ctx, format, width, height, kind))
            .collect::<Result<Vec<_>>>()?;
        Ok(FramePool {
            ctx: ctx.clone(),
            shared: Recycler::new(frames),
            format,
            width,
            height,
            kind,
        })
    }

    /// Takes a frame, blocking until one is returned.
    pub fn acquire(&self) -> Result<PooledFrame> {
        let f = self.shared.take_timeout(None)?;
        Ok(PooledFrame::new(f, &self.shared))
    }

    /// Takes a frame, waiting at most `timeout`; [`Error::PoolExhausted`] after that.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<PooledFrame> {
        let f = self.shared.take_timeout(Some(timeout))?;
        Ok(PooledFrame::new(f, &self.shared))
    }

    /// Takes a frame if one is free right now.
    pub fn try_acquire(&self) -> Option<PooledFrame> {
        self.shared
            .try_take()
            .map(|f| PooledFrame::new(f, &self.shared))
    }

    /// Frames currently free.
    pub fn available(&self) -> usize {
        self.shared.available()
    }
    /// Total frames.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }
    /// The frames' format.
    pub fn format(&self) -> PixelFormat {
        self.format
    }
    /// The frames' size.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
    /// The frames' memory kind.
    pub fn memory_kind(&self) -> MemoryKind {
        self.kind
    }
    /// The context the frames were allocated in.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

/// A frame on loan from a [`FramePool`]; derefs to [`Frame`] and goes back on drop.
///
/// Nothing to do about GPU work that still uses the frame when it drops: like every nvdx
/// allocation, the frame knows its pending work, and its next writer (whoever takes it from
/// the pool: the decoder, a transfer, a kernel, on whatever stream) waits for that on the GPU.
pub struct PooledFrame {
    frame: std::mem::ManuallyDrop<Frame>,
    pool: Arc<Recycler<Frame>>,
}

impl PooledFrame {
    fn new(frame: Frame, pool: &Arc<Recycler<Frame>>) -> PooledFrame {
        PooledFrame {
            frame: std::mem::ManuallyDrop::new(frame),
            pool: Arc::clone(pool),
        }
    }
}

impl std::fmt::Debug for PooledFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.frame.fmt(f)
    }
}

impl std::ops::Deref for PooledFrame {
    type Target = Frame;
    fn deref(&self) -> &Frame {
        &self.frame
    }
}
impl std::ops::DerefMut for PooledFrame {
    fn deref_mut(&mut self) -> &mut Frame {
        &mut self.frame
    }
}

impl FrameSealed for PooledFrame {
    fn frame_parts(&self) -> FrameParts<'_> {
        self.frame.frame_parts()
    }
}
impl FrameView for PooledFrame {}
impl MemorySealed for PooledFrame {
    fn mem(&self) -> MemRef<'_> {
        self.frame.alloc.mem()
    }
}
impl AsDevicePtr for PooledFrame {}

impl Drop for PooledFrame {
    fn drop(&mut self) {
        // SAFETY: `frame` is taken exactly once, here, and never touched afterwards.
        let mut frame = unsafe { std::mem::ManuallyDrop::take(&mut self.frame) };
        frame.meta = FrameMeta::default();
        // Capture the last uses in events now: the next user waits for the work up to this
        // return, not for whatever the last user's stream runs later.
        if frame.alloc.access().settle().is_err() {
            let _ = frame.alloc.access().host_wait_uses();
        }
        self.pool.give_back(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nv12_layout_is_one_allocation_with_chroma_after_luma() {
        let l = FrameLayout::new(PixelFormat::Nv12, 1920, 1080, 2048).unwrap();
        assert_eq!(l.rows(), 1620);
        assert_eq!(l.byte_len(), 2048 * 1620);
        let p = l.planes();
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[0],
            PlaneLayout {
                offset: 0,
                rows: 1080,
                row_bytes: 1920
            }
        );
        assert_eq!(
            p[1],
            PlaneLayout {
                offset: 2048 * 1080,
                rows: 540,
                row_bytes: 1920
            }
        );
        assert_eq!(l.tight_len(), 1920 * 1080 * 3 / 2);
    }

    #[test]
    fn p016_and_planar_layouts() {
        let l = FrameLayout::packed(PixelFormat::P016, 1280, 720).unwrap();
        assert_eq!(l.row_bytes(), 2560);
        assert_eq!(l.pitch, 2560);
        assert_eq!(l.planes()[1].offset, 2560 * 720);
        let l = FrameLayout::packed(PixelFormat::RgbPlanarF16, 448, 448).unwrap();
        assert_eq!(l.row_bytes(), 896);
        assert_eq!(l.pitch, 1024);
        assert_eq!(
            l.planes().iter().map(|p| p.offset).collect::<Vec<_>>(),
            vec![0, 1024 * 448, 2 * 1024 * 448]
        );
        let l = FrameLayout::packed(PixelFormat::Rgba, 3, 5).unwrap();
        assert_eq!((l.row_bytes(), l.pitch, l.rows()), (12, 256, 5));
        let l = FrameLayout::packed(PixelFormat::Yuv444_16, 10, 4).unwrap();
        assert_eq!((l.row_bytes(), l.rows(), l.planes().len()), (20, 12, 3));
    }

    #[test]
    fn odd_420_sizes_and_bad_pitches_are_rejected() {
        let e = FrameLayout::packed(PixelFormat::Nv12, 1919, 1080).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)));
        assert!(e.to_string().contains("even"), "{e}");
        assert!(FrameLayout::packed(PixelFormat::P016, 1920, 1079).is_err());
        assert!(FrameLayout::packed(PixelFormat::Rgb24, 1919, 1079).is_ok());
        assert!(FrameLayout::new(PixelFormat::Rgb24, 100, 2, 299).is_err());
        assert!(FrameLayout::new(PixelFormat::P016, 100, 2, 201).is_err());
        assert!(FrameLayout::new(PixelFormat::Nv12, 0, 2, 256).is_err());
    }

    #[test]
    fn pool_sizes_are_validated() {
        assert!(validate_pool_size(1).is_err());
        assert!(validate_pool_size(2).is_ok());
        assert!(validate_pool_size(16).is_ok());
        assert!(validate_pool_size(17).is_err());
    }

    #[test]
    fn recycler_bookkeeping() {
        let r = Recycler::new(vec![1u32, 2, 3]);
        assert_eq!(r.available(), 3);
        let a = r.try_take().unwrap();
        let b = r.take_timeout(Some(Duration::from_millis(1))).unwrap();
        let c = r.try_take().unwrap();
        assert_eq!(r.available(), 0);
        assert!(r.try_take().is_none());
        let t0 = Instant::now();
        let e = r.take_timeout(Some(Duration::from_millis(30))).unwrap_err();
        assert!(t0.elapsed() >= Duration::from_millis(30));
        assert!(matches!(e, Error::PoolExhausted { capacity: 3 }), "{e:?}");
        let mut got = vec![a, b, c];
        got.sort();
        assert_eq!(got, vec![1, 2, 3]);
        // A blocked taker wakes when another thread gives an item back.
        let r2 = Arc::clone(&r);
        let h = std::thread::spawn(move || r2.take_timeout(Some(Duration::from_secs(5))));
        std::thread::sleep(Duration::from_millis(20));
        r.give_back(7);
        assert_eq!(h.join().unwrap().unwrap(), 7);
        assert_eq!(r.available(), 0);
        // First in, first out: the item returned longest ago goes out first.
        for i in [5, 3, 9] {
            r.give_back(i);
        }
        assert_eq!(r.try_take(), Some(5));
        r.give_back(1);
        let order: Vec<u32> = std::iter::from_fn(|| r.try_take()).collect();
        assert_eq!(order, vec![3, 9, 1]);
    }

    #[test]
    fn recycler_wakes_every_blocked_taker() {
        // Returns notify only while takers wait: each of several blocked takers must still get
        // an item, also when the returns come faster than the woken threads run.
        let r = Recycler::new(Vec::<u32>::new());
        let takers: Vec<_> = (0..4)
            .map(|_| {
                let r = Arc::clone(&r);
                std::thread::spawn(move || r.take_timeout(Some(Duration::from_secs(10))))
            })
            .collect();
        while r.free.lock().unwrap().waiters < 4 {
            std::thread::yield_now();
        }
        for i in 0..4 {
            r.give_back(i);
        }
        let mut got: Vec<u32> = takers
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect();
        got.sort();
        assert_eq!(got, vec![0, 1, 2, 3]);
        assert_eq!(r.free.lock().unwrap().waiters, 0);
        // A timed-out taker leaves no waiter behind.
        assert!(r.take_timeout(Some(Duration::from_millis(5))).is_err());
        assert_eq!(r.free.lock().unwrap().waiters, 0);
    }
}
