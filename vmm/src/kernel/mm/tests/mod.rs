//! The memory rules, tested on a kernel without a VM
//! ([`TestKernel`](crate::kernel::testing::TestKernel)): each test makes a
//! program's syscalls and touches itself and checks Linux's answers, page
//! by page. The same rules under KVM are tested end to end in `tests/`.

mod cow;
mod mappings;
mod oom;
mod overcommit;
mod pagecache;
mod procfs;

use crate::kernel::testing::TestKernel;
use crate::timeline::{Event, EventKind};

/// The kinds of the events about pages in `[start, end)`, in order.
fn kinds_in(t: &TestKernel, start: u64, end: u64) -> Vec<EventKind> {
    events_in(t, start, end).iter().map(|e| e.kind).collect()
}

/// The events about pages in `[start, end)`, in order.
fn events_in(t: &TestKernel, start: u64, end: u64) -> Vec<Event> {
    t.events().into_iter().filter(|e| e.gva >= start && e.gva < end && !e.kind.is_lifecycle()).collect()
}
