//! Pinning, the resident budget with reclaim to swap, and the OOM killer.

mod support;

use faultline::timeline::{Access, EventKind, Origin, Prefault};
use support::*;

fn pressure(libc: &str) -> String {
    format!("pressure-{libc}")
}

fn kinds_in(run: &Run, lo: u64, hi: u64) -> Vec<EventKind> {
    run.outcome.events.iter().filter(|e| e.gva >= lo && e.gva < hi).map(|e| e.kind).collect()
}

#[test]
fn test_a_reserves_test_b_pins_and_populates() {
    for libc in LIBCS {
        // What malloc itself touched (its header): resident in testA.
        let (a, _) = run_native(&pressure(libc), &["testA"]);
        let by_malloc: u64 =
            a.split("resident_before_touch=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        for (mode, locked) in [("testA", false), ("testB", true)] {
            let run = run_fixture(&pressure(libc), &[mode]);
            let (native, _) = run_native(&pressure(libc), &[mode]);
            assert_eq!(run.stdout, native, "{libc} {mode}");
            let first = hex_field(&run.stderr, "alloc") & !0xfff;
            // 1 MiB from an unaligned start spans 257 pages.
            let kinds = kinds_in(&run, first, first + MIB + 4096);
            let prefaults = kinds.iter().filter(|k| **k == EventKind::Prefault(Prefault::Mlock)).count() as u64;
            if locked {
                // Every page malloc had not touched, at once, before any touch.
                assert_eq!(prefaults, 257 - by_malloc, "{libc}: {kinds:?}");
                let ev: Vec<_> = run.outcome.events.iter().filter(|e| e.gva >= first && e.gva < first + MIB).collect();
                assert!(ev
                    .iter()
                    .filter(|e| e.kind == EventKind::Prefault(Prefault::Mlock))
                    .all(|e| e.access == Access::None));
                assert_eq!(run.outcome.memory.status.vm_lck, 1024 + 4, "{libc}: VmLck {:?}", run.outcome.memory.status);
            } else {
                assert_eq!(prefaults, 0);
                assert_eq!(run.outcome.memory.status.vm_lck, 0);
            }
        }
    }
}

#[test]
fn map_populate_mcl_future_and_onfault_match_linux() {
    for libc in LIBCS {
        for (mode, why, want) in
            [("populate", Prefault::Populate, 64u64), ("future", Prefault::Mlock, 257), ("onfault", Prefault::Mlock, 0)]
        {
            let run = run_fixture(&pressure(libc), &[mode]);
            let (native, _) = run_native(&pressure(libc), &[mode]);
            assert_eq!(run.stdout, native, "{libc} {mode}");
            let key = if mode == "future" { "alloc" } else { "map" };
            let first = hex_field(&run.stderr, key) & !0xfff;
            let n =
                kinds_in(&run, first, first + 257 * 4096).iter().filter(|k| **k == EventKind::Prefault(why)).count();
            assert_eq!(n as u64, want, "{libc} {mode}");
        }
        // MLOCK_ONFAULT: the 5 touched pages are pinned, the rest only locked.
        let run = run_fixture(&pressure(libc), &["onfault"]);
        assert_eq!(run.outcome.memory.status.vm_lck, 256, "{libc}");
    }
}

#[test]
fn rlimit_memlock_gives_linux_errors() {
    for libc in LIBCS {
        // RLIMIT_MEMLOCK binds an ordinary user; root's CAP_IPC_LOCK lifts it.
        let run = run_fixture_with(&pressure(libc), &["memlock"], |c| c.identity = Some(user_1000()));
        assert_eq!(
            run.stdout,
            "memlock: over_limit=ENOMEM small=0 map_locked_over=EAGAIN mremap_over=EAGAIN zero_limit=EPERM\n",
            "{libc}"
        );
        let root = faultline::Identity { uid: 0, gid: 0, groups: Vec::new() };
        let run = run_fixture_with(&pressure(libc), &["memlock"], |c| c.identity = Some(root));
        assert_eq!(run.stdout, "memlock: over_limit=? small=0 map_locked_over=? mremap_over=? zero_limit=?\n");
        // A lower limit from the command line.
        let run = run_fixture_with(&pressure(libc), &["memlock"], |c| {
            c.memlock_limit = 512 << 10;
            c.identity = Some(user_1000());
        });
        assert!(run.stdout.starts_with("memlock: over_limit=ENOMEM small=-1 "), "{libc}: {}", run.stdout);
    }
}

#[test]
fn the_guest_and_the_summary_agree_on_vmlck() {
    for libc in LIBCS {
        let run = run_fixture(&pressure(libc), &["vmlck"]);
        assert_eq!(run.stdout, "VmLck:\t    1024 kB\n", "{libc}");
        assert_eq!(run.outcome.memory.status.vm_lck, 1024, "{libc}");
        assert_eq!(run.stdout, run_native(&pressure(libc), &["vmlck"]).0, "{libc}");
    }
}

#[test]
fn a_working_set_four_times_the_budget_survives_eviction() {
    for libc in LIBCS {
        let run = run_fixture_with(&pressure(libc), &["workset", "32"], |c| {
            c.mem = 8 * MIB;
            c.swap = 40 * MIB;
        });
        assert_eq!(run.code(), 0, "{libc}: {}", run.stderr);
        let (native, _) = run_native(&pressure(libc), &["workset", "32"]);
        assert_eq!(run.stdout, native, "{libc}: data changed across eviction");
        assert!(run.stdout.contains(" bad=0 "));
        let count = |k: EventKind| run.outcome.events.iter().filter(|e| e.kind == k).count();
        assert!(count(EventKind::Evict) > 3 * 2048, "{libc}: {}", count(EventKind::Evict));
        // The program reads everything back twice from a 4x-too-small RAM.
        assert!(count(EventKind::SwapIn) >= 2 * (32 * 256 - 2048), "{libc}: {}", count(EventKind::SwapIn));
        assert!(run.outcome.events.iter().filter(|e| e.kind == EventKind::SwapIn).all(|e| e.origin == Origin::Guest));
        assert!(run.outcome.memory.status.vm_hwm <= 8 * 1024, "{libc}: {:?}", run.outcome.memory.status);
        assert!(run.outcome.memory.status.vm_swap > 0);
    }
}

#[test]
fn a_hot_set_stays_resident_while_a_cold_scan_streams_through() {
    for libc in LIBCS {
        let run = run_fixture_with(&pressure(libc), &["hotcold", "64", "48", "16"], |c| {
            c.mem = 16 * MIB;
            c.swap = 64 * MIB;
        });
        assert_eq!(run.code(), 0, "{libc}: {}", run.stderr);
        assert!(run.stdout.contains("hot_resident=64"), "{libc}: {}", run.stdout);
        let hot = hex_field(&run.stderr, "hot");
        let kinds = kinds_in(&run, hot, hot + 64 * 4096);
        // `h[j] += 1` reads, then writes: the zero page, then a private
        // copy of it, as natively (two minor faults). Nothing after that:
        // the hot pages were never evicted.
        assert_eq!(kinds, [EventKind::ZeroFill, EventKind::Cow].repeat(64), "{libc}: hot pages were evicted");
        let evictions = run.outcome.events.iter().filter(|e| e.kind == EventKind::Evict).count();
        assert!(evictions > 8000, "{libc}: the cold scan should have been evicted ({evictions})");
    }
}

#[test]
fn pinned_pages_are_never_evicted() {
    let run = run_fixture_with(&pressure("glibc"), &["workset", "32"], |c| {
        c.mem = 8 * MIB;
        c.swap = 40 * MIB;
        c.pin = vec![".text".into()];
    });
    assert_eq!(run.code(), 0);
    let text = run.outcome.summary.region(".text").unwrap();
    assert_eq!(text.prefaults, text.mapped_pages, "every .text page pinned at load");
    assert_eq!(text.evictions, 0);
    assert_eq!(text.faults(), 0, "pinned at load, nothing left to fault");
    assert_eq!(run.outcome.memory.status.vm_pin, text.mapped_pages * 4);
}

#[test]
fn the_endless_malloc_loop_meets_the_oom_killer() {
    for libc in LIBCS {
        let t = std::time::Instant::now();
        let run = run_fixture_with(&format!("memory1-{libc}"), &[], |c| c.mem = 64 * MIB);
        assert_eq!(run.code(), 137, "{libc}: {:?}", run.outcome.reports);
        let report = run.outcome.report().unwrap().to_string();
        assert!(
            report.starts_with(&format!("Out of memory: Killed process 1 (memory1-{libc}) total-vm:")),
            "{libc}: {report}"
        );
        assert!(
            report.contains("anon-rss:")
                && report.contains("file-rss:")
                && report.contains(&format!("UID:{}", my_uid()))
        );
        // The last page event (the process's exit row follows it).
        let last = run.outcome.events.iter().rfind(|e| !e.kind.is_lifecycle()).unwrap();
        assert_eq!(last.kind, EventKind::OomKill, "{libc}");
        assert_eq!(run.region(last), "heap", "{libc}");
        // It obtained most of its 64 MiB first.
        let heap = run.outcome.summary.region("heap").unwrap().resident_pages * 4096;
        assert!(heap > 60 * MIB, "{libc}: only {heap} bytes of heap");
        assert!(t.elapsed() < scaled(std::time::Duration::from_secs(30)), "{libc}: took {:?}", t.elapsed());
    }
}

#[test]
fn a_fully_pinned_guest_that_cannot_fit_is_killed() {
    let run = run_fixture_with(&pressure("glibc"), &["pinned", "32"], |c| {
        c.mem = 16 * MIB;
        c.swap = 64 * MIB;
        c.memlock_limit = 1 << 30;
    });
    assert_eq!(run.code(), 137, "{:?}", run.outcome.reports);
    assert!(run.outcome.report().unwrap_or("").starts_with("Out of memory: Killed process 1"));
    // Swap was there, but nothing pinned may go to it.
    assert_eq!(run.outcome.events.iter().filter(|e| e.kind == EventKind::Evict && run.region(e) == "mmap").count(), 0);
}

#[test]
fn eviction_is_deterministic() {
    let rows = || {
        run_fixture_with(&pressure("musl"), &["workset", "12"], |c| {
            c.mem = 4 * MIB;
            c.swap = 16 * MIB;
        })
        .stable_rows()
    };
    let (a, b) = (rows(), rows());
    assert!(a.iter().filter(|r| r.contains("Evict")).count() > 1000);
    assert_eq!(a, b);
}

#[test]
fn pin_heap_pins_heap_pages_as_they_are_created() {
    let run = run_fixture_with("mallocexp-glibc", &["small"], |c| c.pin = vec!["heap".into()]);
    assert_eq!(run.code(), 0);
    let heap = run.outcome.summary.region("heap").unwrap();
    assert!(heap.mapped_pages > 0);
    assert_eq!((heap.prefaults, heap.faults(), heap.resident_pages), (heap.mapped_pages, 0, heap.mapped_pages));
    assert_eq!(run.outcome.memory.status.vm_pin, heap.mapped_pages * 4);
}

#[test]
fn mlocked_counts_the_pinned_pages_that_are_there() {
    // Mlocked is the locked or pinned pages resident now, as in /proc/meminfo.
    let run = run_fixture(&pressure("glibc"), &["vmlck"]);
    assert_eq!(run.outcome.memory.info.mlocked, 1024);
    let run = run_fixture_with(&pressure("glibc"), &["workset", "4"], |c| {
        c.pin = vec![".text".into()];
        c.rss_limit = Some(c.mem);
    });
    assert_eq!(run.outcome.memory.info.mlocked, run.outcome.memory.status.vm_pin);
}

#[test]
fn pinning_more_than_fits_is_a_clear_error() {
    let image = faultline::Program::Path(elf_fixtures::path(&pressure("glibc")));
    let mut cfg = config(&["pressure", "testA"]);
    cfg.pin = vec!["all".into()];
    cfg.rss_limit = Some(256 << 10);
    let err = faultline::Sandbox::new(image, cfg).err().expect("refused").to_string();
    assert!(err.starts_with("--pin all pins more pages than"), "{err}");
}
