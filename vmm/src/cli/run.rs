//! `faultline run`: the configuration from the options (checked, with
//! every output file opened before anything runs), the run with what
//! shows while it goes, then the summary and the files.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};

use faultline::strace::{Filter, Sink};
use faultline::{Config, Outcome, Output, Program, Sandbox, Strace};

use super::options::RunOpts;
use super::output::create;
use super::signals::{catch_signals, catch_usr1, INTERRUPT};
use super::watch::{live_view, progress, watchdog};

/// `faultline run`: the program's exit status, as a shell sees it.
pub fn run(mut opts: RunOpts) -> Result<u8> {
    let argv = std::mem::take(&mut opts.command);
    let program = Program::Path(PathBuf::from(&argv[0]));
    let outcome = run_program(program, argv, &opts)?;
    Ok((outcome.status.code() & 0xff) as u8)
}

/// Runs `program` as `argv`, then prints the summary and writes the files
/// (these even when faultline failed mid-run: the error comes last).
fn run_program(program: Program, argv: Vec<String>, opts: &RunOpts) -> Result<Outcome> {
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
    let dog = opts.timeout.map(|t| watchdog(t, done.clone()));
    catch_signals();
    let result = sandbox.run_with(Some(&INTERRUPT));
    done.store(true, Ordering::Release);
    for w in [watcher, live, dog].into_iter().flatten() {
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
        fault_around: opts.fault_around.bytes,
        page_cache: opts.page_cache,
        ..Config::default()
    };
    config.validate()?;
    Ok(config)
}
