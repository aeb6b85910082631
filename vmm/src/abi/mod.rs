//! The Linux system-call ABI, as far as faultline plays the kernel. One file
//! per family; `dispatch` routes by number.

pub mod errno;
pub mod exec;
mod io;
mod process;
mod task;
mod time;

pub use task::{Output, Task};

use errno::ENOSYS;

/// What the vCPU loop does after a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Return this value in RAX (negative: -errno).
    Return(i64),
    /// The program exited with this status.
    Exit(i32),
}

/// Syscall numbers (x86-64).
pub mod nr {
    pub const WRITE: u64 = 1;
    pub const CLOCK_GETTIME: u64 = 228;
    pub const EXIT: u64 = 60;
    pub const EXIT_GROUP: u64 = 231;
}

/// Runs syscall `nr` with `args` (RDI, RSI, RDX, R10, R8, R9).
pub fn dispatch(task: &mut Task, nr: u64, args: [u64; 6]) -> Action {
    let r = match nr {
        nr::WRITE => io::write(task, args[0], args[1], args[2]),
        nr::CLOCK_GETTIME => time::clock_gettime(task, args[0], args[1]),
        nr::EXIT | nr::EXIT_GROUP => return process::exit(args[0]),
        _ => {
            task.report_unsupported(nr);
            Err(ENOSYS)
        }
    };
    Action::Return(match r {
        Ok(v) => v,
        Err(e) => -(e.0 as i64),
    })
}
