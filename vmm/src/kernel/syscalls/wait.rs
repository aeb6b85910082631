//! Waiting for a child to end, stop or continue: wait4 and waitid
//! (kernel/exit.c's do_wait), reaping an ended one unless WNOWAIT.

use zerocopy::FromZeros;

use super::super::abi::wait::*;
use super::super::errno::*;
use super::super::jobctl::Change;
use super::super::process::{ExitStatus, Pid, ProcState, Rusage};
use super::super::signal::{self, SigInfo, SigInfoRaw};
use super::super::task::Ctx;
use super::rusage::write_rusage;

/// Which children a wait selects.
#[derive(Clone, Copy)]
enum Which {
    Any,
    Pid(Pid),
    Group(Pid),
}

/// What a wait found a child did.
enum Event {
    Ended(ExitStatus),
    Changed(Change),
}

impl Event {
    fn wait_status(&self) -> i32 {
        match self {
            Event::Ended(st) => st.wait_status(),
            Event::Changed(c) => c.wait_status(),
        }
    }

    fn cld(&self) -> (i32, i32) {
        match self {
            Event::Ended(st) => st.cld(),
            Event::Changed(c) => c.cld(),
        }
    }
}

/// A stop (WUNTRACED) or continue (WCONTINUED) of child `c` not yet
/// reported, taken unless `nowait` (wait_task_stopped, wait_task_continued).
fn take_change(ctx: &mut Ctx, c: Pid, options: u64, nowait: bool) -> Option<(Change, Rusage)> {
    let p = ctx.k.tasks.proc_mut(c)?;
    let change = p.jobctl.unreported?;
    let wanted = match change {
        Change::Stopped(_) => options & WUNTRACED != 0 && p.jobctl.stopped.is_some(),
        Change::Continued => options & WCONTINUED != 0,
    };
    if !wanted {
        return None;
    }
    if !nowait {
        p.jobctl.unreported = None;
    }
    let mut r = p.rusage;
    r.add(&p.children_rusage);
    Some((change, r))
}

/// Waits for a child of the caller's process that `which` selects to end
/// (with WEXITED), stop (WUNTRACED) or continue (WCONTINUED); returns it
/// and what it did (an ended one reaped unless WNOWAIT).
fn wait_child(ctx: &mut Ctx, which: Which, options: u64) -> Result<Option<(Pid, Event, Rusage)>, Errno> {
    let (nohang, nowait) = (options & WNOHANG != 0, options & WNOWAIT != 0);
    loop {
        let me = ctx.pid;
        let children: Vec<Pid> = ctx.proc().children.clone();
        let selected: Vec<Pid> = children
            .into_iter()
            .filter(|c| match which {
                Which::Any => true,
                Which::Pid(p) => *c == p,
                Which::Group(g) => ctx.k.tasks.proc(*c).is_some_and(|p| p.pgid == g),
            })
            .collect();
        if selected.is_empty() {
            return Err(ECHILD);
        }
        // wait_consider_task(), child by child: ended, stopped, continued.
        // With none that could still change, ECHILD.
        let mut live = false;
        for &c in &selected {
            let Some(p) = ctx.k.tasks.proc(c) else { continue };
            if let ProcState::Zombie(st) = p.state {
                if options & WEXITED == 0 {
                    continue;
                }
                if nowait {
                    let mut r = p.rusage;
                    r.add(&p.children_rusage);
                    return Ok(Some((c, Event::Ended(st), r)));
                }
                let (st, r) = ctx.k.reap(c).ok_or(ECHILD)?;
                let _ = me;
                return Ok(Some((c, Event::Ended(st), r)));
            }
            live = true;
            if let Some((change, r)) = take_change(ctx, c, options, nowait) {
                return Ok(Some((c, Event::Changed(change), r)));
            }
        }
        if !live {
            return Err(ECHILD);
        }
        if nohang {
            return Ok(None);
        }
        if let Some(w) = ctx.interrupted() {
            return Err(ctx.woken_errno(w));
        }
        let cond = ctx.cond();
        ctx.proc().child_wait.register(&cond);
        ctx.sleep(None);
    }
}

pub(super) fn wait4(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (pid, status, options, ru) = (a[0] as i32, a[1], a[2], a[3]);
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | __WNOTHREAD | __WALL | __WCLONE) != 0 {
        return Err(EINVAL);
    }
    let which = match pid {
        // -INT_MIN is no pid group (kernel_wait4).
        i32::MIN => return Err(ESRCH),
        -1 => Which::Any,
        0 => Which::Group(ctx.proc().pgid),
        p if p < -1 => Which::Group(-p as Pid),
        p => Which::Pid(p as Pid),
    };
    // wait4 always waits for children that end.
    match wait_child(ctx, which, options | WEXITED)? {
        None => Ok(0),
        Some((child, st, r)) => {
            if status != 0 {
                ctx.write_u32(status, st.wait_status() as u32)?;
            }
            if ru != 0 {
                write_rusage(ctx, ru, &r)?;
            }
            Ok(child as i64)
        }
    }
}

pub(super) fn waitid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (idtype, id, infop, options, ru) = (a[0], a[1] as Pid, a[2], a[3], a[4]);
    if options & !(WNOHANG | WUNTRACED | WEXITED | WCONTINUED | WNOWAIT | __WNOTHREAD | __WALL | __WCLONE) != 0
        || options & (WEXITED | WUNTRACED | WCONTINUED) == 0
    {
        return Err(EINVAL);
    }
    let which = match idtype {
        P_ALL => Which::Any,
        P_PID => Which::Pid(id),
        P_PGID => Which::Group(if id == 0 { ctx.proc().pgid } else { id }),
        _ => return Err(EINVAL),
    };
    let got = wait_child(ctx, which, options)?;
    // Nothing to report (WNOHANG): a zeroed siginfo.
    let mut info = SigInfoRaw::new_zeroed();
    if let Some((child, st, r)) = got {
        let (code, status) = st.cld();
        let uid = ctx.proc().cred.uid;
        info =
            SigInfoRaw::from(&SigInfo { signo: signal::SIGCHLD, code, pid: child, uid, status, ..Default::default() });
        if ru != 0 {
            write_rusage(ctx, ru, &r)?;
        }
    }
    if infop != 0 {
        ctx.write_struct(infop, &info)?;
    }
    Ok(0)
}
