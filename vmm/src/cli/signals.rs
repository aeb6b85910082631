//! Signals to faultline itself: SIGINT, SIGTERM and SIGHUP stop the run
//! (what was recorded is kept, a second one exits at once), SIGUSR1 asks
//! for top's table (with --top).

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// The signal that asked faultline to stop, 0 if none. A second one exits
/// at once.
pub static INTERRUPT: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    if INTERRUPT.swap(sig, Ordering::AcqRel) != 0 {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + sig) };
    }
}

/// SIGUSR1 arrived (with --top): print the live processes' table.
pub static TOP_WANTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_: libc::c_int) {
    TOP_WANTED.store(true, Ordering::Release);
}

pub fn catch_usr1() {
    install(libc::SIGUSR1, on_usr1);
}

pub fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        install(sig, on_signal);
    }
}

/// Installs `handler` for `sig`, with SA_RESTART to keep faultline's own
/// I/O going.
fn install(sig: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: an all-zero sigaction is valid; both handlers only touch an
    // atomic (and may call _exit, which is async-signal-safe).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(sig, &sa, std::ptr::null_mut());
    }
}
