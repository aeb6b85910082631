/* Signal semantics the Linux Test Project found handled unlike Linux
 * (issue 27): sigconf MODE
 *   altstack-ro     a handler's alternate stack is read-only: the frame
 *                   cannot be written, SIGSEGV goes to its own handler
 *   altstack-gone   ... the alternate stack is unmapped
 *   altstack-segv   SIGSEGV's own handler cannot get a frame: it dies
 *   resethand       SA_RESETHAND puts the handler to SIG_DFL, flags kept
 *   coredump LIMIT  a child dies of SIGABRT under RLIMIT_CORE LIMIT:
 *                   WCOREDUMP, and waitid's si_code
 *   alarm-sigwait   SIGALRM from alarm() wakes sigwait and sigtimedwait
 *   rlimit-cpu      RLIMIT_CPU 1 s soft, 2 s hard: SIGXCPU, then SIGKILL */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_segv, got_hup;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    got_segv = sig;
    printf("SIGSEGV handler: code %#x\n", si->si_code);
}

static void on_hup(int sig)
{
    got_hup = sig;
}

/* SIGHUP's handler runs on an alternate stack `prot` (or unmapped):
 * SIGSEGV instead, on the ordinary stack; `segv_onstack` puts SIGSEGV's
 * handler on that stack too, so it cannot run either. */
static int altstack(int prot, int unmap, int segv_onstack)
{
    size_t size = 64 * 1024;
    char *st = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    stack_t ss = {.ss_sp = st, .ss_size = size};
    if (st == MAP_FAILED || sigaltstack(&ss, NULL))
        return perror("altstack"), 1;
    struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
    if (segv_onstack)
        sa.sa_flags |= SA_ONSTACK;
    sigaction(SIGSEGV, &sa, NULL);
    struct sigaction hup = {.sa_handler = on_hup, .sa_flags = SA_ONSTACK};
    sigaction(SIGHUP, &hup, NULL);
    if (unmap)
        munmap(st, size);
    else
        mprotect(st, size, prot);
    fflush(stdout);
    raise(SIGHUP);
    printf("after raise: segv %d hup %d\n", got_segv, got_hup);
    return 0;
}

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    printf("SIGUSR1 handler: %d\n", sig);
}

static int resethand(void)
{
    struct sigaction sa = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO | SA_RESETHAND}, old;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    sigaction(SIGUSR1, NULL, &old);
    printf("after one: SIG_DFL %d SA_SIGINFO %d SA_RESETHAND %d\n", old.sa_handler == SIG_DFL,
           !!(old.sa_flags & SA_SIGINFO), !!(old.sa_flags & SA_RESETHAND));
    return 0;
}

static int coredump(const char *limit)
{
    /* A core natively lands in the working directory: a scratch one. */
    char dir[] = "/tmp/sigconf-XXXXXX";
    if (!mkdtemp(dir) || chdir(dir))
        return perror("scratch dir"), 1;
    struct rlimit rl = {.rlim_cur = strtoul(limit, NULL, 0), .rlim_max = RLIM_INFINITY};
    if (setrlimit(RLIMIT_CORE, &rl))
        return perror("setrlimit"), 1;
    for (int how = 0; how < 2; how++) {
        pid_t pid = fork();
        if (pid == 0) {
            signal(SIGABRT, SIG_DFL);
            raise(SIGABRT);
            _exit(99);
        }
        if (how == 0) {
            int st;
            waitpid(pid, &st, 0);
            printf("wait: signaled %d sig %d core %d\n", WIFSIGNALED(st), WTERMSIG(st), !!WCOREDUMP(st));
        } else {
            siginfo_t si;
            waitid(P_PID, pid, &si, WEXITED);
            printf("waitid: code %s status %d\n",
                   si.si_code == CLD_DUMPED   ? "CLD_DUMPED"
                   : si.si_code == CLD_KILLED ? "CLD_KILLED"
                                              : "other",
                   si.si_status);
        }
    }
    /* Whatever core files were written (core, or core.PID). */
    DIR *d = opendir(".");
    for (struct dirent *e; d && (e = readdir(d));)
        if (!strncmp(e->d_name, "core", 4))
            unlink(e->d_name);
    if (d)
        closedir(d);
    if (chdir("/") == 0)
        rmdir(dir);
    return 0;
}

static int alarm_sigwait(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    alarm(1);
    int sig = 0;
    int r = sigwait(&set, &sig);
    printf("sigwait: %d sig %d\n", r, sig);
    alarm(1);
    struct timespec ts = {.tv_sec = 10};
    siginfo_t si;
    r = sigtimedwait(&set, &si, &ts);
    printf("sigtimedwait: %d code %d\n", r, si.si_code);
    /* The mask it waited with is the mask after. */
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    printf("still blocked: %d\n", sigismember(&now, SIGALRM));
    return 0;
}

static volatile sig_atomic_t xcpu;

static void on_xcpu(int sig)
{
    (void)sig;
    xcpu++;
}

static int rlimit_cpu(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {.rlim_cur = 1, .rlim_max = 2};
        signal(SIGXCPU, on_xcpu);
        setrlimit(RLIMIT_CPU, &rl);
        for (;;) {
            if (xcpu == 1) {
                write(1, "SIGXCPU\n", 8);
                xcpu++;
            }
        }
    }
    int st;
    waitpid(pid, &st, 0);
    printf("child: signaled %d sig %d\n", WIFSIGNALED(st), WTERMSIG(st));
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *m = argc > 1 ? argv[1] : "";
    if (!strcmp(m, "altstack-ro"))
        return altstack(PROT_READ, 0, 0);
    if (!strcmp(m, "altstack-gone"))
        return altstack(0, 1, 0);
    if (!strcmp(m, "altstack-segv"))
        return altstack(PROT_READ, 0, 1);
    if (!strcmp(m, "resethand"))
        return resethand();
    if (!strcmp(m, "coredump") && argc > 2)
        return coredump(argv[2]);
    if (!strcmp(m, "alarm-sigwait"))
        return alarm_sigwait();
    if (!strcmp(m, "rlimit-cpu"))
        return rlimit_cpu();
    fprintf(stderr, "usage: sigconf MODE\n");
    return 2;
}
