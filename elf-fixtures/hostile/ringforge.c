/* Forging the syscall ring's state (issue 21, items 6 and 7). The ring's
 * pages lie per vCPU at 0xffffff0000000000 + cpu * 16 KiB: the stub's code,
 * then the mailbox { state, awake, nr, a0..a5, ret, spins }, then the
 * doorbell (arch::x86_64::layout). The main thread of a fresh sandbox runs
 * on vCPU 0, the first thread it starts on vCPU 1. Under PVM the stub runs
 * in ring 3, so a thread's own mailbox is a user page it may write.
 *
 *   ringforge taken [alarm|exit|handled]
 *                                 write TAKEN (2) into its own mailbox and
 *                                 jump into the stub's wait loop, as if
 *                                 the server had taken a call. `alarm`:
 *                                 alarm(1) first; `exit`: a second thread
 *                                 calls exit_group(3) after 300 ms;
 *                                 `handled`: alarm(1), with handlers for
 *                                 SIGALRM (returns) and SIGSEGV (prints
 *                                 its si_code, exits 6).
 *   ringforge sibling [handled]   a second thread writes a request into the
 *                                 main thread's mailbox and rings the
 *                                 doorbell: gettid, then rt_sigprocmask
 *                                 blocking SIGUSR1; then it sends the main
 *                                 thread SIGUSR1 and, if that did not kill
 *                                 the process, exits 7. `handled`: a
 *                                 SIGSEGV handler reports the fault and
 *                                 sends the main thread SIGUSR1 itself.
 *
 * Before anything the main thread makes a call (the first goes the slow
 * way and turns the ring on for its vCPU) and prints "ring on".
 */
#include "hostile.h"

#define RING_VA 0xffffff0000000000UL
#define STRIDE 0x4000UL
#define MAILBOX(cpu) ((volatile u64 *)(RING_VA + (cpu) * STRIDE + 0x1000))
#define DOORBELL(cpu) ((volatile unsigned *)(RING_VA + (cpu) * STRIDE + 0x2000))
enum { ST = 0, AWAKE = 1, NR = 2, A0 = 3, RET = 9, SPINS = 10 };

static char ob[160];
static void say(const char *s, const char *t, u64 v, int hex)
{
    int k = 0, n = 0;
    char d[20];
    while (*s) ob[k++] = *s++;
    if (t) {
        while (*t) ob[k++] = *t++;
        if (hex) { ob[k++] = '0'; ob[k++] = 'x'; }
        do { d[n++] = "0123456789abcdef"[v % (hex ? 16 : 10)]; v /= hex ? 16 : 10; } while (v);
        while (n) ob[k++] = d[--n];
    }
    ob[k++] = '\n';
    sc3(1, 1, (i64)ob, k);
}

static void nap(u64 ms)
{
    i64 ts[2] = { (i64)(ms / 1000), (i64)(ms % 1000) * 1000000 };
    sc3(35, (i64)ts, 0, 0);
}

static i64 pid;
static u64 stack[2][2048] __attribute__((aligned(16)));

/* clone(CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM) running fn on stack s. */
static void spawn(void (*fn)(void), u64 *s)
{
    i64 r;
    __asm__ volatile("syscall\n test %%rax, %%rax\n jnz 1f\n call *%%rbx\n hlt\n 1:"
                     : "=a"(r) : "a"(56), "D"(0x50f00), "S"(s + 2048), "d"(0), "b"(fn)
                     : "rcx", "r11", "r10", "r8", "memory");
    (void)r;
}

/* The stub's wait loop: `pause; xor %eax,%eax; lock xadd %rax, mb_state(%rip)`. */
static u64 wait_loop(void)
{
    static const unsigned char pat[] = { 0xf3, 0x90, 0x31, 0xc0, 0xf0, 0x48, 0x0f, 0xc1, 0x05 };
    const unsigned char *code = (const unsigned char *)RING_VA;
    for (int i = 0; i + (int)sizeof pat <= 4096; i++) {
        int j = 0;
        while (j < (int)sizeof pat && code[i + j] == pat[j]) j++;
        if (j == (int)sizeof pat) return RING_VA + i;
    }
    say("no wait loop in the stub", 0, 0, 0);
    sc3(231, 8, 0, 0);
    return 0;
}

static void exit_later(void)
{
    nap(300);
    sc3(231, 3, 0, 0);
}

struct siginfo { int signo, errno_, code, pad; u64 addr; };

/* Returns from a handler (SA_RESTORER). */
__asm__(".globl sigreturn\nsigreturn:\n mov $15, %eax\n syscall\n hlt\n");
extern char sigreturn[];

static void handle(int sig, void *fn)
{
    u64 act[4] = { (u64)fn, 0x4 | 0x04000000 /* SA_SIGINFO | SA_RESTORER */, (u64)sigreturn, 0 };
    sc6(13, sig, (i64)act, 0, 8, 0, 0);
}

static void on_alarm(int sig, struct siginfo *info, void *uc)
{
    (void)sig, (void)info, (void)uc;
}

static void on_forged(int sig, struct siginfo *info, void *uc)
{
    (void)sig, (void)uc;
    say("SIGSEGV si_code ", "", (u64)info->code, 0);
    sc3(231, 6, 0, 0);
}

static void taken(const char *how)
{
    if (how[0] == 'h') {
        handle(14, on_alarm);
        handle(11, on_forged);
    }
    if (how[0] == 'a' || how[0] == 'h') sc3(37, 1, 0, 0); /* alarm(1) */
    if (how[0] == 'e') spawn(exit_later, stack[0]);
    volatile u64 *mb = MAILBOX(0);
    mb[ST] = 0; /* the first touch: where it faults, if it does */
    u64 loop = wait_loop();
    say("forged TAKEN; into the stub at ", "", loop, 1);
    mb[ST] = 2; /* TAKEN: no call was taken (after the last call) */
    __asm__ volatile("lea 1f(%%rip), %%rcx\n mov $0x202, %%r11\n jmp *%0\n 1:"
                     :: "r"(loop) : "rax", "rcx", "r11", "memory");
    say("back from the stub", 0, 0, 0);
    sc3(231, 9, 0, 0);
}

/* Has the main thread's vCPU run `nr` for the caller? Writes the request
 * into vCPU 0's mailbox, rings, waits up to 1 s for an answer. */
static i64 forge(u64 nr, u64 a0, u64 a1, u64 a2, u64 a3)
{
    volatile u64 *mb = MAILBOX(0);
    mb[ST] = 0;
    mb[NR] = nr;
    mb[A0] = a0;
    mb[A0 + 1] = a1;
    mb[A0 + 2] = a2;
    mb[A0 + 3] = a3;
    mb[SPINS] = 0;
    __atomic_store_n(&mb[ST], 1, __ATOMIC_SEQ_CST); /* REQ */
    *DOORBELL(0) = 1;
    for (int i = 0; i < 100; i++) {
        if (__atomic_load_n(&mb[ST], __ATOMIC_SEQ_CST) >= 4) return (i64)mb[RET];
        nap(10);
    }
    return -1000;
}

static u64 usr1_mask = 1UL << 9;

static void writer(void)
{
    i64 tid = forge(186, 0, 0, 0, 0); /* gettid */
    say("forged gettid answered ", "", (u64)tid, 0);
    if (tid == pid) say("  the main thread's tid", 0, 0, 0);
    i64 r = forge(14, 0 /* SIG_BLOCK */, (u64)&usr1_mask, 0, 8);
    say("forged rt_sigprocmask answered ", "", (u64)r, 0);
    sc3(234, pid, pid, 10); /* tgkill(main, SIGUSR1) */
    nap(300);
    say("SIGUSR1 did not kill the main thread", 0, 0, 0);
    sc3(231, 7, 0, 0);
}

static void on_segv(int sig, struct siginfo *info, void *uc)
{
    (void)sig;
    (void)uc;
    say("SIGSEGV at ", "", info->addr, 1);
    sc3(234, pid, pid, 10);
    nap(1000);
    sc3(231, 6, 0, 0);
}

static void sibling(const char *how)
{
    if (how[0] == 'h') handle(11, on_segv);
    spawn(writer, stack[1]);
    for (;;) nap(1000);
}

void cmain(u64 *sp)
{
    char **argv = (char **)(sp + 1);
    const char *mode = sp[0] > 1 ? argv[1] : "";
    const char *how = sp[0] > 2 ? argv[2] : "-";
    pid = sc3(39, 0, 0, 0);
    say("ring on", 0, 0, 0);
    if (mode[0] == 't') taken(how);
    if (mode[0] == 's') sibling(how);
    say("usage: ringforge taken [alarm|exit|handled] | sibling [handled]", 0, 0, 0);
    sc3(231, 2, 0, 0);
}
