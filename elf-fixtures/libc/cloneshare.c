/* clone() sharing between processes (not threads): CLONE_FILES, CLONE_FS
 * and CLONE_SIGHAND (with CLONE_VM), as LTP's clone02 uses them. A child
 * with its own stack opens, closes and marks descriptors, changes
 * directory and umask and installs a handler; the parent checks each
 * after waitpid. Then unshare(CLONE_FILES | CLONE_FS) in a sharer, and
 * execve in a sharer: the new program has its own descriptors (its
 * close-on-exec ones closed there only) and default handlers.
 *
 * Everything on stdout must be the same natively and in faultline; it is
 * written with write(2), since parent and child share memory and stdio. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"

#define SHARE (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND)

static char stack[256 * 1024] __attribute__((aligned(16)));
static volatile sig_atomic_t got;
/* Written by the child (the memory is shared). */
static int child_fd = -1;
static int closeme = -1, markme = -1;

static const char *yes(int b)
{
    return b ? "yes" : "no";
}

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static int cwd_is(const char *dir)
{
    char buf[4096];
    return getcwd(buf, sizeof buf) && strcmp(buf, dir) == 0;
}

static void on_usr1(int sig)
{
    got = sig;
}

static int changer(void *arg)
{
    (void)arg;
    child_fd = open("/dev/null", O_RDONLY);
    if (child_fd < 0 || close(closeme) != 0 || fcntl(markme, F_SETFD, FD_CLOEXEC) != 0)
        return 1;
    if (chdir("/") != 0)
        return 2;
    umask(077);
    struct sigaction sa = { .sa_handler = on_usr1 };
    return sigaction(SIGUSR1, &sa, NULL) != 0 ? 3 : 0;
}

static int unsharer(void *arg)
{
    (void)arg;
    if (unshare(CLONE_FILES | CLONE_FS) != 0)
        return 1;
    child_fd = open("/dev/null", O_RDONLY);
    if (child_fd < 0 || close(markme) != 0 || chdir("/tmp") != 0)
        return 2;
    return 0;
}

static int execer(void *arg)
{
    char fd[16];
    snprintf(fd, sizeof fd, "%d", markme);
    execl((char *)arg, (char *)arg, "after-exec", fd, (char *)NULL);
    return 127;
}

/* Runs `fn` in a child cloned with `flags` and waits for it: its exit
 * status, or -1. */
static int run(int (*fn)(void *), int flags, void *arg)
{
    pid_t p = clone(fn, stack + sizeof stack, flags | SIGCHLD, arg);
    if (p < 0) {
        out("clone %#x: %s\n", flags, strerror(errno));
        return -1;
    }
    int st;
    if (waitpid(p, &st, 0) != p || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* The program a sharer execs: its descriptors are its own copy (the
 * close-on-exec one closed) and its handlers are the defaults. */
static int after_exec(const char *fd)
{
    struct sigaction old;
    sigaction(SIGUSR1, NULL, &old);
    out("exec: close-on-exec fd closed in the new program: %s\n", yes(!is_open(atoi(fd))));
    out("exec: handler reset in the new program: %s\n", yes(old.sa_handler == SIG_DFL));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "after-exec") == 0)
        return after_exec(argv[2]);
    if (chdir("/tmp") != 0)
        return 99;
    umask(022);
    closeme = open("/dev/null", O_RDONLY);
    markme = open("/dev/null", O_RDONLY);

    out("clone %#x: child exit %d\n", SHARE, run(changer, SHARE, NULL));
    out("child's open seen: %s\n", yes(child_fd >= 0 && is_open(child_fd)));
    out("child's close seen: %s\n", yes(!is_open(closeme) && errno == EBADF));
    out("child's FD_CLOEXEC seen: %s\n", yes(fcntl(markme, F_GETFD) == FD_CLOEXEC));
    out("child's chdir seen: %s\n", yes(cwd_is("/")));
    out("child's umask seen: %03o\n", (unsigned)umask(022));
    struct sigaction old;
    sigaction(SIGUSR1, NULL, &old);
    out("child's handler seen: %s\n", yes(old.sa_handler == on_usr1));
    raise(SIGUSR1);
    out("SIGUSR1 caught by it: %s\n", yes(got == SIGUSR1));
    close(child_fd);

    out("unshare: child exit %d\n", run(unsharer, SHARE, NULL));
    out("unshare: child's open unseen: %s\n", yes(child_fd >= 0 && !is_open(child_fd)));
    out("unshare: child's close unseen: %s\n", yes(is_open(markme)));
    out("unshare: child's chdir unseen: %s\n", yes(cwd_is("/")));

    out("exec: child exit %d\n", run(execer, SHARE, argv[0]));
    out("exec: close-on-exec fd still open in the parent: %s\n", yes(is_open(markme)));
    sigaction(SIGUSR1, NULL, &old);
    out("exec: parent's handler kept: %s\n", yes(old.sa_handler == on_usr1));
    return 0;
}
