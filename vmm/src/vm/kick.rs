//! Getting a vCPU thread out of KVM_RUN from another thread: a signal with
//! an empty handler makes KVM_RUN (or a userfaultfd wait inside it) return
//! EINTR.

use std::sync::Once;

const KICK_SIGNAL: libc::c_int = libc::SIGUSR2;

extern "C" fn on_kick(_: libc::c_int) {}

/// A handle on the thread that created it.
#[derive(Clone, Copy)]
pub struct Kicker {
    thread: libc::pthread_t,
}

impl Kicker {
    pub fn for_current_thread() -> Self {
        static INSTALL: Once = Once::new();
        INSTALL.call_once(|| {
            // SAFETY: installs a handler that does nothing; no SA_RESTART so
            // blocking calls return EINTR.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = on_kick as *const () as usize;
                libc::sigemptyset(&mut sa.sa_mask);
                libc::sigaction(KICK_SIGNAL, &sa, std::ptr::null_mut());
            }
        });
        // SAFETY: always valid.
        Kicker { thread: unsafe { libc::pthread_self() } }
    }

    pub fn kick(&self) {
        // SAFETY: the thread outlives every kick: the sandbox joins the
        // watchdog before its vCPU thread returns.
        unsafe { libc::pthread_kill(self.thread, KICK_SIGNAL) };
    }
}

/// The CPU this thread runs on now.
pub fn current_cpu() -> Option<usize> {
    // SAFETY: no arguments.
    let c = unsafe { libc::sched_getcpu() };
    (c >= 0).then_some(c as usize)
}

/// This thread's CPU affinity.
pub fn current_affinity() -> std::io::Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain data; the call fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(set)
    }
}

/// Restores an affinity saved with [`current_affinity`].
pub fn set_affinity(set: &libc::cpu_set_t) -> std::io::Result<()> {
    // SAFETY: a valid set for this thread.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Pins this thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET bounds-checks against the set's size.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set_affinity(&set)
}
