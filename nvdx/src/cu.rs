//! The thin checked layer over the CUDA driver: one function per driver call nvdx makes, which
//! binds the call's own name (so the name in an error cannot drift from the call made) and turns
//! out-parameters into return values. Outside this module (and [`crate::cuvid`] for NVDEC) no
//! code calls the driver table directly.
//!
//! Functions here take raw handles. Those that only create, order or query (`event_record`,
//! `stream_wait_event`, `event_query`, the device queries, ...) are safe: a stale or foreign
//! handle makes the driver return an error, never touch memory. Those that free, copy, fill,
//! launch or release are `unsafe`, with the caller's obligations under `# Safety`.
//!
//! Where a caller needs more than success or failure, the return type says so: `Result<bool>`
//! for ready / not ready ([`stream_query`], [`event_query`]) or enabled / already enabled
//! ([`ctx_enable_peer_access`]), [`SetFlags`] for a primary context that is already active. The
//! status-to-result mappings are pure functions, unit-tested without a GPU.
//!
//! None of these push a context: the callers bind one where the driver needs it (allocation,
//! creation); recording and waiting take explicit handles and need none.
//!
//! NVENC calls are not here: NVENC has its own function-list mechanism
//! (`NV_ENCODE_API_FUNCTION_LIST`, filled by `NvEncodeAPICreateInstance`, see `crate::encode`).
//! Its entries are called through the `nvcall!` macro there, which names a missing entry, and
//! their `NVENCSTATUS` is checked by the encode session with the call's name.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};

use nvdx_sys::cuda::{
    CUcontext, CUdevice, CUdevice_P2PAttribute, CUdevice_attribute, CUdeviceptr, CUevent,
    CUfunction, CUmemoryPool, CUmodule, CUresult, CUstream, CUuuid, CudaFns, CUDA_MEMCPY2D,
};

use crate::device::driver;
use crate::error::{check, Error, Result};

/// Maps the status of a call that may report "not ready": `true` when done, `false` when not.
fn ready(call: &'static str, status: CUresult) -> Result<bool> {
    match status {
        CUresult::CUDA_SUCCESS => Ok(true),
        CUresult::CUDA_ERROR_NOT_READY => Ok(false),
        s => Err(Error::cuda(call, s)),
    }
}

fn stream_query_status(status: CUresult) -> Result<bool> {
    ready("cuStreamQuery", status)
}

fn event_query_status(status: CUresult) -> Result<bool> {
    ready("cuEventQuery", status)
}

/// `cuInit(0)`, on the table `driver` is about to hand out (so it cannot go through `driver`).
/// A missing `cuInit` symbol reads as `CUDA_ERROR_NOT_INITIALIZED`; the caller reports it.
pub(crate) fn init(api: &CudaFns) -> std::result::Result<(), CUresult> {
    // SAFETY: cuInit(0) has no preconditions and may be called from any thread.
    match unsafe { api.cuInit(0) } {
        Ok(status) if status == CUresult::CUDA_SUCCESS => Ok(()),
        Ok(status) => Err(status),
        Err(_) => Err(CUresult::CUDA_ERROR_NOT_INITIALIZED),
    }
}

/// `cuGetErrorName` on the loaded table (without `cuInit`: it is used to describe errors,
/// `cuInit`'s among them). `None` when the driver is not loaded or does not know the code.
pub(crate) fn get_error_name(status: CUresult) -> Option<String> {
    let api = nvdx_sys::cuda().ok()?;
    let mut name: *const c_char = std::ptr::null();
    // SAFETY: cuGetErrorName writes a pointer to a static NUL-terminated string or leaves it
    // null for unknown codes; `name` is a valid out-parameter.
    if unsafe { api.cuGetErrorName(status, &mut name) }.ok()? != CUresult::CUDA_SUCCESS
        || name.is_null()
    {
        return None;
    }
    // SAFETY: non-null, NUL-terminated, owned by the driver for the life of the process.
    Some(
        unsafe { CStr::from_ptr(name) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// `cuGetErrorString`, as [`get_error_name`].
pub(crate) fn get_error_string(status: CUresult) -> Option<String> {
    let api = nvdx_sys::cuda().ok()?;
    let mut desc: *const c_char = std::ptr::null();
    // SAFETY: as in `get_error_name`.
    if unsafe { api.cuGetErrorString(status, &mut desc) }.ok()? != CUresult::CUDA_SUCCESS
        || desc.is_null()
    {
        return None;
    }
    // SAFETY: non-null, NUL-terminated, owned by the driver for the life of the process.
    Some(
        unsafe { CStr::from_ptr(desc) }
            .to_string_lossy()
            .into_owned(),
    )
}

/// `cuDriverGetVersion`: the raw version number (e.g. 13000 for 13.0).
pub(crate) fn driver_get_version() -> Result<c_int> {
    let api = driver()?;
    let mut v: c_int = 0;
    // SAFETY: `v` is a valid out-parameter.
    check("cuDriverGetVersion", unsafe {
        api.cuDriverGetVersion(&mut v)
    })?;
    Ok(v)
}

/// `cuDeviceGetCount`.
pub(crate) fn device_get_count() -> Result<c_int> {
    let api = driver()?;
    let mut n: c_int = 0;
    // SAFETY: `n` is a valid out-parameter.
    check("cuDeviceGetCount", unsafe { api.cuDeviceGetCount(&mut n) })?;
    Ok(n)
}

/// `cuDeviceGet`.
pub(crate) fn device_get(ordinal: c_int) -> Result<CUdevice> {
    let api = driver()?;
    let mut raw: CUdevice = 0;
    // SAFETY: `raw` is a valid out-parameter; an out-of-range ordinal is an error status.
    check("cuDeviceGet", unsafe { api.cuDeviceGet(&mut raw, ordinal) })?;
    Ok(raw)
}

/// `cuDeviceGetName` into `buf` (NUL-terminated, truncated to fit).
pub(crate) fn device_get_name(buf: &mut [c_char], device: CUdevice) -> Result<()> {
    let api = driver()?;
    let len = c_int::try_from(buf.len()).unwrap_or(c_int::MAX);
    // SAFETY: the driver writes at most `len` bytes, NUL-terminated, into `buf`.
    check("cuDeviceGetName", unsafe {
        api.cuDeviceGetName(buf.as_mut_ptr(), len, device)
    })
}

/// `cuDeviceGetUuid_v2`.
pub(crate) fn device_get_uuid(device: CUdevice) -> Result<CUuuid> {
    let api = driver()?;
    let mut id = CUuuid::default();
    // SAFETY: `id` is a valid out-parameter.
    check("cuDeviceGetUuid_v2", unsafe {
        api.cuDeviceGetUuid_v2(&mut id, device)
    })?;
    Ok(id)
}

/// `cuDeviceGetPCIBusId` into `buf` (NUL-terminated, truncated to fit).
pub(crate) fn device_get_pci_bus_id(buf: &mut [c_char], device: CUdevice) -> Result<()> {
    let api = driver()?;
    let len = c_int::try_from(buf.len()).unwrap_or(c_int::MAX);
    // SAFETY: the driver writes at most `len` bytes, NUL-terminated, into `buf`.
    check("cuDeviceGetPCIBusId", unsafe {
        api.cuDeviceGetPCIBusId(buf.as_mut_ptr(), len, device)
    })
}

/// `cuDeviceTotalMem_v2`, in bytes.
pub(crate) fn device_total_mem(device: CUdevice) -> Result<usize> {
    let api = driver()?;
    let mut bytes: usize = 0;
    // SAFETY: `bytes` is a valid out-parameter.
    check("cuDeviceTotalMem_v2", unsafe {
        api.cuDeviceTotalMem_v2(&mut bytes, device)
    })?;
    Ok(bytes)
}

/// `cuDeviceGetAttribute`.
pub(crate) fn device_get_attribute(attr: CUdevice_attribute, device: CUdevice) -> Result<c_int> {
    let api = driver()?;
    let mut v: c_int = 0;
    // SAFETY: `v` is a valid out-parameter; an unknown attribute returns an error status.
    check("cuDeviceGetAttribute", unsafe {
        api.cuDeviceGetAttribute(&mut v, attr, device)
    })?;
    Ok(v)
}

/// `cuDeviceCanAccessPeer`: whether `device` can access `peer`'s memory.
pub(crate) fn device_can_access_peer(device: CUdevice, peer: CUdevice) -> Result<bool> {
    let api = driver()?;
    let mut v: c_int = 0;
    // SAFETY: `v` is a valid out-parameter; the driver validates both handles.
    check("cuDeviceCanAccessPeer", unsafe {
        api.cuDeviceCanAccessPeer(&mut v, device, peer)
    })?;
    Ok(v != 0)
}

/// `cuDeviceGetP2PAttribute` from `src` to `dst`.
pub(crate) fn device_get_p2p_attribute(
    attr: CUdevice_P2PAttribute,
    src: CUdevice,
    dst: CUdevice,
) -> Result<c_int> {
    let api = driver()?;
    let mut v: c_int = 0;
    // SAFETY: `v` is a valid out-parameter; the driver validates both handles.
    check("cuDeviceGetP2PAttribute", unsafe {
        api.cuDeviceGetP2PAttribute(&mut v, attr, src, dst)
    })?;
    Ok(v)
}

/// `cuDevicePrimaryCtxGetState`: the flags and whether the primary context is active.
pub(crate) fn primary_ctx_get_state(device: CUdevice) -> Result<(c_uint, bool)> {
    let api = driver()?;
    let mut flags: c_uint = 0;
    let mut active: c_int = 0;
    // SAFETY: valid out-parameters; the driver validates the device handle.
    check("cuDevicePrimaryCtxGetState", unsafe {
        api.cuDevicePrimaryCtxGetState(device, &mut flags, &mut active)
    })?;
    Ok((flags, active != 0))
}

/// `cuDevicePrimaryCtxRetain`. Balance it with [`primary_ctx_release`].
pub(crate) fn primary_ctx_retain(device: CUdevice) -> Result<CUcontext> {
    let api = driver()?;
    let mut raw: CUcontext = std::ptr::null_mut();
    // SAFETY: valid out-parameter; the driver validates the device handle.
    check("cuDevicePrimaryCtxRetain", unsafe {
        api.cuDevicePrimaryCtxRetain(&mut raw, device)
    })?;
    Ok(raw)
}

/// `cuDevicePrimaryCtxRelease_v2`.
///
/// # Safety
/// The caller retained the primary context of `device` and gives up exactly that retain: it
/// uses the context through it no more.
pub(crate) unsafe fn primary_ctx_release(device: CUdevice) -> Result<()> {
    let api = driver()?;
    // SAFETY: guaranteed by the caller.
    check("cuDevicePrimaryCtxRelease_v2", unsafe {
        api.cuDevicePrimaryCtxRelease_v2(device)
    })
}

/// What [`primary_ctx_set_flags`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SetFlags {
    /// The driver took the flags.
    Set,
    /// `CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE`: the context is active and the driver refused.
    PrimaryContextActive,
}

fn primary_ctx_set_flags_status(status: CUresult) -> Result<SetFlags> {
    match status {
        CUresult::CUDA_SUCCESS => Ok(SetFlags::Set),
        CUresult::CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE => Ok(SetFlags::PrimaryContextActive),
        s => Err(Error::cuda("cuDevicePrimaryCtxSetFlags_v2", s)),
    }
}

/// `cuDevicePrimaryCtxSetFlags_v2`.
pub(crate) fn primary_ctx_set_flags(device: CUdevice, flags: c_uint) -> Result<SetFlags> {
    let api = driver()?;
    // SAFETY: plain value arguments; the driver validates the device handle.
    primary_ctx_set_flags_status(unsafe { api.cuDevicePrimaryCtxSetFlags_v2(device, flags) }?)
}

/// `cuCtxGetFlags` of the current context.
pub(crate) fn ctx_get_flags() -> Result<c_uint> {
    let api = driver()?;
    let mut f: c_uint = 0;
    // SAFETY: `f` is a valid out-parameter; no current context is an error status.
    check("cuCtxGetFlags", unsafe { api.cuCtxGetFlags(&mut f) })?;
    Ok(f)
}

/// `cuMemGetInfo_v2` of the current context: `(free, total)` bytes.
pub(crate) fn mem_get_info() -> Result<(usize, usize)> {
    let api = driver()?;
    let (mut free, mut total) = (0usize, 0usize);
    // SAFETY: valid out-parameters; no current context is an error status.
    check("cuMemGetInfo_v2", unsafe {
        api.cuMemGetInfo_v2(&mut free, &mut total)
    })?;
    Ok((free, total))
}

/// `cuCtxSynchronize` of the current context.
pub(crate) fn ctx_synchronize() -> Result<()> {
    let api = driver()?;
    // SAFETY: no arguments; no current context is an error status.
    check("cuCtxSynchronize", unsafe { api.cuCtxSynchronize() })
}

fn ctx_enable_peer_access_status(status: CUresult) -> Result<bool> {
    match status {
        CUresult::CUDA_SUCCESS => Ok(true),
        CUresult::CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED => Ok(false),
        s => Err(Error::cuda("cuCtxEnablePeerAccess", s)),
    }
}

/// `cuCtxEnablePeerAccess`: lets the current context access `peer`'s memory. `false` when it
/// already could (`CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED`).
pub(crate) fn ctx_enable_peer_access(peer: CUcontext) -> Result<bool> {
    let api = driver()?;
    // SAFETY: plain handle; the driver validates it and the current context.
    ctx_enable_peer_access_status(unsafe { api.cuCtxEnablePeerAccess(peer, 0) }?)
}

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
    event_query_status(unsafe { api.cuEventQuery(event) }?)
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

/// `cuStreamQuery`: whether all work enqueued on `stream` has finished.
pub(crate) fn stream_query(stream: CUstream) -> Result<bool> {
    let api = driver()?;
    // SAFETY: plain handle; the driver validates it.
    stream_query_status(unsafe { api.cuStreamQuery(stream) }?)
}

/// `cuEventCreate` with `CU_EVENT_*` `flags`, in the current context.
pub(crate) fn event_create(flags: c_uint) -> Result<CUevent> {
    let api = driver()?;
    let mut raw: CUevent = std::ptr::null_mut();
    // SAFETY: valid out-parameter; the caller made the context current.
    check("cuEventCreate", unsafe {
        api.cuEventCreate(&mut raw, flags)
    })?;
    Ok(raw)
}

/// `cuEventElapsedTime`: milliseconds between two recorded, completed timing events.
pub(crate) fn event_elapsed_time(start: CUevent, end: CUevent) -> Result<f32> {
    let api = driver()?;
    let mut ms: f32 = 0.0;
    // SAFETY: valid out-parameter; the driver validates both handles and their recordings.
    check("cuEventElapsedTime", unsafe {
        api.cuEventElapsedTime(&mut ms, start, end)
    })?;
    Ok(ms)
}

/// `cuEventDestroy_v2`.
///
/// # Safety
/// `event` is owned by the caller and is not used after this call.
pub(crate) unsafe fn event_destroy(event: CUevent) -> Result<()> {
    let api = driver()?;
    // SAFETY: the caller owns the event and never uses it again.
    check("cuEventDestroy_v2", unsafe { api.cuEventDestroy_v2(event) })
}

/// `cuMemAlloc_v2`: `len` bytes of device memory in the current context.
pub(crate) fn mem_alloc(len: usize) -> Result<CUdeviceptr> {
    let api = driver()?;
    let mut ptr: CUdeviceptr = 0;
    // SAFETY: valid out-parameter; the caller made the context current.
    check("cuMemAlloc_v2", unsafe { api.cuMemAlloc_v2(&mut ptr, len) })?;
    Ok(ptr)
}

/// `cuMemAllocManaged` with `CU_MEM_ATTACH_*` `flags`, in the current context.
pub(crate) fn mem_alloc_managed(len: usize, flags: c_uint) -> Result<CUdeviceptr> {
    let api = driver()?;
    let mut ptr: CUdeviceptr = 0;
    // SAFETY: valid out-parameter; the caller made the context current.
    check("cuMemAllocManaged", unsafe {
        api.cuMemAllocManaged(&mut ptr, len, flags)
    })?;
    Ok(ptr)
}

/// `cuMemHostAlloc` with `CU_MEMHOSTALLOC_*` `flags`: `len` bytes of pinned host memory.
pub(crate) fn mem_host_alloc(len: usize, flags: c_uint) -> Result<*mut c_void> {
    let api = driver()?;
    let mut host: *mut c_void = std::ptr::null_mut();
    // SAFETY: valid out-parameter; the caller made the context current.
    check("cuMemHostAlloc", unsafe {
        api.cuMemHostAlloc(&mut host, len, flags)
    })?;
    Ok(host)
}

/// `cuMemHostGetDevicePointer_v2`: the device address of pinned `host` memory (allocated with
/// `CU_MEMHOSTALLOC_DEVICEMAP`).
pub(crate) fn mem_host_get_device_pointer(host: *mut c_void) -> Result<CUdeviceptr> {
    let api = driver()?;
    let mut dptr: CUdeviceptr = 0;
    // SAFETY: valid out-parameter; the driver only looks `host` up among its allocations.
    check("cuMemHostGetDevicePointer_v2", unsafe {
        api.cuMemHostGetDevicePointer_v2(&mut dptr, host, 0)
    })?;
    Ok(dptr)
}

/// `cuMemFree_v2`.
///
/// # Safety
/// `ptr` came from `cuMemAlloc` or `cuMemAllocManaged`, is freed once, and no work that uses
/// it is pending.
pub(crate) unsafe fn mem_free(ptr: CUdeviceptr) -> Result<()> {
    let api = driver()?;
    // SAFETY: guaranteed by the caller.
    check("cuMemFree_v2", unsafe { api.cuMemFree_v2(ptr) })
}

/// `cuMemFreeHost`.
///
/// # Safety
/// `host` came from `cuMemHostAlloc`, is freed once, and no work or reference uses it any more.
pub(crate) unsafe fn mem_free_host(host: *mut c_void) -> Result<()> {
    let api = driver()?;
    // SAFETY: guaranteed by the caller.
    check("cuMemFreeHost", unsafe { api.cuMemFreeHost(host) })
}

/// `cuMemcpyAsync`: `len` bytes between unified addresses, ordered on `stream`.
///
/// # Safety
/// `src` is readable and `dst` writable for `len` bytes until `stream` has executed the copy.
pub(crate) unsafe fn memcpy_async(
    dst: CUdeviceptr,
    src: CUdeviceptr,
    len: usize,
    stream: CUstream,
) -> Result<()> {
    let api = driver()?;
    // SAFETY: guaranteed by the caller.
    check("cuMemcpyAsync", unsafe {
        api.cuMemcpyAsync(dst, src, len, stream)
    })
}

/// `cuMemsetD8Async`: sets `len` bytes at `ptr` to `value`, ordered on `stream`.
///
/// # Safety
/// `ptr` is writable for `len` bytes until `stream` has executed the fill.
pub(crate) unsafe fn memset_d8_async(
    ptr: CUdeviceptr,
    value: u8,
    len: usize,
    stream: CUstream,
) -> Result<()> {
    let api = driver()?;
    // SAFETY: guaranteed by the caller.
    check("cuMemsetD8Async", unsafe {
        api.cuMemsetD8Async(ptr, value, len, stream)
    })
}

/// `cuModuleLoadData`: loads a PTX text or cubin `image` into the current context.
///
/// # Safety
/// `image` is a complete PTX text ending in NUL, or a complete ELF cubin: the driver reads it
/// by its own length, not by `image.len()`.
pub(crate) unsafe fn module_load_data(image: &[u8]) -> Result<CUmodule> {
    let api = driver()?;
    let mut raw: CUmodule = std::ptr::null_mut();
    // SAFETY: guaranteed by the caller; `image` lives for the call, `raw` is a valid
    // out-parameter.
    check("cuModuleLoadData", unsafe {
        api.cuModuleLoadData(&mut raw, image.as_ptr().cast())
    })?;
    Ok(raw)
}

/// `cuModuleUnload`.
///
/// # Safety
/// `module` is owned by the caller, unloaded once, and none of its functions is used (or has
/// work pending) after this call; its context is current.
pub(crate) unsafe fn module_unload(module: CUmodule) -> Result<()> {
    let api = driver()?;
    // SAFETY: guaranteed by the caller.
    check("cuModuleUnload", unsafe { api.cuModuleUnload(module) })
}

/// `cuModuleGetFunction`: the kernel called `name` in `module`.
pub(crate) fn module_get_function(module: CUmodule, name: &CStr) -> Result<CUfunction> {
    let api = driver()?;
    let mut raw: CUfunction = std::ptr::null_mut();
    // SAFETY: valid out-parameter; `name` is NUL-terminated; the driver validates `module`.
    check("cuModuleGetFunction", unsafe {
        api.cuModuleGetFunction(&mut raw, module, name.as_ptr())
    })?;
    Ok(raw)
}

/// `cuLaunchKernel` with `grid` x `block` threads and kernel parameters `params` (no `extra`).
///
/// # Safety
/// `params` holds one pointer per kernel parameter, each to a value of exactly the parameter's
/// type, and every address the kernel reads or writes is valid until `stream` has run it.
pub(crate) unsafe fn launch_kernel(
    function: CUfunction,
    grid: (u32, u32, u32),
    block: (u32, u32, u32),
    shared_bytes: u32,
    stream: CUstream,
    params: &mut [*mut c_void],
) -> Result<()> {
    let api = driver()?;
    // SAFETY: guaranteed by the caller; `params` lives through the call.
    check("cuLaunchKernel", unsafe {
        api.cuLaunchKernel(
            function,
            grid.0,
            grid.1,
            grid.2,
            block.0,
            block.1,
            block.2,
            shared_bytes,
            stream,
            params.as_mut_ptr(),
            std::ptr::null_mut(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call_of(e: Error) -> &'static str {
        match e {
            Error::Cuda { call, .. } => call,
            other => panic!("expected a CUDA error, got {other:?}"),
        }
    }

    #[test]
    fn query_wrappers_map_not_ready_and_name_their_call() {
        assert!(stream_query_status(CUresult::CUDA_SUCCESS).unwrap());
        assert!(!stream_query_status(CUresult::CUDA_ERROR_NOT_READY).unwrap());
        let e = stream_query_status(CUresult::CUDA_ERROR_LAUNCH_FAILED).unwrap_err();
        assert_eq!(e.cuda_code(), Some(CUresult::CUDA_ERROR_LAUNCH_FAILED.0));
        assert_eq!(call_of(e), "cuStreamQuery");

        assert!(event_query_status(CUresult::CUDA_SUCCESS).unwrap());
        assert!(!event_query_status(CUresult::CUDA_ERROR_NOT_READY).unwrap());
        let e = event_query_status(CUresult::CUDA_ERROR_INVALID_VALUE).unwrap_err();
        assert_eq!(call_of(e), "cuEventQuery");
    }

    #[test]
    fn set_flags_reports_an_active_primary_context_apart() {
        assert_eq!(
            primary_ctx_set_flags_status(CUresult::CUDA_SUCCESS).unwrap(),
            SetFlags::Set
        );
        assert_eq!(
            primary_ctx_set_flags_status(CUresult::CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE).unwrap(),
            SetFlags::PrimaryContextActive
        );
        let e = primary_ctx_set_flags_status(CUresult::CUDA_ERROR_INVALID_DEVICE).unwrap_err();
        assert_eq!(call_of(e), "cuDevicePrimaryCtxSetFlags_v2");
    }

    #[test]
    fn enable_peer_access_tolerates_already_enabled() {
        assert!(ctx_enable_peer_access_status(CUresult::CUDA_SUCCESS).unwrap());
        assert!(
            !ctx_enable_peer_access_status(CUresult::CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED)
                .unwrap()
        );
        let e = ctx_enable_peer_access_status(CUresult::CUDA_ERROR_PEER_ACCESS_UNSUPPORTED)
            .unwrap_err();
        assert_eq!(
            e.cuda_code(),
            Some(CUresult::CUDA_ERROR_PEER_ACCESS_UNSUPPORTED.0)
        );
        assert_eq!(call_of(e), "cuCtxEnablePeerAccess");
    }
}
