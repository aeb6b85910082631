/* Never exits: for --timeout. */
#include "faultline_rt.h"

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    for (;;)
        __asm__ volatile("" ::: "memory");
}
