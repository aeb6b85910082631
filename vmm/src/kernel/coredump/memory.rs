//! What of a process's memory a core holds: a segment per VMA, as much of
//! it as vma_dump_size() decides under the coredump_filter, and each page
//! as it is now. Nothing is faulted in: a page is read where it is
//! (resident, in swap, in its file), and one never backed (or backed by
//! the zero page) is a hole, as get_dump_page() leaves it.

use super::super::abi::elf::*;
use super::super::KernelState;
use crate::arch::PAGE_SIZE;
use crate::mm::vma::AnonVma;
use crate::mm::{Backing, Content, FileId, FrameKind, MmId, Residency, Vma, VmaKind};

use crate::kernel::abi::mman::GATE_VMA;

/// One PT_LOAD: a VMA and how many of its bytes the core holds.
#[derive(Clone, Debug)]
pub(super) struct Segment {
    pub(super) start: u64,
    pub(super) end: u64,
    /// PF_R, PF_W, PF_X.
    pub(super) flags: u32,
    pub(super) dump_size: u64,
    /// The VMA, to read its pages (none for the gate page).
    pub(super) vma: Option<Vma>,
}

/// A file mapping, for NT_FILE: where, from which page of the file, and
/// the file's name.
pub(super) struct Mapped {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) pgoff: u64,
    pub(super) name: String,
}

impl KernelState {
    /// The segments of address space `mm`'s core under `filter`, in
    /// address order, the gate page last.
    pub(super) fn core_segments(&self, mm: MmId, filter: u32) -> Vec<Segment> {
        let space = self.mm.space(mm);
        let mut out: Vec<Segment> = space
            .vmas
            .iter()
            .map(|v| Segment {
                start: v.start,
                end: v.end,
                flags: pf_flags(v.perms.read, v.perms.write, v.perms.exec),
                dump_size: self.vma_dump_size(mm, v, filter),
                vma: Some(v.clone()),
            })
            .collect();
        // The gate VMA (x86-64's vsyscall page), which every core holds
        // after the VMAs: execute-only, so never readable, a hole.
        if let Some((start, end)) = GATE_VMA {
            out.push(Segment { start, end, flags: PF_X, dump_size: end - start, vma: None });
        }
        out
    }

    /// vma_dump_size(): bytes of `v` the core holds (all or nothing, but for
    /// the first page of an ELF file's mapping).
    fn vma_dump_size(&self, mm: MmId, v: &Vma, filter: u32) -> u64 {
        let whole = v.end - v.start;
        // always_dump_vma(): the vDSO's areas (special mappings) are.
        if v.anon_name.as_deref().is_some_and(|n| n.starts_with("[v")) {
            return whole;
        }
        if v.dontdump {
            return 0;
        }
        if let (true, Backing::File { file, .. }) = (v.shared, &v.backing) {
            // An anonymous file (shmem, a SysV segment, a memfd, an unlinked
            // file: i_nlink == 0) or a named one.
            let anon =
                v.kind == VmaKind::Anon || file.path.ends_with(" (deleted)") || self.files.vfs().is_orphan(file.id);
            let bit = if anon { DUMP_ANON_SHARED } else { DUMP_MAPPED_SHARED };
            return if filter & bit != 0 { whole } else { 0 };
        }
        if filter & DUMP_ANON_PRIVATE != 0 && self.has_anon_vma(mm, v) {
            return whole;
        }
        if v.is_anon() {
            return 0;
        }
        if filter & DUMP_MAPPED_PRIVATE != 0 {
            return whole;
        }
        // The start of an ELF file's mapping: its header page, to tell
        // what was mapped there.
        if filter & DUMP_ELF_HEADERS != 0 && v.file_page(v.start).is_some_and(|(_, i)| i == 0) && v.perms.read {
            let mut page = vec![0u8; PAGE_SIZE as usize];
            if self.core_page(mm, v, v.start, &mut page) && page.starts_with(&ELFMAG) {
                return PAGE_SIZE;
            }
        }
        0
    }

    /// Whether private VMA `v` has an anon_vma: it has been given
    /// anonymous pages of its own (written, or copied on write), which a
    /// read of the zero page is not.
    fn has_anon_vma(&self, mm: MmId, v: &Vma) -> bool {
        if v.anon_vma != AnonVma::None {
            return true;
        }
        let mut found = false;
        self.mm.space(mm).for_each_mapped(v.start, v.end, |_, leaf| {
            found = found
                || self.phys.frame(leaf.pte.frame()).is_some_and(|f| {
                    f.kind == FrameKind::Anon && matches!(f.residency, Residency::Resident | Residency::Swapped(_))
                });
        });
        found
    }

    /// The pages of `[start, end)` of VMA `v` that may hold something, in
    /// order: those mapped, and a file's pages up to its end. The others
    /// were never backed: holes, found without a walk over them.
    pub(super) fn core_data_pages(&self, mm: MmId, v: &Vma, start: u64, end: u64) -> Vec<u64> {
        let mut pages = Vec::new();
        self.mm.space(mm).for_each_mapped(start, end, |va, _| pages.push(va));
        if let Backing::File { file, pgoff } = &v.backing {
            let size = self.phys.cache.get(&file.id).map_or(0, |c| c.data.size());
            let file_end = v.start.saturating_add(size.div_ceil(PAGE_SIZE).saturating_sub(*pgoff) * PAGE_SIZE);
            pages.extend((start..end.min(file_end)).step_by(PAGE_SIZE as usize));
            pages.sort_unstable();
            pages.dedup();
        }
        pages
    }

    /// Page `va` of VMA `v` as the core shows it, into `buf`: false for a
    /// hole. Read without a fault: the program's counts stay its own.
    pub(super) fn core_page(&self, mm: MmId, v: &Vma, va: u64, buf: &mut [u8]) -> bool {
        let pte = self.mm.space(mm).pte(va);
        if pte.mapped() {
            return self.frame_bytes(pte.frame(), buf);
        }
        // Not mapped: a file's page is its file's; an anonymous one was
        // never backed.
        match v.file_page(va) {
            Some((file, index)) => self.file_bytes(file.id, index, buf),
            None => false,
        }
    }

    /// What frame `gpa` holds now, wherever it is.
    fn frame_bytes(&self, gpa: u64, buf: &mut [u8]) -> bool {
        let Some(f) = self.phys.frame(gpa) else { return false };
        match f.residency {
            Residency::Resident => self.phys.read(gpa, 0, buf),
            Residency::Swapped(slot) => match self.phys.swap.get(slot) {
                Some(page) => {
                    buf.copy_from_slice(page);
                    true
                }
                None => false,
            },
            // The zero page, or a frame never filled.
            Residency::Zero => false,
            Residency::Absent => match f.content {
                Content::File { file, index } => self.file_bytes(file, index, buf),
                Content::Zero => false,
            },
        }
    }

    /// Page `index` of file `id`: from the page cache if it holds it,
    /// from the file otherwise (a hole past its end).
    fn file_bytes(&self, id: FileId, index: u64, buf: &mut [u8]) -> bool {
        let Some(c) = self.phys.cache.get(&id) else { return false };
        if let Some(&gpa) = c.pages.get(&index) {
            if self.phys.frame(gpa).is_some_and(|f| f.residency != Residency::Absent) {
                return self.frame_bytes(gpa, buf);
            }
        }
        buf.fill(0);
        let mut done = 0;
        while done < buf.len() {
            match c.data.read_at(index * PAGE_SIZE + done as u64, &mut buf[done..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => done += n,
            }
        }
        done > 0
    }

    /// The file mappings of `mm`, for NT_FILE, named as /proc/PID/maps
    /// names them.
    pub(super) fn core_files(&self, mm: MmId) -> Vec<Mapped> {
        let space = self.mm.space(mm);
        space
            .vmas
            .iter()
            .filter_map(|v| match &v.backing {
                Backing::File { file, pgoff } => {
                    let mut name = file.path.to_string();
                    if self.files.vfs().is_orphan(file.id) && !name.ends_with(" (deleted)") {
                        name.push_str(" (deleted)");
                    }
                    Some(Mapped { start: v.start, end: v.end, pgoff: *pgoff, name })
                }
                Backing::Anon => None,
            })
            .collect()
    }
}

/// p_flags for a mapping's permissions.
fn pf_flags(read: bool, write: bool, exec: bool) -> u32 {
    (if read { PF_R } else { 0 }) | (if write { PF_W } else { 0 }) | (if exec { PF_X } else { 0 })
}
