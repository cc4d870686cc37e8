//! Primary contexts: retain/release, push/pop, scheduling flags.
//!
//! nvdx uses each GPU's *primary* context, the one the CUDA runtime, PyTorch, CuPy and most
//! libraries share. Pointers and streams therefore cross library boundaries without copies.
//!
//! # Send and Sync
//! [`Context`] is `Send + Sync`: a CUDA context may be made current on any thread, and every
//! nvdx call that needs it pushes it for the duration of the call ([`Context::bind`]) and pops
//! it afterwards, leaving the caller's own current context as it was. [`ContextGuard`] is
//! neither `Send` nor `Sync`, because the pop must happen on the thread that pushed.

use std::collections::HashMap;
use std::ffi::{c_int, c_uint};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use nvdx_sys::cuda::{CUcontext, CUctx_flags, CUresult};

use crate::device::{driver, Device};
use crate::error::{check, Error, Result};
use crate::kernels::{Module, ModuleImage};

bitflags::bitflags! {
    /// Flags of a primary context (`CU_CTX_*`): scheduling policy and friends.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct PrimaryContextFlags: u32 {
        /// Let the driver choose between spinning and yielding (`CU_CTX_SCHED_AUTO`, 0).
        const SCHED_AUTO = CUctx_flags::CU_CTX_SCHED_AUTO.0;
        /// Spin while waiting for the GPU: lowest latency, one busy core (`CU_CTX_SCHED_SPIN`).
        const SCHED_SPIN = CUctx_flags::CU_CTX_SCHED_SPIN.0;
        /// Yield the thread while waiting (`CU_CTX_SCHED_YIELD`).
        const SCHED_YIELD = CUctx_flags::CU_CTX_SCHED_YIELD.0;
        /// Block on a synchronisation primitive while waiting: no CPU burnt
        /// (`CU_CTX_SCHED_BLOCKING_SYNC`), what a server decoding many streams wants.
        const SCHED_BLOCKING_SYNC = CUctx_flags::CU_CTX_SCHED_BLOCKING_SYNC.0;
        /// Keep local memory allocations after launches (`CU_CTX_LMEM_RESIZE_TO_MAX`).
        const LMEM_RESIZE_TO_MAX = CUctx_flags::CU_CTX_LMEM_RESIZE_TO_MAX.0;
    }
}

/// What `cuDevicePrimaryCtxGetState` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrimaryContextState {
    /// Flags the primary context has (if active) or will be created with.
    pub flags: PrimaryContextFlags,
    /// Whether some library in this process currently holds the primary context.
    pub active: bool,
}

/// What happened when flags were set, see [`Context::set_primary_flags`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagsOutcome {
    /// The primary context was inactive: it will be created with these flags.
    Applied,
    /// The primary context was already active (another library created it) and the driver
    /// applied the new flags to it.
    AppliedWhileActive {
        /// The flags it had before.
        previous: PrimaryContextFlags,
    },
    /// The primary context was already active with exactly these flags; nothing changed.
    AlreadySet,
}

/// Reports the primary context's flags and whether it is active.
pub fn primary_state(device: &Device) -> Result<PrimaryContextState> {
    let api = driver()?;
    let mut flags: c_uint = 0;
    let mut active: c_int = 0;
    // SAFETY: valid out-parameters; the device handle came from cuDeviceGet.
    check("cuDevicePrimaryCtxGetState", unsafe {
        api.cuDevicePrimaryCtxGetState(device.raw(), &mut flags, &mut active)
    })?;
    Ok(PrimaryContextState {
        flags: PrimaryContextFlags::from_bits_retain(flags),
        active: active != 0,
    })
}

struct Inner {
    device: Device,
    raw: CUcontext,
    modules: Mutex<HashMap<&'static str, Arc<Module>>>,
}

// SAFETY: a CUcontext handle may be used from any thread (the driver API is thread-safe);
// nvdx only uses it through push/pop on the calling thread. The module cache is behind a Mutex.
unsafe impl Send for Inner {}
// SAFETY: see above; no interior state is mutated without the Mutex.
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        // Modules must be unloaded while the context is alive.
        if let Ok(mut m) = self.modules.lock() {
            m.clear();
        }
        if let Ok(api) = driver() {
            // SAFETY: this Inner retained the primary context exactly once.
            let _ = unsafe { api.cuDevicePrimaryCtxRelease_v2(self.device.raw()) };
        }
    }
}

/// A retained primary context of one GPU. Clones share the retain; the last drop releases it.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("device", &self.inner.device.ordinal())
            .finish_non_exhaustive()
    }
}

impl PartialEq for Context {
    fn eq(&self, other: &Self) -> bool {
        self.inner.raw == other.inner.raw
    }
}
impl Eq for Context {}

impl Context {
    /// Retains the primary context of GPU `ordinal` (creating it if nobody has).
    pub fn primary(ordinal: u32) -> Result<Context> {
        Context::primary_on(&Device::get(ordinal)?)
    }

    /// Retains the primary context of `device`.
    pub fn primary_on(device: &Device) -> Result<Context> {
        let api = driver()?;
        let mut raw: CUcontext = std::ptr::null_mut();
        // SAFETY: valid out-parameter; balanced by cuDevicePrimaryCtxRelease in Inner::drop.
        check("cuDevicePrimaryCtxRetain", unsafe {
            api.cuDevicePrimaryCtxRetain(&mut raw, device.raw())
        })?;
        Ok(Context {
            inner: Arc::new(Inner {
                device: *device,
                raw,
                modules: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Sets the primary context's flags, ideally before anything activates it (call this first
    /// thing in `main`, before other CUDA libraries start).
    ///
    /// If another library already activated the primary context, the driver decides: recent
    /// drivers apply the scheduling flags to the live context ([`FlagsOutcome::AppliedWhileActive`]);
    /// where the driver refuses, this returns [`Error::InvalidState`] naming the flags the context
    /// has, so the caller learns it now rather than from a late, cryptic failure elsewhere.
    pub fn set_primary_flags(device: &Device, flags: PrimaryContextFlags) -> Result<FlagsOutcome> {
        let before = primary_state(device)?;
        if before.active && before.flags == flags {
            return Ok(FlagsOutcome::AlreadySet);
        }
        let api = driver()?;
        // SAFETY: plain value arguments; the device handle came from cuDeviceGet.
        let status = unsafe { api.cuDevicePrimaryCtxSetFlags_v2(device.raw(), flags.bits()) }?;
        if status == CUresult::CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE {
            return Err(Error::InvalidState(format!(
                "the primary context of GPU {} is already active with flags {:?}; the driver does not \
                 allow changing them to {:?} now. Set the flags before any library (PyTorch, CuPy, \
                 nvdx) first uses the GPU",
                device.ordinal(),
                before.flags,
                flags
            )));
        }
        if status != CUresult::CUDA_SUCCESS {
            return Err(Error::cuda("cuDevicePrimaryCtxSetFlags_v2", status));
        }
        Ok(if before.active {
            FlagsOutcome::AppliedWhileActive {
                previous: before.flags,
            }
        } else {
            FlagsOutcome::Applied
        })
    }

    /// The context's GPU.
    pub fn device(&self) -> Device {
        self.inner.device
    }

    /// The raw `CUcontext` (e.g. to hand to NVENC or another library).
    pub fn raw(&self) -> CUcontext {
        self.inner.raw
    }

    /// The flags the live context runs with (`cuCtxGetFlags`).
    pub fn flags(&self) -> Result<PrimaryContextFlags> {
        let _g = self.bind()?;
        let api = driver()?;
        let mut f: c_uint = 0;
        // SAFETY: the context is current; `f` is a valid out-parameter.
        check("cuCtxGetFlags", unsafe { api.cuCtxGetFlags(&mut f) })?;
        Ok(PrimaryContextFlags::from_bits_retain(f))
    }

    /// Makes this context current on the calling thread until the guard drops, which restores
    /// whatever was current before.
    pub fn bind(&self) -> Result<ContextGuard<'_>> {
        let api = driver()?;
        // SAFETY: the context is retained for the guard's lifetime (it borrows self).
        check("cuCtxPushCurrent_v2", unsafe {
            api.cuCtxPushCurrent_v2(self.inner.raw)
        })?;
        Ok(ContextGuard {
            _ctx: PhantomData,
            _not_send: PhantomData,
        })
    }

    /// Free and total memory of the GPU, in bytes (`cuMemGetInfo`).
    pub fn memory_info(&self) -> Result<(usize, usize)> {
        let _g = self.bind()?;
        let api = driver()?;
        let (mut free, mut total) = (0usize, 0usize);
        // SAFETY: the context is current; valid out-parameters.
        check("cuMemGetInfo_v2", unsafe {
            api.cuMemGetInfo_v2(&mut free, &mut total)
        })?;
        Ok((free, total))
    }

    /// Waits until all work on the context has finished (`cuCtxSynchronize`). Prefer
    /// [`crate::Stream::synchronize`] or events on hot paths.
    pub fn synchronize(&self) -> Result<()> {
        let _g = self.bind()?;
        let api = driver()?;
        // SAFETY: the context is current.
        check("cuCtxSynchronize", unsafe { api.cuCtxSynchronize() })
    }

    /// The module `image`, loaded into this context on first use and cached afterwards.
    pub fn module(&self, image: &'static ModuleImage) -> Result<Arc<Module>> {
        let mut cache = self.inner.modules.lock().map_err(|_| {
            Error::InvalidState("module cache poisoned by a panic on another thread".into())
        })?;
        if let Some(m) = cache.get(image.name) {
            return Ok(Arc::clone(m));
        }
        let m = Arc::new(Module::load(self, image)?);
        cache.insert(image.name, Arc::clone(&m));
        Ok(m)
    }
}

/// Keeps a context current on this thread; pops it on drop. Not `Send`.
pub struct ContextGuard<'a> {
    _ctx: PhantomData<&'a Context>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ContextGuard<'_> {
    fn drop(&mut self) {
        if let Ok(api) = driver() {
            let mut popped: CUcontext = std::ptr::null_mut();
            // SAFETY: this guard pushed exactly one context on this thread.
            let _ = unsafe { api.cuCtxPopCurrent_v2(&mut popped) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_bits_match_the_driver_constants() {
        assert_eq!(PrimaryContextFlags::SCHED_AUTO.bits(), 0);
        assert_eq!(PrimaryContextFlags::SCHED_SPIN.bits(), 1);
        assert_eq!(PrimaryContextFlags::SCHED_YIELD.bits(), 2);
        assert_eq!(PrimaryContextFlags::SCHED_BLOCKING_SYNC.bits(), 4);
    }
}
