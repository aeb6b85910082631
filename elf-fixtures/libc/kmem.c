/* Kernel memory and the limits on kernel objects (tests/trust_kmem.rs).
 *
 *   kmem pipesz        F_GETPIPE_SZ / F_SETPIPE_SZ, pipe_write's merging,
 *                      pipe-user-pages-soft: the same output natively (run
 *                      as root, it drops to uid 1000 first)
 *   kmem pipefill N    N pipes, each filled: where memory runs out, which
 *                      errno, and MemFree back after closing them
 *   kmem slab N        Slab and MemFree before and after N filled pipes
 *   kmem threads N     KernelStack and SUnreclaim before and after N threads
 *   kmem limits        RLIMIT_NOFILE, RLIMIT_SIGPENDING, /proc/sys/fs
 *   kmem enfile        /dev/null opened until ENFILE at fs.file-max
 *   kmem sigflood      sigqueue until EAGAIN (RLIMIT_SIGPENDING)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *ename(int e)
{
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case EBADF: return "EBADF";
    case ENOSPC: return "ENOSPC";
    default: return "other";
    }
}

/* A /proc/meminfo field, in kB. */
static long meminfo(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':')
            v = atol(line + n + 1);
    if (f)
        fclose(f);
    return v;
}

static long sysctl(const char *path)
{
    FILE *f = fopen(path, "r");
    long v = -1;
    if (f && fscanf(f, "%ld", &v) != 1)
        v = -1;
    if (f)
        fclose(f);
    return v;
}

static void raise_nofile(void)
{
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
}

static void setsz(int fd, long arg)
{
    int r = fcntl(fd, F_SETPIPE_SZ, arg);
    if (r < 0)
        printf("F_SETPIPE_SZ %ld: %s\n", arg, ename(errno));
    else
        printf("F_SETPIPE_SZ %ld: %d (F_GETPIPE_SZ %d)\n", arg, r, fcntl(fd, F_GETPIPE_SZ));
}

/* Writes of `size` bytes into a non-blocking pipe of `bytes` until it is
 * full: what went in, and the last write's result. */
static void fill(long bytes, size_t size)
{
    static char buf[70000];
    int p[2];
    pipe2(p, O_NONBLOCK);
    fcntl(p[1], F_SETPIPE_SZ, bytes);
    long total = 0, writes = 0, r;
    while ((r = write(p[1], buf, size)) > 0) {
        total += r;
        writes++;
    }
    printf("fill %ld-byte pipe with %zu-byte writes: %ld bytes in %ld writes, then %s", bytes, size, total, writes,
           ename(errno));
    static char in[1 << 20];
    r = read(p[0], in, sizeof in);
    printf("; one read takes %ld\n", r);
    close(p[0]);
    close(p[1]);
}

static void pipesz(void)
{
    if (geteuid() == 0) {
        /* As an ordinary user, as faultline's guest is. */
        if (setgid(1000) || setuid(1000))
            printf("cannot drop to uid 1000\n");
    }
    int p[2];
    pipe(p);
    printf("F_GETPIPE_SZ: %d\n", fcntl(p[0], F_GETPIPE_SZ));
    long sizes[] = {0, 1, 4096, 4097, 65537, 1048576, 1048577, 1L << 31, (1L << 31) + 1};
    for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++)
        setsz(p[1], sizes[i]);
    int fd = open("/dev/null", O_RDONLY);
    int r = fcntl(fd, F_GETPIPE_SZ);
    printf("F_GETPIPE_SZ on /dev/null: %d %s\n", r, ename(errno));
    close(fd);
    /* Three pages in use: two slots are too few. */
    static char page[4096];
    fcntl(p[1], F_SETPIPE_SZ, 65536);
    for (int i = 0; i < 3; i++)
        write(p[1], page, sizeof page);
    setsz(p[1], 8192);
    setsz(p[1], 16384);
    close(p[0]);
    close(p[1]);
    fill(4096, 1);
    fill(8192, 1000);
    fill(16384, 4096);
    fill(16384, 5000);
    fill(131072, 70000);
    fill(65536, 3000);
    /* pipe-user-pages-soft: 1024 pipes of 16 slots, then two slots. */
    raise_nofile();
    static int fds[1100][2];
    int n = 0;
    for (; n < 1100; n++)
        if (pipe(fds[n]) < 0)
            break;
    printf("pipes: %d; sizes of the 1st, 1024th, 1025th and last: %d %d %d %d\n", n, fcntl(fds[0][0], F_GETPIPE_SZ),
           fcntl(fds[1023][0], F_GETPIPE_SZ), fcntl(fds[1024][0], F_GETPIPE_SZ), fcntl(fds[n - 1][0], F_GETPIPE_SZ));
    setsz(fds[1024][1], 16384);
    setsz(fds[1024][1], 4096);
    setsz(fds[1][1], 4096);
    for (int i = 0; i < n; i++) {
        close(fds[i][0]);
        close(fds[i][1]);
    }
    pipe(p);
    printf("after closing them: %d\n", fcntl(p[0], F_GETPIPE_SZ));
}

static void pipefill(int n)
{
    raise_nofile();
    static char buf[65536];
    long free0 = meminfo("MemFree");
    int (*fds)[2] = calloc(n, sizeof *fds);
    long bytes = 0;
    int made = 0, werr = 0, wat = -1, perr = 0;
    for (; made < n; made++) {
        if (pipe2(fds[made], O_NONBLOCK) < 0) {
            perr = errno;
            break;
        }
        long r = 0, done = 0;
        while (done < (long)sizeof buf && (r = write(fds[made][1], buf + done, sizeof buf - done)) > 0)
            done += r;
        bytes += done;
        if (r < 0 && !werr) {
            werr = errno;
            wat = made;
        }
    }
    printf("pipes made: %d of %d\n", made, n);
    printf("first write that failed: pipe %d, %s\n", wat, ename(werr));
    printf("pipe(): %s\n", ename(perr));
    printf("bytes buffered: %ld\n", bytes);
    long free1 = meminfo("MemFree");
    for (int i = 0; i < made; i++) {
        close(fds[i][0]);
        close(fds[i][1]);
    }
    long free2 = meminfo("MemFree");
    printf("MemFree kB: before %ld, full %ld, after closing %ld\n", free0, free1, free2);
}

static void slab(int n)
{
    raise_nofile();
    /* Grow the descriptor table first, so only the pipes count. */
    dup2(0, 1023);
    close(1023);
    static char buf[65536];
    int (*fds)[2] = calloc(n, sizeof *fds);
    long r0 = meminfo("SReclaimable"), u0 = meminfo("SUnreclaim"), s0 = meminfo("Slab"), f0 = meminfo("MemFree");
    for (int i = 0; i < n; i++) {
        pipe(fds[i]);
        write(fds[i][1], buf, sizeof buf);
    }
    long r1 = meminfo("SReclaimable"), u1 = meminfo("SUnreclaim"), s1 = meminfo("Slab"), f1 = meminfo("MemFree");
    printf("%d pipes of 64 KiB: Slab +%ld kB (SReclaimable +%ld kB, SUnreclaim +%ld kB)\n", n, s1 - s0, r1 - r0,
           u1 - u0);
    printf("MemFree -%ld kB\n", f0 - f1);
    for (int i = 0; i < n; i++) {
        close(fds[i][0]);
        close(fds[i][1]);
    }
    long r2 = meminfo("SReclaimable"), u2 = meminfo("SUnreclaim");
    printf("closed: SReclaimable %+ld kB, SUnreclaim %+ld kB\n", r2 - r0, u2 - u0);
}

static int gate[2];
static void *sleeper(void *arg)
{
    char c;
    (void)arg;
    read(gate[0], &c, 1);
    return NULL;
}

static void threads(int n)
{
    pipe(gate);
    pthread_t *t = calloc(n, sizeof *t);
    long k0 = meminfo("KernelStack"), u0 = meminfo("SUnreclaim");
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, sleeper, NULL))
            printf("pthread_create failed\n");
    long k1 = meminfo("KernelStack"), u1 = meminfo("SUnreclaim");
    printf("%d threads: KernelStack +%ld kB, SUnreclaim +%ld kB\n", n, k1 - k0, u1 - u0);
    close(gate[1]);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    long k2 = meminfo("KernelStack");
    printf("joined: KernelStack %+ld kB\n", k2 - k0);
}

static void limits(void)
{
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    printf("RLIMIT_NOFILE %lu %lu\n", (unsigned long)r.rlim_cur, (unsigned long)r.rlim_max);
    r.rlim_max = 1048577;
    printf("raising its hard limit: %s\n", setrlimit(RLIMIT_NOFILE, &r) ? ename(errno) : "0");
    getrlimit(RLIMIT_SIGPENDING, &r);
    printf("RLIMIT_SIGPENDING %lu %lu\n", (unsigned long)r.rlim_cur, (unsigned long)r.rlim_max);
    printf("threads-max %ld\n", sysctl("/proc/sys/kernel/threads-max"));
    const char *fs[] = {"file-max", "nr_open", "pipe-max-size", "pipe-user-pages-soft", "pipe-user-pages-hard"};
    for (unsigned i = 0; i < sizeof fs / sizeof *fs; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/sys/fs/%s", fs[i]);
        printf("fs.%s %ld\n", fs[i], sysctl(path));
    }
    /* The 1025th descriptor is EMFILE under the soft limit. */
    int n = 0;
    while (open("/dev/null", O_RDONLY) >= 0)
        n++;
    printf("opened %d more, then %s\n", n, ename(errno));
    printf("F_DUPFD at 1024: %s\n", fcntl(0, F_DUPFD, 1024) < 0 ? ename(errno) : "ok");
    printf("dup2 to 1024: %s\n", dup2(0, 1024) < 0 ? ename(errno) : "ok");
}

static void enfile(void)
{
    raise_nofile();
    long nr = -1, max = -1;
    FILE *f = fopen("/proc/sys/fs/file-nr", "r");
    if (!f || fscanf(f, "%ld %*ld %ld", &nr, &max) != 2)
        printf("cannot read file-nr\n");
    fclose(f);
    /* fopen's file is closed again: nr counted it. */
    nr--;
    long n = 0;
    while (open("/dev/null", O_RDONLY) >= 0)
        n++;
    int e = errno;
    printf("file-max %ld; opened %ld with %ld open before, then %s\n", max, n, nr, ename(e));
    printf("stopped at file-max: %s\n", n + nr == max ? "yes" : "no");
    int p[2];
    printf("pipe at file-max: %s\n", pipe(p) < 0 ? ename(errno) : "ok");
}

static void sigflood(void)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN);
    sigaddset(&s, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &s, NULL);
    struct rlimit r;
    getrlimit(RLIMIT_SIGPENDING, &r);
    long n = 0;
    union sigval v = {0};
    while (sigqueue(getpid(), SIGRTMIN, v) == 0 && n < 10000000)
        n++;
    int e = errno;
    printf("sigqueue: %ld queued (RLIMIT_SIGPENDING %lu), then %s\n", n, (unsigned long)r.rlim_cur, ename(e));
    /* kill() may not fail: the signal is pending, its info lost. */
    printf("kill past the limit: %s\n", kill(getpid(), SIGRTMIN + 1) ? ename(errno) : "0");
    long got = 0;
    siginfo_t si;
    struct timespec zero = {0, 0};
    while (sigtimedwait(&s, &si, &zero) > 0)
        got++;
    printf("taken: %ld\n", got);
    printf("sigqueue after: %s\n", sigqueue(getpid(), SIGRTMIN, v) ? ename(errno) : "0");
}

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    int n = argc > 2 ? atoi(argv[2]) : 0;
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(m, "pipesz"))
        pipesz();
    else if (!strcmp(m, "pipefill"))
        pipefill(n);
    else if (!strcmp(m, "slab"))
        slab(n);
    else if (!strcmp(m, "threads"))
        threads(n);
    else if (!strcmp(m, "limits"))
        limits();
    else if (!strcmp(m, "enfile"))
        enfile();
    else if (!strcmp(m, "sigflood"))
        sigflood();
    else
        return 2;
    return 0;
}
