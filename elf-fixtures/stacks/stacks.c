/* Known call paths for the call-stack tests: main -> build -> fill writes
 * N fresh pages (N zero-fill faults in fill); then a forked child's
 * main -> dirty writes the first M of them (M cow faults in dirty), while
 * the parent waits. Usage: stacks [N [M]] (default 256 8).
 *
 * noipa keeps each function whole and named (no inlining, cloning or
 * tail calls): the stacks are exactly the source's. */
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096L

__attribute__((noipa)) void fill(volatile char *p, long n)
{
    for (long i = 0; i < n; i++)
        p[i * PAGE] = 1;
}

__attribute__((noipa)) char *build(long n)
{
    char *p = mmap(0, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        exit(2);
    fill(p, n);
    return p;
}

__attribute__((noipa)) void dirty(volatile char *p, long m)
{
    for (long i = 0; i < m; i++)
        p[i * PAGE] = 2;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 256;
    long m = argc > 2 ? atol(argv[2]) : 8;
    char *p = build(n);
    pid_t child = fork();
    if (child < 0)
        return 3;
    if (child == 0) {
        dirty(p, m);
        _exit(0);
    }
    int status;
    if (waitpid(child, &status, 0) != child)
        return 4;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
