/*
 * The page allocator seen from inside: /proc/buddyinfo, /proc/zoneinfo,
 * /proc/meminfo and /proc/vmstat around allocations and frees.
 *
 *   buddy frag N    map 2N pages (2 MiB aligned) and make their page
 *                   tables; then snapshot; touch all 2N; snapshot; free
 *                   every odd page (MADV_DONTNEED); snapshot; munmap;
 *                   snapshot. Snapshots go to stdout at the end, each file
 *                   after a line "== S<k> <file>".
 *   buddy wmark N   mlockall(MCL_CURRENT), then write N fresh pages, one
 *                   at a time, printing /proc/vmstat's nr_free_pages after
 *                   each ("free <i> <pages>"), /proc/zoneinfo first.
 *
 * Nothing between two snapshots allocates but what is measured: no stdio
 * (its buffer is malloc'ed), only buffers touched up front.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL

static const char *files[] = {"/proc/buddyinfo", "/proc/zoneinfo", "/proc/meminfo", "/proc/vmstat",
                              "/proc/self/status", "/proc/sys/vm/min_free_kbytes"};
#define NFILES (sizeof(files) / sizeof(files[0]))
#define SNAP 65536

/* The frag snapshots are mapped (and touched) before the first one; the
 * static buffers are what wmark needs, kept small as mlockall pins them. */
static char (*snaps)[NFILES][SNAP];
static size_t lens[4][NFILES];
static char buf[2][SNAP];
static char line[256];

static size_t slurp(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0)
            break;
        n += r;
    }
    close(fd);
    return n;
}

static void put(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, s, n);
        if (w <= 0)
            exit(9);
        s += w;
        n -= w;
    }
}

static void puts_(const char *s)
{
    put(s, strlen(s));
}

/* Decimal, without stdio. */
static char *num(char *p, unsigned long v)
{
    char t[24];
    int n = 0;
    do {
        t[n++] = '0' + v % 10;
        v /= 10;
    } while (v);
    while (n)
        *p++ = t[--n];
    return p;
}

static void snapshot(int k)
{
    for (size_t f = 0; f < NFILES; f++)
        lens[k][f] = slurp(files[f], snaps[k][f], SNAP);
}

static int frag(long n)
{
    snaps = mmap(NULL, 4 * sizeof(*snaps), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (snaps == MAP_FAILED)
        return 2;
    memset(snaps, 0, 4 * sizeof(*snaps));
    memset(line, 0, sizeof(line));
    size_t span = 2 * n * PAGE, align = 2UL << 20;
    char *m = mmap(NULL, span + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 2;
    char *r = (char *)(((uintptr_t)m + align - 1) & ~(align - 1));
    /* Its page tables, made now and kept: a touch, then the page dropped. */
    r[0] = 1;
    madvise(r, PAGE, MADV_DONTNEED);
    snapshot(0);
    for (long i = 0; i < 2 * n; i++)
        r[i * PAGE] = 1;
    snapshot(1);
    for (long i = 1; i < 2 * n; i += 2)
        madvise(r + i * PAGE, PAGE, MADV_DONTNEED);
    snapshot(2);
    munmap(m, span + align);
    snapshot(3);
    for (int k = 0; k < 4; k++)
        for (size_t f = 0; f < NFILES; f++) {
            char *p = line;
            p = stpcpy(p, "== S");
            p = num(p, k);
            *p++ = ' ';
            p = stpcpy(p, files[f]);
            *p++ = '\n';
            put(line, p - line);
            put(snaps[k][f], lens[k][f]);
        }
    return 0;
}

static int wmark(long n)
{
    memset(buf, 0, sizeof(buf));
    memset(line, 0, sizeof(line));
    if (mlockall(MCL_CURRENT) != 0)
        return 3;
    puts_("== zoneinfo\n");
    put(buf[0], slurp("/proc/zoneinfo", buf[0], SNAP));
    char *r = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED)
        return 2;
    for (long i = 0; i < n; i++) {
        r[i * PAGE] = 1;
        size_t len = slurp("/proc/vmstat", buf[1], SNAP);
        buf[1][len < SNAP ? len : SNAP - 1] = 0;
        char *v = strstr(buf[1], "nr_free_pages ");
        if (!v)
            return 4;
        char *p = stpcpy(line, "free ");
        p = num(p, i);
        *p++ = ' ';
        p = num(p, strtoul(v + 14, NULL, 10));
        *p++ = '\n';
        put(line, p - line);
    }
    puts_("done\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 1;
    long n = atol(argv[2]);
    if (!strcmp(argv[1], "frag"))
        return frag(n);
    if (!strcmp(argv[1], "wmark"))
        return wmark(n);
    return 1;
}
