//! `cargo xtask ci`: the checks CI runs (and the README's test command): rustfmt, clippy with
//! `-D warnings`, unit/integration/doc tests (GPU tests are ignored without a GPU) and rustdoc with
//! warnings denied (`RUSTDOCFLAGS=-D warnings`), then `cargo publish --dry-run` of the published
//! crates (nvdx-sys, nvdx): it packages them as crates.io would and builds the unpacked packages,
//! so a file missing from an `include` list or a path outside a crate directory fails CI. The
//! multi-package form (cargo >= 1.90) resolves nvdx's dependency on the not-yet-published
//! nvdx-sys through a local registry overlay; it reads the crates.io index but uploads nothing.
//! Last, the Python package's CPU checks (`python`; `NVDX_CI_SKIP_PYTHON=1` skips them).

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
            "--exclude",
            "nvdx-py",
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
    if std::env::var_os("NVDX_CI_SKIP_PYTHON").is_some() {
        println!("==> Python checks skipped (NVDX_CI_SKIP_PYTHON)");
    } else {
        python(&root)?;
    }
    println!("==> all checks passed");
    Ok(())
}

/// The Python package's CPU checks: build the abi3 wheel with maturin (debug profile, reusing
/// the test build's artifacts), install it into a venv, and run `nvdx-py/tests/test_cpu.py`
/// (import, metadata without a GPU, exceptions, nvdx's message when no driver is present).
/// The venv (under target/py-ci) is created once, with maturin and pytest from PyPI.
fn python(root: &std::path::Path) -> Result<(), String> {
    let dir = root.join("target").join("py-ci");
    let venv = dir.join("venv");
    let py = venv.join("bin").join("python");
    let run = |what: &str, cmd: &mut Command| -> Result<(), String> {
        println!("==> {what}");
        let status = cmd
            .current_dir(root)
            .status()
            .map_err(|e| format!("cannot run {what}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("`{what}` failed"))
        }
    };
    if !py.exists() {
        let python3 = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        run(
            "python3 -m venv target/py-ci/venv",
            Command::new(python3).args(["-m", "venv"]).arg(&venv),
        )?;
    }
    let have_tools = Command::new(&py)
        .args(["-c", "import maturin, pytest"])
        .status()
        .is_ok_and(|s| s.success());
    if !have_tools {
        run(
            "pip install maturin pytest",
            Command::new(&py).args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "maturin>=1.7,<2",
                "pytest",
            ]),
        )?;
    }
    let wheels = dir.join("wheels");
    let _ = std::fs::remove_dir_all(&wheels);
    run(
        "maturin build -m nvdx-py/Cargo.toml",
        Command::new(venv.join("bin").join("maturin"))
            .args(["build", "-q", "-m", "nvdx-py/Cargo.toml", "--out"])
            .arg(&wheels),
    )?;
    let wheel = std::fs::read_dir(&wheels)
        .map_err(|e| format!("no wheel directory: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .ok_or("maturin produced no wheel")?;
    run(
        "pip install the wheel",
        Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--force-reinstall",
                "--no-deps",
            ])
            .arg(&wheel),
    )?;
    run(
        "pytest nvdx-py/tests/test_cpu.py",
        Command::new(&py).args(["-m", "pytest", "-q", "nvdx-py/tests/test_cpu.py"]),
    )
}
