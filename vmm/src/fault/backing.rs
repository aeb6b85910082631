//! What backs each frame, whether it is resident, and the one routine that
//! puts a page in place: shared by the handler thread (guest faults) and
//! the VMM (pages it reads or writes for the program, prefaults). Because
//! every page becomes resident here, this is also where the resident
//! budget is kept (reclaim.rs) and where memory runs out (OOM).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::swap::SwapStore;
use super::uffd::{Uffd, UffdError};
use crate::arch::PAGE_SIZE;
use crate::mm::RegionId;
use crate::timeline::{Access, Event, EventKind, Origin, Prefault};
use crate::vm::HostMapping;

/// A run of file bytes inside a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub page_offset: u64,
    pub file_offset: u64,
    pub len: u64,
}

/// What a page holds before anyone writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Zero,
    /// Bytes of the ELF file, zeroes elsewhere.
    File(Vec<Piece>),
}

static ZERO_PAGE: [u8; PAGE_SIZE as usize] = [0; PAGE_SIZE as usize];

#[derive(Debug)]
pub(super) struct Page {
    pub(super) gva: u64,
    /// Offset of the page's leaf PTE in the system slot (for A/D bits).
    pub(super) pte: u64,
    pub(super) region: RegionId,
    /// What the page holds when it is neither dirty nor swapped.
    pub(super) source: Source,
    pub(super) resident: bool,
    /// The resident contents differ from `source`: evicting must save them.
    pub(super) dirty: bool,
    /// Not resident, contents in this swap slot.
    pub(super) swap: Option<u32>,
    /// Never evicted (mlock, --pin).
    pub(super) pinned: bool,
    /// Pinned as soon as it becomes resident (MLOCK_ONFAULT).
    pub(super) pin_on_fault: bool,
    /// Pinned by the sandbox (--pin), whatever the program locks or unlocks.
    pub(super) host_pinned: bool,
    /// Has an entry in the CLOCK queue (one at most).
    pub(super) in_clock: bool,
    /// Tells this page's queue entry from one a previous page of the same
    /// frame left behind.
    pub(super) gen: u64,
}

/// How guest RAM gets its pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackingMode {
    /// Registered with userfaultfd: every first touch is trapped.
    Trapped,
    /// Not registered: the kernel populates pages itself (file contents are
    /// written up front). The baseline the benchmark compares against; no
    /// budget, no reclaim.
    KernelPopulated,
}

/// Memory limits the backing enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Most pages resident at once (--rss-limit).
    pub resident_pages: u64,
    /// Pages the swap store holds (--swap).
    pub swap_pages: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error(transparent)]
    Uffd(#[from] UffdError),
    #[error("fault at host address {0:#x}, outside guest RAM")]
    OutsideRam(u64),
    #[error("cannot write guest RAM: {0}")]
    Write(String),
    #[error("out of memory: nothing left to reclaim for page {gva:#x}")]
    OutOfMemory { gva: u64 },
}

/// Memory counters, in pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub resident: u64,
    pub peak_resident: u64,
    pub pinned: u64,
    pub host_pinned: u64,
    pub swapped: u64,
    pub swap_capacity: u64,
    pub evictions: u64,
    pub swap_ins: u64,
}

pub(super) struct State {
    pub(super) pages: HashMap<u64, Page>,
    pub(super) events: Vec<Event>,
    /// What timeline times count from: the program's start.
    pub(super) start: Instant,
    pub(super) resident: u64,
    pub(super) peak_resident: u64,
    pub(super) pinned: u64,
    pub(super) host_pinned: u64,
    /// Pages in the order the CLOCK hand meets them, one entry per page
    /// (frame, generation); entries of pages since gone are dropped when
    /// the hand meets them.
    pub(super) clock: VecDeque<(u64, u64)>,
    pub(super) next_gen: u64,
    pub(super) swap: SwapStore,
    pub(super) evictions: u64,
    pub(super) swap_ins: u64,
    /// Set when memory ran out; the program is being killed.
    pub(super) oom: Option<Event>,
}

/// Guest RAM's backing: the host mapping, the userfaultfd on it, and the
/// table of what each frame should hold.
pub struct Backing {
    pub(super) ram: Arc<HostMapping>,
    pub(super) ram_gpa: u64,
    /// The system slot, where the guest's page tables live.
    pub(super) sys: Arc<HostMapping>,
    pub(super) uffd: Option<Uffd>,
    file: Arc<[u8]>,
    pub(super) budget: Budget,
    state: Mutex<State>,
    /// Set while the vCPU is inside KVM_RUN: faults outside it can only be
    /// the VMM's own.
    in_guest: AtomicBool,
    /// Told when memory runs out, so the vCPU can be kicked out of its fault.
    alarm: Mutex<Option<Sender<()>>>,
    /// Told after each reclaim pass (`--status`).
    pub(super) on_reclaim: Mutex<Option<ReclaimSink>>,
}

/// Receives a line after each reclaim pass.
pub type ReclaimSink = Box<dyn Fn(&str) + Send>;

impl Backing {
    pub fn new(
        ram: Arc<HostMapping>,
        ram_gpa: u64,
        sys: Arc<HostMapping>,
        file: Arc<[u8]>,
        mode: BackingMode,
        budget: Budget,
    ) -> Result<Self, FaultError> {
        let uffd = match mode {
            BackingMode::Trapped => {
                let u = Uffd::new()?;
                u.register(ram.as_ptr(), ram.len())?;
                Some(u)
            }
            BackingMode::KernelPopulated => None,
        };
        Ok(Backing {
            ram,
            ram_gpa,
            sys,
            uffd,
            file,
            budget,
            state: Mutex::new(State {
                pages: HashMap::new(),
                events: Vec::new(),
                start: Instant::now(),
                resident: 0,
                peak_resident: 0,
                pinned: 0,
                host_pinned: 0,
                clock: VecDeque::new(),
                next_gen: 0,
                swap: SwapStore::new(budget.swap_pages),
                evictions: 0,
                swap_ins: 0,
                oom: None,
            }),
            in_guest: AtomicBool::new(false),
            alarm: Mutex::new(None),
            on_reclaim: Mutex::new(None),
        })
    }

    pub fn uffd(&self) -> Option<&Uffd> {
        self.uffd.as_ref()
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the map half-edited; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Restarts the clock that timeline times count from.
    pub fn set_start(&self, t: Instant) {
        self.state().start = t;
    }

    pub fn set_in_guest(&self, on: bool) {
        self.in_guest.store(on, Ordering::Release);
    }

    pub fn in_guest(&self) -> bool {
        self.in_guest.load(Ordering::Acquire)
    }

    /// Where to say that memory ran out.
    pub fn set_alarm(&self, tx: Sender<()>) {
        *self.alarm.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    }

    /// Where to describe each reclaim pass.
    pub fn set_reclaim_sink(&self, sink: ReclaimSink) {
        *self.on_reclaim.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    }

    pub fn clear_alarm(&self) {
        *self.alarm.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The oom-kill event, once memory has run out.
    pub fn oom(&self) -> Option<Event> {
        self.state().oom.clone()
    }

    /// Declares what frame `gpa` (mapped at `gva`, its leaf PTE at `pte` in
    /// the system slot) holds. Without userfaultfd, file bytes are written
    /// at once.
    pub fn add_page(&self, gpa: u64, gva: u64, pte: u64, region: RegionId, source: Source) -> Result<(), FaultError> {
        if self.uffd.is_none() {
            if let Source::File(pieces) = &source {
                self.ram
                    .write(gpa - self.ram_gpa, &self.page_bytes(pieces))
                    .map_err(|e| FaultError::Write(e.to_string()))?;
            }
        }
        let page = Page {
            gva,
            pte,
            region,
            source,
            resident: false,
            dirty: false,
            swap: None,
            pinned: false,
            pin_on_fault: false,
            host_pinned: false,
            in_clock: false,
            gen: 0,
        };
        let mut st = self.state();
        st.next_gen += 1;
        let gen = st.next_gen;
        st.pages.insert(gpa, Page { gen, ..page });
        Ok(())
    }

    fn page_bytes(&self, pieces: &[Piece]) -> [u8; PAGE_SIZE as usize] {
        let mut buf = [0u8; PAGE_SIZE as usize];
        for p in pieces {
            let (po, fo, n) = (p.page_offset as usize, p.file_offset as usize, p.len as usize);
            buf[po..po + n].copy_from_slice(&self.file[fo..fo + n]);
        }
        buf
    }

    pub(super) fn host_addr(&self, gpa: u64) -> u64 {
        self.ram.as_ptr() as u64 + (gpa - self.ram_gpa)
    }

    /// Resolves a fault the kernel reported. Faults that arrive while the
    /// vCPU is outside KVM_RUN are the VMM's, and recorded as such.
    pub fn handle_fault(&self, host_addr: u64, write: bool, read_at: Instant) -> Result<(), FaultError> {
        let off = host_addr.wrapping_sub(self.ram.as_ptr() as u64);
        if off >= self.ram.len() {
            return Err(FaultError::OutsideRam(host_addr));
        }
        let gpa = self.ram_gpa + (off & !(PAGE_SIZE - 1));
        let origin = if self.in_guest() { Origin::Guest } else { Origin::Vmm };
        let access = if write { Access::Write } else { Access::Read };
        match self.resolve(gpa, access, origin, read_at, None) {
            Err(FaultError::OutOfMemory { .. }) => {
                self.after_oom(gpa);
                Ok(())
            }
            other => other,
        }
    }

    /// Memory ran out on a guest fault: have the vCPU kicked out of KVM_RUN
    /// (its fault wait is interruptible) and, should it not come out, back
    /// the page anyway so nothing hangs; the program is killed either way.
    fn after_oom(&self, gpa: u64) {
        if let Some(tx) = self.alarm.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = tx.send(());
        }
        let deadline = Instant::now() + std::time::Duration::from_millis(500);
        while self.in_guest() && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        if self.in_guest() {
            if let Some(u) = &self.uffd {
                let _ = u.zeropage(self.host_addr(gpa), PAGE_SIZE);
            }
        }
    }

    /// Makes frame `gpa` resident before the VMM itself reads or writes it,
    /// so the VMM never blocks on its own userfaultfd.
    pub fn ensure_resident(&self, gpa: u64, access: Access) -> Result<(), FaultError> {
        self.resolve(gpa, access, Origin::Vmm, Instant::now(), None)
    }

    /// Brings frame `gpa` in ahead of use, for the program (MAP_POPULATE,
    /// mlock, …): a private page, as the kernel's populate gives.
    pub fn prefault(&self, gpa: u64, why: Prefault) -> Result<(), FaultError> {
        if self.uffd.is_none() {
            // Kernel-populated mode: touching the host page populates it.
            let mut b = [0u8; 1];
            self.ram.read(gpa - self.ram_gpa, &mut b).map_err(|e| FaultError::Write(e.to_string()))?;
            return self.ram.write(gpa - self.ram_gpa, &b).map_err(|e| FaultError::Write(e.to_string()));
        }
        self.resolve(gpa, Access::None, Origin::Guest, Instant::now(), Some(why))
    }

    pub(super) fn counters_of(st: &State) -> Counters {
        Counters {
            resident: st.resident,
            peak_resident: st.peak_resident,
            pinned: st.pinned,
            host_pinned: st.host_pinned,
            swapped: st.swap.used() as u64,
            swap_capacity: st.swap.capacity() as u64,
            evictions: st.evictions,
            swap_ins: st.swap_ins,
        }
    }

    pub(super) fn record(st: &mut State, mut e: Event, at: Instant) {
        e.seq = st.events.len() as u64;
        e.time_ns = at.saturating_duration_since(st.start).as_nanos() as u64;
        st.events.push(e);
    }

    fn resolve(
        &self,
        gpa: u64,
        access: Access,
        origin: Origin,
        read_at: Instant,
        prefault: Option<Prefault>,
    ) -> Result<(), FaultError> {
        let Some(uffd) = &self.uffd else { return Ok(()) };
        let host = self.host_addr(gpa);
        let mut st = self.state();
        if st.oom.is_some() {
            // The program is being killed: nothing more is backed.
            return Err(FaultError::OutOfMemory { gva: st.pages.get(&gpa).map_or(0, |p| p.gva) });
        }
        let Some(page) = st.pages.get_mut(&gpa) else {
            // No page owns this frame: nothing the program mapped. Back it
            // so nobody hangs, and keep the oddity visible in the timeline.
            uffd.zeropage(host, PAGE_SIZE)?;
            let e = Event::page(None, 0, gpa, access, EventKind::ZeroFill, origin, read_at.elapsed().as_nanos() as u64);
            Self::record(&mut st, e, read_at);
            return Ok(());
        };
        if page.resident {
            // A duplicate report, or the VMM touching a page already there.
            if access == Access::Write {
                page.dirty = true;
            }
            uffd.wake(host, PAGE_SIZE)?;
            return Ok(());
        }
        if st.resident >= self.budget.resident_pages {
            if let Err(e) = self.reclaim(&mut st, read_at) {
                let gva = st.pages.get(&gpa).map_or(0, |p| p.gva);
                let region = st.pages.get(&gpa).map(|p| p.region);
                let oom = Event::page(region, gva, gpa, access, EventKind::OomKill, origin, 0);
                Self::record(&mut st, oom.clone(), read_at);
                st.oom = Some(st.events.last().cloned().unwrap_or(oom));
                return Err(e);
            }
        }
        self.age(&mut st);
        let st = &mut *st;
        let page = st.pages.get_mut(&gpa).expect("checked above");
        let kind = if let Some(slot) = page.swap.take() {
            let data = st.swap.get(slot).expect("a page's slot holds its data");
            uffd.copy(host, data)?;
            st.swap.free(slot);
            st.swap_ins += 1;
            // The swap copy is gone: evicting again must write it out.
            page.dirty = true;
            EventKind::SwapIn
        } else {
            match &page.source {
                // A read maps the shared zero page, as the kernel does. A
                // write (or a prefault) needs a private page at once: the
                // zero page would cost a second, copy-on-write fault.
                Source::Zero if access == Access::Read => {
                    uffd.zeropage(host, PAGE_SIZE)?;
                    EventKind::ZeroFill
                }
                Source::Zero => {
                    uffd.copy(host, &ZERO_PAGE)?;
                    EventKind::ZeroFill
                }
                Source::File(pieces) => {
                    let bytes = self.page_bytes(pieces);
                    uffd.copy(host, &bytes)?;
                    EventKind::FileCopy
                }
            }
        };
        page.resident = true;
        page.dirty |= access == Access::Write;
        if page.pin_on_fault && !page.pinned {
            page.pinned = true;
            st.pinned += 1;
        }
        let (gva, region) = (page.gva, page.region);
        st.resident += 1;
        st.peak_resident = st.peak_resident.max(st.resident);
        if !page.in_clock {
            page.in_clock = true;
            st.clock.push_back((gpa, page.gen));
        }
        let kind = prefault.map(EventKind::Prefault).unwrap_or(kind);
        let e = Event::page(Some(region), gva, gpa, access, kind, origin, read_at.elapsed().as_nanos() as u64);
        Self::record(st, e, read_at);
        Ok(())
    }

    /// Drops frame `gpa`: its host page is freed and it holds nothing any
    /// more. Returns the region the page was filed under.
    pub fn forget(&self, gpa: u64) -> Option<RegionId> {
        let mut st = self.state();
        let page = st.pages.remove(&gpa)?;
        if page.resident || self.uffd.is_none() {
            let _ = self.ram.discard(gpa - self.ram_gpa, PAGE_SIZE);
        }
        if page.resident {
            st.resident -= 1;
        }
        if page.pinned {
            st.pinned -= 1;
        }
        if page.host_pinned {
            st.host_pinned -= 1;
        }
        if let Some(slot) = page.swap {
            st.swap.free(slot);
        }
        Some(page.region)
    }

    /// Frees the host page behind `gpa` but keeps what the frame should
    /// hold: the next touch faults again and gets zeroes or the file's
    /// bytes (MADV_DONTNEED on a private mapping).
    pub fn discard(&self, gpa: u64) {
        let mut st = self.state();
        let st = &mut *st;
        let Some(p) = st.pages.get_mut(&gpa) else { return };
        if p.resident {
            st.resident -= 1;
            // A pinned page that is gone no longer counts as locked; it is
            // pinned again when it comes back.
            if p.pinned {
                st.pinned -= 1;
                p.pinned = false;
                p.pin_on_fault = true;
            }
        }
        p.resident = self.uffd.is_none();
        p.dirty = false;
        // Its old dirty bit must not make the refaulted page look written.
        let pte = p.pte;
        self.take_accessed_dirty(pte);
        if let Some(slot) = p.swap.take() {
            st.swap.free(slot);
        }
        let _ = self.ram.discard(gpa - self.ram_gpa, PAGE_SIZE);
    }

    /// Makes KVM drop every translation of these frames, on every vCPU:
    /// their page-table entries changed (mprotect, mremap, …) and the MMU
    /// may still cache the old ones. A protection round trip on the host
    /// pages runs KVM's MMU notifier, which zaps the shadow (or EPT)
    /// entries and flushes the TLBs; the guest's next access walks its
    /// tables afresh. Contiguous frames go in one call.
    pub fn invalidate(&self, mut frames: Vec<u64>) {
        frames.sort_unstable();
        frames.dedup();
        let mut i = 0;
        while i < frames.len() {
            let start = frames[i];
            let mut end = start + PAGE_SIZE;
            i += 1;
            while i < frames.len() && frames[i] == end {
                end += PAGE_SIZE;
                i += 1;
            }
            let Some(off) = start.checked_sub(self.ram_gpa) else { continue };
            // Only frames of guest RAM are ever mapped for the program.
            let _ = self.ram.invalidate(off, end - start);
        }
    }

    /// The page at frame `gpa` now lives at `gva`, its PTE at `pte` (mremap).
    pub fn set_gva(&self, gpa: u64, gva: u64, pte: u64) {
        if let Some(p) = self.state().pages.get_mut(&gpa) {
            p.gva = gva;
            p.pte = pte;
        }
    }

    /// Pins or unpins frame `gpa`; with `on_fault`, a page not yet resident
    /// is pinned when it becomes so.
    pub fn set_pinned(&self, gpa: u64, pinned: bool, on_fault: bool) {
        let mut st = self.state();
        let st = &mut *st;
        let Some(p) = st.pages.get_mut(&gpa) else { return };
        // The sandbox's pin outlasts the program's munlock.
        let now = p.host_pinned || (pinned && (p.resident || !on_fault));
        if now != p.pinned {
            if now {
                st.pinned += 1;
            } else {
                st.pinned -= 1;
            }
        }
        p.pinned = now;
        p.pin_on_fault = pinned && on_fault;
    }

    /// Pins frame `gpa` for the sandbox (--pin).
    pub fn set_host_pinned(&self, gpa: u64) {
        let mut st = self.state();
        let st = &mut *st;
        let Some(p) = st.pages.get_mut(&gpa) else { return };
        if !p.host_pinned {
            p.host_pinned = true;
            st.host_pinned += 1;
        }
        if !p.pinned {
            p.pinned = true;
            st.pinned += 1;
        }
    }

    /// Whether frame `gpa` has a host page.
    pub fn is_resident(&self, gpa: u64) -> bool {
        match &self.uffd {
            Some(_) => self.state().pages.get(&gpa).is_some_and(|p| p.resident),
            None => self.host_resident(gpa),
        }
    }

    /// Whether frame `gpa`'s contents are in swap.
    pub fn is_swapped(&self, gpa: u64) -> bool {
        self.state().pages.get(&gpa).is_some_and(|p| p.swap.is_some())
    }

    /// Asks the host kernel (mincore) whether the page is there.
    fn host_resident(&self, gpa: u64) -> bool {
        let mut vec = [0u8; 1];
        let Some(addr) = self.ram.host_addr(gpa - self.ram_gpa) else { return false };
        // SAFETY: a page-aligned address inside our own mapping.
        let r = unsafe { libc::mincore(addr.as_ptr().cast(), PAGE_SIZE as usize, vec.as_mut_ptr()) };
        r == 0 && vec[0] & 1 != 0
    }

    /// Events so far.
    pub fn events(&self) -> Vec<Event> {
        self.state().events.clone()
    }

    /// Guest-virtual addresses of the resident pages, in order.
    pub fn resident_gvas(&self) -> std::collections::BTreeSet<u64> {
        self.state().pages.values().filter(|p| p.resident).map(|p| p.gva).collect()
    }

    pub fn counters(&self) -> Counters {
        Self::counters_of(&self.state())
    }

    /// Resident pages per region.
    pub fn resident_by_region(&self) -> HashMap<RegionId, u64> {
        let mut m = HashMap::new();
        for p in self.state().pages.values().filter(|p| p.resident) {
            *m.entry(p.region).or_insert(0) += 1;
        }
        m
    }

    pub fn ram(&self) -> &HostMapping {
        &self.ram
    }

    pub fn ram_gpa(&self) -> u64 {
        self.ram_gpa
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }
}
