//! Helpers shared by the GPU test modules.
#![allow(dead_code)]

use rand::{Rng, SeedableRng};

/// A random generator seeded fresh each run; the seed is printed so a failure can be replayed
/// with `NVDX_TEST_SEED`.
pub fn rng() -> rand::rngs::StdRng {
    let seed = std::env::var("NVDX_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("(random seed {seed}; replay with NVDX_TEST_SEED={seed})");
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// Random bytes.
pub fn random_bytes(rng: &mut impl Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill(&mut v[..]);
    v
}

/// The primary context of GPU 0 (panics with the driver's message when there is no GPU, which
/// is what an ignored GPU test run on a machine without one should do).
pub fn ctx() -> nvdx::Context {
    match nvdx::Context::primary(0) {
        Ok(c) => c,
        Err(e) => panic!("GPU tests need an NVIDIA GPU: {e}"),
    }
}

/// Runs `test` in a fresh process (so nothing has activated the primary context yet).
pub fn in_fresh_process(test: &str) {
    let exe = std::env::current_exe().expect("test executable path");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            test,
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NVDX_FRESH_PROCESS", "1")
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(out.status.success(), "child `{test}` failed");
    assert!(
        stdout.contains("1 passed"),
        "child `{test}` did not run: {stdout}"
    );
}

/// True in the child started by [`in_fresh_process`]; child tests return early otherwise.
pub fn is_fresh_child(parent: &str) -> bool {
    if std::env::var_os("NVDX_FRESH_PROCESS").is_some() {
        return true;
    }
    eprintln!("runs only as the child of {parent}");
    false
}
