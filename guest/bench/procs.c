/*
 * The process benchmark guest, timed by its own clock:
 *   procs fork N   fork with nothing touched, then with N resident pages
 *                  (fork0_ns=, forkN_ns=); the child of the second writes
 *                  all N pages (copy-on-write, cow_ns=) after the parent
 *                  zero-filled them (zero_ns=).
 *   procs pingpong R   R one-byte round trips through two pipes between
 *                  two processes (pingpong_ns=).
 *   procs calls N  N getppid calls back to back (calls_ns=), then one
 *                  after 20 ms asleep (cold_ns=).
 *   procs mixed N  N times: a getppid, then the first write to a page
 *                  (mixed_ns=): calls and page faults taking turns.
 *   procs stub N NR  N calls of syscall number NR, which must answer
 *                  -ENOSYS (stub_ns=): under faultline, the number its
 *                  ring stub answers without leaving the guest.
 */
#include "faultline_rt.h"

#define PAGE 4096
#define MAX_PAGES 32768

static char arena[MAX_PAGES * PAGE];

static long fork_(void)
{
    return fl_fork();
}

static void reap(void)
{
    int st;
    __asm__ volatile("" ::: "memory");
    fl_syscall6(__NR_wait4, -1, (long)&st, 0, 0, 0, 0); /* no rusage */
}

static void field(const char *name, long v)
{
    fl_puts(name);
    fl_put_u((unsigned long)v);
    fl_puts(" ");
}

static int bench_fork(unsigned long n)
{
    /* A first fork makes the VMM's second vCPU; the ones measured reuse
     * it. */
    long pid = fork_();
    if (pid == 0)
        fl_exit(0);
    reap();
    long t0 = fl_now_ns();
    pid = fork_();
    if (pid == 0)
        fl_exit(0);
    long fork0 = fl_now_ns() - t0;
    reap();
    t0 = fl_now_ns();
    for (unsigned long i = 0; i < n; i++)
        ((volatile char *)arena)[i * PAGE] = 1;
    long zero = fl_now_ns() - t0;
    t0 = fl_now_ns();
    pid = fork_();
    if (pid == 0) {
        long c0 = fl_now_ns();
        for (unsigned long i = 0; i < n; i++)
            ((volatile char *)arena)[i * PAGE] = 2;
        field("cow_ns=", fl_now_ns() - c0);
        fl_puts("\n");
        fl_exit(0);
    }
    long forkn = fl_now_ns() - t0;
    reap();
    field("pages=", (long)n);
    field("fork0_ns=", fork0);
    field("forkN_ns=", forkn);
    field("zero_ns=", zero);
    fl_puts("\n");
    return 0;
}

static int bench_pingpong(unsigned long rounds)
{
    int ab[2], ba[2];
    if (fl_pipe(ab) || fl_pipe(ba))
        return 1;
    char c = 0;
    if (fork_() == 0) {
        for (unsigned long i = 0; i < rounds; i++) {
            fl_syscall3(__NR_read, ab[0], (long)&c, 1);
            fl_write(ba[1], &c, 1);
        }
        fl_exit(0);
    }
    long t0 = fl_now_ns();
    for (unsigned long i = 0; i < rounds; i++) {
        fl_write(ab[1], &c, 1);
        fl_syscall3(__NR_read, ba[0], (long)&c, 1);
    }
    long t = fl_now_ns() - t0;
    reap();
    field("rounds=", (long)rounds);
    field("pingpong_ns=", t);
    fl_puts("\n");
    return 0;
}

static int bench_calls(unsigned long n, int mixed)
{
    if (mixed && n > MAX_PAGES)
        return 2;
    fl_syscall1(__NR_getppid, 0);
    long t0 = fl_now_ns();
    for (unsigned long i = 0; i < n; i++) {
        fl_syscall1(__NR_getppid, 0);
        if (mixed)
            ((volatile char *)arena)[i * PAGE] = 1;
    }
    long t = fl_now_ns() - t0;
    field(mixed ? "mixed_ns=" : "calls_ns=", t);
    if (!mixed) {
        struct fl_timespec ts = {0, 20000000};
        fl_syscall2(__NR_nanosleep, (long)&ts, 0);
        t0 = fl_now_ns();
        fl_syscall1(__NR_getppid, 0);
        field("cold_ns=", fl_now_ns() - t0);
    }
    fl_puts("\n");
    return 0;
}

static int bench_stub(unsigned long n, long nr)
{
    /* A thread's first call finds where the ring's stub is: by exit. */
    fl_syscall1(__NR_getppid, 0);
    if (fl_syscall1(nr, 0) != -38)
        return 3;
    long t0 = fl_now_ns();
    for (unsigned long i = 0; i < n; i++)
        fl_syscall1(nr, 0);
    field("stub_ns=", fl_now_ns() - t0);
    fl_puts("\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    unsigned long n = fl_atou(argv[2]);
    if (argv[1][0] == 's')
        return argc > 3 ? bench_stub(n, (long)fl_atou(argv[3])) : 2;
    if (argv[1][0] == 'f')
        return n <= MAX_PAGES ? bench_fork(n) : 2;
    if (argv[1][0] == 'c')
        return bench_calls(n, 0);
    if (argv[1][0] == 'm')
        return bench_calls(n, 1);
    return bench_pingpong(n);
}
