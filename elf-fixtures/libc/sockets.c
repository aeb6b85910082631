/* Sockets between the program's own processes: AF_UNIX stream (a server
 * and its client across fork, a descriptor passed with SCM_RIGHTS,
 * credentials), datagram and seqpacket exchanges, a TCP echo server and
 * client on the loopback (blocking, and non-blocking with poll), UDP echo,
 * and the error cases. Prints only what is the same on every Linux run
 * (no ports, pids or inode numbers), so its output can be compared with a
 * native run byte for byte. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static socklen_t un_addr(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (path[0] == '@') {
        /* Abstract: a leading NUL, and the rest counted by length. */
        memcpy(a->sun_path + 1, path + 1, strlen(path + 1));
        return offsetof(struct sockaddr_un, sun_path) + strlen(path);
    }
    strcpy(a->sun_path, path);
    return sizeof *a;
}

static int send_fd(int s, int fd, const char *msg)
{
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {(void *)msg, strlen(msg)};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    return sendmsg(s, &m, 0);
}

static int recv_fd(int s, char *buf, size_t len, int *fd)
{
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {buf, len};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    int n = recvmsg(s, &m, 0);
    *fd = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    return n;
}

/* A unix stream server and its client across fork; the client passes a
 * pipe's read end, the server reads what the client wrote into it. */
static void unix_stream(void)
{
    /* In /tmp, named by pid: native runs of the tests may overlap. */
    char path[64];
    snprintf(path, sizeof path, "/tmp/fl-sockets-%d", (int)getpid());
    unlink(path);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a;
    socklen_t al = un_addr(&a, path);
    SHOW("bind", bind(l, (void *)&a, al));
    struct stat st;
    SHOW("stat", stat(path, &st));
    printf("is socket: %d\n", S_ISSOCK(st.st_mode));
    SHOW("open node", open(path, O_RDONLY));
    SHOW("bind again", bind(socket(AF_UNIX, SOCK_STREAM, 0), (void *)&a, al));
    SHOW("listen", listen(l, 4));
    int acc = 0;
    socklen_t sl = sizeof acc;
    getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &acc, &sl);
    printf("acceptconn: %d\n", acc);
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (void *)&a, al) != 0)
            _exit(10);
        int p[2];
        pipe(p);
        write(p[1], "through the pipe", 16);
        close(p[1]);
        if (send_fd(c, p[0], "fd") != 2)
            _exit(11);
        close(p[0]);
        char buf[64];
        int n = read(c, buf, sizeof buf);
        if (n != 5 || memcmp(buf, "hello", 5))
            _exit(12);
        shutdown(c, SHUT_WR);
        n = read(c, buf, sizeof buf);
        _exit(n == 0 ? 0 : 13);
    }
    struct sockaddr_un peer;
    socklen_t pl = sizeof peer;
    int s = accept(l, (void *)&peer, &pl);
    printf("accept: %d peer len %d\n", s >= 0, (int)pl);
    struct ucred cr;
    socklen_t cl = sizeof cr;
    SHOW("SO_PEERCRED", getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &cl));
    printf("peer is child: %d uid ok: %d\n", cr.pid == pid, cr.uid == geteuid());
    char buf[64] = {0};
    int fd;
    int n = recv_fd(s, buf, sizeof buf, &fd);
    printf("recvmsg: %d '%.*s' got fd: %d\n", n, n, buf, fd >= 0);
    n = read(fd, buf, sizeof buf);
    printf("passed pipe: '%.*s'\n", n, buf);
    SHOW("send", send(s, "hello", 5, 0));
    n = recv(s, buf, sizeof buf, 0);
    printf("eof after SHUT_WR: %d\n", n);
    struct sockaddr_un me;
    socklen_t ml = sizeof me;
    getsockname(s, (void *)&me, &ml);
    printf("server name: %d len ok %d\n", strcmp(me.sun_path, path) == 0, (int)ml == (int)strlen(path) + 3);
    close(s);
    int status;
    waitpid(pid, &status, 0);
    printf("client exit: %d\n", WEXITSTATUS(status));
    close(l);
    SHOW("connect after close", connect(socket(AF_UNIX, SOCK_STREAM, 0), (void *)&a, al));
    unlink(path);
}

static void unix_pair(void)
{
    int sv[2];
    SHOW("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    struct pollfd p = {sv[0], POLLIN | POLLOUT, 0};
    poll(&p, 1, 0);
    printf("fresh pair poll: %#x\n", p.revents);
    write(sv[1], "abc", 3);
    poll(&p, 1, 0);
    printf("with data: %#x\n", p.revents);
    char b[8];
    SHOW("peek", recv(sv[0], b, 2, MSG_PEEK));
    SHOW("read", read(sv[0], b, 8));
    SHOW("empty nonblocking", recv(sv[0], b, 8, MSG_DONTWAIT));
    close(sv[1]);
    poll(&p, 1, 0);
    printf("peer closed: %#x\n", p.revents);
    SHOW("read at eof", read(sv[0], b, 8));
    signal(SIGPIPE, SIG_IGN);
    SHOW("write to closed", write(sv[0], "x", 1));
    SHOW("send MSG_NOSIGNAL", send(sv[0], "x", 1, MSG_NOSIGNAL));
    close(sv[0]);
    signal(SIGPIPE, SIG_DFL);
    struct sockaddr_un a;
    socklen_t l = sizeof a;
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    SHOW("getpeername pair", getpeername(sv[0], (void *)&a, &l));
    printf("pair peer len: %d\n", (int)l);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        write(sv[1], "x", 1);
        _exit(0);
    }
    close(sv[1]);
    int status;
    waitpid(pid, &status, 0);
    SHOW("read from child", read(sv[0], b, 8));
    SHOW("then eof", read(sv[0], b, 8));
    close(sv[0]);
    /* SIGPIPE kills a writer that does not ignore it. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    close(sv[1]);
    pid = fork();
    if (pid == 0) {
        write(sv[0], "x", 1);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    printf("writer killed by SIGPIPE: %d\n", WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE);
    close(sv[0]);
}

static void unix_dgram(void)
{
    int a = socket(AF_UNIX, SOCK_DGRAM, 0), b = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un an, bn;
    socklen_t al = un_addr(&an, "@fl-dgram-a"), bl = un_addr(&bn, "@fl-dgram-b");
    SHOW("bind a", bind(a, (void *)&an, al));
    SHOW("bind b", bind(b, (void *)&bn, bl));
    SHOW("sendto", sendto(a, "one", 3, 0, (void *)&bn, bl));
    SHOW("sendto", sendto(a, "two!", 4, 0, (void *)&bn, bl));
    char buf[16];
    struct sockaddr_un from;
    socklen_t fl = sizeof from;
    int n = recvfrom(b, buf, 2, 0, (void *)&from, &fl);
    printf("truncated: %d from len %d abstract '%.*s'\n", n, (int)fl, (int)fl - 3, from.sun_path + 1);
    struct iovec iov = {buf, 2};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    n = recvmsg(b, &m, MSG_TRUNC);
    printf("MSG_TRUNC: %d flags %#x\n", n, m.msg_flags);
    SHOW("nothing left", recv(b, buf, 16, MSG_DONTWAIT));
    SHOW("connect", connect(a, (void *)&bn, bl));
    SHOW("send connected", send(a, "x", 1, 0));
    int c = socket(AF_UNIX, SOCK_DGRAM, 0);
    SHOW("unbound to connected-elsewhere", sendto(c, "y", 1, 0, (void *)&an, al));
    struct sockaddr_un nn;
    socklen_t nl = un_addr(&nn, "@fl-nobody");
    SHOW("to nobody", sendto(c, "y", 1, 0, (void *)&nn, nl));
    SHOW("stream to dgram", connect(socket(AF_UNIX, SOCK_STREAM, 0), (void *)&bn, bl));
    close(b);
    SHOW("peer gone", send(a, "x", 1, 0));
    SHOW("then not connected", send(a, "x", 1, 0));
    int big = 300000;
    char *p = calloc(1, big);
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    SHOW("too big", send(sv[0], p, big, 0));
    int count = 0;
    while (send(sv[0], "q", 1, MSG_DONTWAIT) == 1)
        count++;
    printf("queue full after %d: %s\n", count, ename(errno));
    free(p);
    close(sv[0]);
    close(sv[1]);
    close(a);
    close(c);
}

static void unix_seqpacket(void)
{
    int l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    struct sockaddr_un a;
    socklen_t al = un_addr(&a, "@fl-seq");
    bind(l, (void *)&a, al);
    SHOW("listen", listen(l, 1));
    int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
    SHOW("connect", connect(c, (void *)&a, al));
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    printf("accept4: %d cloexec %d\n", s >= 0, fcntl(s, F_GETFD) & FD_CLOEXEC);
    send(c, "first", 5, 0);
    send(c, "second", 6, 0);
    char buf[16];
    SHOW("recv short", recv(s, buf, 3, 0));
    SHOW("recv next", recv(s, buf, 16, 0));
    printf("'%.6s'\n", buf);
    close(c);
    SHOW("after close", recv(s, buf, 16, 0));
    SHOW("send to closed", send(s, "x", 1, MSG_NOSIGNAL));
    SHOW("unconnected recv", recv(socket(AF_UNIX, SOCK_SEQPACKET, 0), buf, 1, 0));
    close(s);
    close(l);
}

static void echo_server(int l, int count)
{
    for (int i = 0; i < count; i++) {
        int s = accept(l, NULL, NULL);
        if (s < 0)
            _exit(20);
        char buf[4096];
        int n;
        while ((n = read(s, buf, sizeof buf)) > 0)
            write(s, buf, n);
        close(s);
    }
    _exit(0);
}

static void tcp(int family)
{
    printf("-- tcp %s\n", family == AF_INET ? "v4" : "v6");
    int l = socket(family, SOCK_STREAM, 0);
    int one = 1;
    SHOW("SO_REUSEADDR", setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (family == AF_INET) {
        struct sockaddr_in *a = (void *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (void *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        sl = sizeof *a;
    }
    SHOW("bind", bind(l, (void *)&ss, sl));
    getsockname(l, (void *)&ss, &sl);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    printf("ephemeral: %d\n", port >= 32768 && port <= 60999);
    SHOW("connect unlistened", connect(socket(family, SOCK_STREAM, 0), (void *)&ss, sl));
    SHOW("listen", listen(l, 8));
    int l2 = socket(family, SOCK_STREAM, 0);
    SHOW("bind in use", bind(l2, (void *)&ss, sl));
    close(l2);
    pid_t pid = fork();
    if (pid == 0)
        echo_server(l, 2);
    int c = socket(family, SOCK_STREAM, 0);
    SHOW("TCP_NODELAY", setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    SHOW("connect", connect(c, (void *)&ss, sl));
    SHOW("connect again", connect(c, (void *)&ss, sl));
    struct sockaddr_storage me, peer;
    socklen_t ml = sizeof me, pl = sizeof peer;
    getsockname(c, (void *)&me, &ml);
    getpeername(c, (void *)&peer, &pl);
    printf("names: %d %d same port %d\n", (int)ml, (int)pl,
           ((struct sockaddr_in *)&peer)->sin_port == htons(port));
    char big[100000], back[100000];
    for (int i = 0; i < (int)sizeof big; i++)
        big[i] = i * 7;
    int w = write(c, big, sizeof big);
    printf("wrote %d\n", w);
    int got = recv(c, back, sizeof back, MSG_WAITALL);
    printf("echoed %d same %d\n", got, memcmp(big, back, sizeof big) == 0);
    shutdown(c, SHUT_WR);
    SHOW("eof", read(c, back, 10));
    close(c);

    /* Non-blocking: EINPROGRESS, then writable and SO_ERROR 0. */
    c = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    SHOW("nb connect", connect(c, (void *)&ss, sl));
    struct pollfd p = {c, POLLOUT, 0};
    SHOW("poll out", poll(&p, 1, 1000));
    int e = -1;
    socklen_t el = sizeof e;
    getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el);
    printf("SO_ERROR: %d revents %#x\n", e, p.revents);
    SHOW("nb read empty", read(c, back, 10));
    write(c, "ping", 4);
    p.events = POLLIN;
    SHOW("poll in", poll(&p, 1, 5000));
    SHOW("read", read(c, back, 10));
    close(c);
    int status;
    waitpid(pid, &status, 0);
    printf("server exit: %d\n", WEXITSTATUS(status));

    /* A refused non-blocking connect. */
    close(l);
    c = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    SHOW("nb refused", connect(c, (void *)&ss, sl));
    p = (struct pollfd){c, POLLOUT, 0};
    poll(&p, 1, 1000);
    el = sizeof e;
    getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &el);
    printf("SO_ERROR: %s revents %#x\n", ename(e), p.revents);
    close(c);
}

static void udp(void)
{
    int s = socket(AF_INET, SOCK_DGRAM, 0), c = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    bind(s, (void *)&a, al);
    getsockname(s, (void *)&a, &al);
    pid_t pid = fork();
    if (pid == 0) {
        char buf[100];
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        for (int i = 0; i < 2; i++) {
            int n = recvfrom(s, buf, sizeof buf, 0, (void *)&from, &fl);
            sendto(s, buf, n, 0, (void *)&from, fl);
        }
        _exit(0);
    }
    SHOW("sendto", sendto(c, "udp one", 7, 0, (void *)&a, al));
    char buf[100];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    int n = recvfrom(c, buf, sizeof buf, 0, (void *)&from, &fl);
    printf("echo: '%.*s' from server %d\n", n, buf, from.sin_port == a.sin_port);
    SHOW("connect", connect(c, (void *)&a, al));
    SHOW("send", send(c, "udp two", 7, 0));
    SHOW("recv", recv(c, buf, sizeof buf, 0));
    int status;
    waitpid(pid, &status, 0);
    close(s);
    SHOW("send to closed port", send(c, "x", 1, 0));
    SHOW("then", recv(c, buf, sizeof buf, MSG_DONTWAIT));
    struct sockaddr_in far = {.sin_family = AF_INET, .sin_port = htons(53), .sin_addr.s_addr = htonl(0x08080808)};
    SHOW("unreachable", sendto(c, "x", 1, 0, (void *)&far, sizeof far));
    close(c);
}

static void errors(void)
{
    char b[4];
    SHOW("ENOTSOCK", getpeername(0, NULL, NULL));
    SHOW("EBADF", getsockname(99, NULL, NULL));
    SHOW("bad family", socket(12345, SOCK_STREAM, 0));
    SHOW("bad type", socket(AF_INET, 77, 0));
    SHOW("bad proto", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    SHOW("unix seqpacket inet", socket(AF_INET, SOCK_SEQPACKET, 0));
    SHOW("inet socketpair", socketpair(AF_INET, SOCK_STREAM, 0, (int[2]){0}));
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    SHOW("privileged port", geteuid() == 0 ? (errno = EACCES, -1) : bind(s, (void *)&a, sizeof a));
    a.sin_port = 0;
    a.sin_addr.s_addr = htonl(0x0a000001);
    SHOW("not local", bind(s, (void *)&a, sizeof a));
    SHOW("short addr", bind(s, (void *)&a, 8));
    SHOW("huge addrlen", bind(s, (void *)&a, 4096));
    SHOW("bad pointer", bind(s, (void *)8, sizeof a));
    SHOW("getpeername unconnected", getpeername(s, (void *)&a, &(socklen_t){sizeof a}));
    SHOW("recv unconnected", recv(s, b, 1, 0));
    signal(SIGPIPE, SIG_IGN);
    SHOW("send unconnected", send(s, b, 1, 0));
    SHOW("accept unlistening", accept(s, NULL, NULL));
    SHOW("shutdown unconnected", shutdown(s, SHUT_RD));
    SHOW("shutdown bad how", shutdown(s, 7));
    SHOW("listen dgram", listen(socket(AF_INET, SOCK_DGRAM, 0), 1));
    SHOW("unix listen unbound", listen(socket(AF_UNIX, SOCK_STREAM, 0), 1));
    struct sockaddr_un u;
    socklen_t ul = un_addr(&u, "no/such/dir/sock");
    SHOW("unix connect missing", connect(socket(AF_UNIX, SOCK_STREAM, 0), (void *)&u, ul));
    ul = un_addr(&u, "/etc/passwd");
    SHOW("unix connect file", connect(socket(AF_UNIX, SOCK_STREAM, 0), (void *)&u, ul));
    int v = 0;
    socklen_t vl = sizeof v;
    SHOW("SO_TYPE", getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &vl));
    printf("type %d\n", v);
    vl = sizeof v;
    getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &vl);
    printf("domain %d\n", v);
    vl = sizeof v;
    getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &v, &vl);
    printf("protocol %d\n", v);
    v = 10000;
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
    vl = sizeof v;
    getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &vl);
    printf("sndbuf %d\n", v);
    SHOW("bad level", setsockopt(s, 999, 1, &v, sizeof v));
    SHOW("short optlen", setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, 2));
    SHOW("unknown opt", getsockopt(s, SOL_SOCKET, 999, &v, &vl));
    int u2 = socket(AF_UNIX, SOCK_STREAM, 0);
    struct ucred cr;
    socklen_t cl = sizeof cr;
    getsockopt(u2, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
    printf("unconnected peercred: %d %d %d\n", cr.pid, (int)cr.uid, (int)cr.gid);
    vl = sizeof v;
    getsockopt(u2, SOL_SOCKET, SO_SNDBUF, &v, &vl);
    printf("unix sndbuf %d\n", v);
    struct stat st;
    fstat(u2, &st);
    printf("fstat socket: %d\n", S_ISSOCK(st.st_mode));
    char link[64], proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", u2);
    int n = readlink(proc, link, sizeof link);
    printf("fd link: %.8s\n", n > 0 ? link : "?");
    SHOW("lseek", lseek(u2, 0, SEEK_SET));
}

/* What only the sandbox answers this way: no host network, no netlink. */
static void isolation(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80), .sin_addr.s_addr = htonl(0x08080808)};
    SHOW("connect far", connect(s, (void *)&a, sizeof a));
    SHOW("udp far", sendto(socket(AF_INET, SOCK_DGRAM, 0), "x", 1, 0, (void *)&a, sizeof a));
    SHOW("netlink", socket(AF_NETLINK, SOCK_RAW, 0));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *what = argc > 1 ? argv[1] : "all";
    int all = !strcmp(what, "all");
    if (all || !strcmp(what, "unix"))
        unix_stream();
    if (all || !strcmp(what, "pair"))
        unix_pair();
    if (all || !strcmp(what, "dgram"))
        unix_dgram();
    if (all || !strcmp(what, "seqpacket"))
        unix_seqpacket();
    if (all || !strcmp(what, "tcp")) {
        tcp(AF_INET);
        tcp(AF_INET6);
    }
    if (all || !strcmp(what, "udp"))
        udp();
    if (all || !strcmp(what, "errors"))
        errors();
    if (!strcmp(what, "isolation"))
        isolation();
    return 0;
}
