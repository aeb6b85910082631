/*
 * faultline's syscall ring stub: where `syscall` lands (LSTAR).
 *
 * Each vCPU has its own LSTAR pointing at this page as mapped for it, and
 * the page after it is that vCPU's mailbox (addressed RIP-relative), so
 * the stub needs no per-CPU register. It copies the call into the mailbox,
 * publishes it, rings the doorbell if the VMM's ring server sleeps, and
 * waits for the server's answer:
 *
 *   DONE     the call is done: return to the program with the result.
 *   DELIVER  done, but the VMM must see the thread on its way out (a
 *            signal to deliver, an exit): an exit with the result in RAX.
 *   EXIT     the server does not run this call here (it may block, or it
 *            changes more than RAX): an exit with every register as
 *            `syscall` left it, so the VMM runs the call itself.
 *
 * The wait for the server to take the call is bounded (RING_SPINS turns of
 * the loop, ~110 µs here, or ~40 µs once the stub had to ring the doorbell
 * for it): a server that has not taken it by then is
 * asleep and slow to wake, or starved of CPU by the stubs of many threads
 * spinning at once (a fork bomb's hundreds of processes). The stub then
 * withdraws the call (REQ back to IDLE, atomically, so the server can no
 * longer take it) and leaves by the EXIT way. Once taken, a call is waited
 * for without bound: the server runs only calls that never sleep.
 *
 * The same body runs at CPL 0 (bare-metal KVM, where `syscall` enters ring
 * 0; the pages are then supervisor-only) and at CPL 3 (PVM, where `syscall`
 * enters LSTAR still in ring 3; the pages are then user pages, mapped in
 * the calling thread's own page-table root only); only the way back
 * differs, so each has its own entry. RCX (the return address) and R11
 * (the flags) stay in their registers throughout, and RAX is the only
 * other register used, after the call number is saved: the VMM can take
 * over from any point of the stub (see arch::x86_64::ring).
 *
 * Every read of what the server writes is a locked read-modify-write
 * (`lock xadd` of zero). Under PVM, after the vCPU has taken a VM exit
 * through ring 0, plain loads from the mailbox were seen to keep returning
 * a stale copy while locked accesses (and stores) reached the page the
 * server writes; a locked access is right on any x86 and costs little.
 */
        .code64
        .text

        /* Bit 0 is set in REQ alone: `lock btr $0` withdraws a call
         * only if it is still REQ (see arch::x86_64::ring). */
        .set    ST_REQ, 1
        .set    ST_TAKEN, 2
        .set    ST_DONE, 4
        .set    ST_DELIVER, 6
        .set    ST_EXIT, 8
        /* ~27 ns a turn on this machine (pause + two locked accesses):
         * ~110 µs for a server that spins (it may be busy with another
         * vCPU's call), ~40 µs for one the doorbell wakes (~15 µs when a
         * CPU is free for it; if none is, this stub's spinning is what
         * keeps it from running). */
        .set    RING_SPINS, 4096
        .set    RING_SPINS_ASLEEP, 1500
        /* A number Linux gives no syscall (it answers -ENOSYS, as it does
         * for any number past its table), answered here with -ENOSYS
         * without leaving the guest: a guest syscall into the stub and
         * straight back, the floor `faultline bench` times syscalls
         * against. Such calls are not traced, and the arithmetic flags
         * come back clobbered (the test) on the CPL 3 way. */
        .globl  ring_floor_nr
        .set    ring_floor_nr, 999999
        .set    ENOSYS, 38

        .globl  ring_entry, ring_entry_cpl0, ring_entry_published, ring_entry_cpl0_published
        .globl  ring_restore_a, ring_restore_b, ring_restore_c, ring_end

        /* RAX = the mailbox word at \field, read afresh. */
        .macro  LOAD field
        xorl    %eax, %eax
        lock xaddq %rax, \field(%rip)
        .endm

        /* Copy the call into the mailbox and publish it; \done marks
         * where it is published. */
        .macro  PUBLISH done
        movq    %rax, mb_nr(%rip)
        movq    %rdi, mb_a0(%rip)
        movq    %rsi, mb_a1(%rip)
        movq    %rdx, mb_a2(%rip)
        movq    %r10, mb_a3(%rip)
        movq    %r8, mb_a4(%rip)
        movq    %r9, mb_a5(%rip)
        movq    $RING_SPINS, mb_spins(%rip)
        movl    $ST_REQ, %eax
        /* Publish; xchg is a full barrier, so `awake` is read after it. */
        xchgq   %rax, mb_state(%rip)
\done:
        .endm

        /* Calls the server never runs (they may block, or change more
         * than RAX: clone, wait4, nanosleep, exit, sigreturn...), and
         * numbers past the map, go straight to the VMM: publishing them
         * would only cost a round trip, or the server's wake-up. The map
         * is set by the VMM before any vCPU runs and never changes. Kept
         * before the call is published, where every register is still
         * the program's (the VMM's view of an entering stub). */
        .macro  DIRECT
        cmpq    $511, %rax
        ja      8f
        btq     %rax, ring_exit_map(%rip)
        jnc     9f
8:      movl    $0, doorbell+24(%rip)
        ud2
9:
        .endm

        /* The floor call (ring_floor_nr) goes straight back. Inside the
         * entering part of the stub, so a VMM that stops the vCPU here
         * runs the call itself, and answers -ENOSYS too. */
        .macro  FLOOR way
        cmpq    $ring_floor_nr, %rax
        jne     7f
        movq    $-ENOSYS, %rax
        \way
7:
        .endm

        .balign 16
ring_entry:                             /* CPL 3 (PVM) */
        FLOOR   "jmp *%rcx"
        DIRECT
        PUBLISH ring_entry_published
        jmp     ring_published

        .balign 16
ring_entry_cpl0:                        /* CPL 0 (bare metal) */
        FLOOR   sysretq
        DIRECT
        PUBLISH ring_entry_cpl0_published
        jmp     published_cpl0

        /* Wake the server if it sleeps, wait for its answer; on DONE,
         * RAX = the result and the way back follows. */
        .macro  WAIT
        LOAD    mb_awake
        testq   %rax, %rax
        jnz     1f
        /* The server sleeps. A call it runs only sometimes (a read or
         * write, served when it cannot block: pipes go by exits) is
         * taken back and goes by exit rather than wait for the wake-up:
         * processes passing a pipe back and forth ran at half the speed
         * of exits, every call waking the server only to hear EXIT. */
        LOAD    mb_nr
        cmpq    $511, %rax
        ja      4f
        btq     %rax, ring_maybe_map(%rip)
        jnc     4f
        lock btrq $0, mb_state(%rip)
        jc      exit_path
        jmp     1f
        /* Otherwise a write to the doorbell page (no memory behind it,
         * an ioeventfd on it) wakes the server without a VM exit. */
4:      movl    $1, doorbell(%rip)
        movq    $RING_SPINS_ASLEEP, mb_spins(%rip)
1:      pause
        LOAD    mb_state
        cmpq    $ST_TAKEN, %rax
        ja      3f
        lock decq mb_spins(%rip)
        jnz     1b
        /* Not taken in time: withdraw it if the server has not taken it
         * yet (CF = the REQ bit as it was). */
        lock btrq $0, mb_state(%rip)
        jc      exit_path
2:      pause
        LOAD    mb_state
        cmpq    $ST_TAKEN, %rax
        jbe     2b
3:      cmpq    $ST_EXIT, %rax
        je      exit_path
        cmpq    $ST_DELIVER, %rax
        je      deliver
        LOAD    mb_ret
        .endm

ring_published:
        WAIT
        /* TF, DF or AC in the program's flags (SFMASK cleared them on
         * entry): only the VMM can put them back, through an exit. */
        testl   $0x40500, %r11d
        jnz     deliver_result
        /* Back to the program without touching its stack (its RSP may be
         * anything, as for Linux's syscall) and without SYSRET (ring 3).
         * The stub changed only arithmetic flags: SAHF puts back SF ZF AF
         * PF CF from R11 (OF stays clear: callers treat the flags as
         * clobbered, as glibc's syscall asm declares). XCHG leaves the
         * flags alone. */
        xchgq   %rax, %r11              /* RAX = flags, R11 = result */
ring_restore_a:
        xchgb   %al, %ah
ring_restore_b:
        sahf
        xchgb   %al, %ah
ring_restore_c:
        xchgq   %rax, %r11              /* RAX = result, R11 = flags */
        jmp     *%rcx

published_cpl0:
        WAIT
        sysretq

        /* Both ways to the VMM are writes to the doorbell page at
         * offsets no ioeventfd claims: an MMIO exit straight to the VMM,
         * without the shim (ring 0 is slow under PVM). */
deliver:
        LOAD    mb_ret
deliver_result:
        movl    $0, doorbell+16(%rip)
        ud2

exit_path:
        LOAD    mb_nr
        movl    $0, doorbell+8(%rip)
        ud2
ring_end:

        /* Bit N set: call N goes straight to the VMM (see DIRECT). Not
         * .globl: the assembler leaves references to a global symbol to
         * the linker, and this binary is never linked. */
        .balign 64
ring_exit_map:
        .fill   64, 1, 0
        /* Bit N set: the server runs call N only sometimes (see WAIT). */
ring_maybe_map:
        .fill   64, 1, 0

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
mb_spins:       .quad 0
        .org    0x2000
doorbell:
