//! A test a project would write: "our program touches at most N heap pages
//! and never faults in .data after start-up". Runs a real guest on KVM.
//!
//! `cargo run --example fault_budget -- /path/to/prog [args]` prints the
//! per-region faults; `cargo test --example fault_budget` runs the test
//! below against the built-in demo guest.

use faultline::{Config, Output, Program, Sandbox};

/// Runs `program` and returns its outcome, with stdout captured and every
/// event kept.
fn run(program: Program, argv: &[&str]) -> faultline::Outcome {
    let config = Config {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        stdout: Output::capture(),
        keep_events: true,
        timeout: Some(std::time::Duration::from_secs(30)),
        ..Config::default()
    };
    Sandbox::new(program, config).expect("a sandbox").run().expect("the run")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: fault_budget PROGRAM [ARGS...]");
        std::process::exit(2);
    };
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = run(Program::Path(path.into()), &argv);
    for r in outcome.summary.regions() {
        println!("pid {} {:<24} {:>6} faults {:>6} resident", r.pid, r.name, r.faults(), r.resident_pages);
    }
}

#[test]
fn the_demo_stays_within_its_fault_budget() {
    use faultline::timeline::{EventKind, Origin};
    use std::sync::Arc;

    let demo = Program::Bytes { name: "demo".into(), bytes: Arc::from(faultline::guest::DEMO_ELF) };
    let outcome = run(demo, &["demo"]);
    assert_eq!(outcome.status, faultline::ExitStatus::Exited(0));
    // Exact counts per region, as the timeline recorded them.
    let bss = outcome.summary.region(".bss").expect("a .bss");
    assert_eq!((bss.write_faults, bss.read_faults), (8, 0));
    assert!(bss.faults() <= 8, "more .bss pages touched than budgeted");
    // No copy-on-write anywhere, and the VMM's own rows are not the program's.
    assert!(!outcome.events.iter().any(|e| e.kind == EventKind::Cow));
    let own = outcome.events.iter().filter(|e| e.origin == Origin::Guest && e.kind.is_fault()).count();
    assert_eq!(own as u64, outcome.summary.guest_faults());
}
