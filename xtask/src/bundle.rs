//! `cargo xtask gpu-bundle DIR`: a self-contained folder of release test, bench and example
//! binaries plus `run.sh`, to copy to a GPU host that has a driver and no Rust toolchain.
//!
//! `DIR/run.sh` runs every test binary with `--include-ignored` and ends with one summary line;
//! `DIR/run.sh --bench` also runs the benches; extra arguments after `--` go to the test
//! binaries (e.g. a name filter). Environment: `NVDX_FIXTURES_DIR` defaults to `DIR/fixtures`.
//!
//! The bundle also carries the NVENC double (`DIR/lib/libnvenc_double.so`, the workspace's
//! `nvenc-double` crate built in release): `run.sh` runs the GPU binary's encode tests a second
//! time with `NVDX_LIBNVIDIA_ENCODE_PATH` pointing at it (`=== test-gpu (NVENC double)`), so
//! the encode path runs end to end on GPUs without NVENC. Results of that pass are the
//! double's, labelled `[NVENC double]`, never NVENC hardware figures.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn run(args: &[String]) -> Result<(), String> {
    let [dir] = args else {
        return Err("usage: cargo xtask gpu-bundle DIR".into());
    };
    let root = crate::workspace_root();
    let out = PathBuf::from(dir);
    let out = if out.is_absolute() {
        out
    } else {
        root.join(out)
    };
    if out.exists() {
        std::fs::remove_dir_all(&out)
            .map_err(|e| format!("cannot clear {}: {e}", out.display()))?;
    }
    let bin = out.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;

    let mut names = Vec::new();
    for (kind, cargo_args) in [
        (
            "test",
            vec![
                "test",
                "--release",
                "--workspace",
                "--exclude",
                "xtask",
                "--no-run",
            ],
        ),
        (
            "bench",
            vec!["bench", "--workspace", "--exclude", "xtask", "--no-run"],
        ),
        // `cudarc` so that examples/cudarc_kernel.rs is bundled (run.sh runs it as a check).
        (
            "example",
            vec!["build", "--release", "--examples", "--features", "cudarc"],
        ),
    ] {
        for (name, path) in build(&root, &cargo_args, kind)? {
            let file = format!("{kind}-{name}");
            std::fs::copy(&path, bin.join(&file))
                .map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
            names.push((kind, file));
        }
    }
    let lib = out.join("lib");
    std::fs::create_dir_all(&lib).map_err(|e| e.to_string())?;
    let double = build_double(&root)?;
    std::fs::copy(&double, lib.join(DOUBLE_FILE))
        .map_err(|e| format!("cannot copy {}: {e}", double.display()))?;
    let fixtures = root.join("fixtures");
    if fixtures.is_dir() {
        copy_dir(&fixtures, &out.join("fixtures"))?;
    }
    // The demuxer's hostile-input regressions, read by its unit tests (the GPU host has no
    // source tree).
    let regressions = root.join("nvdx/src/demux/regressions");
    if regressions.is_dir() {
        copy_dir(&regressions, &out.join("demux-regressions"))?;
    }
    std::fs::write(out.join("run.sh"), run_script()).map_err(|e| e.to_string())?;
    set_executable(&out.join("run.sh"))?;
    std::fs::write(out.join("sanitize.sh"), sanitize_script()).map_err(|e| e.to_string())?;
    set_executable(&out.join("sanitize.sh"))?;
    println!("bundle in {}:", out.display());
    for (kind, file) in &names {
        println!("  {kind:8} bin/{file}");
    }
    println!(
        "  {:8} lib/{DOUBLE_FILE} (NVENC double, test stand-in)",
        "cdylib"
    );
    Ok(())
}

/// The file name of the NVENC double in `DIR/lib`.
const DOUBLE_FILE: &str = "libnvenc_double.so";

/// Builds the NVENC double (release) and returns the shared library's path.
fn build_double(root: &Path) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "nvenc-double",
            "--lib",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err("cargo build --release -p nvenc-double failed".into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    double_artifact(&stdout).ok_or_else(|| "cargo did not report libnvenc_double.so".into())
}

/// The path of `libnvenc_double.so` in cargo's JSON messages.
fn double_artifact(messages: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter(|l| l.contains("\"reason\":\"compiler-artifact\""))
        .find_map(|l| {
            let end = l.find(&format!("{DOUBLE_FILE}\""))? + DOUBLE_FILE.len();
            let start = l[..end].rfind('"')? + 1;
            Some(PathBuf::from(&l[start..end]))
        })
}

/// Runs cargo with `--message-format=json` and returns (target name, executable) pairs.
fn build(root: &Path, args: &[&str], kind: &str) -> Result<Vec<(String, PathBuf)>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!("cargo {} failed", args.join(" ")));
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        if !line.contains("\"reason\":\"compiler-artifact\"") {
            continue;
        }
        let Some(exe) = json_str(line, "executable") else {
            continue;
        };
        let Some(target) = json_obj(line, "target") else {
            continue;
        };
        let name = json_str(target, "name").unwrap_or_default();
        let kinds = target.split("\"kind\":").nth(1).unwrap_or("");
        let wanted = match kind {
            "test" => kinds.starts_with("[\"test\"]") || line.contains("\"test\":true"),
            "bench" => kinds.starts_with("[\"bench\"]"),
            _ => kinds.starts_with("[\"example\"]"),
        };
        if !wanted {
            continue;
        }
        let pkg = json_str(line, "package_id").unwrap_or_default();
        // `path+file:///x/nvdx#0.1.0` or `registry+...#name@0.1.0`
        let (path_part, frag) = pkg.split_once('#').unwrap_or((pkg, ""));
        let crate_name = match frag.split_once('@') {
            Some((n, _)) => n.to_string(),
            None => path_part.rsplit('/').next().unwrap_or("").to_string(),
        };
        let label = if kinds.starts_with("[\"lib\"]") {
            format!("unit-{crate_name}")
        } else {
            name.to_string()
        };
        found.push((label, PathBuf::from(exe)));
    }
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    Ok(found)
}

/// The string value of `"key":"..."` in a JSON line (cargo's messages are flat enough).
fn json_str<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":\"");
    let start = line.find(&pat)? + pat.len();
    let end = line[start..].find('"')? + start;
    Some(&line[start..end])
}

fn json_obj<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":{{");
    let start = line.find(&pat)? + pat.len();
    let end = line[start..].find('}')? + start;
    Some(&line[start..end])
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| e.to_string())?;
    for entry in std::fs::read_dir(from).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let p = entry.path();
        let dst = to.join(entry.file_name());
        if p.is_dir() {
            copy_dir(&p, &dst)?;
        } else {
            std::fs::copy(&p, &dst).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn set_executable(p: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut perm = std::fs::metadata(p)
            .map_err(|e| e.to_string())?
            .permissions();
        perm.set_mode(0o755);
        std::fs::set_permissions(p, perm).map_err(|e| e.to_string())?;
    }
    let _ = p;
    Ok(())
}

/// `sanitize.sh`: compute-sanitizer's memcheck, racecheck and initcheck over the GPU tests of
/// the lifetime model (the subsets issue 12 asks to be clean), one summary line per tool.
fn sanitize_script() -> &'static str {
    r#"#!/usr/bin/env bash
# compute-sanitizer over the GPU suite's lifetime-relevant tests. Usage: sanitize.sh [TOOL...]
# (default: memcheck racecheck initcheck). Needs compute-sanitizer on PATH (CUDA toolkit).
set -u
here="$(cd "$(dirname "$0")" && pwd)"
export NVDX_FIXTURES_DIR="${NVDX_FIXTURES_DIR:-$here/fixtures}"
export NVDX_CONTEXT_CYCLES="${NVDX_CONTEXT_CYCLES:-5}"
tools=("$@"); [ ${#tools[@]} -eq 0 ] && tools=(memcheck racecheck initcheck)
bad=0
for tool in "${tools[@]}"; do
  case "$tool" in
    memcheck) filters=(core:: colour:: lifetime:: xfer:: decode::decode_fixtures decode::owned sample::) ;;
    racecheck) filters=(colour:: xfer::) ;;
    initcheck) filters=(colour:: lifetime::host core:: xfer::) ;;
    *) echo "unknown tool $tool"; exit 2 ;;
  esac
  echo "=== compute-sanitizer --tool $tool: ${filters[*]}"
  log="$(mktemp)"
  compute-sanitizer --tool "$tool" --target-processes all --error-exitcode 99 \
    "$here/bin/test-gpu" --include-ignored --test-threads=1 --skip leak --skip soak "${filters[@]}" > "$log" 2>&1
  rc=$?
  grep -E "^test result:|ERROR SUMMARY|RACECHECK SUMMARY|hazard" "$log" | tail -n 4
  [ $rc -ne 0 ] && { bad=1; grep -E "^(---- |thread .*panicked|=========)" "$log" | head -n 20; }
  rm -f "$log"
done
[ $bad -eq 0 ] && echo "SANITIZE: clean" || echo "SANITIZE: FAILED"
exit $bad
"#
}

fn run_script() -> &'static str {
    r#"#!/usr/bin/env bash
# Runs nvdx's release test binaries (GPU tests included) and, with --bench, the benches.
# Usage: run.sh [--bench] [--only NAME] [-- TEST-ARGS...]
set -u
here="$(cd "$(dirname "$0")" && pwd)"
export NVDX_FIXTURES_DIR="${NVDX_FIXTURES_DIR:-$here/fixtures}"
export NVDX_DEMUX_REGRESSIONS_DIR="${NVDX_DEMUX_REGRESSIONS_DIR:-$here/demux-regressions}"
bench=0; only=""; extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bench) bench=1 ;;
    --only) shift; only="$1" ;;
    --) shift; extra=("$@"); break ;;
  esac
  shift
done
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
passed=0; failed=0; ignored=0; bad=()
for t in "$here"/bin/test-*; do
  name="$(basename "$t")"
  [ -n "$only" ] && [ "$name" != "test-$only" ] && continue
  echo "=== $name"
  log="$(mktemp)"
  # Pass 1: everything but the tests that measure device memory (named *leak* / *soak*);
  # pass 2: those, one at a time, so no other test allocates on the GPU meanwhile
  # (cuMemGetInfo counts the whole device). Pass 2 prints its figures (--nocapture).
  for pass in 1 2; do
    if [ $pass = 1 ]; then args=(--include-ignored --skip leak --skip soak); else args=(--include-ignored --test-threads=1 --nocapture leak soak); fi
    "$t" "${args[@]}" "${extra[@]}" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line="$(grep -E '^test result:' "$log" | tail -1)"
    p=$(echo "$line" | sed -nE 's/.* ([0-9]+) passed.*/\1/p'); f=$(echo "$line" | sed -nE 's/.* ([0-9]+) failed.*/\1/p'); i=$(echo "$line" | sed -nE 's/.* ([0-9]+) ignored.*/\1/p')
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); ignored=$((ignored + ${i:-0}))
    if [ "$rc" -ne 0 ]; then bad+=("$name/pass$pass"); [ -z "$f" ] && failed=$((failed + 1)); fi
  done
  rm -f "$log"
done
# The encode tests again, on the NVENC double (a contract-checking stand-in for NVENC that
# emits lossless H.264): the encode path runs end to end on GPUs without an encoder. What this
# pass prints is labelled [NVENC double]; none of it is an NVENC hardware figure.
double="$here/lib/libnvenc_double.so"
if [ -f "$double" ] && [ -x "$here/bin/test-gpu" ] && { [ -z "$only" ] || [ "$only" = gpu ]; }; then
  echo "=== test-gpu (NVENC double)"
  log="$(mktemp)"
  for pass in 1 2; do
    if [ $pass = 1 ]; then args=(--include-ignored --test-threads=1 --nocapture --skip leak encode::); else args=(--include-ignored --test-threads=1 --nocapture encode::thousand_frames_without_leaks); fi
    NVDX_LIBNVIDIA_ENCODE_PATH="$double" "$here/bin/test-gpu" "${args[@]}" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line="$(grep -E '^test result:' "$log" | tail -1)"
    p=$(echo "$line" | sed -nE 's/.* ([0-9]+) passed.*/\1/p'); f=$(echo "$line" | sed -nE 's/.* ([0-9]+) failed.*/\1/p'); i=$(echo "$line" | sed -nE 's/.* ([0-9]+) ignored.*/\1/p')
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); ignored=$((ignored + ${i:-0}))
    violations=$(grep -c 'NVENC DOUBLE CONTRACT VIOLATION' "$log")
    if [ "$rc" -ne 0 ]; then bad+=("test-gpu-nvenc-double/pass$pass"); [ -z "$f" ] && failed=$((failed + 1)); fi
    if [ "$violations" -gt 0 ]; then bad+=("test-gpu-nvenc-double/pass$pass: $violations contract violations"); fi
  done
  rm -f "$log"
fi
# The cudarc interop example: a cudarc kernel sums each decoded frame's luma, checked against
# the host's sum of the same frame (it exits non-zero on a mismatch).
if [ -x "$here/bin/example-cudarc_kernel" ] && [ -z "$only" ]; then
  echo "=== example-cudarc_kernel"
  if "$here/bin/example-cudarc_kernel" "$NVDX_FIXTURES_DIR/sample.mp4" -n 8; then passed=$((passed + 1)); else failed=$((failed + 1)); bad+=("example-cudarc_kernel"); fi
fi
if [ "$bench" = 1 ]; then
  for b in "$here"/bin/bench-*; do
    echo "=== $(basename "$b")"
    "$b" --bench || bad+=("$(basename "$b")")
  done
fi
status=ok; [ ${#bad[@]} -gt 0 ] && status="FAILED (${bad[*]})"
echo "SUMMARY: $passed passed, $failed failed, $ignored ignored; $status"
[ ${#bad[@]} -eq 0 ]
"#
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_double_in_cargo_messages() {
        let msgs = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"nvdx_sys"},"filenames":["/t/release/deps/libnvdx_sys-1.rlib"]}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"nvenc_double","kind":["cdylib","rlib"]},"filenames":["/t/release/libnvenc_double.so","/t/release/libnvenc_double.rlib"]}"#,
            "\n"
        );
        assert_eq!(
            double_artifact(msgs),
            Some(PathBuf::from("/t/release/libnvenc_double.so"))
        );
        assert_eq!(double_artifact("{}"), None);
    }

    #[test]
    fn run_script_runs_the_encode_tests_on_the_double() {
        let s = run_script();
        assert!(s.contains("=== test-gpu (NVENC double)"));
        assert!(s.contains("NVDX_LIBNVIDIA_ENCODE_PATH=\"$double\""));
        assert!(s.contains("$here/lib/libnvenc_double.so"));
    }
}
