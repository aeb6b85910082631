//! The `faultline` command line: parsing, output files, signals, exit
//! statuses. Everything else is the library's.

use std::fs::File;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::{Args, Parser, Subcommand};

use faultline::strace::{Filter, Sink};
use faultline::timeline::{CsvSink, EventSink};
use faultline::{parse_size, Config, Outcome, Output, Program, Sandbox, Strace, WakeMode};

/// Exit status when faultline itself fails (as env(1) and timeout(1) use
/// it), so it is never mistaken for the program's own.
const TOOL_FAILURE: u8 = 125;

/// println! for faultline's own output: a reader that went away (`| head`)
/// ends faultline quietly, as SIGPIPE ends other tools (faultline ignores
/// SIGPIPE so that the program's writes can meet EPIPE as natively).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(128 + libc::SIGPIPE);
            }
        }
    }};
}

#[derive(Parser)]
#[command(
    name = "faultline",
    version,
    about = "Run an x86-64 Linux program on KVM and watch its memory get backed, page by page"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run an x86-64 Linux program (static, or dynamic with its interpreter) as the guest.
    /// Everything after PROGRAM is the program's own (`--` before it is
    /// accepted, never needed).
    Run {
        #[command(flatten)]
        opts: Box<RunOpts>,
        /// The program and its arguments. PROGRAM is found as execvp finds
        /// it: a name without a slash is looked up in the program's PATH.
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, value_name = "PROGRAM [ARGS]")]
        command: Vec<String>,
    },
    /// Show in real runs what Linux does with a program's memory: malloc,
    /// mlock, free, fork, a file mapping, reclaim and the OOM killer, each
    /// with the counts Linux would give and those the timeline shows.
    Demo {
        /// One scenario (`--list` names them); all of them if none.
        scenario: Option<String>,
        /// List the scenarios.
        #[arg(long)]
        list: bool,
        /// With several scenarios, each file gets the scenario's name
        /// before its extension (t.csv: t-fork.csv).
        #[command(flatten)]
        out: OutputOpts,
        /// Do not print the summary of a single scenario's run.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Build the HTML report (and a trace, folded stacks, a flame graph)
    /// from a saved timeline CSV and the stacks table beside it.
    Report {
        csv: PathBuf,
        /// Where the page goes (default: the CSV's name with .html).
        #[arg(long, value_name = "FILE.html")]
        html: Option<PathBuf>,
        /// Also write a Perfetto/chrome://tracing trace.
        #[arg(long, value_name = "FILE.json")]
        trace: Option<PathBuf>,
        /// Also write the faults' call stacks, folded.
        #[arg(long, value_name = "FILE")]
        folded: Option<PathBuf>,
        /// Also draw them as an SVG flame graph.
        #[arg(long, value_name = "FILE.svg")]
        flamegraph: Option<PathBuf>,
        /// Which faults the graphs count: faults, cow, major, or kinds.
        #[arg(long, value_name = "KINDS", default_value = "faults", value_parser = select)]
        graph_events: faultline::report::folded::Select,
        /// The run's --rss-limit (or --mem), drawn on the resident chart.
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        rss_limit: Option<u64>,
    },
    /// Compare two timelines without their times: exit 0 if they tell the
    /// same story, 1 (with the first differing row) if not.
    Diff {
        a: PathBuf,
        b: PathBuf,
        /// Compare only the counts per process, region and event.
        #[arg(long)]
        counts: bool,
        /// With --counts: allowed difference per count, in percent.
        #[arg(long, value_name = "PERCENT", default_value_t = 0.0, requires = "counts")]
        tolerance: f64,
    },
    /// Measure trapped faults against kernel-populated and native touches.
    Bench {
        /// Pages each way touches.
        #[arg(long, default_value_t = faultline::bench::DEFAULT_PAGES)]
        pages: u64,
        /// Print one line of JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Runs of each kind; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeat: u32,
    },
}

/// The files a run writes, for `run` and `demo` alike.
#[derive(Args, Clone, Default)]
struct OutputOpts {
    /// Write every page event to this CSV file, as it happens.
    #[arg(long, value_name = "FILE.csv")]
    timeline: Option<PathBuf>,
    /// Write the summary as JSON (schema faultline-summary/1, see README).
    #[arg(long, value_name = "FILE.json")]
    summary: Option<PathBuf>,
    /// Write a trace that Perfetto UI and chrome://tracing open.
    #[arg(long, value_name = "FILE.json")]
    trace: Option<PathBuf>,
    /// Write one self-contained HTML page: each process's resident memory
    /// over time, a fault heatmap by event kind, the regions, a flame graph
    /// of the code that faulted.
    #[arg(long, value_name = "FILE.html")]
    report: Option<PathBuf>,
    /// Write the faults' call stacks in the folded format flamegraph.pl
    /// and inferno read (`prog [1];main;build;fill 256`).
    #[arg(long, value_name = "FILE")]
    folded: Option<PathBuf>,
    /// Draw the faults' call stacks as an SVG flame graph.
    #[arg(long, value_name = "FILE.svg")]
    flamegraph: Option<PathBuf>,
    /// Which faults the flame graph and --folded count: faults (all),
    /// cow, major, or fault kinds separated by commas (zero-fill,swap-in).
    #[arg(long, value_name = "KINDS", default_value = "faults", value_parser = select)]
    graph_events: faultline::report::folded::Select,
}

fn select(s: &str) -> Result<faultline::report::folded::Select, String> {
    faultline::report::folded::Select::parse(s)
}

#[derive(Args)]
struct RunOpts {
    /// Guest RAM (K, M, G suffixes).
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = size)]
    mem: Size,
    #[command(flatten)]
    out: OutputOpts,
    /// Add K=V to the program's environment (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Kill the program (and every process it made) after this long:
    /// seconds, or a number with s, m, h or d, as timeout(1) takes it
    /// (`1.5`, `30s`, `2m`, `1h`).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    timeout: Option<Duration>,
    /// How the fault handler waits for faults: auto (spin when a CPU is
    /// free for it, else sleep), spin, colocated or poll.
    #[arg(long, default_value = "auto")]
    wake: WakeMode,
    /// How syscalls reach faultline: `ring` (a shared-memory ring served
    /// by a host thread, no VM exit for calls that cannot block), `exit` (a
    /// VM exit per call), or `ring-cpl0` (the ring as bare-metal KVM enters
    /// it, in ring 0; for testing that path).
    #[arg(long, default_value = "ring", value_name = "PATH")]
    syscalls: faultline::SyscallPath,
    /// Cap on resident memory (default: all of --mem).
    #[arg(long, value_name = "SIZE", value_parser = size)]
    rss_limit: Option<Size>,
    /// Swap store for evicted pages, held in host memory.
    #[arg(long, value_name = "SIZE", default_value = "0", value_parser = parse_size)]
    swap: u64,
    /// RLIMIT_MEMLOCK for the program (8M is current Linux's default).
    #[arg(long, value_name = "SIZE", default_value = "8M", value_parser = parse_size)]
    memlock_limit: u64,
    /// Populate and pin a region at load: .text, .data, heap, stack, all, …
    /// (repeatable).
    #[arg(long, value_name = "REGION")]
    pin: Vec<String>,
    /// Print the memory status when reclaim runs (at most once a second).
    #[arg(long)]
    status: bool,
    /// Randomise where the heap and mmaps start, as Linux's ASLR does.
    #[arg(long)]
    aslr: bool,
    /// Most processes and threads alive at once (a fork bomb meets EAGAIN).
    #[arg(long, value_name = "N", default_value_t = faultline::DEFAULT_MAX_TASKS)]
    max_tasks: u32,
    /// vm.overcommit_memory: 0 heuristic, 1 always, 2 strict.
    #[arg(long, value_name = "MODE", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=2))]
    overcommit: u32,
    /// vm.overcommit_ratio (percent of RAM strict mode allows, plus swap).
    #[arg(long, value_name = "PERCENT", default_value_t = 50)]
    overcommit_ratio: u64,
    /// vm.max_map_count.
    #[arg(long, value_name = "N", default_value_t = faultline::DEFAULT_MAX_MAP_COUNT)]
    max_map_count: usize,
    /// The host directory the program sees as / (read-only; the program's
    /// changes live in memory and vanish at exit).
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Bind a host directory at a guest path, read-only (ro, the default)
    /// or read-write (rw: the only way the program changes host files);
    /// repeatable.
    #[arg(long, value_name = "HOST:GUEST[:ro|rw]", value_parser = faultline::parse_bind)]
    bind: Vec<faultline::Bind>,
    /// The program's working directory, inside the root.
    #[arg(long, value_name = "DIR")]
    cwd: Option<String>,
    /// Run the program as this uid (default: yours). Its group is then the
    /// user's in the root's /etc/passwd (or the same number), with no
    /// supplementary groups, unless --gid and --groups say otherwise.
    #[arg(long, value_name = "UID")]
    uid: Option<u32>,
    /// Run the program with this gid (default: yours, or --uid's).
    #[arg(long, value_name = "GID")]
    gid: Option<u32>,
    /// Supplementary groups, comma-separated (empty: none).
    #[arg(long, value_name = "GID,GID,...", value_delimiter = ',', num_args = 0..)]
    groups: Option<Vec<u32>>,
    /// Log each syscall, strace-style, to stderr (or to FILE with =FILE).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-", require_equals = true)]
    strace: Option<String>,
    /// Write the syscall log to FILE (strace -o); implies --strace.
    #[arg(long, value_name = "FILE")]
    strace_output: Option<PathBuf>,
    /// Which syscalls to log (strace -e trace=): names and %classes
    /// (%memory, %file, %desc, %process, %signal, %ipc, %network), `!` to
    /// negate; implies --strace.
    #[arg(long, value_name = "EXPR")]
    strace_filter: Option<String>,
    /// Count calls, errors and time per syscall and print strace -c's table
    /// at the end instead of a log.
    #[arg(long)]
    strace_count: bool,
    /// Show each call's time (strace -T).
    #[arg(long)]
    strace_times: bool,
    /// Anonymous pages the first touch in a block maps (1-512; default 16,
    /// and 1 with --folded, --flamegraph or --report). With 1, every first
    /// touch is a guest page fault and every row gets its ip, symbol and
    /// call stack; larger blocks let the rest fault through userfaultfd
    /// without an exit, but from inside KVM, where the instruction is
    /// unknown.
    #[arg(long, value_name = "PAGES", value_parser = clap::value_parser!(u64).range(1..=512))]
    fill_pages: Option<u64>,
    /// Map the cached pages around a read fault in a file mapping, as
    /// Linux's fault_around_bytes does (64k is its default): one fault, the
    /// other pages `fault-around` rows. Default off: one fault per page
    /// touched. Rounded down to a power of two; at most 2M.
    #[arg(long, value_name = "SIZE", default_value = "0", value_parser = parse_size)]
    fault_around: u64,
    /// Print a `vmstat N` line on stderr every SECS seconds while the
    /// program runs (the first at once, since the start): procps's columns
    /// from faultline's model, then `flt` and `majflt`, page faults per
    /// second (see README).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    vmstat: Option<u64>,
    /// Print top's per-process table at exit (each process as it ended),
    /// and of the live processes whenever faultline gets SIGUSR1.
    #[arg(long)]
    top: bool,
    /// At exit, print one line of Linux's own counters instead of the
    /// summary, in /usr/bin/time's words: elapsed, user and system time,
    /// max resident, major and minor faults, voluntary and involuntary
    /// context switches (pid 1's and its reaped children's).
    #[arg(long)]
    stat: bool,
    /// Do not print the summary or progress.
    #[arg(long, short)]
    quiet: bool,
}

/// A size as given on the command line: its bytes, and the words the user
/// wrote them in, for messages.
#[derive(Clone, Debug)]
struct Size {
    bytes: u64,
    text: String,
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

/// The signal that asked faultline to stop, 0 if none. A second one exits
/// at once.
static INTERRUPT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    if INTERRUPT.swap(sig, Ordering::AcqRel) != 0 {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + sig) };
    }
}

/// SIGUSR1 arrived (with --top): print the live processes' table.
static TOP_WANTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_: libc::c_int) {
    TOP_WANTED.store(true, Ordering::Release);
}

fn catch_usr1() {
    // SAFETY: the handler only sets an atomic.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
}

/// While the program runs: a vmstat line every `every` (the header and the
/// first line at once), and top's table when SIGUSR1 asks (with --top).
fn live_view(
    probe: faultline::ProgressProbe,
    every: Option<Duration>,
    top: bool,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        use std::io::Write;
        let mut next = Instant::now();
        while !done.load(Ordering::Acquire) {
            if let Some(every) = every.filter(|_| Instant::now() >= next) {
                let _ = std::io::stderr().lock().write_all(probe.vmstat().as_bytes());
                next += every;
            }
            if top && TOP_WANTED.swap(false, Ordering::AcqRel) {
                let _ = std::io::stderr().lock().write_all(probe.top_live().as_bytes());
            }
            let wait = every.map_or(Duration::from_millis(100), |_| next.saturating_duration_since(Instant::now()));
            std::thread::park_timeout(wait.min(Duration::from_millis(100)));
        }
    })
}

fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: installing a handler that only touches an atomic and may
        // call _exit; SA_RESTART keeps faultline's own I/O going.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

fn create(path: &std::path::Path) -> Result<File> {
    File::create(path).with_context(|| format!("cannot create {}", path.display()))
}

/// The strace settings, with its output file opened now.
fn strace_of(opts: &RunOpts) -> Result<Option<Strace>> {
    let wanted = opts.strace.is_some()
        || opts.strace_output.is_some()
        || opts.strace_filter.is_some()
        || opts.strace_count
        || opts.strace_times;
    if !wanted {
        return Ok(None);
    }
    let file = match (&opts.strace, &opts.strace_output) {
        (Some(f), Some(_)) if f != "-" => bail!("--strace=FILE and --strace-output both name a file; give one"),
        (_, Some(p)) => Some(p.clone()),
        (Some(f), None) if f != "-" => Some(PathBuf::from(f)),
        _ => None,
    };
    let sink = match file {
        Some(p) => Sink::File(Arc::new(Mutex::new(create(&p)?))),
        None => Sink::Stderr,
    };
    let mut st = Strace::new(sink);
    if let Some(expr) = &opts.strace_filter {
        st.filter = Filter::parse(expr).map_err(|e| anyhow::anyhow!("--strace-filter: {e}"))?;
    }
    st.count = opts.strace_count;
    st.times = opts.strace_times;
    Ok(Some(st))
}

/// Who the program runs as: the caller, with --uid, --gid and --groups
/// over it.
fn identity_of(opts: &RunOpts) -> Option<faultline::Identity> {
    if opts.uid.is_none() && opts.gid.is_none() && opts.groups.is_none() {
        return None;
    }
    let mut who = match opts.uid {
        Some(uid) => faultline::Identity::of_user(uid, &opts.root),
        None => faultline::Identity::of_caller(),
    };
    if let Some(gid) = opts.gid {
        who.gid = gid;
    }
    if let Some(groups) = &opts.groups {
        who.groups = groups.clone();
    }
    Some(who)
}

/// The configuration, checked as the library checks it, with every output
/// file opened (so a bad path fails before anything runs).
fn config_of(argv: Vec<String>, opts: &RunOpts) -> Result<Config> {
    let mut env = faultline::default_env();
    for kv in &opts.env {
        // A variable given again replaces the default (getenv finds the
        // first, so a second PATH= would go unseen).
        if let Some((key, _)) = kv.split_once('=') {
            env.retain(|e| e.split_once('=').is_none_or(|(k, _)| k != key));
        }
        env.push(kv.clone());
    }
    // The library checks these too, but says the sizes in bytes: here
    // they are said as the user wrote them.
    let mem = &opts.mem;
    if mem.bytes == 0 || !mem.bytes.is_multiple_of(4096) {
        bail!("--mem {} is not a positive multiple of 4 KiB", mem.text);
    }
    if let Some(limit) = &opts.rss_limit {
        if limit.bytes > mem.bytes {
            bail!(
                "--rss-limit {} is above --mem {}: the guest cannot hold more than its RAM; raise --mem or lower --rss-limit",
                limit.text,
                mem.text
            );
        }
        if limit.bytes < faultline::MIN_RSS_LIMIT {
            bail!("--rss-limit {} is below 256K, too little for even a small program", limit.text);
        }
    }
    let config = Config {
        mem: mem.bytes,
        argv,
        env,
        timeout: opts.timeout,
        wake: opts.wake,
        syscalls: opts.syscalls,
        strace: strace_of(opts)?,
        rss_limit: opts.rss_limit.as_ref().map(|s| s.bytes),
        swap: opts.swap,
        memlock_limit: opts.memlock_limit,
        pin: opts.pin.clone(),
        status: opts.status.then_some(Output::Inherit(2)),
        aslr: opts.aslr,
        max_tasks: opts.max_tasks,
        overcommit: opts.overcommit,
        overcommit_ratio: opts.overcommit_ratio,
        max_map_count: opts.max_map_count,
        root: opts.root.clone(),
        cwd: opts.cwd.clone(),
        binds: opts.bind.clone(),
        identity: identity_of(opts),
        fill_pages: opts.fill_pages.unwrap_or(if opts.out.stacks() { 1 } else { faultline::DEFAULT_FILL_PAGES }),
        fault_around: opts.fault_around,
        ..Config::default()
    };
    config.validate()?;
    Ok(config)
}

/// The output files, created before anything runs, and the syscall log
/// the pictures draw from.
struct Opened {
    summary: Option<(PathBuf, File)>,
    trace: Option<(PathBuf, File)>,
    report: Option<(PathBuf, File)>,
    folded: Option<(PathBuf, File)>,
    flamegraph: Option<(PathBuf, File)>,
    select: faultline::report::folded::Select,
    calls: Option<faultline::strace::CallLog>,
}

impl OutputOpts {
    /// Creates every file asked for (so a bad path fails before anything
    /// runs) and sets `config` up for them: the timeline streams to its
    /// CSV; the pictures need every event and syscall.
    fn open(&self, config: &mut Config) -> Result<Opened> {
        let open = |p: &Option<PathBuf>| p.as_deref().map(|p| create(p).map(|f| (p.to_path_buf(), f))).transpose();
        let (summary, trace, report) = (open(&self.summary)?, open(&self.trace)?, open(&self.report)?);
        let (folded, flamegraph) = (open(&self.folded)?, open(&self.flamegraph)?);
        config.stacks |= self.stacks();
        if let Some(path) = &self.timeline {
            // The stacks table beside it, when there are stacks.
            let out = create(path)?;
            let sink = if config.stacks {
                let stacks = faultline::timeline::stacks_path(path);
                CsvSink::with_stacks(out, create(&stacks)?)
            } else {
                CsvSink::new(out)
            };
            let sink = sink.with_context(|| format!("cannot write {}", path.display()))?;
            config.sinks.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(sink) as Box<dyn EventSink>);
        }
        let pictures = trace.is_some() || report.is_some() || folded.is_some() || flamegraph.is_some();
        config.keep_events |= pictures;
        let calls = (trace.is_some() || report.is_some()).then(faultline::strace::CallLog::default);
        if calls.is_some() {
            config.calls = calls.clone();
        }
        Ok(Opened { summary, trace, report, folded, flamegraph, select: self.graph_events.clone(), calls })
    }

    /// Whether these outputs draw call stacks (so the run unwinds them).
    fn stacks(&self) -> bool {
        self.folded.is_some() || self.flamegraph.is_some() || self.report.is_some()
    }

    /// The same files, each named for scenario `name` (t.csv: t-name.csv).
    fn for_scenario(&self, name: &str) -> OutputOpts {
        let named = |p: &Option<PathBuf>| {
            p.as_ref().map(|p| {
                let stem = p.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                let file = match p.extension() {
                    Some(ext) => format!("{stem}-{name}.{}", ext.to_string_lossy()),
                    None => format!("{stem}-{name}"),
                };
                p.with_file_name(file)
            })
        };
        OutputOpts {
            timeline: named(&self.timeline),
            summary: named(&self.summary),
            trace: named(&self.trace),
            report: named(&self.report),
            folded: named(&self.folded),
            flamegraph: named(&self.flamegraph),
            graph_events: self.graph_events.clone(),
        }
    }

    /// The options as a command line would give them.
    fn words(&self) -> Vec<String> {
        [
            ("--timeline", &self.timeline),
            ("--summary", &self.summary),
            ("--trace", &self.trace),
            ("--report", &self.report),
            ("--folded", &self.folded),
            ("--flamegraph", &self.flamegraph),
        ]
        .iter()
        .filter_map(|(opt, p)| p.as_ref().map(|p| format!("{opt} {}", p.display())))
        .collect()
    }
}

impl Opened {
    /// Writes the JSON summary, the trace and the page, from `outcome`.
    fn write(self, outcome: &Outcome, title: &str) -> Result<()> {
        if let Some((path, f)) = self.summary {
            write_out(&path, f, &serde_json::to_string_pretty(&faultline::report::summary::to_json(outcome))?)?;
        }
        if self.trace.is_some() || self.report.is_some() || self.folded.is_some() || self.flamegraph.is_some() {
            use faultline::report::rows::{Row, StackTable};
            let rows: Vec<Row> = outcome.events.iter().map(|e| Row::from_event(e, &outcome.regions)).collect();
            let calls = self
                .calls
                .map(|c| std::mem::take(&mut *c.lock().unwrap_or_else(|p| p.into_inner())))
                .unwrap_or_default();
            let stacks = StackTable::from_events(&outcome.events);
            let limits = faultline::report::html::Limits::of(outcome);
            let pictures = Pictures { title: title.to_string(), rows, stacks, calls, limits, select: self.select };
            pictures.write(self.trace, self.report, self.folded, self.flamegraph)?;
        }
        Ok(())
    }
}

/// What the trace, the page, the folded stacks and the flame graph are
/// drawn from: a run's events, or a saved timeline.
struct Pictures {
    title: String,
    rows: Vec<faultline::report::rows::Row>,
    stacks: faultline::report::rows::StackTable,
    calls: Vec<faultline::strace::CallRecord>,
    limits: faultline::report::html::Limits,
    select: faultline::report::folded::Select,
}

type Out = Option<(PathBuf, File)>;

impl Pictures {
    fn write(&self, trace: Out, report: Out, folded: Out, flamegraph: Out) -> Result<()> {
        use faultline::report::{folded as fold, html, trace as chrome};
        if let Some((path, f)) = trace {
            write_out(&path, f, &chrome::to_json(&self.rows, &self.calls, &Default::default()).to_string())?;
        }
        let lines = fold::folded(&self.rows, &self.stacks, &self.select);
        if let Some((path, mut f)) = folded {
            use std::io::Write;
            f.write_all(fold::text(&lines).as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
        }
        if let Some((path, f)) = flamegraph {
            write_out(&path, f, &fold::flamegraph(&lines, &self.title, &self.select.describe())?)?;
        }
        if let Some((path, f)) = report {
            let page = html::Page {
                title: &self.title,
                rows: &self.rows,
                stacks: &self.stacks,
                calls: &self.calls,
                limits: self.limits,
            };
            write_out(&path, f, &html::render(&page))?;
        }
        Ok(())
    }
}

/// Shows elapsed time, events and resident memory on a terminal's stderr
/// while the program runs, once a second.
fn progress(probe: faultline::ProgressProbe, done: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let start = Instant::now();
        while !done.load(Ordering::Acquire) {
            std::thread::park_timeout(Duration::from_millis(250));
            let t = start.elapsed();
            if t < Duration::from_secs(1) || done.load(Ordering::Acquire) {
                continue;
            }
            let p = probe.read();
            probe.show_line(&format!(
                "[faultline {:.0}s: {} events, {:.1} MiB resident, {} process{}]",
                t.as_secs_f64(),
                p.events,
                p.resident_pages as f64 * 4096.0 / (1 << 20) as f64,
                p.processes,
                if p.processes == 1 { "" } else { "es" }
            ));
            std::thread::park_timeout(Duration::from_millis(750));
        }
        probe.clear_line();
    })
}

fn run(program: Program, argv: Vec<String>, opts: &RunOpts) -> Result<Outcome> {
    let title = format!("faultline run {}", argv.join(" "));
    let mut config = config_of(argv, opts)?;
    let files = opts.out.open(&mut config)?;
    let strace = config.strace.clone();
    let sandbox = Sandbox::new(program, config)?;
    // A vmstat line every N seconds and a progress line would mix.
    let show_progress = !opts.quiet && std::io::stderr().is_terminal() && opts.vmstat.is_none();
    let done = Arc::new(AtomicBool::new(false));
    let probe = sandbox.probe();
    let watcher = show_progress.then(|| progress(sandbox.probe(), done.clone()));
    let every = opts.vmstat.map(Duration::from_secs);
    // Caught before anything is printed: who waits for the first line may
    // signal at once.
    if opts.top {
        catch_usr1();
    }
    let live = (every.is_some() || opts.top).then(|| live_view(sandbox.probe(), every, opts.top, done.clone()));
    catch_signals();
    let result = sandbox.run_with(Some(&INTERRUPT));
    done.store(true, Ordering::Release);
    for w in [watcher, live].into_iter().flatten() {
        w.thread().unpark();
        let _ = w.join();
    }
    // faultline failing mid-run still shows what happened until then: the
    // summary, the files asked for; the error comes last.
    let (outcome, failure) = match result {
        Ok(o) => (o, None),
        Err(faultline::Error::Aborted { why, partial }) => (*partial, Some(why)),
        Err(e) => return Err(e.into()),
    };
    if let Some(st) = strace.filter(|s| s.count) {
        st.sink.emit(st.table().trim_end());
    }
    if opts.stat {
        eprintln!("faultline: {}", outcome.usage);
    } else if !opts.quiet {
        eprintln!("\n{}", faultline::report::summary::text(&outcome));
    }
    if opts.top {
        eprint!("{}", probe.top_exited());
    }
    files.write(&outcome, &title)?;
    if let Some(why) = failure {
        bail!(why);
    }
    Ok(outcome)
}

/// `faultline demo`: each scenario asked for, run and judged; exit 0 if
/// every count is what Linux would give.
fn demo(scenario: Option<String>, list: bool, out: &OutputOpts, quiet: bool) -> Result<u8> {
    use faultline::demo::{self, SCENARIOS};
    if list {
        for s in &SCENARIOS {
            say!("{:<9} {}", s.name, s.title);
        }
        return Ok(0);
    }
    let chosen: Vec<&'static demo::Scenario> = match &scenario {
        Some(name) => vec![demo::scenario(name).with_context(|| {
            let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
            format!("no scenario {:?}: {} (faultline demo --list)", faultline::text::tame(name), names.join(", "))
        })?],
        None => SCENARIOS.iter().collect(),
    };
    let several = chosen.len() > 1;
    // Every file of every scenario is created before anything runs.
    let mut runs = Vec::new();
    for s in chosen {
        let files = if several { out.for_scenario(s.name) } else { out.clone() };
        let mut config = s.config()?;
        let opened = files.open(&mut config)?;
        runs.push((s, files, config, opened));
    }
    if several {
        say!(
            "faultline demo: what Linux does with a program's memory, in {} real runs.\n\
             Each count expected is Linux's; each count seen is from the run's timeline.",
            runs.len()
        );
    }
    catch_signals();
    let mut differ = Vec::new();
    for (s, files, config, opened) in runs {
        let outcome = Sandbox::new(s.program(), config)?.run_with(Some(&INTERRUPT))?;
        let sig = INTERRUPT.load(Ordering::Acquire);
        if sig != 0 {
            // The scenario's messages are captured for its judge: this one
            // is the user's.
            if let Some(why) = outcome.reports.last() {
                eprintln!("faultline: {why}");
            }
            return Ok(128 + sig as u8);
        }
        let verdict = s.judge(&outcome);
        if !verdict.ok() {
            differ.push(s.name);
        }
        let again = files.words();
        let again =
            if again.is_empty() { format!("--timeline {0}.csv --report {0}.html", s.name) } else { again.join(" ") };
        say!("{}{verdict}  again: faultline demo {} {again}", if several { "\n" } else { "" }, s.name);
        opened.write(&outcome, &format!("faultline demo {}", s.name))?;
        if !several && !quiet {
            eprintln!("\n{}", faultline::report::summary::text(&outcome));
        }
    }
    if several {
        match differ.len() {
            0 => say!("\nEvery count is what Linux would give."),
            1 => say!("\nOne scenario differs from what Linux would do: {}", differ[0]),
            n => say!("\n{n} scenarios differ from what Linux would do: {}", differ.join(", ")),
        }
    }
    Ok(u8::from(!differ.is_empty()))
}

fn write_out(path: &std::path::Path, mut f: File, text: &str) -> Result<()> {
    use std::io::Write;
    writeln!(f, "{text}").with_context(|| format!("cannot write {}", path.display()))
}

fn main_result(cli: Cli) -> Result<u8> {
    let outcome = match cli.cmd {
        Cmd::Run { opts, command } => {
            let program = PathBuf::from(&command[0]);
            run(Program::Path(program), command, &opts)?
        }
        Cmd::Demo { scenario, list, out, quiet } => return demo(scenario, list, &out, quiet),
        Cmd::Report { csv, html, trace, folded, flamegraph, graph_events, rss_limit } => {
            use faultline::report::{html as page, rows};
            let out = html.unwrap_or_else(|| csv.with_extension("html"));
            let open = |p: Option<PathBuf>| p.map(|p| create(&p).map(|f| (p, f))).transpose();
            let page_file = Some((out.clone(), create(&out)?));
            let (trace, folded, flamegraph) = (open(trace)?, open(folded)?, open(flamegraph)?);
            let path = csv.to_string_lossy();
            let pictures = Pictures {
                title: format!("faultline timeline {}", csv.display()),
                rows: rows::read_csv(&path)?,
                stacks: rows::StackTable::read_beside(&path)?,
                calls: Vec::new(),
                limits: page::Limits { rss_limit_pages: rss_limit.map(|b| b / 4096), ..Default::default() },
                select: graph_events,
            };
            pictures.write(trace, page_file, folded, flamegraph)?;
            eprintln!("faultline: wrote {}", out.display());
            return Ok(0);
        }
        Cmd::Diff { a, b, counts: only_counts, tolerance } => {
            use faultline::report::diff;
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
            return Ok(u8::from(!same));
        }
        Cmd::Bench { pages, json, repeat } => {
            ensure!(repeat >= 1, "--repeat must be at least 1");
            let r = faultline::bench::run(pages, repeat)?;
            if json {
                say!("{}", r.to_json());
            } else {
                say!("{}", r.to_string().trim_end_matches('\n'));
            }
            return Ok(0);
        }
    };
    Ok((outcome.status.code() & 0xff) as u8)
}

/// A usage error from clap in one line: its message (with the line under
/// it, where a list follows) and a similar option if clap found one, then
/// where help is. Clap's own form is a paragraph with the usage.
fn usage_error(e: &clap::Error) -> String {
    use clap::error::ErrorKind;
    let sub = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .filter(|a| ["run", "demo", "report", "diff", "bench"].contains(&a.as_str()));
    let help = match &sub {
        Some(s) => format!("faultline {s} --help"),
        None => "faultline --help".into(),
    };
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return format!("a command is needed: run, demo, report, diff or bench (see {help})");
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim);
    let mut msg = lines.next().unwrap_or_default().trim_start_matches("error:").trim().to_string();
    for l in lines {
        if l.starts_with("Usage:") || l.starts_with("For more information") {
            break;
        }
        if l.is_empty() {
            continue;
        }
        match l.strip_prefix("tip:").map(str::trim) {
            Some(tip) if tip.starts_with("a similar") => msg = format!("{msg}; {tip}"),
            Some(_) => {}
            None => msg = format!("{msg} {l}"),
        }
    }
    faultline::text::tame_n(&format!("{msg} (see {help})"), 1000)
}

/// The error and its causes on one line, skipping causes whose text the
/// message before them already includes.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    // Parts quote files and guests: no control bytes reach the terminal.
    faultline::text::tame_n(&out.replace('\n', " "), 2000)
}

fn main() -> ExitCode {
    // A panic is one line like every other error of faultline's (a thread
    // of its own panicking ends the run through its failure path); the
    // default report, backtrace and all, if RUST_BACKTRACE asks for it.
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|info| {
            let thread = std::thread::current().name().unwrap_or("main").to_string();
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            let line = faultline::text::tame_n(&format!("thread {thread} panicked{at}: {msg}"), 1000);
            eprintln!("faultline: internal error: {line}");
        }));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            eprintln!("faultline: error: {}", usage_error(&e));
            return ExitCode::from(TOOL_FAILURE);
        }
    };
    match main_result(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("faultline: error: {}", one_line(&e));
            ExitCode::from(TOOL_FAILURE)
        }
    }
}
