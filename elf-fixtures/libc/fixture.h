/* Helpers the libc fixtures share. */
#ifndef FIXTURE_H
#define FIXTURE_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL

/* Resident pages of [addr, addr + len), by mincore(2); -1 on error. */
static long resident(void *addr, size_t len)
{
    uintptr_t start = (uintptr_t)addr & ~(PAGE - 1);
    size_t n = ((uintptr_t)addr + len - start + PAGE - 1) / PAGE;
    unsigned char *vec = malloc(n);
    if (!vec || mincore((void *)start, n * PAGE, vec) != 0)
        return -1;
    long r = 0;
    for (size_t i = 0; i < n; i++)
        r += vec[i] & 1;
    free(vec);
    return r;
}

/* printf to fd 1 by one write(2), so lines of forked or cloned processes
 * never interleave inside a line; a short write ends the program (98). */
static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (write(1, buf, n) != n)
        _exit(98);
}

#endif
