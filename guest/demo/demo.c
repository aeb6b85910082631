/*
 * faultline's built-in demo guest. Each step touches a known number of pages
 * so the summary afterwards shows lazy backing at work: pages are mapped
 * when the program loads, but only the ones it touches are ever backed.
 */
#include "faultline_rt.h"

#define PAGE 4096

/* 16 pages of initialised data: every page comes from the ELF file. */
static char table[16 * PAGE] = {1};
/* 64 pages of .bss: zero-filled on first touch, never read from the file. */
static char scratch[64 * PAGE];
/* Read-only data, 8 pages. */
static const char banner[8 * PAGE] = "faultline demo: lazy backing, one page at a time\n";

static long sum_pages(const volatile char *p, int pages, int stride)
{
    long s = 0;
    for (int i = 0; i < pages; i += stride)
        s += p[i * PAGE];
    return s;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fl_write(1, banner, fl_strlen(banner));

    fl_puts("step 1: read 4 of the 16 pages of `table` (.data): 4 file-copy faults\n");
    long s = sum_pages(table, 16, 4);

    fl_puts("step 2: write 8 of the 64 pages of `scratch` (.bss): 8 zero-fill write faults\n");
    for (int i = 0; i < 64; i += 8)
        scratch[i * PAGE] = (char)i;

    fl_puts("step 3: read the same 8 pages again: no new faults\n");
    s += sum_pages(scratch, 64, 8);

    fl_puts("step 4: use 32 KiB of stack: the stack grows a page at a time\n");
    volatile char deep[8 * PAGE];
    for (int i = 0; i < 8; i++)
        deep[i * PAGE] = (char)s;

    fl_puts("done: most of what the program maps was never backed at all\n");
    return deep[0] == (char)s ? 0 : 1;
}
