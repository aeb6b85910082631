//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline::strace::Sink;
use faultline::timeline::{Access, Event, EventKind, Origin};
use faultline::{Config, Input, Outcome, Output, Program, Sandbox, Strace};

pub const MIB: u64 = 1 << 20;

/// The C libraries every libc fixture is built with: glibc and musl (on
/// aarch64, glibc alone unless a musl compiler for it was given).
pub const LIBCS: Libcs = Libcs(elf_fixtures::LIBCS);

/// `for libc in LIBCS` gives each name as a `&str`.
#[derive(Clone, Copy)]
pub struct Libcs(&'static [&'static str]);

impl IntoIterator for Libcs {
    type Item = &'static str;
    type IntoIter = std::iter::Copied<std::slice::Iter<'static, &'static str>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().copied()
    }
}

/// The `faultline` executable: `FAULTLINE_BIN` when set (test binaries run
/// away from their build, as in the emulated arm64 machine), else the one
/// cargo built.
pub fn faultline_bin() -> std::path::PathBuf {
    std::env::var_os("FAULTLINE_BIN").map_or_else(|| env!("CARGO_BIN_EXE_faultline").into(), Into::into)
}

/// How many times slower than a host this machine runs guests:
/// `FAULTLINE_TEST_SLOWDOWN` (default 1; ci/arm64/test sets 10 for the
/// emulated machine). Time limits are scaled by it.
pub fn slowdown() -> u32 {
    std::env::var("FAULTLINE_TEST_SLOWDOWN").ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(1)
}

/// `d` scaled by [`slowdown`].
pub fn scaled(d: Duration) -> Duration {
    d * slowdown()
}

/// Runs the `faultline` command with `args` (stdin empty), capturing its
/// output.
pub fn faultline(args: &[&str]) -> std::process::Output {
    std::process::Command::new(faultline_bin()).args(args).output().expect("faultline runs")
}

/// The uid running the tests: the guest's by default.
pub fn my_uid() -> u32 {
    // SAFETY: getuid takes no arguments and cannot fail.
    unsafe { libc::getuid() }
}

/// The gid running the tests: the guest's by default.
pub fn my_gid() -> u32 {
    // SAFETY: getgid takes no arguments and cannot fail.
    unsafe { libc::getgid() }
}

/// An ordinary user's identity, for the tests of permissions (as uid 1000
/// the guest meets the host's permissions as such a user would).
pub fn user_1000() -> faultline::Identity {
    faultline::Identity { uid: 1000, gid: 1000, groups: Vec::new() }
}

pub struct Run {
    pub outcome: Outcome,
    /// The program's stdout, byte for byte.
    pub stdout_bytes: Vec<u8>,
    /// The same, as text (lossy).
    pub stdout: String,
    pub stderr: String,
    /// What --strace printed.
    pub strace: String,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.outcome.status.code()
    }

    /// Guest faults per region: (region, access, event) -> count.
    pub fn faults(&self) -> BTreeMap<(String, Access, EventKind), u64> {
        let mut m = BTreeMap::new();
        for e in self.outcome.events.iter().filter(|e| e.origin == Origin::Guest && !e.kind.is_lifecycle()) {
            *m.entry((self.region(e), e.access, e.kind)).or_insert(0) += 1;
        }
        m
    }

    pub fn region(&self, e: &Event) -> String {
        self.outcome.regions.name(e.region).to_string()
    }

    /// Guest faults in `region`.
    pub fn guest_faults_in(&self, region: &str) -> u64 {
        self.outcome.summary.region(region).map(|r| r.faults()).unwrap_or(0)
    }

    /// Events without times and latencies: what must repeat exactly.
    pub fn stable_rows(&self) -> Vec<String> {
        self.outcome
            .events
            .iter()
            .map(|e| {
                format!(
                    "{},{},{:#x},{:#x},{:?},{:?},{:?}",
                    e.seq,
                    self.region(e),
                    e.gva,
                    e.gpa,
                    e.access,
                    e.kind,
                    e.origin
                )
            })
            .collect()
    }
}

pub fn config(argv: &[&str]) -> Config {
    Config {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        stdin: Input::Empty,
        stdout: Output::capture(),
        stderr: Output::capture(),
        timeout: Some(scaled(Duration::from_secs(30))),
        keep_events: true,
        ..Config::default()
    }
}

pub fn run_image(program: &Program, mut config: Config) -> Run {
    let (out, err) = (config.stdout.clone(), config.stderr.clone());
    let trace = Arc::new(Mutex::new(Vec::new()));
    if config.strace.is_none() {
        config.strace = Some(Strace::new(Sink::Capture(trace.clone())));
    }
    let outcome = Sandbox::new(program.clone(), config).expect("sandbox").run().expect("run");
    let stdout_bytes = out.captured_bytes();
    let strace = String::from_utf8_lossy(&trace.lock().unwrap()).into_owned();
    Run {
        outcome,
        stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
        stdout_bytes,
        stderr: err.captured(),
        strace,
    }
}

/// Runs fixture `name` on the host, for comparison: (stdout, exit code or
/// 128 + signal). One that runs past two minutes (times [`slowdown`]) is
/// killed and fails the test, rather than hang the suite.
pub fn run_native(name: &str, args: &[&str]) -> (String, i32) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let mut child =
        Command::new(elf_fixtures::path(name)).args(args).stdout(Stdio::piped()).spawn().expect("native run");
    let mut stdout = child.stdout.take().expect("its stdout");
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let limit = scaled(Duration::from_secs(120));
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} {args:?} ran natively for over {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = reader.join().expect("reader");
    let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    (String::from_utf8_lossy(&out).into_owned(), code)
}

/// The program's own events with `gva` in `[lo, hi)`, `release` rows
/// left out.
pub fn guest_events_in(run: &Run, lo: u64, hi: u64) -> Vec<&Event> {
    run.outcome
        .events
        .iter()
        .filter(|e| e.origin == Origin::Guest && e.kind != EventKind::Release && e.gva >= lo && e.gva < hi)
        .collect()
}

/// Parses `key=0x...` from text.
pub fn hex_field(text: &str, key: &str) -> u64 {
    let at = text.find(&format!("{key}=0x")).unwrap_or_else(|| panic!("no {key}= in {text:?}")) + key.len() + 3;
    let digits: String = text[at..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    u64::from_str_radix(&digits, 16).unwrap()
}

/// Runs fixture `name` with `args` (argv[0] is the name).
pub fn run_fixture(name: &str, args: &[&str]) -> Run {
    run_fixture_with(name, args, |_| {})
}

/// Runs fixture `name` with `args`, its configuration changed by `tune`.
pub fn run_fixture_with(name: &str, args: &[&str], tune: impl FnOnce(&mut Config)) -> Run {
    let mut argv = vec![name];
    argv.extend_from_slice(args);
    let mut cfg = config(&argv);
    tune(&mut cfg);
    run_image(&fixture(name), cfg)
}

/// Fixture `name` as a program.
pub fn fixture(name: &str) -> Program {
    Program::Path(elf_fixtures::path(name))
}

/// Fixture `name`'s path, as a command line gives it.
pub fn fixture_arg(name: &str) -> String {
    elf_fixtures::path(name).display().to_string()
}

/// `name` in a directory of the host's temp dir of this test binary's
/// own (kept after the run, for a look at what failed).
pub fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-{}-{}", env!("CARGO_CRATE_NAME"), std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

pub fn demo_image() -> Program {
    Program::Bytes { name: "demo".into(), bytes: Arc::from(faultline::guest::DEMO_ELF) }
}

/// What a `faultline` process did: its exit code, output, peak RSS
/// (getrusage of the child: faultline's own memory, guest RAM it backs
/// included) and wall time.
pub struct Measured {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub max_rss_mib: u64,
    /// The same in KiB, as getrusage gives it.
    pub max_rss_kib: u64,
    pub wall: std::time::Duration,
}

// The child is reaped by wait4, which also gives its rusage.
#[allow(clippy::zombie_processes)]
pub fn faultline_measured(args: &[&str]) -> Measured {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let start = std::time::Instant::now();
    let mut child = Command::new(faultline_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faultline runs");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).unwrap();
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        err.read_to_end(&mut v).unwrap();
        v
    });
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; we wait for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `ru` are ours to fill; the child is ours and
    // not yet reaped.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
    assert_eq!(pid, child.id() as i32);
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 128 + libc::WTERMSIG(status) };
    Measured {
        code,
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
        max_rss_mib: ru.ru_maxrss as u64 / 1024,
        max_rss_kib: ru.ru_maxrss as u64,
        wall: start.elapsed(),
    }
}

/// A directory of the host's temp dir, removed on drop.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let p = std::env::temp_dir().join(format!("faultline-test-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> std::path::PathBuf {
        self.0.join(p)
    }
    /// `p` below it, as a string.
    pub fn s(&self, p: &str) -> String {
        self.join(p).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
