//! Turning an ELF file into pages: validation, then a page-by-page plan of
//! what each page holds and which region the timeline files it under.

mod elf;
mod plan;

pub use elf::{Image, LoadError, Section, Segment, PIE_BASE};
pub use plan::{plan_pages, PagePlan};
