/* An event loop as servers write one: epoll over an eventfd, a timerfd,
 * a signalfd and a pipe from a forked child, with the rules of each
 * checked first (errno values, edge and level triggering, one-shot,
 * nesting). Everything printed is deterministic: the same natively and
 * under faultline. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void check(const char *what, long r, int want_errno)
{
    int e = r < 0 ? errno : 0;
    printf("%-40s %s\n", what, e == want_errno ? "ok" : strerror(e));
}

static int nready(int ep, int timeout_ms, struct epoll_event *ev, int max)
{
    int n;
    do
        n = epoll_wait(ep, ev, max, timeout_ms);
    while (n < 0 && errno == EINTR);
    return n;
}

static void rules(void)
{
    struct epoll_event ev = {.events = EPOLLIN};
    int ep = epoll_create1(EPOLL_CLOEXEC);
    int efd = eventfd(0, EFD_NONBLOCK);
    int reg = open("/proc/self/exe", O_RDONLY);
    uint64_t v;

    printf("sizeof(struct epoll_event) = %zu\n", sizeof(struct epoll_event));
    check("epoll_create(0)", epoll_create(0), EINVAL);
    check("epoll_create1(bad flag)", epoll_create1(1), EINVAL);
    check("epoll_ctl on a regular file", epoll_ctl(ep, EPOLL_CTL_ADD, reg, &ev), EPERM);
    check("epoll_ctl on a non-epoll fd", epoll_ctl(efd, EPOLL_CTL_ADD, ep, &ev), EINVAL);
    check("epoll_ctl adding itself", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
    check("epoll_ctl add", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
    check("epoll_ctl add again", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), EEXIST);
    check("epoll_ctl mod unknown", epoll_ctl(ep, EPOLL_CTL_MOD, reg, &ev), EPERM);
    check("epoll_ctl bad op", epoll_ctl(ep, 7, efd, &ev), EINVAL);
    check("epoll_ctl del", epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL), 0);
    check("epoll_ctl del again", epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL), ENOENT);
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    check("EPOLLEXCLUSIVE add", epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev), 0);
    check("EPOLLEXCLUSIVE mod", epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev), EINVAL);
    ev.events = EPOLLIN;
    check("mod of an exclusive item", epoll_ctl(ep, EPOLL_CTL_MOD, efd, &ev), EINVAL);
    check("epoll_wait maxevents 0", epoll_wait(ep, &ev, 0, 0), EINVAL);
    check("epoll_wait on an eventfd", epoll_wait(efd, &ev, 1, 0), EINVAL);
    check("epoll_wait bad buffer", epoll_wait(ep, (void *)-4096L, 1, 0), EFAULT);

    /* Loops of epoll files. */
    int a = epoll_create1(0), b = epoll_create1(0);
    check("nest a in b", epoll_ctl(b, EPOLL_CTL_ADD, a, &ev), 0);
    check("nest b in a (a loop)", epoll_ctl(a, EPOLL_CTL_ADD, b, &ev), ELOOP);
    close(a);
    close(b);

    /* eventfd's rules. */
    check("eventfd read of 4 bytes", read(efd, &v, 4), EINVAL);
    check("eventfd read when 0", read(efd, &v, 8), EAGAIN);
    v = UINT64_MAX;
    check("eventfd write of ULLONG_MAX", write(efd, &v, 8), EINVAL);
    v = UINT64_MAX - 1;
    check("eventfd write of the most", write(efd, &v, 8), 0);
    v = 1;
    check("eventfd write past it", write(efd, &v, 8), EAGAIN);
    read(efd, &v, 8);
    printf("eventfd read %llx\n", (unsigned long long)v);
    check("eventfd2 bad flags", eventfd(0, 0x10), EINVAL);
    int sem = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
    read(sem, &v, 8);
    printf("semaphore read %llu", (unsigned long long)v);
    read(sem, &v, 8);
    read(sem, &v, 8);
    printf(", then %s\n", read(sem, &v, 8) < 0 && errno == EAGAIN ? "EAGAIN" : "more");

    /* timerfd's and signalfd's. */
    check("timerfd_create bad clock", timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0), EINVAL);
    check("timerfd_create bad flags", timerfd_create(CLOCK_MONOTONIC, 1), EINVAL);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct itimerspec its = {.it_value = {0, 1000000000}};
    check("timerfd_settime bad nsec", timerfd_settime(tfd, 0, &its, NULL), EINVAL);
    check("timerfd_settime on an eventfd", timerfd_settime(efd, 0, &its, NULL), EINVAL);
    check("timerfd read unarmed", read(tfd, &v, 8), EAGAIN);
    sigset_t m;
    sigemptyset(&m);
    check("signalfd bad size", syscall(SYS_signalfd4, -1, &m, 4, 0), EINVAL);
    check("signalfd on an eventfd", signalfd(efd, &m, 0), EINVAL);

    /* What /proc and fstat say of them. */
    char path[64], link[64];
    int fds[] = {ep, efd, tfd};
    for (int i = 0; i < 3; i++) {
        struct stat st;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fds[i]);
        ssize_t n = readlink(path, link, sizeof link - 1);
        link[n > 0 ? n : 0] = 0;
        fstat(fds[i], &st);
        printf("%s mode %o size %lld\n", link, st.st_mode, (long long)st.st_size);
    }
    close(ep);
    close(efd);
    close(tfd);
    close(sem);
    close(reg);
}

/* Level, edge, one-shot and nested epoll over a pipe and an eventfd. */
static void triggers(void)
{
    int p[2];
    struct epoll_event ev, out[4];
    pipe(p);
    int lt = epoll_create1(0), et = epoll_create1(0), os = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.u64 = 0x1122334455667788ULL;
    epoll_ctl(lt, EPOLL_CTL_ADD, p[0], &ev);
    ev.events = EPOLLIN | EPOLLET;
    epoll_ctl(et, EPOLL_CTL_ADD, p[0], &ev);
    ev.events = EPOLLIN | EPOLLONESHOT;
    epoll_ctl(os, EPOLL_CTL_ADD, p[0], &ev);
    printf("empty: lt %d et %d oneshot %d\n", nready(lt, 0, out, 4), nready(et, 0, out, 4), nready(os, 0, out, 4));
    write(p[1], "x", 1);
    int l1 = nready(lt, 0, out, 4);
    printf("written: lt %d data %llx", l1, (unsigned long long)out[0].data.u64);
    int e1 = nready(et, 0, out, 4), e2 = nready(et, 0, out, 4);
    int o1 = nready(os, 0, out, 4), o2 = nready(os, 0, out, 4);
    printf(" et %d then %d oneshot %d then %d\n", e1, e2, o1, o2);
    write(p[1], "y", 1);
    printf("again: lt %d et %d oneshot %d", nready(lt, 0, out, 4), nready(et, 0, out, 4), nready(os, 0, out, 4));
    ev.events = EPOLLIN | EPOLLONESHOT;
    epoll_ctl(os, EPOLL_CTL_MOD, p[0], &ev);
    printf(" oneshot after mod %d\n", nready(os, 0, out, 4));

    /* Nested: the outer epoll is readable while the inner has an event. */
    int outer = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.u64 = 5;
    epoll_ctl(outer, EPOLL_CTL_ADD, lt, &ev);
    int n = nready(outer, 0, out, 4);
    printf("nested: %d event %x data %llu\n", n, out[0].events, (unsigned long long)out[0].data.u64);
    char buf[8];
    read(p[0], buf, sizeof buf);
    printf("drained: outer %d\n", nready(outer, 0, out, 4));

    /* The writer gone: EPOLLHUP on the reader; the reader gone: EPOLLERR
     * on the writer. */
    close(p[1]);
    nready(lt, 0, out, 4);
    printf("writer closed: %x\n", out[0].events);
    int q[2];
    pipe(q);
    ev.events = EPOLLOUT;
    epoll_ctl(lt, EPOLL_CTL_ADD, q[1], &ev);
    epoll_ctl(lt, EPOLL_CTL_DEL, p[0], NULL);
    close(q[0]);
    nready(lt, 0, out, 4);
    printf("reader closed: %x\n", out[0].events);
    /* Closing the last descriptor of a file drops its item. */
    close(q[1]);
    printf("after close: %d\n", nready(lt, 0, out, 4));

    /* poll and select over the same readiness. */
    int efd = eventfd(1, 0);
    struct pollfd pf = {.fd = efd, .events = POLLIN | POLLOUT};
    poll(&pf, 1, 0);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(efd, &r);
    struct timeval tv = {0, 0};
    printf("poll eventfd %x select %d\n", pf.revents, select(efd + 1, &r, NULL, NULL, &tv));
    close(efd);
    close(p[0]);
    close(lt);
    close(et);
    close(os);
    close(outer);
}

/* The loop: a child writes to a pipe and an eventfd and signals; a
 * periodic timer ticks; signals come through a signalfd. */
static int loop(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    int efd = eventfd(0, EFD_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    int p[2];
    pipe(p);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev;
    int fds[] = {sfd, efd, tfd, p[0]};
    for (int i = 0; i < 4; i++) {
        ev.events = EPOLLIN;
        ev.data.fd = fds[i];
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    struct itimerspec its = {.it_interval = {0, 5000000}, .it_value = {0, 5000000}};
    timerfd_settime(tfd, 0, &its, NULL);

    pid_t child = fork();
    if (child == 0) {
        const char msg[] = "hello from the child";
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
        write(p[1], msg, sizeof msg - 1);
        uint64_t v = 42;
        write(efd, &v, 8);
        kill(getppid(), SIGUSR1);
        _exit(7);
    }
    close(p[1]);

    char got[64] = "";
    size_t len = 0;
    uint64_t ticks = 0, counted = 0;
    int usr1_from_child = 0, chld_status = -1, pipe_eof = 0, wakes = 0;
    while (!(pipe_eof && counted && usr1_from_child && chld_status >= 0 && ticks >= 3)) {
        struct epoll_event out[8];
        int n = nready(ep, 5000, out, 8);
        if (n <= 0) {
            printf("epoll_wait gave %d\n", n);
            return 1;
        }
        wakes++;
        for (int i = 0; i < n; i++) {
            int fd = out[i].data.fd;
            if (fd == tfd) {
                uint64_t t;
                if (read(tfd, &t, 8) == 8)
                    ticks += t;
            } else if (fd == efd) {
                uint64_t v;
                read(efd, &v, 8);
                counted += v;
            } else if (fd == p[0]) {
                ssize_t r = read(p[0], got + len, sizeof got - 1 - len);
                if (r > 0)
                    len += r;
                else if (r == 0) {
                    pipe_eof = 1;
                    epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL);
                }
            } else if (fd == sfd) {
                struct signalfd_siginfo si;
                while (read(sfd, &si, sizeof si) == sizeof si) {
                    if (si.ssi_signo == SIGUSR1)
                        usr1_from_child = (pid_t)si.ssi_pid == child && si.ssi_code == SI_USER;
                    if (si.ssi_signo == SIGCHLD) {
                        int st;
                        waitpid(child, &st, 0);
                        chld_status = WEXITSTATUS(st);
                        printf("SIGCHLD: code %s pid %s status %d\n",
                               si.ssi_code == CLD_EXITED ? "CLD_EXITED" : "other",
                               (pid_t)si.ssi_pid == child ? "the child's" : "another", si.ssi_status);
                    }
                    /* One read at a time, as a loop does when more may come. */
                    struct pollfd pf = {.fd = sfd, .events = POLLIN};
                    if (poll(&pf, 1, 0) != 1)
                        break;
                }
            }
        }
    }
    got[len] = 0;
    printf("pipe: \"%s\" then EOF\n", got);
    printf("eventfd: %llu\n", (unsigned long long)counted);
    printf("SIGUSR1 from the child: %s\n", usr1_from_child ? "yes" : "no");
    printf("child exit status: %d\n", chld_status);
    printf("timer ticked at least 3 times: %s\n", ticks >= 3 ? "yes" : "no");
    printf("loop woke more than once: %s\n", wakes > 1 ? "yes" : "no");
    struct itimerspec cur;
    its.it_value.tv_nsec = 0;
    its.it_interval.tv_nsec = 0;
    timerfd_settime(tfd, 0, &its, &cur);
    printf("timer interval was %ld ns, now disarmed\n", cur.it_interval.tv_nsec);
    timerfd_gettime(tfd, &cur);
    printf("disarmed: %ld %ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);
    return 0;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    rules();
    triggers();
    return loop() ? 1 : 3;
}
