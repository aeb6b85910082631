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
