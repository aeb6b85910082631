/* Files and their mappings: one file mapped shared and private, written
 * through one and read through the other and through read(); msync; a
 * touch past the end of file (SIGBUS, in a handler and in a child);
 * create, rename and delete in a directory; memfd. Prints what it sees;
 * run natively and under faultline, the output must be the same.
 *
 * Usage: filemap DIR (a writable directory, e.g. /tmp). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096

static sigjmp_buf jb;
static volatile int bus_code;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    bus_code = si->si_code;
    siglongjmp(jb, 1);
}

static const char *err(int r)
{
    static char b[32];
    if (r >= 0)
        return "ok";
    snprintf(b, sizeof b, "errno %d", errno);
    return b;
}

static void pread_show(int fd, off_t at, const char *what)
{
    char c[4] = {0};
    ssize_t n = pread(fd, c, 3, at);
    printf("%s: read %zd '%s'\n", what, n, c);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char base[256], path[300], path2[300];
    snprintf(base, sizeof base, "%s/filemap.XXXXXX", dir);
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/data", base);
    snprintf(path2, sizeof path2, "%s/renamed", base);

    /* Three pages written with write(). */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    printf("create: %s\n", err(fd));
    char page[PAGE];
    for (int i = 0; i < 3; i++) {
        memset(page, 'a' + i, PAGE);
        if (write(fd, page, PAGE) != PAGE)
            return 2;
    }
    struct stat st;
    fstat(fd, &st);
    printf("size %lld mode %o\n", (long long)st.st_size, st.st_mode & 07777);

    char *sh = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *pr = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (sh == MAP_FAILED || pr == MAP_FAILED)
        return 3;
    printf("shared %c%c%c private %c%c%c\n", sh[0], sh[PAGE], sh[2 * PAGE], pr[0], pr[PAGE], pr[2 * PAGE]);

    /* A shared write: read() and the private mapping (not yet copied) see it. */
    memcpy(sh, "XYZ", 3);
    pread_show(fd, 0, "after shared write");
    printf("private sees %.3s\n", pr);
    /* A private write: copy-on-write; the file and shared mapping do not see it. */
    memcpy(pr + PAGE, "pqr", 3);
    pread_show(fd, PAGE, "after private write");
    printf("shared sees %.3s private %.3s\n", sh + PAGE, pr + PAGE);
    /* Later changes to the file do not reach the private copy. */
    if (pwrite(fd, "JKL", 3, PAGE) != 3)
        return 4;
    printf("after pwrite: shared %.3s private %.3s\n", sh + PAGE, pr + PAGE);
    /* write() is seen by both mappings of a page not privately copied. */
    if (pwrite(fd, "mno", 3, 2 * PAGE) != 3)
        return 5;
    printf("page 2: shared %.3s private %.3s\n", sh + 2 * PAGE, pr + 2 * PAGE);

    printf("msync sync: %s\n", err(msync(sh, 3 * PAGE, MS_SYNC)));
    printf("msync async: %s\n", err(msync(sh, PAGE, MS_ASYNC)));
    printf("msync both: %s\n", err(msync(sh, PAGE, MS_SYNC | MS_ASYNC)));
    printf("msync unaligned: %s\n", err(msync(sh + 1, PAGE, MS_SYNC)));

    /* Errors of mmap. */
    int ro = open(path, O_RDONLY);
    void *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
    printf("shared writable of O_RDONLY: %s\n", err(m == MAP_FAILED ? -1 : 0));
    m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
    printf("private writable of O_RDONLY: %s\n", err(m == MAP_FAILED ? -1 : 0));
    int p[2];
    pipe(p);
    m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, p[0], 0);
    printf("pipe: %s\n", err(m == MAP_FAILED ? -1 : 0));
    m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, 999, 0);
    printf("bad fd: %s\n", err(m == MAP_FAILED ? -1 : 0));

    /* Shrink to one page and a half: page 2 is wholly past the end. */
    printf("ftruncate: %s\n", err(ftruncate(fd, PAGE + PAGE / 2)));
    fstat(fd, &st);
    printf("size %lld\n", (long long)st.st_size);
    printf("tail of page 1 reads %d\n", sh[PAGE + PAGE / 2 + 1]);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    if (sigsetjmp(jb, 1) == 0) {
        volatile char c = sh[2 * PAGE];
        (void)c;
        printf("no SIGBUS\n");
    } else {
        printf("SIGBUS code %d (BUS_ADRERR %d)\n", bus_code, BUS_ADRERR);
    }
    pid_t child = fork();
    if (child == 0) {
        signal(SIGBUS, SIG_DFL);
        pr[2 * PAGE] = 1;
        _exit(0);
    }
    int ws;
    waitpid(child, &ws, 0);
    printf("child: signaled %d sig %d\n", WIFSIGNALED(ws), WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    /* Growing again reads zeroes, not the old bytes. */
    ftruncate(fd, 3 * PAGE);
    pread_show(fd, 2 * PAGE, "grown page 2");
    printf("grown tail %d\n", sh[PAGE + PAGE / 2 + 1]);
    munmap(sh, 3 * PAGE);
    munmap(pr, 3 * PAGE);
    close(fd);
    close(ro);

    /* Names: rename, link, unlink, rmdir. */
    printf("rename: %s\n", err(rename(path, path2)));
    printf("old gone: %s\n", err(access(path, F_OK)));
    printf("link: %s\n", err(link(path2, path)));
    stat(path, &st);
    printf("nlink %lu\n", (unsigned long)st.st_nlink);
    printf("rmdir non-empty: %s\n", err(rmdir(base)));
    printf("unlink dir: %s\n", err(unlink(base)));
    printf("mkdir exists: %s\n", err(mkdir(base, 0755)));
    printf("excl exists: %s\n", err(open(path, O_CREAT | O_EXCL | O_RDWR, 0600)));
    printf("unlink: %s\n", err(unlink(path)));
    printf("unlink: %s\n", err(unlink(path2)));
    printf("unlink again: %s\n", err(unlink(path2)));
    printf("rmdir: %s\n", err(rmdir(base)));
    printf("stat gone: %s\n", err(stat(base, &st)));

    /* memfd: write, map shared, read back. */
    int mfd = memfd_create("fixture", MFD_CLOEXEC);
    printf("memfd: %s\n", err(mfd < 0 ? -1 : 0));
    printf("memfd ftruncate: %s\n", err(ftruncate(mfd, 2 * PAGE)));
    char *mm = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    strcpy(mm + PAGE, "through the mapping");
    char buf[32] = {0};
    pread(mfd, buf, 19, PAGE);
    printf("memfd read: %s\n", buf);
    fstat(mfd, &st);
    printf("memfd size %lld\n", (long long)st.st_size);
    return 0;
}
