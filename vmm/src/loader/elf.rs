//! Reading and validating an ELF executable (or interpreter) of the host's
//! architecture.

use std::io;
use std::path::Path;
use std::sync::Arc;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header::{Header, EI_CLASS, ELFCLASS32, ELFCLASS64, ELFMAG, ET_DYN, ET_EXEC, SELFMAG};
use goblin::elf::program_header::{ProgramHeader, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR};
use goblin::elf::section_header::{SectionHeader, SHF_ALLOC, SHF_TLS, SHN_XINDEX, SHT_NOBITS};

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
fn pie_bias(program_headers: &[ProgramHeader]) -> u64 {
    let align = program_headers
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
    /// Reads and validates the ELF file at `path` on the host (its headers
    /// only).
    pub fn from_file(path: &Path) -> Result<Self, LoadError> {
        use std::os::unix::fs::FileExt;
        let display = path.display().to_string();
        let read_err = |source| LoadError::Read { path: display.clone(), source };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let size = file.metadata().map_err(read_err)?.len();
        Self::read(display.clone(), size, &mut |off, buf| file.read_exact_at(buf, off))
    }

    /// Validates an ELF file held in memory.
    pub fn from_bytes(path: String, bytes: Arc<[u8]>) -> Result<Self, LoadError> {
        Self::read(path, bytes.len() as u64, &mut slice_reader(&bytes))
    }

    /// Validates an ELF file of `size` bytes, reading only what a loader
    /// needs of it (its headers, the section names, PT_INTERP) with `read`.
    pub fn read(path: String, size: u64, read: &mut ReadAt) -> Result<Self, LoadError> {
        // Errors name the file as the user can read it on one line.
        let shown = crate::text::tame(&path);
        let mut ident = [0u8; 16];
        let n = size.min(ident.len() as u64) as usize;
        read(0, &mut ident[..n]).map_err(|e| malformed(&shown, &e.to_string()))?;
        if n < SELFMAG || &ident[..SELFMAG] != ELFMAG {
            return Err(LoadError::NotElf(shown));
        }
        match ident.get(EI_CLASS) {
            Some(&ELFCLASS64) => {}
            Some(&ELFCLASS32) => return Err(LoadError::Elf32(shown)),
            _ => return Err(malformed(&shown, "bad ELF class")),
        }
        let elf = Headers::read(size, read).map_err(|e| malformed(&shown, &e))?;
        let h = &elf.header;
        if h.e_machine != ELF_MACHINE {
            return Err(LoadError::ForeignArch { path: shown, machine: machine_name(h.e_machine) });
        }
        let interp = interp_of(&elf.program_headers, size, read, &shown)?;
        // A dynamically linked PIE goes where the kernel puts one without
        // ASLR; so does a static PIE.
        let bias = match h.e_type {
            ET_EXEC => 0,
            ET_DYN => pie_bias(&elf.program_headers),
            t => return Err(LoadError::NotExecutable { path: shown, kind: goblin::elf::header::et_to_str(t).into() }),
        };
        let segments = load_segments(&elf.program_headers, size, bias, &shown)?;
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
fn interp_of(
    program_headers: &[ProgramHeader],
    size: u64,
    read: &mut ReadAt,
    shown: &str,
) -> Result<Option<String>, LoadError> {
    let Some(ph) = program_headers.iter().find(|p| p.p_type == PT_INTERP) else { return Ok(None) };
    let bad = |detail: &str| LoadError::BadInterp { path: shown.to_string(), detail: detail.into() };
    if ph.p_filesz < 2 || ph.p_filesz > 4096 {
        return Err(bad("its size is out of range"));
    }
    let end = ph.p_offset.checked_add(ph.p_filesz).ok_or_else(|| bad("it lies past the end of the file"))?;
    if end > size {
        return Err(bad("it lies past the end of the file"));
    }
    let mut raw = vec![0u8; ph.p_filesz as usize];
    read(ph.p_offset, &mut raw).map_err(|_| bad("it lies past the end of the file"))?;
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
fn load_segments(
    program_headers: &[ProgramHeader],
    size: u64,
    bias: u64,
    shown: &str,
) -> Result<Vec<Segment>, LoadError> {
    let mut segments = Vec::new();
    for (index, ph) in program_headers.iter().enumerate().filter(|(_, p)| p.p_type == PT_LOAD) {
        let bad = |problem| LoadError::BadSegment {
            path: shown.to_string(),
            index,
            start: ph.p_vaddr,
            end: ph.p_vaddr.wrapping_add(ph.p_memsz),
            problem,
        };
        if ph.p_offset.checked_add(ph.p_filesz).is_none_or(|e| e > size) {
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
fn alloc_sections(elf: &Headers, bias: u64, segments: &[Segment]) -> Vec<Section> {
    elf.section_headers
        .iter()
        .filter(|s| s.sh_flags & SHF_ALLOC as u64 != 0 && s.sh_addr != 0 && s.sh_size != 0)
        .filter(|s| !(s.sh_flags & SHF_TLS as u64 != 0 && s.sh_type == SHT_NOBITS))
        .filter_map(|s| {
            let name = elf.name(s)?;
            let addr = s.sh_addr.checked_add(bias)?;
            addr.checked_add(s.sh_size)?;
            // Names reach the summary and reports: tamed.
            Some(Section { name: crate::text::tame_n(name, 64), addr, size: s.sh_size })
        })
        .filter(|s| segments.iter().any(|g| s.addr >= g.vaddr && s.addr < g.end()))
        .collect()
}

/// Reads exactly `buf.len()` bytes of a file at an offset.
type ReadAt<'a> = dyn FnMut(u64, &mut [u8]) -> io::Result<()> + 'a;

/// A reader over bytes held in memory.
fn slice_reader(bytes: &[u8]) -> impl FnMut(u64, &mut [u8]) -> io::Result<()> + '_ {
    move |off, buf| {
        let src = usize::try_from(off)
            .ok()
            .and_then(|o| bytes.get(o..o.checked_add(buf.len())?))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// The NUL-terminated string at `off` of an ELF string table, if it is
/// UTF-8.
pub fn string_at(table: &[u8], off: usize) -> Option<&str> {
    let rest = table.get(off..)?;
    std::str::from_utf8(&rest[..rest.iter().position(|&b| b == 0)?]).ok()
}

/// Section names, symbol tables and section header tables larger than
/// this are not read.
const MAX_TABLE: u64 = 64 << 20;

/// An ELF file's headers (the ELF header, program and section headers, the
/// section names), read without the rest of the file: exec and symbol
/// lookup need a few pages of a 30 MiB compiler, not all of it.
pub struct Headers {
    pub header: Header,
    pub ctx: Ctx,
    pub program_headers: Vec<ProgramHeader>,
    /// Empty where the file has none, or they lie outside it (Linux's exec
    /// never reads them).
    pub section_headers: Vec<SectionHeader>,
    /// The section names' string table.
    names: Vec<u8>,
}

impl Headers {
    /// Reads the headers of a 64-bit little-endian ELF file of `size`
    /// bytes; the error says what is wrong.
    pub fn read(size: u64, read: &mut ReadAt) -> Result<Headers, String> {
        let mut raw = [0u8; 64];
        if size < raw.len() as u64 {
            return Err("the ELF header is truncated".into());
        }
        read(0, &mut raw).map_err(|e| e.to_string())?;
        // What x86-64 and arm64 Linux run (elf_check_arch reads the header
        // in the CPU's byte order).
        if raw[goblin::elf::header::EI_DATA] != goblin::elf::header::ELFDATA2LSB {
            return Err("not a little-endian ELF file".into());
        }
        let header = goblin::elf::Elf::parse_header(&raw).map_err(|e| e.to_string())?;
        let ctx = Ctx::new(Container::Big, Endian::Little);
        let table = |off: u64, count: u64, entsize: u64, read: &mut ReadAt| -> Option<Vec<u8>> {
            let len = count.checked_mul(entsize)?;
            if off.checked_add(len)? > size {
                return None;
            }
            let mut buf = vec![0u8; len as usize];
            read(off, &mut buf).ok()?;
            Some(buf)
        };
        let phnum = u64::from(header.e_phnum);
        let phsize = ProgramHeader::size(ctx) as u64;
        let raw = table(header.e_phoff, phnum, phsize, read)
            .ok_or_else(|| format!("{phnum} program headers at {:#x} lie past the end of the file", header.e_phoff))?;
        let program_headers = ProgramHeader::parse(&raw, 0, phnum as usize, ctx).map_err(|e| e.to_string())?;
        let shsize = SectionHeader::size(ctx) as u64;
        let mut section_headers = Vec::new();
        if header.e_shoff != 0 && u64::from(header.e_shentsize) == shsize {
            // More than SHN_LORESERVE sections: the count is the first
            // header's sh_size.
            let count = match header.e_shnum {
                0 => table(header.e_shoff, 1, shsize, read)
                    .and_then(|b| SectionHeader::parse_from(&b, 0, 1, ctx).ok())
                    .and_then(|h| h.first().map(|h| h.sh_size))
                    .unwrap_or(0),
                n => u64::from(n),
            };
            if let Some(raw) = table(header.e_shoff, count.min(size / shsize).min(MAX_TABLE / shsize), shsize, read) {
                section_headers =
                    SectionHeader::parse_from(&raw, 0, raw.len() / shsize as usize, ctx).unwrap_or_default();
            }
        }
        let mut elf = Headers { header, ctx, program_headers, section_headers, names: Vec::new() };
        let index = match u32::from(elf.header.e_shstrndx) {
            SHN_XINDEX => elf.section_headers.first().map_or(0, |h| h.sh_link as usize),
            i => i as usize,
        };
        if let Some(sh) = elf.section_headers.get(index).cloned() {
            elf.names = elf.section(&sh, size, read).unwrap_or_default();
        }
        Ok(elf)
    }

    /// Section `sh`'s name.
    pub fn name(&self, sh: &SectionHeader) -> Option<&str> {
        string_at(&self.names, sh.sh_name)
    }

    /// Section `sh`'s bytes, if it has some in the file (not NOBITS, not
    /// past its end, at most 64 MiB).
    pub fn section(&self, sh: &SectionHeader, size: u64, read: &mut ReadAt) -> Option<Vec<u8>> {
        if sh.sh_type == SHT_NOBITS || sh.sh_size > MAX_TABLE || sh.sh_offset.checked_add(sh.sh_size)? > size {
            return None;
        }
        let mut buf = vec![0u8; sh.sh_size as usize];
        read(sh.sh_offset, &mut buf).ok()?;
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This test's own executable: a PIE of the host's architecture with
    /// an interpreter, sections and a symbol table, tens of MiB in a
    /// debug build.
    fn me() -> (String, Vec<u8>) {
        let path = std::env::current_exe().unwrap();
        (path.display().to_string(), std::fs::read(&path).unwrap())
    }

    #[test]
    fn an_image_is_read_from_its_headers_alone_and_agrees_with_a_full_parse() {
        let (path, bytes) = me();
        let mut read_bytes = 0u64;
        let mut inner = slice_reader(&bytes);
        let image = Image::read(path, bytes.len() as u64, &mut |off, buf| {
            read_bytes += buf.len() as u64;
            inner(off, buf)
        })
        .unwrap();
        // The headers, the section names and PT_INTERP: a few KiB.
        assert!(read_bytes < 64 << 10, "{read_bytes} of {} bytes read", bytes.len());
        let full = goblin::elf::Elf::parse(&bytes).unwrap();
        let loads: Vec<u64> = full.program_headers.iter().filter(|p| p.p_type == PT_LOAD).map(|p| p.p_offset).collect();
        let mut seen: Vec<u64> = image.segments.iter().map(|s| s.offset).collect();
        seen.sort_unstable();
        assert_eq!(seen, loads);
        assert_eq!(image.interp.as_deref(), full.interpreter);
        assert_eq!(image.phnum, full.program_headers.len() as u64);
        let names: Vec<&str> = image.sections.iter().map(|s| s.name.as_str()).collect();
        for want in [".text", ".rodata", ".data", ".bss"] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        let alloc = full
            .section_headers
            .iter()
            .filter(|s| s.sh_flags & SHF_ALLOC as u64 != 0 && s.sh_addr != 0 && s.sh_size != 0)
            .filter(|s| !(s.sh_flags & SHF_TLS as u64 != 0 && s.sh_type == SHT_NOBITS))
            .count();
        assert_eq!(image.sections.len(), alloc);
    }

    #[test]
    fn headers_past_the_end_of_the_file_are_refused_and_sections_past_it_ignored() {
        let (path, bytes) = me();
        // Program headers cut off: not loadable.
        let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
        let cut: Arc<[u8]> = bytes[..phoff + 10].into();
        let e = Image::from_bytes(path.clone(), cut).unwrap_err();
        assert!(e.to_string().contains("program headers at"), "{e}");
        // Section headers cut off: Linux's exec never reads them.
        let mut b = bytes.clone();
        b[40..48].copy_from_slice(&(bytes.len() as u64 - 8).to_le_bytes());
        let image = Image::from_bytes(path.clone(), b.into()).unwrap();
        assert!(image.sections.is_empty());
        // Big-endian: what elf_check_arch refuses.
        let mut b = bytes.clone();
        b[goblin::elf::header::EI_DATA] = goblin::elf::header::ELFDATA2MSB;
        assert!(Image::from_bytes(path, b.into()).unwrap_err().to_string().contains("not a little-endian ELF"));
    }
}
