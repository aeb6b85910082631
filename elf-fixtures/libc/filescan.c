/* Maps the file named on the command line privately, read-only, and
 * reads every page of it in PASSES passes (default 2): under a small
 * --mem, clean file pages are dropped and read again. Prints the page
 * count and a checksum of what it read. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int passes = argc > 2 ? atoi(argv[2]) : 2;
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return 3;
    const unsigned char *p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED)
        return 4;
    long pages = (st.st_size + 4095) / 4096;
    uint64_t sum = 0;
    for (int pass = 0; pass < passes; pass++)
        for (long i = 0; i < pages; i++)
            sum = sum * 31 + p[i * 4096] + p[i * 4096 + 4095];
    printf("pages %ld passes %d sum %llx\n", pages, passes, (unsigned long long)sum);
    return 0;
}
