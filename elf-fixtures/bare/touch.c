/*
 * touch REGION OP N [STRIDE]: touches N pages of REGION (data, bss or
 * rodata), every STRIDE-th page (default 1), reading or writing one byte
 * of each. Exits 0; 2 on bad arguments.
 */
#include "faultline_rt.h"

#define PAGE 4096
#define PAGES 256

/* Page-aligned so each array owns its pages outright; the program's string
 * literals sit on one other .rodata page, read once per run. */
static char data_arr[PAGES * PAGE] __attribute__((aligned(PAGE))) = {1};
static char bss_arr[PAGES * PAGE] __attribute__((aligned(PAGE)));
static const char ro_arr[PAGES * PAGE] __attribute__((aligned(PAGE))) = {1};

static int eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    volatile char *base;
    if (eq(argv[1], "data"))
        base = data_arr;
    else if (eq(argv[1], "bss"))
        base = bss_arr;
    else if (eq(argv[1], "rodata"))
        base = (volatile char *)ro_arr;
    else
        return 2;
    int write = eq(argv[2], "write");
    unsigned long n = fl_atou(argv[3]);
    unsigned long stride = argc > 4 ? fl_atou(argv[4]) : 1;
    if (stride == 0 || n * stride > PAGES || (write && base == (volatile char *)ro_arr))
        return 2;
    long sum = 0;
    for (unsigned long i = 0; i < n; i++) {
        if (write)
            base[i * stride * PAGE] = (char)i;
        else
            sum += base[i * stride * PAGE];
    }
    return sum == 12345 ? 3 : 0;
}
