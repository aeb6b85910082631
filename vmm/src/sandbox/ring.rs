//! The syscall ring's server: one host thread that runs the calls vCPUs
//! publish in their mailboxes, so a syscall costs a shared-memory round
//! trip instead of a VM exit. It spins while calls keep coming and sleeps
//! after a short idle, as the fault handler does; a sleeping server is
//! woken by the doorbell, an ioeventfd KVM signals without an exit.
//!
//! The stub's side is guest/x86_64/ring.S, the mailbox's contract
//! `arch::ring`, and which calls the server runs `kernel::syscalls::Ring`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use vmm_sys_util::eventfd::EventFd;

use crate::arch::ring::{self as abi, MailboxRef};
use crate::arch::PAGE_SIZE;
use crate::fault::spin::{SpinGate, Spinning};
use crate::kernel::{Kernel, Tid};
use crate::memory::HostMapping;

/// How long the server spins without a call before it sleeps.
pub const SPIN: Duration = Duration::from_micros(500);
/// Keeps the sleeping server off the CPU its vCPU runs on, while one vCPU
/// uses the ring. Woken from a vCPU's CPU (the doorbell, a nudge), the
/// server was seen queued on that same CPU for milliseconds while the
/// other CPU idled: the vCPU thread, spinning in the stub inside the guest,
/// is not preempted for it, and every call in the meantime was withdrawn
/// and went by exit. With several vCPUs (processes passing a pipe back
/// and forth) there is no one CPU to avoid, and avoiding the last one's
/// pinned the server behind the other's stub: then it may run anywhere.
struct Avoid {
    /// The CPUs the server may run on, as it started.
    allowed: Option<libc::cpu_set_t>,
    avoiding: usize,
}

impl Avoid {
    fn new() -> Self {
        Avoid { allowed: crate::hv::current_affinity().ok(), avoiding: usize::MAX }
    }

    /// Runs the server anywhere it could but on `cpu`, unless that is all
    /// it could run on; anywhere it could with `None`. One affinity change
    /// per move of the vCPU.
    fn cpu(&mut self, cpu: Option<usize>) {
        let Some(allowed) = self.allowed else { return };
        let cpu = cpu.filter(|&c| c < libc::CPU_SETSIZE as usize).unwrap_or(usize::MAX);
        if cpu == self.avoiding {
            return;
        }
        let mut set = allowed;
        if cpu != usize::MAX {
            // SAFETY: cpu is below CPU_SETSIZE.
            unsafe { libc::CPU_CLR(cpu, &mut set) };
            // SAFETY: CPU_COUNT only reads `set`, a local of ours.
            if unsafe { libc::CPU_COUNT(&set) } == 0 {
                return;
            }
        }
        if crate::hv::set_affinity(&set).is_ok() {
            self.avoiding = cpu;
        }
    }
}

/// Which vCPUs have a thread whose calls the server runs.
#[derive(Default)]
struct Slots {
    list: Vec<(u32, Tid)>,
    /// Whether the server sleeps: a mailbox attached meanwhile must say so.
    asleep: bool,
}

/// What the server really did with one vCPU's mailbox, in host memory the
/// guest cannot reach: the VMM believes the mailbox's state (a guest page,
/// which its own thread may write under PVM) only where this agrees.
#[derive(Default)]
struct Record {
    /// Set before the server tries to take a call (REQ to TAKEN), cleared
    /// once its answer is in the mailbox: a TAKEN seen while this is clear
    /// was written by the guest.
    busy: AtomicBool,
    /// The answer the server last wrote (DONE, DELIVER, EXIT), stored
    /// before the mailbox's state; IDLE once the VMM has acted on it.
    answer: AtomicU64,
}

/// What the VMM makes of a mailbox's TAKEN (see [`RingServer::taken`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// The server runs the call: its answer comes soon (it runs only
    /// calls that never sleep).
    Running,
    /// The server has ended (a panic in a call): no answer will come.
    Gone,
    /// The server took no call: the guest wrote TAKEN itself.
    Forged,
    /// The server answered meanwhile: look at the state again.
    Answered,
}

/// What the server did, for `Outcome::ring_calls`.
#[derive(Default)]
pub struct RingStats {
    /// Calls it ran (answered DONE or DELIVER).
    pub served: AtomicU64,
    /// Calls their stubs took back and sent by exit instead: it had not
    /// taken them in time, or it slept and they were of the kind it runs
    /// only sometimes (pipe I/O).
    pub withdrawn: AtomicU64,
}

pub struct RingServer {
    mem: Arc<HostMapping>,
    slots: Mutex<Slots>,
    generation: AtomicU64,
    doorbell: EventFd,
    stop: AtomicBool,
    /// False once the server has ended: a vCPU waiting for a call it took
    /// must not wait on.
    pub alive: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
    pub stats: RingStats,
    /// Whether the server sleeps (as `Slots::asleep`, readable without
    /// the lock).
    sleeping: AtomicBool,
    /// Per vCPU, what the server did with its mailbox.
    records: Box<[Record]>,
    /// The host CPU a vCPU last left the guest on (usize::MAX: none yet).
    vcpu_cpu: AtomicUsize,
    /// Shared with the fault handler: the server spins only when a CPU is
    /// free for it (`fault::spin`). Otherwise it sleeps between calls and
    /// the stub rings the doorbell (~12 µs instead of ~1.5 µs, still well
    /// under an exit): several sandboxes side by side (a test suite) each
    /// spinning starved each other to timeouts.
    gate: Arc<SpinGate>,
}

impl RingServer {
    /// Starts the server for the mailboxes in the ring slot `mem`, woken
    /// by `doorbell`.
    pub fn start(
        kernel: Arc<Kernel>,
        mem: Arc<HostMapping>,
        doorbell: EventFd,
        gate: Arc<SpinGate>,
    ) -> std::io::Result<Arc<Self>> {
        let server = Arc::new(RingServer {
            mem,
            slots: Mutex::new(Slots::default()),
            generation: AtomicU64::new(0),
            doorbell,
            stop: AtomicBool::new(false),
            alive: AtomicBool::new(true),
            thread: Mutex::new(None),
            stats: RingStats::default(),
            sleeping: AtomicBool::new(false),
            records: (0..crate::arch::layout::MAX_VCPUS).map(|_| Record::default()).collect(),
            vcpu_cpu: AtomicUsize::new(usize::MAX),
            gate,
        });
        let s = server.clone();
        let handle = std::thread::Builder::new().name("syscall-ring".into()).spawn(move || {
            // A bug that panics the server ends the run, as one on a vCPU
            // thread does; every vCPU is kicked out of the stub by the stop.
            let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| s.serve(&kernel)));
            if served.is_err() {
                kernel.stop_all(crate::kernel::Stop::Failure("the syscall ring's server panicked".into()));
            }
            s.alive.store(false, Ordering::Release);
        })?;
        *server.thread.lock() = Some(handle);
        Ok(server)
    }

    fn mailbox(&self, cpu: u32) -> Option<MailboxRef<'_>> {
        MailboxRef::new(self.mem.atomic_u64s(abi::mailbox_offset(cpu), (PAGE_SIZE / 8) as usize)?)
    }

    fn record(&self, cpu: u32) -> Option<&Record> {
        self.records.get(cpu as usize)
    }

    /// What a TAKEN in vCPU `cpu`'s mailbox means. The caller read TAKEN
    /// from the mailbox (Acquire) just before: the server marks itself busy
    /// before it takes a call, so a real TAKEN is never seen with the mark
    /// clear, and it clears the mark only after its answer replaced TAKEN.
    pub fn taken(&self, cpu: u32, mb: &MailboxRef<'_>) -> Taken {
        let Some(rec) = self.record(cpu) else { return Taken::Forged };
        if rec.busy.load(Ordering::Acquire) {
            return if self.alive.load(Ordering::Acquire) { Taken::Running } else { Taken::Gone };
        }
        if mb.state.load(Ordering::Acquire) == abi::TAKEN {
            Taken::Forged
        } else {
            Taken::Answered
        }
    }

    /// Whether the server wrote answer `state` (DONE, DELIVER, EXIT) to vCPU
    /// `cpu`'s mailbox and nobody acted on it yet; if so, the VMM now does.
    /// A replay of an answer the stub already returned with passes: it
    /// gives the thread nothing the stub would not.
    pub fn take_answer(&self, cpu: u32, state: u64) -> bool {
        self.record(cpu)
            .is_some_and(|r| r.answer.compare_exchange(state, abi::IDLE, Ordering::AcqRel, Ordering::Acquire).is_ok())
    }

    /// The VMM acted on vCPU `cpu`'s mailbox (ran its call, withdrew it).
    pub fn forget_answer(&self, cpu: u32) {
        if let Some(r) = self.record(cpu) {
            r.answer.store(abi::IDLE, Ordering::Release);
        }
    }

    /// Serves thread `tid`'s calls from vCPU `cpu`'s mailbox.
    pub fn attach(&self, cpu: u32, tid: Tid) {
        let mut slots = self.slots.lock();
        self.forget_answer(cpu);
        if let Some(mb) = self.mailbox(cpu) {
            mb.state.store(abi::IDLE, Ordering::Release);
            mb.awake.store(u64::from(!slots.asleep), Ordering::Release);
        }
        slots.list.retain(|&(c, _)| c != cpu);
        slots.list.push((cpu, tid));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Stops serving vCPU `cpu` (its thread ended), once a call the server
    /// may be running for it is answered: the mailbox passes to the vCPU's
    /// next thread clean. The wait is for one call that never sleeps, and
    /// bounded all the same.
    pub fn detach(&self, cpu: u32) {
        {
            let mut slots = self.slots.lock();
            slots.list.retain(|&(c, _)| c != cpu);
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        let until = Instant::now() + Duration::from_secs(1);
        while self.record(cpu).is_some_and(|r| r.busy.load(Ordering::Acquire))
            && self.alive.load(Ordering::Acquire)
            && Instant::now() < until
        {
            std::thread::yield_now();
        }
        self.forget_answer(cpu);
    }

    /// Wakes the server (a doorbell KVM handed to the VMM).
    pub fn wake(&self) {
        let _ = self.doorbell.write(1);
    }

    /// Notes the host CPU a vCPU thread runs on (see [`Avoid`]).
    pub fn note_vcpu_cpu(&self) {
        if let Some(cpu) = crate::hv::current_cpu() {
            self.vcpu_cpu.store(cpu, Ordering::Relaxed);
        }
    }

    /// Wakes the server if it sleeps, as a vCPU goes back to the program
    /// after a call the VMM ran (one that slept, often): the program's
    /// next call is likely near, and the server's wake-up (~20-40 µs here)
    /// then overlaps the vCPU's way back instead of that call's wait.
    pub fn nudge(&self) {
        if self.sleeping.load(Ordering::Acquire) {
            self.wake();
        }
    }

    /// Stops the server and waits for it.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
        if let Some(h) = self.thread.lock().take() {
            let _ = h.join();
        }
    }

    fn serve(&self, kernel: &Kernel) {
        let mut avoid = Avoid::new();
        let mut seen = u64::MAX;
        let mut list: Vec<(u32, Tid)> = Vec::new();
        let mut last = Instant::now();
        let mut place: Option<Spinning<'_>> = None;
        while !self.stop.load(Ordering::Acquire) {
            if self.generation.load(Ordering::Acquire) != seen {
                (list, seen) = self.snapshot();
            }
            if self.serve_once(kernel, &list, seen) {
                last = Instant::now();
                if place.as_ref().is_some_and(|p| !p.keep()) {
                    place = None;
                }
                continue;
            }
            if last.elapsed() < SPIN {
                if place.is_none() {
                    place = self.gate.enter();
                }
                if place.as_ref().is_some_and(|p| p.keep()) {
                    std::hint::spin_loop();
                    continue;
                }
            }
            place = None;
            self.sleep(kernel, &mut avoid);
            last = Instant::now();
        }
    }

    /// The vCPUs served and their threads, with the generation they are of
    /// (attach and detach change both under the lock).
    fn snapshot(&self) -> (Vec<(u32, Tid)>, u64) {
        let slots = self.slots.lock();
        (slots.list.clone(), self.generation.load(Ordering::Acquire))
    }

    /// Runs every published call once; true if there was one, or if the
    /// list (of generation `seen`) went stale meanwhile.
    fn serve_once(&self, kernel: &Kernel, list: &[(u32, Tid)], seen: u64) -> bool {
        let mut any = false;
        for &(cpu, tid) in list {
            let Some(mb) = self.mailbox(cpu) else { continue };
            if mb.state.load(Ordering::Acquire) != abi::REQ {
                continue;
            }
            // A vCPU given another thread since the list was taken: its
            // call is the new thread's, and served as the old one's it
            // came back EINTR (the old thread gone). The attach counted
            // before that thread could call, so the count tells.
            if self.generation.load(Ordering::Acquire) != seen {
                return true;
            }
            if crate::inject::hit(crate::inject::Point::RingStall).is_some() {
                // As if this thread got no CPU for a while: the stub must
                // not wait for it.
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            let Some(rec) = self.record(cpu) else { continue };
            // Busy before TAKEN can be seen (the transition's Release
            // orders it), and until the answer has replaced TAKEN.
            rec.busy.store(true, Ordering::Relaxed);
            if !mb.transition(abi::REQ, abi::TAKEN) {
                rec.busy.store(false, Ordering::Release);
                continue;
            }
            let call = mb.snapshot();
            if crate::inject::hit(crate::inject::Point::RingPanic).is_some() {
                panic!("{}", crate::inject::panic_message(crate::inject::Point::RingPanic));
            }
            let (answer, ret) = kernel.ring_call(tid, &call);
            if answer != abi::EXIT {
                self.stats.served.fetch_add(1, Ordering::Relaxed);
            }
            // The record first: whoever sees the answer sees it recorded.
            rec.answer.store(answer, Ordering::Release);
            mb.answer(ret, answer);
            rec.busy.store(false, Ordering::Release);
            any = true;
        }
        any
    }

    /// Tells every stub to ring, looks once more (a call published before
    /// a stub saw the change would otherwise wait for nobody), then sleeps
    /// until the doorbell rings.
    fn sleep(&self, kernel: &Kernel, avoid: &mut Avoid) {
        let (list, seen) = {
            let mut slots = self.slots.lock();
            slots.asleep = true;
            self.sleeping.store(true, Ordering::Release);
            for &(cpu, _) in &slots.list {
                if let Some(mb) = self.mailbox(cpu) {
                    mb.awake.store(0, Ordering::SeqCst);
                }
            }
            (slots.list.clone(), self.generation.load(Ordering::Acquire))
        };
        std::sync::atomic::fence(Ordering::SeqCst);
        if !self.serve_once(kernel, &list, seen) {
            let mut pfd =
                libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&self.doorbell), events: libc::POLLIN, revents: 0 };
            while !self.stop.load(Ordering::Acquire) {
                avoid.cpu(Some(self.vcpu_cpu.load(Ordering::Relaxed)).filter(|_| list.len() == 1));
                // SAFETY: one valid pollfd.
                let n = unsafe { libc::poll(&mut pfd, 1, 100) };
                if n > 0 {
                    break;
                }
                // A call published to a mailbox attached while asleep, or
                // a doorbell lost: look now and then.
                let (list, seen) = self.snapshot();
                if self.serve_once(kernel, &list, seen) {
                    break;
                }
            }
            let _ = self.doorbell.read();
        }
        let mut slots = self.slots.lock();
        slots.asleep = false;
        self.sleeping.store(false, Ordering::Release);
        for &(cpu, _) in &slots.list {
            if let Some(mb) = self.mailbox(cpu) {
                mb.awake.store(1, Ordering::SeqCst);
            }
        }
    }
}
