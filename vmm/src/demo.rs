//! `faultline demo`: the story the README opens with, told by real runs.
//! Each [`Scenario`] runs the built-in demo guest (`guest/demo/demo.c`)
//! once, in a sandbox set up for it, and [`Scenario::judge`] sets what
//! Linux would do, as counts, against the rows the timeline recorded.
//!
//! ```
//! use faultline::{demo, Sandbox};
//!
//! let fork = demo::scenario("fork").unwrap();
//! let outcome = Sandbox::new(fork.program(), fork.config()?)?.run()?;
//! let verdict = fork.judge(&outcome);
//! assert!(verdict.ok(), "{verdict}");
//! // The child wrote 8 of the 32 pages it shares with its parent.
//! assert!(verdict.checks.iter().any(|c| c.what.starts_with("cow in the child") && c.saw == 8));
//! # Ok::<(), faultline::Error>(())
//! ```

use std::fmt;
use std::fmt::Write as _;

use crate::timeline::{Event, EventKind, Origin, Prefault};
use crate::{Config, Error, ExitStatus, Input, Outcome, Output, Program};

/// Which program and which counts: the scenario's own rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Sections,
    Malloc,
    Mlock,
    Free,
    Fork,
    File,
    Reclaim,
    Oom,
}

/// One scenario of `faultline demo`: a run of the demo guest, what Linux
/// would do with its memory, and the counts that show it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Scenario {
    /// Its name, as `faultline demo NAME` takes it.
    pub name: &'static str,
    /// What it shows, in one line.
    pub title: &'static str,
    /// What the program does, in plain words.
    pub program: &'static str,
    /// What Linux would do, in plain words.
    pub linux: &'static str,
    kind: Kind,
}

/// Every scenario, in the order `faultline demo` runs them.
pub static SCENARIOS: [Scenario; 8] = [
    Scenario {
        name: "sections",
        title: "a program's pages are backed when first touched, not when it loads",
        program: "The program maps 16 pages of .data, 64 of .bss and a stack; it reads 4 pages of .data, writes \
                  8 of .bss and uses 32 KiB of stack.",
        linux: "Linux backs no page at exec: a .data page read comes from the file (file-copy), a .bss or stack \
                page written is a fresh zeroed one (zero-fill), and the rest is never backed.",
        kind: Kind::Sections,
    },
    Scenario {
        name: "malloc",
        title: "malloc reserves address space; the first touch of each page faults",
        program: "The program takes 1 MiB as malloc does for a large block (an mmap of 256 pages) and writes \
                  to every fourth page.",
        linux: "Linux's mmap only reserves: each page is backed at its first write, a zero-fill fault for that \
                page alone.",
        kind: Kind::Malloc,
    },
    Scenario {
        name: "mlock",
        title: "mlock pins and populates",
        program: "The program maps 32 pages, mlocks them, then writes all 32.",
        linux: "Linux's mlock backs every page at once (prefault-mlock) and keeps it in RAM, so the writes do \
                not fault.",
        kind: Kind::Mlock,
    },
    Scenario {
        name: "free",
        title: "freeing an mmap'd chunk gives the memory back",
        program: "The program maps 64 pages, writes them, then unmaps them, as free does with a chunk malloc \
                  got from mmap.",
        linux: "Linux's munmap gives each resident page back at once: one release per page, 256 KiB off the \
                RSS.",
        kind: Kind::Free,
    },
    Scenario {
        name: "fork",
        title: "fork shares pages until a write copies them",
        program: "The program writes 32 pages and forks; the child writes 8 of them while the parent waits.",
        linux: "Linux copies no page at fork: both share all 32, write-protected, and a write copies that one \
                page for the writer (cow).",
        kind: Kind::Fork,
    },
    Scenario {
        name: "file",
        title: "a file mapping reads through the page cache",
        program: "The program maps 8 pages of a file (faultline's own executable, at /demo.dat), asks for no \
                  readahead (MADV_RANDOM) and reads them, twice, unmapping in between.",
        linux: "Linux reads each page from the file into the page cache at its first read (file-copy, a major \
                fault). At the second, the first read finds its page cached (cache-hit, a minor fault) and maps \
                the other 7 with it (fault-around: up to 16 cached pages around a read fault).",
        kind: Kind::File,
    },
    Scenario {
        name: "reclaim",
        title: "a memory budget makes reclaim evict to swap",
        program: "With 1 MiB of RAM and 4 MiB of swap, the program writes 512 pages, then reads back the first \
                  128, asking mincore before each read if the page is in RAM.",
        linux: "Linux's reclaim writes the coldest pages to swap (evict) and a touch brings one back \
                (swap-in): one per page mincore showed out; a page out at the end went out once more than it \
                came back.",
        kind: Kind::Reclaim,
    },
    Scenario {
        name: "oom",
        title: "a program that keeps allocating meets the OOM killer",
        program: "With 4 MiB of RAM and no swap, the program writes 16 pages and forks; the child allocates 64 \
                  pages at a time, without end.",
        linux: "Linux's OOM killer kills the process with the highest badness (resident pages, swap, page \
                tables): the child, not the parent, which sees it killed by SIGKILL.",
        kind: Kind::Oom,
    },
];

/// The scenario called `name`.
pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// Where the file scenario's file appears in the guest.
const DATA_FILE: &str = "/demo.dat";

impl Scenario {
    /// The program: the built-in demo guest.
    pub fn program(&self) -> Program {
        Program::demo()
    }

    /// The sandbox settings the scenario runs with: its argv and memory
    /// (RAM, budget, swap), stdout, stderr and faultline's messages
    /// captured (the judge reads them), every event kept.
    ///
    /// # Errors
    ///
    /// The file scenario maps faultline's own executable: [`Error::Exec`]
    /// if it cannot be found.
    pub fn config(&self) -> Result<Config, Error> {
        let mut argv = vec!["demo".to_string()];
        if self.kind != Kind::Sections {
            argv.push(self.name.to_string());
        }
        let mut config = Config {
            argv,
            mem: 64 << 20,
            stdin: Input::Empty,
            stdout: Output::capture(),
            stderr: Output::capture(),
            diag: Output::capture(),
            keep_events: true,
            ..Config::default()
        };
        match self.kind {
            Kind::Sections => config.mem = crate::DEFAULT_MEM,
            Kind::File => {
                // Any file of 8 pages or more would do; this one is on
                // every machine faultline runs on, and uncached in the guest.
                let exe = std::env::current_exe().map_err(|e| Error::Exec {
                    path: "demo".into(),
                    what: format!("cannot find faultline's own executable to map: {e}"),
                })?;
                let bind = crate::parse_bind(&format!("{}:{DATA_FILE}", exe.display()))
                    .map_err(|what| Error::Exec { path: "demo".into(), what })?;
                config.binds.push(bind);
                config.argv.push(DATA_FILE.into());
            }
            Kind::Reclaim => {
                config.rss_limit = Some(1 << 20);
                config.swap = 4 << 20;
            }
            Kind::Oom => config.mem = 4 << 20,
            _ => {}
        }
        Ok(config)
    }

    /// What Linux would do, as counts, against what the run's timeline
    /// shows (`outcome` must have kept its events).
    pub fn judge(&'static self, outcome: &Outcome) -> Verdict {
        let mut notes = Vec::new();
        let n = |pid: u32, region: &str, kind: EventKind| kind_count(outcome, pid, region, kind);
        let mut checks = match self.kind {
            Kind::Sections => vec![
                check("file-copy in .data", 4, n(1, ".data", EventKind::FileCopy)),
                check("zero-fill in .bss", 8, n(1, ".bss", EventKind::ZeroFill)),
                check(".bss pages resident (of 64)", 8, resident(outcome, 1, ".bss")),
                check("zero-fill in the stack, by the program", 8, {
                    count(outcome, 1, "stack", |e| e.kind == EventKind::ZeroFill && e.origin == Origin::Guest)
                }),
            ],
            Kind::Malloc => {
                let r = "[anon:malloc]";
                let mapped = outcome.summary.process(1).and_then(|p| p.region(r)).map_or(0, |r| r.mapped_pages);
                vec![
                    check("pages mapped", 256, mapped),
                    check("zero-fill", 64, n(1, r, EventKind::ZeroFill)),
                    check("pages resident", 64, resident(outcome, 1, r)),
                ]
            }
            Kind::Mlock => {
                let r = "[anon:mlock]";
                vec![
                    check("prefault-mlock", 32, n(1, r, EventKind::Prefault(Prefault::Mlock))),
                    check("faults after mlock", 0, count(outcome, 1, r, Event::is_guest_fault)),
                    check("kB locked (VmLck)", 128, outcome.memory.status.vm_lck),
                ]
            }
            Kind::Free => {
                let r = "[anon:free]";
                vec![
                    check("zero-fill", 64, n(1, r, EventKind::ZeroFill)),
                    check("release", 64, n(1, r, EventKind::Release)),
                    check("pages resident at exit", 0, resident(outcome, 1, r)),
                ]
            }
            Kind::Fork => {
                let r = "[anon:fork]";
                vec![
                    check("zero-fill in the parent", 32, n(1, r, EventKind::ZeroFill)),
                    check("cow in the parent", 0, n(1, r, EventKind::Cow)),
                    check("cow in the child", 8, n(2, r, EventKind::Cow)),
                    check("pages the child had resident (24 shared, 8 its own)", 32, resident(outcome, 2, r)),
                ]
            }
            Kind::File => file_checks(outcome),
            Kind::Reclaim => reclaim_checks(outcome, &mut notes),
            Kind::Oom => oom_checks(outcome, &mut notes),
        };
        // Said only when it went wrong: a scenario's program exits 0.
        if self.kind != Kind::Oom && outcome.status != ExitStatus::Exited(0) {
            checks.push(check("exit status", 0, outcome.status.code() as u64));
        }
        Verdict { scenario: self, checks, notes }
    }
}

/// A check of `what`: Linux's `expected`, faultline's `saw`.
fn check(what: &str, expected: u64, saw: u64) -> Check {
    Check { what: what.to_string(), expected, saw }
}

/// Events of `kind` in `region` of `pid`.
fn kind_count(outcome: &Outcome, pid: u32, region: &str, kind: EventKind) -> u64 {
    count(outcome, pid, region, |e| e.kind == kind)
}

/// Pages of `region` of `pid` resident at the end.
fn resident(outcome: &Outcome, pid: u32, region: &str) -> u64 {
    outcome.summary.process(pid).and_then(|p| p.region(region)).map_or(0, |r| r.resident_pages)
}

/// The file scenario: each page read once from the file, then one cache
/// hit that maps all 8 (and no cache hit before the last read).
fn file_checks(outcome: &Outcome) -> Vec<Check> {
    let r = DATA_FILE.trim_start_matches('/');
    let rows: Vec<&Event> = outcome.events.iter().filter(|e| e.pid == 1 && outcome.region_name(e) == r).collect();
    let last_copy = rows.iter().rposition(|e| e.kind == EventKind::FileCopy).unwrap_or(0);
    let early_hits = rows[..last_copy].iter().filter(|e| e.kind == EventKind::CacheHit).count();
    vec![
        check("file-copy (read from the file)", 8, kind_count(outcome, 1, r, EventKind::FileCopy)),
        check("cache-hit (from the page cache)", 1, kind_count(outcome, 1, r, EventKind::CacheHit)),
        check("fault-around (mapped with it)", 7, kind_count(outcome, 1, r, EventKind::FaultAround)),
        check("cache-hits before the last file-copy", 0, early_hits as u64),
    ]
}

/// The reclaim scenario: what mincore told the program, just before each
/// read and at the end, is what Linux's counts follow from.
fn reclaim_checks(outcome: &Outcome, notes: &mut Vec<String>) -> Vec<Check> {
    let r = "[anon:reclaim]";
    let stdout = outcome.stdout_text();
    let (out, kept) = (said(&stdout, "out"), said(&stdout, "resident"));
    notes.push(format!(
        "mincore showed {out} of the first 128 pages out before their reads, and {kept} of the 512 \
         in RAM at the end"
    ));
    vec![
        check("zero-fill", 512, kind_count(outcome, 1, r, EventKind::ZeroFill)),
        check("swap-in (the pages mincore showed out)", out, kind_count(outcome, 1, r, EventKind::SwapIn)),
        check("evict (512 - in RAM at the end + swap-ins)", (512 - kept.min(512)) + out, {
            kind_count(outcome, 1, r, EventKind::Evict)
        }),
    ]
}

/// The OOM scenario: the child killed, its parent seeing SIGKILL and
/// exiting 0, the OOM killer's report kept as a note.
fn oom_checks(outcome: &Outcome, notes: &mut Vec<String>) -> Vec<Check> {
    let kills: Vec<&Event> = outcome.events.iter().filter(|e| e.kind == EventKind::OomKill).collect();
    notes.extend(outcome.reports.iter().filter(|l| l.starts_with("Out of memory")).cloned());
    let peak = |pid| outcome.summary.process(pid).map_or(0, |p| p.peak_resident_pages);
    let status = match outcome.status {
        ExitStatus::Exited(c) => c as u64,
        ExitStatus::Killed(s) | ExitStatus::Dumped(s) => 128 + s as u64,
    };
    vec![
        check("oom-kill", 1, kills.len() as u64),
        check("pid killed (the child)", 2, kills.first().map_or(0, |e| e.pid as u64)),
        check("the child's signal, as its parent saw it", 9, said(&outcome.stdout_text(), "child_signal")),
        check("pid 1's exit status", 0, status),
        check("the child at its peak, more pages than its parent", 1, u64::from(peak(2) > peak(1))),
    ]
}

/// Rows of process `pid` in region `region` that `keep` takes.
fn count(outcome: &Outcome, pid: u32, region: &str, keep: impl Fn(&Event) -> bool) -> u64 {
    outcome.events.iter().filter(|e| e.pid == pid && outcome.region_name(e) == region && keep(e)).count() as u64
}

/// `key=N` from the guest's output, 0 if it did not say.
fn said(stdout: &str, key: &str) -> u64 {
    let prefix = format!("{key}=");
    stdout.split_whitespace().find_map(|w| w.strip_prefix(&prefix)?.parse().ok()).unwrap_or(0)
}

/// One count: what Linux would give, and what the timeline shows.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Check {
    /// What is counted.
    pub what: String,
    /// What Linux would give.
    pub expected: u64,
    /// What the run's timeline (or the program) shows.
    pub saw: u64,
}

/// A scenario's counts after a run. Its [`Display`](fmt::Display) is the
/// block `faultline demo` prints: the title, the program and Linux in
/// plain words, then each count expected and seen.
#[derive(Debug)]
#[non_exhaustive]
pub struct Verdict {
    /// The scenario judged.
    pub scenario: &'static Scenario,
    /// Each count.
    pub checks: Vec<Check>,
    /// What else the run said (the OOM killer's report, what mincore
    /// showed).
    pub notes: Vec<String>,
}

impl Verdict {
    /// Whether every count is what Linux would give.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.expected == c.saw)
    }
}

/// `text` in lines of at most `width` characters: the first after
/// `first`, the others after `indent`.
fn wrap(out: &mut String, first: &str, indent: &str, text: &str, width: usize) {
    let mut line = first.to_string();
    let mut words = 0;
    for word in text.split_whitespace() {
        if words > 0 && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = indent.to_string();
            words = 0;
        }
        if words > 0 {
            line.push(' ');
        }
        line.push_str(word);
        words += 1;
    }
    out.push_str(&line);
    out.push('\n');
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.scenario;
        let mut out = String::new();
        let _ = writeln!(out, "{}: {}", s.name, s.title);
        wrap(&mut out, "  ", "  ", s.program, 78);
        wrap(&mut out, "  ", "  ", s.linux, 78);
        for n in &self.notes {
            wrap(&mut out, "  The run: ", "  ", n, 78);
        }
        let _ = writeln!(out, "  expected  saw");
        for c in &self.checks {
            let mark = if c.expected == c.saw { "" } else { "  <- differs" };
            let _ = writeln!(out, "  {:>8} {:>4}  {}{mark}", c.expected, c.saw, c.what);
        }
        f.write_str(&out)
    }
}
