/* Syscalls of the kinds the syscall ring serves, and the ways a call can
 * leave it: run natively, with `--syscalls exit`, `ring` and `ring-cpl0`,
 * the output must not differ.
 *
 *   ringcalls calls N     N rounds of varied calls; prints what they saw
 *   ringcalls signal      a signal unblocked by a served call is handled
 *                         before that call returns
 *   ringcalls threads N   two threads, N calls and mutex hand-offs each
 *   ringcalls fork        parent and child make calls at once
 *   ringcalls kicked N    a thread makes N calls while signals land on it
 *                         (kicks out of the ring's stub, a call of it
 *                         published or not)
 *   ringcalls probe       how many vCPUs' ring mailboxes this process can
 *                         read (the ring's pages, per process)
 *   ringcalls spin        calls forever (a --timeout must still end it)
 *   ringcalls nosys NR N  N calls of number NR, which Linux has no call
 *                         for: each is -1 ENOSYS (faultline's stub answers
 *                         999999 itself), and the registers and memory
 *                         around them are as they were
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
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

static int quiet;

static int calls(int n) {
    long sum = 0;
    for (int i = 0; i < n; i++) {
        sum += syscall(SYS_getppid) == getppid();
        sum += getpid() == syscall(SYS_gettid);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        clock_gettime(CLOCK_MONOTONIC, &b);
        sum += b.tv_sec > a.tv_sec || (b.tv_sec == a.tv_sec && b.tv_nsec >= a.tv_nsec);
        int fd = open("/proc/self/comm", O_RDONLY);
        char buf[64] = {0};
        sum += fd >= 0 && read(fd, buf, sizeof buf - 1) > 0 && !strcmp(buf, "ringcalls-glibc\n") + !strcmp(buf, "ringcalls-musl\n");
        close(fd);
        fd = open("/dev/zero", O_RDONLY);
        sum += read(fd, buf, 7) == 7 && buf[0] == 0;
        close(fd);
        fd = open("/dev/null", O_WRONLY);
        sum += write(fd, "x", 1) == 1;
        close(fd);
        char *p = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p[4096] = (char)i;
        sum += mprotect(p, 4096, PROT_NONE) == 0;
        sum += munmap(p, 3 * 4096) == 0;
        sigset_t s, old;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR2);
        sum += sigprocmask(SIG_BLOCK, &s, &old) == 0 && sigprocmask(SIG_SETMASK, &old, NULL) == 0;
        sum += close(12345) == -1 && errno == EBADF;
    }
    if (!quiet)
        printf("calls: %ld of %d right\n", sum, n * 10);
    return sum == n * 10 ? 0 : 1;
}

static volatile sig_atomic_t handled;
static void on_usr1(int sig) { (void)sig; handled++; }

static int sigtest(void) {
    signal(SIGUSR1, on_usr1);
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigprocmask(SIG_BLOCK, &s, &old);
    kill(getpid(), SIGUSR1);
    int before = handled;
    sigprocmask(SIG_SETMASK, &old, NULL);
    int after = handled;
    printf("blocked: handled %d; unblocked: handled %d before sigprocmask returned\n", before, after);
    return 0;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long shared;
static int rounds;

static void *worker(void *arg) {
    (void)arg;
    for (int i = 0; i < rounds; i++) {
        pthread_mutex_lock(&mu);
        shared += syscall(SYS_getppid) == getppid();
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static int threads(int n) {
    rounds = n;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("threads: %ld of %d\n", shared, 2 * n);
    return 0;
}

static volatile int kicked_done;
static volatile sig_atomic_t kicks;
static void on_kick(int sig) { (void)sig; kicks++; }

static void *kicked_worker(void *arg) {
    long n = (long)arg, right = 0;
    for (long i = 0; i < n; i++)
        right += syscall(SYS_getppid) == getppid();
    printf("kicked: %ld of %ld calls right\n", right, n);
    kicked_done = 1;
    return NULL;
}

static int kicked(int n) {
    signal(SIGUSR1, on_kick);
    pthread_t t;
    pthread_create(&t, NULL, kicked_worker, (void *)(long)n);
    /* A signal every 20 us or so (pthread_kill is tgkill). */
    struct timespec gap = {0, 20000};
    while (!kicked_done) {
        pthread_kill(t, SIGUSR1);
        nanosleep(&gap, NULL);
    }
    pthread_join(t, NULL);
    return 0;
}

static sigjmp_buf jb;
static void on_segv(int sig) { (void)sig; siglongjmp(jb, 1); }

/* The ring's pages: per vCPU, stub then mailbox, 16 KiB apart, from
 * 0xffffff0000000000 (arch::x86_64::layout). */
static int readable_mailboxes(void) {
    signal(SIGSEGV, on_segv);
    int n = 0;
    for (int cpu = 0; cpu < 8; cpu++) {
        volatile uint64_t *mb = (uint64_t *)(0xffffff0000000000ull + cpu * 0x4000ull + 0x1000);
        if (!sigsetjmp(jb, 1)) {
            (void)*mb;
            n++;
        }
    }
    signal(SIGSEGV, SIG_DFL);
    return n;
}

static int forked(void) {
    fflush(stdout);
    pid_t k = fork();
    quiet = k == 0;
    int r = calls(300);
    if (k == 0)
        _exit(r);
    int st;
    waitpid(k, &st, 0);
    printf("child: exited %d\n", WEXITSTATUS(st));
    return r;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "calls";
    int n = argc > 2 ? atoi(argv[2]) : 1000;
    if (!strcmp(mode, "calls"))
        return calls(n);
    if (!strcmp(mode, "signal"))
        return sigtest();
    if (!strcmp(mode, "threads"))
        return threads(n);
    if (!strcmp(mode, "fork"))
        return forked();
    if (!strcmp(mode, "kicked"))
        return kicked(n);
    if (!strcmp(mode, "probe")) {
        syscall(SYS_getppid);
        int self = readable_mailboxes();
        fflush(stdout);
        pid_t k = fork();
        if (k == 0) {
            syscall(SYS_getppid);
            printf("child reads %d mailboxes\n", readable_mailboxes());
            fflush(stdout);
            _exit(0);
        }
        waitpid(k, NULL, 0);
        printf("parent reads %d mailboxes\n", self);
        return 0;
    }
    if (!strcmp(mode, "spin"))
        for (;;)
            syscall(SYS_getppid);
    if (!strcmp(mode, "nosys") && argc > 3) {
        long nr = atol(argv[2]);
        int calls = atoi(argv[3]), enosys = 0;
        volatile long kept = 0x5a5a5a5a;
        for (int i = 0; i < calls; i++) {
            errno = 0;
            long r = syscall(nr, 1, 2, 3, 4, 5, 6);
            enosys += r == -1 && errno == ENOSYS;
        }
        printf("nosys %ld: %d of %d ENOSYS, kept %lx\n", nr, enosys, calls, (long)kept);
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
