//! Paths to faultline's test guests, compiled by this crate's build script.

use std::path::PathBuf;

include!(concat!(env!("OUT_DIR"), "/libcs.rs"));

/// The compiled fixture called `name` (the C file's stem): in the directory
/// `FAULTLINE_FIXTURES` names when it has it (a copy of the fixtures
/// beside test binaries run elsewhere, as in the emulated arm64 machine),
/// else where this crate's build put it.
///
/// # Panics
/// If there is no such fixture: a typo in a test, not a runtime condition.
pub fn path(name: &str) -> PathBuf {
    let built = PathBuf::from(env!("OUT_DIR")).join(name);
    let Some(dir) = std::env::var_os("FAULTLINE_FIXTURES") else {
        assert!(built.is_file(), "no fixture {name:?} at {}", built.display());
        return built;
    };
    let p = PathBuf::from(dir).join(name);
    if p.is_file() {
        return p;
    }
    assert!(built.is_file(), "no fixture {name:?} at {} (FAULTLINE_FIXTURES) nor at {}", p.display(), built.display());
    built
}
