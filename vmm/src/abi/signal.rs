//! Signal bookkeeping. faultline delivers no signals (a fault ends the
//! program, as an unhandled one would), but libc registers handlers, masks
//! and alternate stacks at start-up, and reads them back.

use super::errno::*;
use super::Task;

const SIGKILL: u64 = 9;
const SIGSTOP: u64 = 19;
const NSIG: u64 = 64;
const SIG_BLOCK: u64 = 0;
const SIG_UNBLOCK: u64 = 1;
const SIG_SETMASK: u64 = 2;
const SS_ONSTACK: u32 = 1;
const SS_DISABLE: u32 = 2;
const SS_AUTODISARM: u32 = 1 << 31;
const MINSIGSTKSZ: u64 = 2048;
const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));

/// What happens to a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    Default,
    Ignore,
    /// The program installed a handler (which faultline does not run).
    Handler,
}

pub const SIGPIPE: u64 = 13;

/// Signals whose default action is to do nothing (or to stop or continue,
/// which for faultline's one process comes to the same).
fn default_ignored(sig: u64) -> bool {
    matches!(sig, 17 | 18 | 19 | 20 | 21 | 22 | 23 | 28)
}

#[derive(Clone, Debug)]
pub struct Signals {
    /// struct sigaction as the kernel stores it, per signal.
    actions: Vec<[u8; 32]>,
    mask: u64,
    /// Raised while blocked, delivered when unblocked.
    pending: u64,
    /// sp, flags, size.
    altstack: (u64, u32, u64),
}

impl Default for Signals {
    fn default() -> Self {
        Signals { actions: vec![[0; 32]; NSIG as usize], mask: 0, pending: 0, altstack: (0, SS_DISABLE, 0) }
    }
}

impl Signals {
    pub fn disposition(&self, sig: u64) -> Disposition {
        let Some(act) = self.actions.get((sig as usize).wrapping_sub(1)) else { return Disposition::Default };
        match u64::from_le_bytes(act[..8].try_into().expect("8 bytes")) {
            0 => Disposition::Default,
            1 => Disposition::Ignore,
            _ => Disposition::Handler,
        }
    }

    pub fn blocked(&self, sig: u64) -> bool {
        (1..=NSIG).contains(&sig) && self.mask & (1 << (sig - 1)) != 0
    }

    /// Raises `sig` at the program: if blocked it waits, pending.
    pub fn raise(&mut self, sig: u64) -> bool {
        if self.blocked(sig) && sig != SIGKILL {
            self.pending |= 1 << (sig - 1);
            return false;
        }
        self.terminates(sig)
    }

    /// A pending signal that is no longer blocked, now delivered: Some if
    /// it ends the program. Those it does not end are dropped.
    pub fn deliver_pending(&mut self) -> Option<u64> {
        let ready = self.pending & !self.mask;
        for sig in (1..=NSIG).filter(|s| ready & (1 << (s - 1)) != 0) {
            self.pending &= !(1 << (sig - 1));
            if self.terminates(sig) {
                return Some(sig);
            }
        }
        None
    }

    /// Whether raising `sig` ends the program: its default action is to
    /// terminate, or it has a handler faultline cannot run.
    pub fn terminates(&self, sig: u64) -> bool {
        if sig == SIGKILL {
            return true;
        }
        if self.blocked(sig) {
            return false;
        }
        match self.disposition(sig) {
            Disposition::Ignore => false,
            Disposition::Default => !default_ignored(sig),
            Disposition::Handler => true,
        }
    }
}

pub fn rt_sigaction(task: &mut Task, sig: u64, act: u64, oact: u64, size: u64) -> SysResult {
    if size != 8 || sig == 0 || sig > NSIG {
        return Err(EINVAL);
    }
    if act != 0 && (sig == SIGKILL || sig == SIGSTOP) {
        return Err(EINVAL);
    }
    let new = if act != 0 {
        let mut b = [0u8; 32];
        task.copy_from_user(act, &mut b)?;
        Some(b)
    } else {
        None
    };
    let i = (sig - 1) as usize;
    if oact != 0 {
        let old = task.signals.actions[i];
        task.copy_to_user(oact, &old)?;
    }
    if let Some(b) = new {
        task.signals.actions[i] = b;
    }
    Ok(0)
}

pub fn rt_sigprocmask(task: &mut Task, how: u64, set: u64, oset: u64, size: u64) -> SysResult {
    if size != 8 {
        return Err(EINVAL);
    }
    let old = task.signals.mask;
    if set != 0 {
        let s = task.read_u64(set)?;
        task.signals.mask = match how {
            SIG_BLOCK => old | s,
            SIG_UNBLOCK => old & !s,
            SIG_SETMASK => s,
            _ => return Err(EINVAL),
        } & !UNBLOCKABLE;
    }
    if oset != 0 {
        task.write_u64(oset, old)?;
    }
    Ok(0)
}

pub fn sigaltstack(task: &mut Task, ss: u64, old: u64) -> SysResult {
    let new = if ss != 0 {
        let sp = task.read_u64(ss)?;
        let mut f = [0u8; 4];
        task.copy_from_user(ss + 8, &mut f)?;
        let flags = u32::from_le_bytes(f);
        let size = task.read_u64(ss + 16)?;
        let mode = flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
            return Err(EINVAL);
        }
        if mode == SS_DISABLE {
            Some((0, SS_DISABLE, 0))
        } else if size < MINSIGSTKSZ {
            return Err(ENOMEM);
        } else {
            Some((sp, flags, size))
        }
    } else {
        None
    };
    if old != 0 {
        let (sp, flags, size) = task.signals.altstack;
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&sp.to_le_bytes());
        b[8..12].copy_from_slice(&flags.to_le_bytes());
        b[16..].copy_from_slice(&size.to_le_bytes());
        task.copy_to_user(old, &b)?;
    }
    if let Some(n) = new {
        task.signals.altstack = n;
    }
    Ok(0)
}
