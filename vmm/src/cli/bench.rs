//! `faultline bench`: trapped faults against kernel-populated and native
//! touches.

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
}

/// Runs the benchmark and prints its table (or JSON line).
pub fn bench(args: &BenchArgs) -> Result<u8> {
    ensure!(args.repeat >= 1, "--repeat must be at least 1");
    let r = faultline::bench::run(args.pages, args.repeat)?;
    if args.json {
        say!("{}", r.to_json());
    } else {
        say!("{}", r.to_string().trim_end_matches('\n'));
    }
    Ok(0)
}
