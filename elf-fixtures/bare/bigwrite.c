/*
 * bigwrite SIZE STATUS [untouched]: writes SIZE bytes of a .bss buffer to
 * stdout with one write(2) and exits with STATUS. The buffer holds
 * (i * 7) & 0xff unless `untouched`, when the program never touches it and
 * the VMM must back the pages itself to read them (zeroes).
 */
#include "faultline_rt.h"

#define MAX (4 << 20)
static unsigned char buf[MAX];

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    unsigned long size = fl_atou(argv[1]);
    if (size > MAX)
        return 2;
    if (argc < 4)
        for (unsigned long i = 0; i < size; i++)
            buf[i] = (unsigned char)(i * 7);
    long n = fl_write(1, buf, size);
    if (n != (long)size)
        return 3;
    return (int)fl_atou(argv[2]);
}
