//! The command line, a file a job: the subcommands (here), the options of
//! a run (`options.rs`), what each subcommand does (`run.rs`, `demo.rs`,
//! `report.rs`, `diff.rs`, `bench.rs`), the files a run writes
//! (`output.rs`), what shows while it runs (`watch.rs`), signals to
//! faultline (`signals.rs`), and errors in one line (`errors.rs`).
//! `anyhow` stays here, at the edge; the library's errors are typed.

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

mod bench;
mod demo;
mod diff;
pub mod errors;
mod options;
mod output;
mod report;
mod run;
mod signals;
mod watch;

use anyhow::Result;
use clap::{Parser, Subcommand};

// No doc comments on the clap types but the subcommands' own: clap makes
// help text of them.
#[derive(Parser)]
#[command(
    name = "faultline",
    version,
    about = "Run an x86-64 Linux program on KVM and watch its memory get backed, page by page"
)]
pub struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run an x86-64 Linux program (static, or dynamic with its interpreter) as the guest.
    /// Everything after PROGRAM is the program's own (`--` before it is
    /// accepted, never needed).
    Run(Box<options::RunOpts>),
    /// Show in real runs what Linux does with a program's memory: malloc,
    /// mlock, free, fork, a file mapping, reclaim and the OOM killer, each
    /// with the counts Linux would give and those the timeline shows.
    Demo(demo::DemoArgs),
    /// Build the HTML report (and a trace, folded stacks, a flame graph)
    /// from a saved timeline CSV and the stacks table beside it.
    Report(report::ReportArgs),
    /// Compare two timelines without their times: exit 0 if they tell the
    /// same story, 1 (with the first differing row) if not.
    Diff(diff::DiffArgs),
    /// Measure trapped faults against kernel-populated and native touches.
    Bench(bench::BenchArgs),
}

/// Does what the command line asks: the exit status to end with.
pub fn main_result(cli: Cli) -> Result<u8> {
    match cli.cmd {
        Cmd::Run(opts) => run::run(*opts),
        Cmd::Demo(args) => demo::demo(args),
        Cmd::Report(args) => report::report(args),
        Cmd::Diff(args) => diff::diff(&args),
        Cmd::Bench(args) => bench::bench(&args),
    }
}
