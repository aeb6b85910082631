/*
 * faultline's syscall ring stub: where `syscall` lands (LSTAR).
 *
 * Each vCPU has its own LSTAR pointing at this page as mapped for it, and
 * the page after it is that vCPU's mailbox (addressed RIP-relative), so
 * the stub needs no per-CPU register. It copies the call into the mailbox,
 * publishes it, rings the doorbell if the VMM's ring server sleeps, and
 * spins until the server answers:
 *
 *   DONE     the call is done: return to the program with the result.
 *   DELIVER  done, but the VMM must see the thread on its way out (a
 *            signal to deliver, an exit): jump to the return trap address.
 *   EXIT     the server does not run this call here (it may block, or it
 *            changes more than RAX): jump to the syscall trap address with
 *            every register as `syscall` left it, so the VMM runs the call
 *            through a VM exit exactly as without the ring.
 *
 * The same code runs at CPL 0 (bare-metal KVM, where `syscall` enters
 * ring 0; the pages are then supervisor-only) and at CPL 3 (PVM, where
 * `syscall` enters LSTAR still in ring 3; the pages are then user pages of
 * the calling process only). It returns with `iretq` to the program's
 * ring 3, which works from both. Only RCX and R11 are ours, as `syscall`
 * already clobbers them; every other register stays the program's until
 * the result goes into RAX, which is how the VMM can take over from any
 * point of the stub (see arch::x86_64::ring).
 */
        .code64
        .text

        .set    ST_REQ, 1
        .set    ST_TAKEN, 2
        .set    ST_DONE, 3
        .set    ST_DELIVER, 4
        .set    ST_EXIT, 5
        .set    ST_IDLE, 0
        .set    USER_CS, 0x33
        .set    USER_DS, 0x2b
        /* CF PF AF ZF SF TF DF OF AC ID: what user mode may set. */
        .set    USER_FLAGS, 0x250dd5

        .globl  ring_disabled, ring_entry, ring_published, ring_end

ring_disabled:
        /* The ring is off for this vCPU: the exit path, registers intact. */
        jmp     *mb_trap_va(%rip)

        .balign 16
ring_entry:
        movq    %rcx, mb_rip(%rip)
        movq    %r11, mb_rflags(%rip)
        cmpq    $0, mb_enabled(%rip)
        je      ring_disabled
        movq    %rax, mb_nr(%rip)
        movq    %rdi, mb_a0(%rip)
        movq    %rsi, mb_a1(%rip)
        movq    %rdx, mb_a2(%rip)
        movq    %r10, mb_a3(%rip)
        movq    %r8, mb_a4(%rip)
        movq    %r9, mb_a5(%rip)
        movl    $ST_REQ, %ecx
        /* Publish; xchg is a full barrier, so `awake` is read after it. */
        xchgq   %rcx, mb_state(%rip)
ring_published:
        cmpq    $0, mb_awake(%rip)
        jne     1f
        /* The server sleeps: a write to the doorbell page (no memory
         * behind it, an ioeventfd on it) wakes it without a VM exit. */
        movl    $1, doorbell(%rip)
1:      movq    mb_spin_limit(%rip), %r11
2:      pause
        movq    mb_state(%rip), %rcx
        cmpq    $ST_TAKEN, %rcx
        ja      answered
        decq    %r11
        jnz     2b
        /* Nothing for too long (the server is gone or stuck): withdraw
         * the call if the server has not taken it, and take the exit. */
        movl    $ST_REQ, %eax
        xorl    %ecx, %ecx
        lock cmpxchgq %rcx, mb_state(%rip)
        movq    mb_nr(%rip), %rax
        je      exit_path
        jmp     1b

answered:
        cmpq    $ST_EXIT, %rcx
        je      exit_path
        movq    mb_ret(%rip), %rax
        cmpq    $ST_DELIVER, %rcx
        je      deliver
        /* Back to ring 3 through an iret frame on the mailbox's stack. */
        movq    %rsp, mb_rsp(%rip)
        leaq    mb_stack_top(%rip), %rsp
        pushq   $USER_DS
        pushq   mb_rsp(%rip)
        movq    mb_rflags(%rip), %r11
        andq    $USER_FLAGS, %r11
        orq     $0x202, %r11
        pushq   %r11
        pushq   $USER_CS
        movq    mb_rip(%rip), %rcx
        pushq   %rcx
        iretq

deliver:
        movq    mb_rip(%rip), %rcx
        movq    mb_rflags(%rip), %r11
        jmp     *mb_return_va(%rip)

exit_path:
        movq    mb_rip(%rip), %rcx
        movq    mb_rflags(%rip), %r11
        jmp     *mb_trap_va(%rip)
ring_end:

        /* The mailbox: the next page. Its layout is arch::x86_64::ring::Mailbox. */
        .org    0x1000
mailbox:
mb_state:       .quad 0
mb_awake:       .quad 0
mb_nr:          .quad 0
mb_a0:          .quad 0
mb_a1:          .quad 0
mb_a2:          .quad 0
mb_a3:          .quad 0
mb_a4:          .quad 0
mb_a5:          .quad 0
mb_ret:         .quad 0
mb_rip:         .quad 0
mb_rflags:      .quad 0
mb_rsp:         .quad 0
mb_trap_va:     .quad 0
mb_return_va:   .quad 0
mb_spin_limit:  .quad 0
mb_enabled:     .quad 0
        .org    0x2000
mb_stack_top:
doorbell:
