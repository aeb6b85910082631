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
 * return to RCX with R11's flags in ring 3.
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

/*
 * Return path after the VMM changed present page-table entries. The VMM
 * edits the tables directly, but a shadow-paging MMU (KVM without EPT/NPT,
 * PVM) only learns of an edit when the guest itself writes the entry, and a
 * TLB may still hold the old translation. So for every entry the VMM
 * lists, rewrite it with its own value (the write the MMU must see) and
 * invlpg the address it maps: correct under shadow paging and EPT alike.
 *
 * The list lives in the sync area, whose address the VMM stores at
 * `sync_area` below: a count, a "more" flag, then (PTE address, VA) pairs.
 * With more entries than fit, the stub asks for the next batch with
 * `out $0xDF`. The VMM points RIP here instead of at the stub's `addq`.
 */
        .org    0x200
sync_and_return:
        pushq   %rax
        pushq   %rcx
        pushq   %rdx
1:      movq    sync_area(%rip), %rdx
        movq    (%rdx), %rcx            /* entries in this batch */
        addq    $16, %rdx
        testq   %rcx, %rcx
        jz      3f
2:      movq    (%rdx), %rax            /* where the PTE is (kernel VA) */
        pushq   (%rax)
        popq    (%rax)                  /* rewrite it with its own value */
        movq    8(%rdx), %rax
        invlpg  (%rax)                  /* and drop the old translation */
        addq    $16, %rdx
        decq    %rcx
        jnz     2b
3:      movq    sync_area(%rip), %rdx
        cmpq    $0, 8(%rdx)             /* more batches to come? */
        je      4f
        outb    %al, $0xDF              /* the VMM refills the area */
        jmp     1b
4:      popq    %rdx
        popq    %rcx
        popq    %rax
        addq    $8, %rsp
        iretq

/* Patched by the VMM at load: the sync area's guest-virtual address. */
        .org    0x3f8
sync_area:
        .quad   0
