//! Reserving address space costs nothing until it is touched, and the
//! kernel refuses reservations exactly where Linux's overcommit policy
//! does (vm.overcommit_memory 0, 1, 2), with vm.max_map_count enforced.

mod support;

use faultline::timeline::{Access, EventKind, Origin};
use support::*;

fn reserve(libc: &str) -> String {
    format!("reserve-{libc}")
}

/// The fixture run natively without address randomisation, as faultline
/// places mappings (so page-table counts match too).
fn native_norandom(name: &str, args: &[&str]) -> (String, i32) {
    let out = std::process::Command::new("setarch")
        .args(["x86_64", "-R"])
        .arg(elf_fixtures::path(name))
        .args(args)
        .output()
        .expect("setarch runs");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

#[test]
fn a_gib_mapping_costs_only_the_pages_touched() {
    for libc in LIBCS {
        let run = run_fixture_with(&reserve(libc), &["map", "1024", "100"], |c| c.mem = 2048 * MIB);
        assert_eq!(run.code(), 0, "{libc}: {}", run.stderr);
        // VmSize, RssAnon, VmPTE and mincore as natively.
        assert_eq!((run.stdout.clone(), 0), native_norandom(&reserve(libc), &["map", "1024", "100"]), "{libc}");
        assert!(run.stdout.contains("touched 100: mincore 100, RssAnon +400 kB"), "{libc}: {}", run.stdout);
        // One row per page touched, at its first touch, nothing else.
        let at = hex_field(&run.stderr, "at");
        let stride = 1024 * MIB / 100;
        let rows = guest_events_in(&run, at, at + 1024 * MIB);
        let want: Vec<u64> = (0..100).map(|i| (at + i * stride) & !0xfff).collect();
        assert_eq!(rows.iter().map(|e| e.gva).collect::<Vec<_>>(), want, "{libc}");
        assert!(rows.iter().all(|e| (e.kind, e.access) == (EventKind::ZeroFill, Access::Write)), "{libc}");
        let vmm =
            run.outcome.events.iter().filter(|e| e.origin == Origin::Vmm && e.gva >= at && e.gva < at + 1024 * MIB);
        assert_eq!(vmm.count(), 0, "{libc}");
    }
}

/// A 256 MiB machine.
fn small(c: &mut faultline::Config) {
    c.mem = 256 * MIB;
}

#[test]
fn the_default_heuristic_refuses_one_mapping_larger_than_ram_and_swap() {
    for libc in LIBCS {
        // 256 MiB of RAM, no swap: one 1 GiB mapping is too much for
        // OVERCOMMIT_GUESS, as on a 256 MiB Linux machine.
        let run = run_fixture_with(&reserve(libc), &["map", "1024", "0"], small);
        assert_eq!(run.stdout, "map 1024 MiB: ENOMEM\n", "{libc}");
        let run = run_fixture_with(&reserve(libc), &["malloc", "1024"], small);
        assert_eq!(run.stdout, "malloc 1024 MiB: ENOMEM\n", "{libc}");
        // Smaller than RAM: fine, however little is free.
        let run = run_fixture_with(&reserve(libc), &["malloc", "200"], small);
        assert_eq!(run.stdout, "malloc 200 MiB: ok\n", "{libc}");
        // MAP_NORESERVE is not accounted in this mode.
        let run = run_fixture_with(&reserve(libc), &["noreserve", "1024"], small);
        assert_eq!(run.stdout, "noreserve 1024 MiB: ok\n", "{libc}");
        // Swap counts in the sum.
        let run = run_fixture_with(&reserve(libc), &["map", "1024", "3"], |c| {
            small(c);
            c.swap = 1024 * MIB;
        });
        assert!(run.stdout.starts_with("map 1024 MiB: ok;"), "{libc}: {}", run.stdout);
    }
}

#[test]
fn overcommit_always_grants_anything() {
    for libc in LIBCS {
        let run = run_fixture_with(&reserve(libc), &["malloc", "3072"], |c| c.overcommit = 1);
        assert_eq!(run.stdout, "malloc 3072 MiB: ok\n", "{libc}");
        let run = run_fixture_with(&reserve(libc), &["map", "65536", "10"], |c| c.overcommit = 1);
        assert_eq!(run.code(), 0, "{libc}");
        assert!(run.stdout.contains("VmSize +67108864 kB at mmap"), "{libc}: {}", run.stdout);
        assert!(run.stdout.contains("touched 10: mincore 10, RssAnon +40 kB"), "{libc}: {}", run.stdout);
    }
}

#[test]
fn strict_overcommit_stops_at_commit_limit() {
    let want = "overcommit_memory=2\none page more than the room: ENOMEM\nexactly the room: ok\n\
                read-only beyond it: ok\nMAP_NORESERVE beyond it: refused\none more page: ENOMEM\n\
                after munmap: ok\nmprotect to writable: ok\n";
    for libc in LIBCS {
        for (mem, swap) in [(256 * MIB, 0), (64 * MIB, 64 * MIB)] {
            let run = run_fixture_with(&reserve(libc), &["strict"], |c| {
                c.overcommit = 2;
                c.mem = mem;
                c.swap = swap;
            });
            assert_eq!(run.stdout, want, "{libc} {mem} {swap}: {}", run.stderr);
        }
    }
}

#[test]
fn max_map_count_ends_mapping_where_linux_does() {
    for libc in LIBCS {
        let run = run_fixture_with(&reserve(libc), &["maps", "70000"], |_| {});
        let (native, _) = native_norandom(&reserve(libc), &["maps", "70000"]);
        assert_eq!(run.stdout, native, "{libc}");
        assert!(run.stdout.ends_with("succeeded, then ENOMEM\n"), "{libc}: {}", run.stdout);
    }
}

#[test]
fn page_tables_are_memory() {
    let run = run_fixture_with(&reserve("glibc"), &["map", "1024", "100"], |c| c.mem = 2048 * MIB);
    assert!(run.stdout.contains("VmPTE +404 kB"), "{}", run.stdout);
    // /proc/meminfo's PageTables counts every address space's tables, and
    // MemFree leaves them out, as it does the resident pages.
    let info = run.outcome.memory.info;
    assert!(info.page_tables >= 4 * 4, "{info:?}");
    let resident_kb =
        run.outcome.summary.processes.iter().flat_map(|p| &p.regions).map(|r| r.resident_pages).sum::<u64>() * 4;
    assert!(info.mem_free <= info.mem_total - info.page_tables - resident_kb, "{info:?}");
}

#[test]
fn smaps_rollup_and_vmstat_agree_with_status() {
    for libc in LIBCS {
        let run = run_fixture_with(&reserve(libc), &["rollup"], |_| {});
        let (native, _) = native_norandom(&reserve(libc), &["rollup"]);
        assert_eq!(run.stdout, native, "{libc}");
        assert_eq!(
            run.stdout,
            "smaps_rollup Rss equals VmRSS\nsmaps_rollup Anonymous equals RssAnon\n\
             pgfault grew by at least 10: yes\nRssAnon after munmap: down by 40 kB\n",
            "{libc}"
        );
    }
}

/// Page tables deep in the system slot (its first 33 MiB hold the vCPUs'
/// areas) are walked by the guest: one touch every 2 MiB of 16.4 GiB needs
/// 8 200 tables of PTEs (32 MiB), and every touch lands.
#[test]
fn thousands_of_page_tables_are_walked() {
    // 8 200 first touches take a debug build ~20 s here: no timeout to race.
    let run = run_fixture_with(&reserve("glibc"), &["map", "16400", "8200"], |c| {
        c.overcommit = 1;
        c.timeout = None;
    });
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stdout.contains("touched 8200: mincore 8200, RssAnon +32800 kB"), "{}", run.stdout);
}
