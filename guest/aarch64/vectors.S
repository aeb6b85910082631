/*
 * faultline's EL1 exception vectors for arm64: the only EL1 code the guest
 * ever runs (VBAR_EL1 points at the first byte, mapped EL1-only, read-only,
 * executable). It is the save-area stub of ci/arm64/probe/asm/stub.S grown
 * to the whole user state.
 *
 * SP_EL1 is not a stack. The VMM points each vCPU's SP_EL1 at that vCPU's
 * save area (a page of normal memory, EL1 read-write), followed by its
 * doorbell page (device memory whose IPA has no memslot). SP is the one
 * register the CPU banks per exception level, so the stub reaches the save
 * area without using a register of the program's.
 *
 * An exception from EL0 lands on its vector, which saves x0 and x1 and
 * names itself in x0; `save` spills the rest of the user state (x2-x30,
 * SP_EL0, TPIDR_EL0, ELR_EL1, SPSR_EL1, ESR_EL1, FAR_EL1, V0-V31, FPSR,
 * FPCR) and the vector number into the save area. `vec_report` then stores
 * xzr to doorbell + 8 * vector: a stage-2 fault KVM turns into
 * KVM_EXIT_MMIO, its address naming the vector. The store is a
 * register-offset STR of one register with no writeback, so the syndrome
 * KVM sees is valid (ISV) and it needs no instruction decoding; ESR_EL1 and
 * FAR_EL1 are untouched by it (the abort is taken to EL2).
 *
 * The VMM serves the trap by reading and writing the save area. When KVM_RUN
 * resumes, KVM retires the store (PC + 4) and the vCPU falls into
 * `vec_restore`, which reloads everything from the save area and erets to
 * ELR_EL1 at SPSR_EL1's level. The VMM never writes PC after an MMIO exit
 * (KVM would still add 4 on the next KVM_RUN); to start a vCPU afresh it
 * fills the save area and sets PC to `vec_enter` (the same code as
 * `vec_restore`) with PSTATE EL1h, DAIF masked.
 *
 * Flags (the save area's `flags` word, set by the VMM, cleared here once
 * done): LOAD_ROOT loads TTBR0_EL1 and TTBR1_EL1 from the save area; with
 * LOAD_ROOT or FLUSH_TLB the stub then drops every EL1&0 translation of the
 * VM from this vCPU's TLB (`tlbi vmalle1`: all roots share ASID 0, and
 * KVM does not flush when TTBR0 changes).
 *
 * Vector numbers (offset / 0x80): 0-3 current EL with SP_EL0 (never: EL1
 * runs on SP_EL1), 4-7 current EL with SP_ELx (the stub itself faulted:
 * fatal; these two groups report at once, saving nothing), 8-11 lower EL
 * AArch64 (8: SVC and aborts from EL0, 9: IRQ, 10: FIQ, 11: SError), 12-15
 * lower EL AArch32 (never: EL0 is AArch64 only).
 *
 * The image is position independent and copied flat, never linked: every
 * reference is PC-relative within it (no relocations, which build.rs
 * checks). The save area's offsets below are exported as absolute symbols,
 * which arch::aarch64::entry checks its SaveArea against, and so are the
 * labels, which tell the VMM where in the stub a vCPU stopped.
 */
        .arch   armv8-a+fp+simd
        .text

        /* The save area (SP_EL1). Its first 272 bytes are struct
         * user_pt_regs (x0-x30, sp, pc, pstate); sa_v is struct
         * user_fpsimd_state (V0-V31, FPSR, FPCR, 8 bytes reserved). */
        .globl  sa_x, sa_sp_el0, sa_elr, sa_spsr, sa_tpidr_el0, sa_esr, sa_far
        .globl  sa_vector, sa_flags, sa_ttbr0, sa_ttbr1, sa_v, sa_fpsr, sa_fpcr, sa_size
        .globl  flag_load_root, flag_flush_tlb, doorbell
        .equ    sa_x, 0                 /* x0-x30, 8 bytes each */
        .equ    sa_sp_el0, 248
        .equ    sa_elr, 256             /* the user's PC */
        .equ    sa_spsr, 264            /* the user's PSTATE */
        .equ    sa_tpidr_el0, 272
        .equ    sa_esr, 280
        .equ    sa_far, 288
        .equ    sa_vector, 296          /* which vector reported (0-15) */
        .equ    sa_flags, 304           /* flag_* below, set by the VMM */
        .equ    sa_ttbr0, 312
        .equ    sa_ttbr1, 320
        /* 328: reserved, so that sa_v is 16-byte aligned */
        .equ    sa_v, 336               /* V0-V31, 16 bytes each */
        .equ    sa_fpsr, 848            /* 32 bits */
        .equ    sa_fpcr, 852            /* 32 bits */
        /* 856: 8 bytes reserved (user_fpsimd_state's __reserved) */
        .equ    sa_size, 864

        .equ    flag_load_root_bit, 0
        .equ    flag_load_root, 1 << flag_load_root_bit /* load TTBR0/TTBR1, then flush */
        .equ    flag_flush_tlb, 2       /* bit 1: flush this vCPU's TLB */
        .equ    doorbell, 0x1000        /* from SP_EL1: the doorbell page */

        .if     sa_size > doorbell
        .error  "the save area overruns the doorbell"
        .endif

/* VBAR_EL1 needs 2 KiB alignment; the VMM maps the image page-aligned. */
        .balign 2048
vectors:
        /* From EL1: the stub itself faulted (fatal). Report at once,
         * without touching the save area (whose fault it may be), so
         * ESR_EL1, FAR_EL1 and ELR_EL1 describe that fault and x0-x30
         * are as it left them (the VMM reads them by ONE_REG). A vCPU
         * resumed anyway reports again. */
        .irp    i, 0, 1, 2, 3, 4, 5, 6, 7
        .org    vectors + \i * 0x80
        .if     \i < 4
        msr     spsel, #1               /* SP was SP_EL0 */
        .endif
1:      str     xzr, [sp, #doorbell + 8 * \i]
        b       1b
        .endr

        /* From EL0: save the user state, then report. */
        .irp    i, 8, 9, 10, 11, 12, 13, 14, 15
        .org    vectors + \i * 0x80
        stp     x0, x1, [sp, #sa_x]
        mov     x0, #\i
        b       save
        .endr

        .org    vectors + 0x800
save:
        stp     x2, x3, [sp, #sa_x + 2 * 8]
        stp     x4, x5, [sp, #sa_x + 4 * 8]
        stp     x6, x7, [sp, #sa_x + 6 * 8]
        stp     x8, x9, [sp, #sa_x + 8 * 8]
        stp     x10, x11, [sp, #sa_x + 10 * 8]
        stp     x12, x13, [sp, #sa_x + 12 * 8]
        stp     x14, x15, [sp, #sa_x + 14 * 8]
        stp     x16, x17, [sp, #sa_x + 16 * 8]
        stp     x18, x19, [sp, #sa_x + 18 * 8]
        stp     x20, x21, [sp, #sa_x + 20 * 8]
        stp     x22, x23, [sp, #sa_x + 22 * 8]
        stp     x24, x25, [sp, #sa_x + 24 * 8]
        stp     x26, x27, [sp, #sa_x + 26 * 8]
        stp     x28, x29, [sp, #sa_x + 28 * 8]
        str     x30, [sp, #sa_x + 30 * 8]
        mrs     x1, sp_el0
        mrs     x2, elr_el1
        stp     x1, x2, [sp, #sa_sp_el0]        /* sa_elr follows */
        mrs     x1, spsr_el1
        mrs     x2, tpidr_el0
        stp     x1, x2, [sp, #sa_spsr]          /* sa_tpidr_el0 follows */
        mrs     x1, esr_el1
        mrs     x2, far_el1
        stp     x1, x2, [sp, #sa_esr]           /* sa_far follows */
        str     x0, [sp, #sa_vector]
        stp     q0, q1, [sp, #sa_v + 0 * 16]
        stp     q2, q3, [sp, #sa_v + 2 * 16]
        stp     q4, q5, [sp, #sa_v + 4 * 16]
        stp     q6, q7, [sp, #sa_v + 6 * 16]
        stp     q8, q9, [sp, #sa_v + 8 * 16]
        stp     q10, q11, [sp, #sa_v + 10 * 16]
        stp     q12, q13, [sp, #sa_v + 12 * 16]
        stp     q14, q15, [sp, #sa_v + 14 * 16]
        stp     q16, q17, [sp, #sa_v + 16 * 16]
        stp     q18, q19, [sp, #sa_v + 18 * 16]
        stp     q20, q21, [sp, #sa_v + 20 * 16]
        stp     q22, q23, [sp, #sa_v + 22 * 16]
        stp     q24, q25, [sp, #sa_v + 24 * 16]
        stp     q26, q27, [sp, #sa_v + 26 * 16]
        stp     q28, q29, [sp, #sa_v + 28 * 16]
        stp     q30, q31, [sp, #sa_v + 30 * 16]
        mrs     x1, fpsr
        str     w1, [sp, #sa_fpsr]
        mrs     x1, fpcr
        str     w1, [sp, #sa_fpcr]

/* Exit to the VMM: an MMIO write at doorbell + 8 * vector. The save area
 * is complete from here on. */
vec_report:
        add     x1, sp, #doorbell
vec_report_store:
        str     xzr, [x1, x0, lsl #3]

/* KVM retired the store: back to the program, as the save area says. */
vec_enter:
vec_restore:
        ldr     x0, [sp, #sa_flags]
        cbz     x0, 2f
        tbz     x0, #flag_load_root_bit, 1f
        ldp     x1, x2, [sp, #sa_ttbr0]         /* sa_ttbr1 follows */
        msr     ttbr0_el1, x1
        msr     ttbr1_el1, x2
        isb
1:      tlbi    vmalle1                         /* local: this vCPU's TLB */
        dsb     nsh
        isb
        str     xzr, [sp, #sa_flags]
2:      ldp     q0, q1, [sp, #sa_v + 0 * 16]
        ldp     q2, q3, [sp, #sa_v + 2 * 16]
        ldp     q4, q5, [sp, #sa_v + 4 * 16]
        ldp     q6, q7, [sp, #sa_v + 6 * 16]
        ldp     q8, q9, [sp, #sa_v + 8 * 16]
        ldp     q10, q11, [sp, #sa_v + 10 * 16]
        ldp     q12, q13, [sp, #sa_v + 12 * 16]
        ldp     q14, q15, [sp, #sa_v + 14 * 16]
        ldp     q16, q17, [sp, #sa_v + 16 * 16]
        ldp     q18, q19, [sp, #sa_v + 18 * 16]
        ldp     q20, q21, [sp, #sa_v + 20 * 16]
        ldp     q22, q23, [sp, #sa_v + 22 * 16]
        ldp     q24, q25, [sp, #sa_v + 24 * 16]
        ldp     q26, q27, [sp, #sa_v + 26 * 16]
        ldp     q28, q29, [sp, #sa_v + 28 * 16]
        ldp     q30, q31, [sp, #sa_v + 30 * 16]
        ldr     w1, [sp, #sa_fpsr]
        msr     fpsr, x1
        ldr     w1, [sp, #sa_fpcr]
        msr     fpcr, x1
        ldp     x1, x2, [sp, #sa_sp_el0]        /* sa_elr follows */
        msr     sp_el0, x1
        msr     elr_el1, x2
        ldp     x1, x2, [sp, #sa_spsr]          /* sa_tpidr_el0 follows */
        msr     spsr_el1, x1
        msr     tpidr_el0, x2
        ldp     x0, x1, [sp, #sa_x + 0 * 8]
        ldp     x2, x3, [sp, #sa_x + 2 * 8]
        ldp     x4, x5, [sp, #sa_x + 4 * 8]
        ldp     x6, x7, [sp, #sa_x + 6 * 8]
        ldp     x8, x9, [sp, #sa_x + 8 * 8]
        ldp     x10, x11, [sp, #sa_x + 10 * 8]
        ldp     x12, x13, [sp, #sa_x + 12 * 8]
        ldp     x14, x15, [sp, #sa_x + 14 * 8]
        ldp     x16, x17, [sp, #sa_x + 16 * 8]
        ldp     x18, x19, [sp, #sa_x + 18 * 8]
        ldp     x20, x21, [sp, #sa_x + 20 * 8]
        ldp     x22, x23, [sp, #sa_x + 22 * 8]
        ldp     x24, x25, [sp, #sa_x + 24 * 8]
        ldp     x26, x27, [sp, #sa_x + 26 * 8]
        ldp     x28, x29, [sp, #sa_x + 28 * 8]
        ldr     x30, [sp, #sa_x + 30 * 8]
vec_eret:
        eret
vec_end:
