//! The options of `faultline run` and the output files `run` and `demo`
//! share, with the parsers of their values.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use faultline::{parse_size, PageCache, WakeMode};

/// The files a run writes, for `run` and `demo` alike.
#[derive(Args, Clone, Default)]
pub struct OutputOpts {
    /// Write every page event to this CSV file, as it happens.
    #[arg(long, value_name = "FILE.csv")]
    pub timeline: Option<PathBuf>,
    /// Write the summary as JSON (schema faultline-summary/1, see README).
    #[arg(long, value_name = "FILE.json")]
    pub summary: Option<PathBuf>,
    /// Write a trace that Perfetto UI and chrome://tracing open.
    #[arg(long, value_name = "FILE.json")]
    pub trace: Option<PathBuf>,
    /// Write one self-contained HTML page: each process's resident memory
    /// over time, a fault heatmap by event kind, the regions, a flame graph
    /// of the code that faulted.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Write the faults' call stacks in the folded format flamegraph.pl
    /// and inferno read (`prog [1];main;build;fill 256`).
    #[arg(long, value_name = "FILE")]
    pub folded: Option<PathBuf>,
    /// Draw the faults' call stacks as an SVG flame graph.
    #[arg(long, value_name = "FILE.svg")]
    pub flamegraph: Option<PathBuf>,
    /// Which faults the flame graph and --folded count: faults (all),
    /// cow, major, or fault kinds separated by commas (zero-fill,swap-in).
    #[arg(long, value_name = "KINDS", default_value = "faults", value_parser = select)]
    pub graph_events: faultline::report::folded::Select,
}

pub fn select(s: &str) -> Result<faultline::report::folded::Select, String> {
    faultline::report::folded::Select::parse(s)
}

// `faultline run`'s options (no doc comment: clap would show it).
#[derive(Args)]
pub struct RunOpts {
    /// Guest RAM (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value_t = Size::of(faultline::DEFAULT_MEM), value_parser = size)]
    pub mem: Size,
    #[command(flatten)]
    pub out: OutputOpts,
    /// Add K=V to the program's environment (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Kill the program (and every process it made) after this long:
    /// seconds, or a number with s, m, h or d, as timeout(1) takes it
    /// (`1.5`, `30s`, `2m`, `1h`).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub timeout: Option<Duration>,
    /// How the fault handler waits for faults: auto (spin when a CPU is
    /// free for it, else sleep), spin, colocated or poll.
    #[arg(long, default_value = "auto")]
    pub wake: WakeMode,
    /// How syscalls reach faultline: `ring` (a shared-memory ring served
    /// by a host thread, no VM exit for calls that cannot block), `exit` (a
    /// VM exit per call), or `ring-cpl0` (the ring as bare-metal KVM enters
    /// it, in ring 0; for testing that path). Default: `ring` where the
    /// architecture has a ring stub (x86-64), else `exit` (arm64).
    #[arg(long, default_value_t, value_name = "PATH")]
    pub syscalls: faultline::SyscallPath,
    /// Cap on resident memory (default: all of --mem).
    #[arg(long, value_name = "SIZE", value_parser = size)]
    pub rss_limit: Option<Size>,
    /// Swap store for evicted pages, held in host memory.
    #[arg(long, value_name = "SIZE", default_value = "0", value_parser = parse_size)]
    pub swap: u64,
    /// RLIMIT_MEMLOCK for the program (8M is current Linux's default).
    #[arg(long, value_name = "SIZE", default_value = "8M", value_parser = parse_size)]
    pub memlock_limit: u64,
    /// Populate and pin a region at load: .text, .data, heap, stack, all, …
    /// (repeatable).
    #[arg(long, value_name = "REGION")]
    pub pin: Vec<String>,
    /// Print the memory status when reclaim runs (at most once a second).
    #[arg(long)]
    pub status: bool,
    /// Randomise where the heap and mmaps start, as Linux's ASLR does.
    #[arg(long)]
    pub aslr: bool,
    /// Most processes and threads alive at once (a fork bomb meets EAGAIN).
    #[arg(long, value_name = "N", default_value_t = faultline::DEFAULT_MAX_TASKS)]
    pub max_tasks: u32,
    /// vm.overcommit_memory: 0 heuristic, 1 always, 2 strict.
    #[arg(long, value_name = "MODE", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=2))]
    pub overcommit: u32,
    /// vm.overcommit_ratio (percent of RAM strict mode allows, plus swap).
    #[arg(long, value_name = "PERCENT", default_value_t = 50)]
    pub overcommit_ratio: u64,
    /// vm.max_map_count.
    #[arg(long, value_name = "N", default_value_t = faultline::DEFAULT_MAX_MAP_COUNT)]
    pub max_map_count: usize,
    /// The host directory the program sees as / (read-only; the program's
    /// changes live in memory and vanish at exit).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Bind a host directory at a guest path, read-only (ro, the default)
    /// or read-write (rw: the only way the program changes host files);
    /// repeatable.
    #[arg(long, value_name = "HOST:GUEST[:ro|rw]", value_parser = faultline::parse_bind)]
    pub bind: Vec<faultline::Bind>,
    /// The program's working directory, inside the root.
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// Run the program as this uid (default: yours). Its group is then the
    /// user's in the root's /etc/passwd (or the same number), with no
    /// supplementary groups, unless --gid and --groups say otherwise.
    #[arg(long, value_name = "UID")]
    pub uid: Option<u32>,
    /// Run the program with this gid (default: yours, or --uid's).
    #[arg(long, value_name = "GID")]
    pub gid: Option<u32>,
    /// Supplementary groups, comma-separated (empty: none).
    #[arg(long, value_name = "GID,GID,...", value_delimiter = ',', num_args = 0..)]
    pub groups: Option<Vec<u32>>,
    /// Log each syscall, strace-style, to stderr (or to FILE with =FILE).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-", require_equals = true)]
    pub strace: Option<String>,
    /// Write the syscall log to FILE (strace -o); implies --strace.
    #[arg(long, value_name = "FILE")]
    pub strace_output: Option<PathBuf>,
    /// Which syscalls to log (strace -e trace=): names and %classes
    /// (%memory, %file, %desc, %process, %signal, %ipc, %network), `!` to
    /// negate; implies --strace.
    #[arg(long, value_name = "EXPR")]
    pub strace_filter: Option<String>,
    /// Count calls, errors and time per syscall and print strace -c's table
    /// at the end instead of a log.
    #[arg(long)]
    pub strace_count: bool,
    /// Show each call's time (strace -T).
    #[arg(long)]
    pub strace_times: bool,
    /// Anonymous pages the first touch in a block maps (1-512; default 16,
    /// and 1 with --folded, --flamegraph or --report). With 1, every first
    /// touch is a guest page fault and every row gets its ip, symbol and
    /// call stack; larger blocks let the rest fault through userfaultfd
    /// without an exit, but from inside KVM, where the instruction is
    /// unknown.
    #[arg(long, value_name = "PAGES", value_parser = clap::value_parser!(u64).range(1..=512))]
    pub fill_pages: Option<u64>,
    /// Map the cached pages around a read fault in a file mapping, as
    /// Linux's fault_around_bytes does (the default is Linux's): one fault,
    /// the other pages `fault-around` rows. 0 for one fault per page
    /// touched. Rounded down to a power of two; at most 2M.
    #[arg(long, value_name = "SIZE", default_value_t = Size::of(faultline::DEFAULT_FAULT_AROUND), value_parser = size)]
    pub fault_around: Size,
    /// What the guest's page cache holds of host files at the start:
    /// `host`, what the host's own cache holds of each page when the guest
    /// first needs it (so major and minor faults are a native run's);
    /// `warm`, every page; `cold`, none (every first read of a page is a
    /// major fault, as after drop_caches; the library's default).
    #[arg(long, value_name = "STATE", default_value_t = PageCache::Host)]
    pub page_cache: PageCache,
    /// Print a `vmstat N` line on stderr every SECS seconds while the
    /// program runs (the first at once, since the start): procps's columns
    /// from faultline's model, then `flt` and `majflt`, page faults per
    /// second (see README).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub vmstat: Option<u64>,
    /// Print top's per-process table at exit (each process as it ended),
    /// and of the live processes whenever faultline gets SIGUSR1.
    #[arg(long)]
    pub top: bool,
    /// At exit, print one line of Linux's own counters instead of the
    /// summary, in /usr/bin/time's words: elapsed, user and system time,
    /// max resident, major and minor faults, voluntary and involuntary
    /// context switches (pid 1's and its reaped children's).
    #[arg(long)]
    pub stat: bool,
    /// Do not print the summary or progress.
    #[arg(long, short)]
    pub quiet: bool,
    /// The program and its arguments. PROGRAM is found as execvp finds
    /// it: a name without a slash is looked up in the program's PATH.
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, value_name = "PROGRAM [ARGS]")]
    pub command: Vec<String>,
}

/// A size as given on the command line: its bytes, and the words the user
/// wrote them in, for messages.
#[derive(Clone, Debug)]
pub struct Size {
    pub bytes: u64,
    pub text: String,
}

impl Size {
    /// `bytes` in the largest binary unit that divides them (`1G`).
    fn of(bytes: u64) -> Size {
        let (n, unit) = [(30, "G"), (20, "M"), (10, "K")]
            .into_iter()
            .find(|&(shift, _)| bytes >= 1 << shift && bytes.is_multiple_of(1 << shift))
            .map_or((bytes, ""), |(shift, u)| (bytes >> shift, u));
        Size { bytes, text: format!("{n}{unit}") }
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn size(s: &str) -> Result<Size, String> {
    parse_size(s).map(|bytes| Size { bytes, text: s.trim().to_string() })
}

/// A duration as timeout(1) takes it: a decimal number of seconds, or
/// one with an s, m, h or d suffix.
fn duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.char_indices().last() {
        Some((i, c @ ('s' | 'm' | 'h' | 'd'))) => (&t[..i], c),
        _ => (t, 's'),
    };
    let scale = match unit {
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86400.0,
        _ => 1.0,
    };
    let bad = || format!("expected a number of seconds, or one with s, m, h or d (1.5, 30s, 2m, 1h), not {t:?}");
    // Rust's float syntax takes "inf" and "nan", which no timeout means.
    if !num.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '-')
        || !num.chars().all(|c| c.is_ascii_digit() || ".eE+-".contains(c))
    {
        return Err(bad());
    }
    let secs = num.parse::<f64>().map_err(|_| bad())? * scale;
    if secs <= 0.0 {
        return Err(format!("{t} is no time at all; give a positive duration"));
    }
    Duration::try_from_secs_f64(secs).ok().filter(|d| d.as_secs() < 1 << 40).ok_or_else(|| format!("{t} is too long"))
}
