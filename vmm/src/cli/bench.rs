//! `faultline bench`: trapped faults against kernel-populated and native
//! touches; with `--program`, any program natively and under faultline
//! against the floor model.

use anyhow::{ensure, Result};
use clap::Args;

#[derive(Args)]
pub struct BenchArgs {
    /// Pages each way touches.
    #[arg(long, default_value_t = faultline::bench::DEFAULT_PAGES)]
    pages: u64,
    /// Print one line of JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Runs of each kind; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeat: u32,
    /// Bench this program instead (give it after `--`): natively and under
    /// faultline, taking turns, with the costs of a trapped touch and of a
    /// syscall measured in the same rounds, and where its time goes.
    #[arg(long, requires = "command")]
    program: bool,
    /// The program and its arguments, for --program.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// Runs the benchmark and prints its table (or JSON line).
pub fn bench(args: &BenchArgs) -> Result<u8> {
    ensure!(args.repeat >= 1, "--repeat must be at least 1");
    ensure!(args.program || args.command.is_empty(), "a command after `--` needs --program");
    if args.program {
        let b = faultline::bench::program(&args.command, args.repeat)?;
        if args.json {
            say!("{}", b.to_json());
        } else {
            say!("{}", b.to_string().trim_end_matches('\n'));
        }
        return Ok(0);
    }
    let r = faultline::bench::run(args.pages, args.repeat)?;
    if args.json {
        say!("{}", r.to_json());
    } else {
        say!("{}", r.to_string().trim_end_matches('\n'));
    }
    Ok(0)
}
