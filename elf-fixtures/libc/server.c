/* A small server as services are written: one epoll loop over a unix and
 * a TCP listener (127.0.0.1, an ephemeral port), an eventfd that asks for
 * the next client, a timerfd that ends the run, a signalfd for SIGCHLD,
 * and its connections. Its clients are forked one at a time, unix and
 * TCP in turn; each connection gets a malloc()ed buffer of BUF bytes,
 * all touched, that the server never frees, so its resident memory grows
 * by the buffer's pages per connection.
 *
 * stdout is deterministic (the same natively and under faultline); the
 * exit status is the number of connections served. stderr gives each
 * buffer's address ("conn=N buf=0x... len=0x..."), for the timeline. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLIENTS 4
#define BUF (64 * 1024)

static int unix_listener, tcp_listener, port;
static struct sockaddr_un unix_name;
static socklen_t unix_len;

static void die(const char *what)
{
    printf("%s: %s\n", what, strerror(errno));
    exit(100);
}

/* An abstract name with the pid in it: natively the namespace is the
 * host's, shared with other runs. */
static void listen_unix(void)
{
    unix_name.sun_family = AF_UNIX;
    int n = snprintf(unix_name.sun_path + 1, sizeof unix_name.sun_path - 1, "faultline-server-%d", getpid());
    unix_len = offsetof(struct sockaddr_un, sun_path) + 1 + n;
    unix_listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (unix_listener < 0 || bind(unix_listener, (struct sockaddr *)&unix_name, unix_len) || listen(unix_listener, 8))
        die("unix listener");
}

static void listen_tcp(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int one = 1;
    tcp_listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (tcp_listener < 0 || setsockopt(tcp_listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(tcp_listener, (struct sockaddr *)&a, sizeof a) || listen(tcp_listener, 8) ||
        getsockname(tcp_listener, (struct sockaddr *)&a, &l))
        die("tcp listener");
    port = ntohs(a.sin_port);
}

/* Client `k`: connects (unix when k is odd, TCP when even), sends a line,
 * prints the reply, exits with k. */
static void client(int k)
{
    char req[64], reply[128];
    int fd;
    if (k % 2) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&unix_name, unix_len))
            die("client unix connect");
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a))
            die("client tcp connect");
    }
    int n = snprintf(req, sizeof req, "hello from client %d", k);
    if (write(fd, req, n) != n)
        die("client write");
    ssize_t got = read(fd, reply, sizeof reply - 1);
    if (got <= 0)
        die("client read");
    reply[got] = 0;
    printf("client %d got \"%s\"\n", k, reply);
    fflush(stdout);
    _exit(k);
}

static void watch(int ep, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
        die("epoll_ctl");
}

struct conn {
    int fd;
    int k;
    char *buf;
};

static struct conn conns[CLIENTS];
static int nconns;

/* A new connection: its buffer, every page touched, kept to the end. */
static void accept_one(int ep, int listener, const char *kind)
{
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        die("accept4");
    struct conn *c = &conns[nconns];
    c->fd = fd;
    c->k = ++nconns;
    c->buf = malloc(BUF);
    if (!c->buf)
        die("malloc");
    memset(c->buf, 'x', BUF);
    fprintf(stderr, "conn=%d buf=%#lx len=%#x\n", c->k, (unsigned long)c->buf, BUF);
    printf("conn %d accepted over %s\n", c->k, kind);
    watch(ep, fd);
}

static void serve(struct conn *c)
{
    ssize_t n = read(c->fd, c->buf, BUF);
    if (n <= 0)
        return;
    char reply[128];
    int m = snprintf(reply, sizeof reply, "conn %d: %.*s", c->k, (int)n, c->buf);
    printf("conn %d read %zd bytes\n", c->k, n);
    if (write(c->fd, reply, m) != m)
        die("reply");
}

static void next_client(int efd, int *forked)
{
    uint64_t v;
    if (read(efd, &v, sizeof v) != sizeof v)
        die("eventfd read");
    fflush(stdout);
    pid_t p = fork();
    if (p < 0)
        die("fork");
    if (p == 0)
        client(++*forked);
    ++*forked;
}

static void reaped(int sfd, int efd, int tfd, int forked)
{
    struct signalfd_siginfo si;
    if (read(sfd, &si, sizeof si) != sizeof si)
        die("signalfd read");
    int status;
    pid_t p = waitpid(-1, &status, 0);
    printf("SIGCHLD: reaped a client that exited with %d\n", p > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    uint64_t one = 1;
    if (forked < CLIENTS) {
        if (write(efd, &one, sizeof one) != sizeof one)
            die("eventfd write");
    } else {
        struct itimerspec t = {.it_value = {.tv_nsec = 20 * 1000 * 1000}};
        if (timerfd_settime(tfd, 0, &t, NULL))
            die("timerfd_settime");
    }
}

int main(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    int efd = eventfd(1, EFD_CLOEXEC);
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (sfd < 0 || efd < 0 || tfd < 0 || ep < 0)
        die("setup");
    listen_unix();
    listen_tcp();
    watch(ep, sfd);
    watch(ep, efd);
    watch(ep, tfd);
    watch(ep, unix_listener);
    watch(ep, tcp_listener);
    printf("listening over unix and tcp\n");
    int forked = 0;
    for (;;) {
        struct epoll_event ev[8];
        int n = epoll_wait(ep, ev, 8, 10000);
        if (n <= 0)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = ev[i].data.fd;
            if (fd == efd) {
                next_client(efd, &forked);
            } else if (fd == sfd) {
                reaped(sfd, efd, tfd, forked);
            } else if (fd == tfd) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) != sizeof ticks)
                    die("timerfd read");
                printf("timer: %llu expiration, %d connections, %d buffers of %d bytes kept\n",
                       (unsigned long long)ticks, nconns, nconns, BUF);
                return nconns;
            } else if (fd == unix_listener) {
                accept_one(ep, fd, "unix");
            } else if (fd == tcp_listener) {
                accept_one(ep, fd, "tcp");
            } else {
                for (int c = 0; c < nconns; c++)
                    if (conns[c].fd == fd)
                        serve(&conns[c]);
            }
        }
    }
}
