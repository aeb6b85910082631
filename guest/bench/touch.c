/*
 * The benchmark guest: touches N pages of a zero-initialised arena, one
 * write per page, and reports how long the loop took by the guest's own
 * clock (clock_gettime, which the VMM serves from the host's monotonic
 * clock). Usage: touch N
 */
#include "faultline_rt.h"

#define PAGE 4096
#define MAX_PAGES 32768

static char arena[MAX_PAGES * PAGE];

int main(int argc, char **argv)
{
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
