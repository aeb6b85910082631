/* Network namespaces (run as root, natively too: the host's own namespace
 * is only read). "lo": a child that unshares CLONE_NEWNET has a loopback
 * of its own, down until SIOCSIFFLAGS brings it up, where the parent's
 * ports and abstract unix names are not found but its path names are; a
 * socket made before the unshare stays in the parent's namespace.
 * Another brings lo up by RTM_NEWLINK, as `ip link set lo up` does.
 * "sysctl": a child cloned with CLONE_NEWNET reads and writes sysctls of
 * its own (LTP's clone09). "perm": without CAP_SYS_ADMIN no namespace,
 * without CAP_NET_ADMIN no change to lo. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#ifndef CLONE_NEWNET
#define CLONE_NEWNET 0x40000000
#endif

/* Netlink's ABI (musl has no kernel headers). */
#define NETLINK_ROUTE 0
#define RTM_NEWLINK 16
#define NLM_F_REQUEST 1
#define NLM_F_ACK 4
struct nl_addr {
    unsigned short family, pad;
    unsigned pid, groups;
};

static struct sockaddr_in v4(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static struct sockaddr_in6 v6(int port)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    a.sin6_addr = in6addr_loopback;
    return a;
}

/* A unix address: a path, or an abstract name (its length given). */
static socklen_t un(struct sockaddr_un *a, const char *name, int abstract)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    memcpy(a->sun_path + !!abstract, name, n);
    return offsetof(struct sockaddr_un, sun_path) + n + !!abstract;
}

static int lo_flags(void)
{
    struct ifreq r = {0};
    strcpy(r.ifr_name, "lo");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int e = ioctl(s, SIOCGIFFLAGS, &r);
    close(s);
    return e < 0 ? e : r.ifr_flags;
}

/* lo's addresses getifaddrs sees. */
static int lo_addrs(void)
{
    struct ifaddrs *ifa;
    if (getifaddrs(&ifa) < 0)
        return -1;
    int n = 0;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
        if (!strcmp(i->ifa_name, "lo") && i->ifa_addr &&
            (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6))
            n++;
    freeifaddrs(ifa);
    return n;
}

/* RTM_NEWLINK for lo (index 1) setting IFF_UP: the ack's error's name. */
static const char *newlink_up(void)
{
    struct {
        unsigned len;
        unsigned short type, flags;
        unsigned seq, pid;
        unsigned char family, pad;
        unsigned short ifi_type;
        int index;
        unsigned ifi_flags, change;
    } req = {sizeof req, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 7, 0, 0, 0, 0, 1, IFF_UP, IFF_UP};
    int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    struct nl_addr k = {.family = AF_NETLINK};
    if (sendto(s, &req, sizeof req, 0, (void *)&k, sizeof k) < 0)
        return "send failed";
    char buf[4096];
    int n = recv(s, buf, sizeof buf, 0), e = 1;
    if (n >= 20)
        memcpy(&e, buf + 16, sizeof e);
    close(s);
    return e == 1 ? "no ack" : e ? ename(-e) : "0";
}

/* Rows of a /proc/net table. */
static int rows(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = -1, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void lo(void)
{
    char abs[64], path[64];
    snprintf(abs, sizeof abs, "faultline-netns-%d", getpid());
    snprintf(path, sizeof path, "/tmp/faultline-netns-%d.sock", getpid());
    unlink(path);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = v4(0);
    socklen_t len = sizeof a;
    bind(l, (void *)&a, sizeof a);
    listen(l, 8);
    getsockname(l, (void *)&a, &len);
    int port = ntohs(a.sin_port);
    struct sockaddr_un u;
    int ul = socket(AF_UNIX, SOCK_STREAM, 0), pl = socket(AF_UNIX, SOCK_STREAM, 0);
    SHOW("abstract bind", bind(ul, (void *)&u, un(&u, abs, 1)));
    listen(ul, 8);
    SHOW("path bind", bind(pl, (void *)&u, un(&u, path, 0)));
    listen(pl, 8);
    int before = socket(AF_INET, SOCK_STREAM, 0);
    pid_t c = fork();
    if (c == 0) {
        SHOW("unshare", unshare(CLONE_NEWNET));
        char t[64] = "";
        SHOW("readlink /proc/net", (int)readlink("/proc/net", t, sizeof t - 1));
        printf("/proc/net -> %s\n", t);
        printf("lo flags %#x, addresses %d\n", lo_flags(), lo_addrs());
        int s = socket(AF_INET, SOCK_STREAM, 0);
        a = v4(port);
        SHOW("connect while down", connect(s, (void *)&a, sizeof a));
        int d = socket(AF_INET, SOCK_DGRAM, 0);
        SHOW("udp send while down", (int)sendto(d, "x", 1, 0, (void *)&a, sizeof a));
        struct sockaddr_in6 b = v6(0);
        int s6 = socket(AF_INET6, SOCK_STREAM, 0);
        SHOW("bind ::1 while down", bind(s6, (void *)&b, sizeof b));
        b = v6(port);
        SHOW("connect ::1 while down", connect(s6, (void *)&b, sizeof b));
        struct sockaddr_in any = v4(0);
        SHOW("bind 127.0.0.1 while down", bind(socket(AF_INET, SOCK_DGRAM, 0), (void *)&any, sizeof any));
        struct ifreq r = {0};
        strcpy(r.ifr_name, "lo");
        r.ifr_flags = IFF_UP;
        SHOW("SIOCSIFFLAGS up", ioctl(s, SIOCSIFFLAGS, &r));
        printf("lo flags %#x, addresses %d\n", lo_flags(), lo_addrs());
        SHOW("connect to the parent's port", connect(s, (void *)&a, sizeof a));
        int l2 = socket(AF_INET, SOCK_STREAM, 0);
        SHOW("bind the parent's port", bind(l2, (void *)&a, sizeof a));
        SHOW("listen", listen(l2, 8));
        s = socket(AF_INET, SOCK_STREAM, 0);
        SHOW("connect here", connect(s, (void *)&a, sizeof a));
        SHOW("connect from before", connect(before, (void *)&a, sizeof a));
        int us = socket(AF_UNIX, SOCK_STREAM, 0);
        SHOW("connect abstract", connect(us, (void *)&u, un(&u, abs, 1)));
        SHOW("connect path", connect(us, (void *)&u, un(&u, path, 0)));
        int ub = socket(AF_UNIX, SOCK_STREAM, 0);
        SHOW("bind abstract here", bind(ub, (void *)&u, un(&u, abs, 1)));
        printf("/proc/net/unix rows %d\n", rows("/proc/net/unix"));
        exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("child: %d\n", WEXITSTATUS(st));
    if ((c = fork()) == 0) {
        SHOW("unshare", unshare(CLONE_NEWNET));
        printf("RTM_NEWLINK up: %s\n", newlink_up());
        printf("lo flags %#x, addresses %d\n", lo_flags(), lo_addrs());
        exit(0);
    }
    waitpid(c, &st, 0);
    printf("child: %d\n", WEXITSTATUS(st));
    printf("parent lo flags %#x\n", lo_flags());
    SHOW("parent accepts from before", accept(l, NULL, NULL) >= 0);
    unlink(path);
}

/* A sysctl's value, or -errno. */
static int get(const char *name)
{
    char p[128], b[32] = "";
    snprintf(p, sizeof p, "/proc/sys/net/%s", name);
    int fd = open(p, O_RDONLY);
    if (fd < 0)
        return -errno;
    int n = read(fd, b, sizeof b - 1);
    close(fd);
    return n < 0 ? -errno : atoi(b);
}

static int set(const char *name, int v)
{
    char p[128], b[32];
    snprintf(p, sizeof p, "/proc/sys/net/%s", name);
    int fd = open(p, O_WRONLY);
    if (fd < 0)
        return -1;
    int n = snprintf(b, sizeof b, "%d\n", v);
    int r = write(fd, b, n);
    close(fd);
    return r;
}

static int in_new_ns(void *arg)
{
    (void)arg;
    printf("child lo tag %d, default %d, somaxconn %d\n", get("ipv4/conf/lo/tag"), get("ipv4/conf/default/tag"),
           get("core/somaxconn"));
    SHOW("set lo tag", set("ipv4/conf/lo/tag", 5));
    SHOW("set default tag", set("ipv4/conf/default/tag", 3));
    SHOW("set somaxconn", set("core/somaxconn", 16));
    SHOW("set somaxconn -1", set("core/somaxconn", -1));
    printf("child lo tag %d, default %d, all %d, somaxconn %d\n", get("ipv4/conf/lo/tag"),
           get("ipv4/conf/default/tag"), get("ipv4/conf/all/tag"), get("core/somaxconn"));
    return 0;
}

static void sysctl(void)
{
    int tag = get("ipv4/conf/lo/tag"), somaxconn = get("core/somaxconn");
    static char stack[64 << 10];
    pid_t c = clone(in_new_ns, stack + sizeof stack, CLONE_NEWNET | SIGCHLD, NULL);
    int st;
    waitpid(c, &st, 0);
    printf("child: %d\n", WEXITSTATUS(st));
    printf("parent's unchanged: %d %d\n", get("ipv4/conf/lo/tag") == tag, get("core/somaxconn") == somaxconn);
}

static void perm(void)
{
    pid_t c = fork();
    if (c == 0) {
        SHOW("setuid", setuid(65534));
        SHOW("unshare", unshare(CLONE_NEWNET));
        SHOW("write lo tag", set("ipv4/conf/lo/tag", 1));
        printf("RTM_NEWLINK up: %s\n", newlink_up());
        struct ifreq r = {0};
        strcpy(r.ifr_name, "lo");
        r.ifr_flags = IFF_UP;
        SHOW("SIOCSIFFLAGS up", ioctl(socket(AF_INET, SOCK_DGRAM, 0), SIOCSIFFLAGS, &r));
        printf("read lo tag: %d\n", get("ipv4/conf/lo/tag") >= 0);
        exit(0);
    }
    int st;
    waitpid(c, &st, 0);
    printf("child: %d\n", WEXITSTATUS(st));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *what = argc > 1 ? argv[1] : "all";
    int all = !strcmp(what, "all");
    if (getuid() != 0) {
        printf("not root\n");
        return 0;
    }
    if (all || !strcmp(what, "lo"))
        lo();
    if (all || !strcmp(what, "sysctl"))
        sysctl();
    if (all || !strcmp(what, "perm"))
        perm();
    return 0;
}
