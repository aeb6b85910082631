//! `faultline bench`: the cost of a trapped first touch, side by side with
//! the floor for a KVM guest (the kernel populating memory itself) and a
//! native first touch on the host, in one run.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::abi::Output;
use crate::fault::{BackingMode, WakeMode};
use crate::loader::Image;
use crate::{Config, ExitStatus, Sandbox};

pub const DEFAULT_PAGES: u64 = 16384;
/// The bench guest's arena (guest/bench/touch.c).
pub const MAX_PAGES: u64 = 32768;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("--pages must be between 1 and {MAX_PAGES}")]
    Pages,
    #[error(transparent)]
    Sandbox(#[from] crate::Error),
    #[error("the bench guest failed ({0:?}): {1}")]
    Guest(ExitStatus, String),
    #[error("native touch: mmap failed: {0}")]
    Mmap(std::io::Error),
}

/// One way of touching pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way {
    Native,
    Kernel,
    TrappedColocated,
    TrappedSpin,
    TrappedPoll,
}

impl Way {
    const ALL: [Way; 5] = [Way::Native, Way::Kernel, Way::TrappedSpin, Way::TrappedColocated, Way::TrappedPoll];

    fn label(self) -> &'static str {
        match self {
            Way::Native => "native first touch (host process)",
            Way::Kernel => "KVM guest, kernel populates memory",
            Way::TrappedColocated => "KVM guest, userfaultfd, handler on vCPU's CPU",
            Way::TrappedSpin => "KVM guest, userfaultfd, spinning handler",
            Way::TrappedPoll => "KVM guest, userfaultfd, poll(2) handler",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Report {
    pub pages: u64,
    pub repeat: u32,
    /// Median ns per page for each way, in `Way::ALL` order.
    pub ns_per_page: [f64; 5],
    /// Median handler latency (read → page in place) in the default
    /// (spinning) runs.
    pub handler_median_ns: u64,
}

impl Report {
    fn get(&self, w: Way) -> f64 {
        self.ns_per_page[Way::ALL.iter().position(|&x| x == w).unwrap()]
    }

    pub fn to_json(&self) -> String {
        format!(
            "{{\"pages\":{},\"repeat\":{},\"trapped_ns_per_fault\":{:.0},\"trapped_colocated_ns_per_fault\":{:.0},\
             \"trapped_poll_ns_per_fault\":{:.0},\
             \"kernel_ns_per_fault\":{:.0},\"native_ns_per_fault\":{:.0},\"handler_median_ns\":{},\
             \"trapped_over_kernel\":{:.2},\"kernel_over_native\":{:.2}}}",
            self.pages,
            self.repeat,
            self.get(Way::TrappedSpin),
            self.get(Way::TrappedColocated),
            self.get(Way::TrappedPoll),
            self.get(Way::Kernel),
            self.get(Way::Native),
            self.handler_median_ns,
            self.get(Way::TrappedSpin) / self.get(Way::Kernel),
            self.get(Way::Kernel) / self.get(Way::Native),
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "faultline bench: first touch of {} pages, median of {} rounds", self.pages, self.repeat)?;
        writeln!(f, "{:<44} {:>10} {:>9} {:>9}", "way", "ns/page", "× native", "× kernel")?;
        let (native, kernel) = (self.get(Way::Native), self.get(Way::Kernel));
        for w in Way::ALL {
            let v = self.get(w);
            writeln!(f, "{:<44} {:>10.0} {:>9.2} {:>9.2}", w.label(), v, v / native, v / kernel)?;
        }
        writeln!(f, "handler latency (fault read → page in place), median: {} ns", self.handler_median_ns)
    }
}

fn guest_ns(image: &Image, pages: u64, way: Way) -> Result<(f64, Vec<u64>), BenchError> {
    let (backing, wake) = match way {
        Way::Kernel => (BackingMode::KernelPopulated, WakeMode::Spin),
        Way::TrappedColocated => (BackingMode::Trapped, WakeMode::Colocated),
        Way::TrappedSpin => (BackingMode::Trapped, WakeMode::Spin),
        _ => (BackingMode::Trapped, WakeMode::Poll),
    };
    let out = Output::capture();
    let config = Config {
        argv: vec!["touch".into(), pages.to_string()],
        backing,
        wake,
        stdout: out.clone(),
        stderr: Output::capture(),
        timeout: Some(Duration::from_secs(120)),
        ..Config::default()
    };
    let outcome = Sandbox::new(image, config)?.run()?;
    let text = out.captured();
    let ns = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ns="))
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|_| outcome.status == ExitStatus::Exited(0))
        .ok_or_else(|| BenchError::Guest(outcome.status, text.clone()))?;
    let lat = outcome.events.iter().map(|e| e.latency_ns).collect();
    Ok((ns as f64 / pages as f64, lat))
}

fn native_ns(pages: u64) -> Result<f64, BenchError> {
    let len = (pages * 4096) as usize;
    // SAFETY: a fresh private anonymous mapping, unmapped below.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(BenchError::Mmap(std::io::Error::last_os_error()));
    }
    let base = p as *mut u8;
    let t = Instant::now();
    for i in 0..pages as usize {
        // SAFETY: inside the mapping.
        unsafe { base.add(i * 4096).write_volatile(1) };
    }
    let ns = t.elapsed().as_nanos() as f64;
    // SAFETY: unmapping what we mapped.
    unsafe { libc::munmap(p, len) };
    Ok(ns / pages as f64)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs every way `repeat` times, interleaved so they share the machine's
/// conditions, and reports medians.
pub fn run(pages: u64, repeat: u32) -> Result<Report, BenchError> {
    if pages == 0 || pages > MAX_PAGES {
        return Err(BenchError::Pages);
    }
    let repeat = repeat.max(1);
    let image = Image::from_bytes("touch".into(), Arc::from(faultline_guest::BENCH_ELF)).map_err(crate::Error::from)?;
    let mut samples: [Vec<f64>; 5] = Default::default();
    let mut latencies = Vec::new();
    for _ in 0..repeat {
        for (i, w) in Way::ALL.iter().enumerate() {
            let v = match w {
                Way::Native => native_ns(pages)?,
                _ => {
                    let (v, lat) = guest_ns(&image, pages, *w)?;
                    if *w == Way::TrappedSpin {
                        latencies.extend(lat);
                    }
                    v
                }
            };
            samples[i].push(v);
        }
    }
    latencies.sort_unstable();
    let ns_per_page = [0, 1, 2, 3, 4].map(|i| median(&mut samples[i]));
    Ok(Report {
        pages,
        repeat,
        ns_per_page,
        handler_median_ns: latencies.get(latencies.len() / 2).copied().unwrap_or(0),
    })
}
