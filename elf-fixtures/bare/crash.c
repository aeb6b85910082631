/* crash KIND: dies the way KIND says; see the cases below. */
#include "faultline_rt.h"

static const char message[] = "read-only";
static unsigned char code_in_data[16] = {0xc3}; /* ret */

static int eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static long recurse(long n)
{
    volatile char pad[1024];
    pad[0] = (char)n;
    return recurse(n + 1) + pad[0];
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *k = argv[1];
    if (eq(k, "null-read"))
        return *(volatile int *)0;
    if (eq(k, "null-write"))
        *(volatile int *)0 = 1;
    if (eq(k, "rodata-write"))
        *(volatile char *)message = 'x';
    if (eq(k, "exec-data"))
        ((void (*)(void))code_in_data)();
    if (eq(k, "kernel-read"))
        return *(volatile char *)0xffffff8000000000UL;
    if (eq(k, "noncanonical"))
        return *(volatile char *)0x0000800000000000UL;
    if (eq(k, "ud2"))
        __asm__ volatile("ud2");
    if (eq(k, "div0")) {
        unsigned long a = 1, d = 0, z = 0;
        __asm__ volatile("div %2" : "+a"(a), "+d"(d) : "r"(z));
    }
    if (eq(k, "int3"))
        __asm__ volatile("int3");
    if (eq(k, "hlt"))
        __asm__ volatile("hlt");
    if (eq(k, "recurse"))
        return (int)recurse(0);
    if (eq(k, "jump-to-lstar"))
        ((void (*)(void))0xffffff8000100000UL)();
    return 1;
}
