//! /proc/PID/pagemap as a program reads it about itself, against a native
//! run; and fault-around, which makes a native program's minor-fault count
//! for a cached file lower than the pages it touches.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use support::*;

/// A file of `pages` pages in a fresh directory anyone may read (the
/// native run reads it as nobody); removed on drop.
struct DataFile(PathBuf);

impl DataFile {
    fn new(tag: &str, pages: usize) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("faultline-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = dir.join("data");
        // Page by page: a large write would put large folios in the host's
        // page cache, which newer kernels map whole, beyond the 64 KiB
        // window of the 6.1 kernel faultline plays (and of small folios).
        let mut w = std::fs::File::create(&f).unwrap();
        for p in 0..pages {
            let page: Vec<u8> = (0..4096).map(|i| ((p * 4096 + i) % 251) as u8).collect();
            std::io::Write::write_all(&mut w, &page).unwrap();
        }
        drop(w);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        DataFile(f)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for DataFile {
    fn drop(&mut self) {
        if let Some(d) = self.0.parent() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

#[test]
fn pagemap_bits_as_natively() {
    let data = DataFile::new("pagemap", 48);
    for libc in ["glibc", "musl"] {
        let name = format!("pagemap-{libc}");
        let (native, code) = run_native(&name, &[data.path()]);
        assert_eq!(code, 0, "{name} natively: {native}");
        let run = run_fixture(&name, &[data.path()]);
        assert_eq!(run.code(), 0, "{name}: {}", run.stderr);
        assert_eq!(run.stdout, native, "{name}");
        for line in [
            "anon read: present 1 swap 0 file 0 exclusive 0\n",
            "anon written: present 1 swap 0 file 0 exclusive 1\n",
            "anon untouched: present 0 swap 0 file 0 exclusive 0\n",
            "child: written page: present 1 swap 0 file 0 exclusive 0\n",
            "parent: written page, child alive: present 1 swap 0 file 0 exclusive 0\n",
            "parent: written page, child gone: present 1 swap 0 file 0 exclusive 1\n",
            "shared read: present 1 swap 0 file 1 exclusive 1\n",
            "file read: present 1 swap 0 file 1 exclusive 1\n",
            "file written (private copy): present 1 swap 0 file 0 exclusive 1\n",
            "file untouched, beyond fault-around: present 0 swap 0 file 0 exclusive 0\n",
            "hole: 0\n",
            "misaligned offset: errno 22\n",
            "misaligned size: errno 22\n",
            "empty read: 0\n",
            "SEEK_END: errno 22\n",
            "last entry, asking for 2: 8\n",
            "past the end: 0\n",
            "far past the end: 0\n",
            "read 4 at a: 32, same as one by one: 1, now at a+32: 1\n",
            "256 KiB read: 262144, file pages agree: 1\n",
            "pfn bits seen: 0\n",
        ] {
            assert!(run.stdout.contains(line), "{name}: no {line:?} in\n{}", run.stdout);
        }
    }
}

/// Soft-dirty: every VMA is created VM_SOFTDIRTY and nothing clears it, so
/// every page of every VMA has bit 55 and a hole has not (the host kernel
/// may be built without soft-dirty, so this is faultline's alone). And
/// oom_score follows proc_oom_score's formula.
#[test]
fn pagemap_soft_dirty_marks_every_page_of_a_vma() {
    let data = DataFile::new("softdirty", 48);
    let run = run_fixture("pagemap-glibc", &[data.path(), "softdirty"]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stdout.contains("soft-dirty: every page of a VMA 1, hole 0\n"), "{}", run.stdout);
    // And oom_score, from the same figures status and meminfo show.
    assert!(run.stdout.contains("oom_score as proc_oom_score computes it: 1\n"), "{}", run.stdout);
}

/// /proc/self/clear_refs: 4 clears soft-dirty and write-protects, so the
/// next write is a fault (counted, and a row of the timeline) that marks
/// the page again; a read is not; the kernel's own write marks it too; a
/// new mapping is soft-dirty at once; 5 resets VmHWM; bad values are
/// EINVAL or ERANGE, and the file is write-only. The host kernel may lack
/// soft-dirty, so this is faultline's alone.
#[test]
fn clear_refs_clears_soft_dirty_and_a_write_sets_it_again() {
    use faultline::timeline::{Access, EventKind, Origin};
    for libc in ["glibc", "musl"] {
        let name = format!("pagemap-{libc}");
        let run = run_fixture(&name, &["clear_refs"]);
        assert_eq!(run.code(), 0, "{name}: {}", run.stderr);
        let out = &run.stdout;
        let rest = out.split_once('\n').unwrap().1;
        assert_eq!(
            rest,
            "before: 1111 shared 1\nwrite 4: 2\nafter: 0000 shared 0\n\
             write a[1]: +1, read a[2]: +0, write shared: +1\nnow: 0100 shared 1\n\
             read() 4 into a[3]: 1\nnew mapping: 1 1\nwrite 0: errno 22\nwrite 6: errno 22\nwrite x: errno 22\n\
             write 99999999999: errno 34\nwrite ' 1 ': 3\nopen for reading: errno 13\n\
             after munmap: VmHWM above VmRSS by 3 MiB or more: 1\nwrite 5: 1\nVmHWM == VmRSS: 1\n",
            "{name}"
        );
        // The writes after clear_refs are faults of their own in the
        // timeline: the private page reused in place (a `cow-reuse` row, as
        // wp_page_reuse), the shared one a minor fault on its cached page.
        let (a, s) = (hex_field(out, "a"), hex_field(out, "s"));
        let rows = |va: u64| -> Vec<(Access, EventKind)> {
            run.outcome
                .events
                .iter()
                .filter(|e| e.origin == Origin::Guest && e.gva == va && e.kind != EventKind::Release)
                .map(|e| (e.access, e.kind))
                .collect()
        };
        assert_eq!(
            rows(a + 4096),
            [(Access::Write, EventKind::ZeroFill), (Access::Write, EventKind::CowReuse)],
            "{name}"
        );
        assert_eq!(rows(a + 2 * 4096), [(Access::Write, EventKind::ZeroFill)], "{name}");
        assert_eq!(rows(s), [(Access::Write, EventKind::CacheHit), (Access::Write, EventKind::CacheHit)], "{name}");
    }
}

/// Pages reclaim sent to swap show bit 62 without bit 63, their swap
/// offset hidden, and as many as smaps_rollup's Swap says.
#[test]
fn pagemap_swapped_pages_agree_with_smaps() {
    let pages = 2048u64;
    let mut cfg = config(&["pagemap-glibc", "swap", &pages.to_string()]);
    cfg.rss_limit = Some(4 << 20);
    cfg.swap = 16 << 20;
    let run = run_image(&fixture("pagemap-glibc"), cfg);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let nums: Vec<u64> =
        run.stdout.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    // read N of M, swapped S, present P, bad B, smaps_rollup Swap K kB
    let [read, asked, swapped, present, bad, swap_kb] = nums[..] else { panic!("{}", run.stdout) };
    assert_eq!(read, asked, "{}", run.stdout);
    assert!(swapped > 0, "nothing swapped: {}", run.stdout);
    assert_eq!(swapped + present, pages, "{}", run.stdout);
    assert_eq!(bad, 0, "{}", run.stdout);
    // Only the region was big enough to swap much; the rest of the process
    // (stack, libc's data, the entries' buffer) may have some pages in swap
    // too.
    assert!(swap_kb / 4 >= swapped, "{}", run.stdout);
    assert!(swap_kb / 4 - swapped < 64, "{}", run.stdout);
}

/// Fault-around: a program reading a byte of each page of cached file
/// mappings counts, under `fault_around` = 64 KiB, exactly the minor faults
/// it counts natively (Linux's default fault_around_bytes, and faultline's;
/// deterministic, since every page is in the page cache and each mapping
/// sits at a known offset from a page-table boundary); with it off, one
/// per page, as the timeline's rows are. The pages mapped around a fault are `fault-around`
/// rows with the fault's thread, not faults.
#[test]
fn fault_around_counts_as_natively() {
    use faultline::timeline::{Access, EventKind, Origin};
    let data = DataFile::new("faultaround", 48);
    let want = "aligned: 40 pages, minflt +3, majflt +0 (sum 5648)\n\
                3 pages into a table: 40 pages, minflt +3, majflt +0 (sum 5648)\n\
                5 pages before a table's end: 21 pages, minflt +2, majflt +0 (sum 2604)\n\
                9 pages into a table: 10 pages, minflt +1, majflt +0 (sum 1550)\n";
    for libc in ["glibc", "musl"] {
        let name = format!("faultaround-{libc}");
        let (native, code) = run_native(&name, &[data.path()]);
        assert_eq!(code, 0, "{name} natively");
        let sums: Vec<&str> = native.lines().map(|l| l.rsplit_once(" (").unwrap().1).collect();
        let want: String =
            want.lines().zip(&sums).map(|(l, s)| format!("{} ({s}\n", l.rsplit_once(" (").unwrap().0)).collect();
        assert_eq!(native, want, "{name}: natively (is fault_around_bytes 64 KiB here?)");

        let run = run_fixture(&name, &[data.path()]);
        assert_eq!(run.code(), 0, "{name}: {}", run.stderr);
        assert_eq!(run.stdout, native, "{name} with fault-around");
        let around: Vec<_> = run.outcome.events.iter().filter(|e| e.kind == EventKind::FaultAround).collect();
        // 111 pages touched, 9 faults: the other 102 came with them.
        assert_eq!(around.len(), 102, "{name}");
        assert!(around
            .iter()
            .all(|e| e.origin == Origin::Guest && e.access == Access::Read && e.pid == 1 && e.tid == 1));
        assert!(!around.iter().any(|e| e.is_guest_fault()));
        // Each comes right after its fault or another of its window, one
        // more page resident.
        let evs = &run.outcome.events;
        for w in evs.windows(2).filter(|w| w[1].kind == EventKind::FaultAround) {
            assert!(matches!(w[0].kind, EventKind::CacheHit | EventKind::FaultAround), "{:?}", w[0]);
            assert_eq!(w[1].rss, w[0].rss + 1, "{w:?}");
        }

        // Off: one fault per page touched.
        let mut cfg = config(&[&name, data.path()]);
        cfg.fault_around = 0;
        let run = run_image(&fixture(&name), cfg);
        assert_eq!(run.code(), 0, "{name}: {}", run.stderr);
        let exact: String = native
            .lines()
            .map(|l| {
                let pages: u64 = l.split(": ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
                let (head, tail) = l.split_once("minflt +").unwrap();
                format!("{head}minflt +{pages}{}\n", &tail[tail.find(',').unwrap()..])
            })
            .collect();
        assert_eq!(run.stdout, exact, "{name} without fault-around");
        assert!(!run.outcome.events.iter().any(|e| e.kind == EventKind::FaultAround));
    }
}
