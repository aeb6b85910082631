/* Process and futex corners the Linux Test Project found handled unlike
 * Linux (issue 27): corners MODE
 *   intmin      waitpid and kill of INT_MIN (no group -INT_MIN: ESRCH)
 *   emptyargv   execve with argv NULL, and with argv {NULL}: the new
 *               program gets argc 1 and argv[0] ""
 *   futex       requeue with negative counts; shared futex words that
 *               are unmapped or PROT_NONE (EFAULT); a private one is not
 *               looked at */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* futex.h's operations (musl has no kernel headers). */
#define FUTEX_WAKE 1
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | 128)

static const char *errname(int e)
{
    switch (e) {
    case ESRCH: return "ESRCH";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EAGAIN: return "EAGAIN";
    case ECHILD: return "ECHILD";
    default: return strerror(e);
    }
}

static void show(const char *what, long r)
{
    printf("%s: %ld %s\n", what, r, r < 0 ? errname(errno) : "");
}

static int intmin(void)
{
    show("waitpid(INT_MIN)", waitpid(INT_MIN, NULL, 0));
    show("kill(INT_MIN, 0)", kill(INT_MIN, 0));
    show("kill(INT_MIN, SIGUSR1)", kill(INT_MIN, SIGUSR1));
    return 0;
}

static int emptyargv(void)
{
    char *none[] = {NULL};
    char *env[] = {"CORNERS_CHILD=1", NULL};
    for (int how = 0; how < 2; how++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            syscall(SYS_execve, "/proc/self/exe", how ? none : NULL, env);
            printf("execve: %s\n", strerror(errno));
            fflush(stdout);
            _exit(1);
        }
        int st;
        waitpid(pid, &st, 0);
    }
    return 0;
}

static long futex(uint32_t *a, int op, uint32_t val, long val2, uint32_t *b, uint32_t val3)
{
    return syscall(SYS_futex, a, op, val, val2, b, val3);
}

static int futexes(void)
{
    static uint32_t w[2];
    long page = sysconf(_SC_PAGESIZE);
    uint32_t *none = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint32_t *gone = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gone, page);
    show("cmp_requeue nr_wake -1", futex(&w[0], FUTEX_CMP_REQUEUE, -1, 1, &w[1], 0));
    show("cmp_requeue nr_requeue -1", futex(&w[0], FUTEX_CMP_REQUEUE, 1, -1, &w[1], 0));
    show("cmp_requeue uaddr2 unmapped", futex(&w[0], FUTEX_CMP_REQUEUE, 1, 1, gone, 0));
    show("cmp_requeue uaddr2 PROT_NONE", futex(&w[0], FUTEX_CMP_REQUEUE, 1, 1, none, 0));
    show("cmp_requeue bad value", futex(&w[0], FUTEX_CMP_REQUEUE, 1, 1, &w[1], 5));
    show("wake unmapped", futex(gone, FUTEX_WAKE, 1, 0, NULL, 0));
    show("wake PROT_NONE", futex(none, FUTEX_WAKE, 1, 0, NULL, 0));
    show("wake private unmapped", futex(gone, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0));
    show("wake misaligned", futex((uint32_t *)((char *)&w[0] + 1), FUTEX_WAKE, 1, 0, NULL, 0));
    show("wake kernel address", futex((uint32_t *)0xffff800000000000ul, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0));
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (getenv("CORNERS_CHILD")) {
        printf("child: argc %d argv[0] \"%s\"\n", argc, argc > 0 ? argv[0] : "(none)");
        return 0;
    }
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "intmin"))
        return intmin();
    if (!strcmp(m, "emptyargv"))
        return emptyargv();
    if (!strcmp(m, "futex"))
        return futexes();
    fprintf(stderr, "usage: corners MODE\n");
    return 2;
}
