//! What a [`Program`] is before it runs: its name, and what the loader
//! makes of its ELF file ([`Program::inspect`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Program;
use crate::arch::Perms;
use crate::loader::{Image, LoadError};

impl Program {
    /// The built-in demo guest ([`guest::DEMO_ELF`](crate::guest::DEMO_ELF)),
    /// called `demo`: with no arguments it prints a banner, reads four pages
    /// of `.data` and writes eight of its 64 `.bss` pages; with a
    /// scenario's name it runs that scenario of [`demo`](crate::demo).
    pub fn demo() -> Program {
        Program::bytes("demo", faultline_guest::DEMO_ELF)
    }

    /// An executable held in memory, called `name` (its guest path is
    /// `/name`).
    pub fn bytes(name: impl Into<String>, bytes: impl Into<Arc<[u8]>>) -> Program {
        Program::Bytes { name: name.into(), bytes: bytes.into() }
    }

    /// The name `argv[0]` gets by default: the path as given, or the
    /// in-memory program's name.
    pub fn name(&self) -> String {
        match self {
            Program::Path(p) => p.display().to_string(),
            Program::Bytes { name, .. } => name.clone(),
        }
    }

    /// Reads and validates the ELF file as the sandbox's loader does,
    /// without making a VM: what would be loaded where, or why it would be
    /// refused. A fuzzer, or a test that asserts addresses, starts here.
    ///
    /// ```
    /// use faultline::Program;
    ///
    /// let info = Program::demo().inspect()?;
    /// assert!(info.interp.is_none(), "the demo is static");
    /// assert!(info.segments.iter().any(|s| s.perms.exec && s.start <= info.entry && info.entry < s.end));
    /// assert!(Program::bytes("junk", &b"not an ELF"[..]).inspect().is_err());
    /// # Ok::<(), faultline::LoadError>(())
    /// ```
    pub fn inspect(&self) -> Result<ProgramInfo, LoadError> {
        let image = match self {
            Program::Path(p) => Image::from_file(p)?,
            Program::Bytes { name, bytes } => Image::from_bytes(name.clone(), bytes.clone())?,
        };
        Ok(ProgramInfo {
            entry: image.entry,
            interp: image.interp.clone(),
            segments: image
                .segments
                .iter()
                .map(|s| SegmentInfo { start: s.vaddr, end: s.end(), perms: s.perms })
                .collect(),
        })
    }
}

impl From<PathBuf> for Program {
    fn from(p: PathBuf) -> Program {
        Program::Path(p)
    }
}

impl From<&Path> for Program {
    fn from(p: &Path) -> Program {
        Program::Path(p.to_path_buf())
    }
}

/// What the loader makes of a program's ELF file: see [`Program::inspect`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProgramInfo {
    /// The entry point, load bias applied (a static PIE loads at
    /// [`PIE_BASE`](crate::PIE_BASE)).
    pub entry: u64,
    /// The interpreter a dynamically linked program names (PT_INTERP).
    pub interp: Option<String>,
    /// Its PT_LOAD segments, in file order, load bias applied. Without
    /// ASLR the heap starts on the page after the highest `end`.
    pub segments: Vec<SegmentInfo>,
}

/// One PT_LOAD segment as loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// First address.
    pub start: u64,
    /// The address after the last byte (file bytes and zero fill).
    pub end: u64,
    /// How the program may touch it.
    pub perms: Perms,
}
