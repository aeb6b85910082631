/*
 * Memory pressure and pinning experiments. stdout carries facts only
 * (counts, checksums, errnos), no addresses; addresses a test needs go to
 * stderr.
 *
 *   pressure workset MB           fill MB MiB with a pattern, verify it twice
 *   pressure hotcold HOT COLD K   stream through COLD MiB once, touching all
 *                                 HOT pages after every K cold pages
 *   pressure testA | testB        malloc(1 MiB); then touch nothing (A) or mlock it (B)
 *   pressure populate             mmap 64 pages with MAP_POPULATE
 *   pressure future               mlockall(MCL_CURRENT|MCL_FUTURE), then malloc(1 MiB)
 *   pressure onfault              mlock2(MLOCK_ONFAULT) 64 pages, touch 5
 *   pressure memlock              mlock beyond RLIMIT_MEMLOCK, then with a zero limit
 *   pressure vmlck                mlock 1 MiB and print VmLck from /proc/self/status
 *   pressure pinned MB            mlockall(MCL_CURRENT|MCL_FUTURE), then fill MB MiB
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fixture.h"



static int workset(long mb)
{
    size_t words = (size_t)mb * 1024 * 1024 / sizeof(uint64_t);
    uint64_t *a = malloc(words * sizeof(uint64_t));
    if (!a)
        return 3;
    for (size_t i = 0; i < words; i++)
        a[i] = i * 0x9e3779b97f4a7c15ULL;
    uint64_t sum = 0;
    long bad = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < words; i++) {
            if (a[i] != i * 0x9e3779b97f4a7c15ULL)
                bad++;
            sum += a[i] >> 7;
        }
    printf("workset: mb=%ld bad=%ld sum=%016llx\n", mb, bad, (unsigned long long)sum);
    return bad != 0;
}

static int hotcold(long hot, long cold_mb, long k)
{
    volatile char *h = mmap(NULL, hot * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    long cold = cold_mb * 256;
    volatile char *c = mmap(NULL, cold * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fprintf(stderr, "hot=%#lx cold=%#lx\n", (unsigned long)h, (unsigned long)c);
    for (long i = 0; i < cold; i++) {
        c[i * PAGE] = (char)i;
        if (i % k == 0)
            for (long j = 0; j < hot; j++)
                h[j * PAGE] += 1;
    }
    printf("hotcold: hot=%ld cold_pages=%ld hot_resident=%ld\n", hot, cold, resident((void *)h, hot * PAGE));
    return 0;
}

static int testab(int lock)
{
    size_t len = 1024 * 1024;
    char *p = malloc(len);
    int r = lock ? mlock(p, len) : 0;
    fprintf(stderr, "alloc=%#lx\n", (unsigned long)p);
    printf("test%c: mlock=%d resident_before_touch=%ld of %ld\n", lock ? 'B' : 'A', r, resident(p, len),
           (long)((((uintptr_t)p + len + PAGE - 1) & ~(PAGE - 1)) - ((uintptr_t)p & ~(PAGE - 1))) / (long)PAGE);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *m = argv[1];
    if (!strcmp(m, "workset") && argc > 2)
        return workset(atol(argv[2]));
    if (!strcmp(m, "hotcold") && argc > 4)
        return hotcold(atol(argv[2]), atol(argv[3]), atol(argv[4]));
    if (!strcmp(m, "testA"))
        return testab(0);
    if (!strcmp(m, "testB"))
        return testab(1);
    if (!strcmp(m, "populate")) {
        char *p = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        fprintf(stderr, "map=%#lx\n", (unsigned long)p);
        printf("populate: resident=%ld of 64\n", resident(p, 64 * PAGE));
        return 0;
    }
    if (!strcmp(m, "future")) {
        int r = mlockall(MCL_CURRENT | MCL_FUTURE);
        char *p = malloc(1024 * 1024);
        fprintf(stderr, "alloc=%#lx\n", (unsigned long)p);
        printf("future: mlockall=%d resident=%ld of 257\n", r, resident(p, 1024 * 1024));
        return 0;
    }
    if (!strcmp(m, "onfault")) {
        char *p = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        long r = syscall(SYS_mlock2, p, 64 * PAGE, 1 /* MLOCK_ONFAULT */);
        for (int i = 0; i < 5; i++)
            p[i * PAGE] = 1;
        fprintf(stderr, "map=%#lx\n", (unsigned long)p);
        printf("onfault: mlock2=%ld resident=%ld of 64\n", r, resident(p, 64 * PAGE));
        return 0;
    }
    if (!strcmp(m, "memlock")) {
        size_t big = 9 << 20;
        char *p = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int r1 = mlock(p, big);
        int e1 = r1 ? errno : 0;
        int r2 = mlock(p, 1 << 20);
        munlock(p, 1 << 20);
        char *q = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
        int e3 = q == MAP_FAILED ? errno : 0;
        /* A locked mapping may not grow past the limit with mremap. */
        char *l = mmap(NULL, 2000 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
        char *g = l == MAP_FAILED ? MAP_FAILED : mremap(l, 2000 * PAGE, 2100 * PAGE, MREMAP_MAYMOVE);
        int e5 = g == MAP_FAILED ? errno : 0;
        if (l != MAP_FAILED)
            munmap(l, 2000 * PAGE);
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_MEMLOCK, &rl);
        int r4 = mlock(p, PAGE);
        int e4 = r4 ? errno : 0;
        printf("memlock: over_limit=%s small=%d map_locked_over=%s mremap_over=%s zero_limit=%s\n",
               e1 == ENOMEM ? "ENOMEM" : "?", r2, e3 == EAGAIN ? "EAGAIN" : "?", e5 == EAGAIN ? "EAGAIN" : "?",
               e4 == EPERM ? "EPERM" : "?");
        return 0;
    }
    if (!strcmp(m, "vmlck")) {
        char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        mlock(p, 1 << 20);
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "VmLck:", 6))
                fputs(line, stdout);
        return 0;
    }
    if (!strcmp(m, "pinned") && argc > 2) {
        mlockall(MCL_CURRENT | MCL_FUTURE);
        return workset(atol(argv[2]));
    }
    return 2;
}
