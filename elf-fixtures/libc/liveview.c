/* Something to watch: runs for about MS milliseconds, writing MIB MiB of
 * fresh memory in 25 steps over that time; with a third argument N, first
 * forks N children, child i writing (i + 1) MiB and exiting, all reaped
 * before the end.
 *
 * Usage: liveview MS MIB [N]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096L

static void touch(long pages)
{
    char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        exit(1);
    for (long i = 0; i < pages; i++)
        p[i * PAGE] = 1;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    long ms = atol(argv[1]), mib = atol(argv[2]), n = argc > 3 ? atol(argv[3]) : 0;
    for (long i = 0; i < n; i++) {
        pid_t c = fork();
        if (c == 0) {
            touch((i + 1) * 256);
            _exit(0);
        }
    }
    for (long i = 0; i < n; i++)
        wait(NULL);
    struct timespec step = {(ms / 25) / 1000, (ms / 25) % 1000 * 1000000L};
    for (int s = 0; s < 25; s++) {
        touch(mib * 256 / 25);
        nanosleep(&step, NULL);
    }
    printf("done\n");
    return 0;
}
