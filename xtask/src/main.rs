//! Developer tasks for nvdx: `cargo xtask <task>`.
//!
//! - `bindgen CUDA_INCLUDE_DIR VIDEO_SDK_INCLUDE_DIR`: regenerate `nvdx-sys/src/generated/`.
//! - `kernels`: compile `nvdx/kernels/*.cu` to the committed PTX in `nvdx/kernels/ptx/`.
//! - `fixtures`: regenerate the small test clips in `fixtures/` with ffmpeg.
//! - `ci`: what CI runs: format check, clippy with `-D warnings`, and the tests.
//! - `gpu-bundle DIR`: build release test/bench/example binaries into a self-contained DIR
//!   with a `run.sh`, to be copied to a GPU host.

mod bindings;
mod bundle;
mod ci;
mod fixtures;
mod kernels;

use std::path::PathBuf;

pub(crate) fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprintln!("usage: cargo xtask <ci|bindgen|kernels|fixtures|gpu-bundle> [args]");
        std::process::exit(2);
    };
    let result = match task.as_str() {
        "bindgen" => bindings::run(rest),
        "kernels" => kernels::run(rest),
        "fixtures" => fixtures::run(rest),
        "gpu-bundle" => bundle::run(rest),
        "ci" => ci::run(rest),
        other => Err(format!("unknown task `{other}`")),
    };
    if let Err(e) = result {
        eprintln!("xtask {task}: {e}");
        std::process::exit(1);
    }
}
