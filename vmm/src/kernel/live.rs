//! The views a person watches while a program runs, from the kernel's own
//! model: a `vmstat N` line (procps's columns, plus the page faults) and
//! top's per-process table.

use std::fmt::Write as _;
use std::time::Instant;

use super::process::Pid;
use super::KernelState;
use crate::arch::PAGE_SIZE;

const KIB: u64 = PAGE_SIZE / 1024;

/// What the live views remember between two looks: the last vmstat
/// line's counters (for the next one's rates), when the `--status` line
/// was last printed, and top's row of each process as it ended.
#[derive(Default)]
pub(crate) struct Live {
    vmstat_last: Option<VmstatSample>,
    last_status: Option<Instant>,
    /// In exit order.
    top_exited: Vec<TopRow>,
}

impl Live {
    /// top's rows of the processes that have ended, each as it ended.
    pub(crate) fn top_exited(&self) -> &[TopRow] {
        &self.top_exited
    }
}

/// What one `vmstat` line is made of: the counters at one moment. Pass
/// the last one to [`ProgressProbe::vmstat`](crate::ProgressProbe::vmstat)
/// for the next line's rates.
#[derive(Clone, Copy, Debug)]
struct VmstatSample {
    /// When it was taken.
    at: Instant,
    /// Threads running or runnable.
    running: u64,
    /// Threads blocked on I/O: always 0, faultline's file reads happen
    /// inside the faulting call, never as a wait.
    blocked: u64,
    /// Swap in use, KiB.
    swpd: u64,
    /// Free memory, KiB (MemFree).
    free: u64,
    /// Buffers, KiB: none.
    buff: u64,
    /// The page cache, KiB (Cached).
    cache: u64,
    /// Pages swapped in since the start.
    swap_ins: u64,
    /// Pages swapped out since the start.
    swap_outs: u64,
    /// File pages read into the page cache since the start.
    pages_in: u64,
    /// Bytes written to files since the start.
    bytes_out: u64,
    /// Voluntary and involuntary context switches of every process (its
    /// own and its reaped children's), since the start.
    cs: u64,
    /// Time in the guest, of every process, in nanoseconds.
    utime_ns: u64,
    /// Time in faultline's kernel for them, in nanoseconds.
    stime_ns: u64,
    /// Minor faults of every process.
    minflt: u64,
    /// Major faults of every process.
    majflt: u64,
}

/// procps vmstat's two header lines, with faultline's fault columns after
/// the cpu group: `flt` all page faults and `majflt` the major ones, per
/// second.
pub(crate) const VMSTAT_HEADER: &str =
    "procs -----------memory---------- ---swap-- -----io---- -system-- ------cpu----- ----faults---\n \
     r  b   swpd   free   buff  cache   si   so    bi    bo   in   cs us sy id wa st    flt majflt\n";

/// CPUs the guest's threads share (the host's, as sched_getaffinity says).
fn cpus() -> u64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(64) as u64
}

impl KernelState {
    fn vmstat_sample(&self) -> VmstatSample {
        let info = self.mem_info();
        let mut s = VmstatSample {
            at: Instant::now(),
            running: self.tasks.threads().filter(|t| !t.exited && !t.sleeping).count() as u64,
            blocked: 0,
            swpd: self.phys.swap.used() as u64 * KIB,
            free: info.mem_free,
            buff: 0,
            cache: info.cached,
            swap_ins: self.phys.counters.swap_ins,
            swap_outs: self.phys.counters.swap_outs,
            pages_in: self.files.io().pages_in,
            bytes_out: self.files.io().bytes_out,
            cs: 0,
            utime_ns: 0,
            stime_ns: 0,
            minflt: 0,
            majflt: 0,
        };
        for p in self.tasks.procs() {
            for r in [&p.rusage, &p.children_rusage] {
                s.cs += r.nvcsw + r.nivcsw;
                s.utime_ns += r.utime_ns;
                s.stime_ns += r.stime_ns;
                s.minflt += r.minflt;
                s.majflt += r.majflt;
            }
        }
        s
    }

    /// The vmstat line since `since`, or since the start (vmstat's first
    /// line, since boot) without one.
    fn vmstat_line(&self, since: Option<&VmstatSample>) -> (VmstatSample, String) {
        let now = self.vmstat_sample();
        let zero = VmstatSample {
            at: self.booted,
            swap_ins: 0,
            swap_outs: 0,
            pages_in: 0,
            bytes_out: 0,
            cs: 0,
            utime_ns: 0,
            stime_ns: 0,
            minflt: 0,
            majflt: 0,
            ..now
        };
        let line = vmstat_line(since.unwrap_or(&zero), &now, cpus());
        (now, line)
    }

    /// The next line of `vmstat N`: the header and the line since the
    /// start at the first call, then the line since the call before.
    pub(crate) fn vmstat_next(&mut self) -> String {
        let last = self.live.vmstat_last;
        let (now, line) = self.vmstat_line(last.as_ref());
        self.live.vmstat_last = Some(now);
        match last {
            None => format!("{VMSTAT_HEADER}{line}"),
            Some(_) => line,
        }
    }

    /// Process `pid` has ended: top's row of it, as it was.
    pub(super) fn top_exit(&mut self, pid: Pid) {
        let top = TopRow { state: 'Z', ..self.top_row(pid) };
        self.live.top_exited.push(top);
    }

    /// `--status`: a line on memory after reclaim, at most once a second.
    pub(crate) fn reclaim_status(&mut self) {
        let Some(out) = self.cfg.status.clone() else { return };
        let now = Instant::now();
        if self.live.last_status.is_some_and(|t| now.duration_since(t).as_secs_f64() < 1.0) {
            return;
        }
        self.live.last_status = Some(now);
        let c = self.phys.counters;
        let i = self.mem_info();
        // The biggest process, by what /proc/PID/status would say.
        let top = self
            .tasks
            .procs()
            .filter(|p| p.state == super::process::ProcState::Running)
            .map(|p| (self.mem_status(p.pid), p.pid, p.comm.clone()))
            .max_by_key(|(s, pid, _)| (s.vm_rss + s.vm_swap, std::cmp::Reverse(*pid)));
        let top = top.map_or(String::new(), |(s, pid, comm)| {
            format!("; {}[{pid}] VmRSS {} kB, VmSwap {} kB", crate::text::tame(&comm), s.vm_rss, s.vm_swap)
        });
        let line = format!(
            "faultline: reclaim: evicted {} pages so far ({} to swap), {} swapped in; MemTotal {} kB, MemFree {} kB, \
             SwapTotal {} kB, SwapFree {} kB, Mlocked {} kB{top}\n",
            c.evictions, c.swap_outs, c.swap_ins, i.mem_total, i.mem_free, i.swap_total, i.swap_free, i.mlocked,
        );
        let _ = out.write_all(line.as_bytes());
    }

    /// top's rows for the processes alive now.
    pub(crate) fn top_live(&self) -> Vec<TopRow> {
        self.tasks.procs().filter(|p| !p.is_zombie()).map(|p| self.top_row(p.pid)).collect()
    }

    /// top's row for `pid`, as it is now.
    fn top_row(&self, pid: Pid) -> TopRow {
        let Some(p) = self.tasks.proc(pid) else { return TopRow::default() };
        let status = self.mem_status(pid);
        let cpu_ns = p.rusage.utime_ns + p.rusage.stime_ns;
        let life = p.started.elapsed().as_nanos().max(1) as f64;
        let total = self.mem_info().mem_total.max(1);
        TopRow {
            pid,
            uid: p.cred.uid,
            virt: status.vm_size,
            res: status.vm_rss,
            shr: status.rss_file + status.rss_shmem,
            state: super::procfs::state_of(self, p),
            cpu: cpu_ns as f64 * 100.0 / life,
            mem: status.vm_rss as f64 * 100.0 / total as f64,
            time_cs: cpu_ns / 10_000_000,
            comm: crate::text::tame(&p.comm),
        }
    }
}

/// One process in top's table. Sizes in KiB.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TopRow {
    pid: Pid,
    uid: u32,
    virt: u64,
    res: u64,
    shr: u64,
    state: char,
    /// CPU time over the process's life so far, in percent of one CPU
    /// (top shows it over its refresh interval; a table printed once has
    /// only the life).
    cpu: f64,
    mem: f64,
    /// TIME+, in hundredths of a second.
    time_cs: u64,
    comm: String,
}

/// top's header line.
pub(crate) const TOP_HEADER: &str = "    PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND\n";

/// top's table: the header and one line per row, in pid order.
pub(crate) fn top_table(rows: &[TopRow]) -> String {
    let mut rows: Vec<&TopRow> = rows.iter().collect();
    rows.sort_by_key(|r| r.pid);
    let mut out = String::from(TOP_HEADER);
    for r in rows {
        let t = r.time_cs;
        let _ = writeln!(
            out,
            "{:>7} {:<8} {:>3} {:>3} {:>7} {:>6} {:>6} {} {:>5.1} {:>5.1} {:>9} {}",
            r.pid,
            r.uid,
            20,
            0,
            r.virt,
            r.res,
            r.shr,
            r.state,
            r.cpu,
            r.mem,
            format!("{}:{:02}.{:02}", t / 6000, t / 100 % 60, t % 100),
            r.comm
        );
    }
    out
}

/// A vmstat line from two samples: memory as it is now, rates (KiB or
/// events per second) and CPU shares over the interval between them.
fn vmstat_line(a: &VmstatSample, b: &VmstatSample, cpus: u64) -> String {
    let secs = b.at.saturating_duration_since(a.at).as_secs_f64().max(1e-3);
    let rate = |x: u64, y: u64| ((y.saturating_sub(x)) as f64 / secs).round() as u64;
    let span = secs * 1e9 * cpus.max(1) as f64;
    let share = |x: u64, y: u64| ((y.saturating_sub(x)) as f64 * 100.0 / span).round().min(100.0) as u64;
    let us = share(a.utime_ns, b.utime_ns);
    let sy = share(a.stime_ns, b.stime_ns).min(100 - us);
    format!(
        "{:>2} {:>2} {:>6} {:>6} {:>6} {:>6} {:>4} {:>4} {:>5} {:>5} {:>4} {:>4} {:>2} {:>2} {:>2} {:>2} {:>2} {:>6} {:>6}\n",
        b.running,
        b.blocked,
        b.swpd,
        b.free,
        b.buff,
        b.cache,
        rate(a.swap_ins, b.swap_ins) * KIB,
        rate(a.swap_outs, b.swap_outs) * KIB,
        rate(a.pages_in, b.pages_in) * KIB,
        rate(a.bytes_out / 1024, b.bytes_out / 1024),
        0,
        rate(a.cs, b.cs),
        us,
        sy,
        100 - us - sy,
        0,
        0,
        rate(a.minflt + a.majflt, b.minflt + b.majflt),
        rate(a.majflt, b.majflt),
    )
}
