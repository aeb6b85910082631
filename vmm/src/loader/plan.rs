//! Page-by-page plan of an image: which pages exist, with which
//! permissions, what they hold and what the timeline calls them.

use std::collections::BTreeMap;

use super::elf::Image;
use crate::arch::{page_ceil, page_floor, Perms, PAGE_SIZE};
use crate::fault::{Piece, Source};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PagePlan {
    pub gva: u64,
    pub perms: Perms,
    pub source: Source,
    pub region: String,
}

fn overlap(a0: u64, a1: u64, b0: u64, b1: u64) -> u64 {
    a1.min(b1).saturating_sub(a0.max(b0))
}

/// Plans every page the image's segments cover.
///
/// A page's region is the section covering most of it (ties: the lower
/// section), or `loadN:rwx` for the segment when no section covers it.
/// A page shared by two segments gets the union of their permissions and
/// the file bytes of both, as Linux's loader leaves it.
pub fn plan_pages(image: &Image) -> Vec<PagePlan> {
    let mut pages: BTreeMap<u64, PagePlan> = BTreeMap::new();
    for (n, seg) in image.segments.iter().enumerate() {
        let first = page_floor(seg.vaddr);
        let last = page_ceil(seg.end()).expect("validated: segments end below USER_TOP");
        let file_end = seg.vaddr + seg.filesz;
        for gva in (first..last).step_by(PAGE_SIZE as usize) {
            let page = pages.entry(gva).or_insert_with(|| PagePlan {
                gva,
                perms: Perms::default(),
                source: Source::Zero,
                region: format!("load{n}:{}", seg.perms),
            });
            page.perms = page.perms.union(seg.perms);
            let lo = gva.max(seg.vaddr);
            let hi = (gva + PAGE_SIZE).min(file_end);
            if hi > lo {
                let piece = Piece { page_offset: lo - gva, file_offset: seg.offset + (lo - seg.vaddr), len: hi - lo };
                match &mut page.source {
                    Source::File(pieces) => pieces.push(piece),
                    s => *s = Source::File(vec![piece]),
                }
            }
        }
    }
    for page in pages.values_mut() {
        let best = image
            .sections
            .iter()
            .map(|s| (overlap(page.gva, page.gva + PAGE_SIZE, s.addr, s.addr.saturating_add(s.size)), s))
            .filter(|(o, _)| *o > 0)
            .max_by(|(oa, sa), (ob, sb)| oa.cmp(ob).then(sb.addr.cmp(&sa.addr)));
        if let Some((_, s)) = best {
            page.region = s.name.clone();
        }
    }
    pages.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loader::elf::{Section, Segment};

    fn image(segments: Vec<Segment>, sections: Vec<Section>) -> Image {
        Image {
            path: "t".into(),
            bytes: vec![0u8; 0x4000].into(),
            entry: 0x401000,
            bias: 0,
            segments,
            sections,
            phdr: 0,
            phent: 56,
            phnum: 0,
        }
    }

    #[test]
    fn splits_file_bytes_and_bss_and_names_by_section() {
        let rw = Perms::new(true, true, false);
        let seg = Segment { index: 3, vaddr: 0x40_b800, memsz: 0x2000, offset: 0x1800, filesz: 0x1000, perms: rw };
        let sections = vec![
            Section { name: ".data".into(), addr: 0x40_b800, size: 0x1000 },
            Section { name: ".bss".into(), addr: 0x40_c800, size: 0x1000 },
        ];
        let p = plan_pages(&image(vec![seg], sections));
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].gva, 0x40_b000);
        assert_eq!(p[0].source, Source::File(vec![Piece { page_offset: 0x800, file_offset: 0x1800, len: 0x800 }]));
        assert_eq!(p[0].region, ".data");
        // Half .data, half .bss: the tie goes to the lower section.
        assert_eq!(p[1].source, Source::File(vec![Piece { page_offset: 0, file_offset: 0x2000, len: 0x800 }]));
        assert_eq!(p[1].region, ".data");
        assert_eq!(p[2].source, Source::Zero);
        assert_eq!(p[2].region, ".bss");
    }

    #[test]
    fn segment_names_without_sections() {
        let rx = Perms::new(true, false, true);
        let seg = Segment { index: 1, vaddr: 0x40_1000, memsz: 0x10, offset: 0x1000, filesz: 0x10, perms: rx };
        let p = plan_pages(&image(vec![seg], vec![]));
        assert_eq!(p[0].region, "load0:r-x");
    }
}
