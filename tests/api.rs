//! The public API stays what the docs describe.
//!
//! `API` lists every item `cargo doc` shows for the crate. One test
//! builds the docs (with `-D missing_docs -D warnings`, into a directory
//! of its own) and checks that rustdoc's list of items is exactly `API`:
//! an item made public by accident, or one that vanished, fails it until
//! this list, the crate root's "What is public" and the README agree.
//! The other tests use the items, against a real guest: this file sees
//! only what a user of the crate sees.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline::report::{diff, folded, html, rows, summary, trace};
use faultline::strace::{CallLog, CallRecord, Filter, Sink, Strace};
use faultline::timeline::{
    Access, CsvSink, EachEvent, Event, EventKind, EventSink, Origin, Prefault, ProcessSummary, Region, RegionId,
    RegionKind, RegionSummary, RegionTable, Summary, CSV_HEADER,
};
use faultline::{
    Bind, Config, ConfigError, Error, EventStream, ExitStatus, HostError, Input, LoadError, MemInfo, MemStatus,
    MemoryReport, Outcome, Output, Perms, Program, ProgramInfo, Progress, ProgressProbe, Sandbox, SandboxBuilder,
    SegmentInfo, Stop, StreamedEvent, SyscallPath, Usage, WakeMode,
};

/// Every public item, as rustdoc's "all items" page names it.
const API: &[&str] = &[
    "Bind",
    "Config",
    "ConfigError",
    "DEFAULT_FAULT_AROUND",
    "DEFAULT_FILL_PAGES",
    "DEFAULT_MAX_MAP_COUNT",
    "DEFAULT_MAX_TASKS",
    "DEFAULT_MEM",
    "DEFAULT_MEMLOCK",
    "DEFAULT_STACK",
    "Error",
    "EventStream",
    "ExitStatus",
    "HostError",
    "Identity",
    "Input",
    "LoadError",
    "MIN_RSS_LIMIT",
    "MemInfo",
    "MemStatus",
    "MemoryReport",
    "Outcome",
    "Output",
    "PIE_BASE",
    "PageCache",
    "Perms",
    "Program",
    "ProgramInfo",
    "Progress",
    "ProgressProbe",
    "Sandbox",
    "SandboxBuilder",
    "SegmentInfo",
    "Stop",
    "StreamedEvent",
    "SyscallPath",
    "Usage",
    "WakeMode",
    "bench::BenchError",
    "bench::DEFAULT_PAGES",
    "bench::Floors",
    "bench::MAX_PAGES",
    "bench::ProgramBench",
    "bench::Report",
    "bench::program",
    "bench::run",
    "default_env",
    "demo::Check",
    "demo::SCENARIOS",
    "demo::Scenario",
    "demo::Verdict",
    "demo::scenario",
    "parse_bind",
    "parse_size",
    "report::diff::Diff",
    "report::diff::DiffError",
    "report::diff::Timeline",
    "report::diff::counts",
    "report::diff::rows",
    "report::folded::FlameGraphError",
    "report::folded::NO_STACK",
    "report::folded::Select",
    "report::folded::flamegraph",
    "report::folded::folded",
    "report::folded::text",
    "report::html::KIND_COLORS",
    "report::html::Limits",
    "report::html::Page",
    "report::html::render",
    "report::rows::Row",
    "report::rows::StackTable",
    "report::rows::read_csv",
    "report::summary::SCHEMA",
    "report::summary::text",
    "report::summary::to_json",
    "report::trace::to_json",
    "strace::CallLog",
    "strace::CallRecord",
    "strace::Filter",
    "strace::Sink",
    "strace::Strace",
    "text::MAX_SHOWN",
    "text::is_tame",
    "text::tame",
    "text::tame_n",
    "timeline::Access",
    "timeline::CSV_HEADER",
    "timeline::CsvSink",
    "timeline::EachEvent",
    "timeline::Event",
    "timeline::EventKind",
    "timeline::EventSink",
    "timeline::Frame",
    "timeline::Origin",
    "timeline::Prefault",
    "timeline::ProcessSummary",
    "timeline::Region",
    "timeline::RegionId",
    "timeline::RegionKind",
    "timeline::RegionSummary",
    "timeline::RegionTable",
    "timeline::STACKS_HEADER",
    "timeline::Stack",
    "timeline::Summary",
    "timeline::stacks_path",
    "timeline::write_csv",
    "timeline::write_stacks",
    "zero_page_reads",
];

#[test]
fn cargo_doc_lists_exactly_the_documented_items() {
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("api-doc");
    let out = Command::new(env!("CARGO"))
        .args(["doc", "--no-deps", "--quiet", "-p", "faultline", "--lib"])
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTDOCFLAGS", "-D missing_docs -D warnings")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo doc runs");
    assert!(out.status.success(), "cargo doc failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let page = std::fs::read_to_string(target.join("doc/faultline/all.html")).expect("all.html");
    // Each item is `<li><a href="PATH.html">NAME</a></li>` (the sidebar's
    // section links are `#anchors`).
    let listed: BTreeSet<&str> = page
        .split("<li><a href=\"")
        .skip(1)
        .filter_map(|s| s.split_once("\">"))
        .filter(|(href, _)| href.ends_with(".html"))
        .filter_map(|(_, rest)| Some(rest.split_once("</a>")?.0))
        .collect();
    let expected: BTreeSet<&str> = API.iter().copied().collect();
    let added: Vec<_> = listed.difference(&expected).collect();
    let gone: Vec<_> = expected.difference(&listed).collect();
    assert!(added.is_empty() && gone.is_empty(), "public but not in API: {added:?}; in API but not public: {gone:?}");
}

/// The builder, the outcome and its accessors, against the demo.
#[test]
fn a_run_through_the_builder() {
    let seen = Arc::new(Mutex::new(0u64));
    let s2 = seen.clone();
    let strace_out = Arc::new(Mutex::new(Vec::new()));
    let calls: CallLog = CallLog::default();
    let builder: SandboxBuilder = Sandbox::builder(Program::demo())
        .arg0("demo-renamed")
        .arg("x")
        .args(["y", "z"])
        .env("A", "1")
        .env("A", "2")
        .memory(faultline::DEFAULT_MEM / 4)
        .rss_limit(faultline::MIN_RSS_LIMIT * 16)
        .swap(1 << 20)
        .stack_size(faultline::DEFAULT_STACK)
        .memlock_limit(faultline::DEFAULT_MEMLOCK)
        .max_tasks(faultline::DEFAULT_MAX_TASKS)
        .max_map_count(faultline::DEFAULT_MAX_MAP_COUNT)
        .overcommit(0, 50)
        .aslr(false)
        .timeout(Duration::from_secs(30))
        .root("/")
        .cwd("/")
        .stdin(Input::Empty)
        .stdin_bytes(&b"ignored"[..])
        .capture_stdout()
        .capture_stderr()
        .diagnostics(Output::capture())
        .strace(Strace::new(Sink::Capture(strace_out.clone())))
        .call_log(calls.clone())
        .keep_events()
        .on_event(move |_: &Event, _: &RegionTable| *s2.lock().unwrap() += 1)
        .record(true)
        .fill_pages(faultline::DEFAULT_FILL_PAGES)
        .wake(WakeMode::default())
        .syscalls(SyscallPath::default())
        .trapped(true);
    let config: &Config = builder.config();
    assert_eq!(config.argv, ["demo-renamed", "x", "y", "z"]);
    assert_eq!(config.env.iter().filter(|kv| kv.starts_with("A=")).collect::<Vec<_>>(), ["A=2"]);
    assert!(config.env.starts_with(&faultline::default_env()));
    let sandbox: Sandbox = builder.build().expect("a sandbox");
    let probe: ProgressProbe = sandbox.probe();
    let outcome: Outcome = sandbox.run().expect("the run");
    let after: Progress = probe.read();
    assert_eq!(after.events, outcome.events.len() as u64);
    assert_eq!(outcome.status, ExitStatus::Exited(0));
    assert_eq!(outcome.status.code(), 0);
    assert!(outcome.stopped.is_none() && outcome.report().is_none());
    assert_eq!(outcome.stdout_text(), String::from_utf8_lossy(&outcome.stdout));
    assert!(outcome.stdout_text().starts_with("faultline demo"));
    assert_eq!(outcome.stderr_text(), "");
    assert_eq!(*seen.lock().unwrap(), outcome.events.len() as u64, "on_event saw every kept event");
    let strace = String::from_utf8_lossy(&strace_out.lock().unwrap()).into_owned();
    let logged: Vec<CallRecord> = calls.lock().unwrap().clone();
    // Six lines, six write(2)s: in the log, in the records, in stdout.
    assert_eq!(strace.lines().filter(|l| l.starts_with("write(1, ")).count(), 6, "{strace}");
    assert_eq!(logged.iter().filter(|c| c.name == "write").count(), 6);
    assert_eq!(outcome.stdout_text().lines().count(), 6);
    assert!(strace.ends_with("+++ exited with 0 +++\n"), "{strace}");

    let summary: &Summary = &outcome.summary;
    let demo: &ProcessSummary = summary.process(1).expect("pid 1");
    let bss: &RegionSummary = demo.region(".bss").expect(".bss");
    assert_eq!((bss.write_faults, bss.read_faults, bss.mapped_pages, bss.resident_pages), (8, 0, 64, 8));
    let perms: Perms = bss.perms;
    assert_eq!((perms.read, perms.write, perms.exec), (true, true, false));
    assert_eq!(summary.guest_faults(), demo.guest_faults());

    let memory: MemoryReport = outcome.memory;
    let (status, info): (MemStatus, MemInfo) = (memory.status, memory.info);
    // /proc/meminfo's RAM is what may be resident; swap is the store.
    assert_eq!((info.mem_total, info.swap_total), (faultline::MIN_RSS_LIMIT * 16 / 1024, 1024));
    assert!(status.vm_hwm >= status.vm_rss && status.vm_rss > 0, "{memory}");
    // Linux's own counters: every fault the program took, or the VMM for it.
    let usage: Usage = outcome.usage;
    assert_eq!(usage.minor_faults + usage.major_faults, summary.guest_faults() + demo.vmm_pages);
    assert_eq!(usage.max_resident_kib, status.vm_hwm);
    // The demo's scenarios, judged against a real run of each.
    let names: Vec<&str> = faultline::demo::SCENARIOS.iter().map(|s| s.name).collect();
    assert_eq!(names, ["sections", "malloc", "mlock", "free", "fork", "file", "reclaim", "oom"]);
    let free: &faultline::demo::Scenario = faultline::demo::scenario("free").unwrap();
    let run = Sandbox::new(free.program(), free.config().unwrap()).unwrap().run().unwrap();
    let verdict: faultline::demo::Verdict = free.judge(&run);
    let release: &faultline::demo::Check = verdict.checks.iter().find(|c| c.what == "release").unwrap();
    assert_eq!((release.expected, release.saw), (64, 64), "{verdict}");
    assert!(verdict.ok() && verdict.to_string().starts_with("free: "), "{verdict}");
    // The terminal's summary: tables, the sandbox's peak and end, pid 1's status.
    let text = summary::text(&outcome);
    assert!(text.contains(&format!("status of pid 1 (demo): {status}\n")), "{text}");
    assert!(summary.peak_resident_pages >= demo.peak_resident_pages && demo.peak_resident_pages > 0);

    // Events: each names its region, the faults add up to the summary.
    let id: RegionId = outcome.events.iter().find(|e| outcome.region_name(e) == ".bss").unwrap().region;
    let region: &Region = outcome.regions.get(id).unwrap();
    assert_eq!((region.name.as_str(), region.kind), (".bss", RegionKind::Image));
    assert_eq!(outcome.regions.find(".bss"), Some(id));
    let bss_rows: Vec<&Event> = outcome.events.iter().filter(|e| e.region == id && e.is_guest_fault()).collect();
    assert_eq!(bss_rows.len(), 8);
    assert!(bss_rows.iter().all(|e| e.access == Access::Write && e.kind == EventKind::ZeroFill));
    assert!(bss_rows.iter().all(|e| e.origin == Origin::Guest && e.pid == 1 && e.tid == 1));
    assert!(!outcome.events.iter().any(|e| matches!(e.kind, EventKind::Prefault(Prefault::Pin))));
}

/// Streams, sinks and the CSV, compared with what was kept.
#[test]
fn streams_and_sinks_see_every_event() {
    struct Count(Arc<Mutex<u64>>);
    impl EventSink for Count {
        fn event(&mut self, _: &Event, _: &RegionTable) -> std::io::Result<()> {
            *self.0.lock().unwrap() += 1;
            Ok(())
        }
    }
    let counted = Arc::new(Mutex::new(0));
    let csv = Arc::new(Mutex::new(Vec::new()));
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(b)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut builder = Sandbox::builder(Program::demo())
        .keep_events()
        .sink(Count(counted.clone()))
        .sink(EachEvent(|_: &Event, _: &RegionTable| {}))
        .sink(CsvSink::new(Shared(csv.clone())).unwrap());
    let stream: EventStream = builder.event_stream();
    let sandbox = builder.build().unwrap();
    let run = std::thread::spawn(move || sandbox.run());
    let streamed: Vec<StreamedEvent> = stream.collect();
    let outcome = run.join().unwrap().unwrap();
    assert_eq!(streamed.iter().map(|s| s.event.clone()).collect::<Vec<_>>(), outcome.events);
    assert!(streamed.iter().all(|s| s.region == outcome.region_name(&s.event)));
    assert_eq!(*counted.lock().unwrap(), outcome.events.len() as u64);
    let text = String::from_utf8(csv.lock().unwrap().clone()).unwrap();
    let mut again = Vec::new();
    faultline::timeline::write_csv(&mut again, &outcome.events, &outcome.regions).unwrap();
    assert_eq!(text, String::from_utf8(again).unwrap());
    assert_eq!(text.lines().next(), Some(CSV_HEADER));
    assert_eq!(text.lines().count(), outcome.events.len() + 1);
}

fn written_starts(csv: &str) -> bool {
    let t = std::fs::read_to_string(faultline::timeline::stacks_path(std::path::Path::new(csv))).unwrap();
    t.lines().next() == Some(faultline::timeline::STACKS_HEADER)
}

/// The reports, from an outcome and from saved CSVs.
#[test]
fn reports_from_an_outcome_and_from_csv() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut outcomes = Vec::new();
    for name in ["a.csv", "b.csv"] {
        let file = std::fs::File::create(dir.join(name)).unwrap();
        let stacks_file = faultline::timeline::stacks_path(&dir.join(name));
        let sink = CsvSink::with_stacks(file, std::fs::File::create(stacks_file).unwrap()).unwrap();
        let b = Sandbox::builder(Program::demo()).sink(sink).keep_events().stacks(true).fill_pages(1);
        outcomes.push(b.build().unwrap().run().unwrap());
    }
    let path = |n: &str| dir.join(n).to_string_lossy().into_owned();
    let json = summary::to_json(&outcomes[0]);
    assert_eq!(json["schema"], summary::SCHEMA);
    let read: Vec<rows::Row> = rows::read_csv(&path("a.csv")).unwrap();
    let kept: Vec<rows::Row> =
        outcomes[0].events.iter().map(|e| rows::Row::from_event(e, &outcomes[0].regions)).collect();
    assert_eq!(read, kept);
    // The stacks table beside it holds every stack the events had.
    let stacks = rows::StackTable::read_beside(&path("a.csv")).unwrap();
    assert_eq!(stacks, rows::StackTable::from_events(&outcomes[0].events));
    assert!(stacks.0.len() > 1, "the demo's faults have stacks");
    let mut table = Vec::new();
    faultline::timeline::write_stacks(&mut table, &outcomes[0].events).unwrap();
    let written = std::fs::read_to_string(faultline::timeline::stacks_path(std::path::Path::new(&path("a.csv"))));
    assert_eq!(String::from_utf8(table).unwrap(), written.unwrap());
    assert!(written_starts(&path("a.csv")));
    let first: &[faultline::timeline::Frame] = stacks.get(1).unwrap();
    let st: &faultline::timeline::Stack = outcomes[0].events.iter().find_map(|e| e.stack.as_ref()).unwrap();
    assert_eq!(first, &st.frames[..]);
    let lines = folded::folded(&read, &stacks, &folded::Select::default());
    let faults = read.iter().filter(|r| r.is_fault()).count() as u64;
    assert_eq!(lines.iter().map(|l| l.1).sum::<u64>(), faults, "every fault once");
    assert!(folded::text(&lines).lines().all(|l| l.starts_with("demo [1];")));
    assert!(!lines.iter().any(|l| l.0.ends_with(folded::NO_STACK)), "with --fill-pages 1 every fault has a stack");
    let svg = folded::flamegraph(&lines, "t", "page faults").unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("main"));
    let _: Result<String, folded::FlameGraphError> = folded::flamegraph(&[], "t", "nothing");
    let colors: &[(&str, &str)] = &html::KIND_COLORS;
    assert!(colors.iter().any(|c| c.0 == "cow"));
    let limits = html::Limits::of(&outcomes[0]);
    let page = html::Page { title: "t", rows: &read, stacks: &stacks, calls: &[], limits };
    assert!(html::render(&page).contains("<title>t</title>"));
    let comms = [(1, "demo".to_string())].into_iter().collect();
    assert!(trace::to_json(&read, &[], &comms)["traceEvents"].as_array().is_some_and(|a| a.len() > read.len()));
    let (a, b) = (diff::Timeline::read(&path("a.csv")).unwrap(), diff::Timeline::read(&path("b.csv")).unwrap());
    let d: diff::Diff = diff::rows(&a, &b);
    assert!(d.same() && d.first_difference.is_none(), "{:?}", d.first_difference);
    assert!(diff::counts(&a, &b, 0.0).is_empty());
    std::fs::write(dir.join("junk.csv"), "not,a,timeline\n").unwrap();
    let err: diff::DiffError = diff::Timeline::read(&path("junk.csv")).err().unwrap();
    assert!(matches!(err, diff::DiffError::NotATimeline(_)));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Configurations that cannot work are refused at build time, with the
/// command line's words, and the program's ELF can be checked alone.
#[test]
fn refusals_and_inspection() {
    let refused = |b: SandboxBuilder| match b.build() {
        Err(Error::Config(e)) => e,
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("accepted"),
    };
    let demo = || Sandbox::builder(Program::demo());
    assert_eq!(refused(demo().argv(Vec::<String>::new())), ConfigError::EmptyArgv);
    assert_eq!(refused(demo().memory(0)), ConfigError::BadMem(0));
    let e = refused(demo().memory(64 << 20).rss_limit(128 << 20));
    assert_eq!(e, ConfigError::RssAboveMem { rss_limit: 128 << 20, mem: 64 << 20 });
    assert_eq!(e.to_string(), "--rss-limit 128M is above --mem 64M: the guest cannot hold more than its RAM; raise --mem or lower --rss-limit");
    assert!(matches!(refused(demo().max_tasks(100_000)), ConfigError::MaxTasks { asked: 100_000, .. }));
    assert!(matches!(refused(demo().max_tasks(0)), ConfigError::MaxTasks { asked: 0, most } if most >= 1));
    assert!(matches!(demo().pin("no-such-region").build(), Err(Error::BadPin(r)) if r == "no-such-region"));
    // A pin of a region the program has is accepted, and shows as prefaults.
    let pinned = demo().pin(".bss").keep_events().build().unwrap().run().unwrap();
    assert_eq!(pinned.summary.region(".bss").unwrap().prefaults, 64);
    assert!(pinned.events.iter().any(|e| e.kind == EventKind::Prefault(Prefault::Pin)));

    let info: ProgramInfo = Program::demo().inspect().unwrap();
    let text: Vec<&SegmentInfo> = info.segments.iter().filter(|s| s.perms.exec).collect();
    assert_eq!(text.len(), 1);
    assert!(text[0].start <= info.entry && info.entry < text[0].end);
    let junk = Program::bytes("junk", &b"\x7fELF but not really"[..]);
    let err: LoadError = junk.inspect().err().unwrap();
    assert!(faultline::text::is_tame(&err.to_string()), "{err}");
    assert_eq!(err.to_string(), "junk: truncated or malformed ELF: bad ELF class");
    assert!(matches!(Program::bytes("text", &b"#!/bin/sh"[..]).inspect(), Err(LoadError::NotElf(n)) if n == "text"));
    assert!(matches!(Sandbox::builder(junk).build(), Err(Error::Load(_))));
    let missing = Program::from(std::path::PathBuf::from("/no/such/program"));
    assert!(matches!(Sandbox::builder(missing).build(), Err(Error::Load(LoadError::Read { .. }))));
    // Host errors are opaque, but say what failed.
    let _: Option<HostError> = None;

    // Streams and binds, as the command line parses them.
    let bind: Bind = faultline::parse_bind("/tmp:/mnt/host:rw").unwrap();
    assert_eq!((bind.guest.as_str(), bind.rw), ("/mnt/host", true));
    assert!(faultline::parse_bind("/tmp:/proc").is_err());
    assert_eq!(faultline::parse_size("64k"), Ok(64 << 10));
    assert_eq!(faultline::text::tame_n("a\nb", 10), "a\\x0ab");
    assert_eq!(faultline::text::tame("x").len(), 1);
    assert_eq!(faultline::text::tame(&"x".repeat(1000)).chars().count(), faultline::text::MAX_SHOWN + 1);
    assert!(Filter::parse("%memory,write").is_ok());
    assert_eq!(Filter::parse("%nosuch").err().unwrap(), "unknown syscall class \"%nosuch\"");
    let pie = Program::Path(elf_fixtures::path("syscalls-pie")).inspect().unwrap();
    assert!(pie.segments.iter().all(|s| s.start >= faultline::PIE_BASE), "{pie:?}");
    const { assert!(faultline::bench::DEFAULT_PAGES <= faultline::bench::MAX_PAGES) };
    use faultline::bench::{run, BenchError, Report, MAX_PAGES};
    let bad: Result<Report, BenchError> = run(MAX_PAGES + 1, 1);
    assert!(matches!(bad, Err(BenchError::Pages)));
    assert!(matches!(faultline::bench::program(&[], 1), Err(BenchError::NoProgram)));
    let _: Option<Stop> = pinned.stopped;
}

/// A timeout ends the run with SIGKILL and says so.
#[test]
fn a_timeout_is_an_outcome() {
    let spin = Program::Path(elf_fixtures::path("spin"));
    let outcome = Sandbox::builder(spin).timeout(Duration::from_millis(300)).build().unwrap().run().unwrap();
    assert_eq!(outcome.status, ExitStatus::Killed(9));
    assert!(matches!(outcome.stopped, Some(Stop::Timeout(t)) if t == Duration::from_millis(300)));
    assert!(outcome.report().is_some_and(|r| r.contains("timeout")), "{:?}", outcome.reports);
}

/// `faultline run` goes through the same checks, and says the same words
/// (sizes as written, here the same).
#[test]
fn the_command_line_refuses_with_the_library_words() {
    let refusal = |b: SandboxBuilder| b.build().err().expect("refused").to_string();
    let demo = || Sandbox::builder(Program::demo());
    let (_, mut bad_env) = demo().into_parts();
    bad_env.env.push("NOEQUALS".into());
    let cases: [(&[&str], String); 5] = [
        (&["--mem", "64M", "--rss-limit", "128M"], refusal(demo().memory(64 << 20).rss_limit(128 << 20))),
        (&["--env", "NOEQUALS"], Sandbox::new(Program::demo(), bad_env).err().expect("refused").to_string()),
        (&["--fill-pages", "3"], refusal(demo().fill_pages(3))),
        (&["--max-tasks", "0"], refusal(demo().max_tasks(0))),
        (&["--pin", "nosuch"], refusal(demo().pin("nosuch"))),
    ];
    // The same program, from a file.
    let demo_file = std::env::temp_dir().join(format!("faultline-api-demo-{}", std::process::id()));
    std::fs::write(&demo_file, faultline::guest::DEMO_ELF).unwrap();
    std::fs::set_permissions(&demo_file, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for (args, want) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline")).arg("run").args(args).arg(&demo_file).output().unwrap();
        assert_eq!(out.status.code(), Some(125), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), format!("faultline: error: {want}\n"), "{args:?}");
    }
}
