//! What backs each frame, whether it is resident, and the one routine that
//! puts a page in place — shared by the handler thread (guest faults) and
//! the VMM (pages it must read or write for the program).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

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
struct Page {
    gva: u64,
    region: RegionId,
    source: Source,
    resident: bool,
}

/// How guest RAM gets its pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackingMode {
    /// Registered with userfaultfd: every first touch is trapped.
    Trapped,
    /// Not registered: the kernel populates pages itself (file contents are
    /// written up front). The baseline the benchmark compares against.
    KernelPopulated,
}

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error(transparent)]
    Uffd(#[from] UffdError),
    #[error("fault at host address {0:#x}, outside guest RAM")]
    OutsideRam(u64),
    #[error("cannot write guest RAM: {0}")]
    Write(String),
}

struct State {
    pages: HashMap<u64, Page>,
    events: Vec<Event>,
    /// What timeline times count from: the program's start.
    start: Instant,
}

/// Guest RAM's backing: the host mapping, the userfaultfd on it, and the
/// page table of what each frame should hold.
pub struct Backing {
    ram: Arc<HostMapping>,
    ram_gpa: u64,
    uffd: Option<Uffd>,
    file: Arc<[u8]>,
    state: Mutex<State>,
    /// Set while the vCPU is inside KVM_RUN: faults outside it can only be
    /// the VMM's own.
    in_guest: AtomicBool,
}

impl Backing {
    pub fn new(ram: Arc<HostMapping>, ram_gpa: u64, file: Arc<[u8]>, mode: BackingMode) -> Result<Self, FaultError> {
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
            uffd,
            file,
            state: Mutex::new(State { pages: HashMap::new(), events: Vec::new(), start: Instant::now() }),
            in_guest: AtomicBool::new(false),
        })
    }

    pub fn uffd(&self) -> Option<&Uffd> {
        self.uffd.as_ref()
    }

    fn state(&self) -> MutexGuard<'_, State> {
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

    /// Declares what frame `gpa` (mapped at `gva`) holds. Without
    /// userfaultfd, file bytes are written at once.
    pub fn add_page(&self, gpa: u64, gva: u64, region: RegionId, source: Source) -> Result<(), FaultError> {
        if self.uffd.is_none() {
            if let Source::File(pieces) = &source {
                self.ram
                    .write(gpa - self.ram_gpa, &self.page_bytes(pieces))
                    .map_err(|e| FaultError::Write(e.to_string()))?;
            }
        }
        self.state().pages.insert(gpa, Page { gva, region, source, resident: self.uffd.is_none() });
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

    /// Resolves a fault the kernel reported. Faults that arrive while the
    /// vCPU is outside KVM_RUN are the VMM's, and recorded as such.
    pub fn handle_fault(&self, host_addr: u64, write: bool, read_at: Instant) -> Result<(), FaultError> {
        let off = host_addr.wrapping_sub(self.ram.as_ptr() as u64);
        if off >= self.ram.len() {
            return Err(FaultError::OutsideRam(host_addr));
        }
        let gpa = self.ram_gpa + (off & !(PAGE_SIZE - 1));
        let origin = if self.in_guest.load(Ordering::Acquire) { Origin::Guest } else { Origin::Vmm };
        let access = if write { Access::Write } else { Access::Read };
        self.resolve(gpa, access, origin, read_at, None)
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

    fn resolve(
        &self,
        gpa: u64,
        access: Access,
        origin: Origin,
        read_at: Instant,
        prefault: Option<Prefault>,
    ) -> Result<(), FaultError> {
        let Some(uffd) = &self.uffd else { return Ok(()) };
        let host = self.ram.as_ptr() as u64 + (gpa - self.ram_gpa);
        let mut st = self.state();
        let (gva, region, kind) = match st.pages.get(&gpa) {
            Some(p) if p.resident => {
                // A duplicate report for a page already in place.
                uffd.wake(host, PAGE_SIZE)?;
                return Ok(());
            }
            Some(p) => {
                let kind = match &p.source {
                    // A read maps the shared zero page, as the kernel does.
                    // A write needs a private page at once: the zero page
                    // would cost a second (copy-on-write) fault right after.
                    Source::Zero if access != Access::Read => {
                        uffd.copy(host, &ZERO_PAGE)?;
                        EventKind::ZeroFill
                    }
                    Source::Zero => {
                        uffd.zeropage(host, PAGE_SIZE)?;
                        EventKind::ZeroFill
                    }
                    Source::File(pieces) => {
                        uffd.copy(host, &self.page_bytes(pieces))?;
                        EventKind::FileCopy
                    }
                };
                (p.gva, Some(p.region), prefault.map(EventKind::Prefault).unwrap_or(kind))
            }
            None => {
                // No page owns this frame: nothing the program mapped. Back it
                // so nobody hangs, and keep the oddity visible in the timeline.
                uffd.zeropage(host, PAGE_SIZE)?;
                (0, None, EventKind::ZeroFill)
            }
        };
        let done = Instant::now();
        if let Some(p) = st.pages.get_mut(&gpa) {
            p.resident = true;
        }
        let seq = st.events.len() as u64;
        let time_ns = read_at.saturating_duration_since(st.start).as_nanos() as u64;
        st.events.push(Event {
            seq,
            time_ns,
            region,
            gva,
            gpa,
            access,
            kind,
            latency_ns: done.saturating_duration_since(read_at).as_nanos() as u64,
            origin,
        });
        Ok(())
    }

    /// Drops frame `gpa`: its host page is freed and it holds nothing any
    /// more. Returns the region the page was filed under.
    pub fn forget(&self, gpa: u64) -> Option<RegionId> {
        let page = self.state().pages.remove(&gpa)?;
        if page.resident || self.uffd.is_none() {
            let _ = self.ram.discard(gpa - self.ram_gpa, PAGE_SIZE);
        }
        Some(page.region)
    }

    /// Frees the host page behind `gpa` but keeps what the frame should
    /// hold: the next touch faults again and gets zeroes or the file's
    /// bytes (MADV_DONTNEED on a private mapping).
    pub fn discard(&self, gpa: u64) {
        let mut st = self.state();
        if let Some(p) = st.pages.get_mut(&gpa) {
            p.resident = self.uffd.is_none();
            let _ = self.ram.discard(gpa - self.ram_gpa, PAGE_SIZE);
        }
    }

    /// The page at frame `gpa` now lives at `gva` (mremap).
    pub fn set_gva(&self, gpa: u64, gva: u64) {
        if let Some(p) = self.state().pages.get_mut(&gpa) {
            p.gva = gva;
        }
    }

    /// Whether frame `gpa` has a host page.
    pub fn is_resident(&self, gpa: u64) -> bool {
        match &self.uffd {
            Some(_) => self.state().pages.get(&gpa).is_some_and(|p| p.resident),
            None => self.host_resident(gpa),
        }
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

    /// Resident pages in all.
    pub fn resident_pages(&self) -> u64 {
        self.state().pages.values().filter(|p| p.resident).count() as u64
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
}
