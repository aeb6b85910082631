/* TCP's edges on the loopback: reads and writes after the peer's reset
 * (unread data at close, SO_LINGER's abort, a reset in CLOSE_WAIT),
 * connects to a listener whose accept queue is full (non-blocking,
 * blocking, with SO_SNDTIMEO, the listener closing), and the options
 * Linux keeps cheaply (SO_DEBUG, SO_TIMESTAMP/NS with their control
 * messages, SO_BINDTODEVICE, TCP_INFO's size and state). Prints only what
 * is the same on every Linux run, to compare with a native run. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

/* A listener on 127.0.0.1 with an ephemeral port; its address in *a. */
static int listener(struct sockaddr_in *a, int backlog)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(l, (void *)a, sizeof *a);
    socklen_t al = sizeof *a;
    getsockname(l, (void *)a, &al);
    listen(l, backlog);
    return l;
}

/* A connected pair: *c the client, the accepted server returned. */
static int pair(int l, struct sockaddr_in *a, int *c)
{
    *c = socket(AF_INET, SOCK_STREAM, 0);
    connect(*c, (void *)a, sizeof *a);
    return accept(l, NULL, NULL);
}

static int tcp_state(int s)
{
    struct tcp_info ti;
    socklen_t l = sizeof ti;
    if (getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &l) != 0)
        return -1;
    return ti.tcpi_state;
}

static int so_error(int s)
{
    int e = 0;
    socklen_t l = sizeof e;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &l);
    return e;
}

static void reset(void)
{
    struct sockaddr_in a;
    int l = listener(&a, 4), c;
    char buf[16];

    /* The server closes with our data unread: an RST. */
    int s = pair(l, &a, &c);
    SHOW("send", send(c, "abc", 3, 0));
    usleep(10000);
    close(s);
    SHOW("read after reset", read(c, buf, sizeof buf));
    SHOW("read again", read(c, buf, sizeof buf));
    SHOW("send after reset", send(c, "x", 1, MSG_NOSIGNAL));
    SHOW("getpeername", getpeername(c, (void *)&a, &(socklen_t){sizeof a}));
    printf("state: %d\n", tcp_state(c));
    close(c);

    /* SO_LINGER on with no time: close aborts, data it sent stays
     * readable before the error. */
    s = pair(l, &a, &c);
    struct linger lg = {1, 0};
    SHOW("linger", setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    SHOW("server send", send(s, "hi", 2, 0));
    usleep(10000);
    close(s);
    SHOW("read data", read(c, buf, sizeof buf));
    SHOW("read after abort", read(c, buf, sizeof buf));
    printf("so_error: %d\n", so_error(c));
    close(c);

    /* The peer's FIN first, then its reset (CLOSE_WAIT): the read at the
     * end is 0, the error EPIPE. */
    s = pair(l, &a, &c);
    SHOW("shutdown wr", shutdown(s, SHUT_WR));
    usleep(10000);
    SHOW("read fin", read(c, buf, sizeof buf));
    printf("client state: %d\n", tcp_state(c));
    SHOW("send to half-closed", send(c, "late", 4, 0));
    usleep(10000);
    close(s);
    usleep(10000);
    SHOW("read after", read(c, buf, sizeof buf));
    printf("so_error: %s\n", ename(so_error(c)));
    close(c);
    close(l);
}

static const char *ready(int s, int ms)
{
    struct pollfd p = {s, POLLOUT, 0};
    int n = poll(&p, 1, ms);
    static char b[32];
    snprintf(b, sizeof b, "%d %#x", n, n > 0 ? p.revents : 0);
    return b;
}

static void backlog(void)
{
    struct sockaddr_in a;
    int l = listener(&a, 0);
    /* Backlog 0 takes one connection; the next SYN is dropped. */
    int c1 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    SHOW("connect 1", connect(c1, (void *)&a, sizeof a));
    printf("poll 1: %s\n", ready(c1, 1000));
    int c2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    SHOW("connect 2", connect(c2, (void *)&a, sizeof a));
    printf("poll 2: %s\n", ready(c2, 200));
    SHOW("connect 2 again", connect(c2, (void *)&a, sizeof a));
    printf("state 2: %d\n", tcp_state(c2));
    SHOW("read 2", read(c2, &(char){0}, 1));
    /* Accepting makes room: the SYN's retransmission gets in. */
    int s1 = accept(l, NULL, NULL);
    printf("accepted: %d\n", s1 >= 0);
    printf("poll 2 after accept: %s\n", ready(c2, 5000));
    printf("so_error 2: %d\n", so_error(c2));
    SHOW("connect 2 done", connect(c2, (void *)&a, sizeof a));
    SHOW("connect 2 once more", connect(c2, (void *)&a, sizeof a));
    printf("state 2: %d\n", tcp_state(c2));

    /* A blocking connect with SO_SNDTIMEO: EINPROGRESS when it passes. */
    int c3 = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {0, 200000};
    setsockopt(c3, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SHOW("timed connect", connect(c3, (void *)&a, sizeof a));
    printf("state 3: %d\n", tcp_state(c3));

    /* The listener goes: the waiting connect is refused. */
    close(l);
    printf("poll 3: %s\n", ready(c3, 5000));
    printf("so_error 3: %s\n", ename(so_error(c3)));

    /* A blocking connect waits for room: a child accepts after a while. */
    l = listener(&a, 0);
    int c4 = socket(AF_INET, SOCK_STREAM, 0);
    connect(c4, (void *)&a, sizeof a);
    pid_t pid = fork();
    if (pid == 0) {
        usleep(300000);
        int s = accept(l, NULL, NULL);
        _exit(s >= 0 ? 0 : 1);
    }
    int c5 = socket(AF_INET, SOCK_STREAM, 0);
    SHOW("blocking connect", connect(c5, (void *)&a, sizeof a));
    int st;
    waitpid(pid, &st, 0);
    printf("child: %d\n", WEXITSTATUS(st));
    printf("state 5: %d\n", tcp_state(c5));
}

/* A UDP datagram to ourselves with `opt` set: the control message's
 * level, type and length, and whether its time is now. */
static void stamped(int opt, const char *name)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(u, (void *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(u, (void *)&a, &al);
    int one = 1;
    printf("set %s: %s\n", name, err(setsockopt(u, SOL_SOCKET, opt, &one, sizeof one)));
    int v = -1;
    socklen_t vl = sizeof v;
    getsockopt(u, SOL_SOCKET, SO_TIMESTAMP, &v, &vl);
    int w = -1;
    getsockopt(u, SOL_SOCKET, SO_TIMESTAMPNS, &w, &vl);
    printf("SO_TIMESTAMP %d SO_TIMESTAMPNS %d\n", v, w);
    sendto(u, "t", 1, 0, (void *)&a, sizeof a);
    char buf[4], ctl[256];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    SHOW("recvmsg", recvmsg(u, &m, 0));
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        struct timespec t;
        memcpy(&t, CMSG_DATA(c), sizeof t);
        long now = time(NULL);
        printf("cmsg level %d type %d len %zu now %d\n", c->cmsg_level, c->cmsg_type, (size_t)c->cmsg_len,
               t.tv_sec >= now - 5 && t.tv_sec <= now + 5);
    }
    close(u);
}

static void options(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1, v = -1;
    socklen_t vl = sizeof v;
    SHOW("SO_DEBUG", setsockopt(s, SOL_SOCKET, SO_DEBUG, &one, sizeof one));
    getsockopt(s, SOL_SOCKET, SO_DEBUG, &v, &vl);
    printf("debug: %d\n", v);

    char dev[32] = "x";
    socklen_t dl = sizeof dev;
    SHOW("get device", getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, dev, &dl));
    printf("len %u\n", dl);
    SHOW("bind lo", setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "lo", 3));
    dl = sizeof dev;
    SHOW("get device", getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, dev, &dl));
    printf("len %u %s\n", dl, dev);
    dl = 4;
    SHOW("get device short", getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, dev, &dl));
    SHOW("bind nosuch", setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "nosuch9", 8));
    SHOW("unbind", setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, "", 0));
    dl = sizeof dev;
    SHOW("get device", getsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, dev, &dl));
    printf("len %u\n", dl);

    struct tcp_info ti;
    socklen_t tl = sizeof ti;
    SHOW("TCP_INFO", getsockopt(s, IPPROTO_TCP, TCP_INFO, &ti, &tl));
    printf("len %u state %d\n", tl, ti.tcpi_state);
    unsigned char big[1024];
    tl = sizeof big;
    getsockopt(s, IPPROTO_TCP, TCP_INFO, big, &tl);
    printf("full size %u\n", tl);
    struct sockaddr_in a;
    int l = listener(&a, 4), c;
    printf("listener %d\n", tcp_state(l));
    int sv = pair(l, &a, &c);
    printf("established %d %d\n", tcp_state(c), tcp_state(sv));
    shutdown(sv, SHUT_WR);
    usleep(10000);
    printf("close_wait %d\n", tcp_state(c));
    SHOW("TCP_INFO on udp", getsockopt(socket(AF_INET, SOCK_DGRAM, 0), IPPROTO_TCP, TCP_INFO, &ti, &tl));

    stamped(SO_TIMESTAMP, "SO_TIMESTAMP");
    stamped(SO_TIMESTAMPNS, "SO_TIMESTAMPNS");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    signal(SIGPIPE, SIG_IGN);
    const char *what = argc > 1 ? argv[1] : "all";
    int all = !strcmp(what, "all");
    if (all || !strcmp(what, "reset"))
        reset();
    if (all || !strcmp(what, "backlog"))
        backlog();
    if (all || !strcmp(what, "options"))
        options();
    return 0;
}
