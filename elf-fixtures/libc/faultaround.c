/* Reads one byte of each page of a file mapping whose pages are all in the
 * page cache (the file is read() first), and reports the minor and major
 * faults getrusage(2) counts around the loop. With Linux's fault-around
 * (fault_around_bytes, 64 KiB) one fault maps up to 16 cached pages, so the
 * count is lower than the pages touched, and exactly predictable: each
 * mapping is placed at a known offset from a page-table (2 MiB) boundary,
 * since the window starts at the fault rounded down to 64 KiB (not below
 * the mapping) and stops at the mapping's end and the page table's.
 *
 * Usage: faultaround FILE   (FILE: at least 48 pages)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define PAGE 4096UL
#define TABLE (2UL << 20)

static void faults(long *min, long *maj)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    *min = u.ru_minflt;
    *maj = u.ru_majflt;
}

/* Maps `pages` pages of fd at `at`, reads a byte of each, prints the faults. */
static void touch(const char *what, int fd, char *at, unsigned long pages)
{
    char *m = mmap(at, pages * PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    if (m != at) {
        printf("%s: mmap failed\n", what);
        return;
    }
    long min0, maj0, min1, maj1;
    faults(&min0, &maj0);
    faults(&min0, &maj0); /* the call itself warm */
    unsigned sum = 0;
    for (unsigned long i = 0; i < pages; i++)
        sum += ((volatile unsigned char *)m)[i * PAGE];
    faults(&min1, &maj1);
    printf("%s: %lu pages, minflt +%ld, majflt +%ld (sum %u)\n", what, pages, min1 - min0, maj1 - maj0, sum);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0)
        return 1;
    static char buf[48 * PAGE];
    if (read(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
        return 1;
    /* Room for four page tables' worth, aligned to one. */
    char *r = mmap(NULL, 5 * TABLE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    char *base = (char *)(((uintptr_t)r + TABLE - 1) & ~(TABLE - 1));
    touch("aligned", fd, base, 40);
    touch("3 pages into a table", fd, base + TABLE + 3 * PAGE, 40);
    touch("5 pages before a table's end", fd, base + 3 * TABLE - 5 * PAGE, 21);
    /* The window is 16 pages from the mapping's start, past the 64 KiB
     * boundary: one fault maps all ten. */
    touch("9 pages into a table", fd, base + 3 * TABLE + 9 * PAGE, 10);
    return 0;
}
