//! A test a project would write: "our program touches at most N heap pages
//! and never faults in .data after start-up". Runs a real guest on KVM.
//!
//! `cargo run --example fault_budget -- /path/to/prog [args]` prints the
//! per-region faults; `cargo test --example fault_budget` runs the test
//! below against the built-in demo guest.

use std::time::Duration;

use faultline::{Outcome, Program, Sandbox};

/// Runs `program` with `args`, keeping every event, and returns its
/// outcome (stdout and stderr captured, as a builder does by default).
fn run(program: Program, args: &[&str]) -> Outcome {
    Sandbox::builder(program)
        .args(args.iter().copied())
        .keep_events()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a sandbox")
        .run()
        .expect("the run")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((path, rest)) = args.split_first() else {
        eprintln!("usage: fault_budget PROGRAM [ARGS...]");
        std::process::exit(2);
    };
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let outcome = run(Program::Path(path.into()), &rest);
    for r in outcome.summary.regions() {
        println!("pid {} {:<24} {:>6} faults {:>6} resident", r.pid, r.name, r.faults(), r.resident_pages);
    }
}

#[test]
fn the_demo_stays_within_its_fault_budget() {
    use faultline::timeline::{EventKind, Origin};

    let outcome = run(Program::demo(), &[]);
    assert_eq!(outcome.status, faultline::ExitStatus::Exited(0));
    assert!(outcome.stdout_text().starts_with("faultline demo"));
    // Exact counts per region, as the timeline recorded them.
    let bss = outcome.summary.region(".bss").expect("a .bss");
    assert_eq!((bss.write_faults, bss.read_faults), (8, 0));
    assert!(bss.faults() <= 8, "more .bss pages touched than budgeted");
    // No copy-on-write anywhere, and the VMM's own rows are not the program's.
    assert!(!outcome.events.iter().any(|e| e.kind == EventKind::Cow));
    let own = outcome.events.iter().filter(|e| e.origin == Origin::Guest && e.kind.is_fault()).count();
    assert_eq!(own as u64, outcome.summary.guest_faults());
    // Every .data fault comes before the first .bss one: nothing in .data
    // is touched for the first time after start-up.
    let first_bss = outcome.events.iter().position(|e| outcome.region_name(e) == ".bss").expect("a .bss row");
    assert!(outcome.events[first_bss..].iter().all(|e| outcome.region_name(e) != ".data"));
}
