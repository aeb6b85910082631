/* Corner cases of signal return and thread setup that a hostile-guest
 * probe found handled unlike Linux: sigedge MODE
 *   cs0x10    a handler returns with the kernel's code segment in its frame
 *   cs32      ... with the 32-bit user code segment
 *   mxcsr     ... with reserved MXCSR bits set in its FPU image
 *   xstatebv  ... with an XSAVE header naming a feature not enabled
 *   trapflag  a single step: SIGTRAP's si_code and si_addr
 *   settls    clone(CLONE_SETTLS) with a base past the top of user space
 * Each bad return must end in a SIGSEGV the program can catch; the
 * catcher prints what it got and exits 0.
 * On aarch64 cs0x10 returns to EL1h and cs32 to AArch32 (PSTATE's mode
 * bits), settls is as above; the x86-only modes (mxcsr, xstatebv,
 * trapflag) say so and exit 0. */
#define _GNU_SOURCE
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static const char *mode;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    printf("caught signal %d code %#x\n", sig, si->si_code);
    fflush(stdout);
    _exit(0);
}

static void corrupt(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
#if defined(__aarch64__)
    if (!strcmp(mode, "cs0x10"))
        uc->uc_mcontext.pstate = (uc->uc_mcontext.pstate & ~0x1fULL) | 0x5; /* EL1h */
    else if (!strcmp(mode, "cs32"))
        uc->uc_mcontext.pstate = (uc->uc_mcontext.pstate & ~0x1fULL) | 0x10; /* AArch32 user */
#else
    unsigned short *csgsfs = (unsigned short *)&uc->uc_mcontext.gregs[REG_CSGSFS];
    if (!strcmp(mode, "cs0x10"))
        csgsfs[0] = 0x10;
    else if (!strcmp(mode, "cs32"))
        csgsfs[0] = 0x23;
    else if (!strcmp(mode, "mxcsr"))
        uc->uc_mcontext.fpregs->mxcsr |= 0xffff0000u;
    else if (!strcmp(mode, "xstatebv")) {
        /* The XSAVE header follows the 512-byte legacy area. */
        uint64_t *xstate_bv = (uint64_t *)((char *)uc->uc_mcontext.fpregs + 512);
        *xstate_bv |= 1ull << 62;
    }
#endif
}

static volatile int stepped;

#if defined(__x86_64__)
static void on_trap(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    if (!stepped++)
        printf("SIGTRAP %d code %d addr is ip %d\n", sig, si->si_code,
               si->si_addr == (void *)uc->uc_mcontext.gregs[REG_RIP]);
    uc->uc_mcontext.gregs[REG_EFL] &= ~0x100L;
}
#endif

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    mode = argc > 1 ? argv[1] : "";
    struct sigaction sa = {0};
    sa.sa_flags = SA_SIGINFO;
    sa.sa_sigaction = on_segv;
    sigaction(SIGSEGV, &sa, NULL);
#if !defined(__x86_64__)
    if (!strcmp(mode, "trapflag") || !strcmp(mode, "mxcsr") || !strcmp(mode, "xstatebv")) {
        printf("%s: x86 only\n", mode);
        return 0;
    }
#else
    if (!strcmp(mode, "trapflag")) {
        sa.sa_sigaction = on_trap;
        sigaction(SIGTRAP, &sa, NULL);
        __asm__ volatile("pushf\n orq $0x100, (%%rsp)\n popf\n nop\n nop" ::: "memory", "cc");
        printf("stepped %d\n", stepped > 0);
        return 0;
    }
#endif
    if (!strcmp(mode, "settls")) {
        long r = syscall(SYS_clone, CLONE_SETTLS | SIGCHLD, 0, 0, 0, 0x800000000000UL);
        printf("clone CLONE_SETTLS past the top: %ld errno %d\n", r, r < 0 ? errno : 0);
        if (r == 0)
            _exit(0);
        r = syscall(SYS_clone, CLONE_SETTLS | SIGCHLD, 0, 0, 0, 0x7ffffffff000UL);
        printf("clone CLONE_SETTLS at TASK_SIZE_MAX: %ld errno %d\n", r, r < 0 ? errno : 0);
        if (r == 0)
            _exit(0);
        return 0;
    }
#if defined(__x86_64__)
    if (!strcmp(mode, "xstatebv")) {
        /* Without OSXSAVE the kernel's frames hold only the legacy area:
         * there is no header to corrupt, and the return succeeds. */
        unsigned a, b, c, d;
        __cpuid(1, a, b, c, d);
        printf("osxsave %u\n", (c >> 27) & 1);
    }
#endif
    sa.sa_sigaction = corrupt;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("returned normally\n");
    return 0;
}
