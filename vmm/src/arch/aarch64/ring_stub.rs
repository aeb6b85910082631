//! arm64 has no syscall ring stub yet: every call takes an exit
//! (`SyscallPath::Exit`), and the ring's slot holds no code.

use crate::arch::ring::CallMaps;

pub const SUPPORTED: bool = false;

/// No stub, so no call answered in the guest.
pub fn floor_nr() -> Option<u64> {
    None
}

/// No code: the ring is never turned on.
pub fn code(_maps: &CallMaps) -> Vec<u8> {
    Vec::new()
}
