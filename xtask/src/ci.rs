//! `cargo xtask ci`: the checks CI runs (and the README's test command): rustfmt, clippy with
//! `-D warnings`, unit/integration/doc tests (GPU tests are ignored without a GPU) and rustdoc with
//! warnings denied (`RUSTDOCFLAGS=-D warnings`), then `cargo publish --dry-run` of the published
//! crates (nvdx-sys, nvdx): it packages them as crates.io would and builds the unpacked packages,
//! so a file missing from an `include` list or a path outside a crate directory fails CI. The
//! multi-package form (cargo >= 1.90) resolves nvdx's dependency on the not-yet-published
//! nvdx-sys through a local registry overlay; it reads the crates.io index but uploads nothing.

use std::process::Command;

pub fn run(_args: &[String]) -> Result<(), String> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let steps: [&[&str]; 6] = [
        &["fmt", "--all", "--check"],
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            // Optional features too (nvdx's `cudarc` interop and its example).
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[
            "test",
            "--workspace",
            "--lib",
            "--bins",
            "--tests",
            "--examples",
        ],
        &["test", "--workspace", "--doc"],
        &["doc", "--workspace", "--no-deps", "--all-features"],
        &[
            "publish",
            "--dry-run",
            "--workspace",
            "--exclude",
            "xtask",
            "--exclude",
            "nvdx-suite",
            "--allow-dirty",
        ],
    ];
    for step in steps {
        println!("==> cargo {}", step.join(" "));
        let status = Command::new(&cargo)
            .current_dir(&root)
            .args(step)
            .env("RUSTDOCFLAGS", "-D warnings")
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err(format!("`cargo {}` failed", step.join(" ")));
        }
    }
    println!("==> all checks passed");
    Ok(())
}
