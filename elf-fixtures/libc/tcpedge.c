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
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
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

/* The row of /proc/net/`table` whose inode is `fd`'s, with the fields
 * that are the same on every run: for inet tables the state, whether the
 * ports are `lport`/`rport`, the queues' emptiness and the uid; for unix
 * the flags, type, state and path. */
static void row(const char *table, int fd, int lport, int rport)
{
    struct stat st;
    fstat(fd, &st);
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/net/%s", table);
    FILE *f = fopen(path, "r");
    int found = 0;
    fgets(line, sizeof line, f);
    while (fgets(line, sizeof line, f)) {
        if (!strcmp(table, "unix")) {
            unsigned long ino;
            unsigned refs, proto, flags, type, state;
            char name[128] = "";
            if (sscanf(line, "%*[0-9a-f]: %x %x %x %x %x %lu %127s", &refs, &proto, &flags, &type, &state, &ino, name) < 6 ||
                ino != st.st_ino)
                continue;
            char want[128];
            snprintf(want, sizeof want, "@fl-procnet-%d", (int)getpid());
            printf("unix: flags %x type %u st %u named %d\n", flags, type, state, !strcmp(name, want));
        } else {
            char local[64], remote[64];
            unsigned state, uid;
            unsigned long tx, rx, ino;
            if (sscanf(line, "%*d: %63s %63s %x %lx:%lx %*x:%*x %*x %u %*d %lu", local, remote, &state, &tx, &rx, &uid,
                       &ino) < 7 || ino != st.st_ino)
                continue;
            unsigned lp = strtoul(strchr(local, ':') + 1, NULL, 16), rp = strtoul(strchr(remote, ':') + 1, NULL, 16);
            *strchr(local, ':') = 0;
            printf("%s: st %02X local %s lport %d rport %d tx %d rx %d uid %d\n", table, state, local,
                   lp == (unsigned)lport, rp == (unsigned)rport, tx != 0, rx != 0, uid == getuid());
        }
        found = 1;
    }
    fclose(f);
    if (!found)
        printf("%s: no row\n", table);
}

static int port_of(int fd)
{
    struct sockaddr_in6 a;
    socklen_t l = sizeof a;
    getsockname(fd, (void *)&a, &l);
    return ntohs(a.sin6_port);
}

static void procnet(void)
{
    struct sockaddr_in a;
    int l = listener(&a, 4), c;
    int lp = ntohs(a.sin_port);
    row("tcp", l, lp, 0);
    int s = pair(l, &a, &c);
    send(c, "abc", 3, 0);
    usleep(10000);
    row("tcp", c, port_of(c), lp);
    row("tcp", s, lp, port_of(c));
    int fresh = socket(AF_INET, SOCK_STREAM, 0);
    row("tcp", fresh, 0, 0);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    row("udp", u, 0, 0);
    struct sockaddr_in ua = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(u, (void *)&ua, sizeof ua);
    socklen_t al = sizeof ua;
    getsockname(u, (void *)&ua, &al);
    sendto(u, "x", 1, 0, (void *)&ua, sizeof ua);
    row("udp", u, ntohs(ua.sin_port), 0);
    int l6 = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bind(l6, (void *)&a6, sizeof a6);
    listen(l6, 2);
    row("tcp6", l6, port_of(l6), 0);
    row("tcp", l6, 0, 0);
    int u6 = socket(AF_INET6, SOCK_DGRAM, 0);
    bind(u6, (void *)&a6, sizeof a6);
    row("udp6", u6, port_of(u6), 0);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    row("unix", sv[0], 0, 0);
    int ul = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    int n = snprintf(un.sun_path + 1, sizeof un.sun_path - 1, "fl-procnet-%d", (int)getpid());
    bind(ul, (void *)&un, offsetof(struct sockaddr_un, sun_path) + 1 + n);
    listen(ul, 1);
    row("unix", ul, 0, 0);
    FILE *f = fopen("/proc/net/dev", "r");
    char line[512];
    int lo = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long rb, rp, tb, tp;
        if (sscanf(line, " lo: %lu %lu %*u %*u %*u %*u %*u %*u %lu %lu", &rb, &rp, &tb, &tp) == 4)
            lo = rp > 0 && rb > rp && tb == rb && tp == rp;
    }
    fclose(f);
    printf("dev lo counts: %d\n", lo);
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
    if (all || !strcmp(what, "procnet"))
        procnet();
    return 0;
}
