//! Core dumps: a child that aborts under RLIMIT_CORE leaves an ELF core
//! in its working directory (a read-write bind, so on the host), read
//! back here with goblin; natively the same program leaves one as alike
//! as a host with plain `core` files allows. No core without RLIMIT_CORE,
//! and the wait status says so, as natively.

mod support;

use goblin::elf::program_header::{PT_LOAD, PT_NOTE};
use goblin::elf::Elf;
use support::*;

const TEXT: &[u8] = b"faultline-core-pattern!";
const PAGE: usize = 4096;
const SIGABRT: i32 = 6;
const NT_PRSTATUS: u32 = 1;
const NT_SIGINFO: u32 = 0x5349_4749;
/// elf_prstatus: pr_cursig at 12, pr_pid at 32.
const PR_CURSIG: usize = 12;
const PR_PID: usize = 32;

/// Whether this host's cores go to a `core` file in the working
/// directory, as the sandbox's do by default (not to a helper program,
/// nor under another name).
fn host_cores_are_plain() -> bool {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    let uses_pid = std::fs::read_to_string("/proc/sys/kernel/core_uses_pid").unwrap_or_default();
    pattern.trim_end() == "core" && uses_pid.trim() == "0"
}

/// Runs `coredump` for `libc` in faultline with `dir` bound read-write at
/// the same path and as the working directory.
fn run_in(libc: &str, dir: &TempDir, args: &[&str]) -> Run {
    let d = dir.s("");
    let d = d.trim_end_matches('/').to_string();
    run_fixture_with(&format!("coredump-{libc}"), args, |c| {
        c.binds = vec![faultline::parse_bind(&format!("{d}:{d}:rw")).unwrap()];
        c.cwd = Some(d.clone());
    })
}

/// The child's pid and the two mappings' addresses, from its line.
fn child_line(out: &str) -> (i32, u64, u64) {
    let line = out.lines().find(|l| l.starts_with("child ")).unwrap_or_else(|| panic!("no child line: {out}"));
    let pid = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    (pid, hex_field(line, "a"), hex_field(line, "b"))
}

/// The parent's line: how the child ended.
fn status_line(out: &str) -> &str {
    out.lines().find(|l| l.starts_with("signaled ")).unwrap_or_else(|| panic!("no status line: {out}"))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Checks `core` as the core of a child (`pid`) that filled `a` with TEXT,
/// marked `b` MADV_DONTDUMP and aborted.
fn check_core(core: &[u8], pid: i32, a: u64, b: u64, who: &str) {
    let elf = Elf::parse(core).unwrap_or_else(|e| panic!("{who}: not ELF: {e}"));
    assert_eq!(elf.header.e_type, goblin::elf::header::ET_CORE, "{who}");
    assert_eq!(elf.header.e_machine, goblin::elf::header::EM_X86_64, "{who}");
    assert_eq!(elf.program_headers[0].p_type, PT_NOTE, "{who}: the notes first");
    let holding = |va: u64| {
        elf.program_headers
            .iter()
            .find(|p| p.p_type == PT_LOAD && p.vm_range().contains(&(va as usize)))
            .unwrap_or_else(|| panic!("{who}: no PT_LOAD holds {va:#x}"))
    };
    let seg = holding(a);
    let at = (seg.p_offset + (a - seg.p_vaddr)) as usize;
    assert!(seg.p_filesz >= a - seg.p_vaddr + 2 * PAGE as u64, "{who}: {seg:?}");
    let want: Vec<u8> = TEXT.iter().copied().cycle().take(2 * PAGE).collect();
    assert!(core[at..at + 2 * PAGE] == want[..], "{who}: the mapping's bytes");
    let hidden = holding(b);
    assert_eq!((hidden.p_vaddr, hidden.p_filesz), (b, 0), "{who}: MADV_DONTDUMP");
    assert!(!core.windows(16).any(|w| w == b"faultline-secret"), "{who}: the secret is out");
    let notes: Vec<_> = elf.iter_note_headers(core).expect("notes").map(|n| n.expect("a note")).collect();
    let prstatus = notes.iter().find(|n| n.n_type == NT_PRSTATUS).unwrap_or_else(|| panic!("{who}: no NT_PRSTATUS"));
    assert_eq!(notes[0].n_type, NT_PRSTATUS, "{who}: the dumping thread's status first");
    assert_eq!(u16::from_le_bytes(prstatus.desc[PR_CURSIG..PR_CURSIG + 2].try_into().unwrap()), SIGABRT as u16);
    assert_eq!(u32_at(prstatus.desc, PR_PID), pid as u32, "{who}: pr_pid");
    let siginfo = notes.iter().find(|n| n.n_type == NT_SIGINFO).unwrap_or_else(|| panic!("{who}: no NT_SIGINFO"));
    assert_eq!(u32_at(siginfo.desc, 0), SIGABRT as u32, "{who}: si_signo");
}

#[test]
fn an_aborted_child_leaves_an_elf_core_of_what_it_wrote() {
    for libc in LIBCS {
        let dir = TempDir::new("core");
        let run = run_in(libc, &dir, &["-1", &dir.s("")]);
        assert_eq!(run.code(), 0, "{libc}: {}", run.stderr);
        assert_eq!(status_line(&run.stdout), "signaled 1 sig 6 core 1", "{libc}");
        let (pid, a, b) = child_line(&run.stdout);
        let core = std::fs::read(dir.join("core")).unwrap_or_else(|e| panic!("{libc}: no core on the host: {e}"));
        check_core(&core, pid, a, b, &format!("{libc} in faultline"));
        if host_cores_are_plain() {
            let native = TempDir::new("core-native");
            let (out, code) = run_native(&format!("coredump-{libc}"), &["-1", &native.s("")]);
            assert_eq!((status_line(&out), code), (status_line(&run.stdout), 0), "{libc} natively");
            let (pid, a, b) = child_line(&out);
            let core = std::fs::read(native.join("core")).expect("a native core");
            check_core(&core, pid, a, b, &format!("{libc} natively"));
        }
    }
}

#[test]
fn without_rlimit_core_there_is_no_core_and_no_core_bit() {
    for libc in LIBCS {
        let dir = TempDir::new("nocore");
        let run = run_in(libc, &dir, &["0", &dir.s("")]);
        assert_eq!((status_line(&run.stdout), run.code()), ("signaled 1 sig 6 core 0", 0), "{libc}: {}", run.stderr);
        assert!(!dir.join("core").exists(), "{libc}");
        if host_cores_are_plain() {
            let native = TempDir::new("nocore-native");
            let (out, _) = run_native(&format!("coredump-{libc}"), &["0", &native.s("")]);
            assert_eq!(status_line(&out), status_line(&run.stdout), "{libc} natively");
            assert!(!native.join("core").exists(), "{libc} natively");
        }
    }
}

#[test]
fn a_root_guest_names_its_cores_and_the_hosts_pattern_stays() {
    if my_uid() != 0 {
        eprintln!("skipped: kernel.core_pattern is root's to write");
        return;
    }
    let host_pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let dir = TempDir::new("core-pattern");
    let run = run_in("glibc", &dir, &["-1", &dir.s(""), "core.%e.%p.%s"]);
    assert_eq!(status_line(&run.stdout), "signaled 1 sig 6 core 1", "{}", run.stderr);
    let (pid, a, b) = child_line(&run.stdout);
    let core = std::fs::read(dir.join(&format!("core.coredump-glibc.{pid}.6"))).expect("the named core");
    check_core(&core, pid, a, b, "named");
    assert!(!dir.join("core").exists());
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(), host_pattern);
}
