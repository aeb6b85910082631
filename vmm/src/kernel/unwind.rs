//! Call stacks of faults, unwound from the VMM: the faulting thread's
//! registers, then each caller's, by the mapped ELF objects' `.eh_frame`
//! CFI (frame pointers where an object has none), each frame named from
//! the object's symbol tables and, where it has DWARF, its line table.
//!
//! The guest owns its stack, its ELF files and their names. Its memory is
//! only peeked (pages already resident, never faulted in, so the timeline
//! is the same with or without stacks), every walk is bounded, and a frame
//! that makes no sense ends the stack, never the run.

use std::collections::HashMap;
use std::sync::Arc;

use gimli::{
    BaseAddresses, CfaRule, EhFrame, EhFrameOffset, LittleEndian, Register, RegisterRule, UnwindContext, UnwindSection,
};

use super::symbols::{self, SymTable};
use super::KernelState;
use crate::arch::{UserRegs, PAGE_SIZE};
use crate::mm::{Backing, FileData, FileId, FileRef, MmId, Phys, Vma};
use crate::timeline::{Frame, Stack};

/// Frames in a stack at most (the faulting one included).
pub(crate) const MAX_DEPTH: usize = 128;
/// FDEs indexed per object at most: a hostile `.eh_frame` of a few hundred
/// MiB holds no more than this many.
const MAX_FDES: usize = 1 << 21;
/// Frame names kept; past this the cache starts again.
const MAX_NAMES: usize = 1 << 16;
/// A source file's name as shown (`touch.c:12`), at most.
const MAX_SOURCE: usize = 200;

use crate::arch::regs::dwarf::{CALLEE_SAVED, COUNT, FP, PC, RA, SP};

/// Registers by DWARF number (the return address column holds the
/// frame's instruction); `None` where a frame does not know one.
type Regs = [Option<u64>; COUNT];

/// One object's unwind and line tables.
struct Object {
    syms: Arc<SymTable>,
    cfi: Option<Cfi>,
    /// Behind a lock of its own: its lazily parsed units are not Sync,
    /// and the kernel's state moves between threads.
    lines: Option<std::sync::Mutex<addr2line::Context<gimli::EndianArcSlice<gimli::RunTimeEndian>>>>,
}

/// An object's `.eh_frame`, with its FDEs sorted by address.
struct Cfi {
    data: Vec<u8>,
    bases: BaseAddresses,
    /// (start, end, offset in `data`) of each FDE.
    fdes: Vec<(u64, u64, usize)>,
}

/// A frame's symbol and source line.
type Names = (Arc<str>, Option<Arc<str>>);

/// The unwinder's caches (each file's symbols, CFI and line tables, the
/// names found), and the fault being resolved.
pub(crate) struct Unwinder {
    symbols: super::symbols::Symbols,
    objects: HashMap<FileId, Option<Arc<Object>>>,
    /// (symbol, source) per (file, offset looked up, caller or not).
    names: HashMap<(FileId, u64, bool), Names>,
    ctx: Box<UnwindContext<usize>>,
    /// The registers of the fault being resolved, and its stack once
    /// unwound (a fault may record several rows: fault-around).
    regs: Option<Regs>,
    stack: Option<Option<Stack>>,
}

impl Default for Unwinder {
    fn default() -> Self {
        Unwinder {
            symbols: Default::default(),
            objects: HashMap::new(),
            names: HashMap::new(),
            ctx: Box::new(UnwindContext::new()),
            regs: None,
            stack: None,
        }
    }
}

impl Unwinder {
    /// A guest page fault with these registers is being resolved: its rows
    /// get its stack.
    pub(crate) fn begin(&mut self, r: &UserRegs) {
        self.regs = Some(r.dwarf());
        self.stack = None;
    }

    /// The fault is resolved.
    pub(crate) fn end(&mut self) {
        self.regs = None;
        self.stack = None;
    }

    /// The name for `ip` in `vma` (which must hold it); `data` reads the
    /// VMA's file.
    pub(crate) fn symbol(&mut self, vma: &Vma, ip: u64, data: Option<&Arc<dyn FileData>>) -> Option<Arc<str>> {
        self.symbols.lookup(vma, ip, data)
    }

    /// Whether a fault with registers is being resolved.
    pub(crate) fn active(&self) -> bool {
        self.regs.is_some()
    }

    /// `file`'s tables, read the first time from `data` (the page cache's
    /// copy of the file).
    fn object(
        &mut self,
        file: &FileRef,
        data: Option<&Arc<dyn FileData>>,
        syms: Option<Arc<SymTable>>,
    ) -> Option<Arc<Object>> {
        self.objects
            .entry(file.id)
            .or_insert_with(|| {
                let syms = syms?;
                let bytes = symbols::read_file(data?)?;
                let elf = goblin::elf::Elf::parse(&bytes).ok()?;
                let cfi = Cfi::parse(&elf, &bytes);
                let lines = lines(&elf, &bytes).map(std::sync::Mutex::new);
                Some(Arc::new(Object { syms, cfi, lines }))
            })
            .clone()
    }
}

/// An ELF section's bytes, if the file holds them.
fn section<'a>(elf: &goblin::elf::Elf, bytes: &'a [u8], name: &str) -> Option<(&'a [u8], u64)> {
    let sh = elf.section_headers.iter().find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(name))?;
    if sh.sh_type == goblin::elf::section_header::SHT_NOBITS
        || sh.sh_flags & u64::from(goblin::elf::section_header::SHF_COMPRESSED) != 0
    {
        return None;
    }
    let start = usize::try_from(sh.sh_offset).ok()?;
    let end = start.checked_add(usize::try_from(sh.sh_size).ok()?)?;
    Some((bytes.get(start..end)?, sh.sh_addr))
}

impl Cfi {
    fn parse(elf: &goblin::elf::Elf, bytes: &[u8]) -> Option<Cfi> {
        let (data, addr) = section(elf, bytes, ".eh_frame")?;
        let mut bases = BaseAddresses::default().set_eh_frame(addr);
        if let Some((_, text)) = section(elf, bytes, ".text") {
            bases = bases.set_text(text);
        }
        if let Some((_, got)) = section(elf, bytes, ".got") {
            bases = bases.set_got(got);
        }
        let data = data.to_vec();
        let eh = EhFrame::new(&data, LittleEndian);
        let mut fdes = Vec::new();
        let mut entries = eh.entries(&bases);
        // A bad entry ends the index: what came before it stays usable.
        while let Ok(Some(entry)) = entries.next() {
            if let gimli::CieOrFde::Fde(partial) = entry {
                let Ok(fde) = partial.parse(EhFrame::cie_from_offset) else { continue };
                let start = fde.initial_address();
                if let Some(end) = start.checked_add(fde.len()).filter(|&e| e > start) {
                    fdes.push((start, end, fde.offset()));
                }
                if fdes.len() >= MAX_FDES {
                    break;
                }
            }
        }
        fdes.sort_unstable();
        Some(Cfi { data, bases, fdes })
    }

    /// The caller's registers from `regs`, at ELF address `svma`: `None`
    /// if no FDE covers it (`Some(None)`: one does, and the stack ends).
    fn step(
        &self,
        ctx: &mut UnwindContext<usize>,
        svma: u64,
        regs: &Regs,
        peek: &dyn Fn(u64) -> Option<u64>,
    ) -> Option<Option<Regs>> {
        let i = self.fdes.partition_point(|f| f.0 <= svma).checked_sub(1)?;
        let (_, end, off) = self.fdes[i];
        if svma >= end {
            return None;
        }
        let eh = EhFrame::new(&self.data, LittleEndian);
        let Ok(fde) = eh.fde_from_offset(&self.bases, EhFrameOffset(off), EhFrame::cie_from_offset) else {
            return Some(None);
        };
        let Ok(row) = fde.unwind_info_for_address(&eh, &self.bases, ctx, svma) else { return Some(None) };
        let cfa = match row.cfa() {
            CfaRule::RegisterAndOffset { register, offset } => {
                regs.get(register.0 as usize).copied().flatten().and_then(|v| v.checked_add_signed(*offset))
            }
            // DWARF expressions (PLT stubs, realigned stacks): not followed.
            CfaRule::Expression(_) => None,
        };
        let Some(cfa) = cfa else { return Some(None) };
        let mut next: Regs = [None; COUNT];
        for r in CALLEE_SAVED.into_iter().chain([RA]) {
            // No rule: a callee-saved register kept its value; the return
            // address is unknown (the stack's end).
            next[r] = match row.register(Register(r as u16)) {
                None | Some(RegisterRule::Undefined) if r == RA => None,
                None | Some(RegisterRule::SameValue) => regs[r],
                Some(RegisterRule::Undefined) => None,
                Some(RegisterRule::Offset(n)) => cfa.checked_add_signed(n).and_then(peek),
                Some(RegisterRule::ValOffset(n)) => cfa.checked_add_signed(n),
                Some(RegisterRule::Register(o)) => regs.get(o.0 as usize).copied().flatten(),
                _ => None,
            };
        }
        next[SP] = Some(cfa);
        // The caller runs from the return address.
        next[PC] = next[RA];
        Some(Some(next))
    }
}

/// The caller's registers by the frame-pointer chain: the frame pointer
/// points at the saved one, the return address above it (x86-64's RBP
/// chain and arm64's frame records alike).
fn step_fp(regs: &Regs, peek: &dyn Fn(u64) -> Option<u64>) -> Option<Regs> {
    let (fp, sp) = (regs[FP]?, regs[SP]?);
    if fp < sp || fp % 8 != 0 {
        return None;
    }
    let mut next: Regs = [None; COUNT];
    next[FP] = Some(peek(fp)?);
    next[RA] = Some(peek(fp.checked_add(8)?)?);
    next[SP] = Some(fp.checked_add(16)?);
    next[PC] = next[RA];
    Some(next)
}

/// The object's DWARF line tables, if it has them.
fn lines(
    elf: &goblin::elf::Elf,
    bytes: &[u8],
) -> Option<addr2line::Context<gimli::EndianArcSlice<gimli::RunTimeEndian>>> {
    section(elf, bytes, ".debug_line")?;
    let dwarf = gimli::Dwarf::load(|id| -> Result<_, gimli::Error> {
        let data: Arc<[u8]> = section(elf, bytes, id.name()).map_or_else(|| Arc::from(&[][..]), |(d, _)| Arc::from(d));
        Ok(gimli::EndianArcSlice::new(data, gimli::RunTimeEndian::Little))
    })
    .ok()?;
    addr2line::Context::from_dwarf(dwarf).ok()
}

/// `dir/file.c:12` as `file.c:12`, tamed.
fn source_of(loc: addr2line::Location<'_>) -> Option<Arc<str>> {
    let file = loc.file?;
    let base = file.rsplit('/').next().unwrap_or(file);
    let s = match loc.line {
        Some(l) => format!("{base}:{l}"),
        None => base.to_string(),
    };
    Some(Arc::from(crate::text::tame_n(&s, MAX_SOURCE)))
}

/// Eight bytes of user memory, if resident.
fn peek_u64(space: &crate::mm::AddressSpace, phys: &Phys, addr: u64) -> Option<u64> {
    let mut b = [0u8; 8];
    super::mm::uaccess::peek(space, phys, addr, &mut b).then(|| u64::from_le_bytes(b))
}

impl KernelState {
    /// The stack of the fault being resolved in address space `mm`, if one
    /// with registers is and stacks are wanted; unwound once per fault.
    pub(crate) fn fault_stack(&mut self, mm: MmId) -> Option<Stack> {
        if !self.cfg.stacks {
            return None;
        }
        if let Some(s) = &self.unwind.stack {
            return s.clone();
        }
        let regs = self.unwind.regs?;
        let s = self.unwind_from(mm, regs);
        self.unwind.stack = Some(s.clone());
        s
    }

    fn unwind_from(&mut self, mm: MmId, mut regs: Regs) -> Option<Stack> {
        let mut frames: Vec<Frame> = Vec::new();
        while frames.len() < MAX_DEPTH {
            let Some(ip) = regs[PC].filter(|&ip| ip != 0) else { break };
            // A caller is looked up by its call, the byte before the
            // return address (a call may end its function).
            let caller = !frames.is_empty();
            let at = if caller { ip - 1 } else { ip };
            let Some(vma) = self.mm.get(mm).and_then(|m| m.vmas.find(at)).cloned() else { break };
            let obj = self.object_at(&vma);
            let off = match &vma.backing {
                Backing::File { pgoff, .. } => Some(at - vma.start + pgoff * PAGE_SIZE),
                Backing::Anon => None,
            };
            frames.push(self.frame_name(&vma, obj.as_deref(), off, ip, caller));
            let svma = obj.as_ref().zip(off).and_then(|(o, off)| o.syms.vaddr(off));
            let Some(m) = self.mm.get(mm) else { break };
            let (space, phys) = (&m, &self.phys);
            let peek = |a: u64| peek_u64(space, phys, a);
            let cfi = obj.as_ref().and_then(|o| o.cfi.as_ref()).zip(svma);
            let next = match cfi.and_then(|(cfi, svma)| cfi.step(&mut self.unwind.ctx, svma, &regs, &peek)) {
                Some(n) => n,
                None => step_fp(&regs, &peek),
            };
            // Each caller's frame lies above its callee's: a stack that does
            // not climb is a loop or garbage, and ends here.
            match next {
                Some(n) if n[SP] > regs[SP] => regs = n,
                _ => break,
            }
        }
        (!frames.is_empty()).then(|| Stack { id: 0, frames: frames.into() })
    }

    /// The tables of the file `vma` maps, if it maps one.
    fn object_at(&mut self, vma: &Vma) -> Option<Arc<Object>> {
        let Backing::File { file, .. } = &vma.backing else { return None };
        let data = self.phys.cache.get(&file.id).map(|c| c.data.clone());
        let syms = self.unwind.symbols.table(file, data.as_ref());
        self.unwind.object(file, data.as_ref(), syms)
    }

    /// Frame `ip`'s names; `off` is the file offset looked up (the call's,
    /// for a caller).
    fn frame_name(&mut self, vma: &Vma, obj: Option<&Object>, off: Option<u64>, ip: u64, caller: bool) -> Frame {
        let (Some(obj), Some(off), Backing::File { file, .. }) = (obj, off, &vma.backing) else {
            return Frame { ip, symbol: Arc::from(format!("[anon]+{:#x}", ip - vma.start)), source: None };
        };
        let key = (file.id, off, caller);
        if let Some((symbol, source)) = self.unwind.names.get(&key) {
            return Frame { ip, symbol: symbol.clone(), source: source.clone() };
        }
        let symbol: Arc<str> = Arc::from(obj.syms.name_shown(off, u64::from(caller)).unwrap_or_else(|| "?".into()));
        let source = obj.lines.as_ref().zip(obj.syms.vaddr(off)).and_then(|(l, svma)| {
            let l = l.lock().unwrap_or_else(|p| p.into_inner());
            l.find_location(svma).ok().flatten().and_then(source_of)
        });
        if self.unwind.names.len() >= MAX_NAMES {
            self.unwind.names.clear();
        }
        self.unwind.names.insert(key, (symbol.clone(), source.clone()));
        Frame { ip, symbol, source }
    }
}
