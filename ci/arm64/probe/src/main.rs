//! The arm64 probe: run inside the emulated arm64 machine (ci/arm64/smoke),
//! it checks the mechanism faultline rests on, on arm64 KVM:
//!
//! - /dev/kvm, the KVM capabilities an aarch64 backend would use, and the
//!   ID registers a vCPU sees (granules, PA range, access flag/dirty state);
//! - a VM with one vCPU (KVM_ARM_PREFERRED_TARGET, KVM_ARM_VCPU_INIT with
//!   PSCI 0.2);
//! - guest memory behind a userfaultfd (UFFDIO_REGISTER MISSING, and WP if
//!   the kernel offers it), whose faults, taken by KVM while the vCPU is in
//!   KVM_RUN, a handler thread resolves with UFFDIO_COPY;
//! - a few hand-assembled aarch64 instructions: fetched from a missing page,
//!   they read a missing data page, write to it, report through an MMIO
//!   write, time MMIO exits in a loop, and stop the machine with PSCI
//!   SYSTEM_OFF.
//!
//! It prints what happened as `key: value` lines and exits 0 only if all
//! of it did.
//!
//! `probe el0` checks instead how faultline's arm64 backend runs a
//! program: at EL0, under stage-1 page tables the probe builds, every SVC
//! and fault reaching the VMM through an EL1 vector stub (src/el0.rs).

#[cfg(not(target_arch = "aarch64"))]
fn main() {
    eprintln!("the arm64 probe runs on aarch64 only");
    std::process::exit(2);
}

#[cfg(target_arch = "aarch64")]
mod el0;

#[cfg(target_arch = "aarch64")]
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => arm64::probe(),
        ["el0"] => el0::probe(),
        _ => {
            eprintln!("usage: probe [el0]");
            std::process::exit(2);
        }
    };
    match check {
        Ok(()) => println!("probe: ok"),
        Err(e) => {
            println!("probe: FAILED: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod arm64 {
    use std::fs::OpenOptions;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use kvm_bindings::*;
    use kvm_ioctls::{Cap, Kvm, VcpuExit};
    use vmm_sys_util::ioctl::ioctl_with_mut_ref;
    use vmm_sys_util::{ioctl_io_nr, ioctl_iowr_nr};

    pub(crate) type Result<T> = std::result::Result<T, String>;

    // linux/userfaultfd.h, as faultline's vmm/src/fault/uffd.rs has it.
    const UFFDIO: u32 = 0xAA;
    const UFFD_API: u64 = 0xAA;
    #[repr(C)]
    #[derive(Default)]
    struct UffdioApi {
        api: u64,
        features: u64,
        ioctls: u64,
    }
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct UffdioRange {
        start: u64,
        len: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct UffdioRegister {
        range: UffdioRange,
        mode: u64,
        ioctls: u64,
    }
    #[repr(C)]
    #[derive(Default)]
    struct UffdioCopy {
        dst: u64,
        src: u64,
        len: u64,
        mode: u64,
        copy: i64,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct UffdMsg {
        event: u8,
        reserved1: u8,
        reserved2: u16,
        reserved3: u32,
        arg: [u64; 3],
    }
    ioctl_iowr_nr!(UFFDIO_API, UFFDIO, 0x3F, UffdioApi);
    ioctl_iowr_nr!(UFFDIO_REGISTER, UFFDIO, 0x00, UffdioRegister);
    ioctl_iowr_nr!(UFFDIO_COPY, UFFDIO, 0x03, UffdioCopy);
    ioctl_io_nr!(USERFAULTFD_IOC_NEW, UFFDIO, 0x00);
    const UFFD_EVENT_PAGEFAULT: u8 = 0x12;
    const UFFD_PAGEFAULT_FLAG_WRITE: u64 = 1;
    const UFFD_PAGEFAULT_FLAG_WP: u64 = 2;
    const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;
    const UFFDIO_REGISTER_MODE_WP: u64 = 2;
    const UFFD_FEATURE_PAGEFAULT_FLAG_WP: u64 = 1 << 0;
    const UFFD_FEATURE_THREAD_ID: u64 = 1 << 8;
    const UFFD_FEATURES: [(u64, &str); 17] = [
        (1 << 0, "PAGEFAULT_FLAG_WP"),
        (1 << 1, "EVENT_FORK"),
        (1 << 2, "EVENT_REMAP"),
        (1 << 3, "EVENT_REMOVE"),
        (1 << 4, "MISSING_HUGETLBFS"),
        (1 << 5, "MISSING_SHMEM"),
        (1 << 6, "EVENT_UNMAP"),
        (1 << 7, "SIGBUS"),
        (1 << 8, "THREAD_ID"),
        (1 << 9, "MINOR_HUGETLBFS"),
        (1 << 10, "MINOR_SHMEM"),
        (1 << 11, "EXACT_ADDRESS"),
        (1 << 12, "WP_HUGETLBFS_SHMEM"),
        (1 << 13, "WP_UNPOPULATED"),
        (1 << 14, "POISON"),
        (1 << 15, "WP_ASYNC"),
        (1 << 16, "MOVE"),
    ];

    // The guest's physical layout: one memory slot of RAM behind the
    // userfaultfd, the code on its first page and the data the code
    // reads on its 17th (then writes the 18th); MMIO is any address
    // outside the slot.
    const RAM_GPA: u64 = 0x4000_0000;
    const RAM_SIZE: usize = 2 << 20;
    const DATA_OFFSET: u64 = 0x1_0000;
    const WRITE_OFFSET: u64 = DATA_OFFSET + PAGE as u64;
    const MMIO_REPORT: u64 = 0x9000_0000;
    const MMIO_LOOP: u64 = 0x9000_0008;
    const PAGE: usize = 4096;
    const DATA_PATTERN: u64 = 0x0123_4567_89ab_cdef;
    const MMIO_ITERATIONS: u64 = 2000;

    // Hand-assembled (checked against aarch64-linux-gnu-as/objdump), run at
    // EL1 with the MMU off as KVM_ARM_VCPU_INIT leaves the vCPU:
    //   x1 = RAM + DATA_OFFSET; x2 = [x1] + 1; [x1 + 8] = x2
    //   [x1 + 4096] = x2                     (a page first touched by a write)
    //   [MMIO_REPORT] = x2                   (MMIO write exit)
    //   do { [MMIO_LOOP] = x4 } while --x4   (x4 = x5, set by the host)
    //   hvc #0 with w0 = 0x84000008          (PSCI SYSTEM_OFF)
    const CODE: [u32; 15] = [
        0xd2a8_0021, // movz x1, #0x4001, lsl #16
        0xf940_0022, // ldr  x2, [x1]
        0x9100_0442, // add  x2, x2, #1
        0xf900_0422, // str  x2, [x1, #8]
        0xf908_0022, // str  x2, [x1, #4096]
        0xd2b2_0003, // movz x3, #0x9000, lsl #16
        0xf900_0062, // str  x2, [x3]
        0xaa05_03e4, // mov  x4, x5
        0xf900_0464, // 1: str x4, [x3, #8]
        0xf100_0484, // subs x4, x4, #1
        0x54ff_ffc1, // b.ne 1b
        0x5280_0100, // movz w0, #0x0008
        0x72b0_8000, // movk w0, #0x8400, lsl #16
        0xd400_0002, // hvc  #0
        0x1400_0000, // b    .
    ];

    // Register ids for KVM_{GET,SET}_ONE_REG.
    pub(crate) fn core_reg(offset_bytes: usize) -> u64 {
        KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE as u64 | (offset_bytes / 4) as u64
    }
    pub(crate) fn xreg(n: usize) -> u64 {
        core_reg(std::mem::offset_of!(kvm_regs, regs) + std::mem::offset_of!(user_pt_regs, regs) + 8 * n)
    }
    pub(crate) fn pc_reg() -> u64 {
        core_reg(std::mem::offset_of!(kvm_regs, regs) + std::mem::offset_of!(user_pt_regs, pc))
    }
    pub(crate) fn sys_reg(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64) -> u64 {
        KVM_REG_ARM64
            | KVM_REG_SIZE_U64
            | KVM_REG_ARM64_SYSREG as u64
            | (op0 << KVM_REG_ARM64_SYSREG_OP0_SHIFT)
            | (op1 << KVM_REG_ARM64_SYSREG_OP1_SHIFT)
            | (crn << KVM_REG_ARM64_SYSREG_CRN_SHIFT)
            | (crm << KVM_REG_ARM64_SYSREG_CRM_SHIFT)
            | (op2 << KVM_REG_ARM64_SYSREG_OP2_SHIFT)
    }

    pub(crate) fn os_err(what: &str) -> String {
        format!("{what}: {}", io::Error::last_os_error())
    }

    /// `size` bytes of anonymous memory for guest RAM (reserved, not populated).
    pub(crate) fn guest_ram(size: usize) -> Result<*mut libc::c_void> {
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let mem = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if mem == libc::MAP_FAILED {
            return Err(os_err("mmap guest RAM"));
        }
        Ok(mem)
    }

    fn tid() -> i32 {
        // SAFETY: gettid has no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_gettid) as i32 }
    }

    /// A userfaultfd from the syscall (root in the machine), else from
    /// /dev/userfaultfd, as faultline opens it. Not UFFD_USER_MODE_ONLY:
    /// KVM's accesses to guest memory are kernel-mode faults.
    fn open_uffd() -> Result<(OwnedFd, &'static str)> {
        let flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
        // SAFETY: userfaultfd takes flags and returns a new descriptor.
        let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) } as RawFd;
        if fd >= 0 {
            // SAFETY: a fresh descriptor that nothing else owns.
            return Ok((unsafe { OwnedFd::from_raw_fd(fd) }, "syscall"));
        }
        let syscall_err = io::Error::last_os_error();
        let dev = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/userfaultfd")
            .map_err(|e| format!("userfaultfd: syscall: {syscall_err}; /dev/userfaultfd: {e}"))?;
        // SAFETY: USERFAULTFD_IOC_NEW takes the flags by value.
        let fd = unsafe { libc::ioctl(dev.as_raw_fd(), USERFAULTFD_IOC_NEW() as _, flags) };
        if fd < 0 {
            return Err(os_err("USERFAULTFD_IOC_NEW"));
        }
        // SAFETY: a fresh descriptor.
        Ok((unsafe { OwnedFd::from_raw_fd(fd) }, "/dev/userfaultfd"))
    }

    fn uffd_api(fd: &OwnedFd, features: u64) -> Result<UffdioApi> {
        let mut api = UffdioApi { api: UFFD_API, features, ioctls: 0 };
        // SAFETY: UFFDIO_API reads and writes a UffdioApi.
        if unsafe { ioctl_with_mut_ref(fd, UFFDIO_API(), &mut api) } < 0 {
            return Err(os_err(&format!("UFFDIO_API features {features:#x}")));
        }
        Ok(api)
    }

    fn feature_names(bits: u64) -> String {
        let names: Vec<&str> = UFFD_FEATURES.iter().filter(|(b, _)| bits & b != 0).map(|(_, n)| *n).collect();
        names.join(" ")
    }

    struct Fault {
        offset: u64,
        write: bool,
        wp: bool,
        thread: i32,
        resolve: Duration,
    }

    /// The handler thread: waits for faults on `fd`, fills each missing
    /// page with UFFDIO_COPY (the code page gets CODE, others DATA_PATTERN
    /// in their first word), and logs it. Stops when `stop` is set.
    fn handle_faults(fd: Arc<OwnedFd>, base: u64, log: Arc<Mutex<Vec<Fault>>>, stop: Arc<AtomicBool>) -> Result<()> {
        let mut page = vec![0u8; PAGE];
        while !stop.load(Ordering::Relaxed) {
            let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, 50) };
            if n <= 0 {
                continue;
            }
            let mut msg = UffdMsg::default();
            // SAFETY: reading one uffd_msg into a buffer of its size.
            let r = unsafe {
                libc::read(fd.as_raw_fd(), (&mut msg as *mut UffdMsg).cast(), std::mem::size_of::<UffdMsg>())
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EAGAIN) {
                    continue;
                }
                return Err(format!("read userfaultfd: {e}"));
            }
            let t = Instant::now();
            if msg.event != UFFD_EVENT_PAGEFAULT {
                return Err(format!("unexpected userfaultfd event {:#x}", msg.event));
            }
            let addr = msg.arg[1] & !(PAGE as u64 - 1);
            let offset = addr - base;
            page.fill(0);
            if offset == 0 {
                for (i, w) in CODE.iter().enumerate() {
                    page[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
                }
            } else if offset == DATA_OFFSET {
                page[..8].copy_from_slice(&DATA_PATTERN.to_le_bytes());
            }
            let mut copy = UffdioCopy { dst: addr, src: page.as_ptr() as u64, len: PAGE as u64, mode: 0, copy: 0 };
            // SAFETY: UFFDIO_COPY reads and writes a UffdioCopy; src is a page we own.
            if unsafe { ioctl_with_mut_ref(&*fd, UFFDIO_COPY(), &mut copy) } < 0 {
                return Err(os_err("UFFDIO_COPY"));
            }
            log.lock().unwrap().push(Fault {
                offset,
                write: msg.arg[0] & UFFD_PAGEFAULT_FLAG_WRITE != 0,
                wp: msg.arg[0] & UFFD_PAGEFAULT_FLAG_WP != 0,
                thread: msg.arg[2] as u32 as i32,
                resolve: t.elapsed(),
            });
        }
        Ok(())
    }

    pub(crate) fn us(d: Duration) -> String {
        format!("{:.1}", d.as_secs_f64() * 1e6)
    }

    pub fn probe() -> Result<()> {
        let t_all = Instant::now();
        // The machine.
        let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: uname fills the struct.
        unsafe { libc::uname(&mut uts) };
        let release = unsafe { std::ffi::CStr::from_ptr(uts.release.as_ptr()) }.to_string_lossy().into_owned();
        println!("kernel: {release}");
        // SAFETY: sysconf has no memory effects.
        println!("page_size: {}", unsafe { libc::sysconf(libc::_SC_PAGESIZE) });

        // KVM and its capabilities.
        let kvm = Kvm::new().map_err(|e| format!("open /dev/kvm: {e}"))?;
        println!("kvm_api_version: {}", kvm.get_api_version());
        macro_rules! caps {
            ($($c:ident),* $(,)?) => {
                $( println!("cap {}: {}", stringify!($c), kvm.check_extension_raw($c as _)); )*
            };
        }
        caps!(
            KVM_CAP_USER_MEMORY,
            KVM_CAP_SYNC_MMU,
            KVM_CAP_READONLY_MEM,
            KVM_CAP_ONE_REG,
            KVM_CAP_NR_VCPUS,
            KVM_CAP_MAX_VCPUS,
            KVM_CAP_IMMEDIATE_EXIT,
            KVM_CAP_ARM_PSCI,
            KVM_CAP_ARM_PSCI_0_2,
            KVM_CAP_ARM_EL1_32BIT,
            KVM_CAP_ARM_PMU_V3,
            KVM_CAP_ARM_VM_IPA_SIZE,
            KVM_CAP_ARM_SVE,
            KVM_CAP_ARM_PTRAUTH_ADDRESS,
            KVM_CAP_ARM_PTRAUTH_GENERIC,
            KVM_CAP_ARM_NISV_TO_USER,
            KVM_CAP_ARM_INJECT_SERROR_ESR,
            KVM_CAP_ARM_INJECT_EXT_DABT,
            KVM_CAP_ARM_MTE,
            KVM_CAP_ARM_SYSTEM_SUSPEND,
            KVM_CAP_ARM_USER_IRQ,
            KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE,
            KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES,
            KVM_CAP_SET_GUEST_DEBUG,
            KVM_CAP_GUEST_DEBUG_HW_BPS,
            KVM_CAP_VCPU_EVENTS,
            KVM_CAP_COALESCED_MMIO,
            KVM_CAP_IOEVENTFD,
            KVM_CAP_IRQFD,
            KVM_CAP_DEVICE_CTRL,
            KVM_CAP_DIRTY_LOG_RING,
            KVM_CAP_DIRTY_LOG_RING_ACQ_REL,
            KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
            KVM_CAP_USER_MEMORY2,
            KVM_CAP_GUEST_MEMFD,
        );
        if !kvm.check_extension(Cap::ArmPsci02) {
            return Err("KVM lacks KVM_CAP_ARM_PSCI_0_2".into());
        }

        // userfaultfd: what the kernel offers (UFFDIO_API with no features
        // asked returns them all), then a descriptor set up as faultline's.
        let (probe_fd, how) = open_uffd()?;
        let offered = uffd_api(&probe_fd, 0)?.features;
        drop(probe_fd);
        println!("uffd_open: {how}");
        println!("uffd_features: {offered:#x} {}", feature_names(offered));
        let wp = offered & UFFD_FEATURE_PAGEFAULT_FLAG_WP != 0;
        println!("uffd_wp: {}", if wp { "offered" } else { "not offered" });
        let (fd, _) = open_uffd()?;
        let want = UFFD_FEATURE_THREAD_ID | if wp { UFFD_FEATURE_PAGEFAULT_FLAG_WP } else { 0 };
        let api = uffd_api(&fd, want)?;
        println!("uffd_ioctls: {:#x}", api.ioctls);

        // Guest RAM: anonymous memory, registered before KVM sees it.
        let ram = guest_ram(RAM_SIZE)?;
        let base = ram as u64;
        let mode = UFFDIO_REGISTER_MODE_MISSING | if wp { UFFDIO_REGISTER_MODE_WP } else { 0 };
        let mut reg = UffdioRegister { range: UffdioRange { start: base, len: RAM_SIZE as u64 }, mode, ioctls: 0 };
        // SAFETY: UFFDIO_REGISTER reads and writes a UffdioRegister.
        if unsafe { ioctl_with_mut_ref(&fd, UFFDIO_REGISTER(), &mut reg) } < 0 {
            return Err(os_err("UFFDIO_REGISTER"));
        }
        println!("uffd_register: MISSING{} ioctls {:#x}", if wp { "|WP" } else { "" }, reg.ioctls);
        if !wp {
            // What faultline's fallback sees when it asks for WP anyway.
            let (fd2, _) = open_uffd()?;
            match uffd_api(&fd2, UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_THREAD_ID) {
                Ok(_) => println!("uffd_api_with_wp: accepted"),
                Err(e) => println!("uffd_api_with_wp: refused ({e})"),
            }
        }

        // The VM and its vCPU.
        let t = Instant::now();
        let vm = kvm.create_vm().map_err(|e| format!("KVM_CREATE_VM: {e}"))?;
        println!("vm_ipa_size_default: 40 (type 0); max {}", kvm.check_extension_raw(KVM_CAP_ARM_VM_IPA_SIZE as _));
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: RAM_GPA,
            memory_size: RAM_SIZE as u64,
            userspace_addr: base,
        };
        // SAFETY: the region is a live mapping of RAM_SIZE bytes that outlives the VM.
        unsafe { vm.set_user_memory_region(region) }.map_err(|e| format!("KVM_SET_USER_MEMORY_REGION: {e}"))?;
        let mut vcpu = vm.create_vcpu(0).map_err(|e| format!("KVM_CREATE_VCPU: {e}"))?;
        let mut kvi = kvm_vcpu_init::default();
        vm.get_preferred_target(&mut kvi).map_err(|e| format!("KVM_ARM_PREFERRED_TARGET: {e}"))?;
        println!("preferred_target: {}", kvi.target);
        kvi.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2;
        vcpu.vcpu_init(&kvi).map_err(|e| format!("KVM_ARM_VCPU_INIT: {e}"))?;
        vcpu.set_one_reg(pc_reg(), &RAM_GPA.to_le_bytes()).map_err(|e| format!("set PC: {e}"))?;
        vcpu.set_one_reg(xreg(5), &MMIO_ITERATIONS.to_le_bytes()).map_err(|e| format!("set x5: {e}"))?;
        println!("vm_setup_us: {}", us(t.elapsed()));

        // The ID registers as the vCPU sees them.
        let get = |id: u64| -> Result<u64> {
            let mut b = [0u8; 8];
            vcpu.get_one_reg(id, &mut b).map_err(|e| format!("get_one_reg {id:#x}: {e}"))?;
            Ok(u64::from_le_bytes(b))
        };
        let midr = get(sys_reg(3, 0, 0, 0, 0))?;
        let pfr0 = get(sys_reg(3, 0, 0, 4, 0))?;
        let mmfr0 = get(sys_reg(3, 0, 0, 7, 0))?;
        let mmfr1 = get(sys_reg(3, 0, 0, 7, 1))?;
        let mmfr2 = get(sys_reg(3, 0, 0, 7, 2))?;
        println!("vcpu MIDR_EL1: {midr:#x}");
        println!("vcpu ID_AA64PFR0_EL1: {pfr0:#018x} (EL0 {} EL1 {})", pfr0 & 0xf, (pfr0 >> 4) & 0xf);
        let gran4 = (mmfr0 >> 28) & 0xf;
        println!(
            "vcpu ID_AA64MMFR0_EL1: {mmfr0:#018x} (PARange {} TGran4 {} TGran16 {} TGran64 {})",
            mmfr0 & 0xf,
            if gran4 == 0xf { "no".into() } else { format!("yes({gran4})") },
            (mmfr0 >> 20) & 0xf,
            (mmfr0 >> 24) & 0xf
        );
        let hafdbs = mmfr1 & 0xf;
        println!(
            "vcpu ID_AA64MMFR1_EL1: {mmfr1:#018x} (HAFDBS {hafdbs}: {})",
            match hafdbs {
                0 => "no hardware access flag or dirty state",
                1 => "hardware access flag",
                2 => "hardware access flag and dirty state",
                _ => "hardware access flag, dirty state and more",
            }
        );
        println!("vcpu ID_AA64MMFR2_EL1: {mmfr2:#018x} (VARange {})", (mmfr2 >> 16) & 0xf);

        // The fault handler.
        let fd = Arc::new(fd);
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler = {
            let (fd, log, stop) = (fd.clone(), log.clone(), stop.clone());
            std::thread::spawn(move || handle_faults(fd, base, log, stop))
        };

        // Run: the first entry fetches code from a missing page and reads
        // a missing data page, then exits on the report's MMIO write.
        let vcpu_tid = tid();
        let t = Instant::now();
        let mut report = None;
        let mut loop_exits = Vec::with_capacity(MMIO_ITERATIONS as usize);
        let mut first_entry = None;
        let mut shutdown = None;
        let mut last = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(60);
        while shutdown.is_none() {
            if Instant::now() > deadline {
                return Err("the vCPU ran 60 s without stopping".into());
            }
            let exit = vcpu.run().map_err(|e| format!("KVM_RUN: {e}"))?;
            let now = Instant::now();
            match exit {
                VcpuExit::MmioWrite(MMIO_REPORT, data) => {
                    let mut b = [0u8; 8];
                    b[..data.len()].copy_from_slice(data);
                    report = Some(u64::from_le_bytes(b));
                    first_entry = Some(now - t);
                }
                VcpuExit::MmioWrite(MMIO_LOOP, _) => loop_exits.push(now - last),
                VcpuExit::SystemEvent(kind, data) => shutdown = Some((kind, data.to_vec())),
                other => return Err(format!("unexpected exit {other:?}")),
            }
            last = Instant::now();
        }
        let total_run = t.elapsed();
        stop.store(true, Ordering::Relaxed);
        handler.join().map_err(|_| "the fault handler panicked".to_string())??;

        // What happened.
        let faults = log.lock().unwrap();
        for f in faults.iter() {
            println!(
                "fault: page {:#x} ({}) write {} wp {} thread {} ({}) resolved_in_us {}",
                RAM_GPA + f.offset,
                match f.offset {
                    0 => "code, fetched",
                    DATA_OFFSET => "data, read",
                    WRITE_OFFSET => "data, written",
                    _ => "?",
                },
                f.write,
                f.wp,
                f.thread,
                if f.thread == vcpu_tid { "the vCPU thread" } else { "another thread" },
                us(f.resolve)
            );
        }
        let first_entry = first_entry.ok_or("no report MMIO exit")?;
        println!("first_entry_us: {} (three missing-page faults, then the MMIO exit)", us(first_entry));
        let report = report.ok_or("no report MMIO write")?;
        println!("mmio_report: {report:#x} (expected {:#x})", DATA_PATTERN + 1);
        // SAFETY: the data page is mapped, filled and within RAM.
        let stored = unsafe { std::ptr::read_volatile((base + DATA_OFFSET + 8) as *const u64) };
        // SAFETY: as above, the page first touched by a write.
        let written = unsafe { std::ptr::read_volatile((base + WRITE_OFFSET) as *const u64) };
        println!("guest_stores_seen_by_host: {stored:#x} {written:#x}");
        let (kind, data) = shutdown.unwrap();
        println!(
            "system_event: type {kind} ({}) data {data:x?}",
            if kind == KVM_SYSTEM_EVENT_SHUTDOWN { "SHUTDOWN: PSCI SYSTEM_OFF" } else { "other" }
        );
        let mut sorted = loop_exits.clone();
        sorted.sort();
        let n = sorted.len();
        if n > 0 {
            let mean = sorted.iter().sum::<Duration>() / n as u32;
            println!(
                "mmio_round_trip_us: n {n} min {} median {} p90 {} max {} mean {}",
                us(sorted[0]),
                us(sorted[n / 2]),
                us(sorted[n * 9 / 10]),
                us(sorted[n - 1]),
                us(mean)
            );
        }
        println!("vcpu_run_total_ms: {:.1}", total_run.as_secs_f64() * 1e3);
        println!("probe_total_ms: {:.1}", t_all.elapsed().as_secs_f64() * 1e3);

        // The verdict.
        let took = |offset| faults.iter().any(|f| f.offset == offset && f.thread == vcpu_tid);
        if !took(0) || !took(DATA_OFFSET) || !took(WRITE_OFFSET) {
            return Err("the vCPU thread did not take the three missing-page faults".into());
        }
        if faults.iter().any(|f| f.offset == WRITE_OFFSET && !f.write) {
            println!("note: the first touch by a write was reported as a read fault");
        }
        if report != DATA_PATTERN + 1 || stored != DATA_PATTERN + 1 || written != DATA_PATTERN + 1 {
            return Err("the guest did not compute on the page the handler supplied".into());
        }
        if n as u64 != MMIO_ITERATIONS {
            return Err(format!("{n} MMIO loop exits, expected {MMIO_ITERATIONS}"));
        }
        if kind != KVM_SYSTEM_EVENT_SHUTDOWN {
            return Err(format!("system event {kind}, expected SHUTDOWN"));
        }
        Ok(())
    }
}
