/* The native baseline: a static glibc program, cross-built with Debian's
 * aarch64-linux-gnu-gcc and run directly on the emulated machine's Linux,
 * as the arm64 tests will run each fixture before running it under
 * faultline. Prints what faultline will have to reproduce on arm64 (the
 * auxv's AT_HWCAP/AT_HWCAP2, TLS in TPIDR_EL0, the page size) and the
 * cost of a first-touch page fault here. */
#include <gnu/libc-version.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static __thread int tls_var = 42;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(void) {
    struct utsname u;
    uname(&u);
    printf("native: %s %s, static glibc %s\n", u.sysname, u.machine, gnu_get_libc_version());
    long page = sysconf(_SC_PAGESIZE);
    printf("native page_size: %ld\n", page);
    printf("native AT_HWCAP: %#lx AT_HWCAP2: %#lx AT_PAGESZ: %lu\n", getauxval(AT_HWCAP),
           getauxval(AT_HWCAP2), getauxval(AT_PAGESZ));
    uint64_t tpidr;
    __asm__ volatile("mrs %0, tpidr_el0" : "=r"(tpidr));
    printf("native TPIDR_EL0 set: %s, tls_var %d\n", tpidr ? "yes" : "no", tls_var);

    /* First-touch faults on anonymous memory, as the kernel serves them. */
    const int pages = 4096;
    char *p = mmap(NULL, (size_t)pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    double t0 = now_us();
    for (int i = 0; i < pages; i++) p[(size_t)i * page] = (char)i;
    double t1 = now_us();
    printf("native first_touch_fault_us: %.2f (%d pages)\n", (t1 - t0) / pages, pages);

    /* fork and copy-on-write, with the child's status. */
    pid_t pid = fork();
    if (pid == 0) {
        p[0] = 99;
        _exit(p[0] == 99 && p[page] == 1 ? 7 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("native fork: child exit %d, parent's page kept %d\n", WEXITSTATUS(status), p[0]);
    return WEXITSTATUS(status) == 7 && p[0] == 0 ? 0 : 1;
}
