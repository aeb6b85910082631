//! Running the guest: the vCPU loop, syscalls, traps and crashes, stack
//! growth, the OOM kill, and the watchdog that ends runaway programs.

use super::*;

impl Sandbox {
    /// Runs the program to its end.
    pub fn run(mut self) -> Result<Outcome, Error> {
        let backing = self.task.space.backing().clone();
        let kicker = Kicker::for_current_thread();
        let (alarm_tx, alarm_rx) = mpsc::channel::<()>();
        let handler_failed = Arc::new(AtomicBool::new(false));
        let failed = handler_failed.clone();
        let handler_alarm = alarm_tx.clone();
        // Colocated: vCPU and handler share the CPU the vCPU runs on now.
        let saved_affinity = crate::vm::current_affinity().ok();
        let cpu = match self.config.wake {
            WakeMode::Colocated => crate::vm::current_cpu().filter(|&c| crate::vm::pin_current_thread(c).is_ok()),
            _ => None,
        };
        let handler = Handler::start(backing.clone(), self.config.wake, cpu, move || {
            failed.store(true, Ordering::Release);
            let _ = handler_alarm.send(());
        })
        .map_err(Error::Thread)?;
        backing.set_alarm(alarm_tx.clone());
        let timed_out = Arc::new(AtomicBool::new(false));
        let watchdog = spawn_watchdog(self.config.timeout, alarm_rx, kicker, timed_out.clone())?;

        self.task.started = Instant::now();
        let result = self.run_loop(&handler_failed, &timed_out);
        // The handler holds a sender too: stop it first so the watchdog
        // sees the channel close.
        let handler_result = handler.stop();
        drop(alarm_tx);
        backing.clear_alarm();
        let _ = watchdog.join();
        if let (Some(_), Some(set)) = (cpu, saved_affinity) {
            let _ = crate::vm::set_affinity(&set);
        }
        let (status, report) = result?;
        handler_result?;

        let events = backing.events();
        let resident = backing.resident_by_region();
        let regions = self.task.space.regions().clone();
        let summary = summarize(&events, &regions, |id| resident.get(&id).copied().unwrap_or(0));
        let memory = crate::abi::procfs::memory_report(&self.task);
        Ok(Outcome { status, report, events, regions, summary, memory, resident: backing.resident_gvas() })
    }

    fn run_loop(
        &mut self,
        handler_failed: &AtomicBool,
        timed_out: &AtomicBool,
    ) -> Result<(ExitStatus, Option<String>), Error> {
        loop {
            // No vCPU may keep a translation the VMM changed.
            self.task.space.flush_stale();
            self.task.space.backing().set_in_guest(true);
            let exit = self.vcpu.run();
            self.task.space.backing().set_in_guest(false);
            match exit? {
                Exit::Trap(vector) => {
                    // If memory ran out in the fault before this trap, the
                    // program is already dead: run nothing more for it.
                    if let Some(end) = self.oom_kill() {
                        return Ok(end);
                    }
                    if let Some(end) = self.on_trap(vector)? {
                        return Ok(end);
                    }
                    // Memory may have run out while the VMM worked for it.
                    if let Some(end) = self.oom_kill() {
                        return Ok(end);
                    }
                }
                Exit::Shutdown => {
                    let rip = self.vcpu.regs().map(|r| r.rip).unwrap_or(0);
                    return Ok(self.kill(trap::SIGSEGV, format!("triple fault (the CPU shut down) near ip {rip:016x}")));
                }
                Exit::Interrupted => {
                    if let Some(end) = self.oom_kill() {
                        return Ok(end);
                    }
                    if handler_failed.load(Ordering::Acquire) {
                        return Err(Error::Shim("the fault handler stopped; see its error".into()));
                    }
                    if timed_out.load(Ordering::Acquire) {
                        let t = self.config.timeout.unwrap_or_default();
                        return Ok(
                            self.kill(trap::SIGKILL, format!("killed after the {:.1} s timeout", t.as_secs_f64()))
                        );
                    }
                }
                Exit::Unexpected(what) => {
                    // Nothing the program may do leads here; if it got here
                    // anyway, it is the program that stops, not faultline.
                    let rip = self.vcpu.regs().map(|r| r.rip).unwrap_or(0);
                    return Ok(self.kill(trap::SIGSEGV, format!("the VM stopped unexpectedly: {what} at ip {rip:#x}")));
                }
            }
        }
    }

    /// If memory ran out, the program dies as the OOM killer would kill it.
    fn oom_kill(&self) -> Option<(ExitStatus, Option<String>)> {
        self.task.space.backing().oom()?;
        let m = crate::abi::procfs::mem_status(&self.task);
        let report = format!(
            "Out of memory: Killed process 1 ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:{}kB, shmem-rss:0kB, UID:1000 \
             pgtables:{}kB oom_score_adj:0",
            self.task.comm,
            m.vm_size,
            m.rss_anon,
            m.rss_file,
            self.task.space.tables().table_pages() * 4
        );
        Some((ExitStatus::Killed(trap::SIGKILL), Some(report)))
    }

    fn kill(&self, signal: Signal, why: String) -> (ExitStatus, Option<String>) {
        (ExitStatus::Killed(signal), Some(format!("{}[1]: {why}; killed by {}", self.task.comm, signal.name)))
    }

    fn read_frame(&self) -> Result<TrapFrame, Error> {
        let mut b = [0u8; TrapFrame::LEN];
        self.sys
            .read(SYS_IST_GPA + (TrapFrame::VA - IST_BASE_VA), &mut b)
            .map_err(|e| Error::Shim(format!("cannot read the trap frame: {e}")))?;
        Ok(TrapFrame::from_bytes(&b))
    }

    fn write_frame(&self, f: TrapFrame) -> Result<(), Error> {
        sys_write(&self.sys, SYS_IST_GPA + (TrapFrame::VA - IST_BASE_VA), &f.to_bytes())
    }

    /// Handles a shim report. Returns how the program ended, if it did.
    fn on_trap(&mut self, vector: u8) -> Result<Option<(ExitStatus, Option<String>)>, Error> {
        let frame = self.read_frame()?;
        if frame.is_syscall(vector) {
            return self.on_syscall(frame);
        }
        if frame.is_compat_syscall(vector) {
            return self.on_compat_syscall(frame);
        }
        if vector == trap::PF && frame.from_user() && frame.error_code & pf::PRESENT == 0 {
            let cr2 = self.vcpu.sregs()?.cr2;
            if self.grow_stack(cr2) {
                return Ok(None);
            }
        }
        if !frame.from_user() {
            // No guest code runs in ring 0 and the shim's stubs cannot fault,
            // so whatever the program did to get here, it dies for it.
            let cr2 = self.vcpu.sregs().map(|s| s.cr2).unwrap_or(0);
            let why = format!(
                "{} in ring 0 at ip {:016x} (cr2 {cr2:x}, error {:x}): the program may not run there",
                trap::vector_name(vector),
                frame.rip,
                frame.error_code
            );
            return Ok(Some(self.kill(trap::SIGSEGV, why)));
        }
        Ok(Some(self.crash(vector, frame)?))
    }

    fn on_syscall(&mut self, frame: TrapFrame) -> Result<Option<(ExitStatus, Option<String>)>, Error> {
        let mut regs = self.vcpu.regs()?;
        let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9];
        match abi::dispatch(&mut self.task, regs.rax, args) {
            Action::Exit(code) => Ok(Some((ExitStatus::Exited(code), None))),
            Action::Signal(sig) => {
                let signal = trap::signal_by_number(sig);
                let handler = self.task.signals.disposition(sig as u64) == crate::abi::signal::Disposition::Handler;
                let why = if handler {
                    format!("raised {} (its handler was not run: faultline delivers no signals)", signal.name)
                } else {
                    format!("raised {}", signal.name)
                };
                Ok(Some(self.kill(signal, why)))
            }
            Action::Return(v) => {
                let ret = regs.rcx;
                if ret >= USER_TOP {
                    return Ok(Some(self.kill(trap::SIGSEGV, format!("syscall returns to non-user address {ret:#x}"))));
                }
                regs.rax = v as u64;
                self.write_frame(TrapFrame {
                    error_code: 0,
                    rip: ret,
                    cs: tables::USER_CS as u64,
                    rflags: cpu::sanitize_user_rflags(regs.r11),
                    rsp: frame.rsp,
                    ss: tables::USER_DS as u64,
                })?;
                if !self.task.pending_msrs.is_empty() {
                    let msrs = cpu::msrs(&std::mem::take(&mut self.task.pending_msrs));
                    self.vcpu.set_msrs(&msrs)?;
                }
                self.vcpu.set_regs(&regs)?;
                Ok(None)
            }
        }
    }

    /// `syscall` from 32-bit code: faultline runs no 32-bit ABI, and like a
    /// Linux built without IA32 emulation (entry_SYSCALL32_ignore) it
    /// returns -ENOSYS to the 32-bit caller, with sysretl's registers.
    fn on_compat_syscall(&mut self, frame: TrapFrame) -> Result<Option<(ExitStatus, Option<String>)>, Error> {
        let mut regs = self.vcpu.regs()?;
        regs.rax = (-(crate::abi::errno::ENOSYS.0 as i64)) as u64 & 0xffff_ffff;
        self.write_frame(TrapFrame {
            error_code: 0,
            rip: regs.rcx & 0xffff_ffff,
            cs: tables::USER32_CS as u64,
            rflags: cpu::sanitize_user_rflags(regs.r11),
            rsp: frame.rsp,
            ss: tables::USER_DS as u64,
        })?;
        self.vcpu.set_regs(&regs)?;
        Ok(None)
    }

    /// A not-present fault just below the stack grows it, as Linux's
    /// expand_stack does: down to the faulting page, within RLIMIT_STACK,
    /// and never into the guard gap above another mapping. Returns whether
    /// it grew (the instruction is then retried).
    fn grow_stack(&mut self, addr: u64) -> bool {
        let addr = crate::arch::page_floor(addr);
        let vmas = self.task.space.vmas();
        let Some(stack) = vmas.find_from(addr).filter(|v| v.growsdown && v.start > addr).cloned() else {
            return false;
        };
        // acct_stack_growth(): within RLIMIT_STACK and RLIMIT_AS, and for a
        // locked stack within RLIMIT_MEMLOCK.
        let limits = &self.task.limits;
        let grow = stack.start - addr;
        if stack.end - addr > limits.cur(crate::abi::limits::RLIMIT_STACK)
            || vmas.total().saturating_add(grow) > limits.cur(crate::abi::limits::RLIMIT_AS)
            || (stack.locked && !crate::abi::mlock::lock_fits(&self.task, grow))
        {
            return false;
        }
        // expand_downwards(): the guard gap is kept only from a previous
        // mapping that is accessible and not itself a stack.
        let prev = vmas.iter().filter(|v| v.end <= addr).max_by_key(|v| v.end);
        if let Some(p) = prev.filter(|p| p.perms.any() && !p.growsdown) {
            if addr < p.end.saturating_add(crate::mm::STACK_GUARD_GAP) {
                return false;
            }
        }
        let grown = Vma { start: addr, end: stack.start, locked: stack.locked, ..stack.clone() };
        if self.task.space.map_anon(grown).is_err() {
            return false;
        }
        if stack.locked {
            crate::abi::mlock::pin_pages(
                &self.task,
                addr,
                stack.start,
                stack.lock_on_fault,
                crate::timeline::Prefault::Mlock,
            );
        }
        true
    }

    /// A user-mode exception: the program dies as a Linux process would.
    fn crash(&mut self, vector: u8, frame: TrapFrame) -> Result<(ExitStatus, Option<String>), Error> {
        let mut vector = vector;
        if vector == trap::UD {
            let mut insn = [0u8; 2];
            if self.task.copy_from_user(frame.rip, &mut insn).is_ok() {
                vector = trap::software_interrupt_vector(insn).unwrap_or(vector);
            }
        }
        let signal = trap::signal_for_vector(vector);
        let space = &self.task.space;
        let place = |addr: u64| match space.vmas().find(addr) {
            Some(v) => format!("{}[{:x}+{:x}]", space.describe(addr), v.start, v.end - v.start),
            None => space.describe(addr),
        };
        let why = if vector == trap::PF {
            let cr2 = self.vcpu.sregs()?.cr2;
            let e = frame.error_code;
            let what = match (e & pf::PRESENT != 0, e & pf::WRITE != 0, e & pf::FETCH != 0) {
                (false, _, _) => "not mapped",
                (true, true, _) => "write to a read-only page",
                (true, false, true) => "fetch from a non-executable page",
                (true, false, false) => "protection violation",
            };
            format!(
                "segfault at {cr2:x} ip {:016x} sp {:016x} error {:x} in {}: {what}, address in {}",
                frame.rip,
                frame.rsp,
                e,
                place(frame.rip),
                space.describe(cr2)
            )
        } else {
            format!(
                "trap {} ip {:016x} sp {:016x} error {:x} in {}",
                trap::vector_name(vector),
                frame.rip,
                frame.rsp,
                frame.error_code,
                place(frame.rip)
            )
        };
        Ok(self.kill(signal, why))
    }
}

/// Kicks the vCPU out of KVM_RUN when the timeout passes or someone sends
/// on `alarm`, until the sandbox hangs up.
fn spawn_watchdog(
    timeout: Option<Duration>,
    alarm: mpsc::Receiver<()>,
    kicker: Kicker,
    timed_out: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, Error> {
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            let got = match timeout {
                Some(t) => alarm.recv_timeout(t),
                None => alarm.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match got {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => timed_out.store(true, Ordering::Release),
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // Keep kicking: a signal sent while the vCPU is between KVM_RUNs
            // is lost, so repeat until the sandbox hangs up.
            loop {
                kicker.kick();
                match alarm.recv_timeout(Duration::from_millis(10)) {
                    Err(RecvTimeoutError::Disconnected) => return,
                    _ => continue,
                }
            }
        })
        .map_err(Error::Thread)
}
