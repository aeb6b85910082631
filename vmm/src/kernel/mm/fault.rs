//! Page faults, as Linux's handle_mm_fault sees them: the guest touched a
//! page its tables do not let it touch (yet). Either the page has no entry
//! yet (first touch in a block of anonymous memory, a file page, stack
//! growth), or the entry is read-only because the frame is shared
//! (copy-on-write); or the access is not allowed and the program gets
//! SIGSEGV or SIGBUS.
//!
//! The VMM's own accesses to user memory (copy_from_user, copy_to_user) go
//! through the same path, as the kernel's get_user_pages does.

use std::time::Instant;

use super::super::process::{Pid, Tid};
use super::super::signal::{self, SigInfo};
use super::super::task::Ctx;
use super::super::KernelState;
use crate::arch::trap::{PfError, Trap};
use crate::arch::{page_floor, PAGE_SIZE};
use crate::fault::{self, Cow, Evicted, FaultError, Filled, Need};
use crate::mm::{Backing, Content, FrameKind, MmId, Vma, STACK_GUARD_GAP};
use crate::timeline::{Access, Event, EventKind, Origin};

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
    let (pid, tid, at) = (ctx.pid, ctx.tid, ctx.at);
    ctx.k.mm.fault_ip = Some(ctx.regs.rip);
    if ctx.k.cfg.stacks {
        ctx.k.unwind.begin(ctx.regs);
    }
    let out = user_fault_at(ctx, addr, want, pid, tid, at);
    ctx.k.mm.fault_ip = None;
    ctx.k.unwind.end();
    out
}

fn user_fault_at(ctx: &mut Ctx, addr: u64, want: Want, pid: Pid, tid: Tid, at: Instant) -> Option<SigInfo> {
    loop {
        let mm = ctx.mm();
        match ctx.k.handle_fault(mm, pid, tid, addr, want, Origin::Guest, at) {
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

impl KernelState {
    /// Resolves a fault in address space `mm` of process `pid` (thread
    /// `tid`, or the VMM acting for it) at `addr`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_fault(
        &mut self,
        mm: MmId,
        pid: Pid,
        tid: Tid,
        addr: u64,
        want: Want,
        origin: Origin,
        at: Instant,
    ) -> Outcome {
        if !self.mm.contains(mm) {
            return Outcome::Signal(SigInfo::fault(signal::SIGSEGV, signal::SEGV_MAPERR, addr));
        }
        let page = page_floor(addr);
        let vma = match self.mm.space(mm).vmas.find(addr).cloned() {
            Some(v) => v,
            // The kernel's own accesses grow the stack too (a signal frame
            // below it, say).
            None => match self.expand_stack(pid, mm, addr) {
                Some(v) => v,
                None => return Outcome::Signal(SigInfo::fault(signal::SIGSEGV, signal::SEGV_MAPERR, addr)),
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
            return Outcome::Signal(SigInfo::fault(signal::SIGSEGV, signal::SEGV_ACCERR, addr));
        }
        let pte = self.mm.space(mm).pte(page);
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
        self.note_evictions(&evicted, at);
        match result {
            Ok(Some((kind, gpa))) => {
                let region = self.mm.space(mm).region_of(page).unwrap_or(vma.region);
                // Populating ahead of use files the page as the prefault.
                let (kind, access) = match self.mm.prefault {
                    Some(p) => (EventKind::Prefault(p), Access::None),
                    None => (kind, want.access()),
                };
                let e = Event {
                    latency_ns: at.elapsed().as_nanos() as u64,
                    pid,
                    tid,
                    ..Event::new(kind, access, origin, region, page, gpa)
                };
                self.record(e, at);
                if around {
                    self.fault_around(mm, page, &vma, (pid, tid, origin), at);
                }
                Outcome::Done
            }
            Ok(None) => Outcome::Done,
            Err(FaultError::OutOfMemory) => {
                self.out_of_memory(pid, tid, page, at);
                Outcome::OutOfMemory
            }
            Err(FaultError::Io(_)) => Outcome::Signal(SigInfo::fault(signal::SIGBUS, signal::BUS_ADRERR, addr)),
            Err(e) => {
                self.stop_on_failure(format!("resolving a fault at {addr:#x}: {e}"));
                Outcome::Done
            }
        }
    }

    /// First touch of an anonymous page: its block gets frames and entries,
    /// and this page its data (the zero page for a read, a zeroed page for a
    /// write).
    fn fault_anon(
        &mut self,
        mm: MmId,
        page: u64,
        want: Want,
        evicted: &mut Vec<Evicted>,
    ) -> Result<Option<(EventKind, u64)>, FaultError> {
        let gpa = {
            let k = &mut *self;
            let space = k.mm.space_mut(mm);
            space.fill_anon(&mut k.phys, page, k.cfg.fill_pages).map_err(|_| FaultError::OutOfMemory)?
        };
        let filled = fault::populate(&mut self.phys, &*self.backing, gpa, want.need(), evicted)?;
        Ok(kind_of(filled).map(|k| (k, gpa)))
    }

    /// A file page (or shared memory) with no entry: the page cache has it
    /// (a minor fault) or reads it in (a major one). A private write gets
    /// its own copy at once, as do_cow_fault does.
    fn fault_file(
        &mut self,
        mm: MmId,
        page: u64,
        vma: &Vma,
        want: Want,
        evicted: &mut Vec<Evicted>,
    ) -> Result<Option<(EventKind, u64)>, FaultError> {
        let Backing::File { .. } = &vma.backing else {
            return Err(FaultError::NoFrame(page));
        };
        let (file, index) = vma.file_page(page).map(|(f, i)| (f.id, i)).expect("file backing");
        let Some(cached) = self.phys.cache.get(&file) else { return Err(FaultError::NoFrame(page)) };
        // A page wholly beyond the end of the file: SIGBUS (BUS_ADRERR).
        if index * PAGE_SIZE >= cached.data.size().div_ceil(PAGE_SIZE) * PAGE_SIZE {
            return Err(FaultError::Io(std::io::Error::from_raw_os_error(libc::EFAULT)));
        }
        let (cache_gpa, filled) = self.cache_page(file, index, evicted)?;
        let kind = if filled == Filled::FileRead { EventKind::FileCopy } else { EventKind::CacheHit };
        let k = &mut *self;
        let space = k.mm.space_mut(mm);
        if want == Want::Write && !vma.shared {
            let new = k.phys.alloc(FrameKind::Anon, Content::Zero).map_err(|_| FaultError::OutOfMemory)?;
            fault::resolve::copy_frame(&mut k.phys, &*k.backing, cache_gpa, new, evicted)?;
            space.map_page(&mut k.phys, page, new, vma.perms, true, vma.locked).map_err(|_| FaultError::OutOfMemory)?;
            return Ok(Some((kind, new)));
        }
        let writable = vma.shared && vma.perms.write;
        space
            .map_page(&mut k.phys, page, cache_gpa, vma.perms, writable, vma.locked)
            .map_err(|_| FaultError::OutOfMemory)?;
        if want == Want::Write {
            k.phys.update(cache_gpa, |f| f.dirty = true);
        }
        Ok(Some((kind, cache_gpa)))
    }

    /// Linux's do_fault_around with filemap_map_pages: after a read fault
    /// at `page` of file mapping `vma`, maps the pages of the window around
    /// it that are in the page cache with their data, inside the file, and
    /// not mapped yet, as the fault itself would (read-only unless the
    /// mapping is shared and writable); no I/O, no copy. The window starts
    /// at the fault's address rounded down to the fault-around size (not
    /// below the VMA) and holds that many pages, within the VMA and the
    /// page table. Each page mapped is a `fault-around` row, with the
    /// fault's thread and instruction (`who`), not a fault of its own.
    fn fault_around(&mut self, mm: MmId, page: u64, vma: &Vma, who: (Pid, Tid, Origin), at: Instant) {
        let nr = self.cfg.fault_around_pages;
        if nr <= 1 {
            return;
        }
        let Backing::File { file, .. } = &vma.backing else { return };
        let Some(cached) = self.phys.cache.get(&file.id) else { return };
        let file_pages = cached.data.size().div_ceil(PAGE_SIZE);
        let start = (page & !(nr * PAGE_SIZE - 1)).max(vma.start);
        let table_end = (start | (512 * PAGE_SIZE - 1)) + 1;
        let end = (start + nr * PAGE_SIZE).min(vma.end).min(table_end);
        let mut cand = Vec::new();
        let space = self.mm.space(mm);
        let mut va = start;
        while va < end {
            if va != page && !space.pte(va).mapped() {
                let gpa = vma
                    .file_page(va)
                    .map(|(_, index)| index)
                    .filter(|&index| index < file_pages)
                    .and_then(|index| cached.pages.get(&index).copied());
                let ready =
                    gpa.and_then(|g| self.phys.frame(g)).is_some_and(|f| f.residency == crate::mm::Residency::Resident);
                if let (Some(g), true) = (gpa, ready) {
                    cand.push((va, g));
                }
            }
            va += PAGE_SIZE;
        }
        let writable = vma.shared && vma.perms.write;
        let (pid, tid, origin) = who;
        for (va, gpa) in cand {
            let k = &mut *self;
            let space = k.mm.space_mut(mm);
            if space.map_page(&mut k.phys, va, gpa, vma.perms, writable, vma.locked).is_err() {
                break;
            }
            let region = self.mm.space(mm).region_of(va).unwrap_or(vma.region);
            let e = Event { pid, tid, ..Event::new(EventKind::FaultAround, Access::Read, origin, region, va, gpa) };
            self.record(e, at);
        }
    }

    /// Page `index` of cached `file`: its frame, created and read in if it
    /// is not in the cache (or was dropped).
    pub(crate) fn cache_page(
        &mut self,
        file: crate::mm::FileId,
        index: u64,
        evicted: &mut Vec<Evicted>,
    ) -> Result<(u64, Filled), FaultError> {
        let memory_only = self.phys.cache.get(&file).is_some_and(|c| c.data.memory_only());
        let existing = self.phys.cache.get(&file).and_then(|c| c.pages.get(&index).copied());
        let gpa = match existing {
            Some(g) => g,
            None => {
                let kind = if memory_only { FrameKind::Shmem } else { FrameKind::File };
                let g = self.phys.alloc(kind, Content::File { file, index }).map_err(|_| FaultError::OutOfMemory)?;
                self.phys.update(g, |f| f.cached = true);
                if let Some(c) = self.phys.cache.get_mut(&file) {
                    c.pages.insert(index, g);
                }
                self.files.vfs_mut().note_cached(file, 1);
                g
            }
        };
        let filled = fault::populate(&mut self.phys, &*self.backing, gpa, Need::Write, evicted)?;
        // Shared memory's pages start as zeroes: no read from anywhere.
        let filled = if memory_only && filled == Filled::FileRead { Filled::Zeroes } else { filled };
        if filled == Filled::FileRead {
            self.files.count_page_in();
        }
        Ok((gpa, filled))
    }

    /// A write to a present, read-only page of a writable area: shared
    /// frames are copied for the writer (copy-on-write); a shared mapping's
    /// page is just made writable.
    fn fault_write_protected(
        &mut self,
        mm: MmId,
        page: u64,
        vma: &Vma,
        evicted: &mut Vec<Evicted>,
    ) -> Result<Option<(EventKind, u64)>, FaultError> {
        let k = &mut *self;
        let space = k.mm.space_mut(mm);
        let gpa = space.pte(page).frame();
        if vma.shared {
            // Write-protected by clear_refs: wp_page_shared, a minor fault
            // on a page already in the page cache.
            space.remap_page(&mut k.phys, page, gpa, vma.perms, true).map_err(|_| FaultError::OutOfMemory)?;
            k.phys.update(gpa, |f| f.dirty = true);
            return Ok(Some((EventKind::CacheHit, gpa)));
        }
        let how = fault::break_cow(&mut k.phys, &*k.backing, space, page, vma, evicted)?;
        let now = space.pte(page).frame();
        let kind = if how == Cow::Reused { EventKind::CowReuse } else { EventKind::Cow };
        Ok(Some((kind, now)))
    }

    /// A not-present fault just below a stack grows it, as Linux's
    /// expand_stack does: down to the faulting page, within RLIMIT_STACK,
    /// and never into the guard gap above another mapping. Returns the
    /// grown VMA.
    fn expand_stack(&mut self, pid: Pid, mm: MmId, addr: u64) -> Option<Vma> {
        let addr = page_floor(addr);
        let limits = self.tasks.proc(pid)?.limits.clone();
        let space = self.mm.get(mm)?;
        let stack = space.vmas.find_from(addr).filter(|v| v.growsdown && v.start > addr).cloned()?;
        // acct_stack_growth(): within RLIMIT_STACK and RLIMIT_AS, and for a
        // locked stack within RLIMIT_MEMLOCK.
        let grow = stack.start - addr;
        if stack.end - addr > limits.cur(super::super::abi::resource::RLIMIT_STACK)
            || space.vmas.total().saturating_add(grow) > limits.cur(super::super::abi::resource::RLIMIT_AS)
            || (stack.locked
                && super::mlock::locked_bytes(space).saturating_add(grow)
                    > limits.cur(super::super::abi::resource::RLIMIT_MEMLOCK))
        {
            return None;
        }
        // expand_downwards(): the guard gap is kept only from a previous
        // mapping that is accessible and not itself a stack.
        if let Some(p) = space.vmas.find_prev(addr).filter(|p| p.perms.any() && !p.growsdown) {
            if addr < p.end.saturating_add(STACK_GUARD_GAP) {
                return None;
            }
        }
        let space = self.mm.get_mut(mm)?;
        space.vmas.remove(stack.start, stack.end);
        let grown = Vma { start: addr, ..stack };
        space.vmas.insert(grown.clone());
        self.procfs.changed();
        Some(grown)
    }

    /// Records an event, counting it for the process (getrusage), with the
    /// process's RSS after it, the mapping holding the page, and the
    /// faulting instruction and its symbol where there is one.
    pub(crate) fn record(&mut self, mut e: Event, at: Instant) {
        let mm = match self.mm.loading {
            Some((pid, mm)) if pid == e.pid => Some(mm),
            _ => self.tasks.proc(e.pid).map(|p| p.mm),
        };
        if let Some(mm) = mm {
            // An exit's process maps nothing any more (a vfork child's
            // address space lives on with its parent).
            if e.kind != EventKind::Release && e.kind != EventKind::Exit {
                e.rss = self.phys.mm_counters(mm).rss();
            }
            if e.origin == Origin::Guest && e.ip == 0 && e.kind != EventKind::Release {
                e.ip = self.mm.fault_ip.unwrap_or(0);
            }
            if e.origin == Origin::Guest && e.stack.is_none() && e.kind != EventKind::Release && self.unwind.active() {
                e.stack = self.fault_stack(mm);
            }
            if let Some(m) = self.mm.get(mm) {
                if e.mapping == 0 {
                    e.mapping = m.vmas.find(e.gva).map_or(0, |v| v.start);
                }
                if e.ip != 0 {
                    if let Some(vma) = m.vmas.find(e.ip) {
                        let data = match &vma.backing {
                            crate::mm::Backing::File { file, .. } => {
                                self.phys.cache.get(&file.id).map(|c| c.data.clone())
                            }
                            crate::mm::Backing::Anon => None,
                        };
                        e.symbol = self.unwind.symbol(vma, e.ip, data.as_ref());
                    }
                }
            }
        }
        if e.is_guest_fault() || (e.origin == Origin::Vmm && e.kind.is_fault()) {
            if let Some(p) = self.tasks.proc_mut(e.pid) {
                if e.kind.is_major() {
                    p.rusage.majflt += 1;
                } else {
                    p.rusage.minflt += 1;
                }
            }
        }
        // A fault its vCPU stopped for (one the kernel side saw, with an
        // ip): faultline holds the thread until the vCPU goes back in.
        if e.is_guest_fault() && self.mm.fault_ip.is_some() {
            if let Some(t) = self.tasks.thread_mut(e.tid) {
                t.held = Some((e.pid, e.region));
            }
        }
        e.sandbox_rss = self.phys.counters.resident;
        e.swap = self.phys.swap.used() as u64;
        self.procfs.changed();
        if self.cfg.record {
            self.report.recorder_mut().record(e, at);
        }
    }

    /// Records the pages `pid`'s address space gave back since the last
    /// call, one `release` row each, the RSS going down row by row.
    pub(crate) fn record_releases(&mut self, pid: Pid, tid: Tid, at: Instant) {
        let Some(mm) = self.tasks.proc(pid).map(|p| p.mm) else { return };
        let Some(m) = self.mm.get_mut(mm) else { return };
        if m.released.is_empty() {
            return;
        }
        let released = std::mem::take(&mut m.released);
        let rss = self.phys.mm_counters(mm).rss();
        let n = released.len() as u64;
        for (i, r) in released.into_iter().enumerate() {
            let e = Event {
                pid,
                tid,
                rss: rss + (n - 1 - i as u64),
                mapping: r.mapping,
                ..Event::new(EventKind::Release, Access::None, Origin::Guest, r.region, r.va, r.gpa)
            };
            self.record(e, at);
        }
    }

    /// Records evictions done to make room.
    pub(crate) fn note_evictions(&mut self, evicted: &[Evicted], at: Instant) {
        for ev in evicted {
            let (pid, region, va) = match ev.mapping {
                Some(m) => {
                    let pid = self.tasks.procs().find(|p| p.mm == m.mm).map_or(0, |p| p.pid);
                    let region = self.mm.get(m.mm).and_then(|mm| mm.region_of(m.va));
                    (pid, region, m.va)
                }
                None => (0, None, 0),
            };
            let region = region
                .unwrap_or_else(|| self.report.recorder_mut().region("page cache", crate::timeline::RegionKind::File));
            let e = Event {
                latency_ns: ev.latency_ns,
                pid,
                tid: 0,
                ..Event::new(EventKind::Evict, Access::None, Origin::Vmm, region, va, ev.gpa)
            };
            self.record(e, at);
        }
        if !evicted.is_empty() {
            self.reclaim_status();
        }
    }

    /// Ends the run if the host refused to flush stale translations
    /// ([`crate::mm::Phys::flush_failed`]); true if it did.
    pub fn check_host(&mut self) -> bool {
        match self.phys.flush_failed.take() {
            Some(why) => {
                self.stop_on_failure(why);
                true
            }
            None => false,
        }
    }

    /// faultline itself cannot go on.
    pub(crate) fn stop_on_failure(&mut self, what: String) {
        self.report.set_stop(super::super::Stop::Failure(what));
        let pids: Vec<Pid> = self.tasks.pids();
        for pid in pids {
            self.kill_process(pid, super::super::ExitStatus::Killed(signal::SIGKILL));
        }
    }
}

fn kind_of(f: Filled) -> Option<EventKind> {
    match f {
        Filled::AlreadyThere => None,
        Filled::Zeroes => Some(EventKind::ZeroFill),
        Filled::FileRead => Some(EventKind::FileCopy),
        Filled::SwappedIn => Some(EventKind::SwapIn),
        Filled::ZeroCow => Some(EventKind::Cow),
    }
}

/// The event a userfaultfd-resolved first touch makes.
pub(crate) fn event_kind(f: Filled) -> Option<EventKind> {
    kind_of(f)
}

/// A kernel-style line for a fatal fault: where it happened, and what the
/// address is.
pub(crate) fn describe_crash(ctx: &Ctx, info: &SigInfo, trap: Trap) -> String {
    let space = ctx.k.mm.space(ctx.mm());
    let regions = ctx.k.report.recorder().regions();
    let name = |addr: u64| -> String {
        // Byte for byte where the program's section headers say; a page
        // the summary files under one section may hold the end of another.
        if let Some(s) = space.elf_section_at(addr).filter(|_| space.vmas.find(addr).is_some()) {
            return s.to_string();
        }
        match space.region_of(addr) {
            Some(r) if space.vmas.find(addr).is_some() => regions.name(r).to_string(),
            _ => match space.vmas.find_from(addr) {
                Some(v) if v.growsdown && v.start - addr <= STACK_GUARD_GAP => "the stack guard gap".into(),
                _ => "an unmapped area".into(),
            },
        }
    };
    let place = |addr: u64| match space.vmas.find(addr) {
        Some(v) => format!("{}[{:x}+{:x}]", name(addr), v.start, v.end - v.start),
        None => name(addr),
    };
    let regs = &ctx.regs;
    match trap {
        Trap::PageFault { addr, error } => {
            // Linux decides by the VMA, not the present bit: a first
            // fetch from .data is error 14 (not present) yet an access
            // error (SEGV_ACCERR).
            let what = match space.vmas.find(addr).map(|v| v.perms) {
                None => "not mapped",
                Some(p) if error.write() && !p.write => "write to a read-only page",
                Some(p) if error.fetch() && !p.exec => "fetch from a non-executable page",
                Some(p) if !p.read => "read of a page with no access",
                Some(_) => "protection violation",
            };
            let what = if info.signo == signal::SIGBUS { "beyond the end of the mapped file" } else { what };
            format!(
                "segfault at {addr:x} ip {:016x} sp {:016x} error {:x} in {}: {what}, address in {}",
                regs.rip,
                regs.rsp,
                error.0,
                place(regs.rip),
                name(addr)
            )
        }
        Trap::Exception(v) => format!(
            "trap {} ip {:016x} sp {:016x} error 0 in {}",
            crate::arch::trap::vector_name(v),
            regs.rip,
            regs.rsp,
            place(regs.rip)
        ),
        _ => format!("{} at ip {:016x}", signal::name(info.signo), regs.rip),
    }
}

impl KernelState {
    /// A fault the program's handler will see: its own timeline row.
    pub(crate) fn note_signal(&mut self, pid: Pid, tid: Tid, addr: u64, write: bool, info: &SigInfo, at: Instant) {
        let Some(mm) = self.tasks.proc(pid).map(|p| p.mm) else { return };
        let region = self
            .mm
            .get(mm)
            .and_then(|m| m.region_of(addr))
            .unwrap_or_else(|| self.report.recorder_mut().region("unmapped", crate::timeline::RegionKind::Mmap));
        let e = Event {
            latency_ns: at.elapsed().as_nanos() as u64,
            pid,
            tid,
            ..Event::new(
                EventKind::Signal { signo: info.signo as u8, code: info.code },
                if write { Access::Write } else { Access::Read },
                Origin::Guest,
                region,
                page_floor(addr),
                0,
            )
        };
        self.record(e, at);
    }
}
