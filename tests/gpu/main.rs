//! GPU integration tests. Every test is `#[ignore = "needs an NVIDIA GPU"]`; run them on a GPU
//! host with `--include-ignored` (see the README's GPU flow, `cargo xtask gpu-bundle`).
//!
//! Tests that account device memory (names containing `leak` or `soak`) read `cuMemGetInfo`,
//! which counts the whole GPU: run them alone, after the others, with `--test-threads=1`
//! (`run.sh` does: `--skip leak --skip soak` first, then `leak soak --test-threads=1`). Each
//! also runs its body in a fresh child process of this binary.

mod colour;
mod common;
mod core;
mod decode;
mod dlpack;
mod encode;
mod lifetime;
mod reliability;
mod sample;
mod xfer;
