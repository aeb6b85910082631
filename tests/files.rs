//! Files: the distribution's own dynamically linked programs (coreutils,
//! dash, python3) and C programs that map, write and rename files, each
//! compared byte for byte (and exit status) with a native run; the host's
//! files unchanged by what the guest writes; paths that try to leave the
//! root; binds; and shared libraries in the timeline.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use faultline::timeline::{EventKind, Origin};
use faultline::Program;
use support::*;

/// The guest's environment, for the native run too.
const ENV: [(&str, &str); 4] =
    [("PATH", "/usr/local/bin:/usr/bin:/bin"), ("HOME", "/"), ("TERM", "dumb"), ("LANG", "C")];

/// Runs `argv` natively in the guest's environment: (stdout, stderr, code).
fn native(argv: &[&str]) -> (Vec<u8>, String, i32) {
    let out = Command::new(argv[0]).args(&argv[1..]).env_clear().envs(ENV).output().expect("native run");
    (out.stdout, String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code().unwrap_or(-1))
}

/// Runs host program `argv[0]` under faultline.
fn guest(argv: &[&str]) -> Run {
    let mut c = config(argv);
    c.timeout = Some(scaled(std::time::Duration::from_secs(60)));
    run_image(&Program::Path(PathBuf::from(argv[0])), c)
}

/// The same program, natively and under faultline: same stdout, stderr and
/// exit status.
fn same_as_native(argv: &[&str]) -> Run {
    let (out, err, code) = native(argv);
    let run = guest(argv);
    assert_eq!(
        String::from_utf8_lossy(&run.stdout_bytes),
        String::from_utf8_lossy(&out),
        "{argv:?}: stdout differs (guest stderr: {})",
        run.stderr
    );
    assert_eq!(run.stdout_bytes, out, "{argv:?}: stdout bytes differ");
    assert_eq!(run.stderr, err, "{argv:?}: stderr differs");
    assert_eq!(run.code(), code, "{argv:?}: exit status differs");
    run
}

/// A small fixed directory for ls, cat, sort, wc, md5sum, head.
fn sample_dir() -> TempDir {
    let d = TempDir::new("sample");
    let lines: String = (0..200).map(|i| format!("line {:03} {}\n", (i * 37) % 200, "x".repeat(i % 13))).collect();
    std::fs::write(d.join("a.txt"), &lines).unwrap();
    std::fs::write(d.join("b.txt"), "banana\napple\ncherry\n").unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    std::os::unix::fs::symlink("a.txt", d.join("link")).unwrap();
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    for f in ["a.txt", "b.txt"] {
        std::fs::File::options().write(true).open(d.join(f)).unwrap().set_modified(t).unwrap();
    }
    d
}

#[test]
fn coreutils_match_native() {
    let d = sample_dir();
    let (a, b) = (d.s("a.txt"), d.s("b.txt"));
    same_as_native(&["/bin/ls", "-l", d.path().to_str().unwrap()]);
    same_as_native(&["/bin/ls", "-la", "--time-style=+%s", &d.s("sub")]);
    same_as_native(&["/bin/cat", &a, &b]);
    same_as_native(&["/usr/bin/sort", &a]);
    same_as_native(&["/usr/bin/sort", "-r", &b]);
    same_as_native(&["/usr/bin/wc", &a, &b]);
    same_as_native(&["/usr/bin/md5sum", &a, &b]);
    same_as_native(&["/usr/bin/head", "-3", &a]);
    // A missing file: the same message and status 1.
    let r = same_as_native(&["/bin/cat", &d.s("missing")]);
    assert_eq!(r.code(), 1);
    // cp into /tmp and back out through md5sum, then gone.
    let script = format!("t=$(mktemp) && cp {a} $t && md5sum < $t && rm $t && test ! -e $t && echo removed");
    same_as_native(&["/bin/sh", "-c", &script]);
}

#[test]
fn dash_runs_a_pipeline() {
    let r = same_as_native(&["/bin/sh", "-c", "seq 1 1000 | sort -rn | head -3"]);
    assert_eq!(r.stdout, "1000\n999\n998\n");
    // Exit statuses through the shell.
    same_as_native(&["/bin/sh", "-c", "false; echo $?; (exit 7); echo $?; exit 3"]);
}

#[test]
fn python_matches_native() {
    let code = "import json, re, collections\n\
                l = list(range(1000000))\n\
                print(len(l), sum(l))\n\
                print(json.dumps({'a': [1, 2, {'b': None}]}, sort_keys=True))\n\
                print(re.findall(r'\\d+', 'a1b22c333'))\n\
                print(collections.Counter('mississippi').most_common(2))";
    let r = same_as_native(&["/usr/bin/python3", "-c", code]);
    assert!(r.stdout.starts_with("1000000 499999500000\n"), "{}", r.stdout);
}

#[test]
fn file_mappings_match_native() {
    for libc in LIBCS {
        let dir = TempDir::new("map");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let name = format!("filemap-{libc}");
        let (out, code) = run_native(&name, &[dir.path().to_str().unwrap()]);
        assert_eq!(code, 0, "{name} natively");
        let run = run_fixture(&name, &[dir.path().to_str().unwrap()]);
        assert_eq!(run.stdout, out, "{name}: stderr {}", run.stderr);
        assert_eq!(run.code(), 0);
        for line in [
            "after shared write: read 3 'XYZ'\n",
            "shared sees bbb private pqr\n",
            "after pwrite: shared JKL private pqr\n",
            "SIGBUS code 2 (BUS_ADRERR 2)\n",
            "child: signaled 1 sig 7\n",
            "memfd read: through the mapping\n",
        ] {
            assert!(run.stdout.contains(line), "{name}: no {line:?} in {}", run.stdout);
        }
        // The guest's files lived in memory: nothing of them on the host.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{name} left files on the host");
    }
}

#[test]
fn host_files_never_change() {
    let d = TempDir::new("host");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let f = d.join("victim");
    std::fs::write(&f, "original\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
    let before = std::fs::metadata(&f).unwrap();
    let v = d.s("victim");
    let script = format!(
        "echo changed > {v} && cat {v} && echo more >> {v} && wc -c < {v} && mv {v} {v}.moved && \
         cat {v}.moved | head -1 && ln -s /etc {v}.link && touch {v}.new && rm {v}.moved && ls {dir}",
        dir = d.path().display()
    );
    let r = guest(&["/bin/sh", "-c", &script]);
    assert_eq!(r.stdout, "changed\n13\nchanged\nvictim.link\nvictim.new\n", "{}", r.stderr);
    assert_eq!(r.code(), 0);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "original\n");
    let after = std::fs::metadata(&f).unwrap();
    assert_eq!(
        (after.len(), after.modified().unwrap(), after.permissions().mode()),
        (before.len(), before.modified().unwrap(), before.permissions().mode())
    );
    let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("victim")]);
    // A file the user may not write: EACCES, as natively for uid 1000.
    let script = "echo x > /etc/passwd; echo $?; echo x > /etc/new; echo $?";
    let mut c = config(&["/bin/sh", "-c", script]);
    c.identity = Some(user_1000());
    let r = run_image(&Program::Path("/bin/sh".into()), c);
    assert_eq!(r.stdout, "2\n2\n");
    assert!(r.stderr.contains("Permission denied"), "{}", r.stderr);
    // Root may (CAP_DAC_OVERRIDE), into the layer: the host's stays.
    let passwd = std::fs::read("/etc/passwd").unwrap();
    let mut c = config(&["/bin/sh", "-c", script]);
    c.identity = Some(faultline::Identity { uid: 0, gid: 0, groups: Vec::new() });
    let r = run_image(&Program::Path("/bin/sh".into()), c);
    assert_eq!(r.stdout, "0\n0\n", "{}", r.stderr);
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), passwd);
    assert!(!Path::new("/etc/new").exists());
}

/// A root of its own, holding the catpaths probe and links that point
/// outside it.
fn escape_root() -> TempDir {
    let d = TempDir::new("root");
    for dir in ["bin", "etc/sub", "tmp"] {
        std::fs::create_dir_all(d.join(dir)).unwrap();
    }
    std::fs::set_permissions(d.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::copy(elf_fixtures::path("catpaths-glibc"), d.join("bin/catpaths")).unwrap();
    std::fs::write(d.join("etc/passwd"), "inside the root\n").unwrap();
    std::fs::write(d.join("tmp/open"), "open to all\n").unwrap();
    std::fs::set_permissions(d.join("tmp/open"), std::fs::Permissions::from_mode(0o666)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", d.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../etc/passwd", d.join("etc/sub/rel")).unwrap();
    std::os::unix::fs::symlink("/../../etc", d.join("etcdir")).unwrap();
    std::os::unix::fs::symlink("loop2", d.join("loop1")).unwrap();
    std::os::unix::fs::symlink("loop1", d.join("loop2")).unwrap();
    std::os::unix::fs::symlink("self", d.join("self")).unwrap();
    d
}

#[test]
fn paths_cannot_leave_the_root() {
    let d = escape_root();
    let mut c = config(&[
        "/bin/catpaths",
        "/etc/passwd",
        "../../../../etc/passwd",
        "/abs",
        "/etc/sub/rel",
        "/etcdir/passwd",
        "/etc/sub/../../../etc/passwd",
        "/proc/self/root/etc/passwd",
        "/loop1",
        "/self",
        "/bin/catpaths/x",
        &format!("/{}", "a".repeat(256)),
        &"a/".repeat(2100),
        "-w",
        "/tmp/open",
    ]);
    c.root = d.path().to_path_buf();
    c.cwd = Some("/etc/sub".into());
    let r = run_image(&Program::Path(d.join("bin/catpaths")), c);
    let long = "a".repeat(256);
    let deep = "a/".repeat(2100);
    let want = format!(
        "/etc/passwd: inside the root\n\
         ../../../../etc/passwd: inside the root\n\
         /abs: inside the root\n\
         /etc/sub/rel: inside the root\n\
         /etcdir/passwd: inside the root\n\
         /etc/sub/../../../etc/passwd: inside the root\n\
         /proc/self/root/etc/passwd: inside the root\n\
         /loop1: errno 40\n\
         /self: errno 40\n\
         /bin/catpaths/x: errno 20\n\
         /{long}: errno 36\n\
         {deep}: errno 36\n\
         /tmp/open: changed\n"
    );
    assert_eq!(r.stdout, want, "{}", r.stderr);
    assert_eq!(r.code(), 0);
    // The guest's write stayed in the sandbox.
    assert_eq!(std::fs::read_to_string(d.join("tmp/open")).unwrap(), "open to all\n");
}

#[test]
fn binds_are_read_only_unless_rw() {
    let host = TempDir::new("bind");
    for sub in ["ro", "rw"] {
        std::fs::create_dir(host.join(sub)).unwrap();
        std::fs::write(host.join(&format!("{sub}/f")), "host\n").unwrap();
    }
    let bind = |spec: &str| faultline::parse_bind(spec).unwrap();
    let script = "cat /mnt/ro/f /mnt/rw/f; echo x > /mnt/ro/f; echo $?; echo guest >> /mnt/rw/f; \
                  mkdir /mnt/rw/d && echo new > /mnt/rw/d/n && mv /mnt/rw/d/n /mnt/rw/d/m; \
                  ln /mnt/rw/f /tmp/f; echo $?; ls /mnt/rw /mnt/rw/d";
    let mut c = config(&["/bin/sh", "-c", script]);
    c.binds = vec![bind(&format!("{}:/mnt/ro", host.s("ro"))), bind(&format!("{}:/mnt//rw/:rw", host.s("rw")))];
    let r = run_image(&Program::Path("/bin/sh".into()), c);
    assert_eq!(r.stdout, "host\nhost\n2\n1\n/mnt/rw:\nd\nf\n\n/mnt/rw/d:\nm\n", "{}", r.stderr);
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
    assert!(r.stderr.contains("Invalid cross-device link"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(host.join("ro/f")).unwrap(), "host\n");
    assert_eq!(std::fs::read_to_string(host.join("rw/f")).unwrap(), "host\nguest\n");
    assert_eq!(std::fs::read_to_string(host.join("rw/d/m")).unwrap(), "new\n");
    // A shared mapping's writes reach the host file of a read-write bind
    // when it is unmapped (no msync), and truncation too.
    std::fs::write(host.join("rw/m"), "0123456789abcdef").unwrap();
    let py = "import mmap, os\n\
              f = open('/mnt/rw/m', 'r+b')\n\
              m = mmap.mmap(f.fileno(), 16)\n\
              m[0:4] = b'MAPD'\n\
              m.close()\n\
              os.truncate('/mnt/rw/m', 10)\n\
              print(open('/mnt/rw/m').read())";
    let mut c = config(&["/usr/bin/python3", "-c", py]);
    c.binds = vec![bind(&format!("{}:/mnt/rw:rw", host.s("rw")))];
    let r = run_image(&Program::Path("/usr/bin/python3".into()), c);
    assert_eq!((r.stdout.as_str(), r.code()), ("MAPD456789\n", 0), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(host.join("rw/m")).unwrap(), "MAPD456789");
    assert!(faultline::parse_bind(&format!("{}:rel", host.s("ro"))).is_err());
    assert!(faultline::parse_bind(&format!("{}:/x:rx", host.s("ro"))).is_err());
    assert!(faultline::parse_bind("/no/such/dir:/x").is_err());
}

#[test]
fn shared_libraries_are_named_and_cached() {
    // Two runs of the same dynamic program: the second maps libc's pages
    // from the page cache (minor faults) where the first read them.
    let r = guest(&["/bin/sh", "-c", "/bin/true; /bin/true"]);
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let libc_events: Vec<_> = r
        .outcome
        .events
        .iter()
        .filter(|e| e.origin == Origin::Guest && r.region(e) == "libc.so.6")
        .filter(|e| matches!(e.kind, EventKind::FileCopy | EventKind::CacheHit))
        .collect();
    let pids: BTreeSet<u32> = libc_events.iter().map(|e| e.pid).collect();
    assert_eq!(pids.len(), 3, "sh and two true processes fault libc.so.6: {pids:?}");
    // Each page of the file is read from it once (a major fault); every
    // other fault of it is a cache hit on the same frame.
    let mut reads: BTreeMap<u64, usize> = BTreeMap::new();
    for e in &libc_events {
        if e.kind == EventKind::FileCopy {
            *reads.entry(e.gpa).or_default() += 1;
        }
    }
    assert!(reads.values().all(|&n| n == 1), "a libc page read twice: {reads:?}");
    let by_pid = |pid: u32, kind: EventKind| libc_events.iter().filter(|e| e.pid == pid && e.kind == kind).count();
    let pids: Vec<u32> = pids.into_iter().collect();
    let (first, second) = (pids[1], pids[2]);
    let first_pages: BTreeSet<u64> = libc_events.iter().filter(|e| e.pid == first).map(|e| e.gva).collect();
    // The second true touches what the first did: all cache hits there.
    for e in libc_events.iter().filter(|e| e.pid == second && first_pages.contains(&e.gva)) {
        assert_eq!(e.kind, EventKind::CacheHit, "second run re-read {:#x}", e.gva);
    }
    assert!(by_pid(second, EventKind::CacheHit) > 0);
    assert!(by_pid(first, EventKind::CacheHit) + by_pid(first, EventKind::FileCopy) > 0);
    // The summary carries the region too.
    assert!(r.guest_faults_in("libc.so.6") > 0);
}

/// Each page of `region`'s reads (from the file or the cache) and
/// evictions, in order.
fn reads_and_evictions(r: &Run, region: &str) -> BTreeMap<u64, Vec<EventKind>> {
    let mut per_page: BTreeMap<u64, Vec<EventKind>> = BTreeMap::new();
    for e in r.outcome.events.iter().filter(|e| r.region(e) == region) {
        if matches!(e.kind, EventKind::FileCopy | EventKind::CacheHit | EventKind::Evict) {
            per_page.entry(e.gva).or_default().push(e.kind);
        }
    }
    per_page
}

#[test]
fn clean_file_pages_are_dropped_and_read_again_under_pressure() {
    let d = TempDir::new("scan");
    let pages = 2048u64;
    let bytes: Vec<u8> = (0..pages * 4096).map(|i| ((i / 4096) as u8).wrapping_mul(7) ^ (i as u8)).collect();
    std::fs::write(d.join("scan.bin"), &bytes).unwrap();
    let file = d.s("scan.bin");
    let (native_out, code) = run_native("filescan-glibc", &[&file]);
    assert_eq!(code, 0);
    let mut c = config(&["filescan-glibc", &file]);
    c.rss_limit = Some(2 << 20);
    let r = run_image(&fixture("filescan-glibc"), c);
    assert_eq!((r.stdout.as_str(), r.code()), (native_out.as_str(), 0), "{}", r.stderr);
    // Per page of the file, in order: each read from the file after the
    // first follows an eviction of that page; clean pages never go to swap.
    let per_page = reads_and_evictions(&r, "scan.bin");
    assert_eq!(per_page.len() as u64, pages);
    let (mut reads, mut evicts) = (0u64, 0u64);
    for (va, kinds) in &per_page {
        let touches: Vec<_> = kinds.iter().filter(|k| **k != EventKind::Evict).collect();
        assert_eq!(touches[0], &EventKind::FileCopy, "{va:#x}: {kinds:?}");
        // Between two touches there is an eviction exactly when the second
        // is a read from the file.
        let mut evicted = false;
        for k in &kinds[1..] {
            match k {
                EventKind::Evict => evicted = true,
                EventKind::FileCopy => {
                    assert!(evicted, "{va:#x} read again without eviction: {kinds:?}");
                    evicted = false;
                }
                _ => assert!(!evicted, "{va:#x} cache hit after eviction: {kinds:?}"),
            }
        }
        reads += kinds.iter().filter(|k| **k == EventKind::FileCopy).count() as u64;
        evicts += kinds.iter().filter(|k| **k == EventKind::Evict).count() as u64;
    }
    // 8 MiB through a 2 MiB budget, twice: most pages are read twice.
    assert!(reads > pages + pages / 2, "reads {reads}");
    assert!(evicts >= reads - pages);
    assert_eq!(r.outcome.events.iter().filter(|e| e.kind == EventKind::SwapIn).count(), 0);
}

#[test]
fn sandbox_files_are_memory_and_run() {
    // A program the sandbox wrote runs from the page cache.
    let r = guest(&["/bin/sh", "-c", "cp /bin/echo /tmp/e$$ && /tmp/e$$ from the copy && rm /tmp/e$$"]);
    assert_eq!((r.stdout.as_str(), r.code()), ("from the copy\n", 0), "{}", r.stderr);
    // Written files count as shared memory, and go when removed.
    let r = guest(&[
        "/bin/sh",
        "-c",
        "head -c 4194304 /dev/zero > /tmp/big$$ && grep ^Shmem: /proc/meminfo && rm /tmp/big$$ && grep ^Shmem: /proc/meminfo",
    ]);
    assert_eq!(r.stdout, "Shmem:              4096 kB\nShmem:                 0 kB\n", "{}", r.stderr);
    // The layer is a tmpfs of half of RAM: past it, ENOSPC.
    let mut c = config(&["/bin/sh", "-c", "head -c 40000000 /dev/zero > /tmp/big$$; echo $?; wc -c < /tmp/big$$"]);
    c.mem = 32 << 20;
    let r = run_image(&Program::Path("/bin/sh".into()), c);
    assert_eq!(r.stdout, "1\n16777216\n", "{}", r.stderr);
    assert!(r.stderr.contains("No space left on device"), "{}", r.stderr);
}

/// File-system calls through Python's os, shutil and mmap: creating,
/// renaming, linking, truncating, mapping and removing in /tmp.
const PY_FS_OPS: &str = r#"
import os, shutil, tempfile, mmap, errno
d = tempfile.mkdtemp(dir="/tmp")
def e(f, *a):
    try:
        r = f(*a); return "ok" if r is None else r
    except OSError as x:
        return errno.errorcode[x.errno]
os.makedirs(os.path.join(d, "a/b/c"))
with open(os.path.join(d, "a/f"), "w") as f: f.write("hello world\n" * 1000)
print(os.stat(os.path.join(d, "a/f")).st_size)
print(e(os.rename, os.path.join(d, "a/f"), os.path.join(d, "a/b/g")))
print(e(os.replace, os.path.join(d, "a/b/g"), os.path.join(d, "a/b/c/h")))
print(e(os.link, os.path.join(d, "a/b/c/h"), os.path.join(d, "h2")), os.stat(os.path.join(d, "h2")).st_nlink)
print(e(os.symlink, "a/b/c/h", os.path.join(d, "sl")), os.readlink(os.path.join(d, "sl")))
print(open(os.path.join(d, "sl")).read(11))
print(sorted(os.listdir(d)), sorted(os.listdir(os.path.join(d, "a/b/c"))))
print(e(os.rmdir, os.path.join(d, "a")), e(os.mkdir, os.path.join(d, "a")), e(os.unlink, os.path.join(d, "a")))
print(e(os.rename, os.path.join(d, "a/b"), os.path.join(d, "a/b/c/x")))
print(e(os.rename, os.path.join(d, "a/b/c"), os.path.join(d, "moved")), sorted(os.listdir(os.path.join(d, "moved"))))
os.truncate(os.path.join(d, "h2"), 5); print(open(os.path.join(d, "moved/h")).read())
with open(os.path.join(d, "h2"), "r+b") as f:
    m = mmap.mmap(f.fileno(), 0); m[0:5] = b"HELLO"; m.flush(); m.close()
print(open(os.path.join(d, "moved/h")).read())
shutil.copy(os.path.join(d, "h2"), os.path.join(d, "cp")); print(open(os.path.join(d, "cp")).read())
os.chmod(os.path.join(d, "cp"), 0o600); print(oct(os.stat(os.path.join(d, "cp")).st_mode))
os.utime(os.path.join(d, "cp"), (1000000000, 1200000000)); st = os.stat(os.path.join(d, "cp")); print(st.st_atime, st.st_mtime)
fd = os.open(os.path.join(d, "ap"), os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
os.write(fd, b"one\n"); os.lseek(fd, 0, 0); os.write(fd, b"two\n"); os.close(fd); print(open(os.path.join(d, "ap")).read())
print(e(os.open, os.path.join(d, "ap/"), os.O_CREAT | os.O_WRONLY))
print(e(os.open, os.path.join(d, "ap"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
shutil.rmtree(d); print(os.path.exists(d))
"#;

#[test]
fn python_file_operations_match_native() {
    let r = same_as_native(&["/usr/bin/python3", "-c", PY_FS_OPS]);
    assert!(r.stdout.contains("\nhello\nHELLO\nHELLO\n"), "{}", r.stdout);
    assert!(r.stdout.ends_with("False\n"), "{}", r.stdout);
    // A mapping of an unlinked file shows as "(deleted)" in /proc/self/maps.
    let py = "import mmap, os\n\
              f = open('/tmp/delme-%d' % os.getpid(), 'w+b'); f.write(b'x' * 4096); f.flush()\n\
              m = mmap.mmap(f.fileno(), 4096); os.unlink(f.name)\n\
              print([l.split()[-1] for l in open('/proc/self/maps') if 'delme' in l])";
    let r = same_as_native(&["/usr/bin/python3", "-c", py]);
    assert_eq!(r.stdout, "['(deleted)']\n");
}

/// /proc/self/maps and smaps read 1 (smaps: 13), 100, 4096 bytes or 1 MiB at a time,
/// at offsets (pread), with seeks: the same file every way (smaps: the
/// same records; its figures move as the program runs, natively too),
/// each read at most a page of records, SEEK_END refused, as seq_file
/// does. (Reads go into one buffer made beforehand and are compared by
/// hash or counted in place, so reading changes no mapping.)
const PY_SEQ_FILES: &str = r#"import os, hashlib
buf = bytearray(1 << 21)
buf[:] = b'\1' * len(buf)
mv = memoryview(buf)
def rd(path, n):
    f = open(path, 'rb', buffering=0)
    at = 0
    while True:
        k = f.readinto(mv[at:at + n])
        if not k:
            break
        at += k
    f.close()
    return at
rd('/proc/self/smaps', 7); hashlib.sha256(mv[:10]).digest()
for p in ['/proc/self/maps', '/proc/self/smaps']:
    outs = []
    for n in [1 if p.endswith('/maps') else 13, 100, 4096, 1 << 20]:
        k = rd(p, n)
        if p.endswith('smaps'):
            outs.append((buf.count(b'\n', 0, k), buf.count(b' kB\n', 0, k), buf.count(b'VmFlags', 0, k)))
        else:
            outs.append((k, hashlib.sha256(mv[:k]).digest()))
    print(p, all(o == outs[0] for o in outs), outs[0][0] > 100)
k = rd('/proc/self/maps', 4096)
f = open('/proc/self/maps', 'rb', buffering=0)
fd = f.fileno()
print(os.pread(fd, 10, 50) == mv[50:60], os.pread(fd, 7, 3) == mv[3:10])
os.lseek(fd, 5, os.SEEK_SET); os.lseek(fd, 5, os.SEEK_CUR)
print(os.read(fd, 4) == mv[10:14])
f = open('/proc/self/smaps', 'rb', buffering=0)
print(0 < f.readinto(mv[:1 << 20]) <= 4096)
try:
    os.lseek(f.fileno(), 0, os.SEEK_END)
    print('SEEK_END allowed')
except OSError as e:
    print('SEEK_END', e.errno)
"#;

#[test]
fn proc_maps_and_smaps_read_record_by_record_match_native() {
    // Some 20 000 small reads: by VM exits, whose cost is steady; the
    // ring's per-call latency on a loaded two-core machine is not, and
    // this is about /proc, not the syscall path.
    let argv = ["/usr/bin/python3", "-c", PY_SEQ_FILES];
    let mut c = config(&argv);
    c.timeout = Some(scaled(std::time::Duration::from_secs(120)));
    c.syscalls = faultline::SyscallPath::Exit;
    let r = run_image(&Program::Path(PathBuf::from(argv[0])), c);
    assert_eq!((r.stdout_bytes.clone(), r.stderr.clone(), r.code()), native(&argv), "{}", r.stdout);
    assert_eq!(r.stdout, "/proc/self/maps True True\n/proc/self/smaps True True\nTrue True\nTrue\nTrue\nSEEK_END 22\n");
}

#[test]
fn paged_out_shared_pages_keep_what_was_written_without_a_fault() {
    // The page is mapped writable on the read fault, so the write sets
    // only the dirty bit; MADV_PAGEOUT must still save it.
    let py = "import mmap, os\n\
              fd = os.memfd_create('x'); os.ftruncate(fd, 4096)\n\
              m = mmap.mmap(fd, 4096)\n\
              m[0]; m[0:4] = b'kept'\n\
              m.madvise(21)  # MADV_PAGEOUT\n\
              print(os.pread(fd, 4, 0), m[0:4])";
    let mut c = config(&["/usr/bin/python3", "-c", py]);
    c.swap = 1 << 20;
    let r = run_image(&Program::Path("/usr/bin/python3".into()), c);
    assert_eq!((r.stdout.as_str(), r.code()), ("b'kept' b'kept'\n", 0), "{}", r.stderr);
    let (native_out, _, _) = native(&["/usr/bin/python3", "-c", py]);
    assert_eq!(r.stdout_bytes, native_out);
}

/// FIFOs and mknod: fifo_open's waits and errors, a signal ending a
/// blocked open (EINTR without SA_RESTART), data, poll's bits and EOF,
/// and mknod's types and errors, in a directory of its own under /tmp (the
/// host's natively, the sandbox's layer here).
#[test]
fn fifos_and_mknod_as_natively() {
    for libc in ["glibc", "musl"] {
        let name = format!("fifo-{libc}");
        let run = run_fixture(&name, &[]);
        let (native, code) = run_native(&name, &[]);
        assert_eq!(code, 0, "{libc} natively: {native}");
        assert_eq!(run.code(), 0, "{libc}: {}\n{}", run.stdout, run.stderr);
        for (n, (a, b)) in native.lines().zip(run.stdout.lines()).enumerate() {
            assert_eq!(b, a, "{libc}: line {} differs from Linux", n + 1);
        }
        assert_eq!(run.stdout, native, "{libc}");
        assert!(run.stdout.contains("open O_RDONLY interrupted    -1 Interrupted system call"), "{libc}");
    }
}

/// The file system type the host's own mount table gives `dir`: that of
/// the mount with the longest mount point above it.
fn host_fs_type(dir: &std::path::Path) -> String {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let dir = dir.canonicalize().unwrap();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let point = f[1].replace("\\040", " ");
            dir.starts_with(&point).then(|| (point.len(), f[2].to_string()))
        })
        .max_by_key(|(n, _)| *n)
        .unwrap()
        .1
}

#[test]
fn mounts_list_the_view_and_each_bind_as_its_host_file_system() {
    let host = TempDir::new("mounts");
    let bind = |spec: &str| faultline::parse_bind(spec).unwrap();
    let mut c = config(&["/bin/cat", "/proc/self/mounts", "/proc/mounts"]);
    c.binds = vec![bind(&format!("{}:/mnt/a b:rw", host.s(""))), bind(&format!("{}:/ro", host.s("")))];
    let r = run_image(&Program::Path("/bin/cat".into()), c);
    let fs = host_fs_type(host.path());
    let table = format!(
        "overlay / overlay rw,nosuid,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n\
         tmpfs /dev tmpfs rw,nosuid 0 0\n{fs} /mnt/a\\040b {fs} rw,nosuid,relatime 0 0\n{fs} /ro {fs} ro,nosuid,relatime 0 0\n"
    );
    assert_eq!(r.stdout, format!("{table}{table}"), "{}", r.stderr);
}

/// Pages of `path` the host's page cache holds now (mincore on a mapping).
fn host_resident(path: &str) -> usize {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path).unwrap();
    let len = f.metadata().unwrap().len() as usize;
    let pages = len.div_ceil(4096);
    let mut vec = vec![0u8; pages];
    // SAFETY: a read-only shared mapping of the whole file, unmapped here;
    // `vec` holds a byte per page.
    unsafe {
        let p = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, f.as_raw_fd(), 0);
        assert_ne!(p, libc::MAP_FAILED);
        assert_eq!(libc::mincore(p, len, vec.as_mut_ptr()), 0);
        libc::munmap(p, len);
    }
    vec.iter().filter(|b| *b & 1 != 0).count()
}

/// `--page-cache`: what the guest's page cache holds of a host file at the
/// start decides each first read's kind. A file the host has cached reads
/// as cache hits (minor faults) with `host` and `warm`, from the file
/// (major) with `cold`; once the host drops it, `host` reads it from the
/// file, and the run that did leaves it cached on the host for the next.
#[test]
fn the_page_cache_starts_as_the_host_has_it() {
    use faultline::PageCache;
    // Under the build's own directory, not /tmp: a tmpfs cannot drop a
    // page (it is the page's only copy).
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("pagecache-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let pages = 48u64;
    let bytes: Vec<u8> = (0..pages * 4096).map(|i| (i / 4096) as u8 ^ (i as u8)).collect();
    std::fs::write(d.join("warm.bin"), &bytes).unwrap();
    std::fs::write(d.join("dropped.bin"), &bytes[..4096]).unwrap();
    let s = |name: &str| d.join(name).to_string_lossy().into_owned();
    let (warm, dropped) = (s("warm.bin"), s("dropped.bin"));
    let (native_out, code) = run_native("filescan-glibc", &[&warm, "1"]);
    assert_eq!(code, 0);
    assert_eq!(host_resident(&warm), pages as usize, "the host caches what it just read");
    let kinds = |file: &str, start: PageCache, around: u64| {
        let mut c = config(&["filescan-glibc", file, "1"]);
        c.page_cache = start;
        c.fault_around = around;
        let r = run_image(&fixture("filescan-glibc"), c);
        assert_eq!(r.code(), 0, "{}", r.stderr);
        let region = file.rsplit('/').next().unwrap();
        let n = |k: EventKind| r.outcome.events.iter().filter(|e| r.region(e) == region && e.kind == k).count();
        (r.stdout.clone(), n(EventKind::FileCopy), n(EventKind::CacheHit), n(EventKind::FaultAround))
    };
    let p = pages as usize;
    assert_eq!(kinds(&warm, PageCache::Host, 0), (native_out.clone(), 0, p, 0), "host: cached");
    assert_eq!(kinds(&warm, PageCache::Warm, 0), (native_out.clone(), 0, p, 0), "warm");
    assert_eq!(kinds(&warm, PageCache::Cold, 0), (native_out.clone(), p, 0, 0), "cold");
    // Fault-around maps the host's cached pages too: fewer faults, every
    // page still a row.
    let (out, copies, hits, around) = kinds(&warm, PageCache::Host, 64 << 10);
    assert_eq!((out, copies, hits + around), (native_out, 0, p));
    assert!(hits < p / 8, "{hits} cache hits for {p} pages with fault-around");

    // A page the host does not hold is read from the file: a major fault.
    let f = std::fs::File::open(&dropped).unwrap();
    f.sync_all().unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: advice on our own open file.
    assert_eq!(unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) }, 0);
    assert_eq!(host_resident(&dropped), 0, "the host dropped the clean page");
    let (_, copies, hits, _) = kinds(&dropped, PageCache::Host, 0);
    assert_eq!((copies, hits), (1, 0), "host: not cached there");
    assert_eq!(host_resident(&dropped), 1, "reading it cached it on the host");
    let (_, copies, hits, _) = kinds(&dropped, PageCache::Host, 0);
    assert_eq!((copies, hits), (0, 1), "host: cached there now");

    // Only the start is the host's: a page the guest's cache let go under
    // pressure is read from the file again.
    let big: Vec<u8> = (0..2048 * 4096u64).map(|i| (i / 4096) as u8 ^ (i as u8)).collect();
    std::fs::write(d.join("big.bin"), &big).unwrap();
    let big = s("big.bin");
    let (native_out, code) = run_native("filescan-glibc", &[&big]);
    assert_eq!(code, 0);
    let mut c = config(&["filescan-glibc", &big]);
    (c.page_cache, c.fault_around, c.rss_limit) = (PageCache::Host, 0, Some(2 << 20));
    let r = run_image(&fixture("filescan-glibc"), c);
    assert_eq!((r.stdout.as_str(), r.code()), (native_out.as_str(), 0), "{}", r.stderr);
    let per_page = reads_and_evictions(&r, "big.bin");
    assert_eq!(per_page.len(), 2048);
    let mut again = 0;
    for (va, kinds) in &per_page {
        assert_eq!(kinds[0], EventKind::CacheHit, "{va:#x}: {kinds:?}");
        for w in kinds.windows(2) {
            if w[0] == EventKind::Evict {
                assert_eq!(w[1], EventKind::FileCopy, "{va:#x}: {kinds:?}");
                again += 1;
            }
        }
    }
    assert!(again > 1024, "{again} pages read again");
    std::fs::remove_dir_all(&d).unwrap();
}
