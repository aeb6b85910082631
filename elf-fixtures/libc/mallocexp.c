/*
 * The classic malloc experiments, for glibc (ptmalloc2) and musl
 * (mallocng). Built twice: mallocexp-glibc and mallocexp-musl.
 *
 * stdout carries only facts that do not depend on where things landed
 * (growths, counts, yes/no), so a test can run this natively and in
 * faultline and compare stdout byte for byte. Addresses a test needs to
 * find events in the timeline go to stderr.
 *
 *   mallocexp small             malloc(1): how far the heap grows
 *   mallocexp big               malloc(256 KiB): mmap'd; free() unmaps it
 *   mallocexp nommap            mallopt(M_MMAP_MAX, 0): large goes to heap
 *   mallocexp trim BYTES        mallopt(M_TRIM_THRESHOLD, BYTES): does free shrink the heap?
 *   mallocexp touch K           malloc(1 MiB), touch K pages, count residency
 *   mallocexp maps              malloc(256 KiB), then print /proc/self/maps
 *   mallocexp protect           write a page, mprotect it read-only, write again (dies)
 *   mallocexp unmapped          touch a page, munmap it, read it again (dies)
 *   mallocexp protect-many N    touch N pages, mprotect them all read-only, write the last (dies)
 *   mallocexp exec A B          print argv, an environment variable and auxv facts
 *   mallocexp raise             raise SIGCHLD (ignored by default), then abort()
 *   mallocexp strlit|null|recurse   crash the classic ways
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fixture.h"
#include <signal.h>
#include <sys/auxv.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif


static uintptr_t brk_now(void) { return (uintptr_t)sbrk(0); }


/* The /proc/self/maps line holding addr: its range, and whether it is [heap]. */
static int find_map(uintptr_t addr, uintptr_t *lo, uintptr_t *hi, int *heap)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a <= addr && addr < b) {
            *lo = a;
            *hi = b;
            *heap = strstr(line, "[heap]") != NULL;
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

/* Static glibc makes its first malloc during start-up, which is when the
 * heap grows by 132 KiB; musl grows it by what it needs. */
static int small(void)
{
    uintptr_t before = brk_now();
    char *p = malloc(1);
    uintptr_t after = brk_now();
    uintptr_t lo = 0, hi = 0;
    int heap = 0;
    find_map((uintptr_t)p, &lo, &hi, &heap);
    p[0] = 1;
    free(p);
    printf("small: brk_grew=%lu in_heap=%d heap_kib=%lu brk_kept_after_free=%d\n", (unsigned long)(after - before),
           heap, heap ? (unsigned long)((hi - lo) / 1024) : 0UL, brk_now() == after);
    return 0;
}

static int big(void)
{
    size_t len = 256 * 1024;
    uintptr_t brk0 = brk_now();
    char *p = malloc(len);
    uintptr_t lo = 0, hi = 0;
    int heap = 0;
    int mapped = find_map((uintptr_t)p, &lo, &hi, &heap);
    long before = resident((void *)lo, hi - lo);
    for (size_t i = 0; i < 3; i++)
        p[i * PAGE] = 1;
    long touched = resident((void *)lo, hi - lo);
    fprintf(stderr, "alloc=%#lx map=%#lx-%#lx\n", (unsigned long)p, (unsigned long)lo, (unsigned long)hi);
    free(p);
    uintptr_t lo2, hi2;
    int heap2;
    int still = find_map((uintptr_t)p, &lo2, &hi2, &heap2);
    printf("big: mapped=%d in_heap=%d brk_moved=%d map_kib=%lu resident_before=%ld resident_touched=%ld "
           "unmapped_after_free=%d\n",
           mapped, heap, brk_now() != brk0, (unsigned long)((hi - lo) / 1024), before, touched, !still);
    return 0;
}

#ifdef __GLIBC__
static int nommap(void)
{
    mallopt(M_MMAP_MAX, 0);
    uintptr_t before = brk_now();
    char *p = malloc(256 * 1024);
    uintptr_t lo = 0, hi = 0;
    int heap = 0;
    find_map((uintptr_t)p, &lo, &hi, &heap);
    printf("nommap: in_heap=%d brk_grew_kib=%lu\n", heap, (unsigned long)((brk_now() - before) / 1024));
    free(p);
    return 0;
}

static int trim(long threshold)
{
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, (int)threshold);
    uintptr_t before = brk_now();
    char *p = malloc(1024 * 1024);
    uintptr_t grown = brk_now();
    memset(p, 1, 1024 * 1024);
    free(p);
    uintptr_t after = brk_now();
    printf("trim: threshold=%ld grew_kib=%lu shrunk=%d back_to_start=%d\n", threshold,
           (unsigned long)((grown - before) / 1024), after < grown, after <= before + 132 * 1024);
    return 0;
}
#else
static int nommap(void)
{
    printf("nommap: not in this libc\n");
    return 0;
}

static int trim(long threshold)
{
    (void)threshold;
    printf("trim: not in this libc\n");
    return 0;
}
#endif

static int touch(long k)
{
    size_t len = 1024 * 1024;
    char *p = malloc(len);
    uintptr_t lo = 0, hi = 0;
    int heap = 0;
    find_map((uintptr_t)p, &lo, &hi, &heap);
    /* Whole pages of the allocation, starting at the page p is in. */
    uintptr_t first = (uintptr_t)p & ~(PAGE - 1);
    for (long i = 0; i < k; i++)
        ((volatile char *)first)[i * PAGE + (i == 0 ? (uintptr_t)p - first : 0)] = 1;
    long r = resident((void *)first, (size_t)k * PAGE);
    long whole = resident((void *)lo, hi - lo);
    fprintf(stderr, "alloc=%#lx first=%#lx map=%#lx-%#lx\n", (unsigned long)p, (unsigned long)first,
            (unsigned long)lo, (unsigned long)hi);
    printf("touch: k=%ld resident_in_touched=%ld resident_in_mapping=%ld in_heap=%d\n", k, r, whole, heap);
    return 0;
}

static long recurse(long n)
{
    volatile char pad[4096];
    pad[0] = (char)n;
    return recurse(n + 1) + pad[0];
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *m = argv[1];
    if (!strcmp(m, "small"))
        return small();
    if (!strcmp(m, "big"))
        return big();
    if (!strcmp(m, "nommap"))
        return nommap();
    if (!strcmp(m, "trim") && argc > 2)
        return trim(atol(argv[2]));
    if (!strcmp(m, "touch") && argc > 2)
        return touch(atol(argv[2]));
    if (!strcmp(m, "maps")) {
        char *p = malloc(256 * 1024);
        p[0] = 1;
        FILE *f = fopen("/proc/self/maps", "r");
        int c;
        while (f && (c = fgetc(f)) != EOF)
            putchar(c);
        return f ? 0 : 1;
    }
    if (!strcmp(m, "protect")) {
        volatile char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p[0] = 1; /* the translation is now in the TLB */
        mprotect((void *)p, PAGE, PROT_READ);
        printf("protect: read back %d, writing\n", p[0]);
        fflush(stdout);
        p[0] = 2;
        printf("protect: write went through\n");
        return 1;
    }
    if (!strcmp(m, "protect-many") && argc > 2) {
        long n = atol(argv[2]);
        volatile char *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        for (long i = 0; i < n; i++)
            p[i * PAGE] = 1;
        mprotect((void *)p, n * PAGE, PROT_READ);
        printf("protect-many: %ld pages read-only, writing the last\n", n);
        fflush(stdout);
        p[(n - 1) * PAGE] = 2;
        return 1;
    }
    if (!strcmp(m, "unmapped")) {
        volatile char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p[0] = 1;
        munmap((void *)p, PAGE);
        printf("unmapped: reading\n");
        fflush(stdout);
        return p[0] + 1;
    }
    if (!strcmp(m, "exec")) {
        for (int i = 0; i < argc; i++)
            printf("argv[%d]=%s\n", i, i == 0 ? "(name)" : argv[i]);
        const char *v = getenv("FAULTLINE_TEST");
        printf("env=%s\n", v ? v : "(unset)");
        unsigned char *r = (unsigned char *)getauxval(AT_RANDOM);
        printf("pagesz=%lu random=%d entry_set=%d phdr_set=%d uid=%lu secure=%lu\n", getauxval(AT_PAGESZ), r != NULL,
               getauxval(AT_ENTRY) != 0, getauxval(AT_PHDR) != 0, getauxval(AT_UID), getauxval(AT_SECURE));
        printf("sp_aligned=%d\n", ((uintptr_t)__builtin_frame_address(0) & 0xf) == 0);
        return 0;
    }
    if (!strcmp(m, "raise")) {
        raise(SIGCHLD);
        printf("raise: still here after SIGCHLD\n");
        fflush(stdout);
        abort();
    }
    if (!strcmp(m, "strlit")) {
        char *s = "string literal";
        s[0] = 'S';
        return 0;
    }
    if (!strcmp(m, "null"))
        return *(volatile int *)(uintptr_t)(argc - 2);
    if (!strcmp(m, "recurse"))
        return (int)recurse(0);
    return 2;
}
