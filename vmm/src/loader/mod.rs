//! Reading ELF files: validation, and what the timeline calls each page.
//! Pure: loading an image into an address space is the kernel's (exec).

mod elf;
mod plan;

pub use elf::{string_at, Headers, Image, LoadError, PIE_BASE};
pub use plan::page_names;
