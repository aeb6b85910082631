//! `faultline bench`: the cost of a trapped first touch, side by side with
//! the floor for a KVM guest (the kernel populating memory itself) and a
//! native first touch on the host, in one run; and [`program`]: any
//! program natively and under faultline against the floor model.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod loaded;
mod native;
mod procs;
mod program;
mod programs;
mod reserve;
mod stacks;
mod syscalls;

pub use program::{program, Floors, ProgramBench};

use loaded::Loaded;
use procs::Procs;
use programs::Programs;
use reserve::Reserve;

use crate::fault::WakeMode;
use crate::{Config, ExitStatus, Outcome, Output, Program, Sandbox};

/// Pages each way touches unless told otherwise.
pub const DEFAULT_PAGES: u64 = 16384;
/// The bench guest's arena (guest/bench/touch.c).
pub const MAX_PAGES: u64 = 32768;

/// Why the benchmark could not be run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// `pages` is 0 or above [`MAX_PAGES`].
    #[error("--pages must be between 1 and {MAX_PAGES}")]
    Pages,
    /// A sandbox could not be built or run.
    #[error(transparent)]
    Sandbox(#[from] crate::Error),
    /// The bench guest did not exit 0: how it ended, and what it said.
    #[error("the bench guest failed ({0:?}): {1}")]
    Guest(ExitStatus, String),
    /// The native run's mapping failed.
    #[error("native touch: mmap failed: {0}")]
    Mmap(std::io::Error),
    /// The bench guest could not be started as a host process.
    #[error("cannot run the bench guest natively: {0}")]
    Native(#[source] std::io::Error),
    /// The bench guest failed as a host process.
    #[error("the bench guest failed natively: {0}")]
    NativeFailed(String),
    /// [`program`] was given an empty command.
    #[error("no program to bench")]
    NoProgram,
}

/// One way of touching pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Way {
    Native,
    Kernel,
    /// The default handler: spins only where a CPU is free for it.
    TrappedAuto,
    TrappedColocated,
    TrappedSpin,
    TrappedPoll,
    /// The spinning handler with recording switched off.
    BareTrap,
}

impl Way {
    const ALL: [Way; 7] = [
        Way::Native,
        Way::Kernel,
        Way::TrappedAuto,
        Way::TrappedSpin,
        Way::BareTrap,
        Way::TrappedColocated,
        Way::TrappedPoll,
    ];

    fn label(self) -> &'static str {
        match self {
            Way::Native => "native first touch (host process)",
            Way::Kernel => "KVM guest, kernel populates memory",
            Way::TrappedAuto => "KVM guest, userfaultfd, auto handler (default)",
            Way::TrappedColocated => "KVM guest, userfaultfd, handler on vCPU's CPU",
            Way::TrappedSpin => "KVM guest, userfaultfd, spinning handler",
            Way::TrappedPoll => "KVM guest, userfaultfd, poll(2) handler",
            Way::BareTrap => "KVM guest, userfaultfd, spinning, not recording",
        }
    }
}

/// Eviction and swap-in, measured in one run under memory pressure.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pressure {
    pub(crate) pages: u64,
    pub(crate) budget_pages: u64,
    /// Second pass, by the guest's clock: every page is swapped in, and one
    /// is evicted to make room for it.
    pub(crate) swap_pass_ns_per_page: f64,
    /// Zero-fill faults while memory is plentiful (below 3/4 of the
    /// budget, where aging starts), by the timeline's clock.
    pub(crate) zero_fill_ns_per_page: f64,
    /// Zero-fill faults once the budget is full (each with an eviction, and
    /// the accessed-bit aging that keeps CLOCK honest), by the timeline.
    pub(crate) zero_fill_pressed_ns_per_page: f64,
    /// Handler-side medians from the same run's timeline.
    pub(crate) zero_fill_median_ns: u64,
    pub(crate) evict_median_ns: u64,
    pub(crate) swap_in_median_ns: u64,
}

/// The figures of one `faultline bench` run: print it (a table) or
/// [`to_json`](Report::to_json) it (one line, the fields BENCHMARKS.md
/// describes).
#[derive(Clone, Debug)]
pub struct Report {
    pub(crate) pages: u64,
    pub(crate) repeat: u32,
    /// Median ns per page for each way, in `Way::ALL` order.
    pub(crate) ns_per_page: [f64; 7],
    /// Median handler latency (read → page in place) in the default runs.
    pub(crate) handler_median_ns: u64,
    pub(crate) pressure: Pressure,
    pub(crate) reserve: Reserve,
    pub(crate) procs: Procs,
    pub(crate) programs: Programs,
    pub(crate) syscalls: syscalls::Syscalls,
    pub(crate) loaded: Loaded,
    pub(crate) stacks: stacks::Stacks,
}

impl Report {
    fn get(&self, w: Way) -> f64 {
        self.ns_per_page[Way::ALL.iter().position(|&x| x == w).unwrap()]
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        let p = &self.pressure;
        let r = &self.reserve;
        serde_json::json!({
            "pages": self.pages,
            "repeat": self.repeat,
            "trapped_ns_per_fault": self.get(Way::TrappedAuto).round(),
            "trapped_spin_ns_per_fault": self.get(Way::TrappedSpin).round(),
            "trapped_colocated_ns_per_fault": self.get(Way::TrappedColocated).round(),
            "trapped_poll_ns_per_fault": self.get(Way::TrappedPoll).round(),
            "bare_trap_ns_per_fault": self.get(Way::BareTrap).round(),
            "recording_cost": self.get(Way::TrappedSpin) / self.get(Way::BareTrap) - 1.0,
            "kernel_ns_per_fault": self.get(Way::Kernel).round(),
            "native_ns_per_fault": self.get(Way::Native).round(),
            "handler_median_ns": self.handler_median_ns,
            "trapped_over_kernel": self.get(Way::TrappedAuto) / self.get(Way::Kernel),
            "kernel_over_native": self.get(Way::Kernel) / self.get(Way::Native),
            "pressure_pages": p.pages,
            "pressure_budget_pages": p.budget_pages,
            "swap_pass_ns_per_page": p.swap_pass_ns_per_page.round(),
            "zero_fill_ns_per_page": p.zero_fill_ns_per_page.round(),
            "zero_fill_pressed_ns_per_page": p.zero_fill_pressed_ns_per_page.round(),
            "zero_fill_median_ns": p.zero_fill_median_ns,
            "evict_median_ns": p.evict_median_ns,
            "swap_in_median_ns": p.swap_in_median_ns,
            "mmap_munmap_ns": {"4k": r.guest_pair_ns[0].round(), "1m": r.guest_pair_ns[1].round(), "1g": r.guest_pair_ns[2].round()},
            "native_mmap_munmap_ns": {"4k": r.native_pair_ns[0].round(), "1m": r.native_pair_ns[1].round(), "1g": r.native_pair_ns[2].round()},
            "mmap_first_ns": r.guest_first_ns.round(),
            "mmap_10000th_ns": r.guest_last_ns.round(),
            "procs": self.procs,
            "cow_over_zero_fill": self.procs.cow_ns_per_page / self.procs.zero_fill_ns_per_page,
            "pingpong_over_native": self.procs.pingpong_ns / self.procs.native_pingpong_ns,
            "programs": self.programs,
            "syscall_ns": self.syscalls.syscall_ns.round(),
            "exit_syscall_ns": self.syscalls.exit_syscall_ns.round(),
            "native_syscall_ns": self.syscalls.native_syscall_ns.round(),
            "syscalls": self.syscalls,
            "loaded": self.loaded,
            "stacks": self.stacks,
            "stacks_cost_fill1": self.stacks.fill1_stacks_ns / self.stacks.fill1_ns - 1.0,
            "stacks_cost_fill16": self.stacks.fill16_stacks_ns / self.stacks.fill16_ns - 1.0,
        })
        .to_string()
    }
}

impl fmt::Display for Pressure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self;
        writeln!(
            f,
            "\nunder pressure: {} pages through a {}-page budget with swap, two passes, one run",
            p.pages, p.budget_pages
        )?;
        writeln!(f, "{:<44} {:>10} {:>11}", "per page", "ns", "× zero-fill")?;
        let z = p.zero_fill_ns_per_page;
        let row = |f: &mut fmt::Formatter<'_>, what: &str, v: f64| writeln!(f, "{what:<44} {v:>10.0} {:>11.2}", v / z);
        row(f, "zero-fill fault, memory plentiful", z)?;
        row(f, "zero-fill fault + eviction, budget full", p.zero_fill_pressed_ns_per_page)?;
        row(f, "swap-in + eviction (pass 2, guest clock)", p.swap_pass_ns_per_page)?;
        let zm = p.zero_fill_median_ns.max(1) as f64;
        writeln!(f, "{:<44} {:>10} {:>11.2}", "zero-fill, handler median (plentiful)", p.zero_fill_median_ns, 1.0)?;
        writeln!(f, "{:<44} {:>10} {:>11.2}", "eviction, median", p.evict_median_ns, p.evict_median_ns as f64 / zm)?;
        writeln!(
            f,
            "{:<44} {:>10} {:>11.2}",
            "swap-in, handler median (incl. making room)",
            p.swap_in_median_ns,
            p.swap_in_median_ns as f64 / zm
        )?;
        Ok(())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "faultline bench: first touch of {} pages, median of {} rounds", self.pages, self.repeat)?;
        writeln!(f, "{:<48} {:>10} {:>9} {:>9}", "way", "ns/page", "× native", "× kernel")?;
        let (native, kernel) = (self.get(Way::Native), self.get(Way::Kernel));
        for w in Way::ALL {
            let v = self.get(w);
            writeln!(f, "{:<48} {:>10.0} {:>9.2} {:>9.2}", w.label(), v, v / native, v / kernel)?;
        }
        writeln!(f, "handler latency (fault read → page in place), median: {} ns", self.handler_median_ns)?;
        write!(f, "{}", self.pressure)?;
        write!(f, "{}", self.reserve)?;
        write!(f, "{}", self.procs)?;
        write!(f, "{}", self.syscalls)?;
        write!(f, "{}", self.loaded)?;
        write!(f, "{}", self.stacks)?;
        write!(f, "{}", self.programs)
    }
}

/// The bench guest's `touch PAGES` run with `tune`'s configuration: the
/// guest's own ns for all its touches (its `ns=` word), and the outcome.
fn touch(image: &Program, pages: u64, tune: impl FnOnce(&mut Config)) -> Result<(u64, Outcome), BenchError> {
    let out = Output::capture();
    let mut config = Config {
        argv: vec!["touch".into(), pages.to_string()],
        stdout: out.clone(),
        stderr: Output::capture(),
        timeout: Some(Duration::from_secs(120)),
        ..Config::default()
    };
    tune(&mut config);
    let outcome = Sandbox::new(image.clone(), config)?.run()?;
    let text = out.captured();
    match text.split_whitespace().find_map(|w| w.strip_prefix("ns=")).and_then(|v| v.parse::<u64>().ok()) {
        Some(ns) if outcome.status == ExitStatus::Exited(0) => Ok((ns, outcome)),
        _ => Err(BenchError::Guest(outcome.status, text)),
    }
}

fn guest_ns(image: &Program, pages: u64, way: Way) -> Result<(f64, Vec<u64>), BenchError> {
    let (trapped, wake) = match way {
        Way::Kernel => (false, WakeMode::Spin),
        Way::TrappedAuto => (true, WakeMode::Auto),
        Way::TrappedColocated => (true, WakeMode::Colocated),
        Way::TrappedSpin | Way::BareTrap => (true, WakeMode::Spin),
        _ => (true, WakeMode::Poll),
    };
    let (ns, outcome) = touch(image, pages, |c| {
        c.trapped = trapped;
        c.wake = wake;
        // No events kept: the spinning runs and the bare trap differ in
        // recording alone, as faultline runs by default (rows recorded
        // into the summary, none kept).
        c.keep_events = false;
        c.record = way != Way::BareTrap;
    })?;
    // The handler's median for the arena the guest touches (the region
    // with the most faults), from the summary kept as rows came.
    let lat = outcome
        .summary
        .processes
        .first()
        .and_then(|p| p.regions.iter().max_by_key(|r| r.read_faults + r.write_faults))
        .and_then(|r| r.median_latency_ns)
        .map_or_else(Vec::new, |m| vec![m]);
    Ok((ns as f64 / pages as f64, lat))
}

fn median_of(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Touches `pages` pages twice through a budget of a quarter of them: the
/// first pass zero-fills (and evicts once the budget is full), the second
/// swaps every page in and evicts one for each.
/// Runs `image` with `config` (stdout and stderr captured) and gives its
/// stdout; an error unless it exited 0.
fn guest_stdout(image: &Program, config: Config) -> Result<String, BenchError> {
    let out = Output::capture();
    let config = Config { stdout: out.clone(), stderr: Output::capture(), ..config };
    let outcome = Sandbox::new(image.clone(), config)?.run()?;
    let text = out.captured();
    if outcome.status != ExitStatus::Exited(0) {
        return Err(BenchError::Guest(outcome.status, text));
    }
    Ok(text)
}

fn pressure(image: &Program, pages: u64) -> Result<Pressure, BenchError> {
    use crate::timeline::EventKind;
    let budget = (pages / 4).max(64);
    let out = Output::capture();
    let config = Config {
        argv: vec!["touch".into(), pages.to_string(), "2".into()],
        rss_limit: Some(budget * 4096),
        swap: pages * 4096 * 2,
        stdout: out.clone(),
        stderr: Output::capture(),
        timeout: Some(Duration::from_secs(300)),
        keep_events: true,
        ..Config::default()
    };
    let outcome = Sandbox::new(image.clone(), config)?.run()?;
    let text = out.captured();
    let ns: Vec<u64> =
        text.split_whitespace().filter_map(|w| w.strip_prefix("ns=")).filter_map(|v| v.parse().ok()).collect();
    if outcome.status != ExitStatus::Exited(0) || ns.len() != 2 {
        return Err(BenchError::Guest(outcome.status, text));
    }
    use crate::timeline::{Event, Origin};
    let lat = |k: EventKind| median_of(outcome.events.iter().filter(|e| e.kind == k).map(|e| e.latency_ns).collect());
    // The program's zero-fill faults, in order.
    let zf: Vec<&Event> =
        outcome.events.iter().filter(|e| e.kind == EventKind::ZeroFill && e.origin == Origin::Guest).collect();
    let rate = |v: &[&Event]| match (v.first(), v.last()) {
        (Some(a), Some(b)) if v.len() > 1 => (b.time_ns - a.time_ns) as f64 / (v.len() - 1) as f64,
        _ => 0.0,
    };
    // The zero-fills well before the budget fills (small runs have few).
    let calm = ((budget - budget / 4) as usize).saturating_sub(64).max(2);
    let first_evict = outcome.events.iter().find(|e| e.kind == EventKind::Evict).map_or(u64::MAX, |e| e.seq);
    let pressed: Vec<&Event> = zf.iter().copied().filter(|e| e.seq > first_evict).collect();
    Ok(Pressure {
        pages,
        budget_pages: budget,
        swap_pass_ns_per_page: ns[1] as f64 / pages as f64,
        zero_fill_ns_per_page: rate(&zf[..calm.min(zf.len())]),
        zero_fill_pressed_ns_per_page: rate(&pressed),
        zero_fill_median_ns: median_of(zf[..calm.min(zf.len())].iter().map(|e| e.latency_ns).collect()),
        evict_median_ns: lat(EventKind::Evict),
        swap_in_median_ns: lat(EventKind::SwapIn),
    })
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
    let image = Program::Bytes { name: "touch".into(), bytes: Arc::from(faultline_guest::BENCH_ELF) };
    let mut samples: [Vec<f64>; 7] = Default::default();
    let mut latencies = Vec::new();
    for _ in 0..repeat {
        for (i, w) in Way::ALL.iter().enumerate() {
            let v = match w {
                Way::Native => native_ns(pages)?,
                _ => {
                    let (v, lat) = guest_ns(&image, pages, *w)?;
                    if *w == Way::TrappedAuto {
                        latencies.extend(lat);
                    }
                    v
                }
            };
            samples[i].push(v);
        }
    }
    let ns_per_page = [0, 1, 2, 3, 4, 5, 6].map(|i| median(&mut samples[i]));
    let pressure = pressure(&image, pages.min(8192))?;
    let reserve = reserve::measure(&image);
    let procs = procs::measure(pages.min(8192));
    native::cleanup();
    let programs = programs::measure(repeat.min(5))?;
    let syscalls = syscalls::measure(repeat.min(5))?;
    let loaded = loaded::measure(&image, pages.min(4096), repeat.min(3))?;
    let stacks = stacks::measure(&image, pages.min(8192), repeat.max(3))?;
    Ok(Report {
        pages,
        repeat,
        ns_per_page,
        handler_median_ns: median_of(latencies),
        pressure,
        reserve: reserve?,
        procs: procs?,
        programs,
        syscalls,
        loaded,
        stacks,
    })
}
