//! Comparing two builds (or two inputs) of a program by their page faults:
//! the per-region counts of each, and what changed. A CI job can fail when
//! a change makes a program touch more memory.
//!
//! `cargo run --example fault_diff -- PROG_A PROG_B [ARGS...]`;
//! `cargo test --example fault_diff` compares two runs of the demo.

use std::collections::BTreeMap;

use faultline::{Program, Sandbox};

/// Faults per region of one run. The timeline streams through the
/// iterator as the program runs: nothing is kept but the counts.
fn faults(program: Program, args: &[String]) -> BTreeMap<String, u64> {
    let mut builder = Sandbox::builder(program).args(args.iter().cloned());
    let events = builder.event_stream();
    let sandbox = builder.build().expect("a sandbox");
    let run = std::thread::spawn(move || sandbox.run());
    let mut counts = BTreeMap::new();
    for e in events.filter(|e| e.event.is_guest_fault()) {
        *counts.entry(e.region).or_insert(0) += 1;
    }
    let outcome = run.join().expect("the run's thread").expect("the run");
    // The stream and the summary agree.
    assert_eq!(counts.values().sum::<u64>(), outcome.summary.guest_faults());
    counts
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
    let a = faults(Program::Path(args[0].clone().into()), rest);
    let b = faults(Program::Path(args[1].clone().into()), rest);
    let diff = differences(&a, &b);
    for (region, x, y) in &diff {
        println!("{region}: {x} → {y} faults");
    }
    std::process::exit(i32::from(!diff.is_empty()));
}

#[test]
fn two_runs_of_one_build_fault_alike() {
    let (a, b) = (faults(Program::demo(), &[]), faults(Program::demo(), &[]));
    assert!(differences(&a, &b).is_empty(), "{a:?} vs {b:?}");
    assert_eq!(a.get(".data"), Some(&4));
    assert_eq!(a.get(".bss"), Some(&8));
}
