//! `cargo xtask kernels [--check]`
//!
//! Compiles every `nvdx/kernels/*.cu` to `nvdx/kernels/ptx/NAME.ptx` for the virtual
//! architecture `compute_70` (Volta and every later GPU JIT-compiles it). The PTX files are
//! committed and embedded by the nvdx crate, so building nvdx needs no CUDA toolkit; run this task
//! only after editing a `.cu` file, and commit its output.
//!
//! The compiler, in order of preference:
//! - `nvcc` from the `NVCC` environment variable, else from `PATH`;
//! - NVRTC (`libnvrtc.so.12`, loaded at run time) from the `NVRTC` environment variable, else
//!   from `CUDA_HOME/lib64`, else from the dynamic loader's search path. The pinned toolkit is
//!   CUDA 12.1, whose PTX ISA 8.1 loads on drivers >= 530 (the driver floor documented in
//!   `nvdx/src/kernels/colour.rs`); a later toolkit raises that floor, which the nvdx unit
//!   test `embedded_ptx_meets_driver_floor` catches. Without a toolkit:
//!   `pip install nvidia-cuda-nvrtc-cu12==12.1.105` (NVRTC), or
//!   `pip install nvidia-cuda-nvcc-cu12==12.1.105 nvidia-cuda-runtime-cu12==12.1.105` for `ptxas`,
//!   then `NVRTC=.../site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 cargo xtask kernels`.
//!
//! Each PTX is then assembled by `ptxas` (`PTXAS`, next to `nvcc`, next to NVRTC's pip package
//! `nvidia-cuda-nvcc-cu12==12.1.105`, or on `PATH`) for sm_90 into the committed native image
//! `nvdx/kernels/cubin/NAME.sm_90.cubin`, which nvdx loads instead of JIT-compiling the PTX on a
//! GPU of compute capability 9.0 (Hopper); it is also assembled for sm_70 as a check. Register
//! use and spills of every kernel are printed.
//!
//! `--check` compiles into memory and fails if a committed PTX file differs from the source, or a
//! committed cubin from what ptxas makes of the committed PTX (the cubins are reproducible with
//! the pinned ptxas 12.1; another version may produce other bytes).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The virtual architecture of the embedded PTX.
const ARCH: &str = "compute_70";

/// The GPU architecture of the embedded native images (`cubin/NAME.sm_90.cubin`).
const CUBIN_SM: &str = "sm_90";

pub fn run(args: &[String]) -> Result<(), String> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => return Err("usage: cargo xtask kernels [--check]".into()),
    };
    let root = crate::workspace_root();
    let src_dir = root.join("nvdx/kernels");
    let out_dir = src_dir.join("ptx");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&src_dir)
        .map_err(|e| format!("{}: {e}", src_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cu"))
        .collect();
    sources.sort();
    if sources.is_empty() {
        return Err(format!("no .cu files in {}", src_dir.display()));
    }
    let compiler = Compiler::find()?;
    eprintln!("kernels: compiling with {}", compiler.describe());
    let ptxas = compiler.ptxas().ok_or(
        "no ptxas to build the sm_90 cubins: set PTXAS, or `pip install \
         nvidia-cuda-nvcc-cu12==12.1.105` (site-packages/nvidia/cuda_nvcc/bin/ptxas)",
    )?;
    eprintln!("kernels: assembling with {}", ptxas.display());
    let cubin_dir = src_dir.join("cubin");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    std::fs::create_dir_all(&cubin_dir).map_err(|e| format!("{}: {e}", cubin_dir.display()))?;
    let mut stale = Vec::new();
    for src in &sources {
        let stem = src
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or_else(|| format!("bad file name {}", src.display()))?;
        let ptx = normalise(&compiler.compile(src)?);
        let (version, target) = header(&ptx)?;
        let out = out_dir.join(format!("{stem}.ptx"));
        let cubin_out = cubin_dir.join(format!("{stem}.{CUBIN_SM}.cubin"));
        eprintln!("kernels: {stem}: .version {version}, .target {target}");
        if check {
            let old = std::fs::read_to_string(&out).unwrap_or_default();
            if old != ptx {
                stale.push(out.display().to_string());
            }
            // The cubin must be what ptxas makes of the committed PTX (checked above).
            let cubin = assemble(&ptxas, &out, CUBIN_SM, false)?;
            if std::fs::read(&cubin_out).ok().as_deref() != Some(&cubin[..]) {
                stale.push(cubin_out.display().to_string());
            }
            continue;
        }
        std::fs::write(&out, &ptx).map_err(|e| format!("{}: {e}", out.display()))?;
        eprintln!("kernels: wrote {}", out.display());
        assemble(&ptxas, &out, "sm_70", true)?;
        let cubin = assemble(&ptxas, &out, CUBIN_SM, true)?;
        std::fs::write(&cubin_out, &cubin).map_err(|e| format!("{}: {e}", cubin_out.display()))?;
        eprintln!(
            "kernels: wrote {} ({} bytes)",
            cubin_out.display(),
            cubin.len()
        );
    }
    if !stale.is_empty() {
        return Err(format!(
            "stale PTX (run `cargo xtask kernels`): {}",
            stale.join(", ")
        ));
    }
    Ok(())
}

/// Unix line ends, a single trailing newline; the nvdx crate appends the NUL when embedding.
fn normalise(ptx: &str) -> String {
    let mut s = ptx
        .replace("\r\n", "\n")
        .trim_end_matches(['\n', '\0'])
        .to_string();
    s.push('\n');
    s
}

fn header(ptx: &str) -> Result<(String, String), String> {
    let field = |key: &str| {
        ptx.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
            .ok_or_else(|| format!("PTX has no `{key}` line"))
    };
    Ok((field(".version")?, field(".target")?))
}

/// Assembles `ptx` for `sm` and returns the cubin; with `report`, prints each kernel's register
/// use and spills.
fn assemble(ptxas: &Path, ptx: &Path, sm: &str, report: bool) -> Result<Vec<u8>, String> {
    let out = std::env::temp_dir().join(format!("nvdx-kernels-{}-{sm}.cubin", std::process::id()));
    let o = Command::new(ptxas)
        .arg(format!("-arch={sm}"))
        .arg("-v")
        .arg(ptx)
        .arg("-o")
        .arg(&out)
        .output()
        .map_err(|e| format!("{}: {e}", ptxas.display()))?;
    let cubin = std::fs::read(&out);
    let _ = std::fs::remove_file(&out);
    let log = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() {
        return Err(format!("ptxas -arch={sm} failed:\n{log}"));
    }
    if report {
        let mut entry = String::new();
        let mut spills = String::new();
        for line in log.lines() {
            if let Some(rest) = line.split("Compiling entry function '").nth(1) {
                entry = rest.split('\'').next().unwrap_or("").to_string();
            } else if line.contains("spill stores") {
                spills = line.trim().to_string();
            } else if let Some(rest) = line.split("Used ").nth(1) {
                eprintln!("kernels: ptxas {sm} {entry}: {rest}; {spills}");
            }
        }
    }
    cubin.map_err(|e| format!("ptxas -arch={sm} wrote no cubin: {e}"))
}

enum Compiler {
    Nvcc(PathBuf),
    Nvrtc(Nvrtc),
}

impl Compiler {
    fn find() -> Result<Compiler, String> {
        if let Some(nvcc) = std::env::var_os("NVCC") {
            return Ok(Compiler::Nvcc(PathBuf::from(nvcc)));
        }
        if let Some(nvcc) = which("nvcc") {
            return Ok(Compiler::Nvcc(nvcc));
        }
        let mut candidates: Vec<String> = Vec::new();
        if let Some(p) = std::env::var_os("NVRTC") {
            candidates.push(p.to_string_lossy().into_owned());
        } else {
            if let Some(home) = std::env::var_os("CUDA_HOME") {
                candidates.push(
                    Path::new(&home)
                        .join("lib64/libnvrtc.so.12")
                        .to_string_lossy()
                        .into_owned(),
                );
            }
            candidates.push("libnvrtc.so.12".into());
            candidates.push("libnvrtc.so".into());
        }
        let mut errors = Vec::new();
        for c in &candidates {
            match Nvrtc::open(c) {
                Ok(n) => return Ok(Compiler::Nvrtc(n)),
                Err(e) => errors.push(e),
            }
        }
        Err(format!(
            "no CUDA compiler: set NVCC to nvcc, or NVRTC to libnvrtc.so.12 \
             (`pip install nvidia-cuda-nvrtc-cu12==12.1.105`; the library is in \
             site-packages/nvidia/cuda_nvrtc/lib). Tried: {}",
            errors.join("; ")
        ))
    }

    fn describe(&self) -> String {
        match self {
            Compiler::Nvcc(p) => format!("nvcc ({})", p.display()),
            Compiler::Nvrtc(n) => format!("NVRTC {}.{} ({})", n.version.0, n.version.1, n.path),
        }
    }

    fn ptxas(&self) -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("PTXAS") {
            return Some(PathBuf::from(p));
        }
        let beside = match self {
            Compiler::Nvcc(p) => p.parent().map(|d| d.join("ptxas")),
            // site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 -> nvidia/cuda_nvcc/bin/ptxas
            Compiler::Nvrtc(n) => Path::new(&n.path)
                .parent()
                .and_then(Path::parent)
                .and_then(Path::parent)
                .map(|d| d.join("cuda_nvcc/bin/ptxas")),
        };
        beside.filter(|p| p.is_file()).or_else(|| which("ptxas"))
    }

    fn compile(&self, src: &Path) -> Result<String, String> {
        match self {
            Compiler::Nvcc(nvcc) => {
                let out =
                    std::env::temp_dir().join(format!("nvdx-kernels-{}.ptx", std::process::id()));
                let o = Command::new(nvcc)
                    .args(["-ptx", &format!("-arch={ARCH}"), "-std=c++17", "-o"])
                    .arg(&out)
                    .arg(src)
                    .output()
                    .map_err(|e| format!("{}: {e}", nvcc.display()))?;
                if !o.status.success() {
                    return Err(format!(
                        "nvcc failed on {}:\n{}",
                        src.display(),
                        String::from_utf8_lossy(&o.stderr)
                    ));
                }
                let ptx = std::fs::read_to_string(&out).map_err(|e| e.to_string());
                let _ = std::fs::remove_file(&out);
                ptx
            }
            Compiler::Nvrtc(n) => {
                let code =
                    std::fs::read_to_string(src).map_err(|e| format!("{}: {e}", src.display()))?;
                let name = src
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                n.compile(&code, &name)
            }
        }
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

// ---- NVRTC, loaded with dlopen (no extra crate) ------------------------------------------------

#[cfg_attr(target_os = "linux", link(name = "dl"))]
extern "C" {
    fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}

const RTLD_NOW: c_int = 2;

type Prog = *mut c_void;
type VersionFn = unsafe extern "C" fn(*mut c_int, *mut c_int) -> c_int;
type CreateFn = unsafe extern "C" fn(
    *mut Prog,
    *const c_char,
    *const c_char,
    c_int,
    *const *const c_char,
    *const *const c_char,
) -> c_int;
type CompileFn = unsafe extern "C" fn(Prog, c_int, *const *const c_char) -> c_int;
type SizeFn = unsafe extern "C" fn(Prog, *mut usize) -> c_int;
type GetFn = unsafe extern "C" fn(Prog, *mut c_char) -> c_int;
type DestroyFn = unsafe extern "C" fn(*mut Prog) -> c_int;

struct Nvrtc {
    path: String,
    version: (c_int, c_int),
    create: CreateFn,
    compile: CompileFn,
    log_size: SizeFn,
    log: GetFn,
    ptx_size: SizeFn,
    ptx: GetFn,
    destroy: DestroyFn,
}

impl Nvrtc {
    fn open(path: &str) -> Result<Nvrtc, String> {
        let cpath = CString::new(path).map_err(|e| e.to_string())?;
        // SAFETY: dlopen with a valid NUL-terminated path; the handle is never closed, so the
        // symbols looked up below stay valid for the life of the process.
        let handle = unsafe { dlopen(cpath.as_ptr(), RTLD_NOW) };
        if handle.is_null() {
            // SAFETY: dlerror returns null or a NUL-terminated string owned by libc.
            let err = unsafe { dlerror() };
            let msg = if err.is_null() {
                "dlopen failed".to_string()
            } else {
                // SAFETY: non-null, NUL-terminated (see above).
                unsafe { CStr::from_ptr(err) }
                    .to_string_lossy()
                    .into_owned()
            };
            return Err(format!("{path}: {msg}"));
        }
        let sym = |name: &str| -> Result<*mut c_void, String> {
            let c = CString::new(name).map_err(|e| e.to_string())?;
            // SAFETY: handle is a live dlopen handle and c is NUL-terminated.
            let p = unsafe { dlsym(handle, c.as_ptr()) };
            if p.is_null() {
                Err(format!("{path}: no symbol {name}"))
            } else {
                Ok(p)
            }
        };
        // SAFETY: each symbol is NVRTC's exported C function of exactly the signature named by
        // the target type (nvrtc.h, CUDA 11 and 12); function and data pointers have the same
        // size on the platforms that have NVRTC.
        let nvrtc = unsafe {
            let version: VersionFn = std::mem::transmute(sym("nvrtcVersion")?);
            let mut v = (0, 0);
            version(&mut v.0, &mut v.1);
            Nvrtc {
                path: path.to_string(),
                version: v,
                create: std::mem::transmute::<*mut c_void, CreateFn>(sym("nvrtcCreateProgram")?),
                compile: std::mem::transmute::<*mut c_void, CompileFn>(sym("nvrtcCompileProgram")?),
                log_size: std::mem::transmute::<*mut c_void, SizeFn>(sym(
                    "nvrtcGetProgramLogSize",
                )?),
                log: std::mem::transmute::<*mut c_void, GetFn>(sym("nvrtcGetProgramLog")?),
                ptx_size: std::mem::transmute::<*mut c_void, SizeFn>(sym("nvrtcGetPTXSize")?),
                ptx: std::mem::transmute::<*mut c_void, GetFn>(sym("nvrtcGetPTX")?),
                destroy: std::mem::transmute::<*mut c_void, DestroyFn>(sym("nvrtcDestroyProgram")?),
            }
        };
        Ok(nvrtc)
    }

    fn compile(&self, code: &str, name: &str) -> Result<String, String> {
        let code = CString::new(code).map_err(|e| e.to_string())?;
        let name = CString::new(name).map_err(|e| e.to_string())?;
        let opts: Vec<CString> = [format!("--gpu-architecture={ARCH}"), "-std=c++17".into()]
            .into_iter()
            .map(|o| CString::new(o).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let opt_ptrs: Vec<*const c_char> = opts.iter().map(|o| o.as_ptr()).collect();
        let mut prog: Prog = std::ptr::null_mut();
        // SAFETY: all strings are NUL-terminated and outlive the calls; `prog` is created here,
        // used only with this library's functions, and destroyed before returning; the buffers
        // handed to the getters have the sizes NVRTC reported.
        unsafe {
            let rc = (self.create)(
                &mut prog,
                code.as_ptr(),
                name.as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            );
            if rc != 0 {
                return Err(format!("nvrtcCreateProgram failed ({rc})"));
            }
            let rc = (self.compile)(prog, opt_ptrs.len() as c_int, opt_ptrs.as_ptr());
            let mut n = 0usize;
            (self.log_size)(prog, &mut n);
            let mut log = vec![0u8; n.max(1)];
            (self.log)(prog, log.as_mut_ptr().cast());
            let log = String::from_utf8_lossy(&log)
                .trim_end_matches('\0')
                .to_string();
            if rc != 0 {
                (self.destroy)(&mut prog);
                return Err(format!("NVRTC failed ({rc}):\n{log}"));
            }
            if !log.trim().is_empty() {
                eprintln!("{log}");
            }
            (self.ptx_size)(prog, &mut n);
            let mut ptx = vec![0u8; n.max(1)];
            let rc = (self.ptx)(prog, ptx.as_mut_ptr().cast());
            (self.destroy)(&mut prog);
            if rc != 0 {
                return Err(format!("nvrtcGetPTX failed ({rc})"));
            }
            let ptx = String::from_utf8(ptx).map_err(|e| e.to_string())?;
            Ok(ptx.trim_end_matches('\0').to_string())
        }
    }
}
