//! `probe el0`: the mechanism faultline's arm64 backend runs a program
//! with, on arm64 KVM. The VMM builds the stage-1 page tables itself (the
//! format of faultline's vmm/src/arch/aarch64/paging/: 4 KiB granule,
//! 48-bit VA, TTBR0 for the program, TTBR1 for the VMM's pages at
//! 0xffff_ff80_0000_0000), sets the vCPU's EL1 system registers with
//! KVM_SET_ONE_REG, and enters the program at EL0 directly (PSTATE = EL0t,
//! PC = its entry). Every SVC and every fault the program takes goes to the
//! EL1 vector stub (asm/stub.S), whose one store to a page with no memslot
//! is a KVM_EXIT_MMIO naming the vector; no register of the program's is
//! touched, so the VMM reads them all (x0-x30, ELR_EL1, SPSR_EL1, ESR_EL1,
//! FAR_EL1) with KVM_GET_ONE_REG and plays Linux.
//!
//! The program (asm/user.S) writes a string (write, x8 = 64), reads a page
//! that is not mapped (the VMM maps it), writes a read-only page (the VMM
//! makes it writable and flushes the TLB through the stub), loops on
//! getpid and getppid (SVC round trips, returned through the stub's eret
//! or by setting PC/PSTATE), then on geteuid through the save-area stub
//! (the VMM switches VBAR_EL1 to it: the stub spills x0-x8 and
//! ESR/FAR/ELR/SPSR to shared memory, so serving takes no ONE_REG),
//! stores to an EL0 doorbell (MMIO exits from EL0, no stub), and exits
//! (x8 = 93). Every ESR_EL1/FAR_EL1 is checked exactly.

use std::time::{Duration, Instant};

use kvm_bindings::*;
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd};

use crate::arm64::{core_reg, guest_ram, pc_reg, sys_reg, us, xreg, Result};

/// The stub and the program, assembled by build.rs.
static STUB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/stub.bin"));
static USER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/user.bin"));
/// stub.S: where its TLB-flush-then-eret path starts, where the
/// save-area stub's vector table is, and its save area's layout (bytes).
const STUB_FLUSH: u64 = 0x800;
const STUB_SAVE_VECTORS: u64 = 0x1000;
const SAVE_ESR: u64 = 80;
const SAVE_ELR: u64 = 96;

const PAGE: u64 = 4096;
/// Guest RAM (one memslot); MMIO is any IPA outside it.
const RAM_GPA: u64 = 0x4000_0000;
const RAM_SIZE: usize = 1 << 20;
/// The pages of RAM, by index: the tables, then the frames.
const T0_L0: u64 = 0;
const T0_L1: u64 = 1;
const T0_L2: u64 = 2;
const T0_L3: u64 = 3;
const T1_L0: u64 = 4;
const T1_L1: u64 = 5;
const T1_L2: u64 = 6;
const T1_L3: u64 = 7;
const F_STUB: u64 = 8; // and 9: the stub is two pages
const F_CODE: u64 = 10;
const F_LAZY: u64 = 11;
const F_RO: u64 = 12;
const F_SAVE: u64 = 13;
fn gpa(page: u64) -> u64 {
    RAM_GPA + page * PAGE
}

/// The doorbells: IPAs with no memslot. The stub's (SP_EL1 + 0x1000: the
/// minimal stub rings + 8 * vector, the save-area stub + 0x80 + 8 * vector)
/// and the program's own (EL0 MMIO exits, for comparison).
const DOORBELL_EL1: u64 = 0x9000_0000;
const DOORBELL_EL0: u64 = 0x9000_1000;

/// Virtual addresses. TTBR1: the stub's two pages, the save area (SP_EL1),
/// then the doorbell (L0 slot 511, as faultline's KERNEL_SLOT). TTBR0:
/// the program's pages.
const KVA: u64 = 0xffff_ff80_0000_0000;
const STUB_VA: u64 = KVA;
const SAVE_VA: u64 = KVA + 2 * PAGE;
const DOORBELL_VA: u64 = KVA + 3 * PAGE;
const CODE_VA: u64 = 0x40_0000;
const LAZY_VA: u64 = 0x40_2000;
const RO_VA: u64 = 0x40_3000;
const EL0_DOORBELL_VA: u64 = 0x50_0000;

/// Descriptor bits (vmm/src/arch/aarch64/paging/mod.rs).
const VALID: u64 = 1 << 0;
const TABLE: u64 = 1 << 1; // table at L0-L2, page at L3
const ATTR_NORMAL: u64 = 0 << 2; // AttrIndx 0: MAIR Attr0 = 0xff
const ATTR_DEVICE: u64 = 1 << 2; // AttrIndx 1: MAIR Attr1 = 0x00, Device-nGnRnE
const AP_USER: u64 = 1 << 6;
const AP_RDONLY: u64 = 1 << 7;
const SH_INNER: u64 = 3 << 8;
const AF: u64 = 1 << 10;
const NG: u64 = 1 << 11;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;
const PAGE_DESC: u64 = VALID | TABLE | AF | SH_INNER | ATTR_NORMAL;
const USER_RX: u64 = PAGE_DESC | NG | AP_USER | AP_RDONLY | PXN;
const USER_RO: u64 = PAGE_DESC | NG | AP_USER | AP_RDONLY | PXN | UXN;
const USER_RW: u64 = PAGE_DESC | NG | AP_USER | PXN | UXN;
const KERNEL_RX: u64 = PAGE_DESC | AP_RDONLY | UXN;
const KERNEL_RW: u64 = PAGE_DESC | PXN | UXN;
const DEVICE_EL1: u64 = VALID | TABLE | AF | ATTR_DEVICE | PXN | UXN;
const DEVICE_EL0: u64 = VALID | TABLE | AF | ATTR_DEVICE | NG | AP_USER | PXN | UXN;

/// System registers (op0, op1, CRn, CRm, op2).
fn sctlr_el1() -> u64 {
    sys_reg(3, 0, 1, 0, 0)
}
fn cpacr_el1() -> u64 {
    sys_reg(3, 0, 1, 0, 2)
}
fn ttbr0_el1() -> u64 {
    sys_reg(3, 0, 2, 0, 0)
}
fn ttbr1_el1() -> u64 {
    sys_reg(3, 0, 2, 0, 1)
}
fn tcr_el1() -> u64 {
    sys_reg(3, 0, 2, 0, 2)
}
fn esr_el1() -> u64 {
    sys_reg(3, 0, 5, 2, 0)
}
fn far_el1() -> u64 {
    sys_reg(3, 0, 6, 0, 0)
}
fn mair_el1() -> u64 {
    sys_reg(3, 0, 10, 2, 0)
}
fn vbar_el1() -> u64 {
    sys_reg(3, 0, 12, 0, 0)
}
fn id_aa64mmfr0_el1() -> u64 {
    sys_reg(3, 0, 0, 7, 0)
}
fn id_aa64mmfr1_el1() -> u64 {
    sys_reg(3, 0, 0, 7, 1)
}
/// Core registers outside user_pt_regs.regs.
fn kregs(offset: usize) -> u64 {
    core_reg(offset)
}
fn sp_el0() -> u64 {
    kregs(std::mem::offset_of!(kvm_regs, regs) + std::mem::offset_of!(user_pt_regs, sp))
}
fn pstate() -> u64 {
    kregs(std::mem::offset_of!(kvm_regs, regs) + std::mem::offset_of!(user_pt_regs, pstate))
}
fn sp_el1() -> u64 {
    kregs(std::mem::offset_of!(kvm_regs, sp_el1))
}
fn elr_el1() -> u64 {
    kregs(std::mem::offset_of!(kvm_regs, elr_el1))
}
fn spsr_el1() -> u64 {
    kregs(std::mem::offset_of!(kvm_regs, spsr) + 8 * KVM_SPSR_EL1 as usize)
}

/// SCTLR_EL1 as arm64 Linux runs EL0 (INIT_SCTLR_EL1_MMU_ON less what
/// needs features this vCPU was not given: pointer auth, MTE, BTI):
/// M, C, SA, SA0, SED, EOS, I, DZE (DC ZVA at EL0), UCT (CTR_EL0 at EL0),
/// nTWE (WFE at EL0 not trapped; nTWI clear: WFI traps, as Linux), TSCXT,
/// IESB, EIS, SPAN, UCI (cache maintenance at EL0), nTLSMD, LSMAOE. WXN,
/// A, EE, E0E clear.
const SCTLR: u64 = 1 << 0 // M
    | 1 << 2 // C
    | 1 << 3 // SA
    | 1 << 4 // SA0
    | 1 << 8 // SED
    | 1 << 11 // EOS
    | 1 << 12 // I
    | 1 << 14 // DZE
    | 1 << 15 // UCT
    | 1 << 18 // nTWE
    | 1 << 20 // TSCXT
    | 1 << 21 // IESB
    | 1 << 22 // EIS
    | 1 << 23 // SPAN
    | 1 << 26 // UCI
    | 1 << 28 // nTLSMD
    | 1 << 29; // LSMAOE
/// TCR_EL1 as faultline's paging/mod.rs (IPS, HA, HD added below).
const TCR: u64 = 16 // T0SZ
    | 0b01 << 8 // IRGN0: write-back
    | 0b01 << 10 // ORGN0
    | 0b11 << 12 // SH0: inner shareable
    | 16 << 16 // T1SZ
    | 0b01 << 24 // IRGN1
    | 0b01 << 26 // ORGN1
    | 0b11 << 28 // SH1
    | 0b10 << 30 // TG1: 4 KiB (TG0 = 0b00: 4 KiB)
    | 1 << 37; // TBI0
const TCR_HA: u64 = 1 << 39;
const TCR_HD: u64 = 1 << 40;
/// Attr0 normal write-back, Attr1 Device-nGnRnE (the doorbells).
const MAIR: u64 = 0x00ff;
/// FPEN = 0b11: FP/SIMD at EL0 and EL1 not trapped.
const CPACR: u64 = 0b11 << 20;
/// PSTATE: EL0t, DAIF clear.
const PSTATE_EL0T: u64 = 0;

/// ESR_EL1 fields.
const EC_SVC64: u64 = 0x15;
const EC_DABT_LOW: u64 = 0x24;
/// Exactly what the two faults must report: EC 0x24, IL, and DFSC
/// translation fault level 3 (read), permission fault level 3 with WnR.
const ESR_TRANSLATION_L3_READ: u64 = 0x9200_0007;
const ESR_PERMISSION_L3_WRITE: u64 = 0x9200_004f;
/// An SVC #0 from AArch64: EC 0x15, IL, imm16 0.
const ESR_SVC0: u64 = 0x5600_0000;

const LAZY_PATTERN: u64 = 0xfee1_dead_cafe_f00d;
const PID: u64 = 4242;
const LOOPS: u64 = 10_000;
const MSG: &[u8] = b"hello from EL0\n";

/// The vector the stub reported, from the doorbell address.
const VEC_LOWER_SYNC: u64 = 8;
fn vector_name(v: u64) -> &'static str {
    const NAMES: [&str; 16] = [
        "current EL SP0 sync",
        "current EL SP0 IRQ",
        "current EL SP0 FIQ",
        "current EL SP0 SError",
        "current EL SPx sync",
        "current EL SPx IRQ",
        "current EL SPx FIQ",
        "current EL SPx SError",
        "lower EL AArch64 sync",
        "lower EL AArch64 IRQ",
        "lower EL AArch64 FIQ",
        "lower EL AArch64 SError",
        "lower EL AArch32 sync",
        "lower EL AArch32 IRQ",
        "lower EL AArch32 FIQ",
        "lower EL AArch32 SError",
    ];
    NAMES.get(v as usize).copied().unwrap_or("?")
}

fn get(vcpu: &VcpuFd, id: u64) -> Result<u64> {
    let mut b = [0u8; 8];
    vcpu.get_one_reg(id, &mut b).map_err(|e| format!("KVM_GET_ONE_REG {id:#x}: {e}"))?;
    Ok(u64::from_le_bytes(b))
}
fn set(vcpu: &VcpuFd, id: u64, v: u64) -> Result<()> {
    vcpu.set_one_reg(id, &v.to_le_bytes()).map(|_| ()).map_err(|e| format!("KVM_SET_ONE_REG {id:#x} = {v:#x}: {e}"))
}

/// Guest RAM as the VMM sees it.
struct Ram {
    base: *mut u8,
}
impl Ram {
    fn offset(&self, gpa: u64, len: u64) -> Result<usize> {
        if gpa < RAM_GPA || gpa + len > RAM_GPA + RAM_SIZE as u64 {
            return Err(format!("IPA {gpa:#x}+{len} outside guest RAM"));
        }
        Ok((gpa - RAM_GPA) as usize)
    }
    fn read_u64(&self, gpa: u64) -> Result<u64> {
        let o = self.offset(gpa, 8)?;
        // SAFETY: within the mapping, aligned by construction.
        Ok(unsafe { std::ptr::read_volatile(self.base.add(o) as *const u64) })
    }
    fn write_u64(&self, gpa: u64, v: u64) -> Result<()> {
        let o = self.offset(gpa, 8)?;
        // SAFETY: as above.
        unsafe { std::ptr::write_volatile(self.base.add(o) as *mut u64, v) };
        Ok(())
    }
    fn write(&self, gpa: u64, data: &[u8]) -> Result<()> {
        let o = self.offset(gpa, data.len() as u64)?;
        // SAFETY: within the mapping.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.add(o), data.len()) };
        Ok(())
    }
    fn read(&self, gpa: u64, len: u64) -> Result<Vec<u8>> {
        let o = self.offset(gpa, len)?;
        // SAFETY: within the mapping.
        Ok(unsafe { std::slice::from_raw_parts(self.base.add(o), len as usize) }.to_vec())
    }

    /// The index of `va` at `level` (0-3) of a 4 KiB-granule, 48-bit walk.
    fn index(va: u64, level: u64) -> u64 {
        (va >> (39 - 9 * level)) & 511
    }
    /// Maps `va` to `frame` with `desc` in the tables rooted at `root`
    /// (the intermediate tables are the given pages, linked on the way).
    fn map(&self, root: u64, tables: [u64; 3], va: u64, frame: u64, desc: u64) -> Result<()> {
        let mut table = root;
        for level in 0..3 {
            let slot = table + 8 * Self::index(va, level as u64);
            let next = gpa(tables[level]);
            self.write_u64(slot, next | VALID | TABLE)?;
            table = next;
        }
        self.write_u64(table + 8 * Self::index(va, 3), (frame & ADDR_MASK) | desc)
    }
    /// The L3 descriptor's IPA for `va` under TTBR0 (every level present).
    fn leaf(&self, root: u64, va: u64) -> Result<u64> {
        let mut table = root;
        for level in 0..3 {
            let e = self.read_u64(table + 8 * Self::index(va, level))?;
            if e & (VALID | TABLE) != VALID | TABLE {
                return Err(format!("{va:#x}: no table at level {level}"));
            }
            table = e & ADDR_MASK;
        }
        Ok(table + 8 * Self::index(va, 3))
    }
    /// Reads `len` bytes of the program's memory at `va`, as the kernel's
    /// copy_from_user: through the page tables, EL0-readable pages only.
    fn read_user(&self, root: u64, va: u64, len: u64) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len as usize);
        let mut at = va;
        while at < va + len {
            let e = self.read_u64(self.leaf(root, at)?)?;
            if e & (VALID | AP_USER) != VALID | AP_USER {
                return Err(format!("EFAULT: {at:#x} not readable by the program"));
            }
            let n = (PAGE - at % PAGE).min(va + len - at);
            out.extend(self.read((e & ADDR_MASK) + at % PAGE, n)?);
            at += n;
        }
        Ok(out)
    }
}

/// Round-trip samples of one kind of exit.
#[derive(Default)]
struct Samples {
    round_trip: Vec<Duration>,
    serve: Vec<Duration>,
}
fn stats(v: &[Duration]) -> String {
    let mut s = v.to_vec();
    s.sort();
    let n = s.len();
    if n == 0 {
        return "n 0".into();
    }
    let mean = s.iter().sum::<Duration>() / n as u32;
    format!(
        "n {n} min {} median {} p90 {} max {} mean {}",
        us(s[0]),
        us(s[n / 2]),
        us(s[n * 9 / 10]),
        us(s[n - 1]),
        us(mean)
    )
}
fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s.get(s.len() / 2).copied().unwrap_or_default()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    SvcEret,
    SvcDirect,
    El0Mmio,
    SvcSave,
    Other,
}

/// Completes the pending MMIO exit without entering the guest (KVM_RUN
/// with immediate_exit: KVM retires the store, PC + 4, and returns
/// EINTR), so that a PC set afterwards is taken as is.
fn complete_mmio(vcpu: &mut VcpuFd) -> Result<()> {
    vcpu.set_kvm_immediate_exit(1);
    let r = vcpu.run().map(|_| ()).map_err(|e| e.errno());
    vcpu.set_kvm_immediate_exit(0);
    match r {
        Err(libc::EINTR) => Ok(()),
        Err(e) => Err(format!("KVM_RUN (immediate_exit): errno {e}")),
        Ok(()) => Err("KVM_RUN (immediate_exit) returned an exit".into()),
    }
}

pub fn probe() -> Result<()> {
    let t_all = Instant::now();
    if STUB.len() as u64 <= STUB_FLUSH || USER.len() as u64 > PAGE {
        return Err(format!("stub {} bytes, program {} bytes: not as asm/ lays them out", STUB.len(), USER.len()));
    }
    let kvm = Kvm::new().map_err(|e| format!("open /dev/kvm: {e}"))?;
    let vm = kvm.create_vm().map_err(|e| format!("KVM_CREATE_VM: {e}"))?;
    let mem = guest_ram(RAM_SIZE)?;
    let ram = Ram { base: mem.cast() };
    let region = kvm_userspace_memory_region {
        slot: 0,
        flags: 0,
        guest_phys_addr: RAM_GPA,
        memory_size: RAM_SIZE as u64,
        userspace_addr: mem as u64,
    };
    // SAFETY: the mapping outlives the VM (never unmapped).
    unsafe { vm.set_user_memory_region(region) }.map_err(|e| format!("KVM_SET_USER_MEMORY_REGION: {e}"))?;

    // The page tables and what they map.
    let (root0, root1) = (gpa(T0_L0), gpa(T1_L0));
    let t0 = [T0_L1, T0_L2, T0_L3];
    let t1 = [T1_L1, T1_L2, T1_L3];
    ram.write(gpa(F_STUB), STUB)?;
    ram.write(gpa(F_CODE), USER)?;
    ram.map(root1, t1, STUB_VA, gpa(F_STUB), KERNEL_RX)?;
    ram.map(root1, t1, STUB_VA + PAGE, gpa(F_STUB + 1), KERNEL_RX)?;
    ram.map(root1, t1, SAVE_VA, gpa(F_SAVE), KERNEL_RW)?;
    ram.map(root1, t1, DOORBELL_VA, DOORBELL_EL1, DEVICE_EL1)?;
    ram.map(root0, t0, CODE_VA, gpa(F_CODE), USER_RX)?;
    ram.map(root0, t0, RO_VA, gpa(F_RO), USER_RO)?;
    ram.map(root0, t0, EL0_DOORBELL_VA, DOORBELL_EL0, DEVICE_EL0)?;
    // LAZY_VA: left unmapped (its L3 entry is 0) until the program touches it.

    // The vCPU.
    let mut vcpu = vm.create_vcpu(0).map_err(|e| format!("KVM_CREATE_VCPU: {e}"))?;
    let mut kvi = kvm_vcpu_init::default();
    vm.get_preferred_target(&mut kvi).map_err(|e| format!("KVM_ARM_PREFERRED_TARGET: {e}"))?;
    kvi.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2;
    vcpu.vcpu_init(&kvi).map_err(|e| format!("KVM_ARM_VCPU_INIT: {e}"))?;

    let mmfr0 = get(&vcpu, id_aa64mmfr0_el1())?;
    let mmfr1 = get(&vcpu, id_aa64mmfr1_el1())?;
    let parange = mmfr0 & 0xf;
    let hafdbs = mmfr1 & 0xf;
    let ips = parange.min(0b110); // IPS encodes what PARange does (0b110: 52 bits)
    let tcr = TCR | ips << 32 | if hafdbs >= 1 { TCR_HA } else { 0 } | if hafdbs >= 2 { TCR_HD } else { 0 };
    let regs: [(&str, u64, u64); 11] = [
        ("SCTLR_EL1", sctlr_el1(), SCTLR),
        ("TCR_EL1", tcr_el1(), tcr),
        ("MAIR_EL1", mair_el1(), MAIR),
        ("TTBR0_EL1", ttbr0_el1(), root0),
        ("TTBR1_EL1", ttbr1_el1(), root1),
        ("VBAR_EL1", vbar_el1(), STUB_VA),
        ("CPACR_EL1", cpacr_el1(), CPACR),
        ("SP_EL1", sp_el1(), SAVE_VA),
        ("SP_EL0", sp_el0(), 0),
        ("PC", pc_reg(), CODE_VA),
        ("PSTATE", pstate(), PSTATE_EL0T),
    ];
    for (name, id, value) in regs {
        let reset = get(&vcpu, id)?;
        set(&vcpu, id, value)?;
        let back = get(&vcpu, id)?;
        println!(
            "el0_reg: {name} id {id:#x} reset {reset:#x} set {value:#x}{}",
            if back == value { String::new() } else { format!(" READ BACK {back:#x}") }
        );
        if back != value {
            return Err(format!("{name} reads back {back:#x}, set {value:#x}"));
        }
    }
    set(&vcpu, xreg(19), LOOPS)?;
    set(&vcpu, xreg(22), LOOPS)?;
    set(&vcpu, xreg(23), LOOPS)?;
    set(&vcpu, xreg(24), LOOPS)?;
    println!(
        "el0_mmu: PARange {parange} -> IPS {ips}, HAFDBS {hafdbs} -> HA {} HD {}",
        (tcr & TCR_HA != 0) as u8,
        (tcr & TCR_HD != 0) as u8
    );

    // Run, playing Linux.
    let mut samples = [Samples::default(), Samples::default(), Samples::default(), Samples::default()];
    let mut exits_by_vector = [0u64; 16];
    let mut prev_kind = Kind::Other;
    let mut prev_exit = Instant::now();
    let mut exit_status = None;
    let mut written = None;
    let mut getuid_first_elr = None;
    let mut getuid_landing = None;
    let mut faults = Vec::new();
    let mut getpid_seen = 0u64;
    let mut getppid_seen = 0u64;
    let mut el0_mmio_seen = 0u64;
    let mut geteuid_seen = 0u64;
    let mut kvm_run_time = [Duration::ZERO; 4];
    let deadline = Instant::now() + Duration::from_secs(120);
    let t_run = Instant::now();
    while exit_status.is_none() {
        if Instant::now() > deadline {
            return Err("the program ran 120 s without exiting".into());
        }
        let before_run = Instant::now();
        let addr = match vcpu.run().map_err(|e| format!("KVM_RUN: {e}"))? {
            VcpuExit::MmioWrite(addr, _) => addr,
            other => {
                let other = format!("{other:?}");
                let pc = get(&vcpu, pc_reg()).unwrap_or(0);
                return Err(format!("unexpected exit {other} at PC {pc:#x}"));
            }
        };
        let exited = Instant::now();
        let in_kvm_run = exited - before_run;
        let mut record = |kind: Kind, served: Duration| {
            if kind == prev_kind && kind != Kind::Other {
                let i = kind as usize;
                samples[i].round_trip.push(exited - prev_exit);
                samples[i].serve.push(served);
                kvm_run_time[i] += in_kvm_run;
            }
        };
        if addr == DOORBELL_EL0 {
            el0_mmio_seen += 1;
            record(Kind::El0Mmio, Duration::ZERO);
            prev_kind = Kind::El0Mmio;
            prev_exit = exited;
            continue;
        }
        if !(DOORBELL_EL1..DOORBELL_EL1 + 2 * 16 * 8).contains(&addr) || addr % 8 != 0 {
            return Err(format!("MMIO write to {addr:#x}: neither doorbell"));
        }
        // The save-area stub rings doorbell + 0x80 + 8 * vector.
        let saved = addr - DOORBELL_EL1 >= 0x80;
        let vector = (addr - DOORBELL_EL1) / 8 % 16;
        exits_by_vector[vector as usize] += 1;
        let save = gpa(F_SAVE);
        let esr = if saved { ram.read_u64(save + SAVE_ESR)? } else { get(&vcpu, esr_el1())? };
        if vector != VEC_LOWER_SYNC {
            let elr = get(&vcpu, elr_el1())?;
            let far = get(&vcpu, far_el1())?;
            return Err(format!(
                "vector {vector} ({}): ESR_EL1 {esr:#x} ELR_EL1 {elr:#x} FAR_EL1 {far:#x}",
                vector_name(vector)
            ));
        }
        let ec = esr >> 26;
        let mut kind = Kind::Other;
        match ec {
            EC_SVC64 => {
                if esr != ESR_SVC0 {
                    return Err(format!("SVC with ESR_EL1 {esr:#x}, expected {ESR_SVC0:#x}"));
                }
                let nr = if saved { ram.read_u64(save + 8 * 8)? } else { get(&vcpu, xreg(8))? };
                if saved && nr != 175 && nr != 93 {
                    return Err(format!("syscall {nr} through the save-area stub: not expected"));
                }
                match nr {
                    172 => {
                        // getpid: the eret path, the VMM's whole work is x0.
                        set(&vcpu, xreg(0), PID)?;
                        getpid_seen += 1;
                        kind = Kind::SvcEret;
                    }
                    173 => {
                        // getppid: the direct path.
                        let elr = get(&vcpu, elr_el1())?;
                        let spsr = get(&vcpu, spsr_el1())?;
                        set(&vcpu, xreg(0), 1)?;
                        complete_mmio(&mut vcpu)?;
                        set(&vcpu, pc_reg(), elr)?;
                        set(&vcpu, pstate(), spsr)?;
                        getppid_seen += 1;
                        kind = Kind::SvcDirect;
                    }
                    174 => {
                        // getuid, three in a row: the first answered by
                        // setting PC/PSTATE without completing the MMIO.
                        let elr = get(&vcpu, elr_el1())?;
                        set(&vcpu, xreg(0), 0)?;
                        match getuid_first_elr {
                            None => {
                                getuid_first_elr = Some(elr);
                                let spsr = get(&vcpu, spsr_el1())?;
                                set(&vcpu, pc_reg(), elr)?;
                                set(&vcpu, pstate(), spsr)?;
                            }
                            Some(first) if getuid_landing.is_none() => {
                                getuid_landing = Some(elr - first);
                            }
                            Some(_) => {}
                        }
                    }
                    175 if saved => {
                        // geteuid through the save-area stub: the VMM's whole
                        // work is a store to the save area's x0.
                        ram.write_u64(save, 0)?;
                        geteuid_seen += 1;
                        kind = Kind::SvcSave;
                    }
                    175 => {
                        // The first geteuid, through the minimal stub:
                        // answer it, then switch to the save-area stub.
                        set(&vcpu, xreg(0), 0)?;
                        set(&vcpu, vbar_el1(), STUB_VA + STUB_SAVE_VECTORS)?;
                        geteuid_seen += 1;
                    }
                    64 => {
                        let fd = get(&vcpu, xreg(0))?;
                        let buf = get(&vcpu, xreg(1))?;
                        let len = get(&vcpu, xreg(2))?;
                        let data = ram.read_user(root0, buf, len)?;
                        println!("el0_write: fd {fd} {:?} ({len} bytes)", String::from_utf8_lossy(&data));
                        written = Some((fd, data));
                        set(&vcpu, xreg(0), len)?;
                    }
                    93 if saved => {
                        exit_status = Some(ram.read_u64(save)?);
                        let elr = ram.read_u64(save + SAVE_ELR)?;
                        println!("el0_exit_via_save_area_stub: ELR_EL1 {elr:#x}");
                    }
                    93 => exit_status = Some(get(&vcpu, xreg(0))?),
                    _ => return Err(format!("syscall {nr}: not served here")),
                }
            }
            EC_DABT_LOW => {
                let far = get(&vcpu, far_el1())?;
                let elr = get(&vcpu, elr_el1())?;
                let fsc = esr & 0x3f;
                let wnr = esr >> 6 & 1;
                let leaf = ram.leaf(root0, far)?;
                match fsc {
                    0b000100..=0b000111 if far & !(PAGE - 1) == LAZY_VA => {
                        // Translation fault: map the page, the load runs again
                        // (an invalid entry is never in the TLB: no flush).
                        ram.write_u64(gpa(F_LAZY), LAZY_PATTERN)?;
                        ram.write_u64(leaf, gpa(F_LAZY) | USER_RW)?;
                        println!(
                            "el0_fault: translation ESR_EL1 {esr:#x} FAR_EL1 {far:#x} ELR_EL1 {elr:#x} WnR {wnr} -> mapped"
                        );
                        faults.push((esr, far));
                    }
                    0b001100..=0b001111 if far & !(PAGE - 1) == RO_VA => {
                        // Permission fault: make it writable; the old
                        // translation may be in the TLB, so return through
                        // the stub's flush path.
                        let e = ram.read_u64(leaf)?;
                        ram.write_u64(leaf, e & !AP_RDONLY)?;
                        complete_mmio(&mut vcpu)?;
                        set(&vcpu, pc_reg(), STUB_VA + STUB_FLUSH)?;
                        println!(
                            "el0_fault: permission ESR_EL1 {esr:#x} FAR_EL1 {far:#x} ELR_EL1 {elr:#x} WnR {wnr} -> made writable, TLB flushed"
                        );
                        faults.push((esr, far));
                    }
                    _ => {
                        return Err(format!(
                            "data abort ESR_EL1 {esr:#x} FAR_EL1 {far:#x} ELR_EL1 {elr:#x}: not expected"
                        ))
                    }
                }
            }
            _ => {
                let elr = get(&vcpu, elr_el1())?;
                return Err(format!("exception EC {ec:#x} ESR_EL1 {esr:#x} ELR_EL1 {elr:#x}: not expected"));
            }
        }
        let served = exited.elapsed();
        record(kind, served);
        prev_kind = kind;
        prev_exit = exited;
    }
    let total_run = t_run.elapsed();

    // The program's view at exit.
    let status = exit_status.unwrap();
    println!("el0_exit: {status}");
    let x20 = get(&vcpu, xreg(20))?;
    let x21 = get(&vcpu, xreg(21))?;
    let stored = ram.read_u64(gpa(F_RO) + 8)?;
    println!(
        "el0_after_faults: x20 {x20} (write's result) x21 {x21:#x} (loaded from {LAZY_VA:#x}) {:#x} holds {stored:#x}",
        RO_VA + 8
    );
    let landing = match getuid_landing {
        Some(4) => "PC as set: KVM applied no pending increment".to_string(),
        Some(8) => "PC as set + 4: KVM still retired the MMIO store on the next KVM_RUN".to_string(),
        Some(d) => format!("unexpected: next svc at first ELR + {d}"),
        None => "not seen".into(),
    };
    println!("el0_direct_return_without_completion: {landing}");
    println!("el0_exits_by_vector: {}", {
        let v: Vec<String> = exits_by_vector
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| format!("{i} ({}) {n}", vector_name(i as u64)))
            .collect();
        v.join(", ")
    });
    let names = [
        ("el0_svc_eret_round_trip_us", "getpid: GET ESR_EL1, GET x8, SET x0, KVM_RUN; the stub erets"),
        (
            "el0_svc_direct_round_trip_us",
            "getppid: GET ESR_EL1, x8, ELR_EL1, SPSR_EL1, SET x0, KVM_RUN(immediate_exit), SET PC, PSTATE, KVM_RUN",
        ),
        ("el0_mmio_round_trip_us", "str xzr at EL0 to an EL0-mapped doorbell, no stub, no ONE_REG"),
        (
            "el0_svc_save_area_round_trip_us",
            "geteuid: save-area stub, VMM reads x8 and writes x0 in shared memory, KVM_RUN",
        ),
    ];
    for (i, (name, what)) in names.iter().enumerate() {
        let s = &samples[i];
        let n = s.round_trip.len().max(1) as u32;
        println!(
            "{name}: {} (serve median {}, KVM_RUN mean {}) [{what}]",
            stats(&s.round_trip),
            us(median(&s.serve)),
            us(kvm_run_time[i] / n)
        );
    }
    println!("el0_run_total_ms: {:.1}", total_run.as_secs_f64() * 1e3);
    println!("el0_total_ms: {:.1}", t_all.elapsed().as_secs_f64() * 1e3);

    // The verdict.
    let want_faults = [(ESR_TRANSLATION_L3_READ, LAZY_VA), (ESR_PERMISSION_L3_WRITE, RO_VA + 8)];
    if faults != want_faults {
        return Err(format!("faults {faults:x?}, expected {want_faults:x?}"));
    }
    if written != Some((1, MSG.to_vec())) {
        return Err("the write syscall did not carry the program's string".into());
    }
    if status != 0 || x20 != MSG.len() as u64 || x21 != LAZY_PATTERN || stored != LAZY_PATTERN {
        return Err("the program did not see its syscalls' results or its faulted pages".into());
    }
    if getpid_seen != LOOPS || getppid_seen != LOOPS || el0_mmio_seen != LOOPS || geteuid_seen != LOOPS {
        return Err(format!(
            "loops: getpid {getpid_seen} getppid {getppid_seen} geteuid {geteuid_seen} EL0 MMIO {el0_mmio_seen}, expected {LOOPS} each"
        ));
    }
    if getuid_landing.is_none() {
        return Err("the direct-return check did not run".into());
    }
    Ok(())
}
