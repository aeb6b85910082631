//! Getting a vCPU thread out of KVM_RUN from another thread, without a
//! lost wake-up: set the vCPU's `immediate_exit` (KVM_RUN returns EINTR at
//! once if it is set when it starts), then send the thread a signal whose
//! handler does nothing (KVM_RUN, or a userfaultfd wait inside it, returns
//! EINTR if it is already running). The vCPU thread clears the flag once it
//! has seen the kick.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Once;

const KICK_SIGNAL: libc::c_int = libc::SIGUSR2;

extern "C" fn on_kick(_: libc::c_int) {}

/// Installs the no-op handler (once per process), without SA_RESTART so
/// that blocking calls return EINTR.
pub fn install_kick_handler() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SAFETY: installs a handler that does nothing.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_kick as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(KICK_SIGNAL, &sa, std::ptr::null_mut());
        }
    });
}

/// A handle on a vCPU thread.
#[derive(Clone, Copy)]
pub struct Kicker {
    thread: libc::pthread_t,
    immediate_exit: &'static AtomicU8,
}

impl std::fmt::Debug for Kicker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kicker").field("thread", &self.thread).finish()
    }
}

impl Kicker {
    /// A kicker for the calling thread and its vCPU's `immediate_exit`.
    pub(super) fn for_current_thread(immediate_exit: &'static AtomicU8) -> Self {
        install_kick_handler();
        // SAFETY: pthread_self has no preconditions and cannot fail.
        Kicker { thread: unsafe { libc::pthread_self() }, immediate_exit }
    }

    /// Stops the vCPU's KVM_RUN (now or at its next start), and interrupts
    /// a blocking call the thread is in.
    ///
    /// The caller must know the thread is still alive: the kernel drops a
    /// thread's kicker (under its lock) before the thread exits.
    pub fn kick(&self) {
        self.immediate_exit.store(1, Ordering::SeqCst);
        // SAFETY: the thread is alive (see above).
        unsafe { libc::pthread_kill(self.thread, KICK_SIGNAL) };
    }
}

/// The CPU this thread runs on now.
pub fn current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu takes no arguments; its failure (-1) is
    // checked below.
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
    // SAFETY: cpu_set_t is plain data: all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: CPU_SET bounds-checks against the set's size.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set_affinity(&set)
}
