//! Reading and validating an ELF executable (or interpreter) of the host's
//! architecture.

use std::path::Path;
use std::sync::Arc;

use goblin::elf::header::{EI_CLASS, ELFCLASS32, ELFCLASS64, ELFMAG, ET_DYN, ET_EXEC, SELFMAG};
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR};
use goblin::elf::section_header::{SHF_ALLOC, SHF_TLS, SHT_NOBITS};
use goblin::elf::Elf;

use crate::arch::layout::{ELF_ET_DYN_BASE, USER_TOP};
use crate::arch::regs::ELF_MACHINE;
use crate::arch::{page_floor, Perms, PAGE_SIZE};

/// Segments must end below this: the top 128 MiB hold the stack, its
/// growth and the guard gap above mmap_base.
pub const STACK_AREA: u64 = USER_TOP - (128 << 20);

/// Where Linux puts a PIE whose segments align to 4 KiB
/// (ELF_ET_DYN_BASE, without randomisation, page-aligned).
pub const PIE_BASE: u64 = page_floor(ELF_ET_DYN_BASE);

/// Where Linux puts a PIE (load_elf_binary): ELF_ET_DYN_BASE aligned down
/// to the largest power-of-two p_align of its PT_LOADs, at least a page
/// (aarch64 links with 64 KiB).
fn pie_bias(elf: &Elf) -> u64 {
    let align = elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.p_align.is_power_of_two())
        .map(|p| p.p_align)
        .fold(PAGE_SIZE, u64::max);
    page_floor(ELF_ET_DYN_BASE & !(align - 1))
}

/// Why an ELF file cannot be loaded. Paths are as given, made safe to
/// print on one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// No ELF magic.
    #[error("{0}: not an ELF file")]
    NotElf(String),
    /// A 32-bit ELF file.
    #[error("{0}: 32-bit ELF; faultline runs 64-bit x86-64 programs")]
    Elf32(String),
    /// An ELF file for another machine.
    #[error("{path}: ELF for {machine}; faultline runs x86-64 programs")]
    ForeignArch {
        /// The file.
        path: String,
        /// The machine it is for.
        machine: String,
    },
    /// Not ET_EXEC, nor a static-PIE ET_DYN.
    #[error("{path}: ELF type {kind} is not an executable (want ET_EXEC or static-PIE ET_DYN)")]
    NotExecutable {
        /// The file.
        path: String,
        /// Its ELF type.
        kind: String,
    },
    /// A PT_INTERP that does not name an interpreter.
    #[error("{path}: bad PT_INTERP: {detail}")]
    BadInterp {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// Headers that do not hold together.
    #[error("{path}: truncated or malformed ELF: {detail}")]
    Malformed {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// Nothing to load.
    #[error("{path}: no PT_LOAD segments")]
    NoSegments {
        /// The file.
        path: String,
    },
    /// A segment that cannot be loaded where it asks to be.
    #[error("{path}: segment {index} at {start:#x}..{end:#x} {problem}")]
    BadSegment {
        /// The file.
        path: String,
        /// The program header's index.
        index: usize,
        /// Its first address.
        start: u64,
        /// The address after it.
        end: u64,
        /// What is wrong.
        problem: &'static str,
    },
    /// Two segments share pages.
    #[error("{path}: segments {a} and {b} overlap")]
    Overlap {
        /// The file.
        path: String,
        /// One program header's index.
        a: usize,
        /// The other's.
        b: usize,
    },
}

/// One PT_LOAD segment, with the load bias applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub index: usize,
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    pub perms: Perms,
}

impl Segment {
    pub fn end(&self) -> u64 {
        self.vaddr + self.memsz
    }
}

/// An allocated section, with the load bias applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub addr: u64,
    pub size: u64,
}

/// A validated executable.
#[derive(Clone, Debug)]
pub struct Image {
    pub path: String,
    pub entry: u64,
    pub bias: u64,
    pub segments: Vec<Segment>,
    pub sections: Vec<Section>,
    /// Where the program headers are in memory, for AT_PHDR.
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
    /// The interpreter a dynamically linked program names (PT_INTERP).
    pub interp: Option<String>,
}

fn machine_name(m: u16) -> String {
    match m {
        3 => "i386".into(),
        62 => "x86-64".into(),
        40 => "ARM".into(),
        183 => "AArch64".into(),
        243 => "RISC-V".into(),
        8 => "MIPS".into(),
        20 => "PowerPC".into(),
        21 => "PowerPC64".into(),
        22 => "S390".into(),
        other => format!("machine {other}"),
    }
}

impl Image {
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        let display = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read { path: display.clone(), source })?;
        Self::from_bytes(display, bytes.into())
    }

    pub fn from_bytes(path: String, bytes: Arc<[u8]>) -> Result<Self, LoadError> {
        // Errors name the file as the user can read it on one line.
        let shown = crate::text::tame(&path);
        if bytes.len() < SELFMAG || &bytes[..SELFMAG] != ELFMAG {
            return Err(LoadError::NotElf(shown));
        }
        match bytes.get(EI_CLASS) {
            Some(&ELFCLASS64) => {}
            Some(&ELFCLASS32) => return Err(LoadError::Elf32(shown)),
            _ => return Err(malformed(&shown, "bad ELF class")),
        }
        let elf = Elf::parse(&bytes).map_err(|e| malformed(&shown, &e.to_string()))?;
        let h = &elf.header;
        if h.e_machine != ELF_MACHINE {
            return Err(LoadError::ForeignArch { path: shown, machine: machine_name(h.e_machine) });
        }
        let interp = interp_of(&elf, &bytes, &shown)?;
        // A dynamically linked PIE goes where the kernel puts one without
        // ASLR; so does a static PIE.
        let bias = match h.e_type {
            ET_EXEC => 0,
            ET_DYN => pie_bias(&elf),
            t => return Err(LoadError::NotExecutable { path: shown, kind: goblin::elf::header::et_to_str(t).into() }),
        };
        let segments = load_segments(&elf, &bytes, bias, &shown)?;
        let sections = alloc_sections(&elf, bias, &segments);
        // AT_PHDR: PT_PHDR if present, else where e_phoff lands in a segment.
        let phdr = elf
            .program_headers
            .iter()
            .find(|p| p.p_type == PT_PHDR)
            .and_then(|p| p.p_vaddr.checked_add(bias))
            .or_else(|| {
                segments
                    .iter()
                    .find(|s| s.offset <= h.e_phoff && h.e_phoff < s.offset + s.filesz)
                    .map(|s| s.vaddr + (h.e_phoff - s.offset))
            })
            .unwrap_or(0);
        let entry = h.e_entry.checked_add(bias).filter(|&e| e < USER_TOP).ok_or_else(|| {
            malformed(&shown, &format!("entry point {:#x} is outside the user address space", h.e_entry))
        })?;
        Ok(Image {
            entry,
            bias,
            segments,
            sections,
            phdr,
            phent: h.e_phentsize as u64,
            phnum: h.e_phnum as u64,
            interp,
            path,
        })
    }

    /// Pages the segments span (a page two segments share counts twice).
    pub fn mapped_pages(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| (crate::arch::page_ceil(s.end()).unwrap_or(u64::MAX) - page_floor(s.vaddr)) / PAGE_SIZE)
            .fold(0u64, u64::saturating_add)
    }
}

/// A malformed file's error; `detail` (goblin's messages may quote the
/// file's own bytes) tamed.
fn malformed(shown: &str, detail: &str) -> LoadError {
    LoadError::Malformed { path: shown.to_string(), detail: crate::text::tame(detail) }
}

/// The interpreter PT_INTERP names, checked as binfmt_elf does: a path of
/// at most PATH_MAX, NUL-terminated.
fn interp_of(elf: &Elf, bytes: &[u8], shown: &str) -> Result<Option<String>, LoadError> {
    let Some(ph) = elf.program_headers.iter().find(|p| p.p_type == PT_INTERP) else { return Ok(None) };
    let bad = |detail: &str| LoadError::BadInterp { path: shown.to_string(), detail: detail.into() };
    if ph.p_filesz < 2 || ph.p_filesz > 4096 {
        return Err(bad("its size is out of range"));
    }
    let end = ph.p_offset.checked_add(ph.p_filesz).ok_or_else(|| bad("it lies past the end of the file"))?;
    let raw = bytes.get(ph.p_offset as usize..end as usize).ok_or_else(|| bad("it lies past the end of the file"))?;
    let Some((&0, name)) = raw.split_last() else { return Err(bad("it is not NUL-terminated")) };
    if name.contains(&0) {
        return Err(bad("it holds a NUL"));
    }
    Ok(Some(String::from_utf8(name.to_vec()).map_err(|_| bad("it is not UTF-8"))?))
}

/// The PT_LOAD segments, moved by `bias`, each checked (inside the file,
/// inside user space below the stack area, offset and address agreeing
/// modulo the page size, above mmap_min_addr), sorted and not
/// overlapping. Empty ones are skipped.
fn load_segments(elf: &Elf, bytes: &[u8], bias: u64, shown: &str) -> Result<Vec<Segment>, LoadError> {
    let mut segments = Vec::new();
    for (index, ph) in elf.program_headers.iter().enumerate().filter(|(_, p)| p.p_type == PT_LOAD) {
        let bad = |problem| LoadError::BadSegment {
            path: shown.to_string(),
            index,
            start: ph.p_vaddr,
            end: ph.p_vaddr.wrapping_add(ph.p_memsz),
            problem,
        };
        if ph.p_offset.checked_add(ph.p_filesz).is_none_or(|e| e > bytes.len() as u64) {
            return Err(malformed(shown, &format!("segment {index} extends past the end of the file")));
        }
        if ph.p_filesz > ph.p_memsz {
            return Err(bad("has a file size larger than its memory size"));
        }
        let vaddr = ph.p_vaddr.checked_add(bias).ok_or_else(|| bad("wraps around the address space"))?;
        let end = vaddr.checked_add(ph.p_memsz).ok_or_else(|| bad("wraps around the address space"))?;
        if end > USER_TOP {
            return Err(bad("lies outside the user address space"));
        }
        if end > STACK_AREA {
            return Err(bad("reaches into the stack area"));
        }
        if (vaddr % PAGE_SIZE) != (ph.p_offset % PAGE_SIZE) {
            return Err(bad("has file offset and address that disagree modulo the page size"));
        }
        if ph.p_memsz == 0 {
            continue;
        }
        if page_floor(vaddr) < 0x1_0000 {
            return Err(bad("lies below mmap_min_addr (64 KiB)"));
        }
        segments.push(Segment {
            index,
            vaddr,
            memsz: ph.p_memsz,
            offset: ph.p_offset,
            filesz: ph.p_filesz,
            perms: Perms::new(ph.p_flags & PF_R != 0, ph.p_flags & PF_W != 0, ph.p_flags & PF_X != 0),
        });
    }
    if segments.is_empty() {
        return Err(LoadError::NoSegments { path: shown.to_string() });
    }
    segments.sort_by_key(|s| s.vaddr);
    for w in segments.windows(2) {
        if w[0].end() > w[1].vaddr {
            return Err(LoadError::Overlap { path: shown.to_string(), a: w[0].index, b: w[1].index });
        }
    }
    Ok(segments)
}

/// The allocated sections inside a segment, moved by `bias` (.tbss, which
/// occupies no address space of its own, left out): what names the pages.
fn alloc_sections(elf: &Elf, bias: u64, segments: &[Segment]) -> Vec<Section> {
    elf.section_headers
        .iter()
        .filter(|s| s.sh_flags & SHF_ALLOC as u64 != 0 && s.sh_addr != 0 && s.sh_size != 0)
        .filter(|s| !(s.sh_flags & SHF_TLS as u64 != 0 && s.sh_type == SHT_NOBITS))
        .filter_map(|s| {
            let name = elf.shdr_strtab.get_at(s.sh_name)?;
            let addr = s.sh_addr.checked_add(bias)?;
            addr.checked_add(s.sh_size)?;
            // Names reach the summary and reports: tamed.
            Some(Section { name: crate::text::tame_n(name, 64), addr, size: s.sh_size })
        })
        .filter(|s| segments.iter().any(|g| s.addr >= g.vaddr && s.addr < g.end()))
        .collect()
}
