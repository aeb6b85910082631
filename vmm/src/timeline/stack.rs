//! Call stacks of faults: the frames the kernel side unwound from the
//! faulting thread's registers, each named from the mapped ELF's symbol
//! tables (and its DWARF line table where it has one). The recorder
//! numbers each distinct stack once, so a timeline refers to stacks by id
//! and writes each only once (the CSV's stacks table).

use std::sync::Arc;

/// One frame: an instruction address in the guest and its names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The faulting instruction (the innermost frame) or a return address
    /// (the others).
    pub ip: u64,
    /// `function+0xoff` from the symbol tables, or `object+0xoff` where no
    /// symbol covers the address (as the `symbol` column).
    pub symbol: Arc<str>,
    /// `file.c:12` from the object's DWARF line table, where it has one.
    pub source: Option<Arc<str>>,
}

impl Frame {
    /// The function alone, as a flame graph names the frame: `symbol`
    /// without its `+0xoff`.
    pub fn function(&self) -> &str {
        self.symbol.rsplit_once("+0x").map_or(&self.symbol, |(f, _)| f)
    }
}

/// A fault's call stack, innermost frame first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stack {
    /// Its number in the run's table of stacks, from 1 (0 before the
    /// recorder numbered it, or if the table was full).
    pub id: u64,
    /// `frames[0]` is the faulting instruction, `frames[1]` its caller's
    /// return address, and so on outwards.
    pub frames: Arc<[Frame]>,
}
