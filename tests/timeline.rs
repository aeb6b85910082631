//! The timeline tells the whole story: pages given back (`release` rows),
//! the process's resident pages after every row (`rss`), the instruction
//! and function that faulted (`ip`, `symbol`), and the mapping each page
//! was in (`mapping`).

mod support;

use faultline::timeline::{EventKind, Origin};
use support::*;

#[test]
fn rss_replays_to_the_summary_and_drops_at_release_rows() {
    for libc in LIBCS {
        for mode in ["big", "small"] {
            let run = run_fixture(&format!("mallocexp-{libc}"), &[mode]);
            assert_eq!(run.code(), 0, "{libc} {mode}");
            let ev: Vec<_> = run.outcome.events.iter().filter(|e| e.pid == 1).collect();
            let resident: u64 = run.outcome.summary.process(1).unwrap().regions.iter().map(|r| r.resident_pages).sum();
            // The last row is its exit, at 0; the one before it is what the
            // summary saw.
            assert_eq!((ev.last().unwrap().kind, ev.last().unwrap().rss), (EventKind::Exit, 0), "{libc} {mode}");
            assert_eq!(ev[ev.len() - 2].rss, resident, "{libc} {mode}: last row before the exit against the summary");
            // Each row moves the RSS by what it did.
            for w in ev.windows(2) {
                let (a, b) = (w[0].rss as i64, w[1].rss as i64);
                let step = match b_kind(w[1]) {
                    EventKind::Release | EventKind::Evict => -1,
                    EventKind::ZeroFill if w[1].access == faultline::timeline::Access::Read => 0,
                    EventKind::Cow | EventKind::Signal { .. } | EventKind::OomKill => b - a,
                    // A process's life: its exec's image, its exit's 0.
                    EventKind::Exec | EventKind::Exit | EventKind::Fork | EventKind::Clone => b - a,
                    _ => 1,
                };
                assert_eq!(b - a, step, "{libc} {mode}: {:?} after {:?}", w[1], w[0]);
            }
        }
    }
}

fn b_kind(e: &faultline::timeline::Event) -> EventKind {
    e.kind
}

#[test]
fn a_freed_chunk_is_released_page_by_page() {
    for libc in LIBCS {
        let run = run_fixture(&format!("mallocexp-{libc}"), &["big"]);
        let first = hex_field(&run.stderr, "alloc") & !0xfff;
        let released: Vec<_> = run
            .outcome
            .events
            .iter()
            // The chunk: 260 KiB of data and its header page.
            .filter(|e| e.kind == EventKind::Release && e.gva >= first && e.gva < first + 0x41000)
            .collect();
        // free()'s munmap: the chunk's three touched pages (musl's
        // allocator may have touched its last page too), each with the
        // mapping it was in, and nothing else at that moment.
        let at_free: Vec<_> = released.iter().filter(|e| e.time_ns == released[0].time_ns).collect();
        let gvas: Vec<u64> = at_free.iter().map(|e| e.gva).collect();
        assert_eq!(&gvas[..3], &[first, first + 4096, first + 8192], "{libc}: {released:?}");
        assert!(at_free.iter().all(|e| e.mapping == first && e.origin == Origin::Guest), "{libc}: {released:?}");
        assert!(at_free.iter().all(|e| run.region(e) == "mmap" && e.ip == 0), "{libc}");
    }
}

#[test]
fn ip_and_symbol_name_the_code_that_touched_the_page() {
    let mut cfg = config(&["touch", "bss", "write", "40"]);
    cfg.fill_pages = 1;
    let run = run_image(&fixture("touch"), cfg);
    assert_eq!(run.code(), 0);
    let bss: Vec<_> = run.outcome.events.iter().filter(|e| run.region(e) == ".bss").collect();
    assert_eq!(bss.len(), 40);
    for e in &bss {
        let sym = e.symbol.as_deref().unwrap_or("");
        assert!(sym.starts_with("main+0x"), "{e:?}");
        assert_eq!(e.ip, bss[0].ip, "one store instruction touches every page");
    }
    let first = run.outcome.events.iter().find(|e| e.origin == Origin::Guest && !e.kind.is_lifecycle()).unwrap();
    assert_eq!(first.symbol.as_deref(), Some("_start+0x0"));
    // The VMM's rows have none.
    assert!(run.outcome.events.iter().filter(|e| e.origin == Origin::Vmm).all(|e| e.ip == 0 && e.symbol.is_none()));
    // With blocks, the first touch of each still names its code.
    let run = run_fixture("touch", &["bss", "write", "40"]);
    let bss: Vec<_> = run.outcome.events.iter().filter(|e| run.region(e) == ".bss").collect();
    let block = faultline::DEFAULT_FILL_PAGES * 4096;
    let mut blocks: Vec<u64> = bss.iter().map(|e| e.gva / block).collect();
    blocks.dedup();
    let named: Vec<u64> = bss.iter().filter(|e| e.symbol.is_some()).map(|e| e.gva / block).collect();
    assert_eq!(named, blocks, "the first touch in each block, and only it, is a guest page fault");
}

#[test]
fn shared_libraries_are_named_in_symbols() {
    let mut cfg = config(&["cat", "/proc/self/maps"]);
    cfg.fill_pages = 1;
    let run = run_image(&faultline::Program::Path("/bin/cat".into()), cfg);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let syms: Vec<&str> = run.outcome.events.iter().filter_map(|e| e.symbol.as_deref()).collect();
    // Stripped libraries name their exported functions; the rest is
    // object+offset, from the ELF's own addresses.
    assert!(syms.iter().any(|s| s.starts_with("ld-linux-x86-64.so.2+0x")), "{syms:?}");
    assert!(syms.contains(&"setlocale+0x0") && syms.contains(&"getenv+0x0"), "{syms:?}");
    assert!(syms.iter().any(|s| s.starts_with("cat+0x")), "{syms:?}");
}

#[test]
fn the_summary_as_json() {
    let dir = std::env::temp_dir().join(format!("faultline-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.json");
    let out = std::process::Command::new(support::faultline_bin())
        .args(["demo", "sections", "-q", "--summary", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["schema"], "faultline-summary/1");
    assert_eq!(v["exit"]["code"], 0);
    let bss = v["regions"].as_array().unwrap().iter().find(|r| r["name"] == ".bss").unwrap();
    assert_eq!((bss["mapped"].as_u64(), bss["write"].as_u64(), bss["resident"].as_u64()), (Some(64), Some(8), Some(8)));
    assert_eq!(bss["perms"], "rw-");
    assert!(bss["range"][0].as_str().unwrap().starts_with("0x"));
    assert_eq!(v["total"]["faults"], 22);
    assert_eq!(v["total"]["resident"], 23);
    assert_eq!((bss["release"].as_u64(), bss["areas"].as_array().map(Vec::len)), (Some(0), Some(1)));
    assert_eq!(bss["areas"][0], bss["range"]);
    assert!(bss["latency"]["held_median_us"].as_f64().is_some_and(|us| us > 0.0), "{bss}");
    assert_eq!((v["total"]["release"].as_u64(), v["total"]["peak_resident"].as_u64()), (Some(0), Some(23)));
    assert_eq!((v["sandbox"]["peak_resident"].as_u64(), v["sandbox"]["end_resident"].as_u64()), (Some(23), Some(23)));
    assert_eq!(v["status"]["VmRSS"], 92);
    assert_eq!(v["meminfo"]["MemTotal"], faultline::DEFAULT_MEM / 1024, "the default --mem, in kB");
    assert_eq!(v["processes"][0]["pid"], 1);
    // A bad path fails before the program runs.
    let out = std::process::Command::new(support::faultline_bin())
        .args(["demo", "--summary", "/nonexistent/s.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty(), "the demo ran");
}

#[test]
fn diff_tells_same_runs_from_different_ones() {
    let dir = std::env::temp_dir().join(format!("faultline-diff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = support::faultline_bin();
    let bin = bin.to_str().unwrap();
    let csv = |name: &str, args: &[&str]| {
        let path = dir.join(name);
        let mut cmd = std::process::Command::new(bin);
        cmd.args(["run", "-q", "--timeline", path.to_str().unwrap()]).arg(elf_fixtures::path("touch")).args(args);
        assert_eq!(cmd.output().unwrap().status.code(), Some(0));
        path.display().to_string()
    };
    let (a, b, c) = (
        csv("a.csv", &["bss", "write", "10"]),
        csv("b.csv", &["bss", "write", "10"]),
        csv("c.csv", &["bss", "write", "11"]),
    );
    let diff = |args: &[&str]| std::process::Command::new(bin).arg("diff").args(args).output().unwrap();
    // Two runs of one program: the same story, whatever the times.
    let out = diff(&[&a, &b]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    // A match says so, in one line, not by silence.
    let rows = std::fs::read_to_string(&a).unwrap().lines().count() - 1;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("faultline: {a} and {b} tell the same story: {rows} rows alike, times and latencies aside\n")
    );
    // One more page: the first row where they part, and the count.
    let out = diff(&[&a, &c]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    // a's exit where c wrote its eleventh page.
    let rows = std::fs::read_to_string(&a).unwrap().lines().count() - 1;
    assert!(text.starts_with(&format!("row {rows} differs")), "{text}");
    assert!(text.contains(&format!("{a}: ")) && text.contains(",exit,guest,1,1,0,"), "{text}");
    assert!(text.contains("pid 1 .bss zero-fill: 10 → 11"), "{text}");
    // Counts within a tolerance pass a CI gate; outside it they fail.
    let out = diff(&["--counts", "--tolerance", "10", &a, &c]);
    assert_eq!(out.status.code(), Some(0));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with(&format!("faultline: {a} and {c} have the same counts: ")), "{said}");
    assert!(said.ends_with("per process, region and event, each within 10 %\n"), "{said}");
    assert_eq!(diff(&["--counts", "--tolerance", "5", &a, &c]).status.code(), Some(1));
    // Not a timeline: faultline's own error.
    assert_eq!(diff(&[&a, bin]).status.code(), Some(125));
}
