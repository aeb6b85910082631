//! Reading ELF files: validation, and what the timeline calls each page.
//! Pure: loading an image into an address space is the kernel's (exec).

mod elf;
mod plan;

pub use elf::{Image, LoadError, Section, Segment, PIE_BASE, STACK_AREA};
pub use plan::{page_names, NamedRange};
