/* Linked dynamically on purpose: faultline must refuse it (PT_INTERP). */
#include <stdio.h>

int main(void)
{
    puts("hello");
    return 0;
}
