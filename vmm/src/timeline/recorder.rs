//! The recorder: numbers and times each event, hands it to the sinks as it
//! happens (a CSV file, a list kept for tests, …), and keeps the per-region
//! counts the summary needs, so nothing grows with the length of a run
//! unless a sink chooses to keep events.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::summary::RegionCounts;
use super::{Event, Frame, Origin, RegionId, RegionKind, RegionTable};

/// Most distinct stacks a run numbers; later new ones go unnumbered (their
/// rows' `stack` column is empty), so a run's memory stays bounded.
pub const MAX_STACKS: usize = 1 << 20;

/// Where events go as they happen.
pub trait EventSink: Send {
    /// Takes one event; `regions` names its region. An error is kept and
    /// reported when the run ends; recording goes on.
    fn event(&mut self, e: &Event, regions: &RegionTable) -> io::Result<()>;
    /// Everything written so far reaches its destination.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Keeps every event in memory (tests, and library users who ask).
#[derive(Clone, Default)]
pub struct KeepEvents(pub Arc<Mutex<Vec<Event>>>);

impl EventSink for KeepEvents {
    fn event(&mut self, e: &Event, _: &RegionTable) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(e.clone());
        Ok(())
    }
}

impl KeepEvents {
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Calls a function for each event.
pub struct EachEvent<F: FnMut(&Event, &RegionTable) + Send>(pub F);

impl<F: FnMut(&Event, &RegionTable) + Send> EventSink for EachEvent<F> {
    fn event(&mut self, e: &Event, regions: &RegionTable) -> io::Result<()> {
        (self.0)(e, regions);
        Ok(())
    }
}

pub struct Recorder {
    start: Instant,
    seq: u64,
    /// The last row's time: no row is timed before the row before it.
    last_ns: u64,
    regions: RegionTable,
    sinks: Vec<Box<dyn EventSink>>,
    counts: HashMap<(u32, RegionId), RegionCounts>,
    /// Pages the VMM backed for each process.
    vmm_pages: HashMap<u32, u64>,
    /// The first error a sink gave; recording goes on without it.
    error: Option<io::Error>,
    /// Each distinct stack's number.
    stacks: HashMap<Arc<[Frame]>, u64>,
}

impl Recorder {
    pub fn new(sinks: Vec<Box<dyn EventSink>>) -> Self {
        Recorder {
            start: Instant::now(),
            seq: 0,
            last_ns: 0,
            regions: RegionTable::default(),
            sinks,
            counts: HashMap::new(),
            vmm_pages: HashMap::new(),
            error: None,
            stacks: HashMap::new(),
        }
    }

    /// Restarts the clock that timeline times count from (the program's
    /// exec).
    pub fn set_start(&mut self, t: Instant) {
        self.start = t;
        // Rows are timed from the new start; none may be held back to a
        // time measured from the old one.
        self.last_ns = 0;
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    pub fn region(&mut self, name: &str, kind: RegionKind) -> RegionId {
        self.regions.intern(name, kind)
    }

    pub fn regions(&self) -> &RegionTable {
        &self.regions
    }

    /// Records `e`, which happened at `at`; fills in its number and time.
    pub fn record(&mut self, mut e: Event, at: Instant) {
        e.seq = self.seq;
        self.seq += 1;
        // A fault arrives at one thread's time and is recorded when the
        // kernel takes it, maybe after another thread's later event: the
        // rows stay in time order, each timed no earlier than the one
        // before (its latency still says how long it waited).
        let t = at.saturating_duration_since(self.start).as_nanos() as u64;
        e.time_ns = t.max(self.last_ns);
        self.last_ns = e.time_ns;
        if let Some(st) = &mut e.stack {
            let next = self.stacks.len() as u64 + 1;
            st.id = match self.stacks.get(&st.frames) {
                Some(&id) => id,
                None if self.stacks.len() < MAX_STACKS => {
                    self.stacks.insert(st.frames.clone(), next);
                    next
                }
                None => 0,
            };
        }
        // A process's life is no region's.
        if !e.kind.is_lifecycle() {
            self.counts.entry((e.pid, e.region)).or_default().add(&e);
        }
        if e.origin == Origin::Vmm && e.kind.is_fault() {
            *self.vmm_pages.entry(e.pid).or_default() += 1;
        }
        for s in &mut self.sinks {
            if let Err(err) = s.event(&e, &self.regions) {
                self.error.get_or_insert(err);
            }
        }
    }

    /// faultline held the thread of a guest fault in `region` of process
    /// `pid` for `ns`.
    pub fn add_held(&mut self, pid: u32, region: RegionId, ns: u64) {
        self.counts.entry((pid, region)).or_default().held.add(ns);
    }

    /// Events recorded so far.
    pub fn events(&self) -> u64 {
        self.seq
    }

    pub fn counts(&self) -> &HashMap<(u32, RegionId), RegionCounts> {
        &self.counts
    }

    pub fn vmm_pages(&self, pid: u32) -> u64 {
        self.vmm_pages.get(&pid).copied().unwrap_or(0)
    }

    /// Flushes every sink; the first error any sink gave, if one did.
    pub fn flush(&mut self) -> io::Result<()> {
        for s in &mut self.sinks {
            if let Err(err) = s.flush() {
                self.error.get_or_insert(err);
            }
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Flushes and lets go of every sink: the run is over, so a streamed
    /// timeline ends here even while someone still holds the sandbox's
    /// kernel (a progress probe).
    pub fn finish(&mut self) -> io::Result<()> {
        let flushed = self.flush();
        self.sinks.clear();
        flushed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::{Access, EventKind, Origin, RegionId};
    use std::time::Duration;

    fn row() -> Event {
        Event::new(EventKind::ZeroFill, Access::Write, Origin::Guest, RegionId(0), 0x1000, 0x1000)
    }

    #[test]
    fn rows_stay_in_time_order_when_an_earlier_fault_is_recorded_later() {
        let kept = KeepEvents::default();
        let mut r = Recorder::new(vec![Box::new(kept.clone())]);
        let t0 = r.start();
        r.record(row(), t0 + Duration::from_micros(500));
        r.record(row(), t0 + Duration::from_micros(254));
        r.record(row(), t0 + Duration::from_micros(900));
        let times: Vec<(u64, u64)> = kept.take().iter().map(|e| (e.seq, e.time_ns)).collect();
        assert_eq!(times, [(0, 500_000), (1, 500_000), (2, 900_000)]);
    }
}
