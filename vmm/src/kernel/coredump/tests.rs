//! Core dumps in a kernel without a VM: the sysctls and the per-process
//! filter, who may write them, and the core a forked child leaves when it
//! dies of a signal (read back and parsed as gdb would).

use goblin::elf::program_header::PT_LOAD as GOBLIN_PT_LOAD;
use goblin::elf::Elf;
use zerocopy::FromBytes;

use super::super::abi::elf::*;
use super::super::abi::mman::*;
use super::super::abi::prctl::{PR_GET_DUMPABLE, PR_SET_DUMPABLE};
use super::super::abi::resource::RLIMIT_CORE;
use super::super::errno::*;
use super::super::signal::{SIGABRT, SIGSEGV};
use super::super::testing::{err, TestConfig, TestKernel};
use crate::arch::PAGE_SIZE;
use crate::timeline::EventKind;

const RW: u64 = PROT_READ | PROT_WRITE;
const O_WRONLY: u64 = 1;

fn root() -> TestKernel {
    TestKernel::with(TestConfig { uid: 0, ..Default::default() })
}

/// write(2) of `data` to `path` (opened O_WRONLY): its result, or the
/// open's errno.
fn write_file(t: &TestKernel, path: &str, data: &[u8]) -> i64 {
    let fd = t.open(path, O_WRONLY);
    if fd < 0 {
        return fd;
    }
    let (buf, _) = t.data_buffer();
    t.poke(buf, data);
    let n = t.sys("write", &[fd as u64, buf, data.len() as u64]);
    t.sys("close", &[fd as u64]);
    n
}

fn text(t: &TestKernel, path: &str) -> String {
    String::from_utf8(t.read_file(path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// setrlimit(RLIMIT_CORE, {cur, infinity}).
fn core_limit(t: &TestKernel, cur: u64) {
    let (buf, _) = t.data_buffer();
    t.poke(buf, &[cur.to_le_bytes(), u64::MAX.to_le_bytes()].concat());
    assert_eq!(t.sys("setrlimit", &[RLIMIT_CORE as u64, buf]), 0);
}

/// The current process (a child of `parent`) raises `sig` and dies of
/// it; `parent` reaps it. Its wait status.
fn die_of(t: &mut TestKernel, parent: u32, sig: i32) -> u32 {
    let child = t.pid;
    assert_eq!(t.sys("kill", &[child as u64, sig as u64]), 0);
    t.return_to_user();
    t.become_process(parent);
    let (buf, _) = t.data_buffer();
    assert_eq!(t.sys("wait4", &[child as u64, buf, 0, 0]), child as i64);
    u32::from_le_bytes(t.peek(buf, 4).try_into().unwrap())
}

#[test]
fn core_pattern_and_core_uses_pid_are_the_sandboxs_for_root_to_write() {
    let t = TestKernel::new();
    assert_eq!(text(&t, "/proc/sys/kernel/core_pattern"), "core\n");
    assert_eq!(text(&t, "/proc/sys/kernel/core_uses_pid"), "0\n");
    assert_eq!(write_file(&t, "/proc/sys/kernel/core_pattern", b"x"), err(EACCES));
    assert_eq!(write_file(&t, "/proc/sys/kernel/core_uses_pid", b"1"), err(EACCES));

    let t = root();
    assert_eq!(write_file(&t, "/proc/sys/kernel/core_pattern", b"/tmp/dump-%p\n"), 13);
    assert_eq!(text(&t, "/proc/sys/kernel/core_pattern"), "/tmp/dump-%p\n");
    // proc_dostring: cut at CORENAME_MAX_SIZE - 1, the whole write taken.
    assert_eq!(write_file(&t, "/proc/sys/kernel/core_pattern", &[b'a'; 200]), 200);
    assert_eq!(text(&t, "/proc/sys/kernel/core_pattern"), format!("{}\n", "a".repeat(127)));
    assert_eq!(write_file(&t, "/proc/sys/kernel/core_uses_pid", b"1\n"), 2);
    assert_eq!(text(&t, "/proc/sys/kernel/core_uses_pid"), "1\n");
    assert_eq!(write_file(&t, "/proc/sys/kernel/core_uses_pid", b"x"), err(EINVAL));
}

#[test]
fn coredump_filter_is_its_owners_and_fork_copies_it() {
    let mut t = root();
    let parent = t.pid;
    let path = "/proc/self/coredump_filter";
    assert_eq!(text(&t, path), "00000033\n");
    assert_eq!(write_file(&t, path, b"0x3f\n"), 5);
    assert_eq!(text(&t, path), "0000003f\n");
    assert_eq!(write_file(&t, path, b"077"), 3);
    assert_eq!(text(&t, path), "0000003f\n");
    // MMF_DUMP_FILTER_BITS of it, no more.
    assert_eq!(write_file(&t, path, b"0xfff"), 5);
    assert_eq!(text(&t, path), "000001ff\n");
    for bad in [&b"junk"[..], b" 1", b"0x", b"1\n\n"] {
        assert_eq!(write_file(&t, path, bad), err(EINVAL), "{bad:?}");
    }
    assert_eq!(write_file(&t, path, b"4294967296"), err(ERANGE));
    assert_eq!(write_file(&t, path, b"0x21"), 4);

    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    assert_eq!(text(&t, path), "00000021\n", "fork copies it");
    assert_eq!(t.sys("prctl", &[PR_GET_DUMPABLE]), 1);
    // Another identity: not dumpable, so its files are root's.
    assert_eq!(t.sys("setuid", &[1001]), 0);
    assert_eq!(t.sys("prctl", &[PR_GET_DUMPABLE]), 0);
    assert_eq!(text(&t, path), "00000021\n");
    assert_eq!(write_file(&t, path, b"1"), err(EACCES));
    assert_eq!(t.sys("prctl", &[PR_SET_DUMPABLE, 2]), err(EINVAL));
    assert_eq!(t.sys("prctl", &[PR_SET_DUMPABLE, 1]), 0);
    assert_eq!(write_file(&t, path, b"1"), 1, "its own again");
    let own = format!("/proc/{child}/coredump_filter");
    t.become_process(parent);
    assert_eq!(text(&t, &own), "00000001\n");
    // Root may write anyone's.
    assert_eq!(write_file(&t, &own, b"3"), 1);
}

/// The pages of segment `ph` in `core`.
fn segment<'a>(core: &'a [u8], ph: &goblin::elf::ProgramHeader) -> &'a [u8] {
    &core[ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize]
}

#[test]
fn a_child_killed_by_sigabrt_leaves_a_core_of_what_it_wrote() {
    let mut t = root();
    let parent = t.pid;
    assert_eq!(write_file(&t, "/proc/sys/kernel/core_pattern", b"/tmp/fl-unit-core-%p.%s"), 23);
    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    core_limit(&t, u64::MAX);
    let written = t.mmap_anon(2 * PAGE_SIZE, RW);
    t.poke(written + 100, b"faultline core pattern");
    let hidden = t.mmap_anon(PAGE_SIZE, RW);
    t.poke(hidden, b"never in a core");
    assert_eq!(t.sys("madvise", &[hidden, PAGE_SIZE, MADV_DONTDUMP]), 0);
    // One page of four written: the rest are holes, and stay unfaulted.
    let sparse = t.mmap_anon(4 * PAGE_SIZE, RW);
    t.poke(sparse + 3 * PAGE_SIZE, b"last");
    // Read-only, so that it merges with none of the others.
    let untouched = t.mmap_anon(4 * PAGE_SIZE, PROT_READ);
    assert_eq!(t.touch(untouched, false), None, "the zero page: still no anon_vma");
    // Faults in the holes' mappings (their pages let go at exit aside).
    let faults = |t: &TestKernel| {
        let holes = |va: u64| {
            (sparse..sparse + 4 * PAGE_SIZE).contains(&va) || (untouched..untouched + 4 * PAGE_SIZE).contains(&va)
        };
        t.events().iter().filter(|e| e.pid == child && e.kind != EventKind::Release && holes(e.gva)).count()
    };
    let before = faults(&t);

    let status = die_of(&mut t, parent, SIGABRT);
    assert_eq!(status, SIGABRT as u32 | 0x80, "WCOREDUMP");
    assert_eq!(faults(&t), before, "the dump faulted nothing in");

    let core = t.read_file(&format!("/tmp/fl-unit-core-{child}.6")).expect("the core file");
    let elf = Elf::parse(&core).expect("an ELF file");
    assert_eq!(elf.header.e_type, ET_CORE);
    assert_eq!(elf.header.e_machine, crate::arch::regs::ELF_MACHINE);
    // The segment holding `va` (neighbouring mappings may have merged),
    // and `va`'s offset in it.
    let load = |va: u64| {
        let p =
            elf.program_headers.iter().find(|p| p.p_type == GOBLIN_PT_LOAD && p.vm_range().contains(&(va as usize)));
        let p = p.unwrap_or_else(|| panic!("no PT_LOAD at {va:#x}"));
        (p, (va - p.p_vaddr) as usize)
    };
    let (w, at) = load(written);
    assert_eq!(w.p_filesz, w.p_memsz);
    assert_eq!(&segment(&core, w)[at + 100..at + 122], b"faultline core pattern");
    assert_eq!((load(hidden).0.p_vaddr, load(hidden).0.p_filesz), (hidden, 0), "MADV_DONTDUMP");
    let (s, at) = load(sparse);
    let s = &segment(&core, s)[at..at + 4 * PAGE_SIZE as usize];
    assert!(s[..3 * PAGE_SIZE as usize].iter().all(|&b| b == 0));
    assert_eq!(&s[3 * PAGE_SIZE as usize..][..4], b"last");
    // Never written: no anon_vma, nothing dumped (vma_dump_size()).
    assert_eq!((load(untouched).0.p_vaddr, load(untouched).0.p_filesz), (untouched, 0));
    assert!(!core.windows(15).any(|w| w == b"never in a core"));

    let notes: Vec<_> = elf.iter_note_headers(&core).expect("notes").map(|n| n.expect("a note")).collect();
    let types: Vec<u32> = notes.iter().map(|n| n.n_type).collect();
    assert_eq!(&types[..5], [NT_PRSTATUS, NT_PRPSINFO, NT_SIGINFO, NT_AUXV, NT_FILE], "{types:x?}");
    let (st, _) = ElfPrstatus::read_from_prefix(notes[0].desc).unwrap();
    assert_eq!((st.pr_cursig, st.pr_pid as u32, st.pr_ppid as u32), (SIGABRT as i16, child, parent));
    let (ps, _) = ElfPrpsinfo::read_from_prefix(notes[1].desc).unwrap();
    assert_eq!((ps.pr_pid as u32, &ps.pr_fname[..4]), (child, &b"demo"[..]));
    assert_eq!(i32::from_le_bytes(notes[2].desc[..4].try_into().unwrap()), SIGABRT);
    let auxv: Vec<u64> = notes[3].desc.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
    assert!(auxv.chunks(2).any(|kv| kv == [6, PAGE_SIZE]), "AT_PAGESZ: {auxv:?}");
    assert_eq!(auxv[auxv.len() - 2..], [0, 0], "AT_NULL last");
}

#[test]
fn no_core_no_bit_and_a_cut_core_keeps_its_bit() {
    let mut t = root();
    let parent = t.pid;
    assert_eq!(write_file(&t, "/proc/sys/kernel/core_pattern", b"/tmp/fl-unit-cut-%p"), 19);
    // RLIMIT_CORE 0 (the default): no file, no bit.
    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    assert_eq!(die_of(&mut t, parent, SIGABRT), SIGABRT as u32);
    assert_eq!(t.read_file(&format!("/tmp/fl-unit-cut-{child}")), Err(err(ENOENT)));
    // Below a page: the same.
    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    core_limit(&t, PAGE_SIZE - 1);
    assert_eq!(die_of(&mut t, parent, SIGSEGV), SIGSEGV as u32);
    assert_eq!(t.read_file(&format!("/tmp/fl-unit-cut-{child}")), Err(err(ENOENT)));
    // One page: the headers and notes, cut there; a core all the same.
    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    core_limit(&t, PAGE_SIZE);
    assert_eq!(die_of(&mut t, parent, SIGABRT), SIGABRT as u32 | 0x80);
    let core = t.read_file(&format!("/tmp/fl-unit-cut-{child}")).expect("a cut core");
    assert!(!core.is_empty() && core.len() as u64 <= PAGE_SIZE, "{}", core.len());
    assert_eq!(&core[..4], b"\x7fELF");
}

#[test]
fn a_pipe_pattern_writes_nothing_and_says_so_once() {
    let mut t = root();
    let parent = t.pid;
    assert_eq!(write_file(&t, "/proc/sys/kernel/core_pattern", b"|/usr/lib/systemd-coredump %P"), 29);
    for _ in 0..2 {
        let child = t.sys("fork", &[]) as u32;
        t.become_process(child);
        core_limit(&t, u64::MAX);
        assert_eq!(die_of(&mut t, parent, SIGABRT), SIGABRT as u32, "no core bit");
    }
    let diag = t.kernel.lock().cfg.diag.captured();
    assert_eq!(diag.matches("pipes cores to a program").count(), 1, "{diag}");
}

#[test]
fn a_core_that_cannot_be_made_gives_no_bit() {
    let mut t = root();
    let parent = t.pid;
    // A directory where the core would go: unlink fails, O_EXCL fails.
    let dir = t.put_str("/tmp/fl-unit-core-dir");
    assert_eq!(t.sys("mkdir", &[dir, 0o755]), 0);
    assert_eq!(write_file(&t, "/proc/sys/kernel/core_pattern", b"/tmp/fl-unit-core-dir"), 21);
    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    core_limit(&t, u64::MAX);
    assert_eq!(die_of(&mut t, parent, SIGABRT), SIGABRT as u32);
    // A process that is not dumpable dumps nothing.
    assert_eq!(write_file(&t, "/proc/sys/kernel/core_pattern", b"/tmp/fl-unit-nodump"), 19);
    let child = t.sys("fork", &[]) as u32;
    t.become_process(child);
    core_limit(&t, u64::MAX);
    assert_eq!(t.sys("prctl", &[PR_SET_DUMPABLE, 0]), 0);
    assert_eq!(die_of(&mut t, parent, SIGABRT), SIGABRT as u32);
    assert_eq!(t.read_file("/tmp/fl-unit-nodump"), Err(err(ENOENT)));
}
