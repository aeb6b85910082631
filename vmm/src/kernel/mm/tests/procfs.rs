//! The memory files of /proc say what the rules did: maps lists the
//! mappings with Linux's flags and names, status and smaps count pages
//! in kB, meminfo adds up the machine.

use crate::arch::PAGE_SIZE;
use crate::kernel::abi::mman::*;
use crate::kernel::abi::prctl::{PR_SET_VMA, PR_SET_VMA_ANON_NAME};
use crate::kernel::testing::TestKernel;

const P: u64 = PAGE_SIZE;

fn text(t: &TestKernel, path: &str) -> String {
    String::from_utf8(t.read_file(path).unwrap()).unwrap()
}

#[test]
fn maps_shows_each_mapping_with_its_permissions_and_name() {
    let t = TestKernel::new();
    let a = t.mmap_anon(3 * P, PROT_READ | PROT_WRITE);
    assert_eq!(t.sys("mprotect", &[a + P, P, PROT_READ]), 0);
    let maps = text(&t, "/proc/self/maps");
    let lines: Vec<&str> = maps
        .lines()
        .filter(|l| {
            let start = u64::from_str_radix(l.split('-').next().unwrap(), 16).unwrap();
            (a..a + 3 * P).contains(&start)
        })
        .map(str::trim_end)
        .collect();
    let want = [
        format!("{:08x}-{:08x} rw-p 00000000 00:00 0", a, a + P),
        format!("{:08x}-{:08x} r--p 00000000 00:00 0", a + P, a + 2 * P),
        format!("{:08x}-{:08x} rw-p 00000000 00:00 0", a + 2 * P, a + 3 * P),
    ];
    assert_eq!(lines, want, "{maps}");
    assert!(maps.lines().any(|l| l.ends_with("[stack]")), "{maps}");
    // The VMA's own flags: PROT_WRITE alone is `-w-`, PROT_EXEC `--x`.
    for (prot, shown) in [(PROT_WRITE, "-w-p"), (PROT_EXEC, "--xp"), (PROT_WRITE | PROT_EXEC, "-wxp")] {
        let m = t.mmap_anon(P, prot);
        let maps = text(&t, "/proc/self/maps");
        let line = maps.lines().find(|l| l.starts_with(&format!("{m:08x}-"))).unwrap();
        assert_eq!(line.split_whitespace().nth(1), Some(shown), "{line}");
        assert_eq!(t.sys("munmap", &[m, P]), 0);
    }
    assert!(maps.lines().any(|l| l.ends_with("[vdso]")), "{maps}");
    let s = t.put_str("buffers");
    let named = t.mmap_anon(P, PROT_READ | PROT_WRITE);
    assert_eq!(t.sys("prctl", &[PR_SET_VMA, PR_SET_VMA_ANON_NAME, named, P, s]), 0);
    assert!(text(&t, "/proc/self/maps")
        .lines()
        .any(|l| l.starts_with(&format!("{named:08x}")) && l.ends_with("[anon:buffers]")));
}

#[test]
fn status_and_smaps_count_what_was_touched() {
    let t = TestKernel::new();
    let a = t.mmap_anon(8 * P, PROT_READ | PROT_WRITE);
    let (rss, anon) = (t.status_kb("VmRSS"), t.status_kb("RssAnon"));
    for i in 0..5 {
        t.touch(a + i * P, true);
    }
    assert_eq!(t.status_kb("VmRSS"), rss + 20);
    assert_eq!(t.status_kb("RssAnon"), anon + 20);
    let smaps = text(&t, "/proc/self/smaps");
    let entry: Vec<&str> = smaps
        .lines()
        .skip_while(|l| !l.starts_with(&format!("{a:08x}-")))
        .skip(1)
        .take_while(|l| !l.contains('-') || l.contains(':'))
        .collect();
    let kb = |key: &str| {
        entry
            .iter()
            .find(|l| l.starts_with(&format!("{key}:")))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or_else(|| panic!("{key} in {entry:?}"))
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!((kb("Size"), kb("Rss"), kb("Pss"), kb("Anonymous"), kb("Swap")), (32, 20, 20, 20, 0));
    assert!(entry.iter().any(|l| l.starts_with("VmFlags:") && l.contains(" ac")), "{entry:?}");
}

#[test]
fn madv_dontdump_marks_the_vma_and_dodump_clears_it() {
    let t = TestKernel::new();
    let a = t.mmap_anon(3 * P, PROT_READ | PROT_WRITE);
    // The VmFlags lines of the VMAs in [a, a + 3 pages), in order.
    let flags = |t: &TestKernel| -> Vec<String> {
        let mut out = Vec::new();
        let mut inside = false;
        for l in text(t, "/proc/self/smaps").lines() {
            match l.split_once(' ').filter(|(r, _)| r.contains('-') && !r.ends_with(':')) {
                Some((range, _)) => {
                    let start = u64::from_str_radix(range.split('-').next().unwrap(), 16).unwrap();
                    inside = (a..a + 3 * P).contains(&start);
                }
                None if inside && l.starts_with("VmFlags:") => out.push(l.trim_end().to_string()),
                None => {}
            }
        }
        out
    };
    assert_eq!(t.sys("madvise", &[a + P, P, MADV_DONTDUMP]), 0);
    let f = flags(&t);
    // Linux's order: VM_ACCOUNT, VM_DONTDUMP, VM_SOFTDIRTY.
    let plain = "VmFlags: rd wr mr mw me ac sd";
    assert_eq!(f, [plain, "VmFlags: rd wr mr mw me ac dd sd", plain]);
    assert_eq!(t.sys("madvise", &[a, 3 * P, MADV_DODUMP]), 0);
    assert_eq!(flags(&t), [plain], "merged again");
    // The vDSO's areas are special mappings: [vvar] is VM_DONTDUMP, and
    // MADV_DODUMP cannot change that (VM_SPECIAL).
    let maps = text(&t, "/proc/self/maps");
    let vvar = maps.lines().find(|l| l.ends_with("[vvar]")).expect("[vvar]");
    let vvar = u64::from_str_radix(vvar.split('-').next().unwrap(), 16).unwrap();
    let smaps = text(&t, "/proc/self/smaps");
    let vvar_flags = smaps.lines().skip_while(|l| !l.ends_with("[vvar]")).find(|l| l.starts_with("VmFlags:")).unwrap();
    assert!(vvar_flags.contains(" dd "), "{vvar_flags}");
    assert_eq!(t.sys("madvise", &[vvar, P, MADV_DODUMP]), crate::kernel::testing::err(crate::kernel::errno::EINVAL));
}

#[test]
fn meminfo_adds_up() {
    let t = TestKernel::new();
    let total = t.meminfo_kb("MemTotal");
    let free = t.meminfo_kb("MemFree");
    let a = t.mmap_anon(16 * P, PROT_READ | PROT_WRITE);
    for i in 0..16 {
        t.touch(a + i * P, true);
    }
    assert_eq!(t.meminfo_kb("MemTotal"), total);
    assert_eq!(t.meminfo_kb("MemFree"), free - 64);
    assert!(t.meminfo_kb("AnonPages") >= 64);
}
