//! A sandbox: one VM, one kernel, and the program it runs as pid 1 with
//! whatever processes and threads it makes. `config.rs` says how to run it
//! (`builder.rs` the documented way to say it, `validate.rs` what is refused),
//! `setup.rs` builds the VM and the kernel, `machine.rs` hands vCPUs to
//! guest threads and `vcpu.rs` runs each, handing its exits to the kernel;
//! `run.rs` supervises (the fault handler, the ring's server, the timeout,
//! timers and signals to faultline) and gathers the [`Outcome`].

mod builder;
mod config;
mod entry;
mod error;
mod machine;
mod outcome;
mod program;
mod progress;
mod ring;
mod run;
mod setup;
#[cfg(target_arch = "x86_64")]
mod stub;
mod validate;
mod vcpu;

pub use builder::{EventStream, SandboxBuilder, StreamedEvent};
pub use config::{
    default_env, parse_bind, Bind, Config, Identity, Program, SyscallPath, DEFAULT_FAULT_AROUND, DEFAULT_MAX_MAP_COUNT,
    DEFAULT_MAX_TASKS, DEFAULT_MEM, DEFAULT_MEMLOCK, DEFAULT_STACK,
};
pub use error::{Error, HostError};
pub use outcome::{Outcome, Usage};
pub use program::{ProgramInfo, SegmentInfo};
pub use progress::{Progress, ProgressProbe};
pub use validate::{ConfigError, MIN_RSS_LIMIT};

use std::sync::Arc;

use crate::kernel::Kernel;

/// One VM and one kernel, with the program loaded as pid 1 and ready to
/// run: made by [`Sandbox::builder`] (or [`Sandbox::new`]), used up by
/// [`Sandbox::run`].
pub struct Sandbox {
    kernel: Arc<Kernel>,
    machine: Arc<machine::Machine>,
    /// Guest RAM's userfaultfd, which the fault handler reads.
    uffd: Arc<crate::fault::Uffd>,
    config: Config,
    kept: Option<crate::timeline::KeepEvents>,
}

impl Sandbox {
    /// A handle for watching the run's progress.
    pub fn probe(&self) -> ProgressProbe {
        ProgressProbe(self.kernel.clone())
    }

    /// Runs the program to its end (or until the timeout), and every
    /// process it starts, and returns what happened.
    ///
    /// ```
    /// use faultline::{ExitStatus, Program, Sandbox};
    ///
    /// let outcome = Sandbox::builder(Program::demo()).keep_events().build()?.run()?;
    /// assert_eq!(outcome.status, ExitStatus::Exited(0));
    /// assert!(outcome.stdout_text().starts_with("faultline demo"));
    /// // Every kept event names its region; the summary counts them.
    /// let bss = outcome.events.iter().filter(|e| e.is_guest_fault() && outcome.region_name(e) == ".bss").count();
    /// assert_eq!(bss as u64, outcome.summary.region(".bss").unwrap().faults());
    /// # Ok::<(), faultline::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Aborted`], with the outcome so far, when faultline itself
    /// fails while the program runs ([`Error::Failed`] if not even that
    /// can be had); the program's own failures are in the [`Outcome`].
    pub fn run(self) -> Result<Outcome, Error> {
        self.run_with(None)
    }
}
