/* Opens each path on the command line and prints its first line, or the
 * errno the open failed with: a probe of path resolution (.., symlinks,
 * loops) inside a --root. With -w, overwrites each file first. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int write_first = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-w") == 0) {
            write_first = 1;
            continue;
        }
        if (write_first) {
            int w = open(argv[i], O_WRONLY | O_TRUNC);
            if (w < 0 || write(w, "changed\n", 8) != 8)
                printf("%s: write: errno %d\n", argv[i], errno);
            if (w >= 0)
                close(w);
        }
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            printf("%s: errno %d\n", argv[i], errno);
            continue;
        }
        char buf[128] = {0};
        ssize_t n = read(fd, buf, sizeof buf - 1);
        char *nl = n > 0 ? strchr(buf, '\n') : NULL;
        if (nl)
            *nl = 0;
        printf("%s: %s\n", argv[i], n >= 0 ? buf : "read error");
        close(fd);
    }
    return 0;
}
