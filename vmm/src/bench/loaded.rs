//! The same first touches and syscalls with one CPU busy with other work
//! (a thread of this process spinning, as a compiler or a second sandbox
//! would): the case the fault handler's default must hold up in, because
//! users run faultline beside other work.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::syscalls::{field, median, run};
use super::{guest_ns, BenchError, Way};
use crate::{Program, SyscallPath};

/// getppid calls per run (fewer than the quiet rows: each is slower).
const CALLS: u64 = 5_000;

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Loaded {
    pub pages: u64,
    /// Median ns per trapped first touch, by wake mode.
    pub auto_ns_per_fault: f64,
    pub spin_ns_per_fault: f64,
    pub colocated_ns_per_fault: f64,
    pub poll_ns_per_fault: f64,
    /// Median ns per getppid, through the ring and by an exit.
    pub ring_syscall_ns: f64,
    pub exit_syscall_ns: f64,
}

/// A thread that keeps one CPU busy until dropped.
struct Hog {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Hog {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        });
        Hog { stop, thread: Some(thread) }
    }
}

impl Drop for Hog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn measure(touch: &Program, pages: u64, repeat: u32) -> Result<Loaded, BenchError> {
    let procs = Program::Bytes { name: "procs".into(), bytes: faultline_guest::BENCH_PROCS_ELF.into() };
    let calls: Vec<String> = ["procs".to_string(), "calls".into(), CALLS.to_string()].to_vec();
    let ways = [Way::TrappedAuto, Way::TrappedSpin, Way::TrappedColocated, Way::TrappedPoll];
    let mut faults: [Vec<f64>; 4] = Default::default();
    let (mut ring, mut exit) = (Vec::new(), Vec::new());
    let _hog = Hog::start();
    for _ in 0..repeat.max(1) {
        for (i, w) in ways.iter().enumerate() {
            faults[i].push(guest_ns(touch, pages, *w)?.0);
        }
        ring.push(field(&run(&procs, &calls, SyscallPath::Ring)?, "calls_ns")? / CALLS as f64);
        exit.push(field(&run(&procs, &calls, SyscallPath::Exit)?, "calls_ns")? / CALLS as f64);
    }
    let [a, s, c, p] = faults.map(median);
    Ok(Loaded {
        pages,
        auto_ns_per_fault: a,
        spin_ns_per_fault: s,
        colocated_ns_per_fault: c,
        poll_ns_per_fault: p,
        ring_syscall_ns: median(ring),
        exit_syscall_ns: median(exit),
    })
}

impl fmt::Display for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\nwith one CPU busy (a spinning host thread): first touch of {} pages", self.pages)?;
        writeln!(f, "{:<44} {:>10} {:>9}", "ns per fault, by --wake", "ns", "× auto")?;
        let a = self.auto_ns_per_fault;
        for (what, v) in [
            ("auto (default)", a),
            ("spin", self.spin_ns_per_fault),
            ("colocated", self.colocated_ns_per_fault),
            ("poll", self.poll_ns_per_fault),
        ] {
            writeln!(f, "{what:<44} {v:>10.0} {:>9.2}", v / a)?;
        }
        writeln!(
            f,
            "getppid: ring {:.0} ns, exit {:.0} ns (exit/ring {:.2})",
            self.ring_syscall_ns,
            self.exit_syscall_ns,
            self.exit_syscall_ns / self.ring_syscall_ns
        )
    }
}
