//! `faultline report`: the pictures of a saved timeline.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use faultline::parse_size;

use super::options::select;
use super::output::{create, Pictures};

#[derive(Args)]
pub struct ReportArgs {
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
}

/// Draws the pictures asked for from `csv` and the stacks table beside
/// it; every file is created before any is drawn.
pub fn report(args: ReportArgs) -> Result<u8> {
    use faultline::report::{html as page, rows};
    let ReportArgs { csv, html, trace, folded, flamegraph, graph_events, rss_limit } = args;
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
    Ok(0)
}
