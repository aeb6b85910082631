//! GDT, TSS and IDT, laid out as Linux does for its selectors so that
//! programs that peek at CS/SS see familiar values.

use super::layout::{stub_va, IST_TOP_VA, TSS_VA, VECTORS};

pub const KERNEL_CS: u16 = 0x10;
pub const KERNEL_DS: u16 = 0x18;
/// STAR[63:48]: SYSRET loads CS = this + 16 and SS = this + 8 (RPL 3).
pub const USER32_CS: u16 = 0x23;
pub const USER_DS: u16 = 0x2b;
pub const USER_CS: u16 = 0x33;
pub const TSS_SEL: u16 = 0x40;

/// Flat descriptors, accessed bit preset so the CPU never writes the GDT.
const KERNEL_CODE64: u64 = 0x00af_9b00_0000_ffff;
const KERNEL_DATA: u64 = 0x00cf_9300_0000_ffff;
const USER_CODE32: u64 = 0x00cf_fb00_0000_ffff;
const USER_DATA: u64 = 0x00cf_f300_0000_ffff;
const USER_CODE64: u64 = 0x00af_fb00_0000_ffff;

pub const TSS_LIMIT: u32 = 0x67;

/// The GDT image (10 entries; the TSS descriptor takes two).
pub fn gdt() -> [u64; 10] {
    let mut g = [0u64; 10];
    g[(KERNEL_CS >> 3) as usize] = KERNEL_CODE64;
    g[(KERNEL_DS >> 3) as usize] = KERNEL_DATA;
    g[(USER32_CS >> 3) as usize] = USER_CODE32;
    g[(USER_DS >> 3) as usize] = USER_DATA;
    g[(USER_CS >> 3) as usize] = USER_CODE64;
    let (lo, hi) = tss_descriptor(TSS_VA, TSS_LIMIT);
    g[(TSS_SEL >> 3) as usize] = lo;
    g[(TSS_SEL >> 3) as usize + 1] = hi;
    g
}

/// A 64-bit TSS descriptor, type 0xB (busy: it is loaded through sregs).
fn tss_descriptor(base: u64, limit: u32) -> (u64, u64) {
    let lo = (limit as u64 & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x8b << 40)
        | (((limit as u64 >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56);
    (lo, base >> 32)
}

/// The TSS image: RSP0 and IST1 both point at the IST stack's top.
pub fn tss() -> [u8; 0x68] {
    let mut t = [0u8; 0x68];
    t[4..12].copy_from_slice(&IST_TOP_VA.to_le_bytes()); // RSP0
    t[0x24..0x2c].copy_from_slice(&IST_TOP_VA.to_le_bytes()); // IST1
    t[0x66..0x68].copy_from_slice(&0x68u16.to_le_bytes()); // no I/O bitmap
    t
}

/// The IDT image: every vector is an interrupt gate to its shim stub on
/// IST1. #BP is DPL 3 so `int3` in the program traps as on Linux.
pub fn idt() -> Vec<u8> {
    let mut idt = Vec::with_capacity(VECTORS as usize * 16);
    for v in 0..VECTORS {
        let off = stub_va(v);
        let dpl: u8 = if v == 3 { 3 } else { 0 };
        let attr: u8 = 0x80 | (dpl << 5) | 0x0e;
        idt.extend_from_slice(&(off as u16).to_le_bytes());
        idt.extend_from_slice(&KERNEL_CS.to_le_bytes());
        idt.push(1); // IST1
        idt.push(attr);
        idt.extend_from_slice(&((off >> 16) as u16).to_le_bytes());
        idt.extend_from_slice(&((off >> 32) as u32).to_le_bytes());
        idt.extend_from_slice(&0u32.to_le_bytes());
    }
    idt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tss_descriptor_round_trips_base_and_limit() {
        let (lo, hi) = tss_descriptor(0xffff_ff80_0000_3000, 0x67);
        let base = ((lo >> 16) & 0xff_ffff) | (((lo >> 56) & 0xff) << 24) | (hi << 32);
        assert_eq!(base, 0xffff_ff80_0000_3000);
        assert_eq!(lo & 0xffff, 0x67);
        assert_eq!((lo >> 40) & 0xff, 0x8b);
    }

    #[test]
    fn idt_gates_point_at_stubs() {
        let idt = idt();
        let gate = &idt[14 * 16..15 * 16];
        let off = u16::from_le_bytes([gate[0], gate[1]]) as u64
            | (u16::from_le_bytes([gate[6], gate[7]]) as u64) << 16
            | (u32::from_le_bytes([gate[8], gate[9], gate[10], gate[11]]) as u64) << 32;
        assert_eq!(off, stub_va(14));
        assert_eq!(gate[4], 1);
        assert_eq!(gate[5], 0x8e);
        assert_eq!(idt[3 * 16 + 5], 0xee);
    }
}
