//! Comparing two builds (or two inputs) of a program by their page faults:
//! the per-region counts of each, and what changed. A CI job can fail when
//! a change makes a program touch more memory.
//!
//! `cargo run --example fault_diff -- PROG_A PROG_B [ARGS...]`;
//! `cargo test --example fault_diff` compares two runs of the demo.

use std::collections::BTreeMap;

use faultline::{Config, Output, Program, Sandbox};

/// Faults per region of one run.
fn faults(program: Program, argv: &[String]) -> BTreeMap<String, u64> {
    let config = Config { argv: argv.to_vec(), stdout: Output::capture(), ..Config::default() };
    let outcome = Sandbox::new(program, config).expect("a sandbox").run().expect("the run");
    outcome.summary.regions().map(|r| (r.name.clone(), r.faults())).collect()
}

/// The regions whose counts differ: (region, a, b).
fn differences(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> Vec<(String, u64, u64)> {
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| {
            let (x, y) = (a.get(n).copied().unwrap_or(0), b.get(n).copied().unwrap_or(0));
            (x != y).then(|| (n.clone(), x, y))
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: fault_diff PROG_A PROG_B [ARGS...]");
        std::process::exit(2);
    }
    let rest = &args[2..];
    let argv = |p: &str| std::iter::once(p.to_string()).chain(rest.iter().cloned()).collect::<Vec<_>>();
    let a = faults(Program::Path(args[0].clone().into()), &argv(&args[0]));
    let b = faults(Program::Path(args[1].clone().into()), &argv(&args[1]));
    let diff = differences(&a, &b);
    for (region, x, y) in &diff {
        println!("{region}: {x} → {y} faults");
    }
    std::process::exit(i32::from(!diff.is_empty()));
}

#[test]
fn two_runs_of_one_build_fault_alike() {
    let demo = || Program::Bytes { name: "demo".into(), bytes: std::sync::Arc::from(faultline::guest::DEMO_ELF) };
    let argv = vec!["demo".to_string()];
    let (a, b) = (faults(demo(), &argv), faults(demo(), &argv));
    assert!(differences(&a, &b).is_empty(), "{a:?} vs {b:?}");
    assert_eq!(a.get(".data"), Some(&4));
}
