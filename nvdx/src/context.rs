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
use std::ffi::CStr;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use nvdx_sys::cuda::{
    CUcontext, CUctx_flags, CUdevice_attribute, CUfunction, CUmemoryPool, CUstream,
};
use rustc_hash::FxBuildHasher;

use crate::cu;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::kernels::{Function, LoadedModule, Module, ModuleImage};

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
    let (flags, active) = cu::primary_ctx_get_state(device.raw())?;
    Ok(PrimaryContextState {
        flags: PrimaryContextFlags::from_bits_retain(flags),
        active,
    })
}

/// The shared state of one GPU's retained primary context: every [`Context`] for the same GPU
/// that is alive at the same time points at one `Inner` (see [`Context::primary_on`]), so the
/// kernel modules, the memory pool and nvdx's internal streams exist once per GPU.
struct Inner {
    device: Device,
    raw: CUcontext,
    /// Loaded kernel modules. They hold no `Context` (that would be a cycle that kept the
    /// primary context alive forever); they are unloaded in `Drop`, before the release.
    modules: Mutex<HashMap<&'static str, Arc<LoadedModule>>>,
    /// Kernel handles looked up so far, by (module, kernel): a launch then costs no
    /// `cuModuleGetFunction` and no extra context push. Valid while the module is loaded,
    /// which is as long as this state lives.
    functions: Mutex<FunctionCache>,
    /// nvdx's internal stream for stream-ordered allocation and free (created on first use).
    order_stream: OnceLock<InternalStream>,
    /// The device's default memory pool (`None` where the device has no memory pools).
    mem_pool: OnceLock<Option<CUmemoryPool>>,
    /// Idle streams for synchronous host copies, reused so such copies allocate nothing in
    /// steady state and never touch the legacy default stream.
    host_streams: Mutex<Vec<InternalStream>>,
}

/// A stream owned by a context's shared state (a raw handle plus an id, no `Context`, so the
/// state holds no reference to itself).
pub(crate) struct InternalStream {
    pub(crate) raw: CUstream,
    pub(crate) id: u64,
}

// SAFETY: a CUcontext handle may be used from any thread (the driver API is thread-safe);
// nvdx only uses it through push/pop on the calling thread. Interior state is behind Mutexes
// and OnceLocks; raw stream and pool handles are usable from any thread.
unsafe impl Send for Inner {}
// SAFETY: see above.
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: nothing of nvdx's uses this context any more. Wait for the
        // frees queued on the internal stream (teardown only; no hot path drops a context),
        // then destroy the streams, unload the modules and release the retain.
        // SAFETY: the context is alive (this Inner still holds its retain) and popped below.
        let bound = unsafe { cu::ctx_push(self.raw) }.is_ok();
        if let Some(s) = self.order_stream.take() {
            let _ = cu::stream_synchronize(s.raw);
            // SAFETY: owned by this Inner and never used again.
            let _ = unsafe { cu::stream_destroy(s.raw) };
        }
        if let Ok(mut streams) = self.host_streams.lock() {
            for s in streams.drain(..) {
                // SAFETY: idle streams owned by this Inner, never used again.
                let _ = unsafe { cu::stream_destroy(s.raw) };
            }
        }
        if let Ok(mut f) = self.functions.lock() {
            f.clear();
        }
        if let Ok(mut m) = self.modules.lock() {
            m.clear();
        }
        if bound {
            let _ = cu::ctx_pop();
        }
        // SAFETY: this Inner retained the primary context exactly once, and nothing uses it
        // through this retain any more.
        let _ = unsafe { cu::primary_ctx_release(self.device.raw()) };
    }
}

/// The live shared states, by GPU ordinal (weak: the last [`Context`] handle releases).
static LIVE: Mutex<Vec<(u32, Weak<Inner>)>> = Mutex::new(Vec::new());

/// A retained primary context of one GPU. Clones share the retain; the last drop releases it.
///
/// All handles to the same GPU that are alive at the same time share one retain and one set of
/// loaded kernels, whether they came from `clone` or from another [`Context::primary`] call.
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

    /// Retains the primary context of `device`, or shares the retain of a [`Context`] for it
    /// that is still alive (so kernels are loaded once per GPU, not once per call).
    pub fn primary_on(device: &Device) -> Result<Context> {
        let mut live = LIVE.lock().map_err(|_| {
            Error::InvalidState("context registry poisoned by a panic on another thread".into())
        })?;
        live.retain(|(_, w)| w.strong_count() > 0);
        if let Some(inner) = live
            .iter()
            .find(|(o, _)| *o == device.ordinal())
            .and_then(|(_, w)| w.upgrade())
        {
            return Ok(Context { inner });
        }
        // Balanced by cuDevicePrimaryCtxRelease in Inner::drop.
        let raw = cu::primary_ctx_retain(device.raw())?;
        let inner = Arc::new(Inner {
            device: *device,
            raw,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::with_hasher(FxBuildHasher)),
            order_stream: OnceLock::new(),
            mem_pool: OnceLock::new(),
            host_streams: Mutex::new(Vec::new()),
        });
        live.push((device.ordinal(), Arc::downgrade(&inner)));
        Ok(Context { inner })
    }

    /// nvdx's internal stream of this context, on which stream-ordered allocations and frees
    /// are queued (created on first use).
    pub(crate) fn order_stream(&self) -> Result<&InternalStream> {
        if let Some(s) = self.inner.order_stream.get() {
            return Ok(s);
        }
        let s = {
            let _g = self.bind()?;
            InternalStream {
                raw: cu::stream_create_non_blocking()?,
                id: crate::stream::next_stream_id(),
            }
        };
        if let Err(lost) = self.inner.order_stream.set(s) {
            // Another thread created it first: drop ours.
            // SAFETY: `lost` was created above and never used.
            let _ = unsafe { cu::stream_destroy(lost.raw) };
        }
        self.inner
            .order_stream
            .get()
            .ok_or_else(|| Error::InvalidState("internal stream missing".into()))
    }

    /// The device's default memory pool, or `None` where the device does not support memory
    /// pools (allocations then fall back to `cuMemAlloc`).
    pub(crate) fn mem_pool(&self) -> Result<Option<CUmemoryPool>> {
        if let Some(p) = self.inner.mem_pool.get() {
            return Ok(*p);
        }
        let supported = self
            .inner
            .device
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED)?
            != 0;
        let pool = if supported {
            Some(cu::device_default_mem_pool(self.inner.device.raw())?)
        } else {
            None
        };
        let _ = self.inner.mem_pool.set(pool);
        Ok(pool)
    }

    /// Takes an idle internal stream for a synchronous host copy (creating one if none is
    /// idle); give it back with [`Context::put_host_stream`].
    pub(crate) fn take_host_stream(&self) -> Result<InternalStream> {
        if let Some(s) = self
            .inner
            .host_streams
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
        {
            return Ok(s);
        }
        let _g = self.bind()?;
        Ok(InternalStream {
            raw: cu::stream_create_non_blocking()?,
            id: crate::stream::next_stream_id(),
        })
    }

    /// Returns a stream taken with [`Context::take_host_stream`] (idle: its copy was waited
    /// for).
    pub(crate) fn put_host_stream(&self, s: InternalStream) {
        match self.inner.host_streams.lock() {
            Ok(mut v) => v.push(s),
            Err(_) => {
                // SAFETY: idle and owned by the caller, never used again.
                let _ = unsafe { cu::stream_destroy(s.raw) };
            }
        }
    }

    /// Whether two handles share one retain and one set of loaded kernels (for tests and
    /// diagnostics: handles to the same GPU alive at the same time always do).
    pub fn shares_state_with(&self, other: &Context) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
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
        if cu::primary_ctx_set_flags(device.raw(), flags.bits())?
            == cu::SetFlags::PrimaryContextActive
        {
            return Err(Error::InvalidState(format!(
                "the primary context of GPU {} is already active with flags {:?}; the driver does not \
                 allow changing them to {:?} now. Set the flags before any library (PyTorch, CuPy, \
                 nvdx) first uses the GPU",
                device.ordinal(),
                before.flags,
                flags
            )));
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
        Ok(PrimaryContextFlags::from_bits_retain(cu::ctx_get_flags()?))
    }

    /// Makes this context current on the calling thread until the guard drops, which restores
    /// whatever was current before.
    pub fn bind(&self) -> Result<ContextGuard<'_>> {
        // SAFETY: the context is retained for the guard's lifetime (it borrows self), and the
        // guard pops it on this thread (it is not Send).
        unsafe { cu::ctx_push(self.inner.raw) }?;
        Ok(ContextGuard {
            _ctx: PhantomData,
            _not_send: PhantomData,
        })
    }

    /// Free and total memory of the GPU, in bytes (`cuMemGetInfo`).
    pub fn memory_info(&self) -> Result<(usize, usize)> {
        let _g = self.bind()?;
        cu::mem_get_info()
    }

    /// Waits until all work on the context has finished (`cuCtxSynchronize`). Prefer
    /// [`crate::Stream::synchronize`] or events on hot paths.
    pub fn synchronize(&self) -> Result<()> {
        let _g = self.bind()?;
        cu::ctx_synchronize()
    }

    /// The module `image`, loaded into this context on first use and cached afterwards (once
    /// per GPU while any handle to its context lives).
    pub fn module(&self, image: &'static ModuleImage) -> Result<Module> {
        let mut cache = self.inner.modules.lock().map_err(|_| {
            Error::InvalidState("module cache poisoned by a panic on another thread".into())
        })?;
        if let Some(m) = cache.get(image.name) {
            return Ok(Module::from_loaded(self, Arc::clone(m)));
        }
        let loaded = Arc::new(LoadedModule::load(self, image)?);
        cache.insert(image.name, Arc::clone(&loaded));
        Ok(Module::from_loaded(self, loaded))
    }
}

/// Cached kernel handles of a context, by the addresses of the module image and of the kernel
/// name (both `'static`: an address names one image and one name for the whole run; two
/// addresses of equal names only cost a second entry). Hashed with FxHash: the lookup runs
/// once a launch, and SipHash over the two names was about a quarter of its own host work.
type FunctionCache = HashMap<(usize, usize), (CUfunction, Arc<LoadedModule>), FxBuildHasher>;

impl Context {
    /// The kernel `name` of module `image`, looked up once per GPU and cached (the module is
    /// loaded on first use, see [`Context::module`]).
    pub fn function(&self, image: &'static ModuleImage, name: &'static CStr) -> Result<Function> {
        let key = (std::ptr::from_ref(image) as usize, name.as_ptr() as usize);
        {
            let cache = self.inner.functions.lock().map_err(|_| {
                Error::InvalidState("kernel cache poisoned by a panic on another thread".into())
            })?;
            if let Some((raw, module)) = cache.get(&key) {
                return Ok(Function::from_cached(*raw, Arc::clone(module), self));
            }
        }
        let f = self.module(image)?.function(name)?;
        if let Ok(mut cache) = self.inner.functions.lock() {
            cache.insert(key, (f.raw(), f.module_arc()));
        }
        Ok(f)
    }
}

/// Keeps a context current on this thread; pops it on drop. Not `Send`.
pub struct ContextGuard<'a> {
    _ctx: PhantomData<&'a Context>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ContextGuard<'_> {
    fn drop(&mut self) {
        // This guard pushed exactly one context on this thread.
        let _ = cu::ctx_pop();
    }
}

/// A context pushed by its raw handle, popped on drop: for state that holds its [`Context`]
/// and must stay mutable while the context is bound (the decoder session), where
/// [`Context::bind`]'s borrow would get in the way or cost a clone of the handle (an atomic
/// increment and decrement on a counter that every session of the GPU shares). Not `Send`.
pub(crate) struct RawBinding {
    _not_send: PhantomData<*const ()>,
}

impl RawBinding {
    /// Pushes `raw` on this thread.
    ///
    /// # Safety
    /// `raw` is a live context that stays retained until the binding drops.
    pub(crate) unsafe fn push(raw: CUcontext) -> Result<RawBinding> {
        // SAFETY: guaranteed by the caller.
        unsafe { cu::ctx_push(raw) }?;
        Ok(RawBinding {
            _not_send: PhantomData,
        })
    }
}

impl Drop for RawBinding {
    fn drop(&mut self) {
        // This binding pushed exactly one context on this thread.
        let _ = cu::ctx_pop();
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
