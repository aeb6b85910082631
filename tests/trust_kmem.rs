//! Kernel memory counts against `--mem` (issue 21, item 4): pipe buffers,
//! open files and descriptor tables, signal queues and threads hold pages
//! of the sandbox's RAM, show in /proc/meminfo, and past the budget the
//! guest gets Linux's errno while faultline's own memory stays bounded.
//! The guest is `elf-fixtures/libc/kmem.c`, built with glibc and musl.

mod support;

use support::{faultline_measured, run_native, Measured};

/// Runs `kmem-LIBC MODE ARGS` in faultline with 64 MiB of RAM.
fn kmem(libc: &str, args: &[&str]) -> Measured {
    let path = elf_fixtures::path(&format!("kmem-{libc}")).display().to_string();
    let mut argv = vec!["run", "-q", "--timeout", "120", "--mem", "64M", &path];
    argv.extend_from_slice(args);
    let m = faultline_measured(&argv);
    assert_eq!(m.code, 0, "kmem {args:?} ({libc}): {}\n{}", m.stdout, m.stderr);
    m
}

/// The number after `key` in `text`.
fn number_after(text: &str, key: &str) -> i64 {
    let at = text.find(key).unwrap_or_else(|| panic!("no {key:?} in {text}")) + key.len();
    let digits: String = text[at..].trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
    digits.parse().unwrap_or_else(|_| panic!("no number after {key:?} in {text}"))
}

#[test]
fn thousands_of_filled_pipes_meet_enomem_within_the_budget() {
    // The probe: 4 000 pipes, each filled with 64 KiB, at --mem
    // 64M (250 MiB of buffers: faultline held them on the host, 257 MB).
    // Pipe pages now come out of the sandbox's RAM: the write that finds
    // none left fails with ENOMEM (pipe_write's errno), and a new pipe
    // then with ENFILE (get_pipe_inode's); closing them gives it all back.
    for libc in ["glibc", "musl"] {
        let m = kmem(libc, &["pipefill", "4000"]);
        let out = &m.stdout;
        assert!(out.contains(", ENOMEM\n"), "{libc}: {out}");
        assert!(out.contains("pipe(): ENFILE\n"), "{libc}: {out}");
        let made = number_after(out, "pipes made:");
        let failed_at = number_after(out, "first write that failed: pipe");
        assert!(failed_at < made && made < 1024, "{libc}: {out}");
        // Buffered: RAM less what the program, its tables and the pipes'
        // structures hold, and the low watermark kept for user pages.
        let buffered = number_after(out, "bytes buffered:");
        assert!(buffered > 56 << 20 && buffered < 64 << 20, "{libc}: {out}");
        let before = number_after(out, "MemFree kB: before");
        let full = number_after(out, "full");
        let after = number_after(out, "after closing");
        assert!(full < 2048, "{libc}: MemFree {full} kB with every pipe full");
        // The descriptor table (8 KiB of pointers for ~1 900 descriptors)
        // stays; everything else comes back.
        assert!(before - after <= 256, "{libc}: {out}");
        assert!(m.max_rss_mib < 64 + 64, "{libc}: faultline's peak RSS {} MiB", m.max_rss_mib);
        eprintln!("pipefill 4000 ({libc}): peak RSS {} MiB; {}", m.max_rss_mib, out.replace('\n', "; "));
    }
}

#[test]
fn pipe_sizes_and_merging_are_linuxs() {
    // F_GETPIPE_SZ, F_SETPIPE_SZ's rounding, EPERM above pipe-max-size,
    // EINVAL above 2 GiB, EBUSY below the slots in use, how many bytes
    // writes of each size fit (pipe_write merges odd bytes into the last
    // page), and pipe-user-pages-soft: byte for byte as natively (as root
    // the fixture first becomes uid 1000, an unprivileged user).
    for libc in ["glibc", "musl"] {
        let m = kmem(libc, &["pipesz"]);
        let (native, code) = run_native(&format!("kmem-{libc}"), &["pipesz"]);
        assert_eq!(code, 0);
        assert_eq!(m.stdout, native, "{libc}");
        for line in [
            "F_GETPIPE_SZ: 65536\n",
            "F_SETPIPE_SZ 4097: 8192 (F_GETPIPE_SZ 8192)\n",
            "F_SETPIPE_SZ 1048577: EPERM\n",
            "F_SETPIPE_SZ 2147483649: EINVAL\n",
            "F_GETPIPE_SZ on /dev/null: -1 EBADF\n",
            "F_SETPIPE_SZ 8192: EBUSY\n",
            "fill 8192-byte pipe with 1000-byte writes: 8000 bytes in 8 writes, then EAGAIN; one read takes 8000\n",
            "pipes: 1100; sizes of the 1st, 1024th, 1025th and last: 65536 65536 8192 8192\n",
            "F_SETPIPE_SZ 16384: EPERM\n",
            "after closing them: 65536\n",
        ] {
            assert!(m.stdout.contains(line), "{libc}: no {line:?} in\n{}", m.stdout);
        }
    }
}

#[test]
fn slab_and_kernel_stacks_grow_by_what_the_objects_take() {
    // 128 pipes, each with 64 KiB in it: per pipe a pipe_inode_info (192
    // bytes), its ring of 16 pipe_buffers (640, kmalloc-1k) and two struct
    // files (256 each) unreclaimable, an inode (608) and a dentry (192)
    // reclaimable: 128 × 1 728 B = 216 kB and 128 × 800 B = 100 kB, in
    // whole pages. The 16 data pages each are in no line but MemFree.
    for libc in ["glibc", "musl"] {
        let m = kmem(libc, &["slab", "128"]);
        assert!(
            m.stdout.contains("128 pipes of 64 KiB: Slab +316 kB (SReclaimable +100 kB, SUnreclaim +216 kB)\n"),
            "{libc}: {}",
            m.stdout
        );
        let dropped = number_after(&m.stdout, "MemFree -");
        assert!(dropped >= 128 * 64 + 316, "{libc}: {}", m.stdout);
        assert!(m.stdout.contains("closed: SReclaimable +0 kB, SUnreclaim +0 kB\n"), "{libc}: {}", m.stdout);
        // 16 threads: a 16 KiB kernel stack each (x86-64's THREAD_SIZE)
        // and a 10 KiB task_struct (160 kB of slab); both go with them.
        let m = kmem(libc, &["threads", "16"]);
        assert!(m.stdout.contains("16 threads: KernelStack +256 kB, SUnreclaim +160 kB\n"), "{libc}: {}", m.stdout);
        assert!(m.stdout.contains("joined: KernelStack +0 kB\n"), "{libc}: {}", m.stdout);
    }
}

#[test]
fn descriptor_limits_are_linuxs() {
    // RLIMIT_NOFILE as systemd sets it (1024 soft, 524288 hard; its hard
    // limit cannot be raised), RLIMIT_SIGPENDING as fork_init() sets it
    // for 64 MiB (half of 512 threads), and /proc/sys/fs.
    let want = "RLIMIT_NOFILE 1024 524288\n\
                raising its hard limit: EPERM\n\
                RLIMIT_SIGPENDING 256 256\n\
                threads-max 256\n\
                fs.file-max 8192\n\
                fs.nr_open 1048576\n\
                fs.pipe-max-size 1048576\n\
                fs.pipe-user-pages-soft 16384\n\
                fs.pipe-user-pages-hard 0\n\
                opened 1021 more, then EMFILE\n\
                F_DUPFD at 1024: EINVAL\n\
                dup2 to 1024: EBADF\n";
    for libc in ["glibc", "musl"] {
        let m = kmem(libc, &["limits"]);
        assert_eq!(m.stdout, want, "{libc}");
        // Where the host runs with the same RLIMIT_NOFILE, it says the same.
        let (native, _) = run_native(&format!("kmem-{libc}"), &["limits"]);
        if native.starts_with("RLIMIT_NOFILE 1024 524288\n") {
            assert_eq!(native.lines().next(), want.lines().next());
        } else {
            eprintln!("the host's RLIMIT_NOFILE differs: {}", native.lines().next().unwrap_or(""));
        }
    }
}

#[test]
fn open_files_stop_at_file_max_with_enfile() {
    // fs.file-max for 64 MiB is NR_FILE (8192): with RLIMIT_NOFILE raised
    // to its hard limit, /dev/null opens until the sandbox holds 8192 open
    // files, then ENFILE; a pipe then too.
    for libc in ["glibc", "musl"] {
        let m = kmem(libc, &["enfile"]);
        assert!(m.stdout.contains("then ENFILE\n"), "{libc}: {}", m.stdout);
        assert!(m.stdout.starts_with("file-max 8192; "), "{libc}: {}", m.stdout);
        assert!(m.stdout.contains("stopped at file-max: yes\npipe at file-max: ENFILE\n"), "{libc}: {}", m.stdout);
    }
}

#[test]
fn a_signal_flood_stops_at_rlimit_sigpending() {
    // sigqueue of a blocked real-time signal: 256 queue (RLIMIT_SIGPENDING
    // at 64 MiB), the next is EAGAIN; kill() of another cannot fail (it
    // is pending, its siginfo lost); all 257 are taken, and the queue has
    // room again.
    for libc in ["glibc", "musl"] {
        let m = kmem(libc, &["sigflood"]);
        assert_eq!(
            m.stdout,
            "sigqueue: 256 queued (RLIMIT_SIGPENDING 256), then EAGAIN\n\
             kill past the limit: 0\n\
             taken: 257\n\
             sigqueue after: 0\n",
            "{libc}"
        );
    }
}
