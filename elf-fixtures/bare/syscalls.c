/*
 * Exercises the syscall edge: unknown numbers, bad descriptors, bad
 * pointers, a buffer that runs off its mapping. Prints one line:
 * enosys=R ebadf=R efault=R kernel=R partial=R big=R
 */
#include "faultline_rt.h"

#define PAGE 4096
/* The last page of .bss; the page after it is not mapped. */
static char tail[PAGE] __attribute__((aligned(PAGE)));

static void field(const char *name, long v)
{
    fl_puts(name);
    fl_puts("=");
    if (v < 0) {
        fl_puts("-");
        v = -v;
    }
    fl_put_u((unsigned long)v);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    long enosys = fl_syscall1(9999, 0);
    long ebadf = fl_write(7, "x", 1);
    long efault = fl_write(1, (const void *)16, 4);
    long kernel = fl_write(1, (const void *)0xffffff8000000000UL, 4);
    for (int i = 0; i < PAGE; i++)
        tail[i] = 'a';
    /* Starts 3 bytes before the end of .bss and asks for a whole page. */
    long partial = fl_write(1, tail + PAGE - 3, PAGE);
    fl_puts("\n");
    long big = fl_write(1, tail, 0xffffffffffff0000UL);
    fl_puts("\n");
    field("enosys", enosys);
    field(" ebadf", ebadf);
    field(" efault", efault);
    field(" kernel", kernel);
    field(" partial", partial);
    field(" big", big);
    fl_puts("\n");
    return 0;
}
