//! The page allocator as the guest sees it: /proc/buddyinfo, /proc/zoneinfo,
//! MemFree and nr_free_pages from the buddy allocator's free lists, zones
//! split by physical address, and watermarks that reclaim and the OOM
//! killer act on.

mod support;

use std::collections::BTreeMap;

use faultline::timeline::EventKind;
use faultline::{Config, Program};
use support::*;

/// For the runs that read /proc after every page: a syscall-heavy loop
/// that takes seconds when the machine is busy.
const SLOW: std::time::Duration = std::time::Duration::from_secs(120);

/// One zone of /proc/zoneinfo.
#[derive(Debug, Default, Clone, PartialEq)]
struct Zone {
    name: String,
    fields: BTreeMap<String, u64>,
    protection: Vec<u64>,
}

impl Zone {
    fn get(&self, k: &str) -> u64 {
        *self.fields.get(k).unwrap_or_else(|| panic!("{} has no {k}: {self:?}", self.name))
    }
}

fn zoneinfo(text: &str) -> Vec<Zone> {
    let mut zones: Vec<Zone> = Vec::new();
    let mut node_stats = false;
    for l in text.lines() {
        if let Some(name) = l.strip_prefix("Node 0, zone ") {
            zones.push(Zone { name: name.trim().into(), ..Default::default() });
            node_stats = false;
            continue;
        }
        let Some(z) = zones.last_mut() else { continue };
        let t = l.trim();
        if t == "per-node stats" {
            node_stats = true;
        } else if let Some(p) = t.strip_prefix("protection: (") {
            z.protection = p.trim_end_matches(')').split(", ").map(|v| v.parse().unwrap()).collect();
        } else if let Some(v) = t.strip_prefix("pages free") {
            node_stats = false;
            z.fields.insert("free".into(), v.trim().parse().unwrap());
        } else if !node_stats {
            let mut w = t.rsplitn(2, ' ');
            if let (Some(v), Some(k)) = (w.next(), w.next()) {
                if let Ok(v) = v.parse() {
                    z.fields.entry(k.trim().trim_end_matches(':').into()).or_insert(v);
                }
            }
        }
    }
    zones
}

/// /proc/buddyinfo: zone -> free blocks per order.
fn buddyinfo(text: &str) -> Vec<(String, Vec<u64>)> {
    text.lines()
        .map(|l| {
            assert!(l.starts_with("Node 0, zone ") && l.ends_with(' '), "{l:?}");
            let mut f = l["Node 0, zone ".len()..].split_whitespace();
            let name = f.next().unwrap().to_string();
            (name, f.map(|v| v.parse().unwrap()).collect())
        })
        .collect()
}

fn field(text: &str, key: &str) -> u64 {
    let l = text.lines().find(|l| l.split([':', ' ']).next() == Some(key)).unwrap_or_else(|| panic!("no {key}"));
    l[key.len()..].trim_start_matches(':').split_whitespace().next().unwrap().parse().unwrap()
}

/// The watermarks __setup_per_zone_wmarks() gives each zone for
/// `min_free_kbytes`, and setup_per_zone_lowmem_reserve()'s protection.
fn expected_marks(zones: &[Zone], min_free_kbytes: u64) -> Vec<([u64; 4], Vec<u64>)> {
    let managed: Vec<u64> = zones.iter().map(|z| z.get("managed")).collect();
    let lowmem: u64 = managed[..3].iter().sum();
    let ratio = [256, 256, 32, 0, 0];
    (0..zones.len())
        .map(|i| {
            let tmp = (min_free_kbytes / 4) * managed[i] / lowmem;
            let min = if i == 3 { (managed[i] / 1024).clamp(32, 128) } else { tmp };
            let step = (tmp / 4).max(managed[i] * 10 / 10000);
            let prot = (0..5)
                .map(|j| {
                    if j <= i || ratio[i] == 0 || managed[i] == 0 {
                        0
                    } else {
                        managed[i + 1..=j].iter().sum::<u64>() / ratio[i]
                    }
                })
                .collect();
            ([min, min + step, min + 2 * step, min + 3 * step], prot)
        })
        .collect()
}

fn check_marks(zones: &[Zone], min_free_kbytes: u64) {
    for (z, (marks, prot)) in zones.iter().zip(expected_marks(zones, min_free_kbytes)) {
        assert_eq!([z.get("min"), z.get("low"), z.get("high"), z.get("promo")], marks, "{}", z.name);
        assert_eq!(z.protection, prot, "{}", z.name);
    }
}

/// The free pages every view shows, which must agree: buddyinfo's blocks,
/// zoneinfo's pages free and nr_free_pages, MemFree, vmstat.
fn free_everywhere(s: &BTreeMap<String, String>) -> u64 {
    let buddy: u64 =
        buddyinfo(&s["/proc/buddyinfo"]).iter().flat_map(|(_, c)| c.iter().enumerate().map(|(o, n)| n << o)).sum();
    let zones = zoneinfo(&s["/proc/zoneinfo"]);
    let free: u64 = zones.iter().map(|z| z.get("free")).sum();
    let nr_free: u64 = zones.iter().filter(|z| z.get("spanned") > 0).map(|z| z.get("nr_free_pages")).sum();
    let mem_free = field(&s["/proc/meminfo"], "MemFree");
    let vmstat = field(&s["/proc/vmstat"], "nr_free_pages");
    assert_eq!((free, nr_free, mem_free, vmstat), (buddy, buddy, buddy * 4, buddy), "{}", s["/proc/buddyinfo"]);
    buddy
}

/// The frag fixture's snapshots: index -> file -> contents.
fn snapshots(out: &str) -> Vec<BTreeMap<String, String>> {
    let mut snaps: Vec<BTreeMap<String, String>> = vec![BTreeMap::new(); 4];
    let mut cur: Option<(usize, String)> = None;
    for l in out.split_inclusive('\n') {
        if let Some(h) = l.strip_prefix("== S") {
            let (k, f) = h.trim_end().split_once(' ').unwrap();
            cur = Some((k.parse().unwrap(), f.to_string()));
            snaps[cur.as_ref().unwrap().0].insert(f.to_string(), String::new());
        } else if let Some((k, f)) = &cur {
            snaps[*k].get_mut(f).unwrap().push_str(l);
        }
    }
    snaps
}

fn order0(s: &BTreeMap<String, String>) -> u64 {
    buddyinfo(&s["/proc/buddyinfo"]).iter().map(|(_, c)| c[0]).sum()
}

#[test]
fn pages_split_from_blocks_and_merge_back_as_the_guest_touches_and_frees() {
    for libc in LIBCS {
        // 512 pages (2 MiB) in 256 MiB.
        let run = run_fixture_with(&format!("buddy-{libc}"), &["frag", "256"], |c| c.mem = 256 * MIB);
        assert_eq!(run.code(), 0, "{libc}: {}", run.stderr);
        let s = snapshots(&run.stdout);
        let free: Vec<u64> = s.iter().map(free_everywhere).collect();
        // The page tables were made before the first snapshot and stay
        // (faultline frees tables with the address space, not at munmap):
        // between snapshots only the touched pages come and go.
        let pte: Vec<u64> = s.iter().map(|s| field(&s["/proc/self/status"], "VmPTE")).collect();
        assert!(pte.iter().all(|&p| p == pte[0]), "{libc}: {pte:?}");
        assert_eq!(free[0] - free[1], 512, "{libc}: each page written takes one page of RAM");
        assert_eq!(free[2] - free[1], 256, "{libc}: every other page back");
        // Each odd page's buddy is its even neighbour, still in use: the
        // freed pages stay order-0 blocks (fragmentation). Only a stray
        // order-0 block the run began with can shift the pairs.
        let stray = order0(&s[0]);
        let holes = order0(&s[2]) - order0(&s[1]);
        assert!(holes <= 256 && holes + 2 * stray >= 256, "{libc}: {holes} new order-0 blocks, {stray} before");
        if stray == 0 {
            assert_eq!(holes, 256, "{libc}");
        }
        // All freed: every block merged back, the free lists exactly as
        // they were.
        assert_eq!(s[3]["/proc/buddyinfo"], s[0]["/proc/buddyinfo"], "{libc}");
        assert_eq!(free[3], free[0]);
        // 256 MiB: DMA is its first 16 MiB, DMA32 the rest.
        let zones = zoneinfo(&s[0]["/proc/zoneinfo"]);
        let names: Vec<&str> = zones.iter().map(|z| z.name.as_str()).collect();
        assert_eq!(names, ["DMA", "DMA32", "Normal", "Movable", "Device"]);
        let spans: Vec<(u64, u64, u64)> =
            zones.iter().map(|z| (z.get("spanned"), z.get("present"), z.get("managed"))).collect();
        assert_eq!(spans, [(4096, 4096, 4096), (61440, 61440, 61440), (0, 0, 0), (0, 0, 0), (0, 0, 0)]);
        assert_eq!((zones[0].get("start_pfn"), zones[1].get("start_pfn")), (0, 4096));
        let bi: Vec<String> =
            buddyinfo(&s[0]["/proc/buddyinfo"]).into_iter().map(|(n, c)| format!("{n}{}", c.len())).collect();
        assert_eq!(bi, ["DMA11", "DMA3211"], "{libc}: populated zones, orders 0..=10");
        // Watermarks from min_free_kbytes = sqrt(16 × 262144 KiB) = 2048.
        let mfk: u64 = s[0]["/proc/sys/vm/min_free_kbytes"].trim().parse().unwrap();
        assert_eq!(mfk, 2048);
        check_marks(&zones, mfk);
        assert_eq!([zones[0].get("min"), zones[0].get("low"), zones[0].get("high")], [32, 40, 48]);
        assert_eq!([zones[1].get("min"), zones[1].get("low"), zones[1].get("high")], [480, 600, 720]);
        assert_eq!(zones[0].protection, [0, 240, 240, 240, 240]);
    }
}

#[test]
fn zoneinfo_has_the_layout_of_a_6x_kernel() {
    let run = run_fixture_with("buddy-musl", &["frag", "1"], |c| c.mem = 256 * MIB);
    let z = &snapshots(&run.stdout)[0]["/proc/zoneinfo"];
    // The populated DMA zone, per-node stats and per-CPU sets aside.
    let mut keys = Vec::new();
    let mut skip = false;
    for l in z.lines().skip_while(|l| !l.starts_with("Node 0, zone      DMA")).skip(1) {
        if l.starts_with("Node") {
            break;
        }
        if l == "  per-node stats" || l == "  pagesets" {
            skip = true;
        }
        if l.starts_with("  pages free") || l.starts_with("  node_unreclaimable") {
            skip = false;
        }
        if !skip {
            keys.push(l.rsplit_once(' ').map_or(l, |(k, _)| k).to_string());
        }
    }
    let want = [
        "  pages free    ",
        "        boost   ",
        "        min     ",
        "        low     ",
        "        high    ",
        "        promo   ",
        "        spanned ",
        "        present ",
        "        managed ",
        "        cma     ",
        "        protection: (0, 240, 240, 240,",
        "      nr_free_pages",
        "      nr_free_pages_blocks",
        "      nr_zone_inactive_anon",
        "      nr_zone_active_anon",
        "      nr_zone_inactive_file",
        "      nr_zone_active_file",
        "      nr_zone_unevictable",
        "      nr_zone_write_pending",
        "      nr_mlock    ",
        "      nr_zspages  ",
        "      nr_free_cma ",
        "      numa_hit    ",
        "      numa_miss   ",
        "      numa_foreign",
        "      numa_interleave",
        "      numa_local  ",
        "      numa_other  ",
        "  node_unreclaimable: ",
        "  start_pfn:          ",
    ];
    assert_eq!(keys, want, "{z}");
    // An empty zone stops after its protection.
    assert!(z.contains("Node 0, zone   Normal\n  pages free     0\n"), "{z}");
    assert!(z.ends_with("        protection: (0, 0, 0, 0, 0)\n"), "{z}");
    // The per-node stats come once, in DMA.
    assert_eq!(z.matches("per-node stats").count(), 1);
    assert!(z.starts_with("Node 0, zone      DMA\n  per-node stats\n      nr_inactive_anon 0\n"), "{z}");
}

#[test]
fn memory_above_4_gib_is_the_normal_zone_and_rss_limit_is_the_ram() {
    let cat = |tune: &dyn Fn(&mut Config)| {
        let mut c = config(&["/bin/cat", "/proc/zoneinfo", "/proc/sys/vm/min_free_kbytes", "/proc/meminfo"]);
        tune(&mut c);
        let r = run_image(&Program::Path("/bin/cat".into()), c);
        assert_eq!(r.code(), 0, "{}", r.stderr);
        r.stdout
    };
    // 5 GiB: DMA, DMA32 up to 4 GiB, and 1 GiB of Normal from pfn 2^20.
    let out = cat(&|c| c.mem = 5 << 30);
    let zones = zoneinfo(&out);
    let spans: Vec<(u64, u64)> = zones.iter().take(3).map(|z| (z.get("spanned"), z.get("start_pfn"))).collect();
    assert_eq!(spans, [(4096, 0), (1044480, 4096), (262144, 1048576)]);
    // min_free_kbytes = sqrt(16 × 5 GiB in KiB) = 9158: the only number
    // after the zones.
    let mfk: u64 = out.lines().find(|l| l.parse::<u64>().is_ok()).unwrap().parse().unwrap();
    assert_eq!(mfk, 9158);
    check_marks(&zones, mfk);
    assert_eq!(zones[1].protection, [0, 0, 1024, 1024, 1024]);
    // --rss-limit is the RAM the allocator has: MemTotal and the zones.
    let out = cat(&|c| c.rss_limit = Some(4 * MIB));
    let zones = zoneinfo(&out);
    assert_eq!(field(&out, "MemTotal"), 4096);
    assert_eq!((zones[0].get("spanned"), zones[1].get("spanned")), (1024, 0));
    assert_eq!(zones[1].name, "DMA32");
    check_marks(&zones, 256);
}

/// The fixture's "free I N" lines: nr_free_pages after each page written.
fn free_lines(out: &str) -> Vec<u64> {
    out.lines().filter_map(|l| l.strip_prefix("free ")).map(|l| l.split(' ').nth(1).unwrap().parse().unwrap()).collect()
}

#[test]
fn reclaim_starts_below_the_low_watermark_and_stops_above_high() {
    for libc in LIBCS {
        // 4 MiB (1024 pages, all DMA): min_free_kbytes 256, so min 64,
        // low 80, high 96. 1200 pages written through it, to swap.
        let run = run_fixture_with(&format!("buddy-{libc}"), &["wmark", "1200"], |c| {
            c.mem = 4 * MIB;
            c.swap = 16 * MIB;
            c.timeout = Some(SLOW);
        });
        assert_eq!(run.code(), 0, "{libc}: {} {:?}", run.stderr, run.outcome.reports);
        let dma = &zoneinfo(run.stdout.split("free 0 ").next().unwrap())[0];
        assert_eq!([dma.get("min"), dma.get("low"), dma.get("high")], [64, 80, 96], "{libc}");
        let free = free_lines(&run.stdout);
        assert_eq!(free.len(), 1200);
        // Never below low: a page wanted at low wakes reclaim first. And
        // reclaim (everything else is mlocked, and written pages are not
        // touched again) frees exactly up to high before the page is taken.
        assert!(free.iter().all(|&f| f >= 80), "{libc}: {free:?}");
        let jumps: Vec<(u64, u64)> = free.windows(2).filter(|w| w[1] > w[0]).map(|w| (w[0], w[1])).collect();
        assert!(jumps.len() > 20, "{libc}: {jumps:?}");
        assert!(jumps.iter().all(|&(a, b)| b == 96 && a <= 81), "{libc}: {jumps:?}");
        let count = |k: EventKind| run.outcome.events.iter().filter(|e| e.kind == k).count();
        assert!(count(EventKind::Evict) as u64 >= jumps.len() as u64 * 15, "{libc}");
        assert_eq!(count(EventKind::SwapIn), 0, "{libc}: nothing evicted was wanted again");
        assert_eq!(count(EventKind::OomKill), 0);
    }
}

#[test]
fn the_oom_killer_fires_at_the_min_watermark() {
    for libc in LIBCS {
        // No swap and everything else mlocked: nothing to reclaim, so pages
        // are taken past low down to min, and the next one is the OOM kill.
        let run = run_fixture_with(&format!("buddy-{libc}"), &["wmark", "1000"], |c| {
            c.mem = 4 * MIB;
            c.timeout = Some(SLOW);
        });
        assert_eq!(run.code(), 137, "{libc}: {}", run.stderr);
        let free = free_lines(&run.stdout);
        assert!(free.len() > 200 && free.len() < 1000, "{libc}: {}", free.len());
        assert!(free.windows(2).all(|w| w[1] < w[0]), "{libc}: free only falls: {free:?}");
        assert_eq!(*free.last().unwrap(), 64, "{libc}: the last page taken left min free");
        assert_eq!(run.outcome.events.iter().filter(|e| e.kind == EventKind::Evict).count(), 0);
        // The last page event; the process's exit row follows it.
        let last = run.outcome.events.iter().rfind(|e| !e.kind.is_lifecycle()).unwrap();
        assert_eq!(last.kind, EventKind::OomKill, "{libc}");
        assert_eq!(run.outcome.events.last().unwrap().kind, EventKind::Exit, "{libc}");
        assert!(run.outcome.report().unwrap().starts_with("Out of memory: Killed process 1"));
    }
}
