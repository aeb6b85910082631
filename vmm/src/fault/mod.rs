//! Resolving stage-2 faults: the guest touches a frame the host has not
//! backed yet, KVM's access faults through userfaultfd, and the handler
//! thread puts the right bytes in place.

mod backing;
mod handler;
mod reclaim;
mod swap;
mod uffd;

pub use backing::{Backing, BackingMode, Budget, Counters, FaultError, Piece, Source};
pub use handler::{Handler, WakeMode};
pub use uffd::{PageFault, Resolved, Uffd, UffdError};
