/* What every hostile guest needs: a _start that calls cmain(sp) and raw
 * syscalls. Freestanding: no libc, so the guests do exactly what they say. */
#ifndef HOSTILE_H
#define HOSTILE_H

typedef unsigned long u64;
typedef long i64;
__asm__(".globl _start\n_start:\n mov %rsp,%rdi\n and $-16,%rsp\n call cmain\n hlt\n");

static inline i64 sc6(i64 n, i64 a, i64 b, i64 c, i64 d, i64 e, i64 f)
{
    register i64 r10 __asm__("r10") = d;
    register i64 r8 __asm__("r8") = e;
    register i64 r9 __asm__("r9") = f;
    i64 r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}
#define sc3(n, a, b, c) sc6(n, a, b, c, 0, 0, 0)

#endif
