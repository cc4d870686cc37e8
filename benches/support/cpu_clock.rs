//! The process CPU clock shared by the benches and the diagnostic examples (included with
//! `#[path]`: each bench and example is its own crate).

/// Process CPU time (user + system) in seconds, from `getrusage` (microsecond resolution).
pub fn cpu_seconds() -> f64 {
    // SAFETY: `getrusage` fills the zeroed struct it is given and has no other effect.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return 0.0;
        }
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
