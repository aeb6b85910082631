//! GDT, TSS and IDT, laid out as Linux does for its selectors so that
//! programs that peek at CS/SS see familiar values. Each vCPU has its own
//! GDT and TSS (its exception stack differs); the IDT is shared.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::layout::{ist_top_va, stub_va, VECTORS};

pub const KERNEL_CS: u16 = 0x10;
pub const KERNEL_DS: u16 = 0x18;
/// STAR bits 63:48: SYSRET loads CS = this + 16 and SS = this + 8 (RPL 3).
pub const USER32_CS: u16 = 0x23;
pub const USER_DS: u16 = 0x2b;
pub const USER_CS: u16 = 0x33;
pub const TSS_SEL: u16 = 0x40;
/// GDT entries (the TSS descriptor takes two).
pub const GDT_ENTRIES: usize = 10;

/// Flat descriptors, accessed bit preset so the CPU never writes the GDT.
const KERNEL_CODE64: u64 = 0x00af_9b00_0000_ffff;
const KERNEL_DATA: u64 = 0x00cf_9300_0000_ffff;
const USER_CODE32: u64 = 0x00cf_fb00_0000_ffff;
const USER_DATA: u64 = 0x00cf_f300_0000_ffff;
const USER_CODE64: u64 = 0x00af_fb00_0000_ffff;

/// The 64-bit TSS (Intel SDM vol. 3, 8.7).
#[repr(C, packed)]
#[derive(Clone, Copy, Default, IntoBytes, Immutable)]
pub struct Tss {
    reserved0: u32,
    rsp: [u64; 3],
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    iomap_base: u16,
}

pub const TSS_LIMIT: u32 = std::mem::size_of::<Tss>() as u32 - 1;
const _: () = assert!(std::mem::size_of::<Tss>() == 0x68);

/// One IDT entry: a 64-bit interrupt gate.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

/// vCPU `cpu`'s GDT, its TSS descriptor pointing at `tss_va`.
pub fn gdt(tss_va: u64) -> [u64; GDT_ENTRIES] {
    let mut g = [0u64; GDT_ENTRIES];
    g[(KERNEL_CS >> 3) as usize] = KERNEL_CODE64;
    g[(KERNEL_DS >> 3) as usize] = KERNEL_DATA;
    g[(USER32_CS >> 3) as usize] = USER_CODE32;
    g[(USER_DS >> 3) as usize] = USER_DATA;
    g[(USER_CS >> 3) as usize] = USER_CODE64;
    let (lo, hi) = tss_descriptor(tss_va, TSS_LIMIT);
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

/// vCPU `cpu`'s TSS: RSP0 and IST1 both point at its exception stack's
/// top. The I/O bitmap lies beyond the limit: no port is open to ring 3.
pub fn tss(cpu: u32) -> Tss {
    let mut t = Tss { iomap_base: std::mem::size_of::<Tss>() as u16, ..Default::default() };
    t.rsp[0] = ist_top_va(cpu);
    t.ist[0] = ist_top_va(cpu);
    t
}

/// The IDT image: every vector is an interrupt gate to its shim stub on
/// IST1. #BP is DPL 3 so `int3` in the program traps as on Linux; every
/// other gate is DPL 0, so `int $N` from ring 3 raises #GP.
pub fn idt() -> Vec<u8> {
    (0..VECTORS)
        .map(|v| {
            let off = stub_va(v);
            let dpl: u8 = if v == 3 { 3 } else { 0 };
            Gate {
                offset_low: off as u16,
                selector: KERNEL_CS,
                ist: 1,
                attr: 0x80 | (dpl << 5) | 0x0e,
                offset_mid: (off >> 16) as u16,
                offset_high: (off >> 32) as u32,
                reserved: 0,
            }
        })
        .flat_map(|g| g.as_bytes().to_vec())
        .collect()
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
        let gate = Gate::read_from_bytes(&idt[14 * 16..15 * 16]).unwrap();
        let off = gate.offset_low as u64 | (gate.offset_mid as u64) << 16 | (gate.offset_high as u64) << 32;
        assert_eq!(off, stub_va(14));
        assert_eq!(gate.ist, 1);
        assert_eq!(gate.attr, 0x8e);
        assert_eq!(idt[3 * 16 + 5], 0xee);
    }

    #[test]
    fn each_cpu_has_its_own_stack() {
        let (a, b) = (tss(0), tss(1));
        let (a0, b0) = (a.ist[0], b.ist[0]);
        assert_ne!(a0, b0);
        assert_eq!(a.as_bytes()[0x24..0x2c], ist_top_va(0).to_le_bytes());
        assert_eq!(a.as_bytes()[0x66..0x68], 0x68u16.to_le_bytes());
    }
}
