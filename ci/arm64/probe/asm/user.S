// The EL0 program of `probe el0`, mapped read-only and executable at EL0
// at 0x400000. The VMM sets x19, x22, x23, x24 (loop counts) before entering
// it at _start. Every `svc #0` and every fault leaves through the EL1
// stub (stub.S) to the VMM, which plays Linux: x8 the syscall number,
// x0-x5 the arguments, x0 the result.

    .text
_start:
    // write(1, msg, len)
    mov     x0, #1
    adr     x1, msg
    mov     x2, #(msg_end - msg)
    mov     x8, #64                 // __NR_write
    svc     #0
    mov     x20, x0                 // write's result, checked at exit

    // Where a direct return lands: the VMM answers the first of these
    // getuid calls by setting PC = ELR_EL1 and PSTATE = SPSR_EL1 itself
    // (no eret); the next exit's ELR_EL1 says which svc ran next.
    mov     x8, #174                // __NR_getuid
    svc     #0
    svc     #0
    svc     #0

    // A page that is not mapped: translation fault (read); the VMM maps
    // it and the load runs again.
    movz    x3, #0x40, lsl #16
    movk    x3, #0x2000             // x3 = 0x402000
    ldr     x21, [x3]
    // A read-only page: permission fault (write); the VMM makes it
    // writable, flushes the TLB (stub's flush path) and the store runs again.
    movz    x4, #0x40, lsl #16
    movk    x4, #0x3000             // x4 = 0x403000
    str     x21, [x4, #8]

    // SVC round trips, the VMM returning through the stub's eret.
    mov     x8, #172                // __NR_getpid
1:  svc     #0
    subs    x19, x19, #1
    b.ne    1b
    // SVC round trips, the VMM returning by setting PC and PSTATE.
    mov     x8, #173                // __NR_getppid
2:  svc     #0
    subs    x22, x22, #1
    b.ne    2b
    // SVC round trips through the save-area stub (the VMM switches
    // VBAR_EL1 to it at the first of these).
    mov     x8, #175                // __NR_geteuid
4:  svc     #0
    subs    x24, x24, #1
    b.ne    4b
    // MMIO exits straight from EL0 (a doorbell page mapped for EL0).
    movz    x5, #0x50, lsl #16      // x5 = 0x500000
3:  str     xzr, [x5]
    subs    x23, x23, #1
    b.ne    3b

    // exit(0)
    mov     x0, #0
    mov     x8, #93                 // __NR_exit
    svc     #0
    b       .

msg:
    .ascii  "hello from EL0\n"
msg_end:
