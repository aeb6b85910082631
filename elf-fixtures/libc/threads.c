/*
 * pthreads in glibc and musl: what a threaded program needs of the kernel
 * (clone, futex, set_tid_address, tgkill). Built twice: threads-glibc and
 * threads-musl. stdout carries only facts that do not depend on timing or
 * addresses, so a test can compare it with a native run byte for byte.
 *
 *   threads sum N         N threads add ranges into a mutex-guarded total;
 *                         the main thread waits on a condition variable
 *   threads malloc N      N threads, all alive at once, each malloc and free
 *   threads arenas N      N threads, all alive at once, each malloc(100)
 *                         once; prints how many arenas the libc made
 *   threads maps N        as arenas, and /proc/self/maps's shape (perms,
 *                         sizes, names) while the N threads are alive
 *   threads futex         futex timeouts (relative, absolute, realtime),
 *                         EAGAIN, wake and requeue
 *   threads futexsig      a futex wait with a timeout a handler interrupts:
 *                         EINTR even under SA_RESTART; a SIGCONT with no
 *                         handler does not stretch the timeout
 *   threads tgkill        a signal to one chosen thread runs on that thread
 *   threads tls N         thread-local storage in N threads
 *   threads robust        a thread dies holding a robust mutex: the next
 *                         locker gets EOWNERDEAD (the kernel's robust list)
 *   threads same N K      N threads, released at once, each write all K
 *                         pages of one shared mapping (racing faults on
 *                         the same pages)
 *   threads clone3        clone3's argument checks, and CLONE_CLEAR_SIGHAND
 *   threads mainexit      the main thread pthread_exits; the last thread's
 *                         exit status is the process's
 *   threads procsig       kill() to the process: the one thread not
 *                         blocking it takes it
 *   threads crash         a NULL write in a thread, no handler: the whole
 *                         process dies of SIGSEGV
 *   threads barrier N K   N threads, each with K read-only pages of one
 *                         mapping, write them at once; a SIGSEGV handler
 *                         unprotects each page (concurrent signals)
 *   threads spin          a thread spinning in user mode (no syscalls)
 *                         gets a tgkill; its handler ends the spin
 *   threads touch N K     N threads, released at once, each write K pages
 *                         of one shared mapping (its own K): concurrent
 *                         faults; the mapping's address goes to stderr
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* linux/futex.h's, spelled out: musl-gcc has no kernel headers. */
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129
#define FUTEX_CMP_REQUEUE_PRIVATE 132
#define FUTEX_WAIT_BITSET_PRIVATE 137
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_BITSET_MATCH_ANY 0xffffffffu

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static unsigned long total;
static int finished;

struct range {
    unsigned long lo, hi;
};

static void *add_range(void *arg)
{
    struct range *r = arg;
    unsigned long s = 0;
    for (unsigned long i = r->lo; i < r->hi; i++)
        s += i;
    pthread_mutex_lock(&lock);
    total += s;
    finished++;
    pthread_cond_signal(&done_cv);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static int sum(int n)
{
    pthread_t t[256];
    struct range r[256];
    unsigned long per = 100000;
    if (n < 1 || n > 256)
        return 2;
    for (int i = 0; i < n; i++) {
        r[i].lo = i * per;
        r[i].hi = (i + 1) * per;
        if (pthread_create(&t[i], NULL, add_range, &r[i]) != 0) {
            printf("sum: pthread_create failed\n");
            return 1;
        }
    }
    pthread_mutex_lock(&lock);
    while (finished < n)
        pthread_cond_wait(&done_cv, &lock);
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    unsigned long m = n * per;
    printf("sum: threads=%d total=%lu expected=%lu\n", n, total, m * (m - 1) / 2);
    return total == m * (m - 1) / 2 ? 0 : 1;
}

static pthread_barrier_t barrier;
static int malloc_ok;

static void *malloc_free(void *arg)
{
    size_t size = (size_t)(uintptr_t)arg;
    pthread_barrier_wait(&barrier);
    char *p = malloc(size);
    if (p) {
        memset(p, 0x5a, size);
        int ok = p[size - 1] == 0x5a;
        free(p);
        pthread_mutex_lock(&lock);
        malloc_ok += ok;
        pthread_mutex_unlock(&lock);
    }
    /* Stay alive until every thread has its memory: each keeps its arena. */
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    return NULL;
}

/* /proc/self/maps without addresses: what does not move between runs. */
static void maps_shape(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &a, &b, perms) != 3)
            continue;
        char *name = strchr(line, '[');
        printf("%s %lu KiB %s", perms, (b - a) / 1024, name ? name : "\n");
    }
    if (f)
        fclose(f);
}

static int many(int n, const char *what, size_t size)
{
    pthread_t t[256];
    if (n < 1 || n > 255)
        return 2;
    /* The workers and the main thread meet three times: to start at once,
     * once all have allocated, and once the main thread has looked. */
    pthread_barrier_init(&barrier, NULL, n + 1);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, malloc_free, (void *)(uintptr_t)(size + i)) != 0) {
            printf("%s: pthread_create %d failed\n", what, i);
            return 1;
        }
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    if (!strcmp(what, "maps"))
        maps_shape();
    pthread_barrier_wait(&barrier);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    printf("%s: threads=%d ok=%d\n", what, n, malloc_ok);
    return malloc_ok == n ? 0 : 1;
}

static long futex(uint32_t *w, int op, uint32_t val, const struct timespec *ts, uint32_t *w2, uint32_t val3)
{
    return syscall(SYS_futex, w, op, val, ts, w2, val3);
}

static long ms_since(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

static uint32_t word, word2;
static int woke;

static void *waiter(void *arg)
{
    uint32_t *w = arg;
    long r = futex(w, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    pthread_mutex_lock(&lock);
    woke += r == 0;
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* Spins until `n` threads sleep on `w` (by trying to wake none: a
 * waiter is only visible to a wake, so poll with sched_yield). */
static void settle(void)
{
    struct timespec d = {0, 50 * 1000000};
    nanosleep(&d, NULL);
}

static int futexes(void)
{
    struct timespec t0, rel = {0, 30 * 1000000}, abs;
    long r;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = futex(&word, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
    printf("futex relative: r=%ld errno=%s waited_enough=%d\n", r, strerror(errno), ms_since(&t0) >= 30);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    abs = t0;
    abs.tv_nsec += 30 * 1000000;
    if (abs.tv_nsec >= 1000000000) {
        abs.tv_sec++;
        abs.tv_nsec -= 1000000000;
    }
    r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, &abs, NULL, FUTEX_BITSET_MATCH_ANY);
    printf("futex absolute: r=%ld errno=%s waited_enough=%d\n", r, strerror(errno), ms_since(&t0) >= 29);

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    now.tv_nsec += 20 * 1000000;
    if (now.tv_nsec >= 1000000000) {
        now.tv_sec++;
        now.tv_nsec -= 1000000000;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &now, NULL, FUTEX_BITSET_MATCH_ANY);
    printf("futex realtime: r=%ld errno=%s waited_enough=%d\n", r, strerror(errno), ms_since(&t0) >= 19);

    r = futex(&word, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0);
    printf("futex mismatch: r=%ld errno=%s\n", r, strerror(errno));

    struct timespec bad = {0, 1000000000};
    r = futex(&word, FUTEX_WAIT_PRIVATE, 0, &bad, NULL, 0);
    printf("futex bad timeout: r=%ld errno=%s\n", r, strerror(errno));

    r = futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    printf("futex wake nobody: r=%ld\n", r);

    /* Two waiters on `word`: wake one, requeue one to `word2`, wake it there. */
    pthread_t a, b;
    pthread_create(&a, NULL, waiter, &word);
    pthread_create(&b, NULL, waiter, &word);
    settle();
    r = futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (const struct timespec *)1UL, &word2, 0);
    printf("futex cmp_requeue: r=%ld\n", r);
    r = futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (const struct timespec *)1UL, &word2, 7);
    printf("futex cmp_requeue stale: r=%ld errno=%s\n", r, strerror(errno));
    settle();
    r = futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    printf("futex wake old word: r=%ld\n", r);
    r = futex(&word2, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    printf("futex wake new word: r=%ld\n", r);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("futex woke=%d\n", woke);

    /* pthread_cond_timedwait: ETIMEDOUT. */
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 10 * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&lock);
    int e = pthread_cond_timedwait(&cv, &lock, &until);
    pthread_mutex_unlock(&lock);
    printf("cond_timedwait: %s\n", strerror(e));
    return 0;
}

static pthread_t futex_waiter;
static volatile int futex_handled;

static void on_futex_sig(int sig)
{
    (void)sig;
    futex_handled++;
}

static void *signal_in_60ms(void *arg)
{
    struct timespec d = {0, 60 * 1000000};
    nanosleep(&d, NULL);
    pthread_kill(futex_waiter, (int)(uintptr_t)arg);
    return NULL;
}

static void *sigcont_in_150ms(void *arg)
{
    (void)arg;
    struct timespec d = {0, 150 * 1000000};
    nanosleep(&d, NULL);
    pthread_kill(futex_waiter, SIGCONT);
    return NULL;
}

static int futexsig(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_futex_sig;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    futex_waiter = pthread_self();
    pthread_t t;
    struct timespec t0, rel = {0, 300 * 1000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_create(&t, NULL, signal_in_60ms, (void *)(uintptr_t)SIGUSR1);
    long r = futex(&word, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
    int e = errno;
    pthread_join(t, NULL);
    printf("futex handler: r=%ld errno=%s handled=%d early=%d\n", r, strerror(e), futex_handled, ms_since(&t0) < 250);
    /* 200 ms, interrupted at 150: restarted with the whole timeout it
     * would take 350. */
    rel.tv_nsec = 200 * 1000000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_create(&t, NULL, sigcont_in_150ms, NULL);
    r = futex(&word, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
    e = errno;
    pthread_join(t, NULL);
    long took = ms_since(&t0);
    printf("futex sigcont: r=%ld errno=%s in_time=%d\n", r, strerror(e), took >= 200 && took < 300);
    return 0;
}

static volatile pid_t handled_by;
static pid_t tids[4];
static volatile int ready;

static void on_usr1(int sig)
{
    (void)sig;
    handled_by = (pid_t)syscall(SYS_gettid);
}

static void *idle(void *arg)
{
    int i = (int)(uintptr_t)arg;
    tids[i] = (pid_t)syscall(SYS_gettid);
    __atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
    while (!handled_by)
        sched_yield();
    return NULL;
}

static int tgkill_one(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, idle, (void *)(uintptr_t)i);
    while (ready < 4)
        sched_yield();
    /* Block it here, so only the chosen thread can take it. */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    long r = syscall(SYS_tgkill, getpid(), tids[2], SIGUSR1);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    int who = -1;
    for (int i = 0; i < 4; i++)
        if (tids[i] == handled_by)
            who = i;
    printf("tgkill: r=%ld handled_by_thread=%d main_pid_is_tgid=%d\n", r, who, getpid() == (pid_t)syscall(SYS_gettid));
    r = syscall(SYS_tgkill, getpid(), 999999, SIGUSR1);
    printf("tgkill bad tid: r=%ld errno=%s\n", r, strerror(errno));
    r = syscall(SYS_tgkill, getpid(), tids[2], SIGUSR1);
    printf("tgkill exited thread: r=%ld errno=%s\n", r, strerror(errno));
    return 0;
}

static volatile int spin_stop, spinning;

static void stop_spin(int sig)
{
    (void)sig;
    spin_stop = 1;
}

static void *spinner(void *arg)
{
    (void)arg;
    tids[0] = (pid_t)syscall(SYS_gettid);
    spinning = 1;
    unsigned long n = 0;
    while (!spin_stop)
        n++;
    return (void *)(uintptr_t)(n > 0);
}

static int spin(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = stop_spin;
    sigaction(SIGUSR2, &sa, NULL);
    pthread_t t;
    pthread_create(&t, NULL, spinner, NULL);
    while (!spinning)
        sched_yield();
    /* The main thread still runs while the other spins. */
    struct timespec d = {0, 20 * 1000000};
    nanosleep(&d, NULL);
    long r = syscall(SYS_tgkill, getpid(), tids[0], SIGUSR2);
    void *spun;
    pthread_join(t, &spun);
    printf("spin: tgkill=%ld stopped=%d spun=%d\n", r, spin_stop, (int)(uintptr_t)spun);
    return 0;
}

static pthread_mutex_t robust_m;

static void *die_holding(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&robust_m);
    return NULL;
}

static int robust(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust_m, &a);
    pthread_t t;
    pthread_create(&t, NULL, die_holding, NULL);
    pthread_join(t, NULL);
    int e = pthread_mutex_lock(&robust_m);
    printf("robust: lock=%s\n", strerror(e));
    if (e == EOWNERDEAD) {
        pthread_mutex_consistent(&robust_m);
        pthread_mutex_unlock(&robust_m);
        e = pthread_mutex_lock(&robust_m);
        printf("robust: after consistent lock=%d\n", e);
    }
    return 0;
}

static void count_usr(int sig)
{
    (void)sig;
}

static void *late_exit(void *arg)
{
    (void)arg;
    struct timespec d = {0, 20 * 1000000};
    nanosleep(&d, NULL);
    printf("mainexit: the other thread still runs\n");
    exit(5);
}

static int mainexit(void)
{
    pthread_t t;
    pthread_create(&t, NULL, late_exit, NULL);
    pthread_exit(NULL);
}

static volatile int worker_ready;

static void note_tid(int sig)
{
    (void)sig;
    handled_by = (pid_t)syscall(SYS_gettid);
}

static void *unblocked(void *arg)
{
    (void)arg;
    tids[1] = (pid_t)syscall(SYS_gettid);
    worker_ready = 1;
    while (!handled_by) {
        struct timespec d = {0, 1000000};
        nanosleep(&d, NULL);
    }
    return NULL;
}

static int procsig(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = note_tid;
    sigaction(SIGUSR1, &sa, NULL);
    /* Blocked here only after the worker started: it inherits the mask. */
    pthread_t t;
    pthread_create(&t, NULL, unblocked, NULL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    while (!worker_ready)
        sched_yield();
    kill(getpid(), SIGUSR1);
    pthread_join(t, NULL);
    printf("procsig: taken_by_worker=%d\n", handled_by == tids[1]);
    return 0;
}

static void *crasher(void *arg)
{
    (void)arg;
    *(volatile int *)0 = 1;
    return NULL;
}

static int crash(void)
{
    pthread_t t;
    pthread_create(&t, NULL, crasher, NULL);
    pthread_join(t, NULL);
    printf("crash: survived\n");
    return 0;
}

static char *guarded;
static size_t guarded_len;
static volatile int mend_hits;
static int guarded_per;

static void mend_page(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    uintptr_t a = (uintptr_t)si->si_addr;
    if (a < (uintptr_t)guarded || a >= (uintptr_t)guarded + guarded_len || si->si_code != 2)
        _exit(3);
    __atomic_add_fetch(&mend_hits, 1, __ATOMIC_SEQ_CST);
    mprotect((void *)(a & ~4095UL), 4096, PROT_READ | PROT_WRITE);
}

static void *write_guarded(void *arg)
{
    int i = (int)(uintptr_t)arg;
    pthread_barrier_wait(&barrier);
    for (int p = 0; p < guarded_per; p++)
        guarded[((size_t)i * guarded_per + p) * 4096 + 64] = 1;
    return NULL;
}

static int mtbarrier(int n, int k)
{
    pthread_t t[64];
    if (n < 1 || n > 64 || k < 1 || k > 256)
        return 2;
    guarded_per = k;
    guarded_len = (size_t)n * k * 4096;
    guarded = mmap(NULL, guarded_len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fprintf(stderr, "guarded=%p\n", (void *)guarded);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = mend_page;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    pthread_barrier_init(&barrier, NULL, n);
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, write_guarded, (void *)(uintptr_t)i);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    int ok = 0;
    for (size_t p = 0; p < (size_t)n * k; p++)
        ok += guarded[p * 4096 + 64] == 1;
    printf("barrier: threads=%d pages=%d hits=%d ok=%d\n", n, n * k, mend_hits, ok);
    return 0;
}

struct clone_args_v2 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
        cgroup, extra;
};

static long clone3_raw(struct clone_args_v2 *a, size_t size)
{
    return syscall(435, a, size);
}

static void clone3_case(const char *what, struct clone_args_v2 a, size_t size)
{
    long r = clone3_raw(&a, size);
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    printf("clone3 %s: r=%s errno=%s\n", what, r < 0 ? "-1" : "child", r < 0 ? strerror(errno) : "-");
}

static int clone3_checks(void)
{
    struct clone_args_v2 z;
    memset(&z, 0, sizeof z);
    struct clone_args_v2 a = z;
    a.exit_signal = SIGCHLD;
    clone3_case("fork", a, 64);
    clone3_case("fork v2", a, 88);
    clone3_case("size 63", a, 63);
    clone3_case("size 4097", a, 4097);
    a.extra = 1;
    clone3_case("nonzero tail", a, sizeof a);
    a.extra = 0;
    clone3_case("zero tail", a, sizeof a);
    a.set_tid = 1;
    clone3_case("set_tid without size", a, 88);
    a.set_tid = 0;
    a.exit_signal = 65;
    clone3_case("exit_signal 65", a, 64);
    a.exit_signal = SIGCHLD;
    a.flags = 0x10000 | 0x800 | 0x100; /* CLONE_THREAD | CLONE_SIGHAND | CLONE_VM */
    clone3_case("thread with exit_signal", a, 64);
    a.flags = 0;
    a.stack = 4096;
    clone3_case("stack without size", a, 64);
    a.stack = 0;
    a.flags = 0x800 | 0x100000000ULL; /* CLONE_SIGHAND | CLONE_CLEAR_SIGHAND */
    clone3_case("sighand and clear_sighand", a, 64);
    a.flags = 1ULL << 40;
    clone3_case("unknown flag", a, 64);

    /* CLONE_CLEAR_SIGHAND: a caught signal is back to SIG_DFL in the
     * child; an ignored one stays ignored. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_usr;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGUSR2, &sa, NULL);
    a = z;
    a.exit_signal = SIGCHLD;
    a.flags = 0x100000000ULL;
    long r = clone3_raw(&a, 64);
    if (r == 0) {
        struct sigaction cur1, cur2;
        sigaction(SIGUSR1, NULL, &cur1);
        sigaction(SIGUSR2, NULL, &cur2);
        _exit((cur1.sa_handler == SIG_DFL) | (cur2.sa_handler == SIG_IGN) << 1);
    }
    int st = 0;
    waitpid((pid_t)r, &st, 0);
    printf("clone3 clear_sighand: child status=%d\n", WEXITSTATUS(st));
    return 0;
}

static __thread int tls_value = 7;

static void *tls_thread(void *arg)
{
    int i = (int)(uintptr_t)arg;
    tls_value += i;
    sched_yield();
    return (void *)(uintptr_t)tls_value;
}

static int tls(int n)
{
    pthread_t t[64];
    int ok = 0;
    if (n < 1 || n > 64)
        return 2;
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, tls_thread, (void *)(uintptr_t)i);
    for (int i = 0; i < n; i++) {
        void *r;
        pthread_join(t[i], &r);
        ok += (int)(uintptr_t)r == 7 + i;
    }
    printf("tls: threads=%d ok=%d main=%d\n", n, ok, tls_value);
    return 0;
}

static char *shared;
static int per;

static void *toucher(void *arg)
{
    int i = (int)(uintptr_t)arg;
    pthread_barrier_wait(&barrier);
    for (int p = 0; p < per; p++)
        shared[((size_t)i * per + p) * 4096] = (char)(i + 1);
    return NULL;
}

static void *toucher_all(void *arg)
{
    int i = (int)(uintptr_t)arg;
    pthread_barrier_wait(&barrier);
    for (int p = 0; p < per; p++)
        __atomic_add_fetch(&shared[(size_t)p * 4096 + i * 4], 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static int same(int n, int k)
{
    pthread_t t[64];
    if (n < 1 || n > 64 || k < 1 || k > 4096)
        return 2;
    per = k;
    shared = mmap(NULL, (size_t)k * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fprintf(stderr, "shared=%p\n", (void *)shared);
    pthread_barrier_init(&barrier, NULL, n);
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, toucher_all, (void *)(uintptr_t)i);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    int ok = 0;
    for (int p = 0; p < k; p++)
        for (int i = 0; i < n; i++)
            ok += shared[(size_t)p * 4096 + i * 4] == 1;
    printf("same: threads=%d pages=%d ok=%d\n", n, k, ok);
    return 0;
}

static int touch(int n, int k)
{
    pthread_t t[64];
    if (n < 1 || n > 64 || k < 1 || k > 1024)
        return 2;
    per = k;
    shared = mmap(NULL, (size_t)n * k * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fprintf(stderr, "shared=%p\n", (void *)shared);
    pthread_barrier_init(&barrier, NULL, n);
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, toucher, (void *)(uintptr_t)i);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    int ok = 0;
    for (int i = 0; i < n; i++)
        for (int p = 0; p < k; p++)
            ok += shared[((size_t)i * k + p) * 4096] == (char)(i + 1);
    printf("touch: threads=%d pages=%d ok=%d\n", n, n * k, ok);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 2;
    int n = argc > 2 ? atoi(argv[2]) : 4;
    if (!strcmp(argv[1], "sum"))
        return sum(n);
    if (!strcmp(argv[1], "malloc"))
        return many(n, "malloc", 1000);
    if (!strcmp(argv[1], "arenas"))
        return many(n, "arenas", 100);
    if (!strcmp(argv[1], "maps"))
        return many(n, "maps", 100);
    if (!strcmp(argv[1], "futex"))
        return futexes();
    if (!strcmp(argv[1], "futexsig"))
        return futexsig();
    if (!strcmp(argv[1], "tgkill"))
        return tgkill_one();
    if (!strcmp(argv[1], "touch"))
        return touch(n, argc > 3 ? atoi(argv[3]) : 16);
    if (!strcmp(argv[1], "robust"))
        return robust();
    if (!strcmp(argv[1], "same"))
        return same(n, argc > 3 ? atoi(argv[3]) : 64);
    if (!strcmp(argv[1], "clone3"))
        return clone3_checks();
    if (!strcmp(argv[1], "mainexit"))
        return mainexit();
    if (!strcmp(argv[1], "procsig"))
        return procsig();
    if (!strcmp(argv[1], "crash"))
        return crash();
    if (!strcmp(argv[1], "barrier"))
        return mtbarrier(n, argc > 3 ? atoi(argv[3]) : 8);
    if (!strcmp(argv[1], "spin"))
        return spin();
    if (!strcmp(argv[1], "tls"))
        return tls(n);
    return 2;
}
