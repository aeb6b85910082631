/* A program that counts its own page faults, as getrusage(2) and
 * /proc/self/stat report them, around reads of fresh anonymous memory (the
 * zero page), writes after those reads (copy-on-write of the zero page)
 * and writes to fresh pages, and writes after reads whose mappings an
 * mprotect round trip changed (still copies of the zero page). Usage: faults
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define PAGE 4096
#define N 16

static long minflt(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

/* Field 10 of /proc/self/stat (minflt), read without stdio. */
static long stat_minflt(void)
{
    static char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 10; field++)
        p = strchr(p + 1, ' ');
    return p ? strtol(p + 1, NULL, 10) : -1;
}

int main(void)
{
    volatile char b[65536];
    for (size_t i = 0; i < sizeof b; i += PAGE)
        b[i] = 0; /* stack grown in advance */
    char *p = mmap(NULL, 3 * N * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    madvise(p, 3 * N * PAGE, MADV_NOHUGEPAGE);
    minflt();
    stat_minflt(); /* warm up both paths */
    long r0 = minflt(), s0 = stat_minflt();
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += ((volatile char *)p)[i * PAGE];
    long r1 = minflt(), s1 = stat_minflt();
    for (int i = 0; i < N; i++)
        p[i * PAGE] = 1;
    long r2 = minflt(), s2 = stat_minflt();
    for (int i = N; i < 2 * N; i++)
        p[i * PAGE] = 1;
    long r3 = minflt(), s3 = stat_minflt();
    char *q = p + 2 * N * PAGE;
    for (int i = 0; i < N; i++)
        sum += ((volatile char *)q)[i * PAGE];
    mprotect(q, N * PAGE, PROT_READ);
    mprotect(q, N * PAGE, PROT_READ | PROT_WRITE);
    long r4 = minflt(), s4 = stat_minflt();
    for (int i = 0; i < N; i++)
        q[i * PAGE] = 1;
    long r5 = minflt(), s5 = stat_minflt();
    printf("read %d fresh pages: getrusage +%ld, stat +%ld (sum %ld)\n", N, r1 - r0, s1 - s0, sum);
    printf("write after read: getrusage +%ld, stat +%ld\n", r2 - r1, s2 - s1);
    printf("write %d fresh pages: getrusage +%ld, stat +%ld\n", N, r3 - r2, s3 - s2);
    printf("read, mprotect twice: getrusage +%ld, stat +%ld (sum %ld)\n", r4 - r3, s4 - s3, sum);
    printf("then write: getrusage +%ld, stat +%ld\n", r5 - r4, s5 - s4);
    return 0;
}
