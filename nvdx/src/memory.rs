//! GPU-visible memory: device, pinned host and managed buffers, and stream-ordered copies.
//!
//! All three kinds have an address in the unified virtual address space, so one 1D or 2D copy
//! routine moves bytes between any two of them (and between GPUs).
//!
//! Every buffer knows its pending GPU work (the event of its last write and one that covers
//! every use): a safe copy on a stream first makes the stream wait for the work it conflicts
//! with, then records itself; host access waits for the events; a drop queues the free after
//! the last use. So safe code can drop a buffer right after enqueueing work on it, and read it
//! from the host without synchronising first. The `unsafe` raw copies ([`copy_raw`],
//! [`copy_2d_raw`]) do none of this: they are for memory nvdx does not own.
//!
//! # What a drop costs
//! - Device memory (buffers, frames, tensors) comes from the GPU's default memory pool, ordered
//!   on the context's internal stream. When every use so far ran on one stream nvdx owns (the
//!   common case), the drop queues `cuMemFreeAsync` on that stream, behind the uses; otherwise
//!   the internal stream waits for the allocation's last use (`cuStreamWaitEvent`) and frees.
//!   No host wait, no device-wide synchronisation: dropping a frame right after enqueueing a
//!   kernel on it is cheap and safe.
//! - Pinned ([`HostBuffer`]) and managed ([`ManagedBuffer`]) memory, and device memory on GPUs
//!   without memory pools: the dropping thread waits for the allocation's own last use (its
//!   event, not the stream or the device), then frees it. Keep such buffers for reuse on hot
//!   paths (nvdx's transfers keep a ring of them).
//! - A pool frame ([`crate::PooledFrame`]) is not freed but returned: nothing to wait for (one
//!   event is recorded if its last use is not captured yet); its next writer waits on the GPU.
//!
//! Buffers are `Send + Sync`: they are plain addresses whose lifetime is tied to a
//! [`Context`], and the driver's memory calls are thread-safe.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};

use nvdx_sys::cuda::{
    CUdevice_attribute, CUdeviceptr, CUmemAttach_flags, CUmemorytype, CUDA_MEMCPY2D,
};

use crate::access::{ordered, Access, MemRef, MemorySealed};
use crate::context::Context;
use crate::cu;
use crate::error::{Error, Result};
use crate::stream::{Stream, StreamRef};

/// Where a buffer or frame lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MemoryKind {
    /// GPU memory (`cuMemAlloc` / `cuMemAllocPitch`): fastest for kernels and NVDEC/NVENC.
    #[default]
    Device,
    /// Page-locked host memory mapped into the GPU's address space (`cuMemHostAlloc`).
    Pinned,
    /// Unified memory that migrates on demand (`cuMemAllocManaged`).
    Managed,
}

/// One allocation of any [`MemoryKind`], with the events of its pending work ([`Access`]),
/// freed on drop in stream order.
///
/// What a drop costs:
/// - device memory (from the device's memory pool): nothing on the host. The free is queued
///   on the stream of the last use when that one stream (owned by nvdx) covers every use, else
///   on the context's internal stream behind an event wait for the last use
///   (`cuStreamWaitEvent` + `cuMemFreeAsync`);
/// - device memory on a GPU without memory pools, pinned and managed memory: the dropping
///   thread waits for the allocation's own last use (its event, not the device), then frees.
pub(crate) struct RawAlloc {
    ctx: Context,
    ptr: CUdeviceptr,
    host: *mut c_void,
    len: usize,
    kind: MemoryKind,
    /// Whether `ptr` came from the memory pool (freed with `cuMemFreeAsync`).
    pooled: bool,
    id: u64,
    access: Access,
}

// SAFETY: the allocation is an address owned by this value; the driver calls that use and free
// it are thread-safe and bind the owning context; the access state is behind a Mutex.
unsafe impl Send for RawAlloc {}
// SAFETY: shared references only read the address; access tracking is internally locked.
unsafe impl Sync for RawAlloc {}

/// Hands out allocation identities, unique for the life of the process (addresses are reused
/// after a free; ids never are), e.g. for caches of NVENC registrations.
pub(crate) fn next_alloc_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl RawAlloc {
    pub(crate) fn new(ctx: &Context, len: usize, kind: MemoryKind) -> Result<RawAlloc> {
        if len == 0 {
            return Err(Error::InvalidArgument("cannot allocate 0 bytes".into()));
        }
        let _g = ctx.bind()?;
        let ptr: CUdeviceptr;
        let mut host: *mut c_void = std::ptr::null_mut();
        let mut pooled = false;
        let mut access = Access::new();
        match kind {
            MemoryKind::Device => match ctx.mem_pool()? {
                Some(pool) => {
                    let os = ctx.order_stream()?;
                    ptr = cu::mem_alloc_from_pool_async(len, pool, os.raw)?;
                    pooled = true;
                    let sref = StreamRef {
                        raw: os.raw,
                        id: os.id,
                        ctx,
                        keep: None,
                    };
                    match Access::written_on(sref) {
                        Ok(a) => access = a,
                        Err(e) => {
                            // SAFETY: just allocated on this stream, never used.
                            let _ = unsafe { cu::mem_free_async(ptr, os.raw) };
                            return Err(e);
                        }
                    }
                }
                None => ptr = cu::mem_alloc(len)?,
            },
            MemoryKind::Managed => {
                ptr = cu::mem_alloc_managed(len, CUmemAttach_flags::CU_MEM_ATTACH_GLOBAL.0)?;
                host = ptr as *mut c_void;
            }
            MemoryKind::Pinned => {
                // CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP
                let flags = 0x01 | 0x02;
                host = cu::mem_host_alloc(len, flags)?;
                // `host` was just allocated with DEVICEMAP.
                match cu::mem_host_get_device_pointer(host) {
                    Ok(dptr) => ptr = dptr,
                    Err(e) => {
                        // SAFETY: `host` came from cuMemHostAlloc and is not used after this.
                        let _ = unsafe { cu::mem_free_host(host) };
                        return Err(e);
                    }
                }
            }
        }
        Ok(RawAlloc {
            ctx: ctx.clone(),
            ptr,
            host,
            len,
            kind,
            pooled,
            id: next_alloc_id(),
            access,
        })
    }

    pub(crate) fn ptr(&self) -> CUdeviceptr {
        self.ptr
    }
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    pub(crate) fn kind(&self) -> MemoryKind {
        self.kind
    }
    pub(crate) fn context(&self) -> &Context {
        &self.ctx
    }
    pub(crate) fn access(&self) -> &Access {
        &self.access
    }
    pub(crate) fn mem(&self) -> MemRef<'_> {
        MemRef {
            ptr: self.ptr,
            len: self.len,
            kind: self.kind,
            id: self.id,
            ctx: &self.ctx,
            access: &self.access,
        }
    }

    /// The host view of pinned or managed memory, after waiting for the GPU work that
    /// conflicts with host access (`write`: the host will write, so wait for every use).
    fn host_bytes(&self, write: bool) -> Result<*mut u8> {
        if self.host.is_null() {
            return Err(Error::InvalidState("device memory has no host view".into()));
        }
        if write {
            self.access.host_wait_uses()?;
        } else {
            self.access.host_wait_writes()?;
        }
        if self.kind == MemoryKind::Managed && !concurrent_managed_access(&self.ctx)? {
            // Without concurrent managed access the host may not touch managed memory while
            // any kernel of the context runs, which nvdx cannot rule out for the life of a
            // slice (another thread may launch one): refuse rather than fault.
            return Err(Error::Unsupported(format!(
                "GPU {} does not allow host access to managed memory while kernels run \
                 (CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS = 0); copy it to a HostBuffer \
                 or a host slice with copy_to_host instead",
                self.ctx.device().ordinal()
            )));
        }
        Ok(self.host.cast())
    }
}

/// Whether the GPU lets the host touch managed memory while kernels run.
fn concurrent_managed_access(ctx: &Context) -> Result<bool> {
    Ok(ctx
        .device()
        .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_CONCURRENT_MANAGED_ACCESS)?
        != 0)
}

impl Drop for RawAlloc {
    fn drop(&mut self) {
        let Ok(_g) = self.ctx.bind() else { return };
        if self.pooled {
            if let Some(last) = self.access.pending_stream_in(&self.ctx) {
                // Every use is covered by the (unrecorded) latest work of one owned stream of
                // this context: free on that stream, after them, with no event and no wait.
                // SAFETY: allocated from the pool in `new`, freed once, queued after every use.
                let _ = unsafe { cu::mem_free_async(self.ptr, last.raw) };
                return;
            }
            if let Ok(os) = self.ctx.order_stream() {
                let sref = StreamRef {
                    raw: os.raw,
                    id: os.id,
                    ctx: &self.ctx,
                    keep: None,
                };
                if self.access.order_after_uses(sref).is_err() {
                    // Without the GPU-side wait, wait here.
                    let _ = self.access.host_wait_uses();
                }
                // SAFETY: allocated from the pool in `new`, freed once, after every use (the
                // stream waits for the all-uses event, which covers the allocation itself).
                let _ = unsafe { cu::mem_free_async(self.ptr, os.raw) };
                return;
            }
        }
        let _ = self.access.host_wait_uses();
        // SAFETY: the pointer was allocated by the matching call in `new`, is freed once, and
        // its last use has finished (waited for above).
        let _ = unsafe {
            match self.kind {
                MemoryKind::Device | MemoryKind::Managed => cu::mem_free(self.ptr),
                MemoryKind::Pinned => cu::mem_free_host(self.host),
            }
        };
    }
}

/// Enqueues a 2D copy between any two unified addresses (device, pinned, managed, peer).
///
/// # Safety
/// `src` must be readable and `dst` writable for `height` rows of `width_bytes` at their
/// pitches, until the stream has executed the copy.
pub unsafe fn copy_2d_raw(
    dst: CUdeviceptr,
    dst_pitch: usize,
    src: CUdeviceptr,
    src_pitch: usize,
    width_bytes: usize,
    height: usize,
    stream: &Stream,
) -> Result<()> {
    if width_bytes > dst_pitch || width_bytes > src_pitch {
        return Err(Error::InvalidArgument(format!(
            "2D copy of {width_bytes}-byte rows does not fit pitches {src_pitch} (source) / {dst_pitch} (destination)"
        )));
    }
    if width_bytes == 0 || height == 0 {
        return Ok(());
    }
    let _g = stream.context().bind()?;
    // SAFETY: as the caller guarantees; the stream's context is current (bound above).
    unsafe { copy_2d_raw_current(dst, dst_pitch, src, src_pitch, width_bytes, height, stream) }
}

/// [`copy_2d_raw`] where the caller has made the stream's context current already (the
/// decoder's per-picture copy: no second push and pop).
///
/// # Safety
/// As for [`copy_2d_raw`]; and `stream`'s context is current on this thread.
pub(crate) unsafe fn copy_2d_raw_current(
    dst: CUdeviceptr,
    dst_pitch: usize,
    src: CUdeviceptr,
    src_pitch: usize,
    width_bytes: usize,
    height: usize,
    stream: &Stream,
) -> Result<()> {
    if width_bytes > dst_pitch || width_bytes > src_pitch {
        return Err(Error::InvalidArgument(format!(
            "2D copy of {width_bytes}-byte rows does not fit pitches {src_pitch} (source) / {dst_pitch} (destination)"
        )));
    }
    if width_bytes == 0 || height == 0 {
        return Ok(());
    }
    let p = CUDA_MEMCPY2D {
        srcMemoryType: CUmemorytype::CU_MEMORYTYPE_UNIFIED,
        srcDevice: src,
        srcPitch: src_pitch,
        dstMemoryType: CUmemorytype::CU_MEMORYTYPE_UNIFIED,
        dstDevice: dst,
        dstPitch: dst_pitch,
        WidthInBytes: width_bytes,
        Height: height,
        ..Default::default()
    };
    // SAFETY: the caller guarantees both ranges and the current context; `p` lives through
    // the call.
    unsafe { cu::memcpy_2d_async(&p, stream.raw()) }
}

/// Enqueues a 1D copy of `len` bytes between unified addresses.
///
/// # Safety
/// As for [`copy_2d_raw`] with one row.
pub unsafe fn copy_raw(
    dst: CUdeviceptr,
    src: CUdeviceptr,
    len: usize,
    stream: &Stream,
) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    let _g = stream.context().bind()?;
    // SAFETY: the caller guarantees both ranges.
    unsafe { cu::memcpy_async(dst, src, len, stream.raw()) }
}

/// Checks that `height` rows of `width_bytes` at `pitch` from `offset` fit an allocation of
/// `len` bytes.
pub(crate) fn check_device_extent(
    len: usize,
    offset: usize,
    pitch: usize,
    width_bytes: usize,
    height: usize,
) -> Result<()> {
    let need = if height == 0 || width_bytes == 0 {
        0
    } else {
        pitch
            .checked_mul(height - 1)
            .and_then(|v| v.checked_add(width_bytes))
            .and_then(|v| v.checked_add(offset))
            .ok_or_else(|| Error::InvalidArgument("copy extent overflows".into()))?
    };
    if width_bytes > pitch || need > len {
        return Err(Error::InvalidArgument(format!(
            "{height} rows of {width_bytes} bytes at pitch {pitch} from offset {offset} do not fit a {len}-byte allocation"
        )));
    }
    Ok(())
}

/// Runs a synchronous host copy on one of the context's internal streams: ordered after the
/// allocation's conflicting GPU work (no legacy default stream, no device-wide sync), and
/// finished when this returns.
fn host_copy(mem: MemRef<'_>, device_is_written: bool, p: &CUDA_MEMCPY2D) -> Result<()> {
    let ctx = mem.ctx;
    let _g = ctx.bind()?;
    let hs = ctx.take_host_stream()?;
    let sref = StreamRef {
        raw: hs.raw,
        id: hs.id,
        ctx,
        keep: None,
    };
    let (reads, writes): (&[&Access], &[&Access]) = if device_is_written {
        (&[], &[mem.access])
    } else {
        (&[mem.access], &[])
    };
    // SAFETY: the caller checked both extents; the host slice outlives the copy because the
    // stream is synchronised below before returning.
    let r = ordered(sref, reads, writes, || unsafe {
        cu::memcpy_2d_async(p, hs.raw)
    });
    // Always wait, also after an error: the host bytes must not be in use when we return.
    let synced = cu::stream_synchronize(hs.raw);
    ctx.put_host_stream(hs);
    r?;
    synced
}

/// Synchronous copy of pageable host bytes into an allocation, in 2D, ordered after its
/// pending GPU work.
pub(crate) fn upload_2d(
    dst: MemRef<'_>,
    dst_offset: usize,
    dst_pitch: usize,
    src: &[u8],
    src_pitch: usize,
    width_bytes: usize,
    height: usize,
) -> Result<()> {
    check_host_extent(src.len(), src_pitch, width_bytes, height)?;
    check_device_extent(dst.len, dst_offset, dst_pitch, width_bytes, height)?;
    if width_bytes == 0 || height == 0 {
        return Ok(());
    }
    let p = CUDA_MEMCPY2D {
        srcMemoryType: CUmemorytype::CU_MEMORYTYPE_HOST,
        srcHost: src.as_ptr().cast(),
        srcPitch: src_pitch,
        dstMemoryType: CUmemorytype::CU_MEMORYTYPE_UNIFIED,
        dstDevice: dst.ptr + dst_offset as u64,
        dstPitch: dst_pitch,
        WidthInBytes: width_bytes,
        Height: height,
        ..Default::default()
    };
    host_copy(dst, true, &p)
}

/// Synchronous copy from an allocation into pageable host bytes, in 2D, ordered after the
/// allocation's last write on any stream.
pub(crate) fn download_2d(
    dst: &mut [u8],
    dst_pitch: usize,
    src: MemRef<'_>,
    src_offset: usize,
    src_pitch: usize,
    width_bytes: usize,
    height: usize,
) -> Result<()> {
    check_host_extent(dst.len(), dst_pitch, width_bytes, height)?;
    check_device_extent(src.len, src_offset, src_pitch, width_bytes, height)?;
    if width_bytes == 0 || height == 0 {
        return Ok(());
    }
    let p = CUDA_MEMCPY2D {
        srcMemoryType: CUmemorytype::CU_MEMORYTYPE_UNIFIED,
        srcDevice: src.ptr + src_offset as u64,
        srcPitch: src_pitch,
        dstMemoryType: CUmemorytype::CU_MEMORYTYPE_HOST,
        dstHost: dst.as_mut_ptr().cast(),
        dstPitch: dst_pitch,
        WidthInBytes: width_bytes,
        Height: height,
        ..Default::default()
    };
    host_copy(src, false, &p)
}

/// One 2D copy between two tracked allocations: each side's start and pitch, and the rows.
#[derive(Clone, Copy)]
pub(crate) struct TrackedCopy<'a> {
    pub(crate) dst: MemRef<'a>,
    pub(crate) dst_offset: usize,
    pub(crate) dst_pitch: usize,
    pub(crate) src: MemRef<'a>,
    pub(crate) src_offset: usize,
    pub(crate) src_pitch: usize,
    pub(crate) width_bytes: usize,
    pub(crate) height: usize,
}

/// The most copies [`copy_2d_batch_tracked`] takes at once (the largest frame pool).
pub(crate) const MAX_TRACKED_COPIES: usize = 16;

/// Enqueues a 2D copy between two tracked allocations on `stream`, ordered after their
/// conflicting work (the source's last write, every use of the destination) and recorded on
/// both. Extents are checked against the allocations.
#[allow(clippy::too_many_arguments)]
pub(crate) fn copy_2d_tracked(
    dst: MemRef<'_>,
    dst_offset: usize,
    dst_pitch: usize,
    src: MemRef<'_>,
    src_offset: usize,
    src_pitch: usize,
    width_bytes: usize,
    height: usize,
    stream: &Stream,
) -> Result<()> {
    copy_2d_batch_tracked(
        std::iter::once(TrackedCopy {
            dst,
            dst_offset,
            dst_pitch,
            src,
            src_offset,
            src_pitch,
            width_bytes,
            height,
        }),
        stream,
    )
}

/// Enqueues several 2D copies on `stream` as **one** tracked operation: one set of waits
/// before them (each source's last write, every use of each destination) and one set of marks
/// after (a transfer's batch of frame pairs). Every extent is checked before anything is
/// queued; the context is bound once for all of them. The copies come as a cloneable iterator
/// (walked three times) so that no array of them is built: nothing is allocated or copied
/// per call beyond two arrays of tracking references.
pub(crate) fn copy_2d_batch_tracked<'a, I>(copies: I, stream: &Stream) -> Result<()>
where
    I: IntoIterator<Item = TrackedCopy<'a>>,
    I::IntoIter: Clone,
{
    let copies = copies.into_iter();
    let Some(first) = copies.clone().next() else {
        return Ok(());
    };
    let mut n = 0usize;
    for c in copies.clone() {
        check_device_extent(
            c.dst.len,
            c.dst_offset,
            c.dst_pitch,
            c.width_bytes,
            c.height,
        )?;
        check_device_extent(
            c.src.len,
            c.src_offset,
            c.src_pitch,
            c.width_bytes,
            c.height,
        )?;
        n += 1;
    }
    if n > MAX_TRACKED_COPIES {
        return Err(Error::InvalidArgument(format!(
            "{n} copies in one batch exceed the maximum of {MAX_TRACKED_COPIES}"
        )));
    }
    // Fixed arrays, no allocation (the unused tail repeats the first copy's and is never
    // passed on).
    let mut reads: [&Access; MAX_TRACKED_COPIES] = [first.src.access; MAX_TRACKED_COPIES];
    let mut writes: [&Access; MAX_TRACKED_COPIES] = [first.dst.access; MAX_TRACKED_COPIES];
    for ((r, w), c) in reads.iter_mut().zip(writes.iter_mut()).zip(copies.clone()) {
        (*r, *w) = (c.src.access, c.dst.access);
    }
    ordered(stream.tracking_ref(), &reads[..n], &writes[..n], || {
        let _g = stream.context().bind()?;
        for (i, c) in copies.enumerate() {
            // SAFETY: both extents were checked above against live allocations (the MemRefs
            // borrow them for this call); the stream's context is current (bound above); the
            // tracking orders the copies after conflicting work and later users after them.
            let r = unsafe {
                copy_2d_raw_current(
                    c.dst.ptr + c.dst_offset as u64,
                    c.dst_pitch,
                    c.src.ptr + c.src_offset as u64,
                    c.src_pitch,
                    c.width_bytes,
                    c.height,
                    stream,
                )
            };
            if let Err(e) = r {
                if i > 0 {
                    // The copies already queued are not tracked: let them finish first.
                    let _ = cu::stream_synchronize(stream.raw());
                }
                return Err(e);
            }
        }
        Ok(())
    })
}

/// Checks that a host slice of `len` bytes holds `height` rows of `width_bytes` at `pitch`.
pub(crate) fn check_host_extent(
    len: usize,
    pitch: usize,
    width_bytes: usize,
    height: usize,
) -> Result<()> {
    if width_bytes > pitch {
        return Err(Error::InvalidArgument(format!(
            "row of {width_bytes} bytes exceeds the host pitch {pitch}"
        )));
    }
    let need = if height == 0 {
        0
    } else {
        pitch * (height - 1) + width_bytes
    };
    if len < need {
        return Err(Error::InvalidArgument(format!(
            "host buffer of {len} bytes is too small for {height} rows of {width_bytes} bytes at pitch {pitch} (needs {need})"
        )));
    }
    Ok(())
}

macro_rules! buffer_common {
    ($t:ident) => {
        impl $t {
            /// The buffer's address in the unified address space (for your own kernels; nvdx's
            /// safe calls order their work on it themselves).
            pub fn device_ptr(&self) -> CUdeviceptr {
                self.alloc.ptr()
            }
            /// Size in bytes.
            pub fn len(&self) -> usize {
                self.alloc.len()
            }
            /// Always false: empty buffers cannot be allocated.
            pub fn is_empty(&self) -> bool {
                false
            }
            /// The owning context.
            pub fn context(&self) -> &Context {
                self.alloc.context()
            }
            /// Copies `src` (pageable host memory) into the start of the buffer. Synchronous,
            /// and ordered after the buffer's pending GPU work on any stream.
            pub fn copy_from_host(&mut self, src: &[u8]) -> Result<()> {
                self.check_len(src.len())?;
                let n = src.len();
                upload_2d(self.alloc.mem(), 0, n.max(1), src, n.max(1), n, 1)
            }
            /// Copies the start of the buffer into `dst` (pageable host memory). Synchronous,
            /// and ordered after the buffer's last GPU write on any stream.
            pub fn copy_to_host(&self, dst: &mut [u8]) -> Result<()> {
                self.check_len(dst.len())?;
                let n = dst.len();
                download_2d(dst, n.max(1), self.alloc.mem(), 0, n.max(1), n, 1)
            }
            /// Enqueues a copy of `len` bytes from `src` (any buffer kind or frame) into this
            /// buffer on `stream`, ordered after conflicting work on both.
            pub fn copy_from_async(
                &mut self,
                src: &impl AsDevicePtr,
                len: usize,
                stream: &Stream,
            ) -> Result<()> {
                self.check_len(len)?;
                let s = src.mem();
                if len > s.len {
                    return Err(Error::InvalidArgument(format!(
                        "copy of {len} bytes from a {}-byte source",
                        s.len
                    )));
                }
                if len == 0 {
                    return Ok(());
                }
                copy_2d_tracked(self.alloc.mem(), 0, len, s, 0, len, len, 1, stream)
            }
            /// Enqueues a fill of the whole buffer with `value` on `stream`.
            pub fn memset_async(&mut self, value: u8, stream: &Stream) -> Result<()> {
                memset_tracked(self.alloc.mem(), value, stream)
            }
            fn check_len(&self, n: usize) -> Result<()> {
                if n > self.alloc.len() {
                    return Err(Error::InvalidArgument(format!(
                        "{n} bytes do not fit a {}-byte buffer",
                        self.alloc.len()
                    )));
                }
                Ok(())
            }
        }
        impl MemorySealed for $t {
            fn mem(&self) -> MemRef<'_> {
                self.alloc.mem()
            }
        }
        impl AsDevicePtr for $t {}
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("ptr", &format_args!("{:#x}", self.alloc.ptr()))
                    .field("len", &self.alloc.len())
                    .finish()
            }
        }
    };
}

/// Enqueues a fill of a whole allocation on `stream`, ordered after every use of it.
pub(crate) fn memset_tracked(mem: MemRef<'_>, value: u8, stream: &Stream) -> Result<()> {
    ordered(stream.tracking_ref(), &[], &[mem.access], || {
        let _g = stream.context().bind()?;
        // SAFETY: the range is exactly the live allocation `mem` borrows.
        unsafe { cu::memset_d8_async(mem.ptr, value, mem.len, stream.raw()) }
    })
}

/// nvdx memory with a unified address, a size and tracked pending work: buffers and frames.
///
/// Sealed: nvdx's safe copies trust the address and size, so only nvdx's own types implement
/// it. To hand other libraries' memory to nvdx, use the `unsafe` raw calls
/// ([`copy_raw`], [`copy_2d_raw`]).
///
/// ```compile_fail
/// struct Fake;
/// impl nvdx::AsDevicePtr for Fake {} // error: the supertrait is private
/// ```
pub trait AsDevicePtr: MemorySealed {
    /// Start address.
    fn as_device_ptr(&self) -> CUdeviceptr {
        self.mem().ptr
    }
    /// Size in bytes.
    fn byte_len(&self) -> usize {
        self.mem().len
    }
    /// A number that identifies the allocation for its whole life and is never reused (unlike
    /// its address), e.g. to key caches of driver registrations.
    fn allocation_id(&self) -> u64 {
        self.mem().id
    }
}

/// Linear GPU memory.
///
/// ```no_run
/// # fn main() -> nvdx::Result<()> {
/// let ctx = nvdx::Context::primary(0)?;
/// let mut buf = nvdx::DeviceBuffer::new(&ctx, 4)?;
/// buf.copy_from_host(&[1, 2, 3, 4])?;
/// let mut back = [0u8; 4];
/// buf.copy_to_host(&mut back)?;
/// assert_eq!(back, [1, 2, 3, 4]);
/// # Ok(()) }
/// ```
pub struct DeviceBuffer {
    alloc: RawAlloc,
}
buffer_common!(DeviceBuffer);

impl DeviceBuffer {
    /// Allocates `len` bytes on the context's GPU (contents undefined).
    pub fn new(ctx: &Context, len: usize) -> Result<DeviceBuffer> {
        Ok(DeviceBuffer {
            alloc: RawAlloc::new(ctx, len, MemoryKind::Device)?,
        })
    }
}

/// Page-locked host memory, mapped for the GPU.
///
/// The host reaches the bytes through [`HostBuffer::as_slice`] and
/// [`HostBuffer::as_mut_slice`], which first wait for the GPU work that conflicts (the last GPU
/// write before reading; every GPU use before writing). GPU work that writes the buffer takes
/// `&mut self`, so it cannot be enqueued while a slice is borrowed:
///
/// ```compile_fail
/// # fn f(ctx: &nvdx::Context, s: &nvdx::Stream, dev: &nvdx::DeviceBuffer) -> nvdx::Result<()> {
/// let mut host = nvdx::HostBuffer::new(ctx, 16)?;
/// let bytes = host.as_slice()?;
/// host.copy_from_async(dev, 16, s)?; // error: `host` is borrowed by `bytes`
/// println!("{}", bytes[0]);
/// # Ok(()) }
/// ```
pub struct HostBuffer {
    alloc: RawAlloc,
}
buffer_common!(HostBuffer);

impl HostBuffer {
    /// Allocates `len` bytes of pinned, zeroed host memory.
    pub fn new(ctx: &Context, len: usize) -> Result<HostBuffer> {
        let alloc = RawAlloc::new(ctx, len, MemoryKind::Pinned)?;
        // SAFETY: freshly allocated host memory of `len` bytes; no GPU work knows it yet.
        unsafe { std::ptr::write_bytes(alloc.host.cast::<u8>(), 0, len) };
        Ok(HostBuffer { alloc })
    }

    /// The bytes, after waiting for the buffer's last GPU write (on any stream) to finish.
    pub fn as_slice(&self) -> Result<&[u8]> {
        let p = self.alloc.host_bytes(false)?;
        // SAFETY: host view of a live pinned allocation of `len` bytes, initialised in new();
        // no GPU write is pending (waited for) and none can be enqueued while `&self` is
        // borrowed (GPU writes take `&mut self`).
        Ok(unsafe { std::slice::from_raw_parts(p, self.alloc.len()) })
    }

    /// The bytes, mutably, after waiting for every GPU use of the buffer to finish.
    pub fn as_mut_slice(&mut self) -> Result<&mut [u8]> {
        let p = self.alloc.host_bytes(true)?;
        // SAFETY: as above; no GPU use is pending and `&mut self` excludes new ones.
        Ok(unsafe { std::slice::from_raw_parts_mut(p, self.alloc.len()) })
    }
}

/// Unified (managed) memory, accessible from host and GPU.
///
/// Host access goes through [`ManagedBuffer::as_slice`] / [`ManagedBuffer::as_mut_slice`],
/// which wait for conflicting GPU work like [`HostBuffer`]'s (and for the whole context on GPUs
/// without concurrent managed access).
pub struct ManagedBuffer {
    alloc: RawAlloc,
}
buffer_common!(ManagedBuffer);

impl ManagedBuffer {
    /// Allocates `len` bytes of managed memory, zeroed.
    pub fn new(ctx: &Context, len: usize) -> Result<ManagedBuffer> {
        let mut b = ManagedBuffer {
            alloc: RawAlloc::new(ctx, len, MemoryKind::Managed)?,
        };
        if concurrent_managed_access(ctx)? {
            b.as_mut_slice()?.fill(0);
        } else {
            // No host access while kernels may run: zero it with a copy instead.
            b.copy_from_host(&vec![0u8; len])?;
        }
        Ok(b)
    }

    /// The bytes as seen from the host, after the last GPU write has finished.
    pub fn as_slice(&self) -> Result<&[u8]> {
        let p = self.alloc.host_bytes(false)?;
        // SAFETY: managed memory of `len` bytes is host-accessible; no GPU write is pending
        // and none can start while `&self` is borrowed.
        Ok(unsafe { std::slice::from_raw_parts(p, self.alloc.len()) })
    }

    /// The bytes as seen from the host, mutably, after every GPU use has finished.
    pub fn as_mut_slice(&mut self) -> Result<&mut [u8]> {
        let p = self.alloc.host_bytes(true)?;
        // SAFETY: as above, and `&mut self` excludes new GPU uses.
        Ok(unsafe { std::slice::from_raw_parts_mut(p, self.alloc.len()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_extent_checks() {
        assert!(check_host_extent(100, 10, 10, 10).is_ok());
        assert!(check_host_extent(95, 10, 5, 10).is_ok());
        assert!(check_host_extent(94, 10, 5, 10).is_err());
        assert!(check_host_extent(0, 10, 5, 0).is_ok());
        let e = check_host_extent(10, 4, 5, 1).unwrap_err();
        assert!(e.to_string().contains("exceeds"), "{e}");
    }
}
