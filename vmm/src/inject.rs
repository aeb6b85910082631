//! Fault injection, for the tests of faultline's own failures:
//! `FAULTLINE_INJECT=POINT:N[:ERRNO][,...]` makes the Nth call at POINT (1
//! for the first) fail the way the real call fails, and everything after
//! it runs as it would: the real error path is what is tested, only the
//! trigger is made up.
//!
//! | point           | what fails                         | as if                        |
//! |-----------------|------------------------------------|------------------------------|
//! | `uffd-copy`     | a UFFDIO_COPY                      | it returned ENOMEM           |
//! | `uffd-zeropage` | a UFFDIO_ZEROPAGE                  | it returned ENOMEM           |
//! | `uffd-wake`     | a UFFDIO_WAKE                      | it returned EINVAL           |
//! | `kvm-run`       | a KVM_RUN                          | it returned EFAULT           |
//! | `page-alloc`    | a page buffer the VMM allocates    | the allocation failed        |
//! | `host-flush`    | the call that flushes stale translations (UFFDIO_WRITEPROTECT, or an mprotect round trip) | it gave ENOMEM |
//! | `handler-panic` | the fault handler's Nth batch      | a bug panicked the thread    |
//! | `handler-exit`  | the fault handler's Nth batch      | the thread returned unasked  |
//! | `kernel-panic`  | the kernel, at the Nth trap (its lock held, on a vCPU thread) | a bug panicked it |
//! | `ring-panic`    | the syscall ring's server, at its Nth call (the call taken) | a bug panicked it |
//! | `ring-stall`    | the syscall ring's server, at the Nth call it sees: it leaves it for 50 ms | the server starved of CPU |
//! | `kvm-slot`      | the Nth memory slot made (system, RAM, ring: all before the guest runs) | KVM_SET_USER_MEMORY_REGION gave ENOMEM |
//! | `kernel-hang`   | the kernel, at the Nth trap: the vCPU thread keeps its lock for good | a deadlock inside faultline |
//!
//! An environment variable rather than a cargo feature (`fail` crate):
//! the tests drive the `faultline` binary that `cargo test` builds anyway,
//! with no second build, and nothing of it is in the library's API. A
//! guest cannot reach faultline's environment. When the variable is unset
//! a check costs one relaxed load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Where a failure can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    UffdCopy,
    UffdZeropage,
    UffdWake,
    KvmRun,
    PageAlloc,
    HostFlush,
    HandlerPanic,
    HandlerExit,
    KernelPanic,
    RingPanic,
    RingStall,
    KvmSlot,
    KernelHang,
}

const POINTS: [(Point, &str, i32); 13] = [
    (Point::UffdCopy, "uffd-copy", libc::ENOMEM),
    (Point::UffdZeropage, "uffd-zeropage", libc::ENOMEM),
    (Point::UffdWake, "uffd-wake", libc::EINVAL),
    (Point::KvmRun, "kvm-run", libc::EFAULT),
    (Point::PageAlloc, "page-alloc", libc::ENOMEM),
    (Point::HostFlush, "host-flush", libc::ENOMEM),
    (Point::HandlerPanic, "handler-panic", 0),
    (Point::HandlerExit, "handler-exit", 0),
    (Point::KernelPanic, "kernel-panic", 0),
    (Point::RingPanic, "ring-panic", 0),
    (Point::RingStall, "ring-stall", 0),
    (Point::KvmSlot, "kvm-slot", libc::ENOMEM),
    (Point::KernelHang, "kernel-hang", 0),
];

/// The environment variable.
pub const VAR: &str = "FAULTLINE_INJECT";

#[derive(Debug)]
struct Plan {
    /// (point, which call, errno) for each injection asked for.
    at: Vec<(Point, u64, i32)>,
    calls: [AtomicU64; POINTS.len()],
}

fn plan() -> &'static Result<Plan, String> {
    static PLAN: OnceLock<Result<Plan, String>> = OnceLock::new();
    PLAN.get_or_init(|| parse(&std::env::var(VAR).unwrap_or_default()))
}

fn parse(spec: &str) -> Result<Plan, String> {
    let mut at = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut parts = item.split(':');
        let name = parts.next().unwrap_or_default();
        let &(point, _, errno) = POINTS.iter().find(|(_, n, _)| *n == name).ok_or_else(|| {
            let names: Vec<&str> = POINTS.iter().map(|p| p.1).collect();
            format!("{VAR}: unknown point {:?} (one of {})", crate::text::tame(name), names.join(", "))
        })?;
        let n: u64 = parts
            .next()
            .and_then(|n| n.parse().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{VAR}: {}: expected POINT:N with N ≥ 1", crate::text::tame(item)))?;
        let errno = match parts.next() {
            None => errno,
            Some(e) => e.parse().ok().filter(|&e| e > 0 && e < 4096).ok_or_else(|| {
                format!("{VAR}: {}: the errno must be a number from 1 to 4095", crate::text::tame(item))
            })?,
        };
        at.push((point, n, errno));
    }
    Ok(Plan { at, calls: Default::default() })
}

/// Whether `FAULTLINE_INJECT` makes sense (checked before a run starts).
pub fn check() -> Result<(), String> {
    plan().as_ref().map(|_| ()).map_err(Clone::clone)
}

/// Counts a call at `point`; `Some(errno)` if this one is to fail.
pub fn hit(point: Point) -> Option<i32> {
    let Ok(plan) = plan() else { return None };
    if plan.at.is_empty() {
        return None;
    }
    let i = POINTS.iter().position(|p| p.0 == point)?;
    let n = plan.calls[i].fetch_add(1, Ordering::Relaxed) + 1;
    plan.at.iter().find(|&&(p, at, _)| p == point && at == n).map(|&(_, _, errno)| errno)
}

/// For a call that reports failure as -1 and errno: runs `call`, or, if
/// this one is to fail, sets errno and returns -1 without calling.
pub fn or_errno(point: Point, call: impl FnOnce() -> i32) -> i32 {
    match hit(point) {
        Some(errno) => {
            // SAFETY: errno is this thread's.
            unsafe { *libc::__errno_location() = errno };
            -1
        }
        None => call(),
    }
}

/// The line a panic injected at `point` carries.
pub fn panic_message(point: Point) -> String {
    let name = POINTS.iter().find(|p| p.0 == point).map_or("?", |p| p.1);
    format!("{VAR} asked for it at {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_or_say_what_is_wrong() {
        let p = parse("uffd-copy:100, kvm-run:3:12").unwrap();
        assert_eq!(p.at, vec![(Point::UffdCopy, 100, libc::ENOMEM), (Point::KvmRun, 3, 12)]);
        assert!(parse("").unwrap().at.is_empty());
        assert!(parse("nope:1").unwrap_err().contains("unknown point \"nope\""));
        assert!(parse("uffd-copy").unwrap_err().contains("POINT:N"));
        assert!(parse("uffd-copy:0").unwrap_err().contains("POINT:N"));
        assert!(parse("uffd-copy:1:x").unwrap_err().contains("errno"));
    }
}
