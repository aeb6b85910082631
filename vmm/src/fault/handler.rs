//! The fault-handler thread: reads userfaultfd messages and resolves them.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use vmm_sys_util::eventfd::EventFd;

use super::backing::{Backing, FaultError};

/// How the handler waits for the next fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WakeMode {
    /// Sleep in poll(2) until the kernel queues a fault. Costs a wake-up
    /// per fault, frees the core.
    Poll,
    /// Busy-poll the non-blocking descriptor while faults keep coming (no
    /// wake-up latency for the handler), and sleep in poll(2) once none has
    /// come for [`SPIN_WINDOW`]: a burst of first touches is served at full
    /// speed, a program that computes without faulting costs no core. The
    /// default: the fastest way measured (BENCHMARKS.md).
    #[default]
    Spin,
    /// Pin the handler to the vCPU thread's CPU and sleep in poll(2):
    /// the faulting thread's sleep hands the CPU straight to the handler
    /// and the handler's wake-up hands it back, with no cross-CPU IPI and
    /// no idle CPU to wake. Slower than spinning, but keeps no core busy.
    Colocated,
}

impl std::str::FromStr for WakeMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "poll" => Ok(WakeMode::Poll),
            "spin" => Ok(WakeMode::Spin),
            "colocated" => Ok(WakeMode::Colocated),
            _ => Err(format!("unknown wake mode {s:?} (colocated, spin or poll)")),
        }
    }
}

/// How long the spinning handler keeps spinning after the last fault. A
/// fault's round trip through the guest is ~50 µs here, so a burst never
/// falls asleep between two faults.
pub const SPIN_WINDOW: std::time::Duration = std::time::Duration::from_micros(500);

pub struct Handler {
    thread: Option<JoinHandle<Result<(), FaultError>>>,
    stop: Arc<AtomicBool>,
    stop_fd: EventFd,
}

impl Handler {
    /// Starts the thread. `on_error` runs on the handler thread if it has
    /// to give up, so the vCPU (blocked on a fault) can be kicked out.
    ///
    /// With [`WakeMode::Colocated`], `cpu` is the CPU the vCPU thread is
    /// pinned to; the handler pins itself there too.
    pub fn start(
        backing: Arc<Backing>,
        mode: WakeMode,
        cpu: Option<usize>,
        on_error: impl FnOnce() + Send + 'static,
    ) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_fd = EventFd::new(libc::EFD_NONBLOCK)?;
        let (stop2, wake_fd) = (stop.clone(), stop_fd.try_clone()?);
        let thread = std::thread::Builder::new().name("fault-handler".into()).spawn(move || {
            // Whether the handler returns an error or panics, the vCPU may be
            // parked on a fault nobody will serve: raise the alarm either way.
            struct Alarm<F: FnOnce()>(Option<F>);
            impl<F: FnOnce()> Drop for Alarm<F> {
                fn drop(&mut self) {
                    if let Some(f) = self.0.take() {
                        f();
                    }
                }
            }
            let mut alarm = Alarm(Some(on_error));
            if let Some(cpu) = cpu {
                // Best effort: unpinned, the handler still works, only slower.
                let _ = crate::vm::pin_current_thread(cpu);
            }
            let r = serve(&backing, mode, &stop2, wake_fd.as_raw_fd());
            if r.is_ok() {
                alarm.0 = None;
            }
            r
        })?;
        Ok(Handler { thread: Some(thread), stop, stop_fd })
    }

    /// Stops the thread and returns how it ended.
    pub fn stop(mut self) -> Result<(), FaultError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), FaultError> {
        self.stop.store(true, Ordering::Release);
        let _ = self.stop_fd.write(1);
        match self.thread.take() {
            Some(t) => t.join().unwrap_or(Err(FaultError::Write("the fault handler panicked".into()))),
            None => Ok(()),
        }
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn serve(backing: &Backing, mode: WakeMode, stop: &AtomicBool, wake_fd: i32) -> Result<(), FaultError> {
    let Some(uffd) = backing.uffd() else { return Ok(()) };
    let mut faults = Vec::with_capacity(16);
    let mut last_fault = Instant::now();
    loop {
        faults.clear();
        if uffd.read_faults(&mut faults)? == 0 {
            if stop.load(Ordering::Acquire) {
                return Ok(());
            }
            match mode {
                WakeMode::Spin if last_fault.elapsed() < SPIN_WINDOW => std::hint::spin_loop(),
                _ => {
                    uffd.wait(wake_fd)?;
                }
            }
            continue;
        }
        let read_at = Instant::now();
        last_fault = read_at;
        for f in &faults {
            backing.handle_fault(f.address, f.write, read_at)?;
        }
    }
}
