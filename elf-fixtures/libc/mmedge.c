/*
 * Memory-syscall edge cases, checked against Linux itself: each line is
 * `case=result`, where result is a return value class or -errno, never an
 * address. The test runs this natively and in faultline and compares.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096L
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)

static long sys(long n, long a, long b, long c, long d, long e, long f)
{
    long r = syscall(n, a, b, c, d, e, f);
    return r == -1 ? -errno : r;
}

/* Prints r as "ok" for an address or 0, or as -errno. */
static void show(const char *name, long r)
{
    if (r < 0 && r > -4096)
        printf("%s=%ld\n", name, r);
    else
        printf("%s=ok\n", name);
}

/* Permissions of the /proc/self/maps line holding p. */
static const char *perms_of(void *p)
{
    static char perms[5];
    char line[512];
    FILE *f = fopen("/proc/self/maps", "r");
    strcpy(perms, "?");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx %4s", &a, &b, perms) == 3 && a <= (unsigned long)p && (unsigned long)p < b)
            break;
        strcpy(perms, "?");
    }
    if (f)
        fclose(f);
    return perms;
}

static long vmlck_kb(void)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmLck:", 6))
            sscanf(line + 6, "%ld", &v);
    if (f)
        fclose(f);
    return v;
}

static void *map(long len, int prot)
{
    return mmap(NULL, len, prot, ANON, -1, 0);
}

int main(void)
{
    /* mmap argument checks */
    show("mmap_len0", sys(SYS_mmap, 0, 0, PROT_READ, ANON, -1, 0));
    show("mmap_huge", sys(SYS_mmap, 0, 1L << 62, PROT_READ, ANON, -1, 0));
    show("mmap_len_wraps", sys(SYS_mmap, 0, -4096L, PROT_READ, ANON, -1, 0));
    show("mmap_unaligned_off", sys(SYS_mmap, 0, PAGE, PROT_READ, ANON, -1, 1));
    show("mmap_no_type", sys(SYS_mmap, 0, PAGE, PROT_READ, MAP_ANONYMOUS, -1, 0));
    show("mmap_bad_fd", sys(SYS_mmap, 0, PAGE, PROT_READ, MAP_PRIVATE, 99, 0));
    show("mmap_fixed_unaligned", sys(SYS_mmap, 0x700000001000L + 5, PAGE, PROT_READ, ANON | MAP_FIXED, -1, 0));
    show("mmap_fixed_above_user", sys(SYS_mmap, 0x7ffffffff000L, 2 * PAGE, PROT_READ, ANON | MAP_FIXED, -1, 0));
    show("mmap_unknown_prot_ignored", sys(SYS_mmap, 0, PAGE, PROT_READ | 0x10, ANON, -1, 0));
    show("mmap_unknown_flag_ignored", sys(SYS_mmap, 0, PAGE, PROT_READ, ANON | 0x800000, -1, 0));
    show("mmap_validate_anon", sys(SYS_mmap, 0, PAGE, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0));
    show("mmap_validate_unknown", sys(SYS_mmap, 0, PAGE, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | 0x800000, -1, 0));

    /* MAP_FIXED replaces, MAP_FIXED_NOREPLACE refuses */
    char *a = map(4 * PAGE, PROT_READ | PROT_WRITE);
    memset(a, 7, 4 * PAGE);
    show("noreplace_over_mapping", sys(SYS_mmap, (long)(a + PAGE), PAGE, PROT_READ, ANON | MAP_FIXED_NOREPLACE, -1, 0));
    char *f = mmap(a + PAGE, PAGE, PROT_READ | PROT_WRITE, ANON | MAP_FIXED, -1, 0);
    printf("fixed_at_requested=%d fixed_zeroed=%d neighbour_kept=%d\n", f == a + PAGE, f[0] == 0, a[0] == 7 && a[2 * PAGE] == 7);
    long hint = sys(SYS_mmap, (long)(a + PAGE), PAGE, PROT_READ, ANON, -1, 0);
    printf("hint_taken_elsewhere=%d\n", hint != (long)(a + PAGE));

    /* munmap */
    show("munmap_unaligned", sys(SYS_munmap, (long)a + 1, PAGE, 0, 0, 0, 0));
    show("munmap_len0", sys(SYS_munmap, (long)a, 0, 0, 0, 0, 0));
    show("munmap_wraps", sys(SYS_munmap, (long)a, -4096L, 0, 0, 0, 0));
    show("munmap_middle", sys(SYS_munmap, (long)(a + PAGE), PAGE, 0, 0, 0, 0));
    show("munmap_hole_again", sys(SYS_munmap, (long)(a + PAGE), PAGE, 0, 0, 0, 0));
    unsigned char vec[8];
    show("mincore_over_hole", sys(SYS_mincore, (long)a, 4 * PAGE, (long)vec, 0, 0, 0));

    /* mprotect */
    char *b = map(4 * PAGE, PROT_READ | PROT_WRITE);
    strcpy(b + PAGE, "kept across PROT_NONE");
    show("mprotect_unaligned", sys(SYS_mprotect, (long)b + 1, PAGE, PROT_READ, 0, 0, 0));
    show("mprotect_len0", sys(SYS_mprotect, (long)b, 0, PROT_READ, 0, 0, 0));
    show("mprotect_bad_prot", sys(SYS_mprotect, (long)b, PAGE, 0x40, 0, 0, 0));
    show("mprotect_both_grows", sys(SYS_mprotect, (long)b, PAGE, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP, 0, 0, 0));
    show("mprotect_unmapped", sys(SYS_mprotect, (long)(a + PAGE), PAGE, PROT_READ, 0, 0, 0));
    show("mprotect_none", sys(SYS_mprotect, (long)(b + PAGE), PAGE, PROT_NONE, 0, 0, 0));
    show("write_from_prot_none", sys(SYS_write, 1, (long)(b + PAGE), 4, 0, 0, 0));
    show("mprotect_back", sys(SYS_mprotect, (long)(b + PAGE), PAGE, PROT_READ, 0, 0, 0));
    printf("data_after_prot_none=%d\n", strcmp(b + PAGE, "kept across PROT_NONE") == 0);
    show("read_into_readonly", sys(SYS_read, 0, (long)(b + PAGE), 4, 0, 0, 0));

    /* madvise and mincore */
    char *c = map(8 * PAGE, PROT_READ | PROT_WRITE);
    for (int i = 0; i < 8; i += 2)
        c[i * PAGE] = 1;
    sys(SYS_mincore, (long)c, 8 * PAGE, (long)vec, 0, 0, 0);
    printf("mincore_pattern=%d%d%d%d%d%d%d%d\n", vec[0] & 1, vec[1] & 1, vec[2] & 1, vec[3] & 1, vec[4] & 1, vec[5] & 1,
           vec[6] & 1, vec[7] & 1);
    show("madvise_dontneed", sys(SYS_madvise, (long)c, 8 * PAGE, MADV_DONTNEED, 0, 0, 0));
    sys(SYS_mincore, (long)c, 8 * PAGE, (long)vec, 0, 0, 0);
    printf("after_dontneed=%d%d%d%d%d%d%d%d zero=%d\n", vec[0] & 1, vec[1] & 1, vec[2] & 1, vec[3] & 1, vec[4] & 1,
           vec[5] & 1, vec[6] & 1, vec[7] & 1, c[0] == 0);
    show("madvise_bad_advice", sys(SYS_madvise, (long)c, PAGE, 999, 0, 0, 0));
    show("madvise_unaligned", sys(SYS_madvise, (long)c + 1, PAGE, MADV_DONTNEED, 0, 0, 0));
    show("madvise_hole", sys(SYS_madvise, (long)a, 4 * PAGE, MADV_NORMAL, 0, 0, 0));
    show("madvise_len0", sys(SYS_madvise, (long)c, 0, MADV_DONTNEED, 0, 0, 0));
    show("mincore_unaligned", sys(SYS_mincore, (long)c + 1, PAGE, (long)vec, 0, 0, 0));
    show("mincore_bad_vec", sys(SYS_mincore, (long)c, PAGE, 16, 0, 0, 0));

    /* mremap */
    char *d = map(2 * PAGE, PROT_READ | PROT_WRITE);
    strcpy(d, "moves with its pages");
    show("mremap_bad_flags", sys(SYS_mremap, (long)d, 2 * PAGE, 4 * PAGE, 0x100, 0, 0));
    show("mremap_fixed_without_maymove", sys(SYS_mremap, (long)d, 2 * PAGE, 4 * PAGE, MREMAP_FIXED, 0x600000000000L, 0));
    show("mremap_unaligned", sys(SYS_mremap, (long)d + 1, PAGE, 2 * PAGE, 0, 0, 0));
    show("mremap_new_len0", sys(SYS_mremap, (long)d, PAGE, 0, 0, 0, 0));
    show("mremap_unmapped", sys(SYS_mremap, (long)(a + PAGE), PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0, 0));
    long shrunk = sys(SYS_mremap, (long)d, 2 * PAGE, PAGE, 0, 0, 0);
    printf("mremap_shrink_in_place=%d\n", shrunk == (long)d);
    char *e = mremap(d, PAGE, 64 * PAGE, MREMAP_MAYMOVE);
    printf("mremap_grow=%d content_kept=%d\n", e != MAP_FAILED, e != MAP_FAILED && strcmp(e, "moves with its pages") == 0);
    char *g = mremap(e, 64 * PAGE, 64 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0x600000000000L);
    printf("mremap_fixed=%d content_kept=%d\n", g == (void *)0x600000000000L, g != MAP_FAILED && strcmp(g, "moves with its pages") == 0);
    show("old_range_gone", sys(SYS_madvise, (long)e, PAGE, MADV_NORMAL, 0, 0, 0));

    /* msync */
    show("msync_ok", sys(SYS_msync, (long)g, PAGE, MS_SYNC, 0, 0, 0));
    show("msync_unaligned", sys(SYS_msync, (long)g + 1, PAGE, MS_SYNC, 0, 0, 0));
    show("msync_both", sys(SYS_msync, (long)g, PAGE, MS_SYNC | MS_ASYNC, 0, 0, 0));
    show("msync_bad_flags", sys(SYS_msync, (long)g, PAGE, 0x100, 0, 0, 0));
    show("msync_hole", sys(SYS_msync, (long)(a + PAGE), PAGE, MS_SYNC, 0, 0, 0));

    /* brk */
    long cur = sys(SYS_brk, 0, 0, 0, 0, 0, 0);
    printf("brk_below_start_keeps=%d\n", sys(SYS_brk, 0x1000, 0, 0, 0, 0, 0) == cur);
    printf("brk_grow=%d\n", sys(SYS_brk, cur + 3 * PAGE + 5, 0, 0, 0, 0, 0) == cur + 3 * PAGE + 5);
    printf("brk_shrink=%d\n", sys(SYS_brk, cur, 0, 0, 0, 0, 0) == cur);
    printf("brk_huge_keeps=%d\n", sys(SYS_brk, 0x7fffffffffffL, 0, 0, 0, 0, 0) == cur);

    /* VMA-by-VMA operations stop at the first hole, keeping what they did */
    char *h = map(4 * PAGE, PROT_READ | PROT_WRITE);
    munmap(h + 2 * PAGE, PAGE);
    show("mprotect_over_hole", sys(SYS_mprotect, (long)h, 4 * PAGE, PROT_READ, 0, 0, 0));
    printf("prefix_protected=%s\n", perms_of(h));
    show("mlock_over_hole", sys(SYS_mlock, (long)h, 4 * PAGE, 0, 0, 0, 0));
    printf("prefix_locked_kb=%ld\n", vmlck_kb());
    show("munlock_over_hole", sys(SYS_munlock, (long)h, 4 * PAGE, 0, 0, 0, 0));
    printf("unlocked_kb=%ld\n", vmlck_kb());

    /* MADV_POPULATE_* refuse what the access may not touch */
    char *ro = map(PAGE, PROT_READ);
    char *none = map(PAGE, PROT_NONE);
    show("mlock_prot_none", sys(SYS_mlock, (long)none, PAGE, 0, 0, 0, 0));
    munlock(none, PAGE);
    show("populate_write_readonly", sys(SYS_madvise, (long)ro, PAGE, 23, 0, 0, 0));
    show("populate_read_prot_none", sys(SYS_madvise, (long)none, PAGE, 22, 0, 0, 0));

    /* a grows-down mapping grows past an inaccessible neighbour */
    char *gap = mmap((void *)0x500000000000L, PAGE, PROT_NONE, ANON | MAP_FIXED, -1, 0);
    char *gd = mmap((void *)0x500000008000L, PAGE, PROT_READ | PROT_WRITE, ANON | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
    gd[-PAGE] = 1;
    printf("grew_past_prot_none=%d\n", gap != MAP_FAILED && gd != MAP_FAILED && gd[-PAGE] == 1);

    /* a locked mapping moved and grown with MREMAP_FIXED stays populated */
    char *lk = map(4 * PAGE, PROT_READ | PROT_WRITE);
    mlock(lk, 4 * PAGE);
    char *mv = mremap(lk, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0x600000100000L);
    sys(SYS_mincore, (long)mv, 8 * PAGE, (long)vec, 0, 0, 0);
    printf("locked_fixed_tail=%d%d%d%d%d%d%d%d\n", vec[0] & 1, vec[1] & 1, vec[2] & 1, vec[3] & 1, vec[4] & 1,
           vec[5] & 1, vec[6] & 1, vec[7] & 1);
    munlockall();

    /* bad pointers and lengths elsewhere */
    show("write_null", sys(SYS_write, 1, 0, 10, 0, 0, 0));
    show("write_kernel", sys(SYS_write, 1, (long)0xffffffff81000000UL, 10, 0, 0, 0));
    show("writev_too_many", sys(SYS_writev, 1, (long)vec, 1025, 0, 0, 0));
    show("writev_bad_iov", sys(SYS_writev, 1, 16, 1, 0, 0, 0));
    show("clock_gettime_bad", sys(SYS_clock_gettime, 1, 16, 0, 0, 0, 0));
    show("clock_gettime_bad_clock", sys(SYS_clock_gettime, 99, (long)vec, 0, 0, 0, 0));
    show("uname_bad", sys(SYS_uname, 16, 0, 0, 0, 0, 0));
    show("getrandom_bad_flags", sys(SYS_getrandom, (long)vec, 8, 0x40, 0, 0, 0));
    show("prlimit_bad_resource", sys(SYS_prlimit64, 0, 99, 0, (long)vec, 0, 0));
#ifdef SYS_arch_prctl
    show("arch_prctl_bad", sys(SYS_arch_prctl, 0x9999, 0, 0, 0, 0, 0));
#endif
    show("rt_sigaction_kill", sys(SYS_rt_sigaction, 9, (long)vec, 0, 8, 0, 0));
    show("rt_sigaction_bad_size", sys(SYS_rt_sigaction, 10, 0, 0, 4, 0, 0));
    show("open_missing", sys(SYS_openat, AT_FDCWD, (long)"/no/such/file", 0, 0, 0, 0));
    show("close_bad", sys(SYS_close, 77, 0, 0, 0, 0, 0));
#ifdef SYS_readlink
    show("readlink_len0", sys(SYS_readlink, (long)"/proc/self/exe", (long)vec, 0, 0, 0, 0));
#else /* aarch64 has only readlinkat */
    show("readlink_len0", sys(SYS_readlinkat, AT_FDCWD, (long)"/proc/self/exe", (long)vec, 0, 0, 0));
#endif
    return 0;
}
