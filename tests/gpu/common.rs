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
