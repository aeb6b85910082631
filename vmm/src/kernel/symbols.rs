//! Names for guest instruction addresses, as `perf trace --pf` shows them:
//! `function+0xoff` from the mapped ELF's symbol tables (.symtab, else
//! .dynsym), or `object+0xoff` where no symbol covers the address. Each
//! file's table is read once, from the page cache's copy of the file.

use std::collections::HashMap;
use std::sync::Arc;

use crate::arch::PAGE_SIZE;
use crate::loader::{string_at, Headers};
use crate::mm::{Backing, FileData, FileId, FileRef, Vma};

/// Files larger than this are not parsed for symbols.
const MAX_FILE: u64 = 256 << 20;

/// One file's symbols.
pub(crate) struct SymTable {
    /// The file's name, for addresses no symbol covers.
    object: String,
    /// PT_LOAD segments: file offset, virtual address, file size.
    loads: Vec<(u64, u64, u64)>,
    /// Functions and objects: start, size, and where the name is in
    /// `strings`; sorted by start. Names are made printable only when one
    /// is shown: a library has thousands, a run shows a few.
    syms: Vec<(u64, u64, u32)>,
    /// The symbol table's string table.
    strings: Vec<u8>,
}

impl SymTable {
    /// Reads `data`'s symbols: its headers, then .symtab and its strings
    /// (.dynsym and .dynstr where it has no .symtab), not the whole file.
    pub(super) fn read(object: &str, data: &dyn FileData) -> Option<SymTable> {
        use goblin::elf::section_header::{SHT_DYNSYM, SHT_SYMTAB};
        let size = data.size();
        let mut read = |off: u64, buf: &mut [u8]| data.read_exact_at(off, buf);
        let elf = Headers::read(size, &mut read).ok()?;
        let loads = elf
            .program_headers
            .iter()
            .filter(|p| p.p_type == goblin::elf::program_header::PT_LOAD)
            .map(|p| (p.p_offset, p.p_vaddr, p.p_filesz))
            .collect();
        let mut syms = Vec::new();
        let mut names = Vec::new();
        let table = |kind| elf.section_headers.iter().find(|s| s.sh_type == kind && s.sh_size > 0);
        if let Some(sh) = table(SHT_SYMTAB).or_else(|| table(SHT_DYNSYM)) {
            let strings = elf.section_headers.get(sh.sh_link as usize).and_then(|s| elf.section(s, size, &mut read));
            let raw = elf.section(sh, size, &mut read);
            if let (Some(raw), Some(strings)) = (raw, strings) {
                let count = raw.len() / goblin::elf::sym::Sym::size(elf.ctx.container);
                for s in goblin::elf::sym::Symtab::parse(&raw, 0, count, elf.ctx).ok()?.iter() {
                    // Functions, objects, and untyped global labels (an
                    // assembly `_start`).
                    let untyped_global =
                        s.st_type() == goblin::elf::sym::STT_NOTYPE && s.st_bind() == goblin::elf::sym::STB_GLOBAL;
                    if s.st_value == 0
                        || !(s.is_function() || s.st_type() == goblin::elf::sym::STT_OBJECT || untyped_global)
                    {
                        continue;
                    }
                    if string_at(&strings, s.st_name).is_none_or(str::is_empty) {
                        continue;
                    }
                    syms.push((s.st_value, s.st_size, s.st_name as u32));
                }
                names = strings;
            }
        }
        syms.sort_unstable_by_key(|s| s.0);
        Some(SymTable { object: tame(object), loads, syms, strings: names })
    }

    /// The name of the byte at file offset `off`.
    fn name(&self, off: u64) -> Option<String> {
        self.name_shown(off, 0)
    }

    /// The ELF virtual address of file offset `off`, through the PT_LOAD
    /// segment holding it.
    pub(super) fn vaddr(&self, off: u64) -> Option<u64> {
        let &(p_off, p_vaddr, _) = self.loads.iter().find(|&&(o, _, sz)| o <= off && off < o + sz.max(1))?;
        Some(p_vaddr + (off - p_off))
    }

    /// The name of the function holding file offset `off`, with the offset
    /// of `off + shown` into it: a caller's frame is named by its call
    /// (the byte before the return address) and shows the return address.
    pub(super) fn name_shown(&self, off: u64, shown: u64) -> Option<String> {
        let vaddr = self.vaddr(off)?;
        let i = self.syms.partition_point(|s| s.0 <= vaddr);
        if let Some(&(start, size, name)) = i.checked_sub(1).map(|i| &self.syms[i]) {
            if vaddr < start + size.max(1) {
                let name = tame(string_at(&self.strings, name as usize).unwrap_or_default());
                return Some(format!("{name}+{:#x}", vaddr + shown - start));
            }
        }
        Some(format!("{}+{:#x}", self.object, vaddr + shown))
    }
}

/// A name from an untrusted ELF, fit for one line of a report: control
/// bytes escaped, at most 200 characters.
fn tame(name: &str) -> String {
    name.chars().take(200).flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] }).collect()
}

/// Every file's table, read on first use.
#[derive(Default)]
pub(crate) struct Symbols {
    tables: HashMap<FileId, Option<Arc<SymTable>>>,
}

impl Symbols {
    /// The name for `ip` in `vma` (which must hold it); `data` reads the
    /// VMA's file.
    pub(crate) fn lookup(&mut self, vma: &Vma, ip: u64, data: Option<&Arc<dyn FileData>>) -> Option<Arc<str>> {
        let Backing::File { file, pgoff } = &vma.backing else { return None };
        let table = self.table(file, data)?;
        let off = ip - vma.start + pgoff * PAGE_SIZE;
        table.name(off).map(Arc::from)
    }

    /// `file`'s table, read from `data` the first time.
    pub(super) fn table(&mut self, file: &FileRef, data: Option<&Arc<dyn FileData>>) -> Option<Arc<SymTable>> {
        self.tables
            .entry(file.id)
            .or_insert_with(|| {
                let data = data?;
                if data.size() > MAX_FILE {
                    return None;
                }
                let object = file.path.rsplit('/').next().unwrap_or(&file.path);
                SymTable::read(object, &**data).map(Arc::new)
            })
            .clone()
    }
}

/// A mapped file's bytes, read from the page cache's copy of it; `None`
/// past [`MAX_FILE`].
pub(super) fn read_file(data: &Arc<dyn FileData>) -> Option<Vec<u8>> {
    let size = data.size();
    if size > MAX_FILE {
        return None;
    }
    let mut bytes = vec![0u8; size as usize];
    let mut done = 0;
    while done < bytes.len() {
        match data.read_at(done as u64, &mut bytes[done..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => done += n,
        }
    }
    bytes.truncate(done);
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A file in memory that counts the bytes read from it.
    struct Counted(Vec<u8>, AtomicU64);

    impl FileData for Counted {
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
            let rest = self.0.get(offset as usize..).unwrap_or_default();
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.1.fetch_add(n as u64, Ordering::Relaxed);
            Ok(n)
        }
        fn write_at(&self, _: u64, _: &[u8]) -> std::io::Result<()> {
            unreachable!()
        }
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        fn memory_only(&self) -> bool {
            false
        }
    }

    #[test]
    fn symbols_are_read_from_the_symbol_table_alone() {
        let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let elf = goblin::elf::Elf::parse(&bytes).unwrap();
        let want = elf
            .syms
            .iter()
            .filter(|s| s.st_value != 0 && (s.is_function() || s.st_type() == goblin::elf::sym::STT_OBJECT))
            .filter(|s| elf.strtab.get_at(s.st_name).is_some_and(|n| !n.is_empty()))
            .count();
        let file = Counted(bytes.clone(), AtomicU64::new(0));
        let table = SymTable::read("me", &file).unwrap();
        let read = file.1.load(Ordering::Relaxed);
        // .symtab and .strtab, not the code and debug info around them.
        use goblin::elf::section_header::{SHT_STRTAB, SHT_SYMTAB};
        let tables = elf.section_headers.iter().filter(|s| s.sh_type == SHT_SYMTAB || s.sh_type == SHT_STRTAB);
        let symtab: u64 = tables.map(|s| s.sh_size).sum();
        assert!(read <= symtab + (64 << 10), "{read} bytes read, the tables hold {symtab}, the file {}", file.0.len());
        let untyped = elf
            .syms
            .iter()
            .filter(|s| s.st_value != 0 && s.st_type() == goblin::elf::sym::STT_NOTYPE)
            .filter(|s| s.st_bind() == goblin::elf::sym::STB_GLOBAL)
            .filter(|s| elf.strtab.get_at(s.st_name).is_some_and(|n| !n.is_empty()))
            .count();
        assert_eq!(table.syms.len(), want + untyped);
        let name = |s: &(u64, u64, u32)| string_at(&table.strings, s.2 as usize).unwrap_or_default().to_string();
        let f = table.syms.iter().find(|s| name(s).contains("symbols_are_read_from_the_symbol_table_alone")).unwrap();
        assert!(f.1 > 0);
        // Shown as function+offset, from its file offset.
        let (p_off, p_vaddr, _) = table.loads.iter().copied().find(|&(_, v, sz)| v <= f.0 && f.0 < v + sz).unwrap();
        let shown = table.name(f.0 - p_vaddr + p_off + 3).unwrap();
        assert_eq!(shown, format!("{}+0x3", name(f)));
    }
}
