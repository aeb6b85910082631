//! The architecture's half of running a guest thread: the system image a
//! VM starts with, what a trap or a kick leaves where, and how the
//! program's registers get back (`Back`, `Runner::write_back`). The loop
//! itself (`sandbox::vcpu`) and the VM (`sandbox::machine`) are shared.

#[cfg(target_arch = "x86_64")]
#[path = "x86_64.rs"]
mod imp;
#[cfg(target_arch = "aarch64")]
#[path = "aarch64.rs"]
mod imp;

pub(super) use imp::*;
