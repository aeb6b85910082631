/* System V shared memory: a parent writes, a child reads and answers
 * across fork; shmctl's IPC_STAT counts and times, IPC_RMID deferred
 * until the last detach, /proc/self/maps' line for an attach and
 * /proc/meminfo's Shmem growing as its pages are touched; and the
 * errors of shmget, shmat, shmdt and shmctl. Prints only what is the same
 * on every Linux run (no ids, addresses or times), to compare with a
 * native run. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

#define PG 4096

static struct shmid_ds stat_of(int id)
{
    struct shmid_ds d;
    memset(&d, 0, sizeof d);
    if (shmctl(id, IPC_STAT, &d) != 0)
        printf("IPC_STAT: %s\n", err(-1));
    return d;
}

static void show(const char *when, int id)
{
    struct shmid_ds d = stat_of(id);
    printf("%s: size %zu mode %o nattch %lu cpid-is-me %d lpid-is-me %d uid-is-me %d atime %d dtime %d\n", when,
           (size_t)d.shm_segsz, d.shm_perm.mode, (unsigned long)d.shm_nattch, d.shm_cpid == getpid(),
           d.shm_lpid == getpid(), d.shm_perm.uid == geteuid(), d.shm_atime != 0, d.shm_dtime != 0);
}

static void across_fork(void)
{
    int id = shmget(IPC_PRIVATE, 3 * PG, IPC_CREAT | 0600);
    printf("shmget: %d\n", id >= 0);
    show("made", id);
    char *p = shmat(id, NULL, 0);
    printf("shmat: %d aligned %d\n", p != (void *)-1, ((unsigned long)p & (PG - 1)) == 0);
    printf("fresh pages are zero: %d\n", p[0] == 0 && p[3 * PG - 1] == 0);
    strcpy(p, "from the parent");
    show("attached", id);
    pid_t pid = fork();
    if (pid == 0) {
        printf("child reads: %s\n", p);
        show("in the child", id);
        char *q = shmat(id, NULL, SHM_RDONLY);
        printf("child's second attach sees: %s\n", q);
        show("child attached twice", id);
        strcpy(p + PG, "from the child");
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("child exit: %d\n", WEXITSTATUS(st));
    printf("parent reads: %s\n", p + PG);
    show("child gone", id);
    /* Removed while attached: the key is gone, the segment stays. */
    printf("IPC_RMID: %s\n", err(shmctl(id, IPC_RMID, NULL)));
    show("removed", id);
    printf("still there: %s\n", p);
    char *again = shmat(id, NULL, 0);
    printf("attach after IPC_RMID: %d sees %s\n", again != (void *)-1, again);
    printf("shmdt: %s\n", err(shmdt(again)));
    printf("shmdt: %s\n", err(shmdt(p)));
    struct shmid_ds d;
    printf("IPC_STAT after the last detach: %s\n", err(shmctl(id, IPC_STAT, &d)));
}

/* The maps line of an attach: permissions, offset, device, whether the
 * inode is the id, and the name (the key in hex). */
static void maps(void)
{
    key_t key = 0x5f000000 | (getpid() & 0xffff);
    int id = shmget(key, 2 * PG, IPC_CREAT | IPC_EXCL | 0640);
    char *p = shmat(id, NULL, 0);
    char *r = shmat(id, NULL, SHM_RDONLY);
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, ino;
        char perms[8], dev[16], name[256] = "";
        if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %255[^\n]", &lo, &hi, perms, &off, dev, &ino, name) < 6)
            continue;
        if (lo != (unsigned long)p && lo != (unsigned long)r)
            continue;
        char want[64];
        snprintf(want, sizeof want, "/SYSV%08x (deleted)", (unsigned)key);
        printf("%s %s len %lu off %lu dev %s ino-is-id %d name-is-key %d\n", lo == (unsigned long)p ? "rw" : "ro",
               perms, hi - lo, off, dev, ino == (unsigned long)id, strcmp(name, want) == 0);
    }
    fclose(f);
    /* An existing key: EEXIST with IPC_EXCL, found without it. */
    printf("again excl: %s\n", err(shmget(key, PG, IPC_CREAT | IPC_EXCL | 0600)));
    printf("again: %d\n", shmget(key, PG, 0600) == id);
    printf("again bigger: %s\n", err(shmget(key, 3 * PG, 0600)));
    shmctl(id, IPC_RMID, NULL);
    printf("by key after IPC_RMID: %s\n", err(shmget(key, PG, 0600)));
    shmdt(p);
    shmdt(r);
}

static long shmem_kb(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Shmem: %ld kB", &v) == 1)
            break;
    fclose(f);
    return v;
}

static void meminfo(void)
{
    int id = shmget(IPC_PRIVATE, 1024 * PG, IPC_CREAT | 0600);
    char *p = shmat(id, NULL, 0);
    long before = shmem_kb();
    for (int i = 0; i < 1024; i++)
        p[i * PG] = 1;
    long after = shmem_kb();
    /* Other programs move the host's Shmem a little. */
    printf("Shmem grew by 4 MiB: %d\n", after - before >= 3584);
    struct shm_info si;
    int max = shmctl(0, SHM_INFO, (struct shmid_ds *)&si);
    printf("SHM_INFO: %d used %d rss >= 1024 pages %d\n", max >= 0, si.used_ids >= 1, si.shm_rss >= 1024);
    shmctl(id, IPC_RMID, NULL);
    shmdt(p);
    printf("Shmem back down: %d\n", shmem_kb() - after <= -3584);
}

static void errors(void)
{
    printf("size 0: %s\n", err(shmget(IPC_PRIVATE, 0, 0600)));
    printf("size past SHMMAX: %s\n", err(shmget(IPC_PRIVATE, (size_t)-1, 0600)));
    printf("no such key: %s\n", err(shmget(0x5e000000 | (getpid() & 0xffff), PG, 0600)));
    printf("SHM_HUGETLB: %s\n", err(shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | 0600)));
    printf("SHM_HUGETLB odd size: %s\n", err(shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | (13 << 26) | 0600)));
    printf("64 TiB: %s\n", err(shmget(IPC_PRIVATE, 1UL << 46, IPC_CREAT | 0600)));
    struct shminfo info;
    int r = shmctl(0, IPC_INFO, (struct shmid_ds *)&info);
    printf("IPC_INFO: %d max %lu min %lu mni %lu seg %lu all %lu\n", r >= 0, info.shmmax, info.shmmin, info.shmmni,
           info.shmseg, info.shmall);
    printf("shmctl bad cmd: %s\n", err(shmctl(0, 99, NULL)));
    printf("shmctl negative id: %s\n", err(shmctl(-1, IPC_STAT, NULL)));
    printf("shmat negative id: %s\n", err(shmat(-1, NULL, 0) == (void *)-1 ? -1 : 0));
    int id = shmget(IPC_PRIVATE, PG + 100, IPC_CREAT | 0600);
    printf("IPC_STAT to a bad pointer: %s\n", err(shmctl(id, IPC_STAT, (void *)8)));
    printf("IPC_SET from a bad pointer: %s\n", err(shmctl(id, IPC_SET, (void *)8)));
    struct shmid_ds d = stat_of(id);
    d.shm_perm.mode = 0644 | SHM_DEST;
    printf("IPC_SET: %s\n", err(shmctl(id, IPC_SET, &d)));
    printf("mode after IPC_SET: %o\n", stat_of(id).shm_perm.mode);
    printf("SHM_LOCK: %s\n", err(shmctl(id, SHM_LOCK, NULL)));
    printf("mode locked: %o\n", stat_of(id).shm_perm.mode);
    printf("SHM_UNLOCK: %s\n", err(shmctl(id, SHM_UNLOCK, NULL)));
    printf("mode unlocked: %o\n", stat_of(id).shm_perm.mode);
    printf("shmat unaligned: %s\n", err(shmat(id, (void *)0x10000123, 0) == (void *)-1 ? -1 : 0));
    printf("shmat SHM_REMAP without an address: %s\n", err(shmat(id, NULL, SHM_REMAP) == (void *)-1 ? -1 : 0));
    char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("shmat over a mapping: %s\n", err(shmat(id, m + PG, 0) == (void *)-1 ? -1 : 0));
    char *rnd = shmat(id, m + PG + 123, SHM_RND | SHM_REMAP);
    printf("SHM_RND|SHM_REMAP lands at the page: %d\n", rnd == m + PG);
    printf("the segment's two pages: %d\n", rnd[PG + 99] == 0);
    printf("shmdt unaligned: %s\n", err(shmdt(rnd + 1)));
    printf("shmdt not attached: %s\n", err(shmdt(m)));
    /* mprotect splits the attach; shmdt takes every piece. */
    mprotect(rnd, PG, PROT_READ);
    printf("nattch split: %lu\n", (unsigned long)stat_of(id).shm_nattch);
    printf("shmdt: %s\n", err(shmdt(rnd)));
    printf("nattch: %lu\n", (unsigned long)stat_of(id).shm_nattch);
    printf("after shmdt the hole: %s\n", err(mincore(m + PG, PG, (unsigned char[1]){0})));
    /* A read-only attach faults on a write. */
    char *ro = shmat(id, NULL, SHM_RDONLY);
    pid_t pid = fork();
    if (pid == 0) {
        ro[0] = 1;
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("write to SHM_RDONLY: signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    printf("IPC_RMID: %s\n", err(shmctl(id, IPC_RMID, NULL)));
    printf("IPC_RMID twice: %s\n", err(shmctl(id, IPC_RMID, NULL)));
    shmdt(ro);
    printf("IPC_RMID after: %s\n", err(shmctl(id, IPC_RMID, NULL)));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *what = argc > 1 ? argv[1] : "all";
    int all = !strcmp(what, "all");
    if (all || !strcmp(what, "fork"))
        across_fork();
    if (all || !strcmp(what, "maps"))
        maps();
    if (all || !strcmp(what, "meminfo"))
        meminfo();
    if (all || !strcmp(what, "errors"))
        errors();
    return 0;
}
