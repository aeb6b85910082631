// The EL1 vector stub of `probe el0` (VBAR_EL1 points at its first byte,
// mapped EL1-only, read-only, executable at 0xffff_ff80_0000_0000).
//
// Two vector tables, the VMM choosing one with VBAR_EL1.
//
// `vectors` (page 0), the minimal stub: every vector does one thing, a
// store of xzr to SP_EL1 + 0x1000 + 8 * (vector number), then eret.
// SP_EL1 is not a stack: the VMM points it at a page (the save area,
// normal memory) followed by a page of device memory in TTBR1 space whose
// IPA has no memslot (the "doorbell"), so the store is a stage-2 fault KVM
// turns into KVM_EXIT_MMIO, its address naming the vector. SP is the one register
// the CPU banks per exception level, so the stub reaches the VMM without
// touching a single register of the program's: x0-x30, SP_EL0, PSTATE
// (in SPSR_EL1), PC (in ELR_EL1), ESR_EL1 and FAR_EL1 are all still as
// the exception left them, and the VMM reads and writes them with
// KVM_{GET,SET}_ONE_REG. The store's data is xzr (KVM reads register 31
// of a data abort's syndrome as zero), an unsigned-offset STR, so the
// syndrome is valid (ISV) and KVM needs no instruction decoding.
//
// The way back: when KVM_RUN resumes after the MMIO exit, KVM retires the
// store (PC + 4) and the vCPU executes `eret` to ELR_EL1/SPSR_EL1, which
// the VMM may have changed (a signal frame, sigreturn). After an SVC,
// ELR_EL1 is the instruction after it; after an abort, the faulting
// instruction, which runs again.
//
// Vector numbers (offset / 0x80): 0-3 current EL with SP_EL0, 4-7 current
// EL with SP_ELx (the stub itself faulted: fatal), 8-11 lower EL AArch64
// (8: SVC and aborts from EL0, 9: IRQ, 10: FIQ, 11: SError), 12-15 lower
// EL AArch32 (never: EL0 is AArch64 only here).

    .equ    DOORBELL, 0x1000        // from SP_EL1: the doorbell page, after the save area

    .text
vectors:
    .irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    .org vectors + \i * 0x80
    str     xzr, [sp, #DOORBELL + 8 * \i]   // exit to the VMM: MMIO write at doorbell + 8 * i
    eret                                    // back to ELR_EL1 at SPSR_EL1's level
    .endr

// After the VMM changed a live translation (a read-only page made
// writable), it completes the MMIO exit (KVM_RUN with immediate_exit)
// and sets PC here: the TLB forgets the old translation, then eret
// re-executes the faulting instruction.
    .org vectors + 0x800
flush:
    tlbi    vmalle1                 // every EL1&0 translation of this VMID (one vCPU: local)
    dsb     nsh
    isb
    eret

// `save_vectors` (page 1), the save-area stub: each vector spills what a
// syscall or fault needs into the save area at SP_EL1 (x0-x8, then
// ESR_EL1, FAR_EL1, ELR_EL1, SPSR_EL1), rings the doorbell at
// + 0x80 + 8 * i, and on the way back reloads x0-x8, ELR_EL1 and SPSR_EL1
// from the save area, so the VMM serves a syscall by reading and writing
// shared memory, with no KVM_{GET,SET}_ONE_REG. x9-x30, SP_EL0 and the
// FP/SIMD registers are untouched (the VMM reaches them with ONE_REG when
// it needs them: signals, clone). Save area layout (bytes): x0-x8 at
// 0-71, ESR_EL1 80, FAR_EL1 88, ELR_EL1 96, SPSR_EL1 104.
    .org vectors + 0x1000
save_vectors:
    .irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    .org save_vectors + \i * 0x80
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    str     x8, [sp, #64]
    mrs     x0, esr_el1
    mrs     x1, far_el1
    stp     x0, x1, [sp, #80]
    mrs     x0, elr_el1
    mrs     x1, spsr_el1
    stp     x0, x1, [sp, #96]
    str     xzr, [sp, #DOORBELL + 0x80 + 8 * \i]   // exit to the VMM
    ldp     x0, x1, [sp, #96]
    msr     elr_el1, x0
    msr     spsr_el1, x1
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldr     x8, [sp, #64]
    eret
    .endr
    .org save_vectors + 0x800
