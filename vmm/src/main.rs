//! The `faultline` command line.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use faultline::abi::Strace;
use faultline::fault::WakeMode;
use faultline::loader::Image;
use faultline::timeline::write_csv;
use faultline::{parse_size, Config, Outcome, Sandbox};

/// Exit status when faultline itself fails (as `env` and `chroot` use it),
/// so it is never mistaken for the program's own.
const TOOL_FAILURE: u8 = 125;

#[derive(Parser)]
#[command(
    name = "faultline",
    version,
    about = "Run a static x86-64 program on KVM and watch its memory get backed, page by page"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a static x86-64 ELF as the guest.
    Run {
        #[command(flatten)]
        opts: RunOpts,
        /// The program.
        elf: PathBuf,
        /// Its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the built-in demo guest.
    Demo {
        #[command(flatten)]
        opts: RunOpts,
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

#[derive(Args)]
struct RunOpts {
    /// Guest RAM (K, M, G suffixes).
    #[arg(long, default_value = "256M", value_parser = parse_size)]
    mem: u64,
    /// Write every page event to this CSV file.
    #[arg(long, value_name = "FILE.csv")]
    timeline: Option<PathBuf>,
    /// Add K=V to the program's environment (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    env: Vec<String>,
    /// Kill the program after this many seconds.
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// How the fault handler waits for faults: spin, colocated or poll.
    #[arg(long, default_value = "spin")]
    wake: WakeMode,
    /// Cap on resident memory (default: all of --mem).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    rss_limit: Option<u64>,
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
    /// Print the memory status at each reclaim pass.
    #[arg(long)]
    status: bool,
    /// Randomise where the heap and mmaps start, as Linux's ASLR does.
    #[arg(long)]
    aslr: bool,
    /// Print each syscall, strace-style, to stderr (or to FILE with =FILE).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-", require_equals = true)]
    strace: Option<String>,
    /// Do not print the summary.
    #[arg(long, short)]
    quiet: bool,
}

fn run(image: Image, argv: Vec<String>, opts: &RunOpts) -> Result<Outcome> {
    let mut env = faultline::sandbox::default_env();
    for kv in &opts.env {
        anyhow::ensure!(kv.contains('='), "--env {kv:?}: expected K=V");
        env.push(kv.clone());
    }
    let timeout = match opts.timeout {
        Some(s) if !(s.is_finite() && s > 0.0) => anyhow::bail!("--timeout must be a positive number of seconds"),
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let strace = match opts.strace.as_deref() {
        None => None,
        Some("-") => Some(Strace::Stderr),
        Some(path) => {
            let f = File::create(path).with_context(|| format!("cannot create {path}"))?;
            Some(Strace::File(Arc::new(Mutex::new(f))))
        }
    };
    let config = Config {
        mem: opts.mem,
        argv,
        env,
        timeout,
        wake: opts.wake,
        strace,
        rss_limit: opts.rss_limit,
        swap: opts.swap,
        memlock_limit: opts.memlock_limit,
        pin: opts.pin.clone(),
        status: opts.status.then_some(faultline::abi::Output::Inherit(2)),
        aslr: opts.aslr,
        ..Config::default()
    };
    let outcome = Sandbox::new(&image, config)?.run()?;
    if let Some(path) = &opts.timeline {
        let f = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        write_csv(&mut BufWriter::new(f), &outcome.events, &outcome.regions)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(r) = &outcome.report {
        eprintln!("faultline: {r}");
    }
    if !opts.quiet {
        eprintln!("\n{}{}", outcome.summary, outcome.memory);
    }
    Ok(outcome)
}

fn main_result() -> Result<u8> {
    let cli = Cli::parse();
    let outcome = match cli.cmd {
        Cmd::Run { opts, elf, args } => {
            let image = Image::from_file(&elf)?;
            let mut argv = vec![elf.display().to_string()];
            argv.extend(args);
            run(image, argv, &opts)?
        }
        Cmd::Demo { opts } => {
            let image = Image::from_bytes("demo".into(), Arc::from(faultline_guest::DEMO_ELF))?;
            run(image, vec!["demo".into()], &opts)?
        }
        Cmd::Bench { pages, json, repeat } => {
            let r = faultline::bench::run(pages, repeat)?;
            if json {
                println!("{}", r.to_json());
            } else {
                print!("{r}");
            }
            return Ok(0);
        }
    };
    Ok((outcome.status.code() & 0xff) as u8)
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
    out.replace('\n', " ")
}

fn main() -> ExitCode {
    match main_result() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("faultline: error: {}", one_line(&e));
            ExitCode::from(TOOL_FAILURE)
        }
    }
}
