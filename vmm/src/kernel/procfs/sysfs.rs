//! /sys: the few sysfs files programs read about memory and CPUs, served
//! by /proc's tables (the host's /sys would describe the host). What they
//! say is what faultline does: transparent huge pages are configured but
//! `never` used (every page is 4 KiB), the huge page pool is empty (so
//! MAP_HUGETLB is ENOMEM, as with no pages reserved), KSM is built but its
//! daemon does not run, and the CPUs are those sched_getaffinity reports.
//! All are read-only, root's too: none of these can be switched on here.

use super::super::syscalls::sched::online_cpus;
use super::tree::{dir, file, number, Dir};

pub(super) static ROOT: Dir = Dir { fixed: &[&[dir("kernel", &KERNEL), dir("devices", &DEVICES)]], numbered: None };

static KERNEL: Dir = Dir { fixed: &[&[dir("mm", &MM)]], numbered: None };

static MM: Dir = Dir {
    fixed: &[&[dir("transparent_hugepage", &THP), dir("hugepages", &HUGEPAGES), dir("ksm", &KSM)]],
    numbered: None,
};

/// The PMD size a huge page would have (HPAGE_PMD_SIZE).
const HPAGE_PMD_SIZE: u64 = 2 << 20;

/// CONFIG_TRANSPARENT_HUGEPAGE with TRANSPARENT_HUGEPAGE_NEVER: MADV_HUGEPAGE
/// is taken and changes nothing.
static THP: Dir = Dir {
    fixed: &[&[
        file("enabled", |_| b"always madvise [never]\n".to_vec()),
        file("defrag", |_| b"always defer defer+madvise [madvise] never\n".to_vec()),
        file("use_zero_page", |_| number(1)),
        file("hpage_pmd_size", |_| number(HPAGE_PMD_SIZE)),
        file("shmem_enabled", |_| b"always within_size advise [never] deny force\n".to_vec()),
    ]],
    numbered: None,
};

static HUGEPAGES: Dir = Dir { fixed: &[&[dir("hugepages-2048kB", &POOL)]], numbered: None };

/// The 2 MiB pool, empty.
static POOL: Dir = Dir {
    fixed: &[&[
        file("nr_hugepages", |_| number(0)),
        file("free_hugepages", |_| number(0)),
        file("resv_hugepages", |_| number(0)),
        file("surplus_hugepages", |_| number(0)),
        file("nr_overcommit_hugepages", |_| number(0)),
    ]],
    numbered: None,
};

/// CONFIG_KSM with ksmd stopped (`run` 0, its default): MADV_MERGEABLE
/// marks ranges and nothing is ever merged.
static KSM: Dir = Dir {
    fixed: &[&[
        file("run", |_| number(0)),
        file("pages_shared", |_| number(0)),
        file("pages_sharing", |_| number(0)),
        file("pages_unshared", |_| number(0)),
        file("pages_volatile", |_| number(0)),
        file("full_scans", |_| number(0)),
        file("sleep_millisecs", |_| number(20)),
        file("pages_to_scan", |_| number(100)),
        file("merge_across_nodes", |_| number(1)),
        file("max_page_sharing", |_| number(256)),
        file("use_zero_pages", |_| number(0)),
    ]],
    numbered: None,
};

static DEVICES: Dir = Dir { fixed: &[&[dir("system", &SYSTEM)]], numbered: None };

static SYSTEM: Dir = Dir { fixed: &[&[dir("cpu", &CPU)]], numbered: None };

/// The CPU lists glibc's get_nprocs() and friends read.
static CPU: Dir = Dir {
    fixed: &[&[file("online", |_| cpu_list()), file("possible", |_| cpu_list()), file("present", |_| cpu_list())]],
    numbered: None,
};

/// `0-N` (or `0`) for the CPUs there are.
fn cpu_list() -> Vec<u8> {
    match online_cpus() {
        1 => b"0\n".to_vec(),
        n => format!("0-{}\n", n - 1).into_bytes(),
    }
}
