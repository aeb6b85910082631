/* File locks, natively and under faultline: POSIX record locks across
 * fork (ranges, splitting and merging, F_GETLK's report, release on any
 * close, EDEADLK, F_SETLKW blocking and EINTR), OFD locks across threads,
 * dup and fork, and flock(2). Every line printed is the same on Linux. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char path[64], path2[64];
static int sync_pipe[2];

/* A call's result, or its errno when it fails. */
#define E(call) ({ errno = 0; int r_ = (call); r_ < 0 ? -errno : r_; })

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static const char *tname(int t)
{
    return t == F_RDLCK ? "RD" : t == F_WRLCK ? "WR" : t == F_UNLCK ? "UN" : "??";
}

static int lk(int fd, int cmd, int type, int whence, long start, long len)
{
    struct flock fl = { .l_type = type, .l_whence = whence, .l_start = start, .l_len = len };
    return fcntl(fd, cmd, &fl) == 0 ? 0 : errno;
}

/* F_GETLK for [start, start+len): what is in the way, with l_pid said
 * relative to `parent` (pids differ natively and in the sandbox). */
static void getlk(const char *what, int fd, int cmd, int type, long start, long len, pid_t parent)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
    if (fcntl(fd, cmd, &fl) != 0) {
        say("%s: getlk errno %d\n", what, errno);
        return;
    }
    if (fl.l_type == F_UNLCK) {
        say("%s: free (whence %d start %ld len %ld)\n", what, fl.l_whence, (long)fl.l_start, (long)fl.l_len);
        return;
    }
    const char *who = fl.l_pid == parent ? "parent" : fl.l_pid == -1 ? "-1" : fl.l_pid == getpid() ? "self" : "other";
    say("%s: %s start %ld len %ld whence %d pid %s\n", what, tname(fl.l_type), (long)fl.l_start, (long)fl.l_len,
        fl.l_whence, who);
}

static void wait_child(pid_t c)
{
    int st;
    waitpid(c, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        say("child status %#x\n", st);
}

/* Runs `f` in a child that checks the parent's locks. */
static void in_child(void (*f)(int fd, pid_t parent), int fd)
{
    pid_t parent = getpid();
    pid_t c = fork();
    if (c == 0) {
        f(fd, parent);
        _exit(0);
    }
    wait_child(c);
}

static void check_ranges(int fd, pid_t parent)
{
    getlk("whole", fd, F_GETLK, F_WRLCK, 0, 0, parent);
    getlk("read 0-9", fd, F_GETLK, F_RDLCK, 0, 10, parent);
    getlk("read 30-39", fd, F_GETLK, F_RDLCK, 30, 10, parent);
    getlk("write 30-39", fd, F_GETLK, F_WRLCK, 30, 10, parent);
    getlk("write 45", fd, F_GETLK, F_WRLCK, 45, 1, parent);
    getlk("write 50-59", fd, F_GETLK, F_WRLCK, 50, 10, parent);
    getlk("write 200+", fd, F_GETLK, F_WRLCK, 200, 0, parent);
    say("child setlk write 15: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 15, 1));
    say("child setlk read 30: %d\n", lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 30, 5));
    say("child setlk write 0-9: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10));
}

static void check_none(int fd, pid_t parent)
{
    getlk("after", fd, F_GETLK, F_WRLCK, 0, 0, parent);
}

static void posix_ranges(int fd)
{
    say("-- posix ranges\n");
    say("write 10-19: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 10, 10));
    say("read 30-39: %d\n", lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 30, 10));
    say("read 40-49: %d\n", lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 40, 10)); /* merges with 30-39 */
    say("write 44-46: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 44, 3)); /* splits it */
    /* A negative length: the 10 bytes before 70. */
    say("write 60-69 by -10: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 70, -10));
    lseek(fd, 100, SEEK_SET);
    say("read cur+100 len 0: %d\n", lk(fd, F_SETLK, F_RDLCK, SEEK_CUR, 100, 0));
    in_child(check_ranges, fd);
    say("downgrade 44-46: %d\n", lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 44, 3));
    say("unlock end-50..: %d\n", lk(fd, F_SETLK, F_UNLCK, SEEK_END, -50, 0));
    in_child(check_ranges, fd);
    say("unlock all: %d\n", lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0));
    in_child(check_none, fd);
}

static void bad_args(int fd)
{
    say("-- errors\n");
    int ro = open(path, O_RDONLY), wo = open(path, O_WRONLY);
    say("write lock on O_RDONLY: %d\n", lk(ro, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
    say("read lock on O_WRONLY: %d\n", lk(wo, F_SETLK, F_RDLCK, SEEK_SET, 0, 1));
    say("unlock on O_RDONLY: %d\n", lk(ro, F_SETLK, F_UNLCK, SEEK_SET, 0, 1));
    say("getlk write on O_RDONLY: %d\n", lk(ro, F_GETLK, F_WRLCK, SEEK_SET, 0, 1));
    say("whence 5: %d\n", lk(fd, F_SETLK, F_WRLCK, 5, 0, 1));
    say("whence -1: %d\n", lk(fd, F_GETLK, F_WRLCK, -1, 0, 1));
    say("type 7: %d\n", lk(fd, F_SETLK, 7, SEEK_SET, 0, 1));
    say("getlk unlck: %d\n", lk(fd, F_GETLK, F_UNLCK, SEEK_SET, 0, 1));
    say("start -1: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, -1, 1));
    say("len reaching before 0: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 5, -6));
    say("len past OFFSET_MAX: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 10, 0x7fffffffffffffffL));
    say("start past OFFSET_MAX: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_END, 0x7fffffffffffffffL, 1));
    say("bad pointer: %d\n", E(fcntl(fd, F_SETLK, (void *)16)));
    say("bad pointer getlk: %d\n", E(fcntl(fd, F_GETLK, (void *)16)));
    struct flock ofd = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_pid = 1 };
    say("ofd l_pid 1: %d\n", E(fcntl(fd, F_OFD_SETLK, &ofd)));
    say("bad fd: %d\n", lk(99, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
    int op = open(path, O_PATH);
    say("O_PATH: %d\n", lk(op, F_SETLK, F_UNLCK, SEEK_SET, 0, 1));
    say("flock 0: %d\n", E(flock(fd, 0)));
    say("flock SH|EX: %d\n", E(flock(fd, LOCK_SH | LOCK_EX)));
    say("flock UN unlocked: %d\n", E(flock(fd, LOCK_UN)));
    say("flock O_PATH: %d\n", E(flock(op, LOCK_SH)));
    close(op);
    close(ro);
    close(wo);
}

static void check_released(int fd, pid_t parent)
{
    getlk("after close of another fd", fd, F_GETLK, F_WRLCK, 0, 0, parent);
    getlk("hard link sees", open(path2, O_RDWR), F_GETLK, F_WRLCK, 0, 0, parent);
}

static void close_releases(int fd)
{
    say("-- any close releases\n");
    say("lock: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10));
    in_child(check_released, fd);
    int other = open(path2, O_RDONLY); /* the same file, by its other name */
    close(other);
    in_child(check_released, fd);
    /* dup2 over a descriptor of the file closes it too. */
    say("lock: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10));
    int d = dup(fd);
    dup2(0, d);
    in_child(check_released, fd);
    close(d);
}

static void child_waits(int fd, pid_t parent)
{
    (void)parent;
    char c = 'w';
    write(sync_pipe[1], &c, 1);
    int r = lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1);
    say("child setlkw: %d\n", r);
}

static void nap(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, 0);
}

static void on_alarm(int sig)
{
    (void)sig;
}

static void child_interrupted(int fd, pid_t parent)
{
    (void)parent;
    struct sigaction sa = { .sa_handler = on_alarm };
    sigaction(SIGALRM, &sa, 0);
    /* Again and again: one that comes before the call does not end it. */
    struct itimerval it = { .it_value = { .tv_usec = 100000 }, .it_interval = { .tv_usec = 100000 } };
    setitimer(ITIMER_REAL, &it, 0);
    say("child setlkw interrupted: %d\n", lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1));
    int fd2 = open(path, O_RDWR);
    say("child flock interrupted: %d\n", E(flock(fd2, LOCK_EX)));
    struct itimerval off = { 0 };
    setitimer(ITIMER_REAL, &off, 0);
}


/* Waits until process `pid` sleeps (in the call it was about to make),
 * then a little more. */
static void wait_blocked(pid_t pid)
{
    char p[64], st[256];
    snprintf(p, sizeof p, "/proc/%d/stat", pid);
    for (int i = 0; i < 500; i++) {
        int f = open(p, O_RDONLY);
        ssize_t n = f < 0 ? -1 : read(f, st, sizeof st - 1);
        close(f);
        if (n > 0) {
            st[n] = 0;
            char *e = strrchr(st, ')');
            if (e && e[2] == 'S')
                break;
        }
        nap(10);
    }
    nap(20);
}

static void blocking(int fd)
{
    say("-- F_SETLKW\n");
    say("lock: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
    pid_t c = fork();
    if (c == 0) {
        child_waits(fd, 0);
        _exit(0);
    }
    char b;
    read(sync_pipe[0], &b, 1);
    nap(100);
    say("parent unlocks\n");
    lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 1);
    wait_child(c);
    say("lock: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
    say("flock: %d\n", flock(fd, LOCK_EX));
    in_child(child_interrupted, fd);
    flock(fd, LOCK_UN);
    lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);

    say("-- EDEADLK\n");
    say("parent locks 0: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
    c = fork();
    if (c == 0) {
        say("child locks 1: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 1, 1));
        char w = 'w';
        write(sync_pipe[1], &w, 1);
        say("child waits for 0: %d\n", lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 0, 1));
        _exit(0);
    }
    read(sync_pipe[0], &b, 1);
    wait_blocked(c);
    say("parent waits for 1: %d\n", lk(fd, F_SETLKW, F_WRLCK, SEEK_SET, 1, 1));
    /* Said first: the child may print as soon as the lock is gone. */
    say("parent unlocks 0\n");
    lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 1);
    wait_child(c);
    /* The child's locks went with it. */
    say("parent locks 0-1: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 2));
    lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
}

static int ofd_fd;

static void *ofd_thread(void *arg)
{
    (void)arg;
    int fd2 = open(path, O_RDWR);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 5 };
    say("thread ofd setlk: %d\n", fcntl(fd2, F_OFD_SETLK, &fl) == 0 ? 0 : errno);
    struct flock t = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
    fcntl(fd2, F_OFD_GETLK, &t);
    say("thread ofd getlk: %s start %ld len %ld pid %d\n", tname(t.l_type), (long)t.l_start, (long)t.l_len, t.l_pid);
    char c = 'w';
    write(sync_pipe[1], &c, 1);
    say("thread ofd setlkw: %d\n", fcntl(fd2, F_OFD_SETLKW, &fl) == 0 ? 0 : errno);
    close(fd2);
    return 0;
}

static void ofd_child(int fd, pid_t parent)
{
    (void)parent;
    /* The description is shared: its OFD lock is this child's too. */
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
    say("child ofd setlk on shared fd: %d\n", fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 0 : errno);
    int fd2 = open(path, O_RDWR);
    say("child ofd setlk on own fd: %d\n", fcntl(fd2, F_OFD_SETLK, &fl) == 0 ? 0 : errno);
    say("child posix setlk: %d\n", lk(fd2, F_SETLK, F_RDLCK, SEEK_SET, 0, 1));
    close(fd);
}

static void ofd(void)
{
    say("-- OFD\n");
    ofd_fd = open(path, O_RDWR);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
    say("ofd setlk: %d\n", fcntl(ofd_fd, F_OFD_SETLK, &fl) == 0 ? 0 : errno);
    in_child(ofd_child, ofd_fd);
    /* Its own POSIX lock conflicts with it too. */
    say("posix setlk same process: %d\n", lk(ofd_fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 1));
    int d = dup(ofd_fd);
    close(ofd_fd); /* not the last: d holds it */
    pthread_t th;
    pthread_create(&th, 0, ofd_thread, 0);
    char b;
    read(sync_pipe[0], &b, 1);
    nap(100);
    say("last close\n");
    close(d);
    pthread_join(th, 0);
}

static void flock_child(int fd, pid_t parent)
{
    (void)parent;
    int fd2 = open(path, O_RDONLY);
    say("child flock SH|NB: %d\n", E(flock(fd2, LOCK_SH | LOCK_NB)));
    /* The shared description's lock is this child's to release. */
    say("child unlocks shared: %d\n", flock(fd, LOCK_UN));
    say("child flock SH|NB: %d\n", flock(fd2, LOCK_SH | LOCK_NB));
}

static void flocks(int fd)
{
    say("-- flock\n");
    int fd2 = open(path, O_RDONLY);
    say("EX: %d\n", flock(fd, LOCK_EX));
    say("other SH|NB: %d\n", E(flock(fd2, LOCK_SH | LOCK_NB)));
    say("again EX: %d\n", flock(fd, LOCK_EX));
    say("to SH: %d\n", flock(fd, LOCK_SH));
    say("other SH|NB: %d\n", flock(fd2, LOCK_SH | LOCK_NB));
    say("to EX|NB: %d\n", E(flock(fd, LOCK_EX | LOCK_NB)));
    /* That conversion gave up the shared lock. */
    say("other to EX|NB: %d\n", flock(fd2, LOCK_EX | LOCK_NB));
    say("posix lock beside it: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 0));
    lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    say("other UN: %d\n", flock(fd2, LOCK_UN));
    say("EX: %d\n", flock(fd, LOCK_EX));
    in_child(flock_child, fd);
    close(fd2);
    fd2 = open(path, O_RDONLY);
    say("after child SH|NB: %d\n", flock(fd2, LOCK_SH | LOCK_NB));
    close(fd2);
}

static void *posix_thread(void *arg)
{
    int fd = *(int *)arg;
    say("thread posix write lock on the process's range: %d\n", lk(fd, F_SETLK, F_WRLCK, SEEK_SET, 0, 10));
    return 0;
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/faultline-locks-%d", getpid());
    snprintf(path2, sizeof path2, "/tmp/faultline-locks-%d-link", getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || link(path, path2) != 0 || pipe(sync_pipe) != 0) {
        perror("setup");
        return 1;
    }
    char buf[150];
    memset(buf, 'x', sizeof buf);
    write(fd, buf, sizeof buf);
    posix_ranges(fd);
    bad_args(fd);
    close_releases(fd);
    fd = open(path, O_RDWR);
    say("-- threads share POSIX locks\n");
    say("lock: %d\n", lk(fd, F_SETLK, F_RDLCK, SEEK_SET, 0, 10));
    pthread_t th;
    pthread_create(&th, 0, posix_thread, &fd);
    pthread_join(th, 0);
    lk(fd, F_SETLK, F_UNLCK, SEEK_SET, 0, 0);
    blocking(fd);
    ofd();
    flocks(fd);
    unlink(path2);
    unlink(path);
    return 0;
}
