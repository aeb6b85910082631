//! /proc/buddyinfo and /proc/zoneinfo: the page allocator's zones as
//! mm/vmstat.c prints them (frag_show_print(), zoneinfo_show_print()), in
//! the layout of a 6.x kernel, from [`crate::mm::Buddy`]'s own state.

use std::fmt::Write;

use super::super::KernelState;
use crate::mm::buddy::{Zone, NR_ZONES};
use crate::mm::{FrameKind, Residency, Wmark};

/// pageblock_order on x86-64 (2 MiB blocks): nr_free_pages_blocks counts
/// the free pages in whole free pageblocks.
const PAGEBLOCK_ORDER: usize = 9;

/// /proc/buddyinfo: free blocks per order of each populated zone.
pub(crate) fn buddyinfo(k: &KernelState) -> String {
    let mut out = String::new();
    for z in k.phys.buddy.zones().iter().filter(|z| z.populated()) {
        let _ = write!(out, "Node 0, zone {:>8} ", z.name);
        for n in z.free_blocks() {
            let _ = write!(out, "{n:>6} ");
        }
        out.push('\n');
    }
    out
}

/// Resident pages per zone, by what they hold.
#[derive(Default, Clone, Copy)]
struct ZoneUse {
    anon: u64,
    file: u64,
    mlocked: u64,
}

fn zone_use(k: &KernelState) -> [ZoneUse; NR_ZONES] {
    let mut u = [ZoneUse::default(); NR_ZONES];
    let b = &k.phys.buddy;
    for (_, f) in k.phys.all_frames().filter(|(_, f)| f.residency == Residency::Resident) {
        let Some(z) = f.pfn.and_then(|p| b.zone_of(p as u64)) else { continue };
        match f.kind {
            FrameKind::Anon => u[z].anon += 1,
            FrameKind::File => u[z].file += 1,
            // On neither list, as in /proc/vmstat's figures.
            FrameKind::Shmem => {}
        }
        if f.mlocks > 0 || f.pinned {
            u[z].mlocked += 1;
        }
    }
    u
}

/// The node's counters, printed once, in the first populated zone.
fn node_stats(k: &KernelState) -> Vec<(&'static str, u64)> {
    let c = k.phys.counters;
    let mut v = vec![
        ("nr_inactive_anon", 0),
        ("nr_active_anon", c.anon),
        ("nr_inactive_file", 0),
        ("nr_active_file", c.cached.saturating_sub(c.shmem)),
        ("nr_unevictable", c.mlocked),
    ];
    for n in [
        "nr_slab_reclaimable",
        "nr_slab_unreclaimable",
        "nr_isolated_anon",
        "nr_isolated_file",
        "workingset_nodes",
        "workingset_refault_anon",
        "workingset_refault_file",
        "workingset_activate_anon",
        "workingset_activate_file",
        "workingset_restore_anon",
        "workingset_restore_file",
        "workingset_nodereclaim",
    ] {
        v.push((n, 0));
    }
    v.extend([("nr_anon_pages", c.anon), ("nr_mapped", c.cached), ("nr_file_pages", c.cached)]);
    v.extend([("nr_dirty", 0), ("nr_writeback", 0), ("nr_shmem", c.shmem)]);
    for n in [
        "nr_shmem_hugepages",
        "nr_shmem_pmdmapped",
        "nr_file_hugepages",
        "nr_file_pmdmapped",
        "nr_anon_transparent_hugepages",
        "nr_vmscan_write",
        "nr_vmscan_immediate_reclaim",
        "nr_dirtied",
        "nr_written",
        "nr_throttled_written",
        "nr_kernel_misc_reclaimable",
        "nr_foll_pin_acquired",
        "nr_foll_pin_released",
        "nr_kernel_stack",
    ] {
        v.push((n, 0));
    }
    v.push(("nr_page_table_pages", k.phys.tables.in_use()));
    for n in [
        "nr_sec_page_table_pages",
        "nr_iommu_pages",
        "nr_swapcached",
        "pgpromote_success",
        "pgpromote_candidate",
        "pgpromote_candidate_nrl",
        "pgdemote_kswapd",
        "pgdemote_direct",
        "pgdemote_khugepaged",
        "pgdemote_proactive",
        "nr_hugetlb",
        "nr_balloon_pages",
        "nr_kernel_file_pages",
    ] {
        v.push((n, 0));
    }
    v
}

/// /proc/zoneinfo: every zone of the node, its watermarks, protection
/// (lowmem_reserve) and counters; the per-node counters once, in the first
/// populated zone. faultline's allocator keeps no per-CPU page lists, so
/// each CPU's pageset is empty with a batch of one, as a boot pageset is,
/// and counters have no per-CPU slack (a threshold of 0).
pub(crate) fn zoneinfo(k: &KernelState) -> String {
    let b = &k.phys.buddy;
    let used = zone_use(k);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()).min(64);
    let first = b.zones().iter().position(Zone::populated);
    let mut out = String::new();
    for (i, z) in b.zones().iter().enumerate() {
        let _ = write!(out, "Node 0, zone {:>8}", z.name);
        if Some(i) == first {
            out.push_str("\n  per-node stats");
            for (n, v) in node_stats(k) {
                let _ = write!(out, "\n      {n:<12} {v}");
            }
        }
        let _ = write!(
            out,
            "\n  pages free     {}\n        boost    0\n        min      {}\n        low      {}\n        high     {}\
             \n        promo    {}\n        spanned  {}\n        present  {}\n        managed  {}\n        cma      0",
            z.nr_free,
            z.wmark(Wmark::Min),
            z.wmark(Wmark::Low),
            z.wmark(Wmark::High),
            z.wmark(Wmark::Promo),
            z.spanned,
            z.spanned,
            z.managed(),
        );
        let prot: Vec<String> = z.lowmem_reserve.iter().map(u64::to_string).collect();
        let _ = write!(out, "\n        protection: ({})", prot.join(", "));
        if !z.populated() {
            out.push('\n');
            continue;
        }
        let blocks: u64 = z.free_blocks().iter().enumerate().skip(PAGEBLOCK_ORDER).map(|(o, n)| n << o).sum();
        let u = used[i];
        for (n, v) in [
            ("nr_free_pages", z.nr_free),
            ("nr_free_pages_blocks", blocks),
            ("nr_zone_inactive_anon", 0),
            ("nr_zone_active_anon", u.anon),
            ("nr_zone_inactive_file", 0),
            ("nr_zone_active_file", u.file),
            ("nr_zone_unevictable", u.mlocked),
            ("nr_zone_write_pending", 0),
            ("nr_mlock", u.mlocked),
            ("nr_zspages", 0),
            ("nr_free_cma", 0),
            ("numa_hit", z.allocs),
            ("numa_miss", 0),
            ("numa_foreign", 0),
            ("numa_interleave", 0),
            ("numa_local", z.allocs),
            ("numa_other", 0),
        ] {
            let _ = write!(out, "\n      {n:<12} {v}");
        }
        out.push_str("\n  pagesets");
        for cpu in 0..cpus {
            let _ = write!(
                out,
                "\n    cpu: {cpu}\n              count:    0\n              high:     0\n              batch:    1\
                 \n              high_min: 0\n              high_max: 0\n  vm stats threshold: 0"
            );
        }
        let _ = writeln!(out, "\n  node_unreclaimable:  0\n  start_pfn:           {}", z.start_pfn);
    }
    out
}
