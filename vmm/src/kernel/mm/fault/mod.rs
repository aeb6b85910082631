//! Page faults, as Linux's handle_mm_fault sees them: the guest touched a
//! page its tables do not let it touch (yet). Either the page has no entry
//! yet (first touch in a block of anonymous memory, a file page, stack
//! growth), or the entry is read-only because the frame is shared
//! (copy-on-write); or the access is not allowed and the program gets
//! SIGSEGV or SIGBUS.
//!
//! The VMM's own accesses to user memory (copy_from_user, copy_to_user) go
//! through the same path, as the kernel's get_user_pages does.
//!
//! A fault is resolved by its kind, a file each: `anon` (first touch of
//! anonymous memory), `file` (a file or shared page, from the page cache),
//! `cow` (a write to a write-protected page: copy-on-write), `stack`
//! (growing the stack down), `around` (mapping the cached neighbours of a
//! file fault). `record` puts faults and the other memory events on the
//! timeline; `crash` words a fatal one.

mod anon;
mod around;
mod cow;
mod crash;
mod file;
mod record;
mod stack;

use std::time::Instant;

use super::super::process::{Pid, Tid};
use super::super::signal::{self, SigInfo};
use super::super::task::Ctx;
use super::super::KernelState;
use crate::arch::page_floor;
use crate::arch::trap::PfError;
use crate::fault::{FaultError, Need};
use crate::mm::MmId;
use crate::timeline::{Access, EventKind, Origin};

pub(crate) use crash::describe_crash;
pub(crate) use record::event_kind;

/// How a fault ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The page is there now (or already was): retry the access.
    Done,
    /// The program gets this signal.
    Signal(SigInfo),
    /// Memory ran out; the OOM killer has acted. Retry later.
    OutOfMemory,
}

/// What the access wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    Read,
    Write,
    Exec,
}

impl Want {
    fn access(self) -> Access {
        match self {
            Want::Write => Access::Write,
            _ => Access::Read,
        }
    }
    fn need(self) -> Need {
        match self {
            Want::Write => Need::Write,
            _ => Need::Read,
        }
    }
}

/// How a fault was resolved: the event it makes and the frame now mapped.
type Resolved = (EventKind, u64);

/// Who a fault is resolved for, and since when: the process and thread it
/// is charged to (events, rusage, the OOM killer), whether the guest or the
/// VMM touched the page, and when the fault began (its latency runs from
/// then). One value the fault path, populate and uaccess pass on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Actor {
    pub(crate) pid: Pid,
    pub(crate) tid: Tid,
    pub(crate) origin: Origin,
    pub(crate) at: Instant,
}

impl Actor {
    /// The guest's thread `tid` of `pid`, from now (populating on its
    /// behalf counts as its touches would).
    pub(crate) fn now(pid: Pid, tid: Tid) -> Self {
        Actor { pid, tid, origin: Origin::Guest, at: Instant::now() }
    }
}

/// A page fault of thread `ctx.tid` at `addr` in user mode. Returns the
/// signal to send, if any.
pub(crate) fn user_fault(ctx: &mut Ctx, addr: u64, error: PfError) -> Option<SigInfo> {
    let want = if error.write() {
        Want::Write
    } else if error.fetch() {
        Want::Exec
    } else {
        Want::Read
    };
    let who = Actor { pid: ctx.pid, tid: ctx.tid, origin: Origin::Guest, at: ctx.at };
    ctx.k.mm.fault_ip = Some(ctx.regs.pc());
    if ctx.k.cfg.stacks {
        ctx.k.unwind.begin(ctx.regs);
    }
    let out = user_fault_at(ctx, addr, want, who);
    ctx.k.mm.fault_ip = None;
    ctx.k.unwind.end();
    out
}

fn user_fault_at(ctx: &mut Ctx, addr: u64, want: Want, who: Actor) -> Option<SigInfo> {
    loop {
        let mm = ctx.mm();
        match ctx.k.handle_fault(mm, who, addr, want) {
            Outcome::Done => return None,
            Outcome::Signal(info) => return Some(info),
            Outcome::OutOfMemory => {
                // The victim may be us; if not, give it a moment to die and
                // free its memory, then try again.
                if ctx.thread_gone() {
                    return None;
                }
                ctx.sleep(Some(Instant::now() + std::time::Duration::from_millis(2)));
                if ctx.thread_gone() {
                    return None;
                }
            }
        }
    }
}

/// The signal for a fault at `addr` with no mapping, or with one that does
/// not allow the access.
fn segv(code: i32, addr: u64) -> Outcome {
    Outcome::Signal(SigInfo::fault(signal::SIGSEGV, code, addr))
}

impl KernelState {
    /// Resolves a fault in address space `mm` for `who` at `addr`.
    pub(crate) fn handle_fault(&mut self, mm: MmId, who: Actor, addr: u64, want: Want) -> Outcome {
        if !self.mm.contains(mm) {
            return segv(signal::SEGV_MAPERR, addr);
        }
        let page = page_floor(addr);
        let vma = match self.mm.space(mm).vmas.find(addr).cloned() {
            Some(v) => v,
            // The kernel's own accesses grow the stack too (a signal frame
            // below it, say).
            None => match self.expand_stack(who.pid, mm, addr) {
                Some(v) => v,
                None => return segv(signal::SEGV_MAPERR, addr),
            },
        };
        // access_error(): writes need VM_WRITE; a fetch from a present
        // page VM_EXEC; anything else (a fetch from a page not yet present
        // included) only some access. So a first jump into .data maps the
        // page and the retry faults again, present: error 15, as natively.
        let present = self.mm.space(mm).pte(page).mapped();
        let allowed = match want {
            Want::Write => vma.perms.write,
            Want::Exec if present => vma.perms.exec,
            Want::Read | Want::Exec => vma.perms.any(),
        };
        if !allowed {
            return segv(signal::SEGV_ACCERR, addr);
        }
        let pte = self.mm.space(mm).pte(page);
        // handle_pte_marker(): a guard marker is VM_FAULT_SIGSEGV, which
        // the architecture reports as an address with no mapping.
        if pte.is_guard() {
            return segv(signal::SEGV_MAPERR, addr);
        }
        let mut evicted = Vec::new();
        let mut around = false;
        let result = if !pte.mapped() {
            if vma.is_anon() && !vma.shared {
                self.fault_anon(mm, page, want, &mut evicted)
            } else {
                around = want != Want::Write && self.mm.prefault.is_none();
                self.fault_file(mm, page, &vma, want, &mut evicted)
            }
        } else if want == Want::Write && !pte.writable() {
            self.fault_write_protected(mm, page, &vma, &mut evicted)
        } else {
            // Allowed already: a translation the TLB kept from before an
            // upgrade (x86 may fault instead of re-walking). Drop it.
            self.phys.note_stale(vec![pte.frame()]);
            Ok(None)
        };
        self.note_evictions(&evicted, who.at);
        match result {
            Ok(Some((kind, gpa))) => {
                self.record_fault(mm, who, &vma, page, (kind, gpa), want);
                if around {
                    self.fault_around(mm, page, &vma, who);
                }
                Outcome::Done
            }
            Ok(None) => Outcome::Done,
            Err(FaultError::OutOfMemory) => {
                self.out_of_memory(who.pid, who.tid, page, who.at);
                Outcome::OutOfMemory
            }
            Err(FaultError::Io(_)) => Outcome::Signal(SigInfo::fault(signal::SIGBUS, signal::BUS_ADRERR, addr)),
            Err(e) => {
                self.stop_on_failure(format!("resolving a fault at {addr:#x}: {e}"));
                Outcome::Done
            }
        }
    }
}
