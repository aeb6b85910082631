//! What reserving address space costs: mmap + munmap of 4 KiB, 1 MiB and
//! 1 GiB, and the 10 000th mapping against the first, under faultline and
//! natively, with the same guest program.

use std::fmt;
use std::time::Duration;

use super::{native, BenchError};
use crate::{Config, ExitStatus, Program};

/// Sizes mapped and unmapped, in KiB.
pub const SIZES_KIB: [u64; 3] = [4, 1024, 1 << 20];
/// Mappings made to compare the last against the first.
pub const MANY: u64 = 10_000;
const ROUNDS: u64 = 200;

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Reserve {
    /// ns per mmap + munmap pair, in `SIZES_KIB` order.
    pub guest_pair_ns: [f64; 3],
    pub native_pair_ns: [f64; 3],
    /// ns per mmap among the first 100 and the last 100 of `MANY`.
    pub guest_first_ns: f64,
    pub guest_last_ns: f64,
    pub native_first_ns: f64,
    pub native_last_ns: f64,
}

fn field(text: &str, key: &str) -> Option<u64> {
    text.split_whitespace().find_map(|w| w.strip_prefix(key)).and_then(|v| v.parse().ok())
}

fn guest(image: &Program, args: &[String]) -> Result<String, BenchError> {
    let mut argv = vec!["touch".to_string()];
    argv.extend_from_slice(args);
    let config = Config {
        argv,
        // Linux's heuristic would refuse 1 GiB in the default 256 MiB; the
        // host has more, so compare like with like.
        overcommit: 1,
        timeout: Some(Duration::from_secs(120)),
        ..Config::default()
    };
    super::guest_stdout(image, config)
}

pub fn measure(image: &Program) -> Result<Reserve, BenchError> {
    let mut r = Reserve::default();
    for (i, kib) in SIZES_KIB.iter().enumerate() {
        let args = vec!["mmap".to_string(), kib.to_string(), ROUNDS.to_string()];
        let per = |t: &str| field(t, "ns=").map(|ns| ns as f64 / ROUNDS as f64);
        let g = guest(image, &args)?;
        r.guest_pair_ns[i] = per(&g).ok_or_else(|| BenchError::Guest(ExitStatus::Exited(0), g.clone()))?;
        let n = native::run(&args)?;
        r.native_pair_ns[i] = per(&n).ok_or_else(|| BenchError::Guest(ExitStatus::Exited(0), n.clone()))?;
    }
    let args = vec!["maps".to_string(), MANY.to_string()];
    let g = guest(image, &args)?;
    let n = native::run(&args)?;
    let per = |t: &str, k: &str| field(t, k).map_or(0.0, |v| v as f64 / 100.0);
    (r.guest_first_ns, r.guest_last_ns) = (per(&g, "ns_first="), per(&g, "ns_last="));
    (r.native_first_ns, r.native_last_ns) = (per(&n, "ns_first="), per(&n, "ns_last="));
    Ok(r)
}

impl fmt::Display for Reserve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self;
        writeln!(f, "\nreserving address space: mmap + munmap, ns per pair, {} rounds", ROUNDS)?;
        writeln!(f, "{:<44} {:>10} {:>10} {:>9} {:>9}", "size", "faultline", "native", "× native", "× 4 KiB")?;
        for (i, name) in ["4 KiB", "1 MiB", "1 GiB"].iter().enumerate() {
            let (g, n) = (r.guest_pair_ns[i], r.native_pair_ns[i]);
            writeln!(f, "{name:<44} {g:>10.0} {n:>10.0} {:>9.2} {:>9.2}", g / n, g / r.guest_pair_ns[0])?;
        }
        writeln!(
            f,
            "{:<44} {:>10.0} {:>10.0} {:>9.2}",
            "one-page mmap, first 100 (ns each)",
            r.guest_first_ns,
            r.native_first_ns,
            r.guest_first_ns / r.native_first_ns
        )?;
        writeln!(
            f,
            "{:<44} {:>10.0} {:>10.0} {:>9.2}",
            format!("one-page mmap, last 100 of {}", MANY),
            r.guest_last_ns,
            r.native_last_ns,
            r.guest_last_ns / r.native_last_ns
        )?;
        writeln!(f, "last over first, faultline: {:.2}", r.guest_last_ns / r.guest_first_ns)?;
        Ok(())
    }
}
