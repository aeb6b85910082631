//! Paths to faultline's test guests, compiled by this crate's build script.

use std::path::PathBuf;

/// The compiled fixture called `name` (the C file's stem).
///
/// # Panics
/// If there is no such fixture: a typo in a test, not a runtime condition.
pub fn path(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("OUT_DIR")).join(name);
    assert!(p.is_file(), "no fixture {name:?} at {}", p.display());
    p
}
