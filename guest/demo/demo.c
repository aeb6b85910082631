/*
 * faultline's built-in demo guest: one small program per scenario of
 * `faultline demo`, each touching a known number of pages so that the
 * timeline's rows can be counted against what Linux would do.
 *
 *   demo            the program's own pages: .data read, .bss and the
 *                   stack written, the rest never backed (`sections`; so
 *                   do arguments that name no scenario)
 *   demo malloc     a 1 MiB mmap, as malloc makes for a big block; every
 *                   fourth page written
 *   demo mlock      32 pages mapped, mlocked, then written
 *   demo free       64 pages mapped and written, then unmapped
 *   demo fork       32 pages written; a child writes 8 of them
 *   demo file PATH  8 pages of PATH mapped and read, unmapped, mapped and
 *                   read again
 *   demo reclaim    512 pages written (more than the budget the scenario
 *                   gives), the first 128 read back; prints how many of
 *                   those mincore showed out, and how many of the 512 were
 *                   resident at the end
 *   demo oom        16 pages written; a child then allocates until it is
 *                   killed; prints how the child ended
 *
 * Each anonymous mapping is named (PR_SET_VMA_ANON_NAME), so its rows
 * are the region `[anon:NAME]`. Exit status 0, or the step that failed.
 */
#include "faultline_rt.h"

#define PAGE 4096

/* Syscall numbers are the target's __NR_* (faultline_rt.h). */
#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_PRIVATE 2
#define MAP_ANONYMOUS 0x20
#define MADV_RANDOM 1
#define AT_FDCWD (-100)
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0

/* 16 pages of initialised data: every page comes from the ELF file.
 * Page-aligned, as the .bss array is, so that the pages the demo touches are
 * its own whatever the linker's segment alignment (aarch64 links with
 * 64 KiB, which puts .data mid-page and .bss right after it). */
static char table[16 * PAGE] __attribute__((aligned(PAGE))) = {1};
/* 64 pages of .bss: zero-filled on first touch, never read from the file. */
static char scratch[64 * PAGE] __attribute__((aligned(PAGE)));
/* Read-only data, 8 pages. */
static const char banner[8 * PAGE] = "faultline demo: lazy backing, one page at a time\n";

static long sum_pages(const volatile char *p, int pages, int stride)
{
    long s = 0;
    for (int i = 0; i < pages; i += stride)
        s += p[i * PAGE];
    return s;
}

static int eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

/* pages of anonymous memory, called [anon:name]; nothing is backed yet. */
static volatile char *map_named(unsigned long pages, const char *name)
{
    long p = fl_syscall6(__NR_mmap, 0, (long)(pages * PAGE), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p < 0)
        fl_exit(90);
    if (fl_syscall6(__NR_prctl, PR_SET_VMA, PR_SET_VMA_ANON_NAME, p, (long)(pages * PAGE), (long)name, 0) != 0)
        fl_exit(91);
    return (volatile char *)p;
}

static void write_pages(volatile char *p, unsigned long from, unsigned long to, unsigned long stride)
{
    for (unsigned long i = from; i < to; i += stride)
        p[i * PAGE] = (char)(i + 1);
}

static void field(const char *name, unsigned long v)
{
    fl_puts(name);
    fl_put_u(v);
}

static int sections(void)
{
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

static int do_malloc(void)
{
    volatile char *p = map_named(256, "malloc");
    write_pages(p, 0, 256, 4);
    return 0;
}

static int do_mlock(void)
{
    volatile char *p = map_named(32, "mlock");
    if (fl_syscall2(__NR_mlock, (long)p, 32 * PAGE) != 0)
        return 2;
    write_pages(p, 0, 32, 1);
    return 0;
}

static int do_free(void)
{
    volatile char *p = map_named(64, "free");
    write_pages(p, 0, 64, 1);
    return fl_syscall2(__NR_munmap, (long)p, 64 * PAGE) == 0 ? 0 : 2;
}

static int do_fork(void)
{
    volatile char *p = map_named(32, "fork");
    write_pages(p, 0, 32, 1);
    long pid = fl_fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        write_pages(p, 0, 8, 1);
        fl_exit(0);
    }
    int st = -1;
    fl_syscall6(__NR_wait4, pid, (long)&st, 0, 0, 0, 0);
    return st == 0 ? 0 : 3;
}

static int do_file(const char *path)
{
    long fd = fl_syscall6(__NR_openat, AT_FDCWD, (long)path, 0, 0, 0, 0);
    if (fd < 0)
        return 2;
    long s = 0;
    for (int round = 0; round < 2; round++) {
        long p = fl_syscall6(__NR_mmap, 0, 8 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p < 0)
            return 3;
        /* No readahead: each first read brings in its own page alone. */
        if (fl_syscall3(__NR_madvise, p, 8 * PAGE, MADV_RANDOM) != 0)
            return 4;
        s += sum_pages((const volatile char *)p, 8, 1);
        fl_syscall2(__NR_munmap, p, 8 * PAGE);
    }
    fl_syscall1(__NR_close, fd);
    return (int)(s & 0);
}

/* How many of `pages` pages at p mincore shows in RAM; vec holds a byte
 * per page (on the stack: .bss stays the sections scenario's 64 pages). */
static unsigned long resident(volatile char *p, unsigned long pages, unsigned char *vec)
{
    if (fl_syscall3(__NR_mincore, (long)p, (long)(pages * PAGE), (long)vec) != 0)
        fl_exit(92);
    unsigned long n = 0;
    for (unsigned long i = 0; i < pages; i++)
        n += vec[i] & 1;
    return n;
}

static int do_reclaim(void)
{
    enum { PAGES = 512, BACK = 128 };
    unsigned char vec[PAGES];
    volatile char *p = map_named(PAGES, "reclaim");
    write_pages(p, 0, PAGES, 1);
    /* Each page is looked at just before its read: one mincore shows out
     * comes back from swap, one it shows in does not fault. */
    unsigned long out = 0;
    for (unsigned long i = 0; i < BACK; i++) {
        out += !resident(p + i * PAGE, 1, vec);
        if (p[i * PAGE] != (char)(i + 1))
            return 2;
    }
    field("out=", out);
    field(" resident=", resident(p, PAGES, vec));
    fl_puts("\n");
    return 0;
}

static int do_oom(void)
{
    volatile char *mine = map_named(16, "parent");
    write_pages(mine, 0, 16, 1);
    long pid = fl_fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        for (;;)
            write_pages(map_named(64, "child"), 0, 64, 1);
    }
    int st = 0;
    fl_syscall6(__NR_wait4, pid, (long)&st, 0, 0, 0, 0);
    /* WIFSIGNALED: the low 7 bits are the signal. */
    field("child_signal=", (unsigned long)(st & 0x7f));
    fl_puts("\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || eq(argv[1], "sections"))
        return sections();
    if (eq(argv[1], "malloc"))
        return do_malloc();
    if (eq(argv[1], "mlock"))
        return do_mlock();
    if (eq(argv[1], "free"))
        return do_free();
    if (eq(argv[1], "fork"))
        return do_fork();
    if (eq(argv[1], "file") && argc > 2)
        return do_file(argv[2]);
    if (eq(argv[1], "reclaim"))
        return do_reclaim();
    if (eq(argv[1], "oom"))
        return do_oom();
    /* Arguments that name no scenario are the program's own. */
    return sections();
}
