//! Boots real guests on /dev/kvm and asserts exactly what their memory did.

mod support;

use faultline::timeline::{Access, EventKind, Origin};
use faultline::ExitStatus;
use support::*;

use Access::{Read, Write};
use EventKind::{FileCopy, ZeroFill};

fn key(region: &str, a: Access, k: EventKind) -> (String, Access, EventKind) {
    (region.to_string(), a, k)
}

#[test]
fn demo_faults_exactly_the_pages_it_touches() {
    let run = run_image(&demo_image(), config(&["demo"]));
    assert_eq!(run.outcome.status, ExitStatus::Exited(0), "stderr: {}", run.stderr);
    assert!(run.stdout.starts_with("faultline demo: lazy backing"));
    assert!(run.stdout.ends_with("done: most of what the program maps was never backed at all\n"));
    let f = run.faults();
    assert_eq!(f.get(&key(".text", Read, FileCopy)), Some(&1));
    assert_eq!(f.get(&key(".rodata", Read, FileCopy)), Some(&1));
    assert_eq!(f.get(&key(".data", Read, FileCopy)), Some(&4));
    assert_eq!(f.get(&key(".bss", Write, ZeroFill)), Some(&8));
    assert_eq!(f.get(&key("stack", Write, ZeroFill)), Some(&8));
    assert_eq!(f.values().sum::<u64>(), 22, "{f:?}");
    // The VMM built the stack's top page, just below the top of user
    // space (TASK_SIZE: 47 bits less a page on x86-64, 48 bits on arm64);
    // it is marked as its own.
    // (On arm64 exec also writes the vDSO's sigreturn trampoline, a
    // page of its own: the only other.)
    let (vdso, vmm): (Vec<_>, Vec<_>) =
        run.outcome.events.iter().filter(|e| e.origin == Origin::Vmm).partition(|e| run.region(e) == "[vdso]");
    assert_eq!(vdso.len(), usize::from(cfg!(target_arch = "aarch64")));
    assert_eq!(vmm.len(), 1);
    assert_eq!(run.region(vmm[0]), "stack");
    let stack = run.outcome.summary.region("stack").unwrap();
    assert_eq!(vmm[0].gva, stack.end - 4096);
    #[cfg(target_arch = "x86_64")]
    assert_eq!(vmm[0].gva, 0x7fff_ffff_e000);
    #[cfg(target_arch = "aarch64")]
    assert_eq!(vmm[0].gva, 0xffff_ffff_f000);
    // Mapped versus resident: the point of the demo.
    let bss = run.outcome.summary.region(".bss").unwrap();
    assert_eq!((bss.mapped_pages, bss.resident_pages), (64, 8));
    let data = run.outcome.summary.region(".data").unwrap();
    assert_eq!((data.mapped_pages, data.resident_pages, data.read_faults), (16, 4, 4));
}

#[test]
fn touching_k_pages_makes_k_faults_of_the_right_kind() {
    let cases: &[(&[&str], &str, Access, EventKind, u64)] = &[
        (&["bss", "write", "100"], ".bss", Write, ZeroFill, 100),
        (&["bss", "read", "37"], ".bss", Read, ZeroFill, 37),
        (&["bss", "write", "20", "7"], ".bss", Write, ZeroFill, 20),
        (&["data", "read", "64"], ".data", Read, FileCopy, 64),
        (&["data", "write", "5", "50"], ".data", Write, FileCopy, 5),
        (&["rodata", "read", "255"], ".rodata", Read, FileCopy, 255),
        (&["bss", "write", "0"], ".bss", Write, ZeroFill, 0),
    ];
    for (args, region, access, kind, n) in cases {
        let run = run_fixture("touch", args);
        assert_eq!(run.code(), 0, "{args:?}: {}", run.stderr);
        // The program's string literals: one more .rodata page, read once.
        let strings = |r: &str| u64::from(r == ".rodata");
        let f = run.faults();
        assert_eq!(f.get(&key(region, *access, *kind)).copied().unwrap_or(0), *n + strings(region), "{args:?}: {f:?}");
        assert_eq!(run.guest_faults_in(region), *n + strings(region), "{args:?}: {f:?}");
        // Untouched regions stay unbacked.
        for other in [".data", ".bss", ".rodata"].iter().filter(|r| *r != region) {
            assert_eq!(run.guest_faults_in(other), strings(other), "{args:?} touched {other}");
        }
        let r = run.outcome.summary.region(region).unwrap();
        assert_eq!(r.mapped_pages, 256 + strings(region));
        // Reads of fresh .bss map the shared zero page: not resident
        // (where the host lets faultline map it: see zero_page_reads).
        let zero_page = (*region, *access) == (".bss", Read) && faultline::zero_page_reads();
        let resident = if zero_page { 0 } else { *n };
        assert_eq!(r.resident_pages, resident + strings(region), "{args:?}");
    }
}

#[test]
fn strided_touches_land_on_the_expected_addresses() {
    let run = run_fixture("touch", &["bss", "write", "4", "3"]);
    let bss = run.outcome.summary.region(".bss").unwrap().start;
    let gvas: Vec<u64> = run
        .outcome
        .events
        .iter()
        .filter(|e| e.origin == Origin::Guest && run.region(e) == ".bss")
        .map(|e| e.gva)
        .collect();
    assert_eq!(gvas, vec![bss, bss + 3 * 4096, bss + 6 * 4096, bss + 9 * 4096]);
}

#[test]
fn static_pie_loads_at_the_linux_base() {
    let run = run_fixture("touch-pie", &["bss", "write", "10"]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert_eq!(run.guest_faults_in(".bss"), 10);
    let text = run.outcome.summary.region(".text").unwrap();
    assert!(text.start >= faultline::PIE_BASE, "{:#x}", text.start);
}

#[test]
fn two_runs_give_the_same_rows() {
    let a = run_image(&demo_image(), config(&["demo"]));
    let b = run_image(&demo_image(), config(&["demo"]));
    assert_eq!(a.stable_rows(), b.stable_rows());
    let c = run_fixture("touch", &["data", "read", "30", "2"]);
    let d = run_fixture("touch", &["data", "read", "30", "2"]);
    assert_eq!(c.stable_rows(), d.stable_rows());
    // Sequence numbers count up from 0 and times never go backwards.
    let times: Vec<u64> = c.outcome.events.iter().map(|e| e.time_ns).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(c.outcome.events.iter().enumerate().all(|(i, e)| e.seq == i as u64));
}

#[test]
fn large_write_reaches_stdout_and_exit_status_is_kept() {
    let size = 3_000_000usize;
    let run = run_fixture("bigwrite", &[&size.to_string(), "42"]);
    assert_eq!(run.outcome.status, ExitStatus::Exited(42));
    let want: Vec<u8> = (0..size).map(|i| (i * 7) as u8).collect();
    assert_eq!(run.stdout_bytes.len(), size);
    assert!(run.stdout_bytes == want, "stdout differs from the pattern");
    // The program touched every page itself; the VMM read them backed.
    assert_eq!(run.guest_faults_in(".bss"), size.div_ceil(4096) as u64);
}

#[test]
fn pages_the_vmm_reads_for_the_program_are_not_counted_as_its_faults() {
    let run = run_fixture("bigwrite", &["100000", "0", "untouched"]);
    assert_eq!(run.code(), 0);
    assert_eq!(run.stdout_bytes, vec![0u8; 100000]);
    assert_eq!(run.guest_faults_in(".bss"), 0);
    let vmm_bss = run.outcome.events.iter().filter(|e| e.origin == Origin::Vmm && run.region(e) == ".bss").count();
    assert_eq!(vmm_bss, 25);
    // Reading never-written anonymous memory maps the shared zero page, as
    // Linux does for copy_to_user's reads: nothing becomes resident.
    assert_eq!(run.outcome.summary.region(".bss").unwrap().resident_pages, 0);
}

#[test]
fn syscall_edges_return_linux_errnos() {
    let run = run_fixture("syscalls", &[]);
    assert_eq!(run.code(), 0);
    let last = run.stdout.lines().last().unwrap();
    assert_eq!(last, "enosys=-38 ebadf=-9 efault=-14 kernel=-14 partial=3 big=4096");
}

#[test]
fn crashes_end_like_a_linux_process() {
    let cases: &[(&str, i32, &[&str])] = &[
        ("null-read", 139, &["segfault at 0 ", "error 4", "not mapped"]),
        ("null-write", 139, &["segfault at 0 ", "error 6"]),
        ("rodata-write", 139, &["write to a read-only page", "error 7"]),
        ("exec-data", 139, &["fetch from a non-executable page", "error 15"]),
        ("kernel-read", 139, &["segfault at ffffff8000000000", "error 5"]),
        ("noncanonical", 139, &["#GP general protection"]),
        ("ud2", 132, &["#UD invalid opcode", "SIGILL"]),
        ("div0", 136, &["#DE divide error", "SIGFPE"]),
        ("int3", 133, &["#BP breakpoint", "SIGTRAP"]),
        ("hlt", 139, &["#GP"]),
        ("recurse", 139, &["segfault at 7fffff7f", "not mapped", "stack guard gap"]),
        // Jumping to the syscall trap address is no syscall.
        ("jump-to-lstar", 139, &["segfault at ffffff8000100000"]),
    ];
    for (kind, code, needles) in cases {
        let run = run_fixture("crash", &[kind]);
        assert_eq!(run.code(), *code, "{kind}");
        let report = run.outcome.report().unwrap_or_default().to_string();
        assert!(report.starts_with("crash[1]: "), "{kind}: {report}");
        let ip_in = match *kind {
            "exec-data" => " in .data[",
            "jump-to-lstar" => " in an unmapped area",
            _ => " in .text[",
        };
        assert!(report.contains(ip_in), "{kind}: {report}");
        for n in *needles {
            assert!(report.contains(n), "{kind}: {report:?} lacks {n:?}");
        }
    }
}

#[test]
fn timeout_kills_a_spinning_guest() {
    let image = faultline::Program::Path(elf_fixtures::path("spin"));
    let mut cfg = config(&["spin"]);
    cfg.timeout = Some(std::time::Duration::from_millis(300));
    let t = std::time::Instant::now();
    let run = run_image(&image, cfg);
    assert_eq!(run.code(), 137);
    assert!(run.outcome.report().unwrap().contains("timeout"));
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn kernel_populated_mode_runs_the_same_program_without_traps() {
    let image = faultline::Program::Path(elf_fixtures::path("touch"));
    let mut cfg = config(&["touch", "data", "read", "64"]);
    cfg.trapped = false;
    let run = run_image(&image, cfg);
    assert_eq!(run.code(), 0);
    // The file pages still come through the VMM (their bytes are the
    // VMM's to copy); anonymous first touches are the host kernel's alone.
    let pages = run.outcome.events.iter().filter(|e| !e.kind.is_lifecycle());
    assert!(pages.clone().all(|e| e.kind == EventKind::FileCopy), "{:?}", run.outcome.events);
    assert_eq!(run.guest_faults_in(".data"), 64);
    let anon = run_image(&image, {
        let mut c = config(&["touch", "bss", "write", "64"]);
        c.trapped = false;
        c
    });
    assert_eq!(anon.code(), 0);
    assert_eq!(anon.guest_faults_in(".bss"), 0);
}
