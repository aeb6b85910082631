/* A syscall fuzzer guest: sysfuzz SEED COUNT [PROCS [THREADS]]  (or: sysfuzz name,
 * or: sysfuzz fs SEED COUNT OUTSIDE, the file-system fuzzer below)
 *
 * Issues COUNT random syscalls (seeded, so a run repeats) with hostile
 * arguments: pointers into its own scratch mapping, unmapped space, the
 * kernel half, the VMM's shim and page tables, non-canonical addresses,
 * the top of user space; huge and negative lengths; all-ones flags; fds
 * it opened and fds it never had. With PROCS > 1 it forks that many
 * fuzzers first, each with its own seed, and waits for them; with
 * THREADS > 1 (up to 8) each process runs that many fuzzing threads.
 * Each thread prints "calls N" when done.
 *
 * Left out: calls that would only end it (exit, kill, rt_sigreturn,
 * execve, seccomp, rlimits, timers that raise signals), calls that block
 * (sleeps, waits, futex, poll) and objects that could block a later read
 * or write (pipes, sockets, eventfds). Memory-management calls only get
 * addresses that cannot hit its own text, data or stack, so the run
 * keeps going. Exits 0. */
#include "hostile.h"

/* Each fuzzing thread has its own generator state, passed down. */
static u64 rnd(u64 *state)
{
    u64 z = (*state += 0x9e3779b97f4a7c15UL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9UL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebUL;
    return z ^ (z >> 31);
}
static u64 atou(const char *s) { u64 v = 0; while (*s >= '0' && *s <= '9') v = v * 10 + (u64)(*s++ - '0'); return v; }
static void pdec(const char *label, u64 v)
{
    char ob[64];
    int k = 0, n = 0; char t[24];
    while (label[k]) { ob[k] = label[k]; k++; }
    do { t[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) ob[k++] = t[--n];
    ob[k++] = '\n';
    if (sc3(1, 700, (i64)ob, k) < 0) sc3(1, 1, (i64)ob, k);
}

#define ARENA 0x200000000UL
#define ARENA_PAGES 64UL
#define USER_TOP 0x7ffffffff000UL

/* Never issued. */
static const short excluded[] = {
    60, 231, 62, 200, 234, 129, 297, 424, 15, 59, 322, 56, 57, 58, 435, /* end it, or make tasks */
    37, 38, 222, 223, 317, 160, 302,                                      /* signals, seccomp, rlimits */
    7, 23, 34, 35, 61, 247, 202, 230, 270, 271, 232, 281, 441, 130, 128,  /* block */
    70, 65, 220, 243, 242, 208, 426, 73, 43, 288, 42, 45, 47, 299, 240,   /* block */
    41, 53, 22, 293, 284, 290, 282, 289, 283, 213, 291, 323, 253, 294,    /* blocking fds */
    298, 434, 425, 310, 311, 101, 436,                                    /* perf, io_uring, other mms, close_range */
};
/* Memory-management calls: their address arguments come from mm_ptr(s). */
static int is_mm(u64 n)
{
    return n == 9 || n == 10 || n == 11 || n == 12 || n == 25 || n == 26 || n == 28 || n == 149 || n == 150 ||
           n == 216 || n == 325 || n == 329 || n == 237 || n == 27 || n == 221 || n == 279 || n == 256;
}

static u64 mm_ptr(u64 *s)
{
    switch (rnd(s) % 8) {
    case 0: case 1: case 2: return ARENA + (rnd(s) % ARENA_PAGES) * 4096 + (rnd(s) % 4 == 0 ? rnd(s) % 4096 : 0);
    case 3: return 0xffff800000000000UL + (rnd(s) % 16) * 4096;
    case 4: return 0x0000800000000000UL + (rnd(s) % 4) * 4096;
    case 5: return 0xffffff8000000000UL + (rnd(s) % 0x200) * 4096; /* the shim, the VMM's tables */
    case 6: return USER_TOP + (rnd(s) % 4) * 4096;
    default: return 0x8000000000000000UL | rnd(s);
    }
}

static u64 ptr(u64 *s)
{
    switch (rnd(s) % 10) {
    case 0: return 0;
    case 1: return 0x10000 + rnd(s) % 0x1000;
    case 2: return 0x2100000 + (rnd(s) % 64) * 4096; /* where the VMM's page tables sit in guest-physical space */
    case 3: return 0x100000000UL;                   /* RAM's guest-physical base */
    case 4: return ARENA + ARENA_PAGES * 4096 - 1 - rnd(s) % 16; /* crossing the arena's end */
    case 5: return USER_TOP - 1 - rnd(s) % 64;                   /* crossing the top of user space */
    case 6: return rnd(s);
    default: return mm_ptr(s);
    }
}

static u64 len(u64 *s)
{
    static const u64 l[] = {0, 1, 8, 4095, 4096, 4097, 1UL << 20, 1UL << 31, 1UL << 32, 1UL << 46, 1UL << 47,
                            1UL << 63, ~0UL, ~0UL - 4095, 0x7fffffff};
    return rnd(s) % 4 ? l[rnd(s) % (sizeof l / sizeof *l)] : rnd(s);
}

static u64 flags(u64 *s)
{
    switch (rnd(s) % 5) {
    case 0: return ~0UL;
    case 1: return 0xffffffffUL;
    case 2: return 1UL << (rnd(s) % 64);
    case 3: return rnd(s) % 16;
    default: return rnd(s);
    }
}

static u64 fd(u64 *s)
{
    static const i64 f[] = {-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -100 /* AT_FDCWD */, 1023, 1L << 31, 65536};
    return (u64)f[rnd(s) % (sizeof f / sizeof *f)];
}

static u64 arg(u64 *s)
{
    switch (rnd(s) % 6) {
    case 0: case 1: return ptr(s);
    case 2: return len(s);
    case 3: return flags(s);
    case 4: return fd(s);
    default: return rnd(s) % 64;
    }
}

static u64 pick_nr(u64 *s)
{
    for (;;) {
        u64 r = rnd(s) % 64, n;
        if (r == 0)
            n = rnd(s) % 4 ? 335 + rnd(s) % 89 : rnd(s); /* unassigned, and out of range */
        else if (r < 4)
            n = 424 + rnd(s) % 40;
        else
            n = rnd(s) % 335;
        int ok = 1;
        for (u64 i = 0; i < sizeof excluded / sizeof *excluded; i++)
            if ((u64)excluded[i] == n) ok = 0;
        if (ok) return n;
    }
}

static void fill_arena(void)
{
    static const char *const strings[] = {"/proc/self/maps", "/dev/zero", "/dev/null", "/tmp/sysfuzz",
                                          "/", "/proc/self/mem", "/etc/passwd", "\x1b[2J\r\nevil\x07name",
                                          "/proc/self/status", "."};
    char *a = (char *)ARENA;
    for (u64 p = 0; p < ARENA_PAGES; p++) {
        const char *s = strings[p % (sizeof strings / sizeof *strings)];
        u64 k = 0;
        for (; s[k]; k++) a[p * 4096 + k] = s[k];
        a[p * 4096 + k] = 0;
        /* then an iovec pointing at the arena and one at the kernel half */
        u64 *iov = (u64 *)(a + p * 4096 + 2048);
        iov[0] = ARENA + 8192; iov[1] = 4096;
        iov[2] = 0xffff800000000000UL; iov[3] = 64;
    }
}

static u64 thread_count;
static volatile int live;
static char stacks[8][65536] __attribute__((aligned(16)));

/* COUNT random calls, then a line with the count. */
static void fuzz(u64 seed, u64 count)
{
    u64 state = seed, *s = &state;
    u64 i;
    for (i = 0; i < count; i++) {
        u64 n = pick_nr(s), a[6];
        for (int k = 0; k < 6; k++) a[k] = arg(s);
        if (is_mm(n)) {
            a[0] = mm_ptr(s);
            if (n == 25) a[4] = mm_ptr(s); /* mremap's new address */
            /* madvise and mprotect walk every VMA up to start + len, past
             * the top of user space too, as on Linux: from the arena no
             * further than 2^46, short of its stack (-1 still tries a wrap) */
            if (a[0] - ARENA < (1UL << 40) && a[1] > (1UL << 46) && a[1] != ~0UL) a[1] = 1UL << 46;
            if (n == 9) a[3] &= ~(0x8000UL | 0x2000UL); /* no MAP_POPULATE, MAP_LOCKED: not an OOM kill */
            if (n == 28 && (a[2] == 22 || a[2] == 23)) a[2] = 4; /* MADV_POPULATE_*: likewise */
        }
        if (n == 157 && a[0] == 22) a[0] = 15; /* PR_SET_SECCOMP -> PR_SET_NAME */
        if (n == 157 && a[0] == 26) a[0] = 15; /* PR_SET_TSC */
        sc6((i64)n, a[0], a[1], a[2], a[3], a[4], a[5]);
    }
    pdec("calls ", i);
    __atomic_fetch_sub(&live, 1, __ATOMIC_RELEASE);
}

static void fs_fuzz(u64 seed, u64 count, const char *outside);

/* clone(CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM) onto `sp`, whose top
 * word is the seed: the child pops it and runs thread_main. */
static void spawn(u64 *sp)
{
    i64 r;
    __asm__ volatile("syscall\n test %%rax, %%rax\n jnz 1f\n pop %%rdi\n call thread_main\n hlt\n 1:"
                     : "=a"(r) : "a"(56), "D"(0x50f00), "S"(sp), "d"(0) : "rcx", "r11", "r10", "r8", "memory");
    (void)r;
}

void cmain(u64 *sp)
{
    char **argv = (char **)(sp + 1);
    if (sp[0] > 1 && argv[1][0] == 'n') { /* sysfuzz name: renames itself with control bytes, then crashes */
        sc6(157, 15 /* PR_SET_NAME */, (i64)"\x1b[2J\r\nevil\x07", 0, 0, 0, 0);
        *(volatile int *)8 = 1;
    }
    if (sp[0] > 4 && argv[1][0] == 'f' && argv[1][1] == 's') { /* sysfuzz fs SEED COUNT OUTSIDE */
        if (sc6(9, ARENA, ARENA_PAGES * 4096, 3, 0x22 | 0x100000, -1, 0) != (i64)ARENA)
            sc3(231, 2, 0, 0);
        sc3(33, 1, 700, 0);
        fs_fuzz(atou(argv[2]), atou(argv[3]), argv[4]);
        sc3(231, 0, 0, 0);
    }
    u64 seed = sp[0] > 1 ? atou(argv[1]) : 1;
    u64 count = sp[0] > 2 ? atou(argv[2]) : 100000;
    u64 procs = sp[0] > 3 ? atou(argv[3]) : 1;
    u64 threads = sp[0] > 4 ? atou(argv[4]) : 1;
    if (threads > 8) threads = 8;
    thread_count = count;
    for (u64 p = 1; p < procs; p++) {
        if (sc3(57, 0, 0, 0) == 0) { seed = seed * 1000003 + p; procs = 1; break; } /* a child fuzzes */
    }
    if (sc6(9, ARENA, ARENA_PAGES * 4096, 3, 0x22 | 0x100000 /* MAP_FIXED_NOREPLACE */, -1, 0) != (i64)ARENA)
        sc3(231, 2, 0, 0);
    fill_arena();
    /* stdout kept where the fuzzing is unlikely to reach, for the count */
    sc3(33, 1, 700, 0);
    /* and stderr sent to /dev/null: faultline's own stderr then carries
     * only its messages, which the test checks */
    sc3(33, sc3(2, (i64)"/dev/null", 1, 0), 2, 0);
    /* A few real fds to work on. */
    sc3(2, ARENA, 0, 0);
    sc3(2, ARENA + 4096, 0, 0);
    sc3(2, ARENA + 8192, 2, 0);
    sc3(319, ARENA + 4096 * 7, 0, 0); /* memfd_create */
    threads = threads ? threads : 1;
    live = (int)threads;
    for (u64 t = 1; t < threads; t++) {
        u64 *top = (u64 *)(stacks[t] + sizeof stacks[t]);
        top[-1] = seed * 7919 + t;
        spawn(top - 1);
    }
    fuzz(seed, count);
    while (__atomic_load_n(&live, __ATOMIC_ACQUIRE) > 0) sc3(24, 0, 0, 0); /* sched_yield until every thread is done */
    for (;;) { /* a forking parent reaps its children */
        i64 r = sc6(61, -1, 0, 0, 0, 0, 0);
        if (r < 0) break;
    }
    sc3(231, 0, 0, 0);
}

/* The file-system fuzzer: COUNT calls that make, open, swap, link, rename,
 * chmod, chown, truncate, list and remove names under /data (a scratch
 * read-write bind) and names that lead out of it: symlinks to OUTSIDE (a
 * host directory beside the bind), "..", /proc/self/fd and cwd links, and
 * descriptors kept across renames and swaps. Whatever it does, nothing
 * under OUTSIDE may change on the host (the test checks). */
static char fs_names[48][160];
static int fs_nnames;

static void fs_name(const char *a, const char *b)
{
    int k = 0;
    for (; a[k] && k < 120; k++) fs_names[fs_nnames][k] = a[k];
    for (int j = 0; b[j] && k < 159; j++) fs_names[fs_nnames][k++] = b[j];
    fs_names[fs_nnames][k] = 0;
    fs_nnames++;
}

static void fs_fuzz(u64 seed, u64 count, const char *outside)
{
    static const char *const inside[] = {"/data/a", "/data/b", "/data/d", "/data/d/x", "/data/d/y", "/data/e",
                                         "/data/d/e/f", "/data/l1", "/data/l2", "/data/l3", "/data/d/l4", "a", "b",
                                         "d", "d/x", "l1", "l2", "..", "../..", "/data/..", "/data/../..",
                                         "/proc/self/fd/3", "/proc/self/fd/4", "/proc/self/fd/5", "/proc/self/cwd/a",
                                         "/proc/self/cwd/../a", "/data/d/../../data/a", "."};
    for (u64 i = 0; i < sizeof inside / sizeof *inside; i++) fs_name(inside[i], "");
    fs_name(outside, "");
    fs_name(outside, "/f");
    fs_name(outside, "/dir");
    fs_name(outside, "/dir/g");
    fs_name(outside, "/new");
    /* Symlink targets: out of the bind, absolute and relative. */
    static const char *const targets[] = {"/data/a", "a", "../a", "../../../../..", "/", "/proc/self/cwd", "d"};
    int first_target = fs_nnames;
    for (u64 i = 0; i < sizeof targets / sizeof *targets; i++) fs_name(targets[i], "");
    fs_name(outside, "/f");
    fs_name(outside, "/dir");
    fs_name("../../..", outside);
    int ntargets = fs_nnames - first_target;

    u64 state = seed, *s = &state;
    i64 fds[8];
    for (int k = 0; k < 8; k++) fds[k] = -1;
    sc3(80, (i64) "/data", 0, 0); /* chdir */
    u64 i;
    for (i = 0; i < count; i++) {
        const char *p = fs_names[rnd(s) % (u64)first_target];
        const char *q = fs_names[rnd(s) % (u64)first_target];
        const char *t = fs_names[first_target + rnd(s) % (u64)ntargets];
        i64 f = fds[rnd(s) % 8];
        i64 dirfd = rnd(s) % 3 ? -100 : f;
        static const u64 modes[] = {0644, 0755, 04755, 02755, 06777, 0, 0600, 01777, 0777};
        u64 mode = modes[rnd(s) % (sizeof modes / sizeof *modes)];
        i64 r = 0;
        switch (rnd(s) % 24) {
        case 0: case 1: { /* open / openat, kept */
            static const u64 fl[] = {0, 2, 0x41, 0xc1, 0x241, 0x10000 /* O_DIRECTORY */, 0x200000 /* O_PATH */,
                                     0x20000 | 2 /* O_NOFOLLOW */, 0x441 /* O_APPEND|O_CREAT */};
            r = sc6(257, dirfd, (i64)p, (i64)fl[rnd(s) % (sizeof fl / sizeof *fl)], (i64)mode, 0, 0);
            if (r >= 0) {
                int k = (int)(rnd(s) % 8);
                if (fds[k] >= 0) sc3(3, fds[k], 0, 0);
                fds[k] = r;
            }
            break;
        }
        case 2: r = sc3(83, (i64)p, (i64)mode, 0); break;              /* mkdir */
        case 3: r = sc3(84, (i64)p, 0, 0); break;                      /* rmdir */
        case 4: r = sc3(87, (i64)p, 0, 0); break;                      /* unlink */
        case 5: r = sc3(88, (i64)t, (i64)p, 0); break;                 /* symlink */
        case 6: r = sc3(82, (i64)p, (i64)q, 0); break;                 /* rename */
        case 7: r = sc6(316, -100, (i64)p, -100, (i64)q, (i64)(rnd(s) % 3), 0); break; /* renameat2 */
        case 8: r = sc3(86, (i64)p, (i64)q, 0); break;                 /* link */
        case 9: r = sc6(265, dirfd, (i64)p, -100, (i64)q, rnd(s) % 2 ? 0x400 : 0x1000, 0); break; /* linkat */
        case 10: r = sc3(90, (i64)p, (i64)mode, 0); break;             /* chmod */
        case 11: r = sc3(91, f, (i64)mode, 0); break;                  /* fchmod */
        case 12: r = sc3(92, (i64)p, (i64)(rnd(s) % 3 ? 0 : 1000), (i64)(rnd(s) % 3 ? 0 : 1000)); break; /* chown */
        case 13: r = sc3(93, f, (i64)(rnd(s) % 2 ? 0 : 65534), -1); break;                 /* fchown */
        case 14: r = sc6(260, f, (i64)(rnd(s) % 2 ? "" : p), 0, 0, 0x1000 | (rnd(s) % 2 ? 0x100 : 0), 0); break;
        case 15: r = sc6(280, dirfd, rnd(s) % 2 ? 0 : (i64)p, 0, (i64)(rnd(s) % 2 ? 0x100 : 0), 0, 0); break; /* utimensat */
        case 16: r = sc3(76, (i64)p, (i64)(rnd(s) % 8192), 0); break;  /* truncate */
        case 17: r = sc3(77, f, (i64)(rnd(s) % 8192), 0); break;       /* ftruncate */
        case 18: r = sc3(1, f, (i64)"pwned\n", 6); break;              /* write */
        case 19: r = sc3(217, f, ARENA + 8192, 4096); break;          /* getdents64 */
        case 20: r = sc3(rnd(s) % 2 ? 80 : 81, rnd(s) % 2 ? (i64)p : f, 0, 0); break; /* chdir / fchdir */
        case 21: r = sc3(138, f, ARENA + 8192, 0); break;             /* fstatfs */
        case 22: r = sc6(285, f, (i64)(rnd(s) % 3), 0, (i64)(rnd(s) % 16384), 0, 0); break; /* fallocate */
        default: r = sc3(89, (i64)p, ARENA + 8192, 256); break;        /* readlink */
        }
        (void)r;
    }
    pdec("fs calls ", i);
}

/* A thread's body: its own fuzz run, then it ends (the thread alone). */
void thread_main(u64 seed)
{
    fuzz(seed, thread_count);
    sc3(60, 0, 0, 0);
}
