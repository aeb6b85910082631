/* Processes: fork with copy-on-write, pipes, wait statuses, exec, spawn,
 * kill, the OOM killer's choice, a fork bomb, fork/exit cycles.
 *
 * Everything on stdout must be the same natively and in faultline (no pids,
 * no timings); addresses a test needs go to stderr. Output is written with
 * write(2) or flushed before each fork, so no buffer is duplicated. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/auxv.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/select.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"

extern char **environ;

static int value = 10;

/* errno's name (musl has no ename). */
static const char *ename(int e)
{
    switch (e) {
    case 0: return "0";
    case EPIPE: return "EPIPE";
    case ECHILD: return "ECHILD";
    case ESRCH: return "ESRCH";
    case ENOENT: return "ENOENT";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOMEM: return "ENOMEM";
    default: return "other";
    }
}

static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, strerror(errno));
    exit(99);
}

static void describe(const char *who, int st)
{
    if (WIFEXITED(st))
        out("%s: exited %d\n", who, WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        out("%s: killed by signal %d%s\n", who, WTERMSIG(st), WCOREDUMP(st) ? " (core)" : "");
    else
        out("%s: status %#x\n", who, st);
}

static pid_t xfork(void)
{
    pid_t p = fork();
    if (p < 0)
        die("fork");
    return p;
}

static int reap(pid_t p)
{
    int st;
    if (waitpid(p, &st, 0) != p)
        die("waitpid");
    return st;
}

/* Parent and child print the same address with different values. */
static int same(void)
{
    pid_t p = xfork();
    if (p == 0) {
        value = 20;
        out("child: &value=%p value=%d\n", (void *)&value, value);
        _exit(0);
    }
    reap(p);
    value = 30;
    out("parent: &value=%p value=%d\n", (void *)&value, value);
    return 0;
}

/* The child writes `n` resident pages, then the parent writes `m` others
 * while the child still shares them. */
static int cow(int n, int m)
{
    size_t len = (size_t)(n + m) * PAGE;
    char *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        die("mmap");
    for (size_t i = 0; i < len; i += PAGE)
        buf[i] = 1;
    fprintf(stderr, "buf=%p\n", (void *)buf);
    int up[2], down[2];
    if (pipe(up) || pipe(down))
        die("pipe");
    pid_t p = xfork();
    if (p == 0) {
        for (int i = 0; i < n; i++)
            buf[i * PAGE] = 2;
        char c = 'x';
        if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
            _exit(97);
        long sum = 0;
        for (size_t i = 0; i < len; i += PAGE)
            sum += buf[i];
        out("child: sum=%ld\n", sum);
        _exit(0);
    }
    char c;
    if (read(up[0], &c, 1) != 1)
        die("read");
    for (int i = n; i < n + m; i++)
        buf[i * PAGE] = 3;
    if (write(down[1], &c, 1) != 1)
        die("write");
    describe("child", reap(p));
    long sum = 0;
    for (size_t i = 0; i < len; i += PAGE)
        sum += buf[i];
    out("parent: sum=%ld\n", sum);
    return 0;
}

/* The parent writes `total` bytes through a pipe; the child reads them
 * all, checks them, and exits with a code of its own. */
static int pipes(long total)
{
    int fd[2];
    if (pipe(fd))
        die("pipe");
    pid_t p = xfork();
    if (p == 0) {
        close(fd[1]);
        char buf[3000];
        long got = 0, bad = 0;
        ssize_t r;
        while ((r = read(fd[0], buf, sizeof buf)) > 0) {
            for (ssize_t i = 0; i < r; i++)
                bad += buf[i] != (char)((got + i) % 251);
            got += r;
        }
        out("child: read %ld bytes, %ld wrong, last read %zd\n", got, bad, r);
        _exit(got == total ? 7 : 8);
    }
    close(fd[0]);
    char buf[5000];
    long sent = 0;
    while (sent < total) {
        long n = total - sent < (long)sizeof buf ? total - sent : (long)sizeof buf;
        for (long i = 0; i < n; i++)
            buf[i] = (char)((sent + i) % 251);
        ssize_t w = write(fd[1], buf, n);
        if (w <= 0)
            die("write");
        sent += w;
    }
    close(fd[1]);
    describe("child", reap(p));
    /* A pipe with no reader: EPIPE, with SIGPIPE ignored. */
    if (pipe(fd))
        die("pipe");
    close(fd[0]);
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    ssize_t w = write(fd[1], "x", 1);
    out("no reader: write=%zd errno=%s\n", w, ename(errno));
    signal(SIGPIPE, SIG_DFL);
    /* And with SIGPIPE's default action, in a child. */
    p = xfork();
    if (p == 0) {
        write(fd[1], "x", 1);
        _exit(0);
    }
    describe("writer", reap(p));
    return 0;
}

/* A child that ends as `how` says. */
static void child_end(const char *how)
{
    if (!strcmp(how, "exit0"))
        exit(0);
    if (!strcmp(how, "exit1"))
        exit(1);
    if (!strcmp(how, "exit255"))
        _exit(255);
    if (!strcmp(how, "exit256"))
        _exit(256);
    if (!strcmp(how, "segv"))
        *(volatile int *)0 = 1;
    if (!strcmp(how, "abort"))
        abort();
    if (!strcmp(how, "sys_exit"))
        /* exit(2), not exit_group: the last thread's status is the
         * process's. */
        syscall(SYS_exit, 3);
    if (!strcmp(how, "pause"))
        for (;;)
            pause();
    _exit(42);
}

static int waits(void)
{
    /* No core dumps natively either (WCOREDUMP would differ). */
    struct rlimit nocore = {0, 0};
    setrlimit(RLIMIT_CORE, &nocore);
    const char *ends[] = {"exit0", "exit1", "exit255", "exit256", "segv", "abort", "sys_exit"};
    for (size_t i = 0; i < sizeof ends / sizeof *ends; i++) {
        pid_t p = xfork();
        if (p == 0)
            child_end(ends[i]);
        int st;
        pid_t r = wait4(p, &st, 0, NULL);
        if (r != p)
            die("wait4");
        describe(ends[i], st);
    }
    /* WNOHANG while the child runs, then kill it. */
    int fd[2];
    if (pipe(fd))
        die("pipe");
    pid_t p = xfork();
    if (p == 0) {
        char c;
        close(fd[1]);
        read(fd[0], &c, 1);
        _exit(5);
    }
    int st = 0;
    out("wnohang: %d\n", waitpid(p, &st, WNOHANG));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int w = waitid(P_PID, p, &si, WEXITED | WNOHANG);
    out("waitid wnohang: %d pid_set=%d\n", w, si.si_pid != 0);
    close(fd[1]);
    /* WNOWAIT leaves it a zombie; the next waitid reaps it. */
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, p, &si, WEXITED | WNOWAIT))
        die("waitid");
    out("waitid nowait: signo=%d code=%d status=%d pid_ok=%d\n", si.si_signo, si.si_code, si.si_status,
        si.si_pid == p);
    memset(&si, 0, sizeof si);
    if (waitid(P_ALL, 0, &si, WEXITED))
        die("waitid");
    out("waitid: signo=%d code=%d status=%d pid_ok=%d\n", si.si_signo, si.si_code, si.si_status, si.si_pid == p);
    /* Killed by a signal, seen by waitid. */
    p = xfork();
    if (p == 0)
        child_end("pause");
    kill(p, SIGTERM);
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, p, &si, WEXITED))
        die("waitid");
    out("waitid killed: signo=%d code=%d status=%d\n", si.si_signo, si.si_code, si.si_status);
    errno = 0;
    int r = wait(&st);
    out("no children: wait=%d errno=%s\n", r, ename(errno));
    errno = 0;
    r = waitid(P_ALL, 0, &si, WEXITED | WNOHANG);
    out("no children: waitid=%d errno=%s\n", r, ename(errno));
    return 0;
}

/* kill between processes: default actions, signal 0, ESRCH, groups. */
static int kills(void)
{
    int sigs[] = {SIGTERM, SIGKILL, SIGUSR1, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
        /* The default action, even where the runner ignores the signal
         * (a background job's SIGINT): set before the fork, as an ignored
         * signal sent before the child could reset it would be lost. */
        signal(sigs[i], SIG_DFL);
        pid_t p = xfork();
        if (p == 0)
            child_end("pause");
        out("kill %d: %d\n", sigs[i], kill(p, sigs[i]));
        describe("child", reap(p));
        errno = 0;
        int r = kill(p, 0);
        out("kill 0 after reap: %d errno=%s\n", r, ename(errno));
    }
    /* SIGCHLD's default action is to ignore; SIGCONT too. */
    pid_t p = xfork();
    if (p == 0) {
        kill(getppid(), SIGCHLD);
        kill(getppid(), SIGCONT);
        _exit(3);
    }
    describe("child", reap(p));
    /* A child in its own group, killed through the group. */
    p = xfork();
    if (p == 0) {
        setpgid(0, 0);
        child_end("pause");
    }
    setpgid(p, p);
    out("killpg: %d\n", kill(-p, SIGTERM));
    describe("group child", reap(p));
    /* A child signals its parent's sibling... its parent: a caught one. */
    return 0;
}

/* exec another program (argv[2] onwards); close-on-exec pipes. */
static int execs(char **argv)
{
    int fd[2];
    if (pipe2(fd, O_CLOEXEC))
        die("pipe2");
    int keep = dup(fd[1]);
    fflush(stdout);
    pid_t p = xfork();
    if (p == 0) {
        char num[16];
        snprintf(num, sizeof num, "%d,%d", fd[1], keep);
        char *args[] = {argv[2], "afterexec", num, NULL};
        execve(argv[2], args, environ);
        die("execve");
    }
    describe("exec child", reap(p));
    /* A failed exec returns to the caller. */
    char *none[] = {"/nonexistent", NULL};
    errno = 0;
    int r = execve("/nonexistent", none, environ);
    out("exec missing: %d errno=%s\n", r, ename(errno));
    p = xfork();
    if (p == 0) {
        char *args[] = {argv[2], "exitwith", "9", NULL};
        execv(argv[2], args);
        _exit(1);
    }
    describe("exec exitwith", reap(p));
    /* execveat: relative to a directory fd, and of an fd itself. */
    char dir[256];
    snprintf(dir, sizeof dir, "%s", argv[2]);
    char *slash = strrchr(dir, '/');
    if (!slash)
        die("exec needs a path");
    *slash = 0;
    /* At fixed numbers: natively, more may be open (inherited). */
    int dfd = dup2(open(dir, O_RDONLY | O_DIRECTORY), 200);
    int ffd = dup2(open(argv[2], O_RDONLY), 201);
    for (int how = 0; how < 3; how++) {
        fflush(stdout);
        p = xfork();
        if (p == 0) {
            char *args[] = {argv[2], "execfn", how ? "" : slash + 1, NULL};
            if (how == 2)
                syscall(SYS_execveat, AT_FDCWD, argv[2], args, environ, 0);
            else if (how)
                syscall(SYS_execveat, ffd, "", args, environ, AT_EMPTY_PATH);
            else
                syscall(SYS_execveat, dfd, slash + 1, args, environ, 0);
            die("execveat");
        }
        describe("execveat", reap(p));
    }
    return 0;
}

static int afterexec(const char *fds)
{
    int a, b;
    sscanf(fds, "%d,%d", &a, &b);
    errno = 0;
    int ra = fcntl(a, F_GETFD);
    out("after exec: cloexec fd %s, kept fd flags %d\n", ra < 0 ? ename(errno) : "open", fcntl(b, F_GETFD));
    return 4;
}

/* After exec: AT_EXECFN is the path exec was given. */
static int execfn(char **argv)
{
    (void)argv;
    const char *fn = (const char *)getauxval(AT_EXECFN);
    out("AT_EXECFN=%s\n", fn ? fn : "(none)");
    return 0;
}

/* posix_spawn and vfork. */
static int spawns(char **argv)
{
    fflush(stdout);
    pid_t p;
    char *args[] = {argv[0], "exitwith", "12", NULL};
    int r = posix_spawn(&p, argv[0], NULL, NULL, args, environ);
    int sst = reap(p);
    out("posix_spawn: %d\n", r);
    describe("spawned", sst);
    char *bad[] = {"/nonexistent", NULL};
    r = posix_spawn(&p, "/nonexistent", NULL, NULL, bad, environ);
    out("posix_spawn missing: %s\n", ename(r));
    if (r == 0)
        describe("spawned missing", reap(p));
    p = vfork();
    if (p == 0) {
        /* Until it execs or exits, the child runs in its parent's memory. */
        value = 77;
        _exit(13);
    }
    describe("vfork", reap(p));
    out("after vfork: value=%d\n", value);
    p = vfork();
    if (p == 0) {
        execv(argv[0], args);
        _exit(1);
    }
    describe("vfork+exec", reap(p));
    /* system() and popen(): /bin/sh through posix_spawn (or vfork). */
    int st = system("echo from system; exit 3");
    describe("system", st);
    FILE *f = popen("echo from popen; echo second", "r");
    char line[64];
    while (f && fgets(line, sizeof line, f))
        out("popen read: %s", line);
    describe("pclose", f ? pclose(f) : -1);
    return 0;
}

/* Children of different sizes; the biggest meets the OOM killer, and the
 * others still have their memory intact. argv: sizes in MiB (with a "+":
 * oom_score_adj 1000). */
static int oom(int argc, char **argv)
{
    int n = argc - 2;
    pid_t kids[8];
    int go[2];
    if (n > 8 || pipe(go))
        die("oom args");
    for (int i = 0; i < n; i++) {
        size_t mib = strtoul(argv[2 + i], NULL, 10);
        int ready[2];
        if (pipe(ready))
            die("pipe");
        kids[i] = xfork();
        if (kids[i] == 0) {
            close(go[1]);
            /* "N+": this one asks to be the OOM killer's first choice. */
            if (strchr(argv[2 + i], '+')) {
                int fd = open("/proc/self/oom_score_adj", O_WRONLY);
                if (fd < 0 || write(fd, "1000", 4) != 4)
                    _exit(89);
                close(fd);
            }
            size_t len = mib << 20;
            char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED)
                _exit(90);
            for (size_t o = 0; o < len; o += PAGE)
                m[o] = (char)(o / PAGE);
            char c = 'r';
            write(ready[1], &c, 1);
            read(go[0], &c, 1);
            for (size_t o = 0; o < len; o += PAGE)
                if (m[o] != (char)(o / PAGE))
                    _exit(91);
            _exit(0);
        }
        close(ready[1]);
        char c;
        /* Ready, or dead (end of file). */
        read(ready[0], &c, 1);
        close(ready[0]);
    }
    close(go[0]);
    close(go[1]);
    for (int i = 0; i < n; i++) {
        char who[32];
        snprintf(who, sizeof who, "child %sM", argv[2 + i]);
        describe(who, reap(kids[i]));
    }
    return 0;
}

/* Forks until fork fails; every child waits for the parent's word. With
 * an argument, RLIMIT_NPROC is set to it first. */
static int bomb(const char *nproc)
{
    if (nproc) {
        struct rlimit rl = {strtoul(nproc, NULL, 10), strtoul(nproc, NULL, 10)};
        if (setrlimit(RLIMIT_NPROC, &rl))
            die("setrlimit");
    }
    int fd[2];
    if (pipe(fd))
        die("pipe");
    long made = 0;
    for (;;) {
        pid_t p = fork();
        if (p < 0)
            break;
        if (p == 0) {
            char c;
            close(fd[1]);
            read(fd[0], &c, 1);
            _exit(0);
        }
        made++;
        if (made > 100000)
            break;
    }
    int e = errno;
    close(fd[1]);
    long reaped = 0;
    int st;
    while (wait(&st) > 0)
        reaped += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    out("bomb: made %ld, then %s; reaped %ld\n", made, ename(e), reaped);
    return 0;
}

/* The fd calls shells use around fork, poll and select on pipes, orphans,
 * SIGCHLD ignored, /proc of another process. */
static int misc(char *self)
{
    int fd[2];
    if (pipe(fd))
        die("pipe");
    /* Non-blocking reads of an empty pipe. */
    int fl = fcntl(fd[0], F_GETFL);
    fcntl(fd[0], F_SETFL, fl | O_NONBLOCK);
    char c;
    errno = 0;
    int r = read(fd[0], &c, 1);
    out("nonblock read: %d %s, flags %#x\n", r, ename(errno), fcntl(fd[0], F_GETFL) & O_NONBLOCK);
    fcntl(fd[0], F_SETFL, fl);
    /* poll and select: nothing, then data from a child. */
    struct pollfd p = {fd[0], POLLIN, 0};
    r = poll(&p, 1, 0);
    out("poll empty: %d revents=%#x\n", r, p.revents);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(fd[0], &rs);
    struct timeval tv = {0, 0};
    r = select(fd[0] + 1, &rs, NULL, NULL, &tv);
    out("select empty: %d\n", r);
    fflush(stdout);
    pid_t k = xfork();
    if (k == 0) {
        /* The child writes through a dup2'd stdout. */
        dup2(fd[1], 1);
        close(fd[1]);
        out("from child\n");
        _exit(0);
    }
    p.revents = 0;
    r = poll(&p, 1, 5000);
    out("poll data: %d revents=%#x\n", r, p.revents);
    FD_ZERO(&rs);
    FD_SET(fd[0], &rs);
    tv.tv_sec = 5;
    r = select(fd[0] + 1, &rs, NULL, NULL, &tv);
    out("select data: %d isset=%d\n", r, FD_ISSET(fd[0], &rs));
    char buf[64] = {0};
    r = read(fd[0], buf, sizeof buf - 1);
    out("read %d: %s", r, buf);
    describe("child", reap(k));
    close(fd[1]);
    /* Every writer gone: POLLHUP, and end of file. */
    p.revents = 0;
    r = poll(&p, 1, 5000);
    out("poll hup: %d revents=%#x read=%zd\n", r, p.revents, read(fd[0], buf, 1));
    close(fd[0]);
    /* F_DUPFD_CLOEXEC and F_DUPFD above a floor; dup3. */
    int d = fcntl(1, F_DUPFD_CLOEXEC, 100);
    out("dupfd_cloexec: %d fd_flags=%d\n", d, fcntl(d, F_GETFD));
    int e = fcntl(1, F_DUPFD, 100);
    out("dupfd: %d fd_flags=%d\n", e, fcntl(e, F_GETFD));
    errno = 0;
    r = dup3(e, e, O_CLOEXEC);
    out("dup3 same: %d %s\n", r, ename(errno));
    r = dup3(1, 120, O_CLOEXEC);
    out("dup3: %d fd_flags=%d\n", r, fcntl(120, F_GETFD));
    fcntl(120, F_SETFD, 0);
    out("setfd: %d\n", fcntl(120, F_GETFD));
    close(d), close(e), close(120);
    /* An orphan: its parent exits first, and it is re-parented. */
    int sync[2];
    if (pipe(sync))
        die("pipe");
    fflush(stdout);
    k = xfork();
    if (k == 0) {
        pid_t me = getpid();
        pid_t g = xfork();
        if (g == 0) {
            close(sync[1]);
            /* Until the middle process has gone. */
            read(sync[0], &c, 1);
            while (getppid() == me)
                usleep(1000);
            out("orphan re-parented: %d\n", getppid() != me);
            _exit(0);
        }
        _exit(0);
    }
    close(sync[0]);
    describe("middle", reap(k));
    close(sync[1]);
    /* (Natively the orphan goes to the host's init or a subreaper; here
     * to pid 1, which is this program: not compared.) */
    usleep(100000);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    /* SIGCHLD ignored: children leave no zombie, and wait says ECHILD. */
    signal(SIGCHLD, SIG_IGN);
    k = xfork();
    if (k == 0)
        _exit(1);
    errno = 0;
    r = waitpid(k, NULL, 0);
    out("sigchld ignored: wait=%d %s\n", r, ename(errno));
    signal(SIGCHLD, SIG_DFL);
    /* Another process's /proc files. */
    int go[2];
    if (pipe(go))
        die("pipe");
    fflush(stdout);
    k = xfork();
    if (k == 0) {
        close(go[1]);
        read(go[0], &c, 1);
        _exit(0);
    }
    close(go[0]);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/cmdline", k);
    int f = open(path, O_RDONLY);
    r = f < 0 ? -1 : read(f, buf, sizeof buf);
    out("child cmdline: %d bytes, argv[1]=%s\n", r, r > 0 ? buf + strlen(buf) + 1 : "?");
    close(f);
    snprintf(path, sizeof path, "/proc/%d/oom_score_adj", k);
    f = open(path, O_RDONLY);
    memset(buf, 0, sizeof buf);
    r = f < 0 ? -1 : read(f, buf, sizeof buf);
    out("child oom_score_adj: %s", buf);
    close(f);
    snprintf(path, sizeof path, "/proc/%d/stat", k);
    f = open(path, O_RDONLY);
    memset(buf, 0, sizeof buf);
    r = f < 0 ? -1 : read(f, buf, sizeof buf - 1);
    char *comm = strchr(buf, '(');
    out("child stat comm: %.*s\n", comm ? (int)(strchr(comm, ')') - comm + 1) : 1, comm ? comm : "?");
    close(f);
    /* Blocked in read: sleeping (once it has got there). */
    char state = '?';
    for (int i = 0; i < 2000 && state != 'S'; i++) {
        f = open(path, O_RDONLY);
        memset(buf, 0, sizeof buf);
        r = f < 0 ? -1 : read(f, buf, sizeof buf - 1);
        close(f);
        char *end = strrchr(buf, ')');
        state = end ? end[2] : '?';
        if (state != 'S')
            usleep(1000);
    }
    snprintf(path, sizeof path, "/proc/%d/status", k);
    f = open(path, O_RDONLY);
    memset(buf, 0, sizeof buf);
    r = f < 0 ? -1 : read(f, buf, sizeof buf - 1);
    close(f);
    char *st = strstr(buf, "State:");
    out("child stat state: %c, status %.*s\n", state, st ? (int)(strchr(st, '\n') - st) : 1, st ? st : "?");
    snprintf(path, sizeof path, "/proc/%d/oom_score", k);
    f = open(path, O_RDONLY);
    memset(buf, 0, sizeof buf);
    r = f < 0 ? -1 : read(f, buf, sizeof buf - 1);
    close(f);
    int score = atoi(buf);
    out("child oom_score in range: %d\n", r > 0 && score >= 0 && score <= 2000);
    snprintf(path, sizeof path, "/proc/%d/maps", k);
    f = open(path, O_RDONLY);
    char maps[8192] = {0};
    r = f < 0 ? -1 : read(f, maps, sizeof maps - 1);
    close(f);
    out("child maps has its stack: %d\n", strstr(maps, "[stack]") != NULL);
    /* ppoll and pselect time out on an empty pipe. */
    int ep[2];
    if (pipe(ep))
        die("pipe");
    struct pollfd pe = {ep[0], POLLIN, 0};
    struct timespec ts = {0, 20000000};
    r = ppoll(&pe, 1, &ts, NULL);
    FD_ZERO(&rs);
    FD_SET(ep[0], &rs);
    int r2 = pselect(ep[0] + 1, &rs, NULL, NULL, &ts, NULL);
    out("ppoll empty: %d, pselect empty: %d\n", r, r2);
    write(ep[1], "z", 1);
    r = ppoll(&pe, 1, &ts, NULL);
    FD_SET(ep[0], &rs);
    r2 = pselect(ep[0] + 1, &rs, NULL, NULL, &ts, NULL);
    out("ppoll ready: %d %#x, pselect ready: %d\n", r, pe.revents, r2);
    close(ep[0]);
    close(ep[1]);
    close(go[1]);
    describe("child", reap(k));
    /* oom_score_adj: raised, then lowered back (above 0 no privilege is
     * needed); a child inherits it. */
    int results[2];
    const char *vals[2] = {"500", "0"};
    for (int i = 0; i < 2; i++) {
        f = open("/proc/self/oom_score_adj", O_WRONLY);
        results[i] = f < 0 ? -1 : (int)write(f, vals[i], strlen(vals[i]));
        close(f);
        if (i == 0) {
            k = xfork();
            if (k == 0) {
                f = open("/proc/self/oom_score_adj", O_RDONLY);
                memset(buf, 0, sizeof buf);
                r = read(f, buf, sizeof buf - 1);
                out("child's oom_score_adj: %s", buf);
                _exit(0);
            }
            reap(k);
        }
    }
    /* As stdio writes it: open(O_CREAT | O_TRUNC), then the value. */
    FILE *sf = fopen("/proc/self/oom_score_adj", "w");
    int stdio_ok = sf && fprintf(sf, "0") == 1;
    stdio_ok = sf && fclose(sf) == 0 && stdio_ok;
    f = open("/proc/self/oom_score_adj", O_RDONLY);
    memset(buf, 0, sizeof buf);
    r = read(f, buf, sizeof buf - 1);
    close(f);
    out("oom_score_adj writes: %d %d, by fopen: %d, now %s", results[0], results[1], stdio_ok, buf);
    /* MAP_SHARED stays shared across fork; MAP_PRIVATE does not. */
    int *sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int *pv = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    *sh = 1;
    *pv = 1;
    k = xfork();
    if (k == 0) {
        *sh = 2;
        *pv = 2;
        _exit(0);
    }
    reap(k);
    out("after the child wrote: shared=%d private=%d\n", *sh, *pv);
    /* Sessions and groups, as a shell's children use them. */
    k = xfork();
    if (k == 0) {
        pid_t me = getpid();
        int in_parents = getpgid(0) == getpgid(getppid());
        pid_t s = setsid();
        errno = 0;
        int again = setsid();
        int e = errno;
        out("child: in parent's group %d, setsid %d, leader of both %d, setsid again %d %s\n", in_parents,
            s == me, getpgid(0) == me && getsid(0) == me, again, ename(e));
        _exit(0);
    }
    reap(k);
    errno = 0;
    r = setpgid(k, k);
    out("setpgid of a reaped child: %d %s\n", r, ename(errno));
    /* A child that has exec'd may no longer be moved (EACCES). */
    int hold[2];
    if (pipe(hold))
        die("pipe");
    fflush(stdout);
    k = xfork();
    if (k == 0) {
        close(hold[1]);
        char num[16];
        snprintf(num, sizeof num, "%d", hold[0]);
        char *args[] = {self, "waitfd", num, NULL};
        execv(self, args);
        _exit(1);
    }
    close(hold[0]);
    errno = 0;
    r = setpgid(k, k);
    int before = r == 0 || errno == EACCES;
    snprintf(path, sizeof path, "/proc/%d/cmdline", k);
    for (int i = 0; i < 5000; i++) {
        f = open(path, O_RDONLY);
        memset(buf, 0, sizeof buf);
        r = f < 0 ? -1 : read(f, buf, sizeof buf - 1);
        close(f);
        if (r > 0 && !strcmp(buf + strlen(buf) + 1, "waitfd"))
            break;
        usleep(1000);
    }
    errno = 0;
    r = setpgid(k, 0);
    out("setpgid before exec ok: %d, after exec: %d %s\n", before, r, ename(errno));
    close(hold[1]);
    describe("waitfd", reap(k));
    return 0;
}

static volatile sig_atomic_t got;
static void on_usr1(int sig)
{
    got = sig;
}

/* n round trips of one byte between two processes; a caught signal. */
static int pingpong(long n)
{
    int ab[2], ba[2];
    if (pipe(ab) || pipe(ba))
        die("pipe");
    pid_t k = xfork();
    if (k == 0) {
        char c;
        long seen = 0;
        close(ab[1]);
        close(ba[0]);
        while (read(ab[0], &c, 1) == 1) {
            seen++;
            c++;
            if (write(ba[1], &c, 1) != 1)
                _exit(2);
        }
        _exit(seen == n ? 0 : 1);
    }
    close(ab[0]);
    close(ba[1]);
    char c = 0;
    long ok = 0;
    for (long i = 0; i < n; i++) {
        char d = (char)i;
        if (write(ab[1], &d, 1) != 1 || read(ba[0], &c, 1) != 1)
            die("pingpong");
        ok += c == (char)(i + 1);
    }
    close(ab[1]);
    describe("ponger", reap(k));
    out("pingpong: %ld of %ld\n", ok, n);
    /* A handler the child inherits, and a signal from the parent. */
    signal(SIGUSR1, on_usr1);
    int go[2];
    if (pipe(go))
        die("pipe");
    k = xfork();
    if (k == 0) {
        close(go[1]);
        while (!got)
            pause();
        out("child caught %d\n", got);
        _exit(got);
    }
    kill(k, SIGUSR1);
    describe("catcher", reap(k));
    return 0;
}

/* n pages shared copy-on-write by parent and child, each checking all of
 * them after writing some; under a small --rss-limit, shared frames are
 * evicted and swapped back in for both. */
static int shared(long n)
{
    size_t len = (size_t)n * PAGE;
    unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        die("mmap");
    for (long i = 0; i < n; i++)
        memset(m + i * PAGE, (int)(i % 200), PAGE);
    pid_t k = xfork();
    int who = k == 0 ? 1 : 2;
    if (k != 0)
        reap(k);
    /* Each writes every third page (offset by who), then checks all. */
    for (long i = who; i < n; i += 3)
        memset(m + i * PAGE, (int)(200 + who), PAGE);
    for (int pass = 0; pass < 2; pass++) {
        long bad = 0;
        for (long i = 0; i < n; i++) {
            int want = (i % 3 == who) && i >= who ? 200 + who : (int)(i % 200);
            for (size_t o = 0; o < PAGE; o += 512)
                bad += m[i * PAGE + o] != want;
        }
        out("%s pass %d: %ld bad\n", k == 0 ? "child" : "parent", pass, bad);
    }
    if (k == 0) {
        /* Dropping shared pages in the child leaves the parent's alone. */
        madvise(m, len / 2, MADV_DONTNEED);
        munmap(m + len / 2, len / 4);
        long zero = 0;
        for (long i = 0; i < n / 2; i++)
            zero += m[i * PAGE] == 0;
        out("child after dontneed: %ld of %ld zero\n", zero, n / 2);
        _exit(0);
    }
    return 0;
}

/* Writers of PIPE_BUF bytes at a time into one pipe: no write is split by
 * another's. */
static int atomic(int writers, int msgs)
{
    int fd[2];
    if (pipe(fd))
        die("pipe");
    for (int w = 0; w < writers; w++) {
        pid_t k = xfork();
        if (k == 0) {
            close(fd[0]);
            char msg[PIPE_BUF];
            memset(msg, 'a' + w, sizeof msg);
            for (int i = 0; i < msgs; i++)
                if (write(fd[1], msg, sizeof msg) != (ssize_t)sizeof msg)
                    _exit(1);
            _exit(0);
        }
    }
    close(fd[1]);
    long whole = 0, mixed = 0, count[26] = {0};
    char buf[PIPE_BUF];
    for (;;) {
        size_t got = 0;
        ssize_t r = 1;
        while (got < sizeof buf && (r = read(fd[0], buf + got, sizeof buf - got)) > 0)
            got += r;
        if (got == 0)
            break;
        int same = got == sizeof buf;
        for (size_t i = 1; i < got; i++)
            same &= buf[i] == buf[0];
        whole += same;
        mixed += !same;
        if (same)
            count[buf[0] - 'a']++;
        if (r <= 0)
            break;
    }
    int st, ok = 0;
    while (wait(&st) > 0)
        ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    out("atomic: %ld whole, %ld mixed, writers ok %d;", whole, mixed, ok);
    for (int w = 0; w < writers; w++)
        out(" %c=%ld", 'a' + w, count[w]);
    out("\n");
    return 0;
}

/* A zombie orphaned by its parent goes to pid 1, which here ignores
 * SIGCHLD: nothing of it may stay (in faultline, pid 1 is this program). */
static int orphanzombie(void)
{
    signal(SIGCHLD, SIG_IGN);
    int fd[2];
    if (pipe(fd))
        die("pipe");
    pid_t k = xfork();
    if (k == 0) {
        signal(SIGCHLD, SIG_DFL);
        int gfd[2];
        if (pipe(gfd))
            _exit(1);
        pid_t g = xfork();
        if (g == 0)
            _exit(0);
        /* Wait until the grandchild is a zombie, then leave it. */
        char path[64], buf[256] = {0};
        snprintf(path, sizeof path, "/proc/%d/stat", g);
        for (int i = 0; i < 5000; i++) {
            int f = open(path, O_RDONLY);
            int r = f < 0 ? -1 : read(f, buf, sizeof buf - 1);
            close(f);
            char *end = r > 0 ? strrchr(buf, ')') : NULL;
            if (end && end[2] == 'Z')
                break;
            usleep(1000);
        }
        write(fd[1], &g, sizeof g);
        _exit(0);
    }
    pid_t g;
    if (read(fd[0], &g, sizeof g) != sizeof g)
        die("read");
    /* The middle one is gone (SIGCHLD ignored: never a zombie). */
    for (int i = 0; i < 5000 && kill(k, 0) == 0; i++)
        usleep(1000);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", g);
    int f = -1;
    for (int i = 0; i < 1000; i++) {
        f = open(path, O_RDONLY);
        if (f < 0)
            break;
        close(f);
        usleep(1000);
    }
    out("middle gone: %d, orphaned zombie gone: %d\n", kill(k, 0) != 0, f < 0);
    return 0;
}

/* n fork/exit/wait cycles. */
static int cycles(long n)
{
    long ok = 0;
    for (long i = 0; i < n; i++) {
        pid_t p = xfork();
        if (p == 0)
            _exit(i & 0x7f);
        int st = reap(p);
        ok += WIFEXITED(st) && WEXITSTATUS(st) == (i & 0x7f);
    }
    out("cycles: %ld of %ld\n", ok, n);
    return 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "same"))
        return same();
    if (!strcmp(mode, "cow"))
        return cow(atoi(argv[2]), atoi(argv[3]));
    if (!strcmp(mode, "pipe"))
        return pipes(atol(argv[2]));
    if (!strcmp(mode, "wait"))
        return waits();
    if (!strcmp(mode, "kill"))
        return kills();
    if (!strcmp(mode, "exec"))
        return execs(argv);
    if (!strcmp(mode, "execfn"))
        return execfn(argv);
    if (!strcmp(mode, "afterexec"))
        return afterexec(argv[2]);
    if (!strcmp(mode, "exitwith")) {
        out("exitwith %s\n", argv[2]);
        return atoi(argv[2]);
    }
    if (!strcmp(mode, "spawn"))
        return spawns(argv);
    if (!strcmp(mode, "oom"))
        return oom(argc, argv);
    if (!strcmp(mode, "bomb"))
        return bomb(argc > 2 ? argv[2] : NULL);
    if (!strcmp(mode, "pingpong"))
        return pingpong(atol(argv[2]));
    if (!strcmp(mode, "shared"))
        return shared(atol(argv[2]));
    if (!strcmp(mode, "atomic"))
        return atomic(atoi(argv[2]), atoi(argv[3]));
    if (!strcmp(mode, "orphanzombie"))
        return orphanzombie();
    if (!strcmp(mode, "waitfd")) {
        char c;
        while (read(atoi(argv[2]), &c, 1) > 0)
            ;
        return 0;
    }
    if (!strcmp(mode, "misc"))
        return misc(argv[0]);
    if (!strcmp(mode, "cycles"))
        return cycles(atol(argv[2]));
    fprintf(stderr, "usage: procs same|cow N M|pipe BYTES|wait|kill|exec PROG|spawn|oom MIB...|bomb|cycles N\n");
    return 2;
}
