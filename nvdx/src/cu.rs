//! The thin checked layer over the CUDA driver calls that the lifetime model uses: one function
//! per driver call, which binds the call's own name (so the name in an error cannot drift from
//! the call made) and turns out-parameters into return values.
//!
//! Functions here take raw handles. Those that only order or query work (`event_record`,
//! `stream_wait_event`, `event_query`) are safe: a stale or foreign handle makes the driver
//! return an error, never touch memory. Those that free or copy memory are `unsafe`.
//!
//! None of these push a context: the callers bind one where the driver needs it (allocation,
//! creation); recording and waiting take explicit handles and need none.

use nvdx_sys::cuda::{
    CUcontext, CUdevice, CUdeviceptr, CUevent, CUmemoryPool, CUresult, CUstream, CUDA_MEMCPY2D,
};

use crate::device::driver;
use crate::error::{check, Error, Result};

/// `cuEventRecord`: captures the work enqueued on `stream` so far in `event`.
/// Both must belong to the same context (the driver reports a mismatch as an error).
pub(crate) fn event_record(event: CUevent, stream: CUstream) -> Result<()> {
    let api = driver()?;
    // SAFETY: plain handles; the driver validates them and returns an error for a bad one.
    check("cuEventRecord", unsafe { api.cuEventRecord(event, stream) })
}

/// `cuStreamWaitEvent`: future work on `stream` waits for `event`'s last recording. The event
/// may belong to another context or GPU.
pub(crate) fn stream_wait_event(stream: CUstream, event: CUevent) -> Result<()> {
    let api = driver()?;
    // SAFETY: plain handles; the driver validates them.
    check("cuStreamWaitEvent", unsafe {
        api.cuStreamWaitEvent(stream, event, 0)
    })
}

/// `cuEventSynchronize`: blocks the calling thread until `event`'s last recording completed.
pub(crate) fn event_synchronize(event: CUevent) -> Result<()> {
    let api = driver()?;
    // SAFETY: plain handle; the driver validates it.
    check("cuEventSynchronize", unsafe {
        api.cuEventSynchronize(event)
    })
}

/// `cuEventQuery`: whether `event`'s last recording completed.
pub(crate) fn event_query(event: CUevent) -> Result<bool> {
    let api = driver()?;
    // SAFETY: plain handle; the driver validates it.
    match unsafe { api.cuEventQuery(event) }? {
        CUresult::CUDA_SUCCESS => Ok(true),
        CUresult::CUDA_ERROR_NOT_READY => Ok(false),
        s => Err(Error::cuda("cuEventQuery", s)),
    }
}

/// `cuStreamCreate` with `CU_STREAM_NON_BLOCKING`, in the current context.
pub(crate) fn stream_create_non_blocking() -> Result<CUstream> {
    let api = driver()?;
    let mut raw: CUstream = std::ptr::null_mut();
    // SAFETY: `raw` is a valid out-parameter; the caller made the context current.
    check("cuStreamCreate", unsafe {
        api.cuStreamCreate(
            &mut raw,
            nvdx_sys::cuda::CUstream_flags::CU_STREAM_NON_BLOCKING.0,
        )
    })?;
    Ok(raw)
}

/// `cuStreamSynchronize`.
pub(crate) fn stream_synchronize(stream: CUstream) -> Result<()> {
    let api = driver()?;
    // SAFETY: plain handle; the driver validates it.
    check("cuStreamSynchronize", unsafe {
        api.cuStreamSynchronize(stream)
    })
}

/// `cuStreamDestroy_v2`. Work still queued on the stream completes first (asynchronously).
///
/// # Safety
/// `stream` is owned by the caller and is not used after this call.
pub(crate) unsafe fn stream_destroy(stream: CUstream) -> Result<()> {
    let api = driver()?;
    // SAFETY: the caller owns the stream and never uses it again.
    check("cuStreamDestroy_v2", unsafe {
        api.cuStreamDestroy_v2(stream)
    })
}

/// `cuDeviceGetDefaultMemPool`.
pub(crate) fn device_default_mem_pool(device: CUdevice) -> Result<CUmemoryPool> {
    let api = driver()?;
    let mut pool: CUmemoryPool = std::ptr::null_mut();
    // SAFETY: valid out-parameter; the device handle came from cuDeviceGet.
    check("cuDeviceGetDefaultMemPool", unsafe {
        api.cuDeviceGetDefaultMemPool(&mut pool, device)
    })?;
    Ok(pool)
}

/// `cuMemAllocFromPoolAsync`: `len` bytes from `pool`, ordered on `stream`.
pub(crate) fn mem_alloc_from_pool_async(
    len: usize,
    pool: CUmemoryPool,
    stream: CUstream,
) -> Result<CUdeviceptr> {
    let api = driver()?;
    let mut ptr: CUdeviceptr = 0;
    // SAFETY: valid out-parameter; pool and stream handles are validated by the driver.
    check("cuMemAllocFromPoolAsync", unsafe {
        api.cuMemAllocFromPoolAsync(&mut ptr, len, pool, stream)
    })?;
    Ok(ptr)
}

/// `cuMemFreeAsync`: frees `ptr` once `stream` reaches this point.
///
/// # Safety
/// `ptr` came from a stream-ordered allocation, is freed once, and every use of it is ordered
/// before this point of `stream`.
pub(crate) unsafe fn mem_free_async(ptr: CUdeviceptr, stream: CUstream) -> Result<()> {
    let api = driver()?;
    // SAFETY: guaranteed by the caller.
    check("cuMemFreeAsync", unsafe { api.cuMemFreeAsync(ptr, stream) })
}

/// `cuMemPoolSetAccess` granting `device` read-write access to `pool`'s allocations.
pub(crate) fn mem_pool_grant_access(pool: CUmemoryPool, device_ordinal: i32) -> Result<()> {
    use nvdx_sys::cuda::{CUmemAccessDesc, CUmemAccess_flags, CUmemLocation, CUmemLocationType};
    let api = driver()?;
    let desc = CUmemAccessDesc {
        location: CUmemLocation {
            type_: CUmemLocationType::CU_MEM_LOCATION_TYPE_DEVICE,
            id: device_ordinal,
        },
        flags: CUmemAccess_flags::CU_MEM_ACCESS_FLAGS_PROT_READWRITE,
    };
    // SAFETY: `desc` is one valid descriptor that lives through the call.
    check("cuMemPoolSetAccess", unsafe {
        api.cuMemPoolSetAccess(pool, &desc, 1)
    })
}

/// `cuMemcpy2DAsync_v2`.
///
/// # Safety
/// The ranges described by `p` are valid for the copy until `stream` has executed it.
pub(crate) unsafe fn memcpy_2d_async(p: &CUDA_MEMCPY2D, stream: CUstream) -> Result<()> {
    let api = driver()?;
    // SAFETY: guaranteed by the caller; `p` lives through the call.
    check("cuMemcpy2DAsync_v2", unsafe {
        api.cuMemcpy2DAsync_v2(p, stream)
    })
}

/// `cuCtxPushCurrent_v2`.
///
/// # Safety
/// `ctx` is a live context, and the caller pops it on this thread.
pub(crate) unsafe fn ctx_push(ctx: CUcontext) -> Result<()> {
    let api = driver()?;
    // SAFETY: guaranteed by the caller.
    check("cuCtxPushCurrent_v2", unsafe {
        api.cuCtxPushCurrent_v2(ctx)
    })
}

/// `cuCtxPopCurrent_v2`.
pub(crate) fn ctx_pop() -> Result<()> {
    let api = driver()?;
    let mut popped: CUcontext = std::ptr::null_mut();
    // SAFETY: valid out-parameter; popping with nothing pushed is reported as an error.
    check("cuCtxPopCurrent_v2", unsafe {
        api.cuCtxPopCurrent_v2(&mut popped)
    })
}
