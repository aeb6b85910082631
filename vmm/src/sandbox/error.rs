//! Why a sandbox could not be built or run.

use super::{ConfigError, Outcome};
use crate::fault::UffdError;
use crate::hv::VmError;
use crate::loader::LoadError;

/// Why a sandbox could not be built or run. What the program itself does
/// (crash, exit non-zero, get killed) is not an error: it is in the
/// [`Outcome`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work; nothing was made.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The program is not an x86-64 executable faultline can load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The host refused: no /dev/kvm, no userfaultfd, no memory for the
    /// guest.
    #[error(transparent)]
    Host(#[from] HostError),
    /// The program could not be started (not inside the root, exec failed).
    #[error("{path}: {what}")]
    Exec {
        /// The program, as given.
        path: String,
        /// Why.
        what: String,
    },
    /// The program's image does not fit in guest RAM plus swap.
    #[error(
        "{path}: needs {needed} pages ({needed_kib} KiB) of image, but --mem gives {available} pages; raise --mem"
    )]
    TooBig {
        /// The program.
        path: String,
        /// Pages its segments map.
        needed: u64,
        /// The same, in KiB.
        needed_kib: u64,
        /// Pages of RAM plus swap.
        available: u64,
    },
    /// A pinned region the program does not have.
    #[error("--pin {0}: no such region (try .text, .data, .bss, heap, stack or all)")]
    BadPin(String),
    /// The pinned regions do not fit in what may be resident.
    #[error("--pin {0} pins more pages than --mem / --rss-limit lets be resident; pin less or raise them")]
    PinTooBig(String),
    /// The guest's own structures could not be built.
    #[error("cannot set up the guest: {0}")]
    Setup(String),
    /// A host thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),
    /// faultline failed during the run (its fault handler stopped, threads
    /// did not stop, the timeline could not be written).
    #[error("{0}")]
    Failed(String),
    /// faultline itself failed while the program ran (a fault it could not
    /// resolve, KVM_RUN or the fault handler failing, the host out of
    /// memory): everything was stopped. `partial` is the run up to then,
    /// its summary included.
    #[error("{why}")]
    Aborted {
        /// What failed, in one line.
        why: String,
        /// The run until then: status, summary, events, output.
        partial: Box<Outcome>,
    },
}

/// A host facility failed: KVM, userfaultfd or a host mapping. Its message
/// says which and what to do (e.g. how to give a CI job /dev/kvm).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HostError(Box<dyn std::error::Error + Send + Sync>);

impl From<VmError> for Error {
    fn from(e: VmError) -> Error {
        Error::Host(HostError(Box::new(e)))
    }
}

impl From<crate::memory::MmapError> for Error {
    fn from(e: crate::memory::MmapError) -> Error {
        Error::Host(HostError(Box::new(e)))
    }
}

impl From<UffdError> for Error {
    fn from(e: UffdError) -> Error {
        Error::Host(HostError(Box::new(e)))
    }
}
