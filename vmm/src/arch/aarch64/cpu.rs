//! The vCPU's EL1 system registers as faultline sets them (by
//! KVM_SET_ONE_REG, in hv/aarch64.rs), and what its ID registers mean for
//! a program: AT_HWCAP and AT_HWCAP2 as Linux derives them
//! (`arm64_elf_hwcaps` in arch/arm64/kernel/cpufeature.c, 6.1, the
//! emulated machine's kernel), masked to what this guest offers.
//!
//! Everything here is a pure function of register values, so it is
//! unit-tested on every host; only hv/ talks to KVM.

use super::entry;
use super::layout::VECTORS_VA;
use super::paging;
use super::regs::one_reg::sys_reg;
use super::regs::pstate;

/// The KVM_{GET,SET}_ONE_REG ids of the system registers faultline sets or
/// reads (ARM64_SYS_REG(op0, op1, CRn, CRm, op2)).
pub mod sysreg {
    use super::sys_reg;

    pub const SCTLR_EL1: u64 = sys_reg(3, 0, 1, 0, 0);
    pub const CPACR_EL1: u64 = sys_reg(3, 0, 1, 0, 2);
    pub const TTBR0_EL1: u64 = sys_reg(3, 0, 2, 0, 0);
    pub const TTBR1_EL1: u64 = sys_reg(3, 0, 2, 0, 1);
    pub const TCR_EL1: u64 = sys_reg(3, 0, 2, 0, 2);
    pub const MAIR_EL1: u64 = sys_reg(3, 0, 10, 2, 0);
    pub const VBAR_EL1: u64 = sys_reg(3, 0, 12, 0, 0);
    pub const CNTKCTL_EL1: u64 = sys_reg(3, 0, 14, 1, 0);

    pub const ID_AA64PFR0_EL1: u64 = sys_reg(3, 0, 0, 4, 0);
    pub const ID_AA64PFR1_EL1: u64 = sys_reg(3, 0, 0, 4, 1);
    pub const ID_AA64ISAR0_EL1: u64 = sys_reg(3, 0, 0, 6, 0);
    pub const ID_AA64ISAR1_EL1: u64 = sys_reg(3, 0, 0, 6, 1);
    pub const ID_AA64ISAR2_EL1: u64 = sys_reg(3, 0, 0, 6, 2);
    pub const ID_AA64MMFR0_EL1: u64 = sys_reg(3, 0, 0, 7, 0);
    pub const ID_AA64MMFR1_EL1: u64 = sys_reg(3, 0, 0, 7, 1);
    pub const ID_AA64MMFR2_EL1: u64 = sys_reg(3, 0, 0, 7, 2);
}

/// SCTLR_EL1 as arm64 Linux runs EL0 (INIT_SCTLR_EL1_MMU_ON less what
/// needs features this vCPU is not given: pointer auth, MTE, BTI), as
/// ci/arm64/probe's el0 proved: M, C, SA, SA0, SED, EOS, I, DZE (DC ZVA at
/// EL0), UCT (CTR_EL0 at EL0), nTWE (WFE at EL0 not trapped; nTWI clear:
/// WFI traps and is skipped, as on Linux), TSCXT, IESB, EIS, SPAN, UCI
/// (cache maintenance at EL0), nTLSMD, LSMAOE. WXN (programs may map pages
/// rwx), A, EE and E0E stay clear.
pub const SCTLR_EL1: u64 = 1 << 0 // M
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

/// CPACR_EL1.FPEN = 0b11: FP/SIMD at EL0 and EL1 not trapped (the stub
/// saves and restores V0-V31 itself).
pub const CPACR_EL1: u64 = 0b11 << 20;

/// CNTKCTL_EL1 as Linux's `arch_counter_set_user_access()` leaves it:
/// EL0VCTEN only, so a program reads CNTVCT_EL0 (and CNTFRQ_EL0) directly;
/// CNTPCT_EL0 (EL0PCTEN, bit 0, clear) and the timers trap (SIGILL, as on
/// Linux), and the event stream is off (no HWCAP_EVTSTRM).
pub const CNTKCTL_EL1: u64 = CNTKCTL_EL0VCTEN;
/// CNTKCTL_EL1.EL0VCTEN: EL0 may read CNTVCT_EL0.
pub const CNTKCTL_EL0VCTEN: u64 = 1 << 1;

/// MAIR_EL1: Attr0 normal write-back (every page, AttrIndx 0), Attr1
/// Device-nGnRnE (0x00: the doorbell pages, AttrIndx 1). paging's constant
/// already is that (its Attr1 byte is zero).
pub const MAIR_EL1: u64 = paging::MAIR_EL1;
const _: () = assert!(MAIR_EL1 & 0xff == 0xff && (MAIR_EL1 >> 8) & 0xff == 0x00);

/// TCR_EL1 for a vCPU whose ID_AA64MMFR0_EL1 is `mmfr0` and
/// ID_AA64MMFR1_EL1 `mmfr1`: paging's [`paging::TCR_EL1`] with IPS from
/// PARange, capped at 48 bits (0b101: the descriptors hold 48-bit output
/// addresses), and HA/HD only as far as HAFDBS offers them (1: access
/// flag, 2 or more: dirty state too). `hafdbs = false` clears both (the
/// FAULTLINE_ARM64_NO_HAFDBS knob), so the VMM does the CPU's part.
pub fn tcr(mmfr0: u64, mmfr1: u64, hafdbs: bool) -> u64 {
    let ips = (mmfr0 & 0xf).min(0b101);
    let have = if hafdbs { mmfr1 & 0xf } else { 0 };
    let mut t = (paging::TCR_EL1 & !(paging::TCR_HA | paging::TCR_HD | TCR_IPS_MASK)) | ips << 32;
    if have >= 1 {
        t |= paging::TCR_HA;
    }
    if have >= 2 {
        t |= paging::TCR_HD;
    }
    t
}
const TCR_IPS_MASK: u64 = 0b111 << 32;

/// The ID registers that decide a program's hwcaps, as the vCPU reads
/// them (KVM's sanitised view of the host's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdRegs {
    pub pfr0: u64,
    pub pfr1: u64,
    pub isar0: u64,
    pub isar1: u64,
    pub isar2: u64,
    pub mmfr0: u64,
    pub mmfr1: u64,
    pub mmfr2: u64,
}

impl IdRegs {
    /// The ONE_REG ids of the fields, in order.
    pub const IDS: [u64; 8] = [
        sysreg::ID_AA64PFR0_EL1,
        sysreg::ID_AA64PFR1_EL1,
        sysreg::ID_AA64ISAR0_EL1,
        sysreg::ID_AA64ISAR1_EL1,
        sysreg::ID_AA64ISAR2_EL1,
        sysreg::ID_AA64MMFR0_EL1,
        sysreg::ID_AA64MMFR1_EL1,
        sysreg::ID_AA64MMFR2_EL1,
    ];

    /// From values in [`IdRegs::IDS`]'s order.
    pub fn from_values(v: [u64; 8]) -> Self {
        let [pfr0, pfr1, isar0, isar1, isar2, mmfr0, mmfr1, mmfr2] = v;
        IdRegs { pfr0, pfr1, isar0, isar1, isar2, mmfr0, mmfr1, mmfr2 }
    }
}

/// AT_HWCAP bits (uapi/asm/hwcap.h).
pub mod hwcap {
    pub const FP: u64 = 1 << 0;
    pub const ASIMD: u64 = 1 << 1;
    pub const EVTSTRM: u64 = 1 << 2;
    pub const AES: u64 = 1 << 3;
    pub const PMULL: u64 = 1 << 4;
    pub const SHA1: u64 = 1 << 5;
    pub const SHA2: u64 = 1 << 6;
    pub const CRC32: u64 = 1 << 7;
    pub const ATOMICS: u64 = 1 << 8;
    pub const FPHP: u64 = 1 << 9;
    pub const ASIMDHP: u64 = 1 << 10;
    pub const CPUID: u64 = 1 << 11;
    pub const ASIMDRDM: u64 = 1 << 12;
    pub const JSCVT: u64 = 1 << 13;
    pub const FCMA: u64 = 1 << 14;
    pub const LRCPC: u64 = 1 << 15;
    pub const DCPOP: u64 = 1 << 16;
    pub const SHA3: u64 = 1 << 17;
    pub const SM3: u64 = 1 << 18;
    pub const SM4: u64 = 1 << 19;
    pub const ASIMDDP: u64 = 1 << 20;
    pub const SHA512: u64 = 1 << 21;
    pub const SVE: u64 = 1 << 22;
    pub const ASIMDFHM: u64 = 1 << 23;
    pub const DIT: u64 = 1 << 24;
    pub const USCAT: u64 = 1 << 25;
    pub const ILRCPC: u64 = 1 << 26;
    pub const FLAGM: u64 = 1 << 27;
    pub const SSBS: u64 = 1 << 28;
    pub const SB: u64 = 1 << 29;
    pub const PACA: u64 = 1 << 30;
    pub const PACG: u64 = 1 << 31;
}

/// AT_HWCAP2 bits (uapi/asm/hwcap.h).
pub mod hwcap2 {
    pub const DCPODP: u64 = 1 << 0;
    pub const SVE2: u64 = 1 << 1;
    pub const FLAGM2: u64 = 1 << 7;
    pub const FRINT: u64 = 1 << 8;
    pub const I8MM: u64 = 1 << 13;
    pub const BF16: u64 = 1 << 14;
    pub const DGH: u64 = 1 << 15;
    pub const RNG: u64 = 1 << 16;
    pub const BTI: u64 = 1 << 17;
    pub const MTE: u64 = 1 << 18;
    pub const ECV: u64 = 1 << 19;
    pub const AFP: u64 = 1 << 20;
    pub const RPRES: u64 = 1 << 21;
    pub const MTE3: u64 = 1 << 22;
    pub const SME: u64 = 1 << 23;
    pub const WFXT: u64 = 1 << 31;
    pub const EBF16: u64 = 1 << 32;
}

/// Which register a hwcap's field is in.
#[derive(Clone, Copy)]
enum Reg {
    Pfr0,
    Pfr1,
    Isar0,
    Isar1,
    Isar2,
    Mmfr0,
    Mmfr1,
    Mmfr2,
}

/// One row of `arm64_elf_hwcaps`: the cap is offered when the 4-bit field
/// at `shift` of `reg` is at least `min` (compared signed for `signed`
/// fields, where 0xf means "not implemented"), as `feature_matches()`.
struct Cap {
    reg: Reg,
    shift: u32,
    signed: bool,
    min: i64,
    /// false: AT_HWCAP, true: AT_HWCAP2.
    two: bool,
    bit: u64,
}

const fn cap(reg: Reg, shift: u32, min: i64, bit: u64) -> Cap {
    Cap { reg, shift, signed: false, min, two: false, bit }
}
const fn cap_signed(reg: Reg, shift: u32, min: i64, bit: u64) -> Cap {
    Cap { reg, shift, signed: true, min, two: false, bit }
}
const fn cap2(reg: Reg, shift: u32, min: i64, bit: u64) -> Cap {
    Cap { reg, shift, signed: false, min, two: true, bit }
}

/// Linux 6.1's `arm64_elf_hwcaps`, less what this guest does not offer:
/// SVE and SME (and their HWCAP2 bits: the vCPU has neither, and the
/// sigframe has no room for them), MTE, BTI (no PROT_BTI), pointer
/// authentication (the vCPU is not given it), CPUID (no MRS emulation)
/// and EVTSTRM (no event stream). Newer kernels' caps (CSSC, MOPS, HBC,
/// ...) are left out as 6.1 leaves them: native runs in the emulated
/// machine would not see them either (MOPS would also need SCTLR_EL1.MSCEn).
const CAPS: &[Cap] = {
    use Reg::*;
    &[
        cap(Isar0, 4, 2, hwcap::PMULL),
        cap(Isar0, 4, 1, hwcap::AES),
        cap(Isar0, 8, 1, hwcap::SHA1),
        cap(Isar0, 12, 1, hwcap::SHA2),
        cap(Isar0, 12, 2, hwcap::SHA512),
        cap(Isar0, 16, 1, hwcap::CRC32),
        cap(Isar0, 20, 2, hwcap::ATOMICS),
        cap(Isar0, 28, 1, hwcap::ASIMDRDM),
        cap(Isar0, 32, 1, hwcap::SHA3),
        cap(Isar0, 36, 1, hwcap::SM3),
        cap(Isar0, 40, 1, hwcap::SM4),
        cap(Isar0, 44, 1, hwcap::ASIMDDP),
        cap(Isar0, 48, 1, hwcap::ASIMDFHM),
        cap(Isar0, 52, 1, hwcap::FLAGM),
        cap2(Isar0, 52, 2, hwcap2::FLAGM2),
        cap2(Isar0, 60, 1, hwcap2::RNG),
        cap_signed(Pfr0, 16, 0, hwcap::FP),
        cap_signed(Pfr0, 16, 1, hwcap::FPHP),
        cap_signed(Pfr0, 20, 0, hwcap::ASIMD),
        cap_signed(Pfr0, 20, 1, hwcap::ASIMDHP),
        cap_signed(Pfr0, 48, 1, hwcap::DIT),
        cap(Isar1, 0, 1, hwcap::DCPOP),
        cap2(Isar1, 0, 2, hwcap2::DCPODP),
        cap(Isar1, 12, 1, hwcap::JSCVT),
        cap(Isar1, 16, 1, hwcap::FCMA),
        cap(Isar1, 20, 1, hwcap::LRCPC),
        cap(Isar1, 20, 2, hwcap::ILRCPC),
        cap2(Isar1, 32, 1, hwcap2::FRINT),
        cap(Isar1, 36, 1, hwcap::SB),
        cap2(Isar1, 44, 1, hwcap2::BF16),
        cap2(Isar1, 44, 2, hwcap2::EBF16),
        cap2(Isar1, 48, 1, hwcap2::DGH),
        cap2(Isar1, 52, 1, hwcap2::I8MM),
        cap(Mmfr2, 32, 1, hwcap::USCAT),
        // SSBS2: the PSTATE.SSBS bit is EL0-accessible (MSR SSBS).
        cap(Pfr1, 4, 2, hwcap::SSBS),
        cap2(Mmfr0, 60, 1, hwcap2::ECV),
        cap2(Mmfr1, 44, 1, hwcap2::AFP),
        cap2(Isar2, 4, 1, hwcap2::RPRES),
        // WFET runs at EL0 (nTWE); WFIT traps and is skipped as WFI is.
        cap2(Isar2, 0, 2, hwcap2::WFXT),
    ]
};

/// What this guest never offers, whatever the ID registers say: the
/// event stream, MRS emulation (CPUID), SVE, SME, MTE, BTI and pointer
/// authentication (see [`CAPS`]; none of them has a row there, and this
/// mask keeps it so).
pub const NOT_OFFERED: (u64, u64) = (
    hwcap::EVTSTRM | hwcap::CPUID | hwcap::SVE | hwcap::PACA | hwcap::PACG,
    hwcap2::SVE2 | hwcap2::BTI | hwcap2::MTE | hwcap2::MTE3 | hwcap2::SME,
);

/// AT_HWCAP and AT_HWCAP2 for a vCPU with ID registers `id`.
pub fn hwcaps(id: &IdRegs) -> (u64, u64) {
    let mut out = (0, 0);
    for c in CAPS {
        let reg = match c.reg {
            Reg::Pfr0 => id.pfr0,
            Reg::Pfr1 => id.pfr1,
            Reg::Isar0 => id.isar0,
            Reg::Isar1 => id.isar1,
            Reg::Isar2 => id.isar2,
            Reg::Mmfr0 => id.mmfr0,
            Reg::Mmfr1 => id.mmfr1,
            Reg::Mmfr2 => id.mmfr2,
        };
        let field = (reg >> c.shift) & 0xf;
        // A signed field: 0x8-0xf are negative (0xf: not implemented).
        let value = if c.signed && field >= 8 { field as i64 - 16 } else { field as i64 };
        if value >= c.min {
            if c.two {
                out.1 |= c.bit;
            } else {
                out.0 |= c.bit;
            }
        }
    }
    (out.0 & !NOT_OFFERED.0, out.1 & !NOT_OFFERED.1)
}

/// Where a vCPU that KVM_RUN left (after a kick) is, from its PC and
/// PSTATE (read by ONE_REG).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// In the program, at EL0: its registers are the vCPU's own (ONE_REG),
    /// not the save area's.
    User,
    /// At EL1 in the vector stub (see entry.rs's protocol).
    Stub(entry::Stopped),
}

/// Classifies a vCPU stopped with `pc` and `pstate`: EL0 is PSTATE.M[3:0]
/// = 0 (EL0t; an AArch32 EL0 would be there too, and never is). None: at
/// EL1 outside the stub's code, which never happens unless something went
/// wrong.
pub fn stopped(pc: u64, pstate: u64) -> Option<Stopped> {
    if pstate & pstate::MODE_MASK == 0 {
        return Some(Stopped::User);
    }
    pc.checked_sub(VECTORS_VA).and_then(entry::where_stopped).map(Stopped::Stub)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The ids as KVM's uapi computes them (ARM64_SYS_REG; Firecracker's
    // and QEMU's lists have the same values).
    #[test]
    fn sysreg_ids_match_the_uapi() {
        let ids = [
            (sysreg::SCTLR_EL1, 0x6030_0000_0013_c080),
            (sysreg::CPACR_EL1, 0x6030_0000_0013_c082),
            (sysreg::TTBR0_EL1, 0x6030_0000_0013_c100),
            (sysreg::TTBR1_EL1, 0x6030_0000_0013_c101),
            (sysreg::TCR_EL1, 0x6030_0000_0013_c102),
            (sysreg::MAIR_EL1, 0x6030_0000_0013_c510),
            (sysreg::VBAR_EL1, 0x6030_0000_0013_c600),
            (sysreg::CNTKCTL_EL1, 0x6030_0000_0013_c708),
            (sysreg::ID_AA64PFR0_EL1, 0x6030_0000_0013_c020),
            (sysreg::ID_AA64PFR1_EL1, 0x6030_0000_0013_c021),
            (sysreg::ID_AA64ISAR0_EL1, 0x6030_0000_0013_c030),
            (sysreg::ID_AA64ISAR1_EL1, 0x6030_0000_0013_c031),
            (sysreg::ID_AA64ISAR2_EL1, 0x6030_0000_0013_c032),
            (sysreg::ID_AA64MMFR0_EL1, 0x6030_0000_0013_c038),
            (sysreg::ID_AA64MMFR1_EL1, 0x6030_0000_0013_c039),
            (sysreg::ID_AA64MMFR2_EL1, 0x6030_0000_0013_c03a),
        ];
        for (i, (id, want)) in ids.into_iter().enumerate() {
            assert_eq!(id, want, "#{i}");
        }
    }

    #[test]
    fn a_stopped_vcpu_is_placed_by_pc_and_pstate() {
        assert_eq!(stopped(0x40_1000, 0), Some(Stopped::User));
        assert_eq!(stopped(VECTORS_VA, pstate::N), Some(Stopped::User));
        let el1h = entry::ENTER_PSTATE;
        assert_eq!(stopped(0x40_1000, el1h), None);
        if faultline_guest::VECTORS_SYMBOLS.is_empty() {
            eprintln!("skipped the stub's part: the vector stub was not built (no aarch64-linux-gnu-gcc)");
            return;
        }
        let store = faultline_guest::vectors_symbol("vec_report_store").unwrap();
        let at = |offset| stopped(VECTORS_VA + offset, el1h);
        assert_eq!(at(8 * 0x80), Some(Stopped::Stub(entry::Stopped::Saving)));
        assert_eq!(at(store), Some(Stopped::Stub(entry::Stopped::Reported)));
        assert_eq!(at(entry::restore_offset()), Some(Stopped::Stub(entry::Stopped::Restoring)));
        assert_eq!(at(0x1000), None);
    }

    #[test]
    fn control_registers_are_the_probes() {
        // ci/arm64/probe/src/el0.rs's SCTLR, MAIR and CPACR, which KVM took
        // and read back.
        assert_eq!(SCTLR_EL1, 0x34f4_d91d);
        assert_eq!(MAIR_EL1, 0x00ff);
        assert_eq!(CPACR_EL1, 0x30_0000);
        assert_eq!(CNTKCTL_EL1, 0b10);
        // WXN (19) stays clear: programs may map pages rwx.
        assert_eq!(SCTLR_EL1 & 1 << 19, 0);
    }

    #[test]
    fn tcr_takes_ips_and_hafdbs_from_the_id_registers() {
        let base = paging::TCR_EL1 & !(paging::TCR_HA | paging::TCR_HD);
        // The emulated machine: PARange 6 (52 bits), HAFDBS 2.
        assert_eq!(tcr(0x6, 0x2, true), base | 0b101 << 32 | paging::TCR_HA | paging::TCR_HD);
        assert_eq!(tcr(0x6, 0x2, false), base | 0b101 << 32);
        // 40-bit PAs (PARange 2), access flag only.
        assert_eq!(tcr(0x0000_0000_0000_1122, 0x1, true), base | 0b010 << 32 | paging::TCR_HA);
        assert_eq!(tcr(0x5, 0x0, true), base | 0b101 << 32);
        // HAFDBS 3 (HAFT) still means HA and HD; other MMFR1 fields ignored.
        assert_eq!(tcr(0x5, 0x1110_0003, true), base | 0b101 << 32 | paging::TCR_HA | paging::TCR_HD);
        // T0SZ/T1SZ 16, TG1 4 KiB, TBI0, as paging assumes.
        assert_eq!(tcr(0, 0, true) & 0x3f, 16);
        assert_eq!(tcr(0, 0, true) >> 16 & 0x3f, 16);
        assert_eq!(tcr(0, 0, true) >> 30 & 0b11, 0b10);
        assert_ne!(tcr(0, 0, true) & 1 << 37, 0);
    }

    #[test]
    fn a_neoverse_n1_gets_linuxs_hwcaps() {
        // Graviton2's ID registers; its /proc/cpuinfo: fp asimd evtstrm aes
        // pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc
        // dcpop asimddp ssbs (less evtstrm and cpuid here).
        let id = IdRegs {
            pfr0: 0x1100_0000_1011_1111,
            pfr1: 0x20,
            isar0: 0x0000_1000_1021_1120,
            isar1: 0x0010_0001,
            mmfr0: 0x0010_1122,
            mmfr1: 0x1012_2122,
            mmfr2: 0x1011,
            ..Default::default()
        };
        use hwcap::*;
        let want = FP
            | ASIMD
            | AES
            | PMULL
            | SHA1
            | SHA2
            | CRC32
            | ATOMICS
            | FPHP
            | ASIMDHP
            | ASIMDRDM
            | LRCPC
            | DCPOP
            | ASIMDDP
            | SSBS;
        assert_eq!(hwcaps(&id), (want, 0));
    }

    #[test]
    fn the_emulated_machines_pfr0_gives_fp_simd_and_dit_but_never_sve() {
        let id = IdRegs { pfr0: 0x1101_0010_2111_0222, ..Default::default() };
        use hwcap::*;
        assert_eq!(hwcaps(&id), (FP | FPHP | ASIMD | ASIMDHP | DIT, 0));
    }

    #[test]
    fn signed_fields_say_not_implemented_with_0xf() {
        let id = IdRegs { pfr0: 0xff << 16, ..Default::default() };
        assert_eq!(hwcaps(&id), (0, 0));
        // FP 0 (no half precision): FP without FPHP.
        let id = IdRegs { pfr0: 0, ..Default::default() };
        assert_eq!(hwcaps(&id), (hwcap::FP | hwcap::ASIMD, 0));
    }

    #[test]
    fn every_field_at_its_highest_offers_only_what_the_guest_has() {
        // All fields 7 (the highest positive value, signed or not).
        let all = 0x7777_7777_7777_7777;
        let id = IdRegs::from_values([all; 8]);
        let (h1, h2) = hwcaps(&id);
        use hwcap::*;
        let never1 = EVTSTRM | CPUID | SVE | PACA | PACG;
        assert_eq!(never1, NOT_OFFERED.0);
        assert_eq!(h1 & never1, 0);
        assert_eq!(h1, (u32::MAX as u64) & !never1);
        use hwcap2::*;
        let never2 = SVE2 | BTI | MTE | MTE3 | SME;
        assert_eq!(never2, NOT_OFFERED.1);
        assert_eq!(h2 & never2, 0);
        assert_eq!(h2, DCPODP | FLAGM2 | FRINT | I8MM | BF16 | DGH | RNG | ECV | AFP | RPRES | WFXT | EBF16);
        // Every field one step short of the second level: only the first.
        let id = IdRegs::from_values([0x1111_1111_1111_1111; 8]);
        let (h1, h2) = hwcaps(&id);
        assert_eq!(h1 & (PMULL | SHA512 | ATOMICS | ILRCPC | SSBS), 0);
        assert_ne!(h1 & (AES | SHA2 | LRCPC | FPHP), 0);
        assert_eq!(h2 & (DCPODP | FLAGM2 | EBF16 | WFXT), 0);
    }

    #[test]
    fn each_cap_reads_its_own_field() {
        // A field set alone turns on only its caps.
        let one = |reg: usize, shift: u32, v: u64| {
            let mut r = [0u64; 8];
            // PFR0's FP and AdvSIMD are signed: 0 means present, so the
            // baseline keeps them off.
            r[0] = 0xff << 16;
            r[reg] |= v << shift;
            hwcaps(&IdRegs::from_values(r))
        };
        assert_eq!(one(2, 4, 2), (hwcap::AES | hwcap::PMULL, 0));
        assert_eq!(one(2, 20, 2), (hwcap::ATOMICS, 0));
        assert_eq!(one(2, 20, 1), (0, 0));
        assert_eq!(one(2, 60, 1), (0, hwcap2::RNG));
        assert_eq!(one(3, 20, 3), (hwcap::LRCPC | hwcap::ILRCPC, 0));
        assert_eq!(one(4, 0, 2), (0, hwcap2::WFXT));
        assert_eq!(one(4, 0, 1), (0, 0));
        assert_eq!(one(5, 60, 1), (0, hwcap2::ECV));
        assert_eq!(one(6, 44, 1), (0, hwcap2::AFP));
        assert_eq!(one(7, 32, 1), (hwcap::USCAT, 0));
        assert_eq!(one(1, 4, 1), (0, 0));
        assert_eq!(one(1, 4, 2), (hwcap::SSBS, 0));
        // BT, MTE, SME (PFR1), SVE (PFR0) and pointer auth (ISAR1 APA,
        // API, GPA, GPI) offer nothing.
        for (reg, shift) in [(1, 0), (1, 8), (1, 24), (0, 32), (3, 4), (3, 8), (3, 24), (3, 28)] {
            assert_eq!(one(reg, shift, 1), (0, 0), "register {reg} shift {shift}");
        }
    }
}
