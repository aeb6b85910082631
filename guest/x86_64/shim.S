/*
 * faultline's ring-0 shim: the only kernel-mode code the guest ever runs.
 *
 * Every exception vector lands on a 16-byte stub, on the IST1 stack, that
 * reports itself to the VMM with `out $(0xE0 + vector), %al` and returns
 * with iretq. The stubs touch no register and no memory besides the
 * exception frame, so the VMM sees the guest's registers exactly as the
 * faulting instruction left them, and reads the frame at a fixed address
 * (IST top - 48: error code, RIP, CS, RFLAGS, RSP, SS).
 *
 * Syscalls: LSTAR points at an address no page maps. `syscall` jumps there
 * (at CPL 0 on bare metal, at CPL 3 under PVM), the fetch raises #PF, and
 * the VMM recognises frame.RIP == LSTAR. It then rewrites the frame to
 * return to RCX with R11's flags in ring 3. CSTAR (32-bit `syscall`) points
 * at another unmapped address.
 *
 * This is all the code ring 0 ever runs. When the VMM changes a page-table
 * entry the CPU may have cached, it invalidates the old frame on the host
 * (KVM's MMU notifier drops every translation of it, on every vCPU), so no
 * ring-0 code is needed for that either.
 *
 * The layout is fixed: the VMM's arch::x86_64::shim mirrors these offsets,
 * and `.org` makes the assembler fail if a stub outgrows its slot.
 */
        .code64
        .text

        .macro  STUB vec, has_error_code
        .org    \vec * 16
        .if     \has_error_code == 0
        pushq   $0                      /* uniform frame: fake error code */
        .endif
        outb    %al, $(0xE0 + \vec)     /* exit to the VMM, no register used */
        addq    $8, %rsp                /* drop the error code */
        iretq
        .endm

        STUB  0, 0      /* #DE */
        STUB  1, 0      /* #DB */
        STUB  2, 0      /* NMI */
        STUB  3, 0      /* #BP */
        STUB  4, 0      /* #OF */
        STUB  5, 0      /* #BR */
        STUB  6, 0      /* #UD */
        STUB  7, 0      /* #NM */
        STUB  8, 1      /* #DF */
        STUB  9, 0
        STUB 10, 1      /* #TS */
        STUB 11, 1      /* #NP */
        STUB 12, 1      /* #SS */
        STUB 13, 1      /* #GP */
        STUB 14, 1      /* #PF */
        STUB 15, 0
        STUB 16, 0      /* #MF */
        STUB 17, 1      /* #AC */
        STUB 18, 0      /* #MC */
        STUB 19, 0      /* #XM */
        STUB 20, 0      /* #VE */
        STUB 21, 1      /* #CP */
        STUB 22, 0
        STUB 23, 0
        STUB 24, 0
        STUB 25, 0
        STUB 26, 0
        STUB 27, 0
        STUB 28, 0
        STUB 29, 1      /* #VC */
        STUB 30, 1      /* #SX */
        STUB 31, 0
