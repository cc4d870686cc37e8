//! GPU-visible memory: device, pinned host and managed buffers, and stream-ordered copies.
//!
//! All three kinds have an address in the unified virtual address space, so one 1D or 2D copy
//! routine moves bytes between any two of them (and between GPUs). Copies that take a
//! [`Stream`] are asynchronous: the buffers must stay alive, and unmodified by the host, until
//! the stream has passed the copy. The borrow checker only sees the call, so nvdx's own types
//! (frames, pools, transfers) keep buffers alive with events where it matters.
//!
//! Buffers are `Send + Sync`: they are plain addresses whose lifetime is tied to a
//! [`Context`], and the driver's memory calls are thread-safe.

use std::ffi::c_void;

use nvdx_sys::cuda::{CUdeviceptr, CUmemAttach_flags, CUmemorytype, CUDA_MEMCPY2D};

use crate::context::Context;
use crate::device::driver;
use crate::error::{check, Error, Result};
use crate::stream::Stream;

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

/// One allocation of any [`MemoryKind`], freed on drop.
pub(crate) struct RawAlloc {
    ctx: Context,
    ptr: CUdeviceptr,
    host: *mut c_void,
    len: usize,
    kind: MemoryKind,
}

// SAFETY: the allocation is an address owned by this value; the driver calls that use and free
// it are thread-safe and bind the owning context.
unsafe impl Send for RawAlloc {}
// SAFETY: shared references only read the address.
unsafe impl Sync for RawAlloc {}

impl RawAlloc {
    pub(crate) fn new(ctx: &Context, len: usize, kind: MemoryKind) -> Result<RawAlloc> {
        if len == 0 {
            return Err(Error::InvalidArgument("cannot allocate 0 bytes".into()));
        }
        let _g = ctx.bind()?;
        let api = driver()?;
        let mut ptr: CUdeviceptr = 0;
        let mut host: *mut c_void = std::ptr::null_mut();
        match kind {
            MemoryKind::Device => {
                // SAFETY: the context is current; valid out-parameter.
                check("cuMemAlloc_v2", unsafe { api.cuMemAlloc_v2(&mut ptr, len) })?;
            }
            MemoryKind::Managed => {
                // SAFETY: the context is current; valid out-parameter.
                check("cuMemAllocManaged", unsafe {
                    api.cuMemAllocManaged(&mut ptr, len, CUmemAttach_flags::CU_MEM_ATTACH_GLOBAL.0)
                })?;
                host = ptr as *mut c_void;
            }
            MemoryKind::Pinned => {
                // CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP
                let flags = 0x01 | 0x02;
                // SAFETY: the context is current; valid out-parameter.
                check("cuMemHostAlloc", unsafe {
                    api.cuMemHostAlloc(&mut host, len, flags)
                })?;
                let mut dptr: CUdeviceptr = 0;
                // SAFETY: `host` was just allocated with DEVICEMAP.
                let r = check("cuMemHostGetDevicePointer_v2", unsafe {
                    api.cuMemHostGetDevicePointer_v2(&mut dptr, host, 0)
                });
                if let Err(e) = r {
                    // SAFETY: `host` came from cuMemHostAlloc and is not used after this.
                    let _ = unsafe { api.cuMemFreeHost(host) };
                    return Err(e);
                }
                ptr = dptr;
            }
        }
        Ok(RawAlloc {
            ctx: ctx.clone(),
            ptr,
            host,
            len,
            kind,
        })
    }

    /// Wraps an existing device allocation (freed with `cuMemFree` on drop).
    ///
    /// # Safety
    /// `ptr` must be a live `cuMemAlloc*` allocation of `len` bytes in `ctx`, owned by nobody else.
    pub(crate) unsafe fn from_parts(ctx: &Context, ptr: CUdeviceptr, len: usize) -> RawAlloc {
        RawAlloc {
            ctx: ctx.clone(),
            ptr,
            host: std::ptr::null_mut(),
            len,
            kind: MemoryKind::Device,
        }
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
    pub(crate) fn host_ptr(&self) -> *mut c_void {
        self.host
    }
}

impl Drop for RawAlloc {
    fn drop(&mut self) {
        let Ok(_g) = self.ctx.bind() else { return };
        let Ok(api) = driver() else { return };
        // SAFETY: the pointer was allocated by the matching call in `new` and is freed once.
        let _ = unsafe {
            match self.kind {
                MemoryKind::Device | MemoryKind::Managed => api.cuMemFree_v2(self.ptr),
                MemoryKind::Pinned => api.cuMemFreeHost(self.host),
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
    let _g = stream.context().bind()?;
    let api = driver()?;
    // SAFETY: the caller guarantees both ranges; `p` lives through the call.
    check("cuMemcpy2DAsync_v2", unsafe {
        api.cuMemcpy2DAsync_v2(&p, stream.raw())
    })
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
    let api = driver()?;
    // SAFETY: the caller guarantees both ranges.
    check("cuMemcpyAsync", unsafe {
        api.cuMemcpyAsync(dst, src, len, stream.raw())
    })
}

/// Synchronous copy of pageable host bytes to a unified address, in 2D.
pub(crate) fn copy_2d_from_host(
    ctx: &Context,
    dst: CUdeviceptr,
    dst_pitch: usize,
    src: &[u8],
    src_pitch: usize,
    width_bytes: usize,
    height: usize,
) -> Result<()> {
    check_host_extent(src.len(), src_pitch, width_bytes, height)?;
    let p = CUDA_MEMCPY2D {
        srcMemoryType: CUmemorytype::CU_MEMORYTYPE_HOST,
        srcHost: src.as_ptr().cast(),
        srcPitch: src_pitch,
        dstMemoryType: CUmemorytype::CU_MEMORYTYPE_UNIFIED,
        dstDevice: dst,
        dstPitch: dst_pitch,
        WidthInBytes: width_bytes,
        Height: height,
        ..Default::default()
    };
    let _g = ctx.bind()?;
    let api = driver()?;
    // SAFETY: `src` covers the rows (checked above); the caller checked `dst`; synchronous copy.
    check("cuMemcpy2D_v2", unsafe { api.cuMemcpy2D_v2(&p) })?;
    // A copy from pageable memory may return once the bytes are staged, before the DMA lands;
    // kernels on nvdx's non-blocking streams are not ordered after it, so wait for it here.
    // SAFETY: synchronising the legacy default stream of the current context.
    check("cuStreamSynchronize", unsafe {
        api.cuStreamSynchronize(std::ptr::null_mut())
    })
}

/// Synchronous copy from a unified address to pageable host bytes, in 2D.
pub(crate) fn copy_2d_to_host(
    ctx: &Context,
    dst: &mut [u8],
    dst_pitch: usize,
    src: CUdeviceptr,
    src_pitch: usize,
    width_bytes: usize,
    height: usize,
) -> Result<()> {
    check_host_extent(dst.len(), dst_pitch, width_bytes, height)?;
    let p = CUDA_MEMCPY2D {
        srcMemoryType: CUmemorytype::CU_MEMORYTYPE_UNIFIED,
        srcDevice: src,
        srcPitch: src_pitch,
        dstMemoryType: CUmemorytype::CU_MEMORYTYPE_HOST,
        dstHost: dst.as_mut_ptr().cast(),
        dstPitch: dst_pitch,
        WidthInBytes: width_bytes,
        Height: height,
        ..Default::default()
    };
    let _g = ctx.bind()?;
    let api = driver()?;
    // SAFETY: `dst` covers the rows (checked above); the caller checked `src`; synchronous copy.
    check("cuMemcpy2D_v2", unsafe { api.cuMemcpy2D_v2(&p) })
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
            /// The buffer's address in the unified address space (usable by kernels and copies).
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
            /// Copies `src` (pageable host memory) into the start of the buffer; synchronous.
            pub fn copy_from_host(&mut self, src: &[u8]) -> Result<()> {
                self.check_len(src.len())?;
                let ctx = self.alloc.context().clone();
                copy_2d_from_host(
                    &ctx,
                    self.alloc.ptr(),
                    src.len().max(1),
                    src,
                    src.len().max(1),
                    src.len(),
                    1,
                )
            }
            /// Copies the start of the buffer into `dst` (pageable host memory); synchronous.
            pub fn copy_to_host(&self, dst: &mut [u8]) -> Result<()> {
                self.check_len(dst.len())?;
                let ctx = self.alloc.context().clone();
                let n = dst.len();
                copy_2d_to_host(&ctx, dst, n.max(1), self.alloc.ptr(), n.max(1), n, 1)
            }
            /// Enqueues a copy of `len` bytes from `src` (any buffer kind) into this buffer.
            pub fn copy_from_async(
                &mut self,
                src: &impl AsDevicePtr,
                len: usize,
                stream: &Stream,
            ) -> Result<()> {
                self.check_len(len)?;
                if len > src.byte_len() {
                    return Err(Error::InvalidArgument(format!(
                        "copy of {len} bytes from a {}-byte source",
                        src.byte_len()
                    )));
                }
                // SAFETY: both ranges were checked; `&mut self` and `&src` keep both buffers
                // alive for the call; stream order protects later users of the same stream.
                unsafe { copy_raw(self.alloc.ptr(), src.as_device_ptr(), len, stream) }
            }
            /// Enqueues a fill of the whole buffer with `value`.
            pub fn memset_async(&mut self, value: u8, stream: &Stream) -> Result<()> {
                let _g = stream.context().bind()?;
                let api = driver()?;
                // SAFETY: the range is exactly this allocation.
                check("cuMemsetD8Async", unsafe {
                    api.cuMemsetD8Async(self.alloc.ptr(), value, self.alloc.len(), stream.raw())
                })
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
        impl AsDevicePtr for $t {
            fn as_device_ptr(&self) -> CUdeviceptr {
                self.alloc.ptr()
            }
            fn byte_len(&self) -> usize {
                self.alloc.len()
            }
        }
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

/// Anything with a unified address and a size: buffers and frames.
pub trait AsDevicePtr {
    /// Start address.
    fn as_device_ptr(&self) -> CUdeviceptr;
    /// Size in bytes.
    fn byte_len(&self) -> usize;
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

/// Page-locked host memory, mapped for the GPU. Derefs to a byte slice.
///
/// Reading or writing it while a stream copy into or out of it is pending races with the GPU:
/// synchronise the stream (or an event after the copy) first.
pub struct HostBuffer {
    alloc: RawAlloc,
}
buffer_common!(HostBuffer);

impl HostBuffer {
    /// Allocates `len` bytes of pinned, zeroed host memory.
    pub fn new(ctx: &Context, len: usize) -> Result<HostBuffer> {
        let mut b = HostBuffer {
            alloc: RawAlloc::new(ctx, len, MemoryKind::Pinned)?,
        };
        b.as_mut_slice().fill(0);
        Ok(b)
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: host pointer of a live pinned allocation of `len` bytes, initialised in new().
        unsafe { std::slice::from_raw_parts(self.alloc.host_ptr().cast::<u8>(), self.alloc.len()) }
    }

    /// The bytes, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes the access exclusive on the host side.
        unsafe {
            std::slice::from_raw_parts_mut(self.alloc.host_ptr().cast::<u8>(), self.alloc.len())
        }
    }
}

impl std::ops::Deref for HostBuffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}
impl std::ops::DerefMut for HostBuffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

/// Unified (managed) memory, accessible from host and GPU.
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
        // SAFETY: freshly allocated, no GPU work can reference it yet.
        unsafe { b.host_slice_mut() }.fill(0);
        Ok(b)
    }

    /// The bytes as seen from the host.
    ///
    /// # Safety
    /// No GPU work that writes the buffer may be pending (synchronise first).
    pub unsafe fn host_slice(&self) -> &[u8] {
        // SAFETY: managed memory is host-accessible; the caller excludes concurrent GPU writes.
        unsafe { std::slice::from_raw_parts(self.alloc.host_ptr().cast::<u8>(), self.alloc.len()) }
    }

    /// The bytes as seen from the host, mutably.
    ///
    /// # Safety
    /// No GPU work that reads or writes the buffer may be pending.
    pub unsafe fn host_slice_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above.
        unsafe {
            std::slice::from_raw_parts_mut(self.alloc.host_ptr().cast::<u8>(), self.alloc.len())
        }
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
