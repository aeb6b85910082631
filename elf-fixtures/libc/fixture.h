/* Helpers the libc fixtures share. */
#ifndef FIXTURE_H
#define FIXTURE_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

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

#endif
