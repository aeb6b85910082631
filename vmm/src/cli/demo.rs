//! `faultline demo`: the scenarios, each run and judged against the
//! counts Linux would give.

use std::sync::atomic::Ordering;

use anyhow::{Context, Result};
use clap::Args;

use faultline::Sandbox;

use super::options::OutputOpts;
use super::signals::{catch_signals, INTERRUPT};

#[derive(Args)]
pub struct DemoArgs {
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
}

/// `faultline demo`: each scenario asked for, run and judged; exit 0 if
/// every count is what Linux would give.
pub fn demo(args: DemoArgs) -> Result<u8> {
    use faultline::demo::{self, SCENARIOS};
    let DemoArgs { scenario, list, out, quiet } = args;
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
