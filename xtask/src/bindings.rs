//! `cargo xtask bindgen CUDA_INCLUDE_DIR VIDEO_SDK_INCLUDE_DIR`
//!
//! Generates `nvdx-sys/src/generated/{cuda,cuvid,nvenc}.rs` from NVIDIA's headers. Types come
//! straight from bindgen (without the headers' prose comments); every exported function is turned
//! into a field of a run-time loaded table (see `nvdx-sys/src/loader.rs`) plus a checked method
//! that returns `Err(MissingSymbol)` instead of calling a null pointer.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use quote::ToTokens;

struct Target {
    /// Output file stem under `nvdx-sys/src/generated/`.
    stem: &'static str,
    /// Header that bindgen parses.
    header: PathBuf,
    /// Files whose declarations are emitted.
    allow_file: &'static str,
    /// Files whose declarations come from another module instead.
    block_file: Option<&'static str>,
    /// `use` lines prepended to the module.
    prelude: &'static str,
    /// Name of the generated function table.
    table: &'static str,
    /// Library name recorded in `MissingSymbol` errors.
    library: &'static str,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let [cuda_dir, sdk_dir] = args else {
        return Err(
            "usage: cargo xtask bindgen CUDA_INCLUDE_DIR VIDEO_SDK_INCLUDE_DIR\n\
             CUDA_INCLUDE_DIR holds cuda.h (pip download nvidia-cuda-runtime-cu12; unzip; \
             nvidia/cuda_runtime/include)\n\
             VIDEO_SDK_INCLUDE_DIR holds cuviddec.h, nvcuvid.h and nvEncodeAPI.h (Video Codec SDK \
             12.x interface headers, MIT; e.g. the nvidia-video-codec-sdk crate's src/sys/headers)"
                .into(),
        );
    };
    let cuda_dir = PathBuf::from(cuda_dir);
    let sdk_dir = PathBuf::from(sdk_dir);
    for (dir, file) in [
        (&cuda_dir, "cuda.h"),
        (&sdk_dir, "cuviddec.h"),
        (&sdk_dir, "nvcuvid.h"),
        (&sdk_dir, "nvEncodeAPI.h"),
    ] {
        if !dir.join(file).is_file() {
            return Err(format!("{} not found in {}", file, dir.display()));
        }
    }
    let out_dir = crate::workspace_root().join("nvdx-sys/src/generated");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;

    let targets = [
        Target {
            stem: "cuda",
            header: cuda_dir.join("cuda.h"),
            allow_file: r".*[/\\]cuda\.h",
            block_file: None,
            prelude: "",
            table: "CudaFns",
            library: "libcuda",
        },
        Target {
            stem: "cuvid",
            header: sdk_dir.join("nvcuvid.h"),
            allow_file: r".*[/\\](cuviddec|nvcuvid)\.h",
            block_file: Some(r".*[/\\]cuda\.h"),
            prelude: "use super::cuda::*;",
            table: "CuvidFns",
            library: "libnvcuvid",
        },
        Target {
            stem: "nvenc",
            header: sdk_dir.join("nvEncodeAPI.h"),
            allow_file: r".*[/\\]nvEncodeAPI\.h",
            block_file: None,
            prelude: "",
            table: "NvencFns",
            library: "libnvidia-encode",
        },
    ];
    for t in &targets {
        let code = generate(t, &cuda_dir, &sdk_dir)?;
        let path = out_dir.join(format!("{}.rs", t.stem));
        std::fs::write(&path, code).map_err(|e| e.to_string())?;
        rustfmt(&path)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn generate(t: &Target, cuda_dir: &Path, sdk_dir: &Path) -> Result<String, String> {
    let mut b = bindgen::Builder::default()
        .header(t.header.to_string_lossy())
        .clang_arg(format!("-I{}", cuda_dir.display()))
        .clang_arg(format!("-I{}", sdk_dir.display()))
        .allowlist_file(t.allow_file)
        .generate_comments(false)
        .layout_tests(true)
        .derive_default(true)
        .derive_debug(true)
        .derive_copy(true)
        .impl_debug(false)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::NewType {
            is_bitfield: false,
            is_global: false,
        })
        .size_t_is_usize(true)
        .use_core()
        .ctypes_prefix("::core::ffi")
        .formatter(bindgen::Formatter::None);
    if let Some(block) = t.block_file {
        b = b.blocklist_file(block);
    }
    let bindings = b
        .generate()
        .map_err(|e| format!("bindgen failed on {}: {e}", t.header.display()))?;
    let raw = bindings.to_string();
    let file: syn::File =
        syn::parse_str(&raw).map_err(|e| format!("cannot parse bindgen output: {e}"))?;

    let mut items = String::new();
    let mut fns: Vec<syn::ForeignItemFn> = Vec::new();
    for item in file.items {
        match item {
            syn::Item::ForeignMod(fm) => {
                for fi in fm.items {
                    if let syn::ForeignItem::Fn(f) = fi {
                        fns.push(f);
                    }
                }
            }
            other => {
                items.push_str(&other.to_token_stream().to_string());
                items.push('\n');
            }
        }
    }
    fns.sort_by_key(|f| f.sig.ident.to_string());
    fns.dedup_by_key(|f| f.sig.ident.to_string());

    let mut out = String::new();
    writeln!(
        out,
        "// Generated by `cargo xtask bindgen` from {}; do not edit.\n{}\nuse crate::loader::MissingSymbol;\n{}",
        t.header.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        t.prelude,
        items
    )
    .ok();
    out.push_str(&table(t, &fns));
    Ok(out)
}

/// Emits the function table: one `Option<fn>` field per exported function, a loader, and a
/// checked method per function.
fn table(t: &Target, fns: &[syn::ForeignItemFn]) -> String {
    let mut fields = String::new();
    let mut loads = String::new();
    let mut methods = String::new();
    for f in fns {
        let name = f.sig.ident.to_string();
        let inputs: Vec<String> = f
            .sig
            .inputs
            .iter()
            .map(|a| a.to_token_stream().to_string())
            .collect();
        let arg_names: Vec<String> = f
            .sig
            .inputs
            .iter()
            .filter_map(|a| match a {
                syn::FnArg::Typed(p) => Some(p.pat.to_token_stream().to_string()),
                syn::FnArg::Receiver(_) => None,
            })
            .collect();
        let ret = match &f.sig.output {
            syn::ReturnType::Default => "()".to_string(),
            syn::ReturnType::Type(_, ty) => ty.to_token_stream().to_string(),
        };
        let variadic = if f.sig.variadic.is_some() {
            ", ..."
        } else {
            ""
        };
        let fn_ty = format!(
            "unsafe extern \"C\" fn({}{}) -> {}",
            inputs.join(", "),
            variadic,
            ret
        );
        writeln!(fields, "{name}: Option<{fn_ty}>,").ok();
        writeln!(
            loads,
            "{name}: lib.get::<{fn_ty}>(b\"{name}\\0\").ok().map(|s| *s),"
        )
        .ok();
        if f.sig.variadic.is_none() {
            writeln!(
                methods,
                "/// Calls `{name}`; `Err(MissingSymbol)` when the loaded library lacks it.\n\
                 ///\n/// # Safety\n/// The caller upholds the C function's contract.\n\
                 #[inline]\n\
                 pub unsafe fn {name}(&self, {args}) -> Result<{ret}, MissingSymbol> {{\n\
                     match self.{name} {{\n\
                         Some(fp__) => Ok(fp__({call})),\n\
                         None => Err(MissingSymbol {{ library: \"{lib}\", symbol: \"{name}\" }}),\n\
                     }}\n\
                 }}",
                args = inputs.join(", "),
                call = arg_names.join(", "),
                lib = t.library,
            )
            .ok();
        }
        writeln!(
            methods,
            "/// Whether the loaded library exports `{name}`.\n\
             #[inline]\n\
             pub fn has_{name}(&self) -> bool {{ self.{name}.is_some() }}"
        )
        .ok();
    }
    format!(
        "/// Function table of {lib}, loaded at run time. Missing symbols are `None` and reported\n\
         /// as [`MissingSymbol`] when called.\n\
         pub struct {table} {{\n\
             _lib: ::libloading::Library,\n\
             {fields}\n\
         }}\n\
         impl {table} {{\n\
             /// Resolves every symbol of the table from `lib`.\n\
             ///\n\
             /// # Safety\n\
             /// `lib` must be the library this table describes (or one that exports compatible\n\
             /// functions under the same names).\n\
             pub unsafe fn from_library(lib: ::libloading::Library) -> Self {{\n\
                 Self {{\n\
                     {loads}\n\
                     _lib: lib,\n\
                 }}\n\
             }}\n\
             {methods}\n\
         }}\n\
         impl ::core::fmt::Debug for {table} {{\n\
             fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{\n\
                 f.debug_struct(\"{table}\").finish_non_exhaustive()\n\
             }}\n\
         }}\n",
        lib = t.library,
        table = t.table,
    )
}

fn rustfmt(path: &Path) -> Result<(), String> {
    let status = std::process::Command::new("rustfmt")
        .arg("--edition=2021")
        .arg(path)
        .status()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("rustfmt failed on {}", path.display()))
    }
}
