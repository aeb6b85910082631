//! The vDSO image exec maps at [vdso]: a small shared object, built once
//! from the architecture's entries (`arch::vdso`) and laid out as Linux
//! links its own (arch/arm64/kernel/vdso/vdso.lds.S): one read-execute
//! PT_LOAD from offset 0 holding the headers, `.hash` (SysV), `.dynsym`,
//! `.dynstr`, the version sections, a "Linux" note with the release, the
//! text and `.dynamic`; soname `linux-vdso.so.1`. Every function makes
//! its system call, as the vDSO's fallback paths do, so faultline sees and
//! serves each call like any other.

use std::sync::OnceLock;

use object::elf;
use object::write::elf::{FileHeader, ProgramHeader, SectionHeader, Sym, Verdef, Writer};
use object::Endianness;

use crate::arch::vdso::{Code, Entry};
use crate::arch::SyscallAbi;
use crate::kernel::syscalls::{by_name, system::RELEASE};

const SONAME: &[u8] = b"linux-vdso.so.1";

/// What a vDSO is built from: an architecture's facts.
struct Spec {
    machine: u16,
    abi: SyscallAbi,
    version: &'static str,
    entries: &'static [Entry],
    code: fn(&Entry, u16) -> Code,
}

/// This host's architecture.
const NATIVE: Spec = Spec {
    machine: crate::arch::regs::ELF_MACHINE,
    abi: crate::arch::SYSCALL_ABI,
    version: crate::arch::vdso::VERSION,
    entries: crate::arch::vdso::ENTRIES,
    code: crate::arch::vdso::entry_code,
};

/// A built vDSO: its bytes (offset = address from the mapping's start)
/// and where each function is.
pub(crate) struct Vdso {
    pub(crate) bytes: Vec<u8>,
    /// Per entry: the syscall it makes, and its symbol's offset.
    entries: Vec<(&'static str, u64)>,
}

impl Vdso {
    /// The offset of the function that makes `syscall` (by the syscall
    /// table's name), if the vDSO has one.
    pub(crate) fn entry_for(&self, syscall: &str) -> Option<u64> {
        self.entries.iter().find(|e| e.0 == syscall).map(|e| e.1)
    }
}

/// The architecture's vDSO, or `None` where it exports nothing.
pub(crate) fn image() -> Option<&'static Vdso> {
    static IMAGE: OnceLock<Option<Vdso>> = OnceLock::new();
    IMAGE.get_or_init(|| (!NATIVE.entries.is_empty()).then(|| build(&NATIVE))).as_ref()
}

/// LINUX_VERSION_CODE of the release uname reports ("6.13.0-…").
fn version_code() -> u32 {
    let mut parts = RELEASE.split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    (next() << 16) | (next().min(255) << 8) | next().min(255)
}

/// The "Linux" note Linux puts in its vDSO (ELFNOTE_START(Linux, 0, "a")).
fn linux_note() -> Vec<u8> {
    let mut n = Vec::with_capacity(24);
    for w in [6u32, 4, 0] {
        n.extend_from_slice(&w.to_le_bytes());
    }
    n.extend_from_slice(b"Linux\0\0\0");
    n.extend_from_slice(&version_code().to_le_bytes());
    n
}

fn build(spec: &Spec) -> Vdso {
    let entries = spec.entries;
    // An entry naming a call the table lacks is a bug in arch's list,
    // caught by the unit tests on every host.
    let codes: Vec<Code> = entries
        .iter()
        .map(|e| {
            let nr =
                by_name(e.syscall).and_then(|s| s.nrs.of(spec.abi)).expect("a vDSO entry's syscall is in the table");
            (spec.code)(e, nr as u16)
        })
        .collect();
    let note = linux_note();

    let mut bytes = Vec::new();
    let mut w = Writer::new(Endianness::Little, true, &mut bytes);

    // Names and indices first, as the writer needs them before layout.
    let soname = w.add_dynamic_string(SONAME);
    let version = w.add_dynamic_string(spec.version.as_bytes());
    let names: Vec<_> = entries.iter().map(|e| w.add_dynamic_string(e.symbol.as_bytes())).collect();
    w.reserve_null_section_index();
    w.reserve_hash_section_index();
    w.reserve_dynsym_section_index();
    w.reserve_dynstr_section_index();
    w.reserve_gnu_versym_section_index();
    w.reserve_gnu_verdef_section_index();
    let note_name = w.add_section_name(b".note");
    w.reserve_section_index();
    let text_name = w.add_section_name(b".text");
    let text_index = w.reserve_section_index();
    w.reserve_dynamic_section_index();
    w.reserve_shstrtab_section_index();
    w.reserve_null_dynamic_symbol_index();
    for _ in entries {
        w.reserve_dynamic_symbol_index();
    }
    let symbol_count = 1 + entries.len() as u32;
    let dynamic_count = 10;

    // Layout: everything loaded, in vdso.lds's order, then the section
    // headers (which ride along in the mapped page).
    w.reserve_file_header();
    w.reserve_program_headers(3);
    let hash_at = w.reserve_hash(symbol_count, symbol_count);
    let dynsym_at = w.reserve_dynsym();
    let dynstr_at = w.reserve_dynstr();
    let versym_at = w.reserve_gnu_versym();
    let verdef_at = w.reserve_gnu_verdef(2, 2);
    let note_at = w.reserve(note.len(), 4);
    let mut text_at = Vec::new();
    for (i, c) in codes.iter().enumerate() {
        text_at.push(w.reserve(c.bytes.len(), if i == 0 { 16 } else { 4 }));
    }
    let text_start = text_at[0];
    let dynamic_at = w.reserve_dynamic(dynamic_count);
    let loaded_end = w.reserved_len();
    w.reserve_shstrtab();
    w.reserve_section_headers();

    let symbols: Vec<(&'static str, u64)> = entries
        .iter()
        .zip(&codes)
        .zip(&text_at)
        .map(|((e, c), &at)| (e.syscall, at as u64 + c.symbol_offset))
        .collect();
    let code_end = |i: usize| text_at[i] + codes[i].bytes.len();
    let text_end = code_end(codes.len() - 1);

    // Writing, in the same order.
    w.write_file_header(&FileHeader {
        os_abi: elf::ELFOSABI_NONE,
        abi_version: 0,
        e_type: elf::ET_DYN,
        e_machine: spec.machine,
        e_entry: 0,
        e_flags: 0,
    })
    .expect("a vDSO header");
    w.write_align_program_headers();
    let ph = |p_type, p_flags, at: usize, len: usize, align| ProgramHeader {
        p_type,
        p_flags,
        p_offset: at as u64,
        p_vaddr: at as u64,
        p_paddr: at as u64,
        p_filesz: len as u64,
        p_memsz: len as u64,
        p_align: align,
    };
    w.write_program_header(&ph(elf::PT_LOAD, elf::PF_R | elf::PF_X, 0, loaded_end, 4096));
    w.write_program_header(&ph(elf::PT_DYNAMIC, elf::PF_R, dynamic_at, dynamic_count * 16, 8));
    w.write_program_header(&ph(elf::PT_NOTE, elf::PF_R, note_at, note.len(), 4));

    w.write_hash(symbol_count, symbol_count, |i| (i > 0).then(|| elf::hash(entries[i as usize - 1].symbol.as_bytes())));
    w.write_null_dynamic_symbol();
    for (i, &(_, at)) in symbols.iter().enumerate() {
        w.write_dynamic_symbol(&Sym {
            name: Some(names[i]),
            section: Some(text_index),
            st_info: (elf::STB_GLOBAL << 4) | elf::STT_FUNC,
            st_other: elf::STV_DEFAULT,
            st_shndx: 0,
            st_value: at,
            st_size: (code_end(i) as u64) - at,
        });
    }
    w.write_dynstr();
    w.write_null_gnu_versym();
    for _ in entries {
        w.write_gnu_versym(2);
    }
    w.write_align_gnu_verdef();
    w.write_gnu_verdef(&Verdef {
        version: elf::VER_DEF_CURRENT,
        flags: elf::VER_FLG_BASE,
        index: 1,
        aux_count: 1,
        name: soname,
    });
    w.write_gnu_verdef(&Verdef { version: elf::VER_DEF_CURRENT, flags: 0, index: 2, aux_count: 1, name: version });
    w.write_align(4);
    w.write(&note);
    for (c, &at) in codes.iter().zip(&text_at) {
        // Padding between functions is zero bytes: no
        // caller ever lands there.
        w.pad_until(at);
        w.write(&c.bytes);
    }
    w.write_align_dynamic();
    let strsz = w.dynstr_len();
    w.write_dynamic(elf::DT_HASH, hash_at as u64);
    w.write_dynamic(elf::DT_STRTAB, dynstr_at as u64);
    w.write_dynamic(elf::DT_SYMTAB, dynsym_at as u64);
    w.write_dynamic(elf::DT_STRSZ, strsz as u64);
    w.write_dynamic(elf::DT_SYMENT, 24);
    w.write_dynamic_string(elf::DT_SONAME, soname);
    w.write_dynamic(elf::DT_VERSYM, versym_at as u64);
    w.write_dynamic(elf::DT_VERDEF, verdef_at as u64);
    w.write_dynamic(elf::DT_VERDEFNUM, 2);
    w.write_dynamic(elf::DT_NULL, 0);
    w.write_shstrtab();

    w.write_null_section_header();
    w.write_hash_section_header(hash_at as u64);
    w.write_dynsym_section_header(dynsym_at as u64, 1);
    w.write_dynstr_section_header(dynstr_at as u64);
    w.write_gnu_versym_section_header(versym_at as u64);
    w.write_gnu_verdef_section_header(verdef_at as u64);
    w.write_section_header(&SectionHeader {
        name: Some(note_name),
        sh_type: elf::SHT_NOTE,
        sh_flags: elf::SHF_ALLOC.into(),
        sh_addr: note_at as u64,
        sh_offset: note_at as u64,
        sh_size: note.len() as u64,
        sh_link: 0,
        sh_info: 0,
        sh_addralign: 4,
        sh_entsize: 0,
    });
    w.write_section_header(&SectionHeader {
        name: Some(text_name),
        sh_type: elf::SHT_PROGBITS,
        sh_flags: (elf::SHF_ALLOC | elf::SHF_EXECINSTR).into(),
        sh_addr: text_start as u64,
        sh_offset: text_start as u64,
        sh_size: (text_end - text_start) as u64,
        sh_link: 0,
        sh_info: 0,
        sh_addralign: 16,
        sh_entsize: 0,
    });
    w.write_dynamic_section_header(dynamic_at as u64);
    w.write_shstrtab_section_header();
    Vdso { bytes, entries: symbols }
}

#[cfg(test)]
mod tests {
    use super::*;
    use goblin::elf::Elf;

    fn arm64() -> Vdso {
        use crate::arch::aarch64::{regs::ELF_MACHINE, vdso};
        build(&Spec {
            machine: ELF_MACHINE,
            abi: SyscallAbi::Generic,
            version: vdso::VERSION,
            entries: vdso::ENTRIES,
            code: vdso::entry_code,
        })
    }

    /// A symbol found as glibc's dl_vdso_vsym finds it: through the SysV
    /// hash, then its version, which must be the one glibc asks for.
    fn lookup(elf: &Elf, bytes: &[u8], name: &str) -> Option<u64> {
        let dynamic = elf.dynamic.as_ref()?;
        let hash_at = dynamic.dyns.iter().find(|d| d.d_tag == u64::from(elf::DT_HASH))?.d_val as usize;
        let word = |i: usize| u32::from_le_bytes(bytes[hash_at + 4 * i..][..4].try_into().unwrap()) as usize;
        let (nbucket, nchain) = (word(0), word(1));
        let mut i = word(2 + elf::hash(name.as_bytes()) as usize % nbucket);
        while i != 0 {
            let sym = elf.dynsyms.get(i)?;
            if elf.dynstrtab.get_at(sym.st_name) == Some(name) {
                let versym = elf.versym.as_ref()?.get_at(i)?.vs_val;
                let verdef = elf.verdef.as_ref()?.iter().find(|d| d.vd_ndx == versym)?;
                let aux = verdef.iter().next()?;
                assert_eq!(elf.dynstrtab.get_at(aux.vda_name), Some("LINUX_2.6.39"));
                // glibc's VDSO_HASH for aarch64.
                assert_eq!(verdef.vd_hash, 123718537);
                return Some(sym.st_value);
            }
            i = word(2 + nbucket + i);
            assert!(i < nchain);
        }
        None
    }

    #[test]
    fn arm64s_vdso_is_a_shared_object_glibc_can_read() {
        let v = arm64();
        assert!(v.bytes.len() <= 4096, "{} bytes: more than [vdso]'s one page", v.bytes.len());
        let elf = Elf::parse(&v.bytes).unwrap();
        assert_eq!((elf.header.e_type, elf.header.e_machine), (elf::ET_DYN, 183));
        assert_eq!(elf.soname, Some("linux-vdso.so.1"));
        let load: Vec<_> = elf.program_headers.iter().filter(|p| p.p_type == elf::PT_LOAD).collect();
        assert_eq!(load.len(), 1);
        assert_eq!((load[0].p_offset, load[0].p_vaddr, load[0].p_flags), (0, 0, elf::PF_R | elf::PF_X));
        let dynamic = elf.program_headers.iter().find(|p| p.p_type == elf::PT_DYNAMIC).unwrap();
        assert_eq!(dynamic.p_flags, elf::PF_R, "read-only, as Linux's");
        assert!(dynamic.p_vaddr + dynamic.p_memsz <= load[0].p_memsz);
        let note = elf.iter_note_headers(&v.bytes).unwrap().next().unwrap().unwrap();
        assert_eq!((note.name, note.n_type, note.desc), ("Linux", 0, &0x060d00u32.to_le_bytes()[..]));

        let want = [
            ("__kernel_rt_sigreturn", 139, "rt_sigreturn"),
            ("__kernel_gettimeofday", 169, "gettimeofday"),
            ("__kernel_clock_gettime", 113, "clock_gettime"),
            ("__kernel_clock_getres", 114, "clock_getres"),
        ];
        for (name, nr, call) in want {
            let at = lookup(&elf, &v.bytes, name).unwrap_or_else(|| panic!("{name} not found")) as usize;
            assert_eq!(Some(at as u64), v.entry_for(call));
            let word = |i: usize| u32::from_le_bytes(v.bytes[at + 4 * i..][..4].try_into().unwrap());
            // mov x8, #nr; svc #0.
            assert_eq!((word(0), word(1)), (0xd280_0008 | nr << 5, 0xd400_0001), "{name}");
        }
        // The instruction before the trampoline is the `nop` unwinders expect.
        let tramp = v.entry_for("rt_sigreturn").unwrap() as usize;
        assert_eq!(v.bytes[tramp - 4..tramp], 0xd503_201fu32.to_le_bytes());
        assert_eq!(lookup(&elf, &v.bytes, "__kernel_time"), None);
    }

    #[test]
    fn an_architecture_without_entries_maps_no_image() {
        assert_eq!(image().is_some(), !crate::arch::vdso::ENTRIES.is_empty());
    }
}
