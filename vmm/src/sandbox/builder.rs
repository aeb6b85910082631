//! The documented way to configure a sandbox: [`SandboxBuilder`], a
//! method per setting, and the timeline's streaming to an iterator
//! ([`EventStream`]). What every configuration must pass is `validate.rs`.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use super::{Bind, Config, Error, Identity, Program, Sandbox, SyscallPath};
use crate::fault::WakeMode;
use crate::kernel::files::{Input, Output};
use crate::kernel::strace::{CallLog, Strace};
use crate::mm::PageCache;
use crate::timeline::{EachEvent, Event, EventSink, RegionTable};

/// Builds a [`Sandbox`]: the program, its arguments and environment, its
/// memory and limits, where its standard streams go, and where the
/// timeline goes. Made by [`Sandbox::builder`]; [`build`](Self::build)
/// validates everything and loads the program.
///
/// Unlike a bare [`Config`], a builder starts with stdin empty and stdout
/// and stderr captured (a test reads them from the [`Outcome`]), with
/// `argv[0]` the program's name.
///
/// ```
/// use faultline::{Program, Sandbox};
///
/// let outcome = Sandbox::builder(Program::demo())
///     .memory(64 << 20)
///     .rss_limit(32 << 20)
///     .env("GREETING", "hello")
///     .timeout(std::time::Duration::from_secs(30))
///     .build()?
///     .run()?;
/// assert_eq!(outcome.status.code(), 0);
/// assert!(outcome.stdout_text().contains("faultline demo"));
/// # Ok::<(), faultline::Error>(())
/// ```
///
/// A configuration that cannot work is refused by `build`, before anything
/// runs:
///
/// ```
/// use faultline::{ConfigError, Error, Program, Sandbox};
///
/// let err = Sandbox::builder(Program::demo()).memory(64 << 20).rss_limit(1 << 30).build().err().unwrap();
/// assert!(matches!(err, Error::Config(ConfigError::RssAboveMem { .. })));
/// assert!(err.to_string().starts_with("--rss-limit 1G is above --mem 64M"));
/// ```
///
/// [`Outcome`]: crate::Outcome
#[must_use = "a builder does nothing until build() is called"]
pub struct SandboxBuilder {
    program: Program,
    config: Config,
}

impl SandboxBuilder {
    /// A builder for `program`, with `argv` just its name.
    pub fn new(program: Program) -> Self {
        let config = Config {
            argv: vec![program.name()],
            stdin: Input::Empty,
            stdout: Output::capture(),
            stderr: Output::capture(),
            ..Config::default()
        };
        SandboxBuilder { program, config }
    }

    /// Replaces `argv[0]` (the program's name, by default).
    pub fn arg0(mut self, name: impl Into<String>) -> Self {
        match self.config.argv.first_mut() {
            Some(a) => *a = name.into(),
            None => self.config.argv.push(name.into()),
        }
        self
    }

    /// Adds one argument after those given so far.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.config.argv.push(arg.into());
        self
    }

    /// Adds arguments after those given so far (`argv[0]` stays).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.argv.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets the whole `argv`, `argv[0]` included; an empty one is refused
    /// at [`build`](Self::build).
    pub fn argv<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.argv = argv.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `key=value` in the environment (which starts as
    /// [`default_env`](crate::default_env), nothing of the host's).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        let prefix = format!("{key}=");
        self.config.env.retain(|kv| !kv.starts_with(&prefix));
        self.config.env.push(format!("{prefix}{value}"));
        self
    }

    /// Empties the environment.
    pub fn env_clear(mut self) -> Self {
        self.config.env.clear();
        self
    }

    /// Guest RAM in bytes (default [`DEFAULT_MEM`](crate::DEFAULT_MEM)): a
    /// positive multiple of 4 KiB.
    pub fn memory(mut self, bytes: u64) -> Self {
        self.config.mem = bytes;
        self
    }

    /// Caps resident memory at `bytes` (at most [`memory`](Self::memory),
    /// at least 256 KiB): beyond it reclaim evicts pages, to swap if there
    /// is any.
    pub fn rss_limit(mut self, bytes: u64) -> Self {
        self.config.rss_limit = Some(bytes);
        self
    }

    /// A swap store of `bytes` (held in host memory) for evicted pages.
    pub fn swap(mut self, bytes: u64) -> Self {
        self.config.swap = bytes;
        self
    }

    /// Populates and pins region `region` at load (`.text`, `.data`,
    /// `.bss`, `heap`, `stack`, `all`, …); a region the program does not
    /// have is refused at [`build`](Self::build).
    pub fn pin(mut self, region: impl Into<String>) -> Self {
        self.config.pin.push(region.into());
        self
    }

    /// RLIMIT_STACK in bytes.
    pub fn stack_size(mut self, bytes: u64) -> Self {
        self.config.stack_size = bytes;
        self
    }

    /// RLIMIT_MEMLOCK in bytes.
    pub fn memlock_limit(mut self, bytes: u64) -> Self {
        self.config.memlock_limit = bytes;
        self
    }

    /// Most processes and threads at once (each runs on a vCPU of its own).
    pub fn max_tasks(mut self, n: u32) -> Self {
        self.config.max_tasks = n;
        self
    }

    /// vm.max_map_count.
    pub fn max_map_count(mut self, n: usize) -> Self {
        self.config.max_map_count = n;
        self
    }

    /// vm.overcommit_memory (0 heuristic, 1 always, 2 strict) and
    /// vm.overcommit_ratio (percent).
    pub fn overcommit(mut self, mode: u32, ratio: u64) -> Self {
        self.config.overcommit = mode;
        self.config.overcommit_ratio = ratio;
        self
    }

    /// Randomises the heap and mmap bases, as Linux's ASLR does.
    pub fn aslr(mut self, on: bool) -> Self {
        self.config.aslr = on;
        self
    }

    /// Kills the program, and everything it started, after `limit`.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.config.timeout = Some(limit);
        self
    }

    /// The host directory the program sees as `/` (read-only; default `/`).
    pub fn root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.root = dir.into();
        self
    }

    /// The program's working directory, inside the root.
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.config.cwd = Some(dir.into());
        self
    }

    /// Who the program runs as (default: the user running faultline).
    /// Host files are checked against this identity as Linux would.
    pub fn identity(mut self, who: Identity) -> Self {
        self.config.identity = Some(who);
        self
    }

    /// Binds a host path at a guest path (see [`parse_bind`](crate::parse_bind)).
    pub fn bind(mut self, bind: Bind) -> Self {
        self.config.binds.push(bind);
        self
    }

    /// Where the program's stdin comes from (default: empty).
    pub fn stdin(mut self, input: Input) -> Self {
        self.config.stdin = input;
        self
    }

    /// Gives the program these bytes on stdin, then end of file.
    pub fn stdin_bytes(self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin(Input::Bytes(bytes.into().into()))
    }

    /// Where the program's stdout goes (default: captured).
    pub fn stdout(mut self, output: Output) -> Self {
        self.config.stdout = output;
        self
    }

    /// Where the program's stderr goes (default: captured).
    pub fn stderr(mut self, output: Output) -> Self {
        self.config.stderr = output;
        self
    }

    /// Captures stdout into [`Outcome::stdout`](crate::Outcome::stdout)
    /// (the default; undoes [`stdout`](Self::stdout)).
    pub fn capture_stdout(self) -> Self {
        self.stdout(Output::capture())
    }

    /// Captures stderr into [`Outcome::stderr`](crate::Outcome::stderr)
    /// (the default; undoes [`stderr`](Self::stderr)).
    pub fn capture_stderr(self) -> Self {
        self.stderr(Output::capture())
    }

    /// Where faultline's own messages about the program go (crash reports,
    /// unsupported syscalls; default: faultline's stderr). They are also in
    /// [`Outcome::reports`](crate::Outcome::reports).
    pub fn diagnostics(mut self, output: Output) -> Self {
        self.config.diag = output;
        self
    }

    /// Logs each syscall, strace-style.
    pub fn strace(mut self, strace: Strace) -> Self {
        self.config.strace = Some(strace);
        self
    }

    /// Collects each syscall (name, time, duration, result) in `log`.
    pub fn call_log(mut self, log: CallLog) -> Self {
        self.config.calls = Some(log);
        self
    }

    /// Keeps every event in [`Outcome::events`](crate::Outcome::events).
    /// Memory grows with the run: a long run should stream instead
    /// ([`on_event`](Self::on_event), [`event_stream`](Self::event_stream),
    /// [`sink`](Self::sink)).
    pub fn keep_events(mut self) -> Self {
        self.config.keep_events = true;
        self
    }

    /// Hands each event to `sink` as it happens (a
    /// [`CsvSink`](crate::timeline::CsvSink), or one of your own).
    pub fn sink(self, sink: impl EventSink + 'static) -> Self {
        self.config.sinks.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(sink));
        self
    }

    /// Calls `f` with each event, and the table that names its region, as
    /// it happens (under the sandbox's lock: keep it short).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use faultline::{Program, Sandbox};
    ///
    /// // The highest resident-page count the program reached, without
    /// // keeping a single event.
    /// let peak = Arc::new(Mutex::new(0));
    /// let p = peak.clone();
    /// let outcome = Sandbox::builder(Program::demo())
    ///     .on_event(move |e, _| {
    ///         let mut p = p.lock().unwrap();
    ///         *p = (*p).max(e.rss);
    ///     })
    ///     .build()?
    ///     .run()?;
    /// assert!(outcome.events.is_empty(), "nothing was kept");
    /// assert!(*peak.lock().unwrap() >= outcome.summary.region(".bss").unwrap().resident_pages);
    /// # Ok::<(), faultline::Error>(())
    /// ```
    pub fn on_event(self, f: impl FnMut(&Event, &RegionTable) + Send + 'static) -> Self {
        self.sink(EachEvent(f))
    }

    /// Streams the timeline to an iterator, event by event, as the run
    /// goes: run the sandbox on another thread and iterate on this one.
    /// The iterator ends when the run has ended. Events wait in an
    /// unbounded queue, so memory grows only as far as the reader lags.
    ///
    /// ```
    /// use faultline::timeline::{Access, EventKind};
    /// use faultline::{Program, Sandbox};
    ///
    /// let mut builder = Sandbox::builder(Program::demo());
    /// let events = builder.event_stream();
    /// let sandbox = builder.build()?;
    /// let run = std::thread::spawn(move || sandbox.run());
    /// let bss_writes = events
    ///     .filter(|e| e.region == ".bss" && e.event.access == Access::Write && e.event.kind == EventKind::ZeroFill)
    ///     .count();
    /// let outcome = run.join().unwrap()?;
    /// assert_eq!(bss_writes, 8);
    /// assert_eq!(outcome.summary.region(".bss").unwrap().write_faults, 8);
    /// # Ok::<(), faultline::Error>(())
    /// ```
    pub fn event_stream(&mut self) -> EventStream {
        let (tx, rx) = mpsc::channel();
        let sink = EachEvent(move |e: &Event, regions: &RegionTable| {
            // A reader that stopped listening costs nothing more.
            let _ = tx.send(StreamedEvent { event: e.clone(), region: regions.name(e.region).to_string() });
        });
        self.config.sinks.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(sink));
        EventStream(rx)
    }

    /// Records nothing: faults are resolved as ever, but no event is
    /// written down (the summary stays empty). For measuring faultline.
    pub fn record(mut self, on: bool) -> Self {
        self.config.record = on;
        self
    }

    /// Anonymous pages one first touch maps (a power of two, 1 to 512;
    /// default [`DEFAULT_FILL_PAGES`](crate::DEFAULT_FILL_PAGES)). With 1,
    /// every first touch is a guest page fault whose row has an `ip`.
    pub fn fill_pages(mut self, pages: u64) -> Self {
        self.config.fill_pages = pages;
        self
    }

    /// Unwinds the call stack of each fault that comes with registers (the
    /// first touch of each `fill_pages` block, file pages, copy-on-write;
    /// every first touch with `fill_pages(1)`) into its event's
    /// [`stack`](crate::timeline::Event::stack). Off by default.
    ///
    /// ```
    /// use faultline::{Program, Sandbox};
    ///
    /// let outcome = Sandbox::builder(Program::demo()).fill_pages(1).stacks(true).keep_events().build()?.run()?;
    /// let stack = outcome.events.iter().find_map(|e| e.stack.as_ref()).expect("a fault with a stack");
    /// // The innermost frame is the faulting instruction.
    /// let fault = outcome.events.iter().find(|e| e.stack.as_ref() == Some(stack)).unwrap();
    /// assert_eq!(stack.frames[0].ip, fault.ip);
    /// # Ok::<(), faultline::Error>(())
    /// ```
    pub fn stacks(mut self, on: bool) -> Self {
        self.config.stacks = on;
        self
    }

    /// Linux's fault_around_bytes (64 KiB by default, as Linux's; 0 for
    /// none): a read fault in a file mapping also maps the cached pages of
    /// its window, one fault, each other page a `fault-around` row.
    pub fn fault_around(mut self, bytes: u64) -> Self {
        self.config.fault_around = bytes;
        self
    }

    /// What the guest's page cache holds of host files at the start
    /// ([`PageCache::Cold`] by default).
    pub fn page_cache(mut self, start: PageCache) -> Self {
        self.config.page_cache = start;
        self
    }

    /// How the fault handler waits for faults.
    pub fn wake(mut self, mode: WakeMode) -> Self {
        self.config.wake = mode;
        self
    }

    /// How the program's syscalls reach faultline (default: the syscall
    /// ring; `SyscallPath::Exit` takes an exit per call).
    pub fn syscalls(mut self, path: SyscallPath) -> Self {
        self.config.syscalls = path;
        self
    }

    /// Whether guest RAM is registered with userfaultfd (the default) or
    /// left to the host kernel (no fault rows, no reclaim: a baseline).
    pub fn trapped(mut self, on: bool) -> Self {
        self.config.trapped = on;
        self
    }

    /// The configuration so far.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The program and the configuration so far, for [`Sandbox::new`].
    pub fn into_parts(self) -> (Program, Config) {
        (self.program, self.config)
    }

    /// Validates the configuration, makes the VM and loads the program as
    /// pid 1; nothing runs until [`Sandbox::run`].
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a configuration that cannot work (an empty
    /// argv, an RSS cap above RAM, …), [`Error::BadPin`] for a region the
    /// program does not have, [`Error::Load`] for a file that is not an
    /// x86-64 executable, [`Error::Host`] when KVM or userfaultfd is
    /// missing.
    pub fn build(self) -> Result<Sandbox, Error> {
        Sandbox::new(self.program, self.config)
    }
}

/// One event of a streamed timeline, with its region's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamedEvent {
    /// The event.
    pub event: Event,
    /// The name of the region it is in (`.bss`, `heap`, a file's path, …).
    pub region: String,
}

/// The timeline as an iterator: see [`SandboxBuilder::event_stream`].
pub struct EventStream(mpsc::Receiver<StreamedEvent>);

impl Iterator for EventStream {
    type Item = StreamedEvent;

    fn next(&mut self) -> Option<StreamedEvent> {
        self.0.recv().ok()
    }
}

impl Sandbox {
    /// A builder for a sandbox that runs `program`: the documented way to
    /// make one.
    ///
    /// ```
    /// use faultline::{Program, Sandbox};
    ///
    /// let outcome = Sandbox::builder(Program::demo()).build()?.run()?;
    /// // The demo writes 8 of its 64 .bss pages: 8 faults, 8 pages resident.
    /// let bss = outcome.summary.region(".bss").unwrap();
    /// assert_eq!((bss.write_faults, bss.mapped_pages, bss.resident_pages), (8, 64, 8));
    /// # Ok::<(), faultline::Error>(())
    /// ```
    pub fn builder(program: impl Into<Program>) -> SandboxBuilder {
        SandboxBuilder::new(program.into())
    }
}
