//! The way between the program at EL0 and the VMM: the EL1 vector stub
//! (guest/aarch64/vectors.S, `faultline_guest::VECTORS_AARCH64`) and the
//! per-vCPU save area it spills the user state into, at SP_EL1.
//!
//! The protocol, for the VMM (hv/aarch64.rs, sandbox/entry/aarch64.rs):
//! - Each vCPU's SP_EL1 is its save area (a page of normal memory, EL1 RW)
//!   and SP_EL1 + [`DOORBELL_OFFSET`] its doorbell page (device memory, EL1,
//!   an IPA with no memslot). VBAR_EL1 is the stub's first byte.
//! - A trap: the stub saves the whole user state ([`SaveArea`]) and stores
//!   to doorbell + 8 * vector, a KVM_EXIT_MMIO write whose address names
//!   the vector ([`doorbell_vector`]); PC is then at `vec_report_store`
//!   ([`Stopped::Reported`]). The VMM reads and edits the save area, then
//!   just runs the vCPU again: KVM retires the store (PC + 4) and the stub
//!   reloads everything from the save area and erets to its ELR/SPSR. Never
//!   write PC then: KVM would add 4 to it on the next KVM_RUN.
//! - A fresh start (a new vCPU, or one stopped anywhere else): fill the
//!   save area ([`SaveArea::enter`]), complete any pending MMIO (KVM_RUN
//!   with immediate_exit), then set PC = stub + [`enter_offset`], PSTATE =
//!   [`ENTER_PSTATE`] and SP_EL1 = the save area, by ONE_REG.
//! - A kick (KVM_RUN returned EINTR: KVM completed any MMIO before that, so
//!   none is pending) that finds PSTATE at EL1 asks [`where_stopped`]:
//!   Saving or Reported, the trap is still on its way and is reported by the
//!   next KVM_RUN, so leave the vCPU as it is; Restoring, the save area holds
//!   the state the vCPU is returning to: edit it, then set PC = stub +
//!   [`restore_offset`] (the restore path can be rerun from its start).
//! - Page-table roots: [`SaveArea::load_root`] puts TTBR0/TTBR1 in the save
//!   area with [`flags::LOAD_ROOT`]; the stub's restore loads them, flushes
//!   this vCPU's TLB (`tlbi vmalle1`: every root uses ASID 0, and KVM does
//!   not flush when TTBR0 changes) and clears the flags. The new TTBR1 must
//!   map the stub and the save area where the old one did.
//!   [`flags::FLUSH_TLB`] flushes without loading.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::regs::{pstate, Tls, UserFpsimdState, UserPtRegs, UserRegs};

/// The save area at SP_EL1, as vectors.S lays it out (its `sa_*`
/// constants). The first 272 bytes are the user's `user_pt_regs` (x0-x30,
/// SP_EL0, ELR_EL1 as pc, SPSR_EL1 as pstate), `fpsimd` its
/// `user_fpsimd_state` (V0-V31, FPSR, FPCR).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SaveArea {
    pub regs: UserPtRegs,
    pub tpidr_el0: u64,
    /// ESR_EL1 and FAR_EL1 as the trap left them (read-only to the VMM).
    pub esr: u64,
    pub far: u64,
    /// The vector that reported (0-15), as the doorbell address says too.
    pub vector: u64,
    /// [`flags`]: what the stub does on its way back; it clears them.
    pub flags: u64,
    /// Loaded with [`flags::LOAD_ROOT`].
    pub ttbr0: u64,
    pub ttbr1: u64,
    pub reserved: u64,
    pub fpsimd: UserFpsimdState,
}
const _: () = assert!(size_of::<SaveArea>() == 864);
const _: () = assert!(size_of::<SaveArea>() as u64 <= DOORBELL_OFFSET);

/// The save area's `flags`.
pub mod flags {
    /// Load TTBR0_EL1 and TTBR1_EL1 from the save area, then flush.
    pub const LOAD_ROOT: u64 = 1 << 0;
    /// Flush this vCPU's TLB (`tlbi vmalle1`).
    pub const FLUSH_TLB: u64 = 1 << 1;
}

/// The doorbell page, from SP_EL1 (the save area's page).
pub const DOORBELL_OFFSET: u64 = 0x1000;

/// PSTATE to start the stub with: EL1h (SP is SP_EL1), D, A, I, F masked.
pub const ENTER_PSTATE: u64 = pstate::D | pstate::A | pstate::I | pstate::F | 0b0101;

/// Vector numbers (the vector's offset in the table / 0x80): 0-3 current
/// EL with SP_EL0, 4-7 current EL with SP_ELx (the stub itself faulted),
/// 8-11 lower EL AArch64, 12-15 lower EL AArch32; each group sync, IRQ,
/// FIQ, SError.
pub mod vector {
    /// SVC and every synchronous exception from EL0: the one a program takes.
    pub const LOWER_SYNC: u8 = 8;
    pub const LOWER_IRQ: u8 = 9;
    pub const LOWER_FIQ: u8 = 10;
    pub const LOWER_SERROR: u8 = 11;
    pub const COUNT: u8 = 16;

    /// What vector `v` is, for messages.
    pub fn name(v: u8) -> &'static str {
        const NAMES: [&str; COUNT as usize] = [
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
}

/// The vector an MMIO write at `offset` into the doorbell page names, if
/// it is one the stub makes.
pub fn doorbell_vector(offset: u64) -> Option<u8> {
    (offset.is_multiple_of(8) && offset / 8 < vector::COUNT as u64).then_some((offset / 8) as u8)
}

impl SaveArea {
    /// The save area of a vCPU entering user mode afresh (or after the VMM
    /// rebuilt its whole state): `regs` (pc becomes ELR_EL1, pstate
    /// SPSR_EL1), TLS, FP/SIMD, and the roots to load.
    pub fn enter(regs: &UserRegs, tls: Tls, fpsimd: &UserFpsimdState, ttbr0: u64, ttbr1: u64) -> Self {
        let mut s = SaveArea { fpsimd: *fpsimd, ..Default::default() };
        regs.write_save(&mut s);
        s.set_tls(tls);
        s.load_root(ttbr0, ttbr1);
        s
    }

    /// The thread's TLS register as the trap found it (EL0 writes
    /// TPIDR_EL0 itself).
    pub fn tls(&self) -> Tls {
        Tls { tpidr_el0: self.tpidr_el0 }
    }
    pub fn set_tls(&mut self, tls: Tls) {
        self.tpidr_el0 = tls.tpidr_el0;
    }

    /// Has the stub load these roots (and flush) on its way back.
    pub fn load_root(&mut self, ttbr0: u64, ttbr1: u64) {
        (self.ttbr0, self.ttbr1) = (ttbr0, ttbr1);
        self.flags |= flags::LOAD_ROOT;
    }

    /// Has the stub flush this vCPU's TLB on its way back.
    pub fn flush_tlb(&mut self) {
        self.flags |= flags::FLUSH_TLB;
    }
}

impl UserRegs {
    /// The registers a trap saved (orig_x0 = x0, as at any trap).
    pub fn from_save(s: &SaveArea) -> Self {
        UserRegs::at_trap(&s.regs)
    }

    /// Puts these registers where the stub reloads them from.
    pub fn write_save(&self, s: &mut SaveArea) {
        s.regs = self.pt();
    }
}

/// Where in the stub a vCPU stopped at EL1 is (see the module's protocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// In a vector or saving: the save area is not yet complete, and the
    /// trap has not reached the VMM. Resume as is. (Vectors 0-7, the stub's
    /// own faults, report from their vector and save nothing.)
    Saving,
    /// At the doorbell store. After an MMIO exit: the trap, reported (the
    /// save area is complete); after a kick, the store has yet to run:
    /// resume as is and it reports.
    Reported,
    /// Reloading from the save area: edit it, then restart at
    /// [`restore_offset`].
    Restoring,
}

/// The value of vectors.S's symbol `name` (a label's offset in the image,
/// or a constant).
fn symbol(name: &str) -> u64 {
    faultline_guest::vectors_symbol(name).unwrap_or_else(|| panic!("vector stub symbol {name} missing"))
}

/// Where a fresh vCPU starts: PC = the stub + this.
pub fn enter_offset() -> u64 {
    symbol("vec_enter")
}

/// Where a vCPU restarts its way back to user mode.
pub fn restore_offset() -> u64 {
    symbol("vec_restore")
}

/// Where in the stub `pc_offset` (PC less the stub's address) is; None if
/// not in its code.
pub fn where_stopped(pc_offset: u64) -> Option<Stopped> {
    let store = symbol("vec_report_store");
    if pc_offset < store {
        Some(Stopped::Saving)
    } else if pc_offset == store {
        Some(Stopped::Reported)
    } else if (symbol("vec_restore")..=symbol("vec_eret")).contains(&pc_offset) {
        Some(Stopped::Restoring)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use super::*;

    /// The save area's byte offsets, named as vectors.S names them.
    const FIELDS: [(&str, usize); 15] = [
        ("sa_x", offset_of!(SaveArea, regs.regs)),
        ("sa_sp_el0", offset_of!(SaveArea, regs.sp)),
        ("sa_elr", offset_of!(SaveArea, regs.pc)),
        ("sa_spsr", offset_of!(SaveArea, regs.pstate)),
        ("sa_tpidr_el0", offset_of!(SaveArea, tpidr_el0)),
        ("sa_esr", offset_of!(SaveArea, esr)),
        ("sa_far", offset_of!(SaveArea, far)),
        ("sa_vector", offset_of!(SaveArea, vector)),
        ("sa_flags", offset_of!(SaveArea, flags)),
        ("sa_ttbr0", offset_of!(SaveArea, ttbr0)),
        ("sa_ttbr1", offset_of!(SaveArea, ttbr1)),
        ("sa_v", offset_of!(SaveArea, fpsimd.vregs)),
        ("sa_fpsr", offset_of!(SaveArea, fpsimd.fpsr)),
        ("sa_fpcr", offset_of!(SaveArea, fpsimd.fpcr)),
        ("sa_size", size_of::<SaveArea>()),
    ];

    /// Whether the stub was built (always for arm64; elsewhere only with
    /// aarch64-linux-gnu-gcc installed).
    fn built() -> bool {
        let built = !faultline_guest::VECTORS_SYMBOLS.is_empty();
        if !built {
            eprintln!("skipped: the vector stub was not built (no aarch64-linux-gnu-gcc on this host)");
        }
        built
    }

    /// The instruction word at `offset` in the stub.
    fn word(offset: u64) -> u32 {
        let at = offset as usize;
        u32::from_le_bytes(faultline_guest::VECTORS_AARCH64[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn the_save_area_matches_the_stub() {
        if !built() {
            return;
        }
        for (name, offset) in FIELDS {
            assert_eq!(symbol(name), offset as u64, "{name}");
        }
        for (name, _) in faultline_guest::VECTORS_SYMBOLS.iter().filter(|(n, _)| n.starts_with("sa_")) {
            assert!(FIELDS.iter().any(|(f, _)| f == name), "SaveArea has no {name}");
        }
        assert_eq!(symbol("flag_load_root"), flags::LOAD_ROOT);
        assert_eq!(symbol("flag_flush_tlb"), flags::FLUSH_TLB);
        assert_eq!(symbol("doorbell"), DOORBELL_OFFSET);
        assert_eq!(ENTER_PSTATE, 0x3c5);
    }

    // The instructions the protocol rests on, as aarch64-linux-gnu-objdump
    // shows them.
    #[test]
    fn each_vector_names_itself_and_the_report_is_one_register_store() {
        if !built() {
            return;
        }
        assert_eq!(symbol("vectors"), 0);
        // From EL1 (0-7): str xzr, [sp, #0x1000 + 8 * v]; b .-4 (after
        // msr spsel, #1 where SP was SP_EL0).
        for v in 0..8 {
            let at = v * 0x80 + if v < 4 { 4 } else { 0 };
            if v < 4 {
                assert_eq!(word(v * 0x80), 0xd500_41bf, "msr spsel, #1 at vector {v}");
            }
            assert_eq!(word(at), 0xf900_03ff | (((DOORBELL_OFFSET + 8 * v) / 8) as u32) << 10, "report {v}");
            assert_eq!(word(at + 4), 0x17ff_ffff, "b back to the report at vector {v}");
        }
        // From EL0 (8-15): stp x0, x1, [sp]; mov x0, #v; b save.
        for v in 8..vector::COUNT as u64 {
            let at = v * 0x80;
            assert_eq!(word(at), 0xa900_07e0, "stp x0, x1, [sp] at vector {v}");
            assert_eq!(word(at + 4), 0xd280_0000 | (v as u32) << 5, "mov x0, #{v}");
            // b save
            let b = word(at + 8);
            assert_eq!(b >> 26, 0b000101, "b at vector {v}");
            assert_eq!(at + 8 + 4 * (b & 0x03ff_ffff) as u64, symbol("save"), "vector {v} branches to save");
        }
        // add x1, sp, #0x1000; str xzr, [x1, x0, lsl #3]: a single-register
        // store with no writeback (ISV = 1), at doorbell + 8 * vector.
        assert_eq!(word(symbol("vec_report")), 0x9140_07e1);
        assert_eq!(symbol("vec_report_store"), symbol("vec_report") + 4);
        assert_eq!(word(symbol("vec_report_store")), 0xf820_783f);
        // KVM's PC + 4 after the store lands on the restore path.
        assert_eq!(restore_offset(), symbol("vec_report_store") + 4);
        assert_eq!(enter_offset(), restore_offset());
        assert_eq!(word(symbol("vec_eret")), 0xd69f_03e0);
        assert_eq!(symbol("vec_end"), symbol("vec_eret") + 4);
        assert_eq!(faultline_guest::VECTORS_AARCH64.len() as u64, symbol("vec_end"));
        assert!(symbol("vec_end") <= crate::arch::PAGE_SIZE);
    }

    #[test]
    fn a_pc_is_placed_in_the_stub() {
        if !built() {
            return;
        }
        let store = symbol("vec_report_store");
        assert_eq!(where_stopped(0), Some(Stopped::Saving));
        assert_eq!(where_stopped(8 * 0x80 + 4), Some(Stopped::Saving));
        assert_eq!(where_stopped(symbol("save")), Some(Stopped::Saving));
        assert_eq!(where_stopped(symbol("vec_report")), Some(Stopped::Saving));
        assert_eq!(where_stopped(store), Some(Stopped::Reported));
        assert_eq!(where_stopped(store + 4), Some(Stopped::Restoring));
        assert_eq!(where_stopped(symbol("vec_eret")), Some(Stopped::Restoring));
        assert_eq!(where_stopped(symbol("vec_end")), None);
        assert_eq!(where_stopped(0x40_1000), None);
    }

    #[test]
    fn doorbell_offsets_name_vectors() {
        assert_eq!(doorbell_vector(8 * vector::LOWER_SYNC as u64), Some(vector::LOWER_SYNC));
        assert_eq!(doorbell_vector(0), Some(0));
        assert_eq!(doorbell_vector(15 * 8), Some(15));
        assert_eq!(doorbell_vector(16 * 8), None);
        assert_eq!(doorbell_vector(12), None);
        assert_eq!(vector::name(vector::LOWER_SYNC), "lower EL AArch64 sync");
        assert_eq!(vector::name(16), "?");
    }

    #[test]
    fn registers_go_through_the_save_area() {
        let mut regs = UserRegs::user_start(0x40_017c, 0xffff_ffff_e000);
        regs.x[8] = 64;
        regs.x[30] = 0x1234;
        let fp = UserFpsimdState { fpcr: 0x0300_0000, ..Default::default() };
        let s = SaveArea::enter(&regs, Tls { tpidr_el0: 0x77 }, &fp, 0x4000_0000, 0x4000_1000);
        let b = s.as_bytes();
        let at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        assert_eq!((at(30 * 8), at(8 * 8)), (0x1234, 64));
        assert_eq!((at(248), at(256), at(264), at(272)), (0xffff_ffff_e000, 0x40_017c, 0, 0x77));
        assert_eq!((at(304), at(312), at(320)), (flags::LOAD_ROOT, 0x4000_0000, 0x4000_1000));
        assert_eq!(u32::from_le_bytes(b[852..856].try_into().unwrap()), 0x0300_0000);
        let mut back = UserRegs::from_save(&s);
        assert_eq!(back.orig_x0, back.x[0]);
        back.orig_x0 = regs.orig_x0;
        assert_eq!(back, regs);
        assert_eq!(s.tls(), Tls { tpidr_el0: 0x77 });
        let mut s = SaveArea::read_from_bytes(b).unwrap();
        s.flush_tlb();
        assert_eq!(s.flags, flags::LOAD_ROOT | flags::FLUSH_TLB);
    }
}
