//! Running a sandbox: the fault handler and the syscall ring's server are
//! started, the supervisor waits for pid 1's end (firing timers, watching
//! the timeout and faultline's own signals), everything is stopped, and
//! the outcome is gathered.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ring, Error, Outcome, Sandbox, SyscallPath, Usage};
use crate::fault::{Handler, WakeMode};
use crate::kernel::{signal, ExitStatus, KernelState, Stop};
use crate::timeline::Summary;

/// The threads that serve the guest besides its vCPUs.
struct Workers {
    handler: Option<Handler>,
    /// Set when the fault handler died (its error is the failure's cause).
    handler_died: Arc<AtomicBool>,
}

impl Sandbox {
    /// Runs the program; `interrupt` stops it early when set (faultline's
    /// SIGINT handling), with the signal given.
    pub fn run_with(self, interrupt: Option<&AtomicI32>) -> Result<Outcome, Error> {
        let start = Instant::now();
        let workers = self.start_workers()?;
        self.machine.spawn_pending(&self.kernel)?;
        self.supervise(start, interrupt);
        // Every other process dies with pid 1 (or with the stop).
        self.kernel.stop_all_quietly();
        let gone = self.kernel.wait_threads_gone(Instant::now() + Duration::from_secs(5));
        let handler_result = workers.handler.map(|h| h.stop()).unwrap_or(Ok(()));
        if let Some(server) = self.machine.ring.get() {
            server.stop();
        }
        let mut k = self.kernel.lock();
        k.check_host();
        if !gone {
            k.report.set_stop(Stop::Failure("threads did not stop".into()));
        }
        if let Err(e) = k.report.recorder_mut().finish() {
            return Err(Error::Failed(format!("cannot write the timeline: {e}")));
        }
        let failure = match (k.report.stop(), handler_result) {
            (Some(Stop::Failure(why)), Err(e)) if workers.handler_died.load(Ordering::Acquire) => {
                Some(format!("{why}: {e}"))
            }
            (Some(Stop::Failure(why)), _) => Some(why.clone()),
            (_, r) => {
                r?;
                None
            }
        };
        if failure.is_some() {
            k.summarize_living();
        }
        let outcome = self.outcome(&mut k, start);
        drop(k);
        match failure {
            Some(why) => Err(Error::Aborted { why, partial: Box::new(outcome) }),
            None => Ok(outcome),
        }
    }

    /// Starts the fault handler (if guest RAM is trapped) and the ring's
    /// server (unless syscalls go by exits). They spin only where a CPU is
    /// free for them, one at a time on 2 cores (`fault::spin`).
    fn start_workers(&self) -> Result<Workers, Error> {
        let gate = Arc::new(crate::fault::SpinGate::default());
        let handler_died = Arc::new(AtomicBool::new(false));
        let handler = if self.config.trapped {
            let (died, kernel) = (handler_died.clone(), self.kernel.clone());
            let uffd = self.uffd.clone();
            let uffd2 = uffd.clone();
            let wake = self.config.wake;
            let cpu = if wake == WakeMode::Colocated { crate::hv::current_cpu() } else { None };
            let sink = crate::kernel::mm::uffd::KernelSink::new(self.kernel.clone());
            let on_death = move || {
                died.store(true, Ordering::Release);
                kernel.stop_all(Stop::Failure("the fault handler died".into()));
                // Nobody serves faults now: let every waiter go, or a vCPU
                // parked on one would never leave KVM_RUN.
                if let Err(e) = uffd2.abandon() {
                    kernel.lock().diag(&format!("cannot let go of guest RAM: {e}"));
                }
            };
            Some(Handler::start(uffd, sink, wake, cpu, gate.clone(), on_death).map_err(Error::Thread)?)
        } else {
            None
        };
        if self.config.syscalls != SyscallPath::Exit {
            let doorbell = self.machine.vm.doorbell(crate::arch::layout::DOORBELL_GPA)?;
            let server = ring::RingServer::start(self.kernel.clone(), self.machine.ring_mem.clone(), doorbell, gate)
                .map_err(Error::Thread)?;
            let _ = self.machine.ring.set(server);
        }
        Ok(Workers { handler, handler_died })
    }

    /// Waits until pid 1 has ended or the run must stop: the timeout, a
    /// signal to faultline (looked at every 50 ms), a failure. Timers fire
    /// here, and threads waiting for a vCPU get one.
    fn supervise(&self, start: Instant, interrupt: Option<&AtomicI32>) {
        let deadline = self.config.timeout.map(|t| start + t);
        loop {
            let next_timer = self.kernel.fire_timers();
            let mut wake = [deadline, next_timer].into_iter().flatten().min();
            if interrupt.is_some() {
                let tick = Instant::now() + Duration::from_millis(50);
                wake = Some(wake.map_or(tick, |w| w.min(tick)));
            }
            if self.kernel.wait_done(wake) {
                return;
            }
            if let Err(e) = self.machine.spawn_pending(&self.kernel) {
                self.kernel.stop_all(Stop::Failure(e.to_string()));
            }
            if let Some(sig) = interrupt.map(|i| i.load(Ordering::Acquire)).filter(|&s| s != 0) {
                self.kernel.stop_all(Stop::Signal(sig));
                return;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.kernel.stop_all(Stop::Timeout(self.config.timeout.unwrap_or_default()));
                return;
            }
        }
    }

    /// What the run produced, from the kernel's state at its end.
    fn outcome(&self, k: &mut KernelState, start: Instant) -> Outcome {
        let stopped = k.report.stop().cloned();
        let status = match (&stopped, k.report.init().status) {
            (Some(Stop::Timeout(_)), _) => ExitStatus::Killed(signal::SIGKILL),
            (Some(Stop::Signal(s)), _) => ExitStatus::Killed(*s),
            (_, Some(s)) => s,
            (_, None) => ExitStatus::Killed(signal::SIGKILL),
        };
        let mut reports = k.report.reports().to_vec();
        if let Some(line) = stop_report(k, &stopped) {
            k.diag(&line);
            reports.push(line);
        }
        let mut processes = k.report.summaries().to_vec();
        processes.sort_by_key(|p| p.pid);
        let summary = Summary {
            processes,
            peak_resident_pages: k.phys.counters.peak_resident,
            end_resident_pages: k.report.init().end_resident.unwrap_or(k.phys.counters.resident),
        };
        let r = k.report.init().usage.unwrap_or_default();
        let usage = Usage {
            minor_faults: r.minflt,
            major_faults: r.majflt,
            max_resident_kib: r.maxrss * 4,
            voluntary_switches: r.nvcsw,
            involuntary_switches: r.nivcsw,
            user: Duration::from_nanos(r.utime_ns),
            system: Duration::from_nanos(r.stime_ns),
            elapsed: start.elapsed(),
        };
        let ring = self.machine.ring.get();
        Outcome {
            status,
            reports,
            events: self.kept.as_ref().map(|k| k.take()).unwrap_or_default(),
            regions: k.report.recorder().regions().clone(),
            summary,
            memory: k.report.init().memory.unwrap_or_default(),
            stopped,
            elapsed: start.elapsed(),
            stdout: self.config.stdout.captured_bytes(),
            stderr: self.config.stderr.captured_bytes(),
            usage,
            ring_calls: ring.map_or(0, |r| r.stats.served.load(Ordering::Relaxed)),
            ring_withdrawn: ring.map_or(0, |r| r.stats.withdrawn.load(Ordering::Relaxed)),
        }
    }
}

/// The report of a run stopped from outside (the timeout, a signal to
/// faultline), naming pid 1: its summary is there once it has ended, and
/// a thread that would not stop kept it alive with its name still known.
fn stop_report(k: &KernelState, stopped: &Option<Stop>) -> Option<String> {
    let comm = k
        .report
        .summaries()
        .iter()
        .find(|s| s.pid == 1)
        .map(|s| s.comm.as_str())
        .or(k.tasks.proc(1).map(|p| p.comm.as_str()))
        .map_or("?".into(), crate::text::tame);
    match stopped {
        Some(Stop::Timeout(t)) => {
            Some(format!("{comm}[1]: killed after the {:.1} s timeout; killed by SIGKILL", t.as_secs_f64()))
        }
        // The signal is named once, as the status it gives.
        Some(Stop::Signal(s)) => Some(format!(
            "{comm}[1]: faultline was {}, and stopped the program and everything it started; killed by {}",
            match *s {
                libc::SIGINT => "interrupted",
                libc::SIGHUP => "hung up on",
                _ => "told to stop",
            },
            signal::name(*s)
        )),
        _ => None,
    }
}
