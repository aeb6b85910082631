//! What unwinding each fault's call stack costs: the bench guest's first
//! touches with and without stacks, by the guest's own clock, in one run
//! (`--fill-pages 1`, so that every first touch traps with its registers
//! and is unwound; and the default 16, where one in 16 is).

use std::fmt;

use serde::Serialize;

use super::BenchError;
use crate::Program;

/// Guest ns per first touch, median of the rounds.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Stacks {
    pub(crate) pages: u64,
    pub(crate) fill1_ns: f64,
    pub(crate) fill1_stacks_ns: f64,
    pub(crate) fill16_ns: f64,
    pub(crate) fill16_stacks_ns: f64,
}

fn touch_ns(image: &Program, pages: u64, fill_pages: u64, stacks: bool) -> Result<f64, BenchError> {
    let (ns, _) = super::touch(image, pages, |c| {
        c.fill_pages = fill_pages;
        c.stacks = stacks;
    })?;
    Ok(ns as f64 / pages as f64)
}

/// The four ways, interleaved round by round (the machine's load moves).
pub(crate) fn measure(image: &Program, pages: u64, repeat: u32) -> Result<Stacks, BenchError> {
    let mut v: [Vec<f64>; 4] = Default::default();
    for _ in 0..repeat {
        for (i, (fill, stacks)) in [(1, false), (1, true), (16, false), (16, true)].into_iter().enumerate() {
            v[i].push(touch_ns(image, pages, fill, stacks)?);
        }
    }
    let [a, b, c, d] = v.map(|mut s| super::median(&mut s));
    Ok(Stacks { pages, fill1_ns: a, fill1_stacks_ns: b, fill16_ns: c, fill16_stacks_ns: d })
}

impl fmt::Display for Stacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let k = self;
        writeln!(f, "\ncall stacks: first touch of {} pages, guest ns per page, without and with unwinding", k.pages)?;
        writeln!(f, "{:<44} {:>10} {:>10} {:>9}", "--fill-pages", "no stacks", "stacks", "× none")?;
        for (what, a, b) in [
            ("1 (every touch unwound)", k.fill1_ns, k.fill1_stacks_ns),
            ("16 (one in 16)", k.fill16_ns, k.fill16_stacks_ns),
        ] {
            writeln!(f, "{what:<44} {a:>10.0} {b:>10.0} {:>9.3}", b / a)?;
        }
        Ok(())
    }
}
