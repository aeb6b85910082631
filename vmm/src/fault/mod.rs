//! Resolving faults on guest memory: the guest touches a frame the host
//! has not backed yet, KVM's access faults through userfaultfd, and the
//! handler thread gets the data in place. Also copy-on-write and reclaim,
//! the other two ways a frame's backing changes.
//!
//! - [`backing`]: what the kernel needs of the host pages behind guest RAM.
//! - [`uffd`]: the userfaultfd descriptor and its ioctls.
//! - [`handler`]: the thread that waits for faults.
//! - [`resolve`]: zero-fill, file read, swap-in: a frame's data put in place.
//! - [`cow`]: copy-on-write breaks.
//! - [`reclaim`]: CLOCK over the reverse map, eviction to swap.
//! - [`stale`]: making the MMU forget translations that changed.

pub mod backing;
pub mod cow;
pub mod handler;
pub mod reclaim;
pub mod resolve;
pub mod spin;
pub mod stale;
pub mod uffd;

pub use backing::Backing;
pub use cow::{break_cow, Cow};
pub use handler::{FaultSink, Handler, WakeMode};
pub use reclaim::Evicted;
pub use resolve::{populate, FaultError, Filled, Need};
pub use spin::SpinGate;
pub use stale::flush_stale;
pub use uffd::{PageFault, Uffd, UffdError};
