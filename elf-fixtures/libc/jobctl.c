/* Job control: stopping and continuing a child (SIGSTOP, SIGCONT) and
 * what its parent hears (wait's WUNTRACED and WCONTINUED, SIGCHLD's
 * CLD_STOPPED and CLD_CONTINUED, SA_NOCLDSTOP), and /proc's `T` state
 * for each of its threads. Every step waits for the last, so the output
 * is the same on every run. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t chld_stopped, chld_continued, cont_ran;
static int tid2;

static void on_chld(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)uc;
    if (si->si_code == CLD_STOPPED)
        chld_stopped = si->si_status;
    if (si->si_code == CLD_CONTINUED)
        chld_continued = si->si_status;
}

static void on_cont(int sig)
{
    (void)sig;
    cont_ran = 1;
}

/* The state letter of /proc/PID/task/TID/stat. */
static char state(int pid, int tid)
{
    char p[64], b[512];
    snprintf(p, sizeof p, "/proc/%d/task/%d/stat", pid, tid);
    FILE *f = fopen(p, "r");
    if (!f)
        return '?';
    if (!fgets(b, sizeof b, f))
        b[0] = 0;
    fclose(f);
    char *c = strrchr(b, ')');
    return c ? c[2] : '?';
}

static void *sleeper(void *arg)
{
    int *ready = arg;
    /* SIGCONT's handler runs on the main thread, before its read returns:
     * were it free to take it here, it might run after main's printf. */
    sigset_t cont;
    sigemptyset(&cont);
    sigaddset(&cont, SIGCONT);
    pthread_sigmask(SIG_BLOCK, &cont, NULL);
    tid2 = syscall(SYS_gettid);
    __atomic_store_n(ready, 1, __ATOMIC_SEQ_CST);
    for (;;)
        pause();
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_chld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);
    int go[2], tidp[2], st;
    if (pipe(go) || pipe(tidp))
        return 1;

    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGCONT, on_cont);
        static int ready;
        pthread_t t;
        pthread_create(&t, NULL, sleeper, &ready);
        while (!__atomic_load_n(&ready, __ATOMIC_SEQ_CST))
            usleep(1000);
        if (write(tidp[1], &tid2, sizeof tid2) != sizeof tid2)
            return 1;
        char c;
        /* Blocked here while stopped and continued: read restarts. */
        ssize_t n = read(go[0], &c, 1);
        printf("child: read %zd cont handler %d\n", n, cont_ran);
        exit(3);
    }
    int t2;
    if (read(tidp[0], &t2, sizeof t2) != sizeof t2)
        return 1;
    kill(pid, SIGSTOP);
    pid_t r = waitpid(pid, &st, WUNTRACED);
    printf("stopped: %d sig %d\n", r == pid && WIFSTOPPED(st), WSTOPSIG(st));
    printf("states: %c %c\n", state(pid, pid), state(pid, t2));
    printf("reported once: %d\n", waitpid(pid, &st, WUNTRACED | WNOHANG));
    printf("SIGCHLD: CLD_STOPPED status %d\n", chld_stopped);
    kill(pid, SIGCONT);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    r = waitid(P_PID, pid, &si, WCONTINUED);
    printf("continued: %d code %d status %d\n", r, si.si_code, si.si_status);
    if (write(go[1], "x", 1) != 1)
        return 1;
    waitpid(pid, &st, 0);
    printf("exit: %d code %d\n", WIFEXITED(st), WEXITSTATUS(st));
    /* Linux tells the parent when the child runs again, so only now is
     * that SIGCHLD sure to have come. */
    printf("SIGCHLD: CLD_CONTINUED status %d\n", chld_continued);

    /* SA_NOCLDSTOP: no SIGCHLD for the stop; SIGKILL ends a stopped child. */
    sa.sa_flags |= SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    chld_stopped = 0;
    pid = fork();
    if (pid == 0)
        for (;;)
            pause();
    kill(pid, SIGSTOP);
    waitpid(pid, &st, WUNTRACED);
    printf("stopped: %d sig %d SIGCHLD %d\n", WIFSTOPPED(st), WSTOPSIG(st), chld_stopped);
    /* A stop signal sent while stopped, then SIGCONT: it is dropped. */
    kill(pid, SIGTSTP);
    kill(pid, SIGCONT);
    r = waitpid(pid, &st, WCONTINUED);
    printf("continued: %d\n", r == pid && WIFCONTINUED(st));
    kill(pid, SIGSTOP);
    waitpid(pid, &st, WUNTRACED);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    printf("killed while stopped: %d sig %d\n", WIFSIGNALED(st), WTERMSIG(st));

    /* Only continued children asked for, and the child has ended:
     * nothing it could still do, ECHILD. */
    pid = fork();
    if (pid == 0)
        _exit(0);
    while (waitid(P_PID, pid, &si, WEXITED | WNOWAIT) != 0)
        ;
    errno = 0;
    r = waitid(P_PID, pid, &si, WCONTINUED);
    printf("ended child, WCONTINUED: %d ECHILD %d\n", r, errno == ECHILD);
    waitpid(pid, &st, 0);
    return 0;
}
