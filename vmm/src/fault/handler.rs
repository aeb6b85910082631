//! The fault-handler thread: reads userfaultfd messages and hands them, in
//! batches, to whoever resolves them (the kernel). It knows how to wait,
//! nothing about what a page should hold.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use vmm_sys_util::eventfd::EventFd;

use super::spin::{SpinGate, Spinning};
use super::uffd::{PageFault, Uffd, UffdError};

/// How the handler waits for the next fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WakeMode {
    /// Spin while faults keep coming if a CPU is free for it, else sleep
    /// in poll(2) (see `fault::spin`): the spinning speed on a quiet
    /// machine, the sleeping one's on a busy machine or beside the syscall
    /// ring's spinning server. The default.
    #[default]
    Auto,
    /// Sleep in poll(2) until the kernel queues a fault. Costs a wake-up
    /// per fault, frees the core.
    Poll,
    /// Busy-poll the non-blocking descriptor while faults keep coming (no
    /// wake-up latency for the handler), and sleep in poll(2) once none has
    /// come for 500 µs (`SPIN_WINDOW`), however busy the machine: a burst
    /// of first touches is served at full speed, a program that computes
    /// without faulting costs no core. Fastest on a quiet machine, and
    /// much the slowest on a busy one (BENCHMARKS.md).
    Spin,
    /// Pin the handler to the CPU the sandbox started on and sleep in
    /// poll(2): the faulting thread's sleep hands the CPU straight to the
    /// handler, with no cross-CPU IPI. Slower than spinning, but keeps no
    /// core busy.
    Colocated,
}

impl std::str::FromStr for WakeMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(WakeMode::Auto),
            "poll" => Ok(WakeMode::Poll),
            "spin" => Ok(WakeMode::Spin),
            "colocated" => Ok(WakeMode::Colocated),
            _ => Err(format!("unknown wake mode {s:?} (auto, spin, colocated or poll)")),
        }
    }
}

/// How long the spinning handler keeps spinning after the last fault. A
/// fault's round trip through the guest is ~50 µs here, so a burst never
/// falls asleep between two faults.
pub const SPIN_WINDOW: std::time::Duration = std::time::Duration::from_micros(500);

/// Whoever resolves faults. Errors end the handler.
pub trait FaultSink: Send + 'static {
    /// Resolves `faults`, read at `read_at`. Faults it cannot resolve yet
    /// (memory being freed) it keeps, to be offered again by
    /// [`FaultSink::retry`]; returns whether it keeps some.
    fn resolve(&mut self, faults: &[PageFault], read_at: Instant) -> Result<bool, UffdError>;
    /// Resolves what it kept, if anything; returns whether it still keeps
    /// some (the handler then polls instead of sleeping).
    fn retry(&mut self) -> Result<bool, UffdError>;
}

pub struct Handler {
    thread: Option<JoinHandle<Result<(), UffdError>>>,
    stop: Arc<AtomicBool>,
    stop_fd: EventFd,
}

impl Handler {
    /// Starts the thread. `on_exit` runs on it when it ends for any reason
    /// but [`Handler::stop`] (an error, a panic, a return nobody asked
    /// for), so that the run is marked failed and vCPUs parked on faults
    /// nobody will serve are let go.
    pub fn start(
        uffd: Arc<Uffd>,
        mut sink: impl FaultSink,
        mode: WakeMode,
        cpu: Option<usize>,
        gate: Arc<SpinGate>,
        on_exit: impl FnOnce() + Send + 'static,
    ) -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_fd = EventFd::new(libc::EFD_NONBLOCK)?;
        let (stop2, wake_fd) = (stop.clone(), stop_fd.try_clone()?);
        let thread = std::thread::Builder::new().name("fault-handler".into()).spawn(move || {
            struct Alarm<F: FnOnce()>(Option<F>);
            impl<F: FnOnce()> Drop for Alarm<F> {
                fn drop(&mut self) {
                    if let Some(f) = self.0.take() {
                        f();
                    }
                }
            }
            let mut alarm = Alarm(Some(on_exit));
            if let Some(cpu) = cpu {
                // Best effort: unpinned, the handler still works, only slower.
                let _ = crate::hv::pin_current_thread(cpu);
            }
            let mut r = serve(&uffd, &mut sink, mode, &gate, &stop2, wake_fd.as_raw_fd());
            if r.is_ok() && !stop2.load(Ordering::Acquire) {
                r = Err(UffdError::Op { what: "handler", source: io::Error::other("returned without being stopped") });
            }
            if r.is_ok() {
                alarm.0 = None;
            }
            r
        })?;
        Ok(Handler { thread: Some(thread), stop, stop_fd })
    }

    /// Stops the thread and returns how it ended.
    pub fn stop(mut self) -> Result<(), UffdError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), UffdError> {
        self.stop.store(true, Ordering::Release);
        let _ = self.stop_fd.write(1);
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|payload| {
                let why = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let why = crate::text::tame_n(&format!("panicked: {why}"), 400);
                Err(UffdError::Op { what: "handler", source: io::Error::other(why) })
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn serve(
    uffd: &Uffd,
    sink: &mut impl FaultSink,
    mode: WakeMode,
    gate: &SpinGate,
    stop: &AtomicBool,
    wake_fd: i32,
) -> Result<(), UffdError> {
    let mut faults = Vec::with_capacity(16);
    let mut last_fault = Instant::now();
    let mut kept = false;
    // The place to spin, held from the first idle turn spent spinning to
    // the next sleep.
    let mut place: Option<Spinning<'_>> = None;
    loop {
        faults.clear();
        if uffd.read_faults(&mut faults)? == 0 {
            if stop.load(Ordering::Acquire) {
                return Ok(());
            }
            if kept {
                kept = sink.retry()?;
                if kept {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                continue;
            }
            let spin = last_fault.elapsed() < SPIN_WINDOW
                && match mode {
                    WakeMode::Spin => {
                        place.get_or_insert_with(|| gate.enter_always());
                        true
                    }
                    WakeMode::Auto => {
                        if place.is_none() {
                            place = gate.enter();
                        }
                        place.as_ref().is_some_and(|p| p.keep())
                    }
                    WakeMode::Poll | WakeMode::Colocated => false,
                };
            if spin {
                std::hint::spin_loop();
            } else {
                place = None;
                uffd.wait(wake_fd)?;
            }
            continue;
        }
        match crate::inject::hit(crate::inject::Point::HandlerPanic) {
            Some(_) => panic!("{}", crate::inject::panic_message(crate::inject::Point::HandlerPanic)),
            None if crate::inject::hit(crate::inject::Point::HandlerExit).is_some() => return Ok(()),
            None => {}
        }
        let read_at = Instant::now();
        last_fault = read_at;
        kept |= sink.resolve(&faults, read_at)?;
        // Looked at between faults too: a spinner sharing its CPU with the
        // vCPU it serves finds a fault waiting after every turn, and would
        // otherwise never look.
        if place.as_ref().is_some_and(|p| !p.keep()) {
            place = None;
        }
    }
}
