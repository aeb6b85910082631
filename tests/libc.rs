//! Unmodified static glibc and musl programs: the classic malloc
//! experiments, asserted from the program's own output (which must equal
//! a native run's) and from the timeline.

mod support;

use faultline::timeline::Origin;
use support::*;

fn fixture(libc: &str) -> String {
    format!("mallocexp-{libc}")
}

/// Expected stdout per experiment: glibc's ptmalloc2, then musl's mallocng.
const EXPERIMENTS: &[(&[&str], &str, &str)] = &[
    (
        &["small"],
        "small: brk_grew=0 in_heap=1 heap_kib=136 brk_kept_after_free=1\n",
        "small: brk_grew=8192 in_heap=0 heap_kib=0 brk_kept_after_free=1\n",
    ),
    (
        &["big"],
        "big: mapped=1 in_heap=0 brk_moved=0 map_kib=260 resident_before=1 resident_touched=3 unmapped_after_free=1\n",
        "big: mapped=1 in_heap=0 brk_moved=1 map_kib=264 resident_before=3 resident_touched=5 unmapped_after_free=1\n",
    ),
    (&["nommap"], "nommap: in_heap=1 brk_grew_kib=256\n", "nommap: not in this libc\n"),
    (
        &["trim", "131072"],
        "trim: threshold=131072 grew_kib=1024 shrunk=1 back_to_start=1\n",
        "trim: not in this libc\n",
    ),
    (
        &["trim", "67108864"],
        "trim: threshold=67108864 grew_kib=1024 shrunk=0 back_to_start=0\n",
        "trim: not in this libc\n",
    ),
    (
        &["touch", "5"],
        "touch: k=5 resident_in_touched=5 resident_in_mapping=5 in_heap=0\n",
        "touch: k=5 resident_in_touched=5 resident_in_mapping=7 in_heap=0\n",
    ),
];

#[test]
fn malloc_experiments_behave_as_on_linux() {
    for libc in LIBCS {
        for (args, glibc, musl) in EXPERIMENTS {
            let want = if libc == "glibc" { glibc } else { musl };
            let run = run_fixture(&fixture(libc), args);
            assert_eq!(run.code(), 0, "{libc} {args:?}: {}", run.stderr);
            assert_eq!(run.stdout, *want, "{libc} {args:?} in faultline");
            let (native, code) = run_native(&fixture(libc), args);
            assert_eq!((native.as_str(), code), (*want, 0), "{libc} {args:?} natively");
        }
    }
}

#[test]
fn glibc_grows_the_heap_by_132_kib_through_brk() {
    let run = run_fixture(&fixture("glibc"), &["small"]);
    // malloc's first sbrk: brk(NULL) = X, then brk(X + 132 KiB).
    let brks: Vec<(u64, u64)> = run
        .strace
        .lines()
        .filter_map(|l| l.strip_prefix("brk("))
        .map(|l| {
            let (arg, ret) = l.split_once(") = ").unwrap();
            let arg = if arg == "NULL" { 0 } else { u64::from_str_radix(arg.trim_start_matches("0x"), 16).unwrap() };
            (arg, u64::from_str_radix(ret.trim_start_matches("0x"), 16).unwrap())
        })
        .collect();
    let grew = brks.windows(2).any(|w| w[0].0 == 0 && w[1].0 == w[0].1 + 132 * 1024 && w[1].1 == w[1].0);
    assert!(grew, "no +132 KiB brk step in {brks:x?}");
    // The heap's pages are filed under `heap`, and only touched ones fault.
    let heap = run.outcome.summary.region("heap").unwrap();
    assert!(heap.faults() > 0 && heap.faults() < heap.mapped_pages, "{heap:?}");
}

#[test]
fn a_freed_mmap_chunk_goes_back_to_the_host() {
    for libc in LIBCS {
        let run = run_fixture(&fixture(libc), &["big"]);
        let first = hex_field(&run.stderr, "alloc") & !0xfff;
        // The chunk's own pages: the one its header is on, and the two more
        // the program touched (pages 0-2).
        let ev = guest_events_in(&run, first, first + 256 * 1024);
        assert_eq!(ev.len(), 3, "{libc}: {ev:?}");
        assert!(ev.iter().all(|e| run.region(e) == "mmap"), "{libc}");
        // free() unmapped the chunk, and with it its backing: nothing of
        // it is resident any more.
        assert!(run.strace.contains(&format!("munmap({first:#x}, 266240) = 0")), "{libc}: {}", run.strace);
        let released = run.outcome.events.iter().filter(|e| e.kind == faultline::timeline::EventKind::Release);
        let gone: Vec<u64> = released.filter(|e| e.gva >= first && e.gva < first + 0x41000).map(|e| e.gva).collect();
        assert_eq!(
            &gone[..3],
            &ev.iter().map(|e| e.gva).collect::<Vec<_>>()[..],
            "{libc}: the touched pages were given back"
        );
    }
}

#[test]
fn touching_k_pages_of_a_fresh_mib_makes_k_faults() {
    for libc in LIBCS {
        for k in [1u64, 7, 64, 256] {
            let run = run_fixture(&fixture(libc), &["touch", &k.to_string()]);
            assert_eq!(run.code(), 0);
            assert!(run.stdout.contains(&format!("k={k} resident_in_touched={k} ")), "{libc} {k}: {}", run.stdout);
            let first = hex_field(&run.stderr, "first");
            let ev = guest_events_in(&run, first, first + k * 4096);
            assert_eq!(ev.len() as u64, k, "{libc} k={k}");
            assert!(ev.iter().all(|e| run.region(e) == "mmap" && e.origin == Origin::Guest));
            // Nothing beyond the touched pages of the allocation faulted.
            let beyond = guest_events_in(&run, first + k * 4096, first + 1024 * 1024);
            assert!(beyond.is_empty(), "{libc} k={k}: {beyond:?}");
        }
    }
}

#[test]
fn classic_crashes_die_with_sigsegv_and_name_the_region() {
    let cases =
        [("strlit", "address in .rodata"), ("null", "segfault at 0 "), ("recurse", "address in the stack guard gap")];
    for libc in LIBCS {
        for (kind, needle) in cases {
            let run = run_fixture(&fixture(libc), &[kind]);
            let report = run.outcome.report().unwrap_or_default().to_string();
            assert_eq!(run.code(), 139, "{libc} {kind}: {report}");
            assert!(report.contains(needle), "{libc} {kind}: {report}");
            assert!(report.contains("killed by SIGSEGV"), "{libc} {kind}: {report}");
            assert_eq!(run_native(&fixture(libc), &[kind]).1, 139, "{libc} {kind} natively");
        }
    }
}

#[test]
fn proc_self_maps_lists_the_vmas_in_linux_format() {
    for libc in LIBCS {
        let run = run_fixture(&fixture(libc), &["maps"]);
        assert_eq!(run.code(), 0);
        let lines: Vec<&str> = run.stdout.lines().collect();
        let exe = elf_fixtures::path(&fixture(libc)).canonicalize().unwrap().display().to_string();
        assert!(lines.iter().any(|l| l.contains(" r-xp ") && l.ends_with(&exe)), "{libc}: {lines:#?}");
        // The stack, then the legacy vsyscall page, as x86-64 Linux lists them.
        let stack = lines[lines.len() - 2];
        assert!(stack.ends_with(" [stack]"), "{libc}: {lines:#?}");
        assert!(stack.starts_with("7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0"));
        assert_eq!(
            *lines.last().unwrap(),
            "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]"
        );
        // The 256 KiB chunk: an anonymous mapping below mmap_base.
        assert!(lines.iter().any(|l| l.starts_with("7ffff7") && l.ends_with(" 0 ")), "{libc}: {lines:#?}");
        for l in &lines {
            let name_col = l.split_whitespace().count() == 6;
            if name_col {
                assert_eq!(l.find(['/', '[']), Some(73), "{libc}: name column in {l:?}");
            }
        }
        if libc == "glibc" {
            assert!(lines.iter().any(|l| l.ends_with(" [heap]")), "{libc}: {lines:#?}");
        }
    }
}

#[test]
fn memory_syscall_edge_cases_match_linux() {
    for libc in LIBCS {
        let name = format!("mmedge-{libc}");
        let run = run_fixture(&name, &[]);
        assert_eq!(run.code(), 0, "{libc}: {}", run.stderr);
        let (native, code) = run_native(&name, &[]);
        assert_eq!(code, 0);
        assert!(native.lines().count() > 70, "{native}");
        // Line by line, for a readable failure.
        for (n, (a, b)) in native.lines().zip(run.stdout.lines()).enumerate() {
            assert_eq!(b, a, "{libc}: line {} differs from Linux", n + 1);
        }
        assert_eq!(run.stdout, native, "{libc}");
    }
}

#[test]
fn page_table_changes_reach_the_guest_at_once() {
    // Each page is in the TLB (just written) when its mapping changes.
    for libc in LIBCS {
        let run = run_fixture(&fixture(libc), &["protect"]);
        let report = run.outcome.report().unwrap_or_default().to_string();
        assert_eq!(run.code(), 139, "{libc}: {}", run.stdout);
        assert!(report.contains("write to a read-only page, address in mmap"), "{libc}: {report}");
        let run = run_fixture(&fixture(libc), &["unmapped"]);
        assert_eq!(run.code(), 139, "{libc}");
        assert!(run.outcome.report().unwrap().contains("not mapped"));
        assert_eq!(run_native(&fixture(libc), &["protect"]).1, 139);
    }
    // Many changed entries at once, the last one written just before.
    let n = 62_000;
    let run = run_fixture(&fixture("musl"), &["protect-many", &n.to_string()]);
    assert_eq!(run.code(), 139, "{}", run.stdout);
    assert!(run.outcome.report().unwrap().contains("write to a read-only page"));
}

#[test]
fn process_start_matches_binfmt_elf() {
    for libc in LIBCS {
        let image = faultline::Program::Path(elf_fixtures::path(&fixture(libc)));
        let mut cfg = config(&["mallocexp", "exec", "a b", "c"]);
        cfg.env.push("FAULTLINE_TEST=yes".into());
        let run = run_image(&image, cfg);
        assert_eq!(run.code(), 0, "{libc}: {}", run.stderr);
        // The guest runs as the user running faultline.
        assert_eq!(
            run.stdout,
            format!(
                "argv[0]=(name)\nargv[1]=exec\nargv[2]=a b\nargv[3]=c\nenv=yes\n\
                 pagesz=4096 random=1 entry_set=1 phdr_set=1 uid={} secure=0\nsp_aligned=1\n",
                my_uid()
            ),
            "{libc}"
        );
    }
}

#[test]
fn signals_a_program_sends_itself_take_their_default_action() {
    for libc in LIBCS {
        let run = run_fixture(&fixture(libc), &["raise"]);
        let (native, code) = run_native(&fixture(libc), &["raise"]);
        assert_eq!((run.stdout.as_str(), run.code()), (native.as_str(), code), "{libc}");
        assert_eq!(code, 134, "{libc}");
        assert!(run.outcome.report().unwrap().contains("raised SIGABRT"), "{libc}");
    }
}

#[test]
fn aslr_moves_the_heap_and_mmaps_but_not_the_results() {
    let image = faultline::Program::Path(elf_fixtures::path(&fixture("glibc")));
    let run = |aslr: bool| {
        let mut cfg = config(&["mallocexp", "big"]);
        cfg.aslr = aslr;
        run_image(&image, cfg)
    };
    let first_brk = |r: &Run| r.strace.lines().find(|l| l.starts_with("brk(NULL) = ")).unwrap().to_string();
    let (a, b, plain) = (run(true), run(true), run(false));
    // Without ASLR the heap starts on the page after the last segment.
    let elf = faultline::Program::Path(elf_fixtures::path(&fixture("glibc"))).inspect().unwrap();
    let end = elf.segments.iter().map(|s| s.end).max().unwrap();
    assert_eq!(first_brk(&plain), format!("brk(NULL) = {:#x}", (end + 0xfff) & !0xfff));
    assert_ne!(first_brk(&a), first_brk(&b), "two randomised runs gave the same brk");
    assert_ne!(hex_field(&a.stderr, "alloc"), hex_field(&b.stderr, "alloc"));
    assert_eq!(a.stdout, plain.stdout);
    assert_eq!(b.stdout, plain.stdout);
}
