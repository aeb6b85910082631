/* The hostile-guest probe's file-system tricks, as a regression test: in a
 * scratch directory DIR (a read-write bind under faultline), a name is
 * swapped for a symlink to OUT (a file outside the bind) between open and
 * use, and the f* calls must act on the file opened, never on what the
 * name now points to. Each line is "trick: result"; nothing names a path,
 * so a native run in the same layout prints the same lines.
 *
 *   fsprobe swaps DIR OUT OUTDIR   the descriptor tricks (native-safe)
 *   fsprobe escape DIR OUT OUTDIR  path tricks that natively WOULD reach
 *                                  OUT (run under faultline only)
 *   fsprobe perms PATH...          stat, open, list and search each path
 *   fsprobe mkmany DIR N           N empty files made and closed
 *   fsprobe deep DIR N             N nested directories, each entered
 *   fsprobe links DIR N LEN        N symlinks with LEN-byte targets
 *   fsprobe slab DIR N             SReclaimable's growth for N directories
 *                                  made, then after they are removed */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char dir[4096], out[4096], outdir[4096];

static const char *at(const char *name)
{
    static char buf[4][8192];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
    return buf[i];
}

static void report(const char *what, long r)
{
    if (r < 0)
        printf("%s: errno %d\n", what, errno);
    else
        printf("%s: ok\n", what);
}

/* A fresh regular file `name` with `text`, open read-write. */
static int fresh(const char *name, const char *text)
{
    unlink(at(name));
    int fd = open(at(name), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
        printf("%s: setup errno %d\n", name, errno);
        exit(2);
    }
    return fd;
}

/* The name is replaced by a symlink to `target`. */
static void swap(const char *name, const char *target)
{
    if (unlink(at(name)) != 0 || symlink(target, at(name)) != 0) {
        printf("swap %s: errno %d\n", name, errno);
        exit(2);
    }
}

static int count_entries(int dfd)
{
    char buf[8192];
    int n = 0;
    lseek(dfd, 0, SEEK_SET);
    for (;;) {
        long got = syscall(SYS_getdents64, dfd, buf, sizeof buf);
        if (got <= 0)
            return got < 0 ? -1 : n;
        for (long off = 0; off < got;) {
            unsigned short reclen = *(unsigned short *)(buf + off + 16);
            n++;
            off += reclen;
        }
    }
}

static void swaps(void)
{
    struct stat st;
    int fd = fresh("f", "original\n");
    swap("f", out);
    report("fchmod after swap", fchmod(fd, 04755));
    fstat(fd, &st);
    printf("fstat mode after swap: %o\n", st.st_mode & 07777);
    report("fchown after swap", fchown(fd, getuid(), getgid()));
    struct timespec ts[2] = {{1, 0}, {2, 0}};
    report("futimens after swap", futimens(fd, ts));
    fstat(fd, &st);
    printf("fstat mtime after swap: %ld\n", (long)st.st_mtime);
    report("ftruncate after swap", ftruncate(fd, 3));
    report("write after swap", pwrite(fd, "xyz", 3, 0));
    struct statfs a, b;
    fstatfs(fd, &a);
    statfs(dir, &b);
    printf("fstatfs after swap is the bind's: %d\n", a.f_type == b.f_type);
    close(fd);

    /* O_PATH, then fchownat(AT_EMPTY_PATH) and /proc/self/fd/N. */
    fd = fresh("g", "g\n");
    close(fd);
    fd = open(at("g"), O_PATH);
    swap("g", out);
    report("fchownat AT_EMPTY_PATH on O_PATH after swap", fchownat(fd, "", getuid(), getgid(), AT_EMPTY_PATH));
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    report("chmod /proc/self/fd/N after swap", chmod(proc, 0600));
    fstat(fd, &st);
    printf("O_PATH fstat mode: %o\n", st.st_mode & 07777);
    close(fd);

    /* A directory descriptor: listed, and used for *at, as itself. */
    mkdir(at("sub"), 0755);
    close(open(at("sub/inside"), O_CREAT | O_WRONLY, 0644));
    int dfd = open(at("sub"), O_RDONLY | O_DIRECTORY);
    rename(at("sub"), at("sub2"));
    symlink(outdir, at("sub"));
    printf("getdents after swap: %d\n", count_entries(dfd));
    int nf = openat(dfd, "made-at", O_CREAT | O_WRONLY, 0644);
    report("openat(dirfd) after swap", nf);
    close(nf);
    printf("made-at is in the renamed dir: %d\n", access(at("sub2/made-at"), F_OK) == 0);
    report("fchmod(dirfd) after swap", fchmod(dfd, 0700));
    stat(at("sub2"), &st);
    printf("renamed dir mode: %o\n", st.st_mode & 07777);
    /* The cwd is the directory itself too. */
    report("fchdir", fchdir(dfd));
    nf = open("made-in-cwd", O_CREAT | O_WRONLY, 0644);
    report("create in cwd after swap", nf);
    close(nf);
    printf("made-in-cwd is in the renamed dir: %d\n", access(at("sub2/made-in-cwd"), F_OK) == 0);
    chdir("/");
    close(dfd);

    /* A hard link made through /proc/self/fd/N links the file held. */
    fd = fresh("h", "h\n");
    swap("h", out);
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    report("linkat /proc/self/fd/N after swap", linkat(AT_FDCWD, proc, AT_FDCWD, at("h-link"), AT_SYMLINK_FOLLOW));
    char buf[32] = {0};
    int lf = open(at("h-link"), O_RDONLY);
    printf("h-link: %s\n", lf < 0 ? "none" : read(lf, buf, sizeof buf - 1) > 0 ? buf : "empty");
    close(lf);
    close(fd);

    /* A hard link to a symlink that points out is a link to the symlink. */
    symlink(out, at("l"));
    report("link of a symlink", link(at("l"), at("l2")));
    lstat(at("l2"), &st);
    printf("l2 is a symlink: %d\n", S_ISLNK(st.st_mode));

    /* RENAME_EXCHANGE swaps names; a descriptor stays on its file. */
    fd = fresh("x", "x\n");
    report("renameat2 exchange", syscall(SYS_renameat2, AT_FDCWD, at("x"), AT_FDCWD, at("l"), 2));
    report("fchmod after exchange", fchmod(fd, 0640));
    lstat(at("l"), &st);
    printf("exchanged file mode: %o\n", st.st_mode & 07777);
    close(fd);
}

static void escape(void)
{
    /* Each of these natively reaches OUT or OUTDIR; in the sandbox a
     * symlink resolves in the guest's own view, whose root is read-only
     * under a layer in memory. */
    symlink(out, at("e1"));
    report("chmod through a symlink out", chmod(at("e1"), 04777));
    int fd = open(at("e1"), O_WRONLY | O_TRUNC);
    report("open O_TRUNC through a symlink out", fd);
    if (fd >= 0)
        report("write through a symlink out", write(fd, "pwned\n", 6));
    close(fd);
    symlink(outdir, at("e2"));
    fd = open(at("e2/planted"), O_CREAT | O_WRONLY, 0644);
    report("create below a symlinked dir out", fd);
    close(fd);
    report("truncate through a symlink out", truncate(at("e1"), 0));
    report("utimes through a symlink out", utimes(at("e1"), NULL));
    report("unlink below a symlinked dir out", unlink(at("e2/victim")));
    report("rename into a symlinked dir out", rename(at("f"), at("e2/moved")));
}

static void perms(int n, char **paths)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        char what[8300];
        snprintf(what, sizeof what, "stat %d", i);
        report(what, stat(paths[i], &st));
        snprintf(what, sizeof what, "open read %d", i);
        int fd = open(paths[i], O_RDONLY);
        report(what, fd);
        if (fd >= 0)
            close(fd);
        snprintf(what, sizeof what, "opendir %d", i);
        DIR *d = opendir(paths[i]);
        report(what, d ? 0 : -1);
        if (d)
            closedir(d);
        snprintf(what, sizeof what, "access R_OK %d", i);
        report(what, access(paths[i], R_OK));
        snprintf(what, sizeof what, "access X_OK %d", i);
        report(what, access(paths[i], X_OK));
        snprintf(what, sizeof what, "open write %d", i);
        fd = open(paths[i], O_WRONLY);
        report(what, fd);
        if (fd >= 0)
            close(fd);
    }
    printf("uid %d euid %d gid %d egid %d\n", getuid(), geteuid(), getgid(), getegid());
}

static void mkmany(long n)
{
    char name[64];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        snprintf(name, sizeof name, "m%ld", i);
        int fd = open(at(name), O_CREAT | O_WRONLY, 0644);
        if (fd < 0) {
            printf("create %ld: errno %d\n", i, errno);
            return;
        }
        close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("made %ld files\n", n);
    fprintf(stderr, "mkmany ms: %ld\n", (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
}

static void deep(long n)
{
    if (chdir(dir) != 0) {
        printf("chdir: errno %d\n", errno);
        return;
    }
    long i;
    for (i = 0; i < n; i++) {
        if (mkdir("d", 0755) != 0 || chdir("d") != 0)
            break;
    }
    printf("depth %ld", i);
    if (i < n)
        printf(": errno %d", errno);
    printf("\n");
    /* A relative lookup from the bottom costs one step, whatever the depth. */
    int fd = open("leaf", O_CREAT | O_WRONLY, 0644);
    report("create at the bottom", fd);
    close(fd);
    char buf[64];
    report("getcwd into 64 bytes", getcwd(buf, sizeof buf) ? 0 : -1);
}

static void links(long n, long len)
{
    char *target = malloc(len + 1);
    memset(target, 'x', len);
    target[len] = 0;
    char name[64];
    long i;
    for (i = 0; i < n; i++) {
        snprintf(name, sizeof name, "l%ld", i);
        if (symlink(target, at(name)) != 0)
            break;
    }
    printf("symlinks %ld", i);
    if (i < n)
        printf(": errno %d", errno);
    printf("\n");
}

static long meminfo(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long v = -1;
    size_t k = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, k) && line[k] == ':')
            v = atol(line + k + 1);
    if (f)
        fclose(f);
    return v;
}

static void slab(long n)
{
    char name[64];
    long before = meminfo("SReclaimable");
    for (long i = 0; i < n; i++) {
        snprintf(name, sizeof name, "s%ld", i);
        if (mkdir(at(name), 0755) != 0) {
            printf("mkdir %ld: errno %d\n", i, errno);
            return;
        }
    }
    long made = meminfo("SReclaimable");
    for (long i = 0; i < n; i++) {
        snprintf(name, sizeof name, "s%ld", i);
        rmdir(at(name));
    }
    long gone = meminfo("SReclaimable");
    printf("SReclaimable: +%ld kB for %ld directories, +%ld kB once removed\n", made - before, n, gone - before);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc >= 5 && (!strcmp(argv[1], "swaps") || !strcmp(argv[1], "escape"))) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        snprintf(out, sizeof out, "%s", argv[3]);
        snprintf(outdir, sizeof outdir, "%s", argv[4]);
        if (!strcmp(argv[1], "swaps"))
            swaps();
        else
            escape();
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "perms")) {
        perms(argc - 2, argv + 2);
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "mkmany")) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        mkmany(atol(argv[3]));
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "deep")) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        deep(atol(argv[3]));
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "slab")) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        slab(atol(argv[3]));
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "links")) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        links(atol(argv[3]), atol(argv[4]));
        return 0;
    }
    fprintf(stderr, "usage: fsprobe swaps|escape DIR OUT OUTDIR | perms PATH... | mkmany|deep DIR N | links DIR N LEN\n");
    return 2;
}
