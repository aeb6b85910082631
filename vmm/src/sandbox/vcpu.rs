//! Guest threads on vCPUs: one host thread per running guest thread, each
//! with a vCPU from a pool (KVM cannot destroy one vCPU, so they are
//! reused). The loop enters the guest, hands every trap to the kernel, and
//! does what it answers.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use zerocopy::{FromBytes, IntoBytes};

use super::Error;
use crate::arch::layout::{self, SHIM_VA};
use crate::arch::regs::TrapFrame;
use crate::arch::trap::{self, Trap};
use crate::arch::{tables, UserRegs, PAGE_SIZE};
use crate::hv::{Exit, Vcpu, Vm};
use crate::kernel::{Entry, Kernel, Next, Stop, Tid};
use crate::memory::HostMapping;

/// The VM and its vCPUs.
pub struct Machine {
    pub vm: Vm,
    pub sys: Arc<HostMapping>,
    idle: Mutex<Vec<Vcpu>>,
    created: Mutex<u32>,
}

impl Machine {
    pub fn new(vm: Vm, sys: Arc<HostMapping>) -> Self {
        Machine { vm, sys, idle: Mutex::new(Vec::new()), created: Mutex::new(0) }
    }

    /// A vCPU: an idle one, or a new one with its GDT, TSS and exception
    /// stack set up and mapped.
    fn vcpu(&self, kernel: &Kernel) -> Result<Vcpu, Error> {
        if let Some(v) = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(v);
        }
        let mut n = self.created.lock().unwrap_or_else(|p| p.into_inner());
        let id = *n;
        if id >= layout::MAX_VCPUS {
            return Err(Error::Setup(format!("more than {} threads at once", layout::MAX_VCPUS)));
        }
        let area = layout::cpu_area_gpa(id);
        let va = layout::cpu_area_va(id);
        let gdt: Vec<u8> = tables::gdt(va + layout::CPU_TSS_OFFSET).iter().flat_map(|d| d.to_le_bytes()).collect();
        let write = |off: u64, b: &[u8]| self.sys.write(off, b).map_err(|e| Error::Setup(e.to_string()));
        write(area + layout::CPU_GDT_OFFSET, &gdt)?;
        write(area + layout::CPU_TSS_OFFSET, tables::tss(id).as_bytes())?;
        {
            let mut k = kernel.lock();
            let k = &mut *k;
            let pool = &mut k.phys.tables;
            let kt = &mut k.kernel_tables;
            let map = |kt: &mut crate::arch::PageTables, pool: &mut crate::arch::TablePool, off: u64, w: bool| {
                kt.map_kernel(pool, va + off, area + off, w, false).map_err(|e| Error::Setup(e.to_string()))
            };
            map(kt, pool, layout::CPU_GDT_OFFSET, false)?;
            map(kt, pool, layout::CPU_TSS_OFFSET, false)?;
            for i in 0..layout::IST_PAGES {
                map(kt, pool, layout::CPU_IST_OFFSET + i * PAGE_SIZE, true)?;
            }
        }
        let v = self.vm.create_vcpu(id)?;
        *n += 1;
        Ok(v)
    }

    fn put(&self, v: Vcpu) {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(v);
    }

    /// Starts a host thread for every guest thread waiting for a vCPU.
    pub fn spawn_pending(self: &Arc<Self>, kernel: &Arc<Kernel>) -> Result<(), Error> {
        for tid in kernel.take_spawns() {
            let vcpu = match self.vcpu(kernel) {
                Ok(v) => v,
                Err(e) => {
                    kernel.stop_all(Stop::Failure(format!("cannot give thread {tid} a vCPU: {e}")));
                    return Err(e);
                }
            };
            let (k, m) = (kernel.clone(), self.clone());
            std::thread::Builder::new()
                .name(format!("vcpu-{tid}"))
                .spawn(move || run_thread(&k, &m, tid, vcpu))
                .map_err(Error::Thread)?;
        }
        Ok(())
    }

    fn frame(&self, cpu: u32) -> TrapFrame {
        let mut b = [0u8; TrapFrame::LEN];
        let _ = self.sys.read(TrapFrame::slot_offset(cpu), &mut b);
        TrapFrame::read_from_bytes(&b).unwrap_or_default()
    }

    fn set_frame(&self, cpu: u32, f: &TrapFrame) -> bool {
        self.sys.write(TrapFrame::slot_offset(cpu), f.as_bytes()).is_ok()
    }
}

/// The host thread's id (userfaultfd reports faults by it).
fn gettid() -> i32 {
    // SAFETY: no arguments.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

fn enter(vcpu: &Vcpu, e: &Entry) -> Result<(), crate::hv::VmError> {
    vcpu.enter_user(e.cr3, &e.regs.to_kvm(), e.fs_base, e.gs_base, e.fpu.as_deref())
}

/// Runs guest thread `tid` on `vcpu` until it exits.
fn run_thread(kernel: &Arc<Kernel>, machine: &Arc<Machine>, tid: Tid, mut vcpu: Vcpu) {
    let kicker = vcpu.kicker();
    vcpu.clear_kick();
    if let Some(entry) = kernel.begin_thread(tid, kicker, gettid()) {
        match enter(&vcpu, &entry) {
            Ok(()) => guest_loop(kernel, machine, tid, &mut vcpu),
            Err(e) => kernel.stop_all(Stop::Failure(format!("cannot start thread {tid}: {e}"))),
        }
    }
    kernel.end_thread(tid);
    vcpu.clear_kick();
    machine.put(vcpu);
}

fn guest_loop(kernel: &Arc<Kernel>, machine: &Arc<Machine>, tid: Tid, vcpu: &mut Vcpu) {
    let cpu = vcpu.id();
    loop {
        let t0 = Instant::now();
        let exit = vcpu.run();
        let guest = t0.elapsed();
        let fail = |what: String| kernel.stop_all(Stop::Failure(what));
        let next = match exit {
            Ok(Exit::Trap(vector)) => {
                let frame = machine.frame(cpu);
                let Ok(gprs) = vcpu.regs() else { return fail("cannot read vCPU registers".into()) };
                let t = trap::classify(vector, &frame, || vcpu.cr2().unwrap_or(0));
                let mut regs = match t {
                    Trap::Syscall | Trap::CompatSyscall => UserRegs::at_syscall(&gprs, &frame),
                    _ => UserRegs::at_exception(&gprs, &frame),
                };
                let before = regs;
                let next = kernel.on_trap(tid, vcpu, t, &mut regs, guest);
                if let Next::Return { .. } = &next {
                    let is_call = matches!(t, Trap::Syscall | Trap::CompatSyscall);
                    if is_call || regs != before {
                        let mut g = gprs;
                        let f = regs.write_back(&mut g);
                        if !machine.set_frame(cpu, &f) || vcpu.set_regs(&g).is_err() {
                            return fail("cannot write vCPU registers".into());
                        }
                    }
                }
                next
            }
            Ok(Exit::Interrupted) => {
                vcpu.clear_kick();
                let Ok(gprs) = vcpu.regs() else { return fail("cannot read vCPU registers".into()) };
                if gprs.rip >= SHIM_VA {
                    if !layout::stub_after_report(gprs.rip) {
                        // Still on its way to report a trap: that trap comes
                        // next, and the kick is looked at with it.
                        continue;
                    }
                    // About to return to the user: the user's state is in
                    // the frame, and goes back through it.
                    let frame = machine.frame(cpu);
                    let mut regs = UserRegs::at_exception(&gprs, &frame);
                    let before = regs;
                    let next = kernel.on_kick(tid, vcpu, &mut regs);
                    if let Next::Return { .. } = &next {
                        if regs != before {
                            let mut g = gprs;
                            let f = regs.write_back(&mut g);
                            if !machine.set_frame(cpu, &f) || vcpu.set_regs(&g).is_err() {
                                return fail("cannot write vCPU registers".into());
                            }
                        }
                    }
                    next
                } else {
                    let compat = vcpu.sregs().map(|s| s.cs.selector == tables::USER32_CS).unwrap_or(false);
                    let mut regs = UserRegs::at_user(&gprs, compat);
                    let before = regs;
                    let next = kernel.on_kick(tid, vcpu, &mut regs);
                    if let Next::Return { .. } = &next {
                        if regs != before && vcpu.set_regs(&regs.to_kvm()).is_err() {
                            return fail("cannot write vCPU registers".into());
                        }
                    }
                    next
                }
            }
            Ok(Exit::Shutdown) => kernel.on_vm_exit(tid, "triple fault (the CPU shut down)".into()),
            Ok(Exit::Unexpected(what)) => {
                let rip = vcpu.regs().map(|r| r.rip).unwrap_or(0);
                kernel.on_vm_exit(tid, format!("the VM stopped unexpectedly: {what} at ip {rip:#x}"))
            }
            Err(e) => return fail(format!("{e}")),
        };
        match next {
            Next::Return { tls, fpu } => {
                if let Some(f) = fpu {
                    if vcpu.set_fpu(&f).is_err() {
                        kernel.on_vm_exit(tid, "bad FPU state".into());
                    }
                }
                if let Some((fs, gs)) = tls {
                    if vcpu.set_tls(fs, gs).is_err() {
                        return fail("cannot set FS/GS base".into());
                    }
                }
            }
            Next::Enter(e) => {
                if let Err(err) = enter(vcpu, &e) {
                    return fail(format!("cannot enter the new program: {err}"));
                }
            }
            Next::Exit => return,
        }
        if let Err(e) = machine.spawn_pending(kernel) {
            kernel.stop_all(Stop::Failure(e.to_string()));
        }
    }
}
