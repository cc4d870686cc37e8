//! Run-time loading of NVIDIA's driver libraries, in the style of ash: each library is opened
//! once, lazily and independently of the others, and its functions live in a table of
//! `Option<fn>` so that a missing symbol is an error naming it rather than a crash.

use std::fmt;
use std::sync::OnceLock;

use crate::cuda::CudaFns;
use crate::cuvid::CuvidFns;
use crate::nvenc::NvencFns;

/// A function the loaded library does not export (an older driver, or the wrong library).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingSymbol {
    /// Library the symbol was looked up in, e.g. `libcuda`.
    pub library: &'static str,
    /// The symbol's name, e.g. `cuMemAlloc_v2`.
    pub symbol: &'static str,
}

impl fmt::Display for MissingSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} does not export `{}`: the NVIDIA driver is older than nvdx needs or the library \
             is not NVIDIA's; update the driver (or fix the NVDX_*_PATH override)",
            self.library, self.symbol
        )
    }
}

impl std::error::Error for MissingSymbol {}

/// Which driver library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Library {
    /// The CUDA driver API (`libcuda.so.1`, `nvcuda.dll`).
    Cuda,
    /// NVDEC (`libnvcuvid.so.1`, `nvcuvid.dll`).
    Nvcuvid,
    /// NVENC (`libnvidia-encode.so.1`, `nvEncodeAPI64.dll`).
    NvidiaEncode,
}

impl Library {
    /// The file name the dynamic loader is asked for on this platform.
    pub fn default_file_name(self) -> &'static str {
        if cfg!(windows) {
            match self {
                Library::Cuda => "nvcuda.dll",
                Library::Nvcuvid => "nvcuvid.dll",
                Library::NvidiaEncode => "nvEncodeAPI64.dll",
            }
        } else {
            match self {
                Library::Cuda => "libcuda.so.1",
                Library::Nvcuvid => "libnvcuvid.so.1",
                Library::NvidiaEncode => "libnvidia-encode.so.1",
            }
        }
    }

    /// The environment variable that overrides the path.
    pub fn override_var(self) -> &'static str {
        match self {
            Library::Cuda => "NVDX_LIBCUDA_PATH",
            Library::Nvcuvid => "NVDX_LIBNVCUVID_PATH",
            Library::NvidiaEncode => "NVDX_LIBNVIDIA_ENCODE_PATH",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Library::Cuda => {
                "install the NVIDIA driver (it ships libcuda); in a container run with the NVIDIA \
                 container toolkit (--gpus all) and `compute` in NVIDIA_DRIVER_CAPABILITIES"
            }
            Library::Nvcuvid | Library::NvidiaEncode => {
                "install the NVIDIA driver's video libraries (e.g. the libnvidia-decode / \
                 libnvidia-encode packages); in a container add `video` to \
                 NVIDIA_DRIVER_CAPABILITIES (e.g. NVIDIA_DRIVER_CAPABILITIES=compute,utility,video)"
            }
        }
    }
}

/// A driver library could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// Which library.
    pub library: Library,
    /// The path or name that was tried.
    pub path: String,
    /// What the dynamic loader said.
    pub reason: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot load {} ({}): {}; {}",
            self.path,
            self.library.default_file_name(),
            self.reason,
            self.library.hint()
        )
    }
}

impl std::error::Error for LoadError {}

fn open_library(library: Library, path: Option<&str>) -> Result<libloading::Library, LoadError> {
    let env_path = std::env::var(library.override_var()).ok();
    let path = path
        .map(str::to_owned)
        .or(env_path)
        .unwrap_or_else(|| library.default_file_name().to_owned());
    // SAFETY: loading NVIDIA's driver libraries runs their initialisers, which have no
    // preconditions on the caller; a wrong library is caught by symbol lookups (MissingSymbol).
    unsafe { libloading::Library::new(&path) }.map_err(|e| LoadError {
        library,
        path,
        reason: e.to_string(),
    })
}

macro_rules! loader {
    ($(#[$doc:meta])* $fn:ident, $open:ident, $table:ty, $lib:expr) => {
        $(#[$doc])*
        pub fn $fn() -> Result<&'static $table, LoadError> {
            static CELL: OnceLock<Result<$table, LoadError>> = OnceLock::new();
            CELL.get_or_init(|| $open(None)).as_ref().map_err(Clone::clone)
        }

        /// Opens the library at `path` (or the override variable, or the default name) without
        /// caching it. Used by tests and by callers that manage several driver installs.
        pub fn $open(path: Option<&str>) -> Result<$table, LoadError> {
            let lib = open_library($lib, path)?;
            // SAFETY: the table's symbols are looked up by their C names and typed from the
            // headers the bindings were generated from; absent ones stay `None`.
            Ok(unsafe { <$table>::from_library(lib) })
        }
    };
}

loader!(
    /// The process-wide CUDA driver table, loaded on first use.
    cuda, open_cuda, CudaFns, Library::Cuda
);
loader!(
    /// The process-wide NVDEC table, loaded on first use (independently of CUDA's).
    cuvid, open_cuvid, CuvidFns, Library::Nvcuvid
);
loader!(
    /// The process-wide NVENC table, loaded on first use (independently of CUDA's).
    nvenc, open_nvenc, NvencFns, Library::NvidiaEncode
);
