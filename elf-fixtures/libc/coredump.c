/* A core dump to read back: coredump LIMIT DIR [PATTERN]
 * In DIR, a child sets RLIMIT_CORE to LIMIT (-1: unlimited), fills two
 * pages of an anonymous mapping with a known text, puts a secret in
 * another it marks MADV_DONTDUMP, prints where both are, and aborts. The
 * parent says how it ended. With PATTERN, kernel.core_pattern is set to it
 * first (root only: the tests pass one to faultline alone, never natively). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096UL
#define TEXT "faultline-core-pattern!"

int main(int argc, char **argv)
{
    if (argc < 3)
        return fprintf(stderr, "usage: coredump LIMIT DIR [PATTERN]\n"), 2;
    if (chdir(argv[2]))
        return perror("chdir"), 1;
    if (argc > 3) {
        int fd = open("/proc/sys/kernel/core_pattern", O_WRONLY);
        if (fd < 0 || write(fd, argv[3], strlen(argv[3])) < 0)
            return perror("core_pattern"), 1;
        close(fd);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {.rlim_cur = strtoul(argv[1], NULL, 0), .rlim_max = RLIM_INFINITY};
        if (setrlimit(RLIMIT_CORE, &rl))
            return perror("setrlimit"), 1;
        char *a = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        char *b = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (a == MAP_FAILED || b == MAP_FAILED)
            return perror("mmap"), 1;
        for (size_t i = 0; i < 2 * PAGE; i++)
            a[i] = TEXT[i % (sizeof(TEXT) - 1)];
        strcpy(b, "faultline-secret");
        if (madvise(b, PAGE, MADV_DONTDUMP))
            return perror("madvise"), 1;
        printf("child %d a=%p b=%p\n", getpid(), (void *)a, (void *)b);
        fflush(stdout);
        abort();
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return perror("waitpid"), 1;
    printf("signaled %d sig %d core %d\n", WIFSIGNALED(st), WTERMSIG(st), !!WCOREDUMP(st));
    return 0;
}
