/*
 * Signal handlers in glibc and musl: a SIGSEGV handler that mends the
 * fault, si_addr and si_code as Linux fills them, SA_RESTART against EINTR,
 * the alternate stack. Built twice: signals-glibc and signals-musl. stdout
 * carries only facts that do not depend on timing or addresses.
 *
 *   signals barrier N     write barrier: N pages, mprotect read-only; each
 *                         write faults once, the handler notes the page and
 *                         unprotects it; then writes again (no faults)
 *   signals barrier-fresh N   the same with pages never touched before
 *   signals null          a NULL write, caught: si_addr, si_code
 *   signals accerr        a write to a read-only page, caught: SEGV_ACCERR
 *   signals sigbus FILE   a read past the end of a mapped file, caught:
 *                         SIGBUS, BUS_ADRERR, si_addr
 *   signals restart       SA_RESTART: a blocking pipe read survives a signal
 *   signals eintr         no SA_RESTART: the read fails with EINTR
 *   signals alarm         as eintr, with alarm() instead of another thread
 *   signals sleep         nanosleep and clock_nanosleep (absolute) a handler
 *                         interrupts: EINTR even under SA_RESTART, with
 *                         what was left in rem; a SIGCONT with no handler
 *                         does not cut a sleep short
 *   signals ppoll         ppoll with a mask that lets SIGUSR1 in: the handler
 *                         runs, ppoll fails with EINTR (even under
 *                         SA_RESTART), and the old mask is back after
 *   signals altstack      unbounded recursion; SIGSEGV on the sigaltstack
 *   signals mask          sigprocmask, sigpending, sigsuspend, sigtimedwait
 *   signals nodefer       what a handler's mask holds: its own signal unless
 *                         SA_NODEFER, and sa_mask; nested delivery
 *   signals sse           the same, with xmm registers and MXCSR set around
 *                         a kill() in inline assembly (aarch64: v0, v7,
 *                         v15 and FPCR)
 *   signals fpu           the handler clobbers SSE registers; the
 *                         interrupted code's come back intact
 * err, trapno and cr2_ok are the frame's error code, trap number and CR2
 * on x86-64; on aarch64 err is the frame's ESR (esr_context, -1 without
 * one), trapno 0, and cr2_ok compares its fault_address.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

static char *region;
static size_t npages;
static volatile int hits;
static volatile unsigned char seen[256];
static volatile int bad_addr;

static void mend(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    uintptr_t a = (uintptr_t)si->si_addr;
    uintptr_t lo = (uintptr_t)region;
    if (a < lo || a >= lo + npages * PAGE || si->si_code != SEGV_ACCERR) {
        bad_addr = 1;
        _exit(3);
    }
    size_t page = (a - lo) / PAGE;
    seen[page]++;
    hits++;
    mprotect(region + page * PAGE, PAGE, PROT_READ | PROT_WRITE);
}

static int barrier(int n, int fresh)
{
    if (n < 1 || n > 256)
        return 2;
    npages = n;
    region = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!fresh)
        for (int i = 0; i < n; i++)
            region[i * PAGE] = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = mend;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    mprotect(region, n * PAGE, PROT_READ);
    fprintf(stderr, "region=%p\n", (void *)region);
    /* Each page written twice, at two offsets: only the first faults. */
    for (int i = 0; i < n; i++)
        region[i * PAGE + 8] = 2;
    for (int i = 0; i < n; i++)
        region[i * PAGE + 16] = 3;
    int once = 1, sum = 0;
    for (int i = 0; i < n; i++) {
        once &= seen[i] == 1;
        sum += region[i * PAGE] + region[i * PAGE + 8] + region[i * PAGE + 16];
    }
    printf("barrier: pages=%d hits=%d each_once=%d sum=%d\n", n, hits, once, sum);
    return 0;
}

static sigjmp_buf back;
static volatile uintptr_t got_addr;
static volatile int got_code, got_signo;
static volatile long got_err, got_trapno, got_cr2_matches;

#if defined(__aarch64__)
/* ESR_EL1 as the kernel put it in the frame's esr_context record, or -1. */
static long frame_esr(const ucontext_t *uc)
{
    const unsigned char *p = (const unsigned char *)uc->uc_mcontext.__reserved;
    size_t off = 0, end = sizeof uc->uc_mcontext.__reserved;
    while (off + 16 <= end) {
        uint32_t magic, size;
        memcpy(&magic, p + off, 4);
        memcpy(&size, p + off + 4, 4);
        if (magic == 0 || size < 8 || size > end - off)
            break;
        if (magic == 0x45535201) { /* ESR_MAGIC */
            uint64_t esr;
            memcpy(&esr, p + off + 8, 8);
            return (long)esr;
        }
        off += size;
    }
    return -1;
}
#endif

static void catch(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
#if defined(__x86_64__)
    got_err = uc->uc_mcontext.gregs[REG_ERR];
    got_trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
    got_cr2_matches = (uintptr_t)uc->uc_mcontext.gregs[REG_CR2] == (uintptr_t)si->si_addr;
#elif defined(__aarch64__)
    got_err = frame_esr(uc);
    got_trapno = 0;
    got_cr2_matches = (uintptr_t)uc->uc_mcontext.fault_address == (uintptr_t)si->si_addr;
#else
#error "signals.c: no frame fields for this architecture"
#endif
    got_signo = sig;
    got_addr = (uintptr_t)si->si_addr;
    got_code = si->si_code;
    siglongjmp(back, 1);
}

static void on(int sig, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = catch;
    sa.sa_flags = SA_SIGINFO | flags;
    sigaction(sig, &sa, NULL);
}

static int null(void)
{
    on(SIGSEGV, 0);
    if (!sigsetjmp(back, 1)) {
        *(volatile int *)0 = 1;
        printf("null: no fault\n");
        return 1;
    }
    printf("null: signo=%d si_addr=%#lx si_code=%d\n", got_signo, (unsigned long)got_addr, got_code);
    if (!sigsetjmp(back, 1)) {
        *(volatile int *)0x10 = 1;
        return 1;
    }
    printf("null+16: si_addr=%#lx si_code=%d\n", (unsigned long)got_addr, got_code);
    return 0;
}

static int accerr(void)
{
    char *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    on(SIGSEGV, 0);
    if (!sigsetjmp(back, 1)) {
        p[100] = 1;
        return 1;
    }
    printf("accerr: signo=%d offset=%ld si_code=%d err=%ld trapno=%ld cr2_ok=%ld\n", got_signo,
           (long)(got_addr - (uintptr_t)p), got_code, got_err, got_trapno, got_cr2_matches);
    char *q = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!sigsetjmp(back, 1)) {
        (void)*(volatile char *)(q + 5);
        return 1;
    }
    printf("prot_none read: offset=%ld si_code=%d err=%ld\n", (long)(got_addr - (uintptr_t)q), got_code, got_err);
    munmap(q, PAGE);
    if (!sigsetjmp(back, 1)) {
        (void)*(volatile char *)(q + 7);
        return 1;
    }
    printf("unmapped read: offset=%ld si_code=%d err=%ld\n", (long)(got_addr - (uintptr_t)q), got_code, got_err);
    return 0;
}

static int sigbus(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 2;
    char *p = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return 2;
    on(SIGBUS, 0);
    volatile char c = p[0];
    (void)c;
    if (!sigsetjmp(back, 1)) {
        c = p[PAGE + 12];
        return 1;
    }
    printf("sigbus: signo=%d offset=%ld si_code=%d err=%ld trapno=%ld cr2_ok=%ld\n", got_signo,
           (long)(got_addr - (uintptr_t)p), got_code, got_err, got_trapno, got_cr2_matches);
    return 0;
}

static volatile int handled;
static int pipefd[2];
static pthread_t main_thread;

static void count(int sig)
{
    (void)sig;
    handled++;
}

/* Waits (up to ~2 s) until the main thread sleeps in the kernel, as
 * /proc shows it: a signal sent earlier would find it before its read,
 * which a busy machine made happen. */
static void wait_main_blocked(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)getpid());
    for (int i = 0; i < 1000; i++) {
        char buf[512] = {0};
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            if (read(fd, buf, sizeof buf - 1) < 0)
                buf[0] = 0;
            close(fd);
        }
        char *p = strrchr(buf, ')');
        if (p && p[1] == ' ' && p[2] == 'S')
            return;
        struct timespec t = {0, 2 * 1000000};
        nanosleep(&t, NULL);
    }
}

/* Signals the main thread once it blocks in its read (unless arg: the
 * alarm does), then writes. */
static void *poke(void *arg)
{
    struct timespec d = {0, 50 * 1000000};
    nanosleep(&d, NULL);
    if (!arg) {
        wait_main_blocked();
        pthread_kill(main_thread, SIGUSR1);
    }
    nanosleep(&d, NULL);
    nanosleep(&d, NULL);
    write(pipefd[1], "x", 1);
    return NULL;
}

static int blocking_read(int flags, int use_alarm)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count;
    sa.sa_flags = flags;
    sigaction(use_alarm ? SIGALRM : SIGUSR1, &sa, NULL);
    pipe(pipefd);
    main_thread = pthread_self();
    pthread_t t;
    if (use_alarm) {
        struct itimerval it = {{0, 0}, {0, 50000}};
        setitimer(ITIMER_REAL, &it, NULL);
    }
    pthread_create(&t, NULL, poke, use_alarm ? &t : NULL);
    char c = 0;
    ssize_t r = read(pipefd[0], &c, 1);
    int e = errno;
    printf("%s: read=%zd errno=%s handled=%d byte=%c\n", flags & SA_RESTART ? "restart" : "eintr", r,
           r < 0 ? strerror(e) : "-", handled, c ? c : '-');
    pthread_join(t, NULL);
    return 0;
}

static pthread_t sleeper;

static void *send_later(void *arg)
{
    int sig = (int)(uintptr_t)arg;
    struct timespec d = {0, 30 * 1000000};
    nanosleep(&d, NULL);
    pthread_kill(sleeper, sig);
    return NULL;
}

static long ms_between(const struct timespec *a, const struct timespec *b)
{
    return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

static int sleeps(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sleeper = pthread_self();
    pthread_t t;
    struct timespec req = {0, 300 * 1000000}, rem = {0, 0}, t0, t1;

    pthread_create(&t, NULL, send_later, (void *)(uintptr_t)SIGUSR1);
    int r = nanosleep(&req, &rem);
    int e = errno;
    pthread_join(t, NULL);
    long left = rem.tv_sec * 1000 + rem.tv_nsec / 1000000;
    printf("nanosleep: r=%d errno=%s handled=%d rem_ok=%d\n", r, r ? strerror(e) : "-", handled,
           left > 100 && left < 300);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct timespec until = t0;
    until.tv_sec += 1;
    pthread_create(&t, NULL, send_later, (void *)(uintptr_t)SIGUSR1);
    r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(t, NULL);
    printf("clock_nanosleep abs: r=%s handled=%d early=%d\n", r ? strerror(r) : "0", handled, ms_between(&t0, &t1) < 900);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_create(&t, NULL, send_later, (void *)(uintptr_t)SIGCONT);
    req.tv_nsec = 150 * 1000000;
    r = nanosleep(&req, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(t, NULL);
    printf("sigcont: r=%d full=%d\n", r, ms_between(&t0, &t1) >= 150);
    return 0;
}

static int ppoll_mask(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t block, open_mask, now;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    sigemptyset(&open_mask);
    pipe(pipefd);
    sleeper = pthread_self();
    pthread_t t;
    pthread_create(&t, NULL, send_later, (void *)(uintptr_t)SIGUSR1);
    struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
    int r = ppoll(&p, 1, NULL, &open_mask);
    int e = errno;
    pthread_join(t, NULL);
    sigprocmask(SIG_SETMASK, NULL, &now);
    printf("ppoll: r=%d errno=%s handled=%d blocked_after=%d\n", r, strerror(e), handled, sigismember(&now, SIGUSR1));
    struct timespec zero = {0, 0};
    r = ppoll(&p, 1, &zero, NULL);
    printf("ppoll timeout: r=%d\n", r);
    write(pipefd[1], "y", 1);
    r = poll(&p, 1, -1);
    printf("poll ready: r=%d revents_in=%d\n", r, (p.revents & POLLIN) != 0);
    return 0;
}

static char *alt_lo, *alt_hi;

static void overflow_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    char here;
    int on_alt = &here >= alt_lo && &here < alt_hi;
    stack_t ss;
    sigaltstack(NULL, &ss);
    char msg[128];
    int n = snprintf(msg, sizeof msg, "altstack: signo=%d si_code=%d on_altstack=%d ss_onstack=%d\n", sig,
                     si->si_code, on_alt, (ss.ss_flags & SS_ONSTACK) != 0);
    write(1, msg, n);
    _exit(0);
}

static int depth(int n)
{
    volatile char pad[1024];
    pad[0] = (char)n;
    return depth(n + 1) + pad[0];
}

static int altstack(void)
{
    size_t size = 64 * 1024;
    alt_lo = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    alt_hi = alt_lo + size;
    stack_t ss = {.ss_sp = alt_lo, .ss_size = size, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0)
        return 1;
    stack_t old;
    sigaltstack(NULL, &old);
    printf("altstack: set flags=%d size_ok=%d\n", old.ss_flags, old.ss_size == size);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = overflow_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    return depth(0);
}

static void nothing(int sig)
{
    (void)sig;
    handled++;
}

static int masks(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = nothing;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigset_t block, old, pend;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, &old);
    raise(SIGUSR1);
    kill(getpid(), SIGUSR2);
    sigpending(&pend);
    printf("mask: pending usr1=%d usr2=%d handled=%d\n", sigismember(&pend, SIGUSR1), sigismember(&pend, SIGUSR2),
           handled);
    /* sigtimedwait takes one without running the handler. */
    siginfo_t si;
    sigset_t want;
    sigemptyset(&want);
    sigaddset(&want, SIGUSR2);
    int s = sigtimedwait(&want, &si, NULL);
    printf("sigtimedwait: sig=%d code_is_user=%d pid_ok=%d handled=%d\n", s, si.si_code == SI_USER,
           si.si_pid == getpid(), handled);
    struct timespec ts = {0, 10 * 1000000};
    s = sigtimedwait(&want, &si, &ts);
    printf("sigtimedwait timeout: r=%d errno=%s\n", s, strerror(errno));
    /* sigsuspend with an empty mask runs the SIGUSR1 handler, returns EINTR. */
    sigset_t none;
    sigemptyset(&none);
    s = sigsuspend(&none);
    printf("sigsuspend: r=%d errno=%s handled=%d\n", s, strerror(errno), handled);
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    printf("mask restored: usr1=%d usr2=%d\n", sigismember(&now, SIGUSR1), sigismember(&now, SIGUSR2));
    sigprocmask(SIG_SETMASK, &old, NULL);
    /* SA_RESETHAND: the second raise is the default action's. */
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    struct sigaction cur;
    sigaction(SIGUSR2, NULL, &cur);
    printf("resethand: handled=%d now_default=%d\n", handled, cur.sa_handler == SIG_DFL);
    /* SA_NODEFER or not: is the signal blocked inside its handler? */
    return 0;
}

static volatile int self_blocked, usr2_blocked, depth_now, depth_max, entries;

static void look(int sig)
{
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    self_blocked = sigismember(&cur, sig);
    usr2_blocked = sigismember(&cur, SIGUSR2);
    depth_now++;
    if (depth_now > depth_max)
        depth_max = depth_now;
    /* With SA_NODEFER, raising it again nests at once; without, it runs
     * after this handler returns. Three runs either way. */
    if (++entries < 3)
        raise(sig);
    depth_now--;
}

static int nodefer(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = look;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("deferred: self_blocked=%d usr2_blocked=%d depth_max=%d\n", self_blocked, usr2_blocked, depth_max);
    depth_max = 0;
    entries = 0;
    sa.sa_flags = SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("nodefer: self_blocked=%d usr2_blocked=%d depth_max=%d\n", self_blocked, usr2_blocked, depth_max);
    sigset_t cur;
    sigprocmask(SIG_SETMASK, NULL, &cur);
    printf("after: usr1_blocked=%d usr2_blocked=%d\n", sigismember(&cur, SIGUSR1), sigismember(&cur, SIGUSR2));
    return 0;
}

static volatile double clobber_sink;

static void clobber(int sig)
{
    (void)sig;
    volatile double x = 3.25;
    for (int i = 0; i < 10; i++)
        x = x * 1.5 + 0.25;
    clobber_sink = x;
    handled++;
}

/* Clobbers SSE registers and MXCSR (aarch64: v0, v7, v15 and FPCR): the
 * interrupted code must not see it. */
static void clobber_sse(int sig)
{
    (void)sig;
#if defined(__x86_64__)
    unsigned int mxcsr = 0x7f80; /* round toward zero, all masked */
    __asm__ volatile("pcmpeqd %%xmm0, %%xmm0\n\tpcmpeqd %%xmm7, %%xmm7\n\tpcmpeqd %%xmm15, %%xmm15\n\tldmxcsr %0"
                     :
                     : "m"(mxcsr)
                     : "xmm0", "xmm7", "xmm15");
#elif defined(__aarch64__)
    unsigned long fpcr = 3UL << 22; /* RMode: round toward zero */
    __asm__ volatile("movi v0.2d, #0xffffffffffffffff\n\tmovi v7.2d, #0xffffffffffffffff\n\t"
                     "movi v15.2d, #0xffffffffffffffff\n\tmsr fpcr, %0"
                     :
                     : "r"(fpcr)
                     : "v0", "v7", "v15");
#endif
    handled++;
}

/* Values in xmm0, xmm7, xmm15 across a kill() whose signal runs a handler
 * on the way back from the syscall. */
static int sse(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = clobber_sse;
    sigaction(SIGUSR1, &sa, NULL);
    double in[3] = {1.5, 2.5, 3.5}, out[3] = {0, 0, 0};
    long pid = getpid();
#if defined(__x86_64__)
    unsigned int before = 0, after = 0;
    __asm__ volatile("stmxcsr %[before]\n\t"
                     "movsd %[a], %%xmm0\n\tmovsd %[b], %%xmm7\n\tmovsd %[c], %%xmm15\n\t"
                     "mov $62, %%eax\n\tmov %[pid], %%rdi\n\tmov $10, %%esi\n\tsyscall\n\t"
                     "movsd %%xmm0, %[x]\n\tmovsd %%xmm7, %[y]\n\tmovsd %%xmm15, %[z]\n\t"
                     "stmxcsr %[after]"
                     : [x] "=m"(out[0]), [y] "=m"(out[1]), [z] "=m"(out[2]), [before] "=m"(before), [after] "=m"(after)
                     : [a] "m"(in[0]), [b] "m"(in[1]), [c] "m"(in[2]), [pid] "r"(pid)
                     : "rax", "rdi", "rsi", "rcx", "r11", "memory", "xmm0", "xmm7", "xmm15");
    printf("sse: handled=%d xmm0=%.1f xmm7=%.1f xmm15=%.1f mxcsr_kept=%d\n", handled, out[0], out[1], out[2],
           before == after);
#elif defined(__aarch64__)
    unsigned long before = 0, after = 0;
    register long x0 __asm__("x0") = pid;
    register long x1 __asm__("x1") = SIGUSR1;
    register long x8 __asm__("x8") = SYS_kill;
    __asm__ volatile("mrs %[before], fpcr\n\t"
                     "ldr d0, %[a]\n\tldr d7, %[b]\n\tldr d15, %[c]\n\t"
                     "svc #0\n\t"
                     "str d0, %[x]\n\tstr d7, %[y]\n\tstr d15, %[z]\n\t"
                     "mrs %[after], fpcr"
                     : [x] "=m"(out[0]), [y] "=m"(out[1]), [z] "=m"(out[2]), [before] "=&r"(before),
                       [after] "=r"(after), "+r"(x0)
                     : [a] "m"(in[0]), [b] "m"(in[1]), [c] "m"(in[2]), "r"(x1), "r"(x8)
                     : "memory", "v0", "v7", "v15");
    printf("sse: handled=%d v0=%.1f v7=%.1f v15=%.1f fpcr_kept=%d\n", handled, out[0], out[1], out[2],
           before == after);
#else
#error "signals.c: no sse case for this architecture"
#endif
    return 0;
}

static int fpu(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = clobber;
    sigaction(SIGUSR1, &sa, NULL);
    double a = 1.0;
    for (int i = 0; i < 1000; i++) {
        a = a * 1.0001 + 0.5;
        if (i == 500)
            raise(SIGUSR1);
    }
    printf("fpu: handled=%d a=%.6f\n", handled, a);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "barrier"))
        return barrier(argc > 2 ? atoi(argv[2]) : 8, 0);
    if (!strcmp(argv[1], "barrier-fresh"))
        return barrier(argc > 2 ? atoi(argv[2]) : 8, 1);
    if (!strcmp(argv[1], "null"))
        return null();
    if (!strcmp(argv[1], "accerr"))
        return accerr();
    if (!strcmp(argv[1], "sigbus"))
        return sigbus(argc > 2 ? argv[2] : "/etc/hostname");
    if (!strcmp(argv[1], "restart"))
        return blocking_read(SA_RESTART, 0);
    if (!strcmp(argv[1], "eintr"))
        return blocking_read(0, 0);
    if (!strcmp(argv[1], "alarm"))
        return blocking_read(0, 1);
    if (!strcmp(argv[1], "alarm-restart"))
        return blocking_read(SA_RESTART, 1);
    if (!strcmp(argv[1], "ppoll"))
        return ppoll_mask();
    if (!strcmp(argv[1], "sleep"))
        return sleeps();
    if (!strcmp(argv[1], "altstack"))
        return altstack();
    if (!strcmp(argv[1], "mask"))
        return masks();
    if (!strcmp(argv[1], "nodefer"))
        return nodefer();
    if (!strcmp(argv[1], "sse"))
        return sse();
    if (!strcmp(argv[1], "fpu"))
        return fpu();
    return 2;
}
