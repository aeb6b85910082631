//! The OOM killer: when memory runs out and reclaim cannot free any, score
//! every process as Linux's oom_badness does (resident pages, swap entries
//! and page-table pages, adjusted by oom_score_adj) and kill the worst. The
//! others go on once its memory is freed.

use std::time::Instant;

use super::super::process::{ExitStatus, Pid, Tid};
use super::super::signal::SIGKILL;
use super::super::KernelState;
use crate::timeline::{Access, Event, EventKind, Origin};

/// oom_score_adj's bounds; -1000 makes a process unkillable.
pub(crate) const OOM_SCORE_ADJ_MIN: i32 = -1000;
pub(crate) const OOM_SCORE_ADJ_MAX: i32 = 1000;

impl KernelState {
    /// Pages the OOM killer weighs against: RAM plus swap.
    fn oom_total_pages(&self) -> u64 {
        self.phys.budget.resident_pages + self.phys.budget.swap_pages
    }

    /// oom_badness(): `None` for a process that may not be killed.
    fn oom_badness(&self, pid: Pid) -> Option<i64> {
        let p = self.tasks.proc(pid)?;
        if p.is_zombie() || p.oom_score_adj == OOM_SCORE_ADJ_MIN || p.group_exit.is_some() {
            return None;
        }
        let mm = self.mm.get(p.mm)?;
        let c = self.phys.mm_counters(p.mm);
        let points = (c.rss() + c.swap + mm.table_pages()) as i64;
        // `adj *= totalpages / 1000`: the division first, as Linux rounds.
        let adj = p.oom_score_adj as i64 * (self.oom_total_pages() / 1000) as i64;
        Some(points + adj)
    }

    /// /proc/PID/oom_score, as proc_oom_score: (1000 + badness × 1000 /
    /// total pages) × 2 / 3, and 0 for a process the killer may not pick.
    pub(crate) fn oom_score(&self, pid: Pid) -> i64 {
        let total = self.oom_total_pages().max(1) as i64;
        match self.oom_badness(pid) {
            Some(b) => ((1000 + b * 1000 / total) * 2 / 3).max(0),
            None => 0,
        }
    }

    /// Memory ran out while `pid` (thread `tid`) needed page `va`: kill the
    /// process with the highest badness, unless one is still dying.
    pub(crate) fn out_of_memory(&mut self, pid: Pid, tid: Tid, va: u64, at: Instant) {
        if let Some(v) = self.mm.oom_dying {
            if self.tasks.proc(v).is_some_and(|p| !p.is_zombie()) {
                return;
            }
            self.mm.oom_dying = None;
        }
        let victim = self
            .tasks
            .procs()
            .filter_map(|p| self.oom_badness(p.pid).map(|b| (b, p.pid)))
            .max_by_key(|&(b, p)| (b, std::cmp::Reverse(p)))
            .map(|(_, p)| p)
            .unwrap_or(pid);
        let Some(v) = self.tasks.proc(victim) else { return };
        let c = self.phys.mm_counters(v.mm);
        let space = self.mm.space(v.mm);
        let line = format!(
            "Out of memory: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:{}kB, shmem-rss:{}kB, \
             UID:{} pgtables:{}kB oom_score_adj:{}",
            victim,
            crate::text::tame(&v.comm),
            space.vmas.total() / 1024,
            c.anon * 4,
            c.file * 4,
            c.shmem * 4,
            v.cred.uid,
            space.table_pages() * 4,
            v.oom_score_adj
        );
        let region = space.region_of(va).unwrap_or(crate::timeline::RegionId(0));
        let mm = v.mm;
        self.diag(&line);
        self.report.add_report(line);
        let e = Event { pid: victim, tid, ..Event::new(EventKind::OomKill, Access::None, Origin::Vmm, region, va, 0) };
        self.record(e, at);
        self.mm.oom_kills += 1;
        self.mm.oom_dying = Some(victim);
        // Every process sharing the victim's memory goes with it.
        let sharers: Vec<Pid> = self.tasks.procs().filter(|p| p.mm == mm && !p.is_zombie()).map(|p| p.pid).collect();
        for p in sharers {
            if let Some(pp) = self.tasks.proc_mut(p) {
                pp.oom_killed = true;
            }
            self.kill_process(p, ExitStatus::Killed(SIGKILL));
        }
    }
}
