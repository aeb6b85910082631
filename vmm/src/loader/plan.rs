//! What the timeline calls each page of an image: the section covering most
//! of it (ties go to the lower section), or `loadN:rwx` for the segment
//! where no section covers it.

use super::elf::Image;
use crate::arch::{page_ceil, page_floor, PAGE_SIZE};

/// A run of pages filed under one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedRange {
    pub start: u64,
    pub end: u64,
    pub name: String,
}

fn overlap(a0: u64, a1: u64, b0: u64, b1: u64) -> u64 {
    a1.min(b1).saturating_sub(a0.max(b0))
}

/// Names every page the image's segments cover, as runs in address order.
pub fn page_names(image: &Image) -> Vec<NamedRange> {
    let mut out: Vec<NamedRange> = Vec::new();
    for (n, seg) in image.segments.iter().enumerate() {
        let first = page_floor(seg.vaddr);
        let last = page_ceil(seg.end()).expect("validated: segments end below USER_TOP");
        for gva in (first..last).step_by(PAGE_SIZE as usize) {
            // A page two segments share keeps the name the first gave it.
            if out.last().is_some_and(|r| r.end > gva) {
                continue;
            }
            let best = image
                .sections
                .iter()
                .map(|s| (overlap(gva, gva + PAGE_SIZE, s.addr, s.addr.saturating_add(s.size)), s))
                .filter(|(o, _)| *o > 0)
                .max_by(|(oa, sa), (ob, sb)| oa.cmp(ob).then(sb.addr.cmp(&sa.addr)));
            let name = match best {
                Some((_, s)) => s.name.clone(),
                None => format!("load{n}:{}", seg.perms),
            };
            match out.last_mut() {
                Some(r) if r.end == gva && r.name == name => r.end += PAGE_SIZE,
                _ => out.push(NamedRange { start: gva, end: gva + PAGE_SIZE, name }),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Perms;
    use crate::loader::elf::{Section, Segment};

    fn image(segments: Vec<Segment>, sections: Vec<Section>) -> Image {
        Image {
            path: "t".into(),
            entry: 0x401000,
            bias: 0,
            segments,
            sections,
            phdr: 0,
            phent: 56,
            phnum: 0,
            interp: None,
        }
    }

    #[test]
    fn names_by_majority_section() {
        let rw = Perms::RW;
        let seg = Segment { index: 3, vaddr: 0x40_b800, memsz: 0x2000, offset: 0x1800, filesz: 0x1000, perms: rw };
        let sections = vec![
            Section { name: ".data".into(), addr: 0x40_b800, size: 0x1000 },
            Section { name: ".bss".into(), addr: 0x40_c800, size: 0x1000 },
        ];
        let p = page_names(&image(vec![seg], sections));
        // Half .data, half .bss: the tie goes to the lower section.
        assert_eq!(
            p,
            vec![
                NamedRange { start: 0x40_b000, end: 0x40_d000, name: ".data".into() },
                NamedRange { start: 0x40_d000, end: 0x40_e000, name: ".bss".into() },
            ]
        );
    }

    #[test]
    fn segment_names_without_sections() {
        let rx = Perms::new(true, false, true);
        let seg = Segment { index: 1, vaddr: 0x40_1000, memsz: 0x10, offset: 0x1000, filesz: 0x10, perms: rx };
        let p = page_names(&image(vec![seg], vec![]));
        assert_eq!(p[0].name, "load0:r-x");
    }
}
