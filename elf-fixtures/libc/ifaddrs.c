/* The sandbox's interfaces as glibc and musl see them through netlink:
 * getifaddrs() (lo, and its 127.0.0.1/8 and ::1/128 on a host whose lo
 * has them), if_nameindex(), if_nametoindex("lo"), and a raw
 * NETLINK_ROUTE socket's answers to requests it does not serve. Prints
 * only lo's entries (a host has other devices), to compare with a native
 * run. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errname.h"

/* Netlink's ABI (linux/netlink.h, rtnetlink.h: musl has no kernel
 * headers). */
#define NETLINK_ROUTE 0
#define NLMSG_NOOP 1
#define NLMSG_ERROR 2
#define RTM_GETLINK 18
#define NLM_F_REQUEST 1
#define NLM_F_ACK 4
struct nl_addr {
    unsigned short family, pad;
    unsigned pid, groups;
};
struct nl_hdr {
    unsigned len;
    unsigned short type, flags;
    unsigned seq, pid;
};
struct if_info {
    unsigned char family, pad;
    unsigned short type;
    int index;
    unsigned flags, change;
};

static void addrs(void)
{
    struct ifaddrs *ifa;
    SHOW("getifaddrs", getifaddrs(&ifa));
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (strcmp(i->ifa_name, "lo"))
            continue;
        char a[64] = "-", m[64] = "-";
        int fam = i->ifa_addr ? i->ifa_addr->sa_family : -1;
        if (fam == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof a);
            inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_netmask)->sin_addr, m, sizeof m);
        } else if (fam == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, a, sizeof a);
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr, m, sizeof m);
        }
        printf("%s family %d flags %#x addr %s mask %s\n", i->ifa_name, fam, i->ifa_flags, a, m);
    }
    freeifaddrs(ifa);
    struct if_nameindex *ni = if_nameindex();
    for (struct if_nameindex *n = ni; n && n->if_index; n++)
        if (!strcmp(n->if_name, "lo"))
            printf("if_nameindex: %u %s\n", n->if_index, n->if_name);
    if_freenameindex(ni);
    printf("if_nametoindex lo: %u\n", if_nametoindex("lo"));
    char name[IF_NAMESIZE];
    printf("if_indextoname 1: %s\n", if_indextoname(1, name) ? name : "-");
}

/* A request and the first answer's type and error. */
static void ask(int s, int type, int flags, const char *what)
{
    struct {
        struct nl_hdr h;
        struct if_info i;
    } req = {{sizeof req, type, NLM_F_REQUEST | flags, 42, 0}, {0}};
    struct nl_addr k = {.family = AF_NETLINK};
    printf("%s send: %s\n", what, err(sendto(s, &req, sizeof req, 0, (void *)&k, sizeof k)));
    char buf[8192];
    int n = recv(s, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
        printf("%s recv: %s\n", what, err(n));
        return;
    }
    struct nl_hdr *h = (void *)buf;
    int e = 0;
    if (h->type == NLMSG_ERROR)
        memcpy(&e, buf + sizeof *h, sizeof e);
    printf("%s answer: type %d seq %u error %d len %u\n", what, h->type, h->seq, e, h->len);
}

static void raw(void)
{
    printf("netlink unknown protocol: %s\n", err(socket(AF_NETLINK, SOCK_RAW, 30)));
    printf("netlink stream: %s\n", err(socket(AF_NETLINK, SOCK_STREAM, 0)));
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    printf("socket: %d\n", s >= 0);
    struct nl_addr me = {.family = AF_NETLINK};
    SHOW("bind", bind(s, (void *)&me, sizeof me));
    socklen_t l = sizeof me;
    getsockname(s, (void *)&me, &l);
    printf("port is pid: %d len %u\n", me.pid == (unsigned)getpid(), l);
    SHOW("listen", listen(s, 1));
    ask(s, RTM_GETLINK, 0, "getlink without index");
    ask(s, 126, NLM_F_ACK, "unknown type");
    ask(s, NLMSG_NOOP, NLM_F_ACK, "noop with ack");
    ask(s, NLMSG_NOOP, 0, "noop");
    struct nl_addr other = {.family = AF_NETLINK, .pid = 12345};
    printf("to another port: %s\n", err(sendto(s, "x", 1, 0, (void *)&other, sizeof other)));
    close(s);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *what = argc > 1 ? argv[1] : "all";
    int all = !strcmp(what, "all");
    if (all || !strcmp(what, "addrs"))
        addrs();
    if (all || !strcmp(what, "raw"))
        raw();
    return 0;
}
