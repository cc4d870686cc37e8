//! GPU kernels: loading embedded PTX modules and launching their functions, and the colour
//! conversion / tensor kernels built on that ([`colour`]).
//!
//! Kernel sources are CUDA C in `nvdx/kernels/*.cu`; `cargo xtask kernels` compiles them to
//! PTX that is committed and embedded, so building nvdx needs no CUDA toolkit. A module is
//! loaded into a context on first use and cached there ([`crate::Context::module`]).

use std::ffi::{c_void, CStr};
use std::sync::Arc;

use nvdx_sys::cuda::{CUfunction, CUmodule};

use crate::context::Context;
use crate::cu;
use crate::error::{Error, Result};
use crate::stream::Stream;

pub mod colour;
pub mod reference;

/// An embedded module image: a name (the cache key), NUL-terminated PTX (or a cubin), and
/// optionally native images for particular GPUs.
#[derive(Debug)]
pub struct ModuleImage {
    /// Unique name, e.g. `"colour"`.
    pub name: &'static str,
    /// The image bytes; PTX must end with a NUL byte.
    pub image: &'static [u8],
    /// Cubins tried first on a GPU of their compute capability (no JIT compilation); `image` is
    /// loaded on every other GPU, and wherever a cubin fails to load.
    pub cubins: &'static [Cubin],
}

/// A native image (ELF cubin) of a [`ModuleImage`] for one compute capability.
#[derive(Debug)]
pub struct Cubin {
    /// The compute capability `(major, minor)` it was assembled for, e.g. `(9, 0)`.
    pub compute_capability: (u32, u32),
    /// The ELF image.
    pub image: &'static [u8],
}

impl ModuleImage {
    /// The cubin to try first on a GPU of compute capability `cc`: one built for exactly that
    /// capability (a cubin for sm_XY runs on sm_XZ with Z >= Y too, but the PTX JIT then
    /// compiles for the newer GPU, so nvdx prefers it there).
    pub fn cubin_for(&self, cc: (u32, u32)) -> Option<&'static [u8]> {
        self.cubins
            .iter()
            .find(|c| c.compute_capability == cc)
            .map(|c| c.image)
    }
}

/// Bytes with 16-byte alignment, for embedding ELF images (`include_bytes!` gives none):
/// `static X: &Aligned<[u8]> = &Aligned(*include_bytes!("..."));`, then `&X.0`.
#[repr(C, align(16))]
pub struct Aligned<T: ?Sized>(pub T);

/// A module image loaded into a context; unloaded on drop. Holds the raw context handle but no
/// retain (a [`crate::Context`] owns the cache that holds it, so holding a `Context` here would
/// be a cycle): every owner of a `LoadedModule` also holds the `Context` and drops it after.
pub(crate) struct LoadedModule {
    raw: CUmodule,
    ctx_raw: nvdx_sys::cuda::CUcontext,
    /// Whether `raw` came from one of the image's cubins (else from its PTX or main image).
    native: bool,
}

// SAFETY: module handles are usable from any thread with the context bound; immutable.
unsafe impl Send for LoadedModule {}
// SAFETY: as above.
unsafe impl Sync for LoadedModule {}

impl LoadedModule {
    /// Loads `image` into `ctx`: its cubin for the GPU's compute capability where it has one
    /// and the driver accepts it, else the main image (JIT-compiling PTX for the GPU).
    pub(crate) fn load(ctx: &Context, image: &ModuleImage) -> Result<LoadedModule> {
        if let Some(cubin) = ctx
            .device()
            .compute_capability()
            .ok()
            .and_then(|cc| image.cubin_for(cc))
        {
            if cubin.starts_with(b"\x7fELF") {
                let _g = ctx.bind()?;
                // SAFETY: a complete ELF image that lives for the call; the context is current.
                // A failure (e.g. a driver that rejects it) falls back to the portable image.
                if let Ok(raw) = unsafe { cu::module_load_data(cubin) } {
                    return Ok(LoadedModule {
                        raw,
                        ctx_raw: ctx.raw(),
                        native: true,
                    });
                }
            }
        }
        if image.image.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "module image `{}` is empty",
                image.name
            )));
        }
        let is_ptx = !image.image.starts_with(b"\x7fELF");
        if is_ptx && image.image.last() != Some(&0) {
            return Err(Error::InvalidArgument(format!(
                "PTX module `{}` is not NUL-terminated",
                image.name
            )));
        }
        let _g = ctx.bind()?;
        // SAFETY: the image is a complete PTX text (NUL-terminated, checked above) or ELF
        // cubin that lives for the call; the context is current.
        let raw = unsafe { cu::module_load_data(image.image) }.map_err(|mut e| {
            if let Error::Cuda { description, .. } = &mut e {
                description.push_str(&format!(
                    " (loading nvdx's `{}` kernels; if the PTX is too new for this driver, update the driver: see the README's driver floor)",
                    image.name
                ));
            }
            e
        })?;
        Ok(LoadedModule {
            raw,
            ctx_raw: ctx.raw(),
            native: false,
        })
    }
}

impl Drop for LoadedModule {
    fn drop(&mut self) {
        // SAFETY: the owner still holds the context's retain (see the type's doc); popped below.
        if unsafe { cu::ctx_push(self.ctx_raw) }.is_err() {
            return;
        }
        // SAFETY: loaded by LoadedModule::load and unloaded once; no function of it outlives
        // this (they hold the Arc), and its context is current.
        let _ = unsafe { cu::module_unload(self.raw) };
        let _ = cu::ctx_pop();
    }
}

/// A module loaded into a context: the context's cached copy ([`Context::module`]) or one of
/// your own ([`Module::load`]). Keeps its context alive.
#[derive(Clone)]
pub struct Module {
    // Field order matters: the module unloads before the context's retain goes.
    loaded: Arc<LoadedModule>,
    ctx: Context,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("raw", &self.loaded.raw)
            .finish_non_exhaustive()
    }
}

impl Module {
    /// Loads `image` into `ctx` (JIT-compiling PTX for the GPU), uncached. Prefer
    /// [`Context::module`], which loads each image once per GPU.
    pub fn load(ctx: &Context, image: &ModuleImage) -> Result<Module> {
        Ok(Module {
            loaded: Arc::new(LoadedModule::load(ctx, image)?),
            ctx: ctx.clone(),
        })
    }

    pub(crate) fn from_loaded(ctx: &Context, loaded: Arc<LoadedModule>) -> Module {
        Module {
            loaded,
            ctx: ctx.clone(),
        }
    }

    /// Whether the module was loaded from one of its image's cubins (native code for this GPU)
    /// rather than from the portable image (PTX, JIT-compiled by the driver).
    pub fn is_native(&self) -> bool {
        self.loaded.native
    }

    /// Looks up a kernel by its (`extern "C"`) name.
    pub fn function(&self, name: &CStr) -> Result<Function> {
        let _g = self.ctx.bind()?;
        let raw = cu::module_get_function(self.loaded.raw, name).map_err(|e| {
            Error::InvalidArgument(format!("kernel {name:?} not found in module: {e}"))
        })?;
        Ok(Function {
            raw,
            _module: Arc::clone(&self.loaded),
            ctx: self.ctx.clone(),
        })
    }
}

/// A kernel in a loaded module; keeps the module and its context alive.
#[derive(Clone)]
pub struct Function {
    raw: CUfunction,
    // Field order matters: the module unloads before the context's retain goes.
    _module: Arc<LoadedModule>,
    ctx: Context,
}

// SAFETY: function handles are immutable and usable from any thread with the context bound.
unsafe impl Send for Function {}
// SAFETY: as above.
unsafe impl Sync for Function {}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("raw", &self.raw)
            .finish_non_exhaustive()
    }
}

/// Grid and block dimensions of a launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchConfig {
    /// Blocks in x, y, z.
    pub grid: (u32, u32, u32),
    /// Threads per block in x, y, z.
    pub block: (u32, u32, u32),
    /// Dynamic shared memory in bytes.
    pub shared_bytes: u32,
}

impl LaunchConfig {
    /// A 2D launch covering `width x height` items with `block` threads per block.
    pub fn for_2d(width: u32, height: u32, block: (u32, u32)) -> LaunchConfig {
        LaunchConfig {
            grid: (
                width.div_ceil(block.0.max(1)).max(1),
                height.div_ceil(block.1.max(1)).max(1),
                1,
            ),
            block: (block.0, block.1, 1),
            shared_bytes: 0,
        }
    }
}

impl Function {
    /// A handle from the context's kernel cache.
    pub(crate) fn from_cached(
        raw: CUfunction,
        module: Arc<LoadedModule>,
        ctx: &Context,
    ) -> Function {
        Function {
            raw,
            _module: module,
            ctx: ctx.clone(),
        }
    }

    /// The module the kernel belongs to (kept loaded by the handle).
    pub(crate) fn module_arc(&self) -> Arc<LoadedModule> {
        Arc::clone(&self._module)
    }

    /// The raw handle.
    pub fn raw(&self) -> CUfunction {
        self.raw
    }

    /// Enqueues the kernel on `stream`.
    ///
    /// # Safety
    /// `params` must hold one pointer per kernel parameter, each pointing to a value of exactly
    /// the parameter's type, and every device address passed must be valid for what the kernel
    /// reads and writes until the stream has run it.
    pub unsafe fn launch(
        &self,
        cfg: LaunchConfig,
        stream: &Stream,
        params: &mut [*mut c_void],
    ) -> Result<()> {
        if cfg.grid.0 == 0
            || cfg.grid.1 == 0
            || cfg.grid.2 == 0
            || cfg.block.0 * cfg.block.1 * cfg.block.2 == 0
        {
            return Err(Error::InvalidArgument(format!("empty launch {cfg:?}")));
        }
        let _g = stream.context().bind()?;
        // SAFETY: the caller guarantees the parameter array and the addresses in it.
        unsafe {
            cu::launch_kernel(
                self.raw,
                cfg.grid,
                cfg.block,
                cfg.shared_bytes,
                stream.raw(),
                params,
            )
        }
    }

    /// The context the function was loaded into.
    pub fn context(&self) -> &Context {
        &self.ctx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static TEST_CUBIN: &Aligned<[u8]> = &Aligned(*b"\x7fELF-test");
    static TEST_IMAGE: ModuleImage = ModuleImage {
        name: "test",
        image: b"PTX\0",
        cubins: &[Cubin {
            compute_capability: (9, 0),
            image: &TEST_CUBIN.0,
        }],
    };

    #[test]
    fn cubin_only_for_its_exact_compute_capability() {
        assert_eq!(TEST_IMAGE.cubin_for((9, 0)), Some(&TEST_CUBIN.0[..]));
        for cc in [(7, 0), (8, 0), (8, 9), (9, 1), (10, 0), (12, 0)] {
            assert_eq!(TEST_IMAGE.cubin_for(cc), None, "{cc:?}");
        }
        assert_eq!(TEST_CUBIN.0.as_ptr() as usize % 16, 0);
    }

    #[test]
    fn launch_config_rounds_up() {
        let c = LaunchConfig::for_2d(1918, 1078, (32, 8));
        assert_eq!(c.grid, (60, 135, 1));
        assert_eq!(LaunchConfig::for_2d(1, 1, (32, 8)).grid, (1, 1, 1));
    }
}
