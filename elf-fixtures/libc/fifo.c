/* FIFOs and mknod as Linux has them: mkfifo, fifo_open's rules (a lone
 * non-blocking writer gets ENXIO, a blocking reader waits for a writer,
 * O_RDWR never waits, a signal ends the wait), data, poll's bits and
 * EOF, and mknod's types and errors. Works in a fresh directory under
 * /tmp; everything printed is the same natively and under faultline. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *what, long r)
{
    int e = errno;
    printf("%-28s %ld %s\n", what, r, r < 0 ? strerror(e) : "");
}

static int revents(int fd, short events)
{
    struct pollfd p = {fd, events, 0};
    poll(&p, 1, 0);
    return p.revents;
}

static void on_alarm(int s)
{
    (void)s;
}

static void opens(void)
{
    char b[16] = {0};
    say("mkfifo", mkfifo("f", 0666));
    say("mkfifo again", mkfifo("f", 0666));
    struct stat st;
    stat("f", &st);
    printf("mode %o size %ld\n", st.st_mode, (long)st.st_size);
    say("open O_WRONLY|O_NONBLOCK", open("f", O_WRONLY | O_NONBLOCK));
    int r = open("f", O_RDONLY | O_NONBLOCK);
    printf("reader alone: revents %#x read %zd\n", revents(r, POLLIN), read(r, b, 8));
    int w = open("f", O_WRONLY | O_NONBLOCK);
    printf("writer: %d, reader revents %#x writer %#x\n", w >= 0, revents(r, POLLIN), revents(w, POLLOUT));
    say("write", write(w, "hi", 2));
    printf("with data: revents %#x\n", revents(r, POLLIN));
    say("read", read(r, b, 8));
    close(w);
    printf("writer gone: revents %#x read %zd\n", revents(r, POLLIN), read(r, b, 8));
    close(r);
    fflush(stdout);
    pid_t c = fork();
    if (c == 0) {
        int fd = open("f", O_WRONLY);
        write(fd, "from the child", 14);
        _exit(0);
    }
    r = open("f", O_RDONLY);
    memset(b, 0, sizeof b);
    printf("blocking open, then read %zd \"%s\"\n", read(r, b, 15), b);
    close(r);
    waitpid(c, NULL, 0);
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    alarm(1);
    say("open O_RDONLY interrupted", open("f", O_RDONLY));
    int rw = open("f", O_RDWR);
    printf("O_RDWR: %d revents %#x\n", rw >= 0, revents(rw, POLLIN | POLLOUT));
    say("lseek", lseek(rw, 0, SEEK_CUR));
    fstat(rw, &st);
    printf("fstat mode %o\n", st.st_mode);
    close(rw);
    say("truncate", truncate("f", 0));
    say("unlink", unlink("f"));
}

static void nodes(void)
{
    struct stat st;
    umask(022);
    say("mknod S_IFREG", mknod("r", S_IFREG | 0666, 0));
    stat("r", &st);
    printf("regular: mode %o size %ld\n", st.st_mode, (long)st.st_size);
    say("mknod type 0", mknod("z", 0644, 0));
    say("mknod S_IFSOCK", mknod("s", S_IFSOCK | 0777, 0));
    stat("s", &st);
    printf("socket: mode %o\n", st.st_mode);
    say("open a socket node", open("s", O_RDONLY));
    say("mknod S_IFDIR", mknod("d", S_IFDIR | 0755, 0));
    say("mknod S_IFMT", mknod("d", S_IFMT | 0755, 0));
    say("mknod S_IFLNK", mknod("d", S_IFLNK | 0755, 0));
    say("mknod existing", mknod("r", S_IFIFO | 0644, 0));
    say("mknod no directory", mknod("nodir/x", S_IFIFO | 0644, 0));
    say("mknod trailing slash", mknod("t/", S_IFIFO | 0644, 0));
    int e = mknod("c", S_IFCHR | 0600, makedev(1, 3));
    say(getuid() == 0 ? "mknod S_IFCHR as root" : "mknod S_IFCHR", e);
    if (e == 0) {
        stat("c", &st);
        printf("device: mode %o rdev %d:%d\n", st.st_mode, major(st.st_rdev), minor(st.st_rdev));
        unlink("c");
    }
    say("mknodat", mknodat(AT_FDCWD, "f2", S_IFIFO | 0600, 0));
    unlink("r");
    unlink("z");
    unlink("s");
    unlink("f2");
}

int main(void)
{
    char dir[] = "/tmp/fifoXXXXXX";
    if (!mkdtemp(dir) || chdir(dir)) {
        perror("mkdtemp");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    opens();
    nodes();
    chdir("/");
    return rmdir(dir) ? 2 : 0;
}
