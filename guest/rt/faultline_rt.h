/*
 * A freestanding runtime for faultline's own guests (the demo and the test
 * fixtures): _start, raw syscalls and the few helpers gcc may call. Real
 * programs use glibc or musl instead; these guests stay libc-free so their
 * page touches are exactly the ones their source shows.
 */
#ifndef FAULTLINE_RT_H
#define FAULTLINE_RT_H

typedef unsigned long size_t;
typedef long ssize_t;

/* The target's syscall numbers (__NR_*). arm64 uses asm-generic's table,
 * which has no fork, pipe or open: fl_fork() and fl_pipe() below stand in,
 * and guests call openat. */
#include <asm/unistd.h>

#define SYS_write __NR_write
#define SYS_clock_gettime __NR_clock_gettime
#define SYS_exit_group __NR_exit_group
#define FL_SIGCHLD 17

#if defined(__x86_64__)

static inline long fl_syscall1(long n, long a)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a) : "rcx", "r11", "memory");
    return r;
}

static inline long fl_syscall2(long n, long a, long b)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return r;
}

static inline long fl_syscall3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

static inline long fl_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}

#elif defined(__aarch64__)

/* svc #0: the number in x8, the arguments in x0-x5, the result in x0;
 * every other register is preserved. */
static inline long fl_syscall1(long n, long a)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8) : "memory");
    return x0;
}

static inline long fl_syscall2(long n, long a, long b)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1) : "memory");
    return x0;
}

static inline long fl_syscall3(long n, long a, long b, long c)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}

static inline long fl_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
    return x0;
}

#else
#error "faultline_rt.h: x86-64 or arm64 only"
#endif

/* fork(): x86-64's own call; elsewhere clone(SIGCHLD, 0, ...), as glibc. */
static inline long fl_fork(void)
{
#ifdef __NR_fork
    return fl_syscall1(__NR_fork, 0);
#else
    return fl_syscall6(__NR_clone, FL_SIGCHLD, 0, 0, 0, 0, 0);
#endif
}

/* pipe(fds): pipe2(fds, 0) where there is no pipe. */
static inline long fl_pipe(int fds[2])
{
#ifdef __NR_pipe
    return fl_syscall1(__NR_pipe, (long)fds);
#else
    return fl_syscall2(__NR_pipe2, (long)fds, 0);
#endif
}

static inline ssize_t fl_write(int fd, const void *buf, size_t n)
{
    return fl_syscall3(SYS_write, fd, (long)buf, (long)n);
}

static inline __attribute__((noreturn)) void fl_exit(int status)
{
    fl_syscall1(SYS_exit_group, status);
    __builtin_unreachable();
}

struct fl_timespec { long tv_sec; long tv_nsec; };

static inline long fl_now_ns(void)
{
    struct fl_timespec ts;
    fl_syscall2(SYS_clock_gettime, 1 /* CLOCK_MONOTONIC */, (long)&ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static inline size_t fl_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static inline void fl_puts(const char *s)
{
    fl_write(1, s, fl_strlen(s));
}

/* Decimal formatting without libc; returns the number of bytes written. */
static inline size_t fl_utoa(unsigned long v, char *out)
{
    char tmp[24];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static inline void fl_put_u(unsigned long v)
{
    char buf[24];
    fl_write(1, buf, fl_utoa(v, buf));
}

static inline unsigned long fl_atou(const char *s)
{
    unsigned long v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (unsigned long)(*s++ - '0');
    return v;
}

/* gcc may emit calls to these even in freestanding code. */
void *memset(void *d, int c, size_t n)
{
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

int main(int argc, char **argv);

/* Linux process entry: the stack pointer points at argc, argv follows;
 * main's result is exit_group's status. */
#if defined(__x86_64__)
__asm__(".globl _start\n"
        "_start:\n"
        "  xor %ebp, %ebp\n"
        "  mov (%rsp), %rdi\n"
        "  lea 8(%rsp), %rsi\n"
        "  and $-16, %rsp\n"
        "  call main\n"
        "  mov %eax, %edi\n"
        "  mov $231, %eax\n"
        "  syscall\n"
        "  hlt\n");
#elif defined(__aarch64__)
/* SP is 16-byte aligned at entry; x29/x30 zeroed end the frame chain. */
__asm__(".globl _start\n"
        "_start:\n"
        "  mov x29, #0\n"
        "  mov x30, #0\n"
        "  ldr x0, [sp]\n"
        "  add x1, sp, #8\n"
        "  bl main\n"
        "  mov x8, #94\n" /* exit_group */
        "  svc #0\n"
        "  udf #0\n");
#endif

#endif
