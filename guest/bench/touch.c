/*
 * The benchmark guest, run both under faultline and natively (it is a
 * plain static Linux program). Times are the guest's own clock
 * (clock_gettime, which the VMM serves from the host's monotonic clock).
 *
 *   touch N [PASSES]   touch N pages of a zero-initialised arena, one write
 *                      per page, PASSES times: ns= per pass
 *   touch mmap KIB N   N times mmap KIB KiB then munmap it: ns= in all
 *   touch maps N       N one-page mappings that cannot merge: ns_first= for
 *                      the first 100, ns_last= for the last 100
 */
#include "faultline_rt.h"

#define PAGE 4096
#define MAX_PAGES 32768

static char arena[MAX_PAGES * PAGE];

static long map(unsigned long len, int prot)
{
    return fl_syscall6(__NR_mmap, 0, (long)len, prot, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
}

static void report(const char *key, unsigned long v)
{
    fl_puts(key);
    fl_put_u(v);
}

static int mmap_cost(unsigned long kib, unsigned long n)
{
    long t0 = fl_now_ns();
    for (unsigned long i = 0; i < n; i++) {
        long p = map(kib * 1024, 3);
        if (p < 0)
            return 3;
        fl_syscall2(__NR_munmap, p, (long)(kib * 1024));
    }
    long t1 = fl_now_ns();
    report("mmap_kib=", kib);
    report(" n=", n);
    report(" ns=", (unsigned long)(t1 - t0));
    fl_puts("\n");
    return 0;
}

static int many_maps(unsigned long n)
{
    long first = 0, last = 0;
    for (unsigned long i = 0; i < n; i++) {
        long t0 = fl_now_ns();
        if (map(PAGE, (i & 1) ? 1 : 3) < 0)
            return 3;
        long dt = fl_now_ns() - t0;
        if (i < 100)
            first += dt;
        if (i + 100 >= n)
            last += dt;
    }
    report("maps=", n);
    report(" ns_first=", (unsigned long)first);
    report(" ns_last=", (unsigned long)last);
    fl_puts("\n");
    return 0;
}

static int eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

int main(int argc, char **argv)
{
    if (argc > 3 && eq(argv[1], "mmap"))
        return mmap_cost(fl_atou(argv[2]), fl_atou(argv[3]));
    if (argc > 2 && eq(argv[1], "maps"))
        return many_maps(fl_atou(argv[2]));
    unsigned long n = argc > 1 ? fl_atou(argv[1]) : 16384;
    if (n > MAX_PAGES) {
        fl_puts("touch: at most 32768 pages\n");
        return 2;
    }
    unsigned long passes = argc > 2 ? fl_atou(argv[2]) : 1;
    for (unsigned long p = 0; p < passes; p++) {
        long t0 = fl_now_ns();
        for (unsigned long i = 0; i < n; i++)
            ((volatile char *)arena)[i * PAGE] = (char)(p + 1);
        long t1 = fl_now_ns();
        fl_puts("pages=");
        fl_put_u(n);
        fl_puts(" ns=");
        fl_put_u((unsigned long)(t1 - t0));
        fl_puts("\n");
    }
    return 0;
}
