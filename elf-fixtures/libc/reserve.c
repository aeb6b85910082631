/* Reservation versus commitment: what mapping memory costs, and when the
 * kernel says no.
 *
 *   reserve map MB TOUCH     mmap MB MiB, touch TOUCH pages spread over it;
 *                            print mincore's count and the VmSize, RssAnon and
 *                            VmPTE growth from /proc/self/status
 *   reserve malloc MB        malloc(MB MiB): ok or the errno
 *   reserve noreserve MB     mmap(MAP_NORESERVE) of MB MiB: ok or the errno
 *   reserve maps N           N one-page mappings that cannot merge: how many
 *                            succeeded before ENOMEM
 *   reserve rollup           smaps_rollup's Rss against VmRSS, and vmstat's
 *                            pgfault growth, around touching 10 pages
 *   reserve churn N          N times: map 64 pages, write them all, unmap them
 *                            (128 timeline rows each, memory flat)
 *   reserve strict           under vm.overcommit_memory=2: a mapping just
 *                            within CommitLimit - Committed_AS succeeds, one
 *                            page more fails
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fixture.h"

/* A field of /proc/self/status or /proc/meminfo, in kB. Plain open and
 * read: stdio would allocate (musl maps a page per FILE), and change what
 * is being measured. */
static long field(const char *file, const char *name)
{
    static char buf[8192];
    int fd = open(file, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *p = strstr(buf, name);
    return p ? strtol(p + strlen(name) + 1, NULL, 10) : -1;
}

static const char *err(int e)
{
    return e == ENOMEM ? "ENOMEM" : e == EINVAL ? "EINVAL" : e == EAGAIN ? "EAGAIN" : "other";
}

/* Touches 64 KiB of stack, so that calls below grow no stack: how much a
 * fresh process has resident there depends on its environment's size. */
static void warm_stack(void)
{
    volatile char b[65536];
    for (size_t i = 0; i < sizeof b; i += PAGE)
        b[i] = 0;
}

static int map(long mb, long touch)
{
    size_t len = (size_t)mb << 20;
    warm_stack();
    long size0 = field("/proc/self/status", "VmSize"), rss0 = field("/proc/self/status", "RssAnon");
    long pte0 = field("/proc/self/status", "VmPTE");
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("map %ld MiB: %s\n", mb, err(errno));
        return 0;
    }
    madvise(p, len, MADV_NOHUGEPAGE); /* one page per touch, natively too */
    fprintf(stderr, "at=%p\n", (void *)p);
    long size1 = field("/proc/self/status", "VmSize");
    size_t stride = touch ? len / touch : len;
    for (long i = 0; i < touch; i++)
        p[i * stride] = 1;
    long size2 = field("/proc/self/status", "VmSize"), rss2 = field("/proc/self/status", "RssAnon");
    long pte2 = field("/proc/self/status", "VmPTE");
    printf("map %ld MiB: ok; VmSize +%ld kB at mmap, +%ld kB after touching\n", mb, size1 - size0, size2 - size0);
    printf("touched %ld: mincore %ld, RssAnon +%ld kB, VmPTE +%ld kB\n", touch, resident(p, len), rss2 - rss0,
           pte2 - pte0);
    munmap(p, len);
    printf("after munmap: VmSize +%ld kB, RssAnon +%ld kB\n", field("/proc/self/status", "VmSize") - size0,
           field("/proc/self/status", "RssAnon") - rss0);
    return 0;
}

static int maps(long n)
{
    long ok = 0;
    for (long i = 0; i < n; i++) {
        /* Alternate protections so that neighbours never merge. */
        void *p = mmap(NULL, PAGE, (i & 1) ? PROT_READ : PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            printf("maps: %ld succeeded, then %s\n", ok, err(errno));
            return 0;
        }
        ok++;
    }
    printf("maps: all %ld succeeded\n", ok);
    return 0;
}

static long sysctl_vm(const char *name)
{
    char path[128], buf[64];
    snprintf(path, sizeof path, "/proc/sys/vm/%s", name);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return strtol(buf, NULL, 10);
}

static int strict(void)
{
    printf("overcommit_memory=%ld\n", sysctl_vm("overcommit_memory"));
    /* __vm_enough_memory for an unprivileged process: the new pages count,
     * and the total must stay below CommitLimit less the admin reserve and
     * min(total_vm / 32, the user reserve). All in pages. */
    long limit = field("/proc/meminfo", "CommitLimit") / 4, committed = field("/proc/meminfo", "Committed_AS") / 4;
    long admin = sysctl_vm("admin_reserve_kbytes") / 4, user = sysctl_vm("user_reserve_kbytes") / 4;
    long total_vm = field("/proc/self/status", "VmSize") / 4;
    long room = limit - admin - (total_vm / 32 < user ? total_vm / 32 : user) - committed - 1;
    char *a = mmap(NULL, (room + 1) * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("one page more than the room: %s\n", a == MAP_FAILED ? err(errno) : "ok");
    char *b = mmap(NULL, room * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("exactly the room: %s\n", b == MAP_FAILED ? err(errno) : "ok");
    /* Read-only private mappings and MAP_NORESERVE ones are not charged. */
    char *c = mmap(NULL, 64 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("read-only beyond it: %s\n", c == MAP_FAILED ? err(errno) : "ok");
    char *d = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    printf("MAP_NORESERVE beyond it: %s\n", d == MAP_FAILED ? "refused" : "ok (strict mode charges it anyway)");
    char *e = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("one more page: %s\n", e == MAP_FAILED ? err(errno) : "ok");
    if (b != MAP_FAILED)
        munmap(b, room * PAGE);
    e = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("after munmap: %s\n", e == MAP_FAILED ? err(errno) : "ok");
    /* mprotect making a read-only mapping writable is charged too. */
    printf("mprotect to writable: %s\n", c != MAP_FAILED && mprotect(c, 64 * PAGE, PROT_READ | PROT_WRITE) == 0 ? "ok" : err(errno));
    return 0;
}

/* A /proc/vmstat counter. */
static long vmstat(const char *name)
{
    static char buf[16384];
    int fd = open("/proc/vmstat", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char key[64];
    snprintf(key, sizeof key, "\n%s ", name);
    char *p = strstr(buf, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static int rollup(void)
{
    warm_stack();
    char *p = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long f0 = vmstat("pgfault");
    for (int i = 0; i < 10; i++)
        p[i * PAGE] = 1;
    long f1 = vmstat("pgfault");
    long rss = field("/proc/self/status", "VmRSS"), roll = field("/proc/self/smaps_rollup", "Rss");
    long anon = field("/proc/self/status", "RssAnon"), ranon = field("/proc/self/smaps_rollup", "Anonymous");
    printf("smaps_rollup Rss %s VmRSS\n", rss == roll ? "equals" : "differs from");
    printf("smaps_rollup Anonymous %s RssAnon\n", anon == ranon ? "equals" : "differs from");
    printf("pgfault grew by at least 10: %s\n", f1 - f0 >= 10 ? "yes" : "no");
    munmap(p, 64 * PAGE);
    long anon2 = field("/proc/self/status", "RssAnon");
    printf("RssAnon after munmap: %s\n", anon2 == anon - 40 ? "down by 40 kB" : "other");
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 2;
    const char *m = argv[1];
    long a = argc > 2 ? atol(argv[2]) : 0, b = argc > 3 ? atol(argv[3]) : 0;
    if (!strcmp(m, "map"))
        return map(a, b);
    if (!strcmp(m, "malloc")) {
        errno = 0;
        void *p = malloc((size_t)a << 20);
        printf("malloc %ld MiB: %s\n", a, p ? "ok" : err(errno));
        return 0;
    }
    if (!strcmp(m, "noreserve")) {
        void *p = mmap(NULL, (size_t)a << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        printf("noreserve %ld MiB: %s\n", a, p == MAP_FAILED ? err(errno) : "ok");
        return 0;
    }
    if (!strcmp(m, "maps"))
        return maps(a);
    if (!strcmp(m, "strict"))
        return strict();
    if (!strcmp(m, "rollup"))
        return rollup();
    if (!strcmp(m, "churn")) {
        for (long i = 0; i < a; i++) {
            char *p = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED)
                return 3;
            for (int j = 0; j < 64; j++)
                p[j * PAGE] = 1;
            munmap(p, 64 * PAGE);
        }
        printf("churn %ld\n", a);
        return 0;
    }
    return 2;
}
