//! GPU integration tests. Every test is `#[ignore = "needs an NVIDIA GPU"]`; run them on a GPU
//! host with `--include-ignored` (see the README's GPU flow, `cargo xtask gpu-bundle`).

mod colour;
mod common;
mod core;
mod decode;
mod encode;
mod reliability;
mod sample;
mod xfer;
