//! `faultline diff`: two timelines compared without their times.

use std::path::PathBuf;

use anyhow::{ensure, Result};
use clap::Args;

use faultline::report::diff;

#[derive(Args)]
pub struct DiffArgs {
    a: PathBuf,
    b: PathBuf,
    /// Compare only the counts per process, region and event.
    #[arg(long)]
    counts: bool,
    /// With --counts: allowed difference per count, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 0.0, requires = "counts")]
    tolerance: f64,
}

/// Prints the first difference (or the counts that differ): exit 0 if
/// the two tell the same story, 1 if not.
pub fn diff(args: &DiffArgs) -> Result<u8> {
    let DiffArgs { a, b, counts: only_counts, tolerance } = args;
    let (only_counts, tolerance) = (*only_counts, *tolerance);
    ensure!((0.0..=100.0).contains(&tolerance), "--tolerance must be between 0 and 100");
    let (ta, tb) = (diff::Timeline::read(&a.to_string_lossy())?, diff::Timeline::read(&b.to_string_lossy())?);
    let (first, counts) = if only_counts {
        (None, diff::counts(&ta, &tb, tolerance / 100.0))
    } else {
        let d = diff::rows(&ta, &tb);
        (d.first_difference, d.count_differences)
    };
    if let Some(f) = &first {
        say!("{f}");
    }
    if !counts.is_empty() {
        say!("counts that differ (pid region event: {} → {}):", a.display(), b.display());
        for c in &counts {
            say!("  {c}");
        }
    }
    let same = first.is_none() && counts.is_empty();
    // Silence would look like a crash: a match says so.
    if same && only_counts {
        let within = if tolerance > 0.0 { format!(", each within {tolerance} %") } else { String::new() };
        say!(
            "faultline: {} and {} have the same counts: {} per process, region and event{within}",
            a.display(),
            b.display(),
            ta.counts.len()
        );
    } else if same {
        say!(
            "faultline: {} and {} tell the same story: {} rows alike, times and latencies aside",
            a.display(),
            b.display(),
            ta.counts.values().sum::<u64>()
        );
    }
    Ok(u8::from(!same))
}
