//! Where the unit tests find their data: the GPU bundle's copies when its run.sh names them
//! (`NVDX_FIXTURES_DIR`, `NVDX_DEMUX_REGRESSIONS_DIR`; a GPU host has no source tree), else
//! the source tree (`cargo test` here and in CI). The one place that knows both.

use std::path::PathBuf;

fn dir(var: &str, in_source_tree: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(in_source_tree))
}

/// The committed fixtures (`fixtures/`).
pub(crate) fn fixtures_dir() -> PathBuf {
    dir("NVDX_FIXTURES_DIR", "../fixtures")
}

/// The demuxer's hostile-input regressions (`nvdx/src/demux/regressions/`).
pub(crate) fn demux_regressions_dir() -> PathBuf {
    dir("NVDX_DEMUX_REGRESSIONS_DIR", "src/demux/regressions")
}
