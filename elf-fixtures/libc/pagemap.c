/* /proc/self/pagemap as a program reads it: the present, swapped, file and
 * exclusive bits of anonymous pages (read: the zero page; written), of a
 * page shared with a fork child, of shared memory, of a cached file's
 * pages (read; written: a private copy), of a hole; reads at offsets, short
 * at the end of the address space, EINVAL for misaligned ones. Prints the
 * bits, not the PFNs: run natively (as root it drops to nobody first, so
 * the PFNs are zeroed as for any unprivileged reader) and under faultline,
 * the output must be the same.
 *
 * Usage: pagemap FILE [softdirty]   (FILE: at least 48 pages, readable)
 *        pagemap swap PAGES          (write PAGES pages, then count the
 *                                     swapped entries against smaps_rollup)
 *        pagemap clear_refs          (soft-dirty cleared and set again; a
 *                                     kernel with CONFIG_MEM_SOFT_DIRTY)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL
#define PFN_MASK ((1ULL << 55) - 1)
#define SOFT_DIRTY (1ULL << 55)
#define TASK_SIZE 0x7ffffffff000ULL

static int pm;
static int pfn_seen; /* a present entry with PFN bits */

static uint64_t entry(const void *addr)
{
    uint64_t e = 0;
    if (pread(pm, &e, 8, (off_t)((uintptr_t)addr / PAGE * 8)) != 8)
        printf("pread failed: errno %d\n", errno);
    if (e & PFN_MASK)
        pfn_seen = 1;
    return e;
}

static void show(const char *what, const void *addr)
{
    uint64_t e = entry(addr);
    printf("%s: present %d swap %d file %d exclusive %d\n", what, (int)(e >> 63 & 1), (int)(e >> 62 & 1),
           (int)(e >> 61 & 1), (int)(e >> 56 & 1));
}

static const char *res(ssize_t r)
{
    static char b[32];
    if (r >= 0)
        snprintf(b, sizeof b, "%zd", r);
    else
        snprintf(b, sizeof b, "errno %d", errno);
    return b;
}

/* smaps_rollup's Swap, in kB. */
static long rollup_swap_kb(void)
{
    static char buf[8192];
    int fd = open("/proc/self/smaps_rollup", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *p = strstr(buf, "\nSwap:");
    return p ? strtol(p + 6, NULL, 10) : -1;
}

/* The number after `key` in a /proc file. */
static long field(const char *path, const char *key)
{
    static char buf[8192];
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *p = strstr(buf, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* oom_score against proc_oom_score's formula over status and meminfo:
 * (1000 + (rss + swap + page tables) * 1000 / (RAM + swap)) * 2 / 3. */
static int oom_score_matches(void)
{
    long score = field("/proc/self/oom_score", "");
    long points = (field("/proc/self/status", "VmRSS:") + field("/proc/self/status", "VmSwap:") +
                   field("/proc/self/status", "VmPTE:")) / 4;
    long total = (field("/proc/meminfo", "MemTotal:") + field("/proc/meminfo", "SwapTotal:")) / 4;
    return score == (1000 + points * 1000 / total) * 2 / 3;
}

static int swap_mode(long pages)
{
    char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (long i = 0; i < pages; i++)
        p[i * PAGE] = (char)i;
    pm = open("/proc/self/pagemap", O_RDONLY);
    uint64_t *e = malloc(pages * 8);
    /* One read for the whole region. */
    ssize_t n = pread(pm, e, pages * 8, (off_t)((uintptr_t)p / PAGE * 8));
    long swapped = 0, present = 0, bad = 0;
    for (long i = 0; i < n / 8; i++) {
        swapped += e[i] >> 62 & 1;
        present += e[i] >> 63 & 1;
        if (e[i] & PFN_MASK || (e[i] >> 62 & 1 && e[i] >> 63 & 1))
            bad++;
    }
    printf("read %zd of %ld, swapped %ld, present %ld, bad %ld, smaps_rollup Swap %ld kB\n", n, pages * 8, swapped,
           present, bad, rollup_swap_kb());
    return 0;
}

static long minflt(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

static int sd(const void *addr)
{
    return (int)(entry(addr) >> 55 & 1);
}

static int clear_refs_mode(void)
{
    pm = open("/proc/self/pagemap", O_RDONLY);
    char *a = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *s = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 4; i++)
        a[i * PAGE] = 1;
    s[0] = 1;
    printf("a=%p s=%p\n", (void *)a, (void *)s);
    printf("before: %d%d%d%d shared %d\n", sd(a), sd(a + PAGE), sd(a + 2 * PAGE), sd(a + 3 * PAGE), sd(s));
    int cr = open("/proc/self/clear_refs", O_WRONLY);
    printf("write 4: %s\n", res(write(cr, "4\n", 2)));
    printf("after: %d%d%d%d shared %d\n", sd(a), sd(a + PAGE), sd(a + 2 * PAGE), sd(a + 3 * PAGE), sd(s));
    long m0 = minflt();
    m0 = minflt();
    a[PAGE] = 2;
    long m1 = minflt();
    volatile char x = a[2 * PAGE];
    (void)x;
    long m2 = minflt();
    s[0] = 2;
    long m3 = minflt();
    printf("write a[1]: +%ld, read a[2]: +%ld, write shared: +%ld\n", m1 - m0, m2 - m1, m3 - m2);
    printf("now: %d%d%d%d shared %d\n", sd(a), sd(a + PAGE), sd(a + 2 * PAGE), sd(a + 3 * PAGE), sd(s));
    int fd = open("/proc/self/comm", O_RDONLY);
    ssize_t n = read(fd, a + 3 * PAGE, 4);
    printf("read() %zd into a[3]: %d\n", n, sd(a + 3 * PAGE));
    char *fresh = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fresh[0] = 1;
    printf("new mapping: %d %d\n", sd(fresh), sd(fresh + PAGE));
    printf("write 0: %s\n", res(write(cr, "0", 1)));
    printf("write 6: %s\n", res(write(cr, "6", 1)));
    printf("write x: %s\n", res(write(cr, "x", 1)));
    printf("write 99999999999: %s\n", res(write(cr, "99999999999", 11)));
    printf("write ' 1 ': %s\n", res(write(cr, " 1 ", 3)));
    printf("open for reading: %s\n", res(open("/proc/self/clear_refs", O_RDONLY)));
    /* 5: VmHWM starts again from VmRSS. */
    long pages = 1024;
    char *big = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (long i = 0; i < pages; i++)
        big[i * PAGE] = 1;
    munmap(big, pages * PAGE);
    long hwm = field("/proc/self/status", "VmHWM:"), rss = field("/proc/self/status", "VmRSS:");
    printf("after munmap: VmHWM above VmRSS by 3 MiB or more: %d\n", hwm - rss >= pages * 3);
    printf("write 5: %s\n", res(write(cr, "5", 1)));
    hwm = field("/proc/self/status", "VmHWM:");
    rss = field("/proc/self/status", "VmRSS:");
    printf("VmHWM == VmRSS: %d\n", hwm == rss);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "clear_refs") == 0)
        return clear_refs_mode();
    if (argc > 2 && strcmp(argv[1], "swap") == 0)
        return swap_mode(atol(argv[2]));
    if (argc < 2) {
        fprintf(stderr, "usage: pagemap FILE [softdirty] | pagemap swap PAGES\n");
        return 2;
    }
    if (getuid() == 0) {
        /* A reader without CAP_SYS_ADMIN, whose own /proc files it may open. */
        if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534) || prctl(PR_SET_DUMPABLE, 1))
            return 3;
    }
    pm = open("/proc/self/pagemap", O_RDONLY);
    if (pm < 0) {
        printf("open: errno %d\n", errno);
        return 1;
    }

    /* Anonymous memory: a read maps the zero page, a write a page of its own. */
    char *a = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    madvise(a, 4 * PAGE, MADV_NOHUGEPAGE);
    volatile char sink = a[0];
    (void)sink;
    a[PAGE] = 1;
    show("anon read", a);
    show("anon written", a + PAGE);
    show("anon untouched", a + 2 * PAGE);

    /* Shared with a fork child until it exits. */
    int ready[2], go[2];
    if (pipe(ready) || pipe(go))
        return 1;
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        show("child: written page", a + PAGE);
        show("child: zero page", a);
        fflush(stdout);
        char b = 0;
        if (write(ready[1], &b, 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(1);
        _exit(0);
    }
    char b;
    if (read(ready[0], &b, 1) != 1)
        return 1;
    show("parent: written page, child alive", a + PAGE);
    fflush(stdout);
    if (write(go[1], &b, 1) != 1)
        return 1;
    int st;
    waitpid(c, &st, 0);
    show("parent: written page, child gone", a + PAGE);

    /* Shared memory is shmem: file pages. */
    char *s = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    s[0] = 1;
    sink = s[PAGE];
    show("shared written", s);
    show("shared read", s + PAGE);

    /* A file in the page cache: read first, then mapped. */
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        printf("open %s: errno %d\n", argv[1], errno);
        return 1;
    }
    static char buf[48 * PAGE];
    ssize_t got = read(fd, buf, sizeof buf);
    char *f = mmap(NULL, 48 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    sink = f[0];
    f[2 * PAGE] = 1;
    printf("file read %zd\n", got);
    show("file read", f);
    show("file written (private copy)", f + 2 * PAGE);
    show("file untouched, beyond fault-around", f + 40 * PAGE);

    /* A hole between two mappings. */
    char *h = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    h[0] = h[2 * PAGE] = 1;
    munmap(h + PAGE, PAGE);
    uint64_t hole = entry(h + PAGE);
    printf("hole: %#llx\n", (unsigned long long)hole);

    /* Offsets and sizes. */
    uint64_t e[4];
    printf("misaligned offset: %s\n", res(pread(pm, e, 8, 4)));
    printf("misaligned size: %s\n", res(pread(pm, e, 7, 0)));
    printf("empty read: %s\n", res(pread(pm, e, 0, 0)));
    printf("SEEK_END: %s\n", res(lseek(pm, 0, SEEK_END)));
    off_t last = (off_t)(TASK_SIZE / PAGE - 1) * 8;
    printf("last entry, asking for 2: %s\n", res(pread(pm, e, 16, last)));
    printf("past the end: %s\n", res(pread(pm, e, 8, last + 8)));
    printf("far past the end: %s\n", res(pread(pm, e, 8, (off_t)1 << 62)));
    off_t at = (off_t)((uintptr_t)a / PAGE * 8);
    printf("lseek to a: %s\n", lseek(pm, at, SEEK_SET) == at ? "ok" : "wrong");
    ssize_t r = read(pm, e, 32);
    int same = r == 32 && e[0] == entry(a) && e[1] == entry(a + PAGE) && e[2] == entry(a + 2 * PAGE);
    printf("read 4 at a: %s, same as one by one: %d, now at a+32: %d\n", res(r), same,
           lseek(pm, 0, SEEK_CUR) == at + 32);
    /* A large read: 256 KiB of entries (128 MiB of address space) from the file mapping. */
    size_t big = 256 << 10;
    uint64_t *v = malloc(big);
    r = pread(pm, v, big, (off_t)((uintptr_t)f / PAGE * 8));
    printf("256 KiB read: %s, file pages agree: %d\n", res(r),
           r == (ssize_t)big && v[0] == entry(f) && v[2] == entry(f + 2 * PAGE) && v[40] == entry(f + 40 * PAGE));
    printf("pfn bits seen: %d\n", pfn_seen);

    if (argc > 2 && strcmp(argv[2], "softdirty") == 0) {
        int all = 1;
        for (int i = 0; i < 4; i++)
            all &= (entry(a + i * PAGE) & SOFT_DIRTY) != 0;
        for (int i = 0; i < 48; i++)
            all &= (entry(f + i * PAGE) & SOFT_DIRTY) != 0;
        printf("soft-dirty: every page of a VMA %d, hole %d\n", all, (int)(entry(h + PAGE) >> 55 & 1));
        printf("oom_score as proc_oom_score computes it: %d\n", oom_score_matches());
    }
    return 0;
}
