//! /proc walked as a program walks it (openat, getdents64, newfstatat),
//! in a kernel without a VM: every listed name is found, as the type its
//! listing says, and every name found is listed.

use std::collections::BTreeSet;

use zerocopy::FromBytes;

use super::super::abi::dirent::{dt_of_mode, Dirent64, DT_DIR};
use super::super::abi::fcntl::{AT_FDCWD, AT_SYMLINK_NOFOLLOW, O_CLOEXEC, O_DIRECTORY};
use super::super::abi::sched::{CLONE_FILES, CLONE_FS, CLONE_SIGHAND, CLONE_SYSVSEM, CLONE_THREAD, CLONE_VM};
use super::super::abi::stat::Stat;
use super::super::testing::TestKernel;
use crate::arch::PAGE_SIZE;

/// Where the test keeps a path, the directory entries and a stat buffer
/// in the program's memory.
const PATH: u64 = 0;
const DENTS: u64 = PAGE_SIZE;
const DENTS_LEN: u64 = 8 * PAGE_SIZE;
const STAT: u64 = DENTS + DENTS_LEN;
const BUF_LEN: u64 = STAT + PAGE_SIZE;

struct Walker {
    t: TestKernel,
    buf: u64,
}

impl Walker {
    fn new() -> Self {
        let t = TestKernel::new();
        let buf = t.sys("mmap", &[0, BUF_LEN, 3, 0x22, u64::MAX, 0]);
        assert!(buf > 0, "mmap: {buf}");
        Walker { t, buf: buf as u64 }
    }

    fn path(&self, p: &str) -> u64 {
        let mut b = p.as_bytes().to_vec();
        b.push(0);
        self.t.poke(self.buf + PATH, &b);
        self.buf + PATH
    }

    /// The names in directory `fd`, with their d_type, as getdents64 gives
    /// them.
    fn list(&self, fd: i64) -> Vec<(String, u8)> {
        let mut out = Vec::new();
        loop {
            let n = self.t.sys("getdents64", &[fd as u64, self.buf + DENTS, DENTS_LEN]);
            assert!(n >= 0, "getdents64: {n}");
            if n == 0 {
                return out;
            }
            let bytes = self.t.peek(self.buf + DENTS, n as usize);
            let mut at = 0;
            while at < bytes.len() {
                let (d, rest) = Dirent64::read_from_prefix(&bytes[at..]).expect("a dirent");
                let name = rest.split(|&b| b == 0).next().expect("a name");
                out.push((String::from_utf8(name.to_vec()).expect("UTF-8"), d.d_type));
                at += usize::from(d.d_reclen);
            }
        }
    }

    /// newfstatat(fd, name, AT_SYMLINK_NOFOLLOW): the mode, or the errno.
    fn stat(&self, fd: i64, name: &str) -> Result<u32, i64> {
        let p = self.path(name);
        let r = self.t.sys("newfstatat", &[fd as u64, p, self.buf + STAT, AT_SYMLINK_NOFOLLOW]);
        if r != 0 {
            return Err(r);
        }
        let st = Stat::read_from_bytes(&self.t.peek(self.buf + STAT, size_of::<Stat>())).expect("a stat");
        Ok(st.mode)
    }

    /// Walks directory `dir` and those below it: each listed name must be
    /// found as its listed type, and each of `probes` found must be
    /// listed. Returns every name listed.
    fn walk(&self, dir: &str, probes: &BTreeSet<String>) -> BTreeSet<String> {
        let flags = u64::from(O_DIRECTORY | O_CLOEXEC);
        let fd = self.t.sys("openat", &[AT_FDCWD as u64, self.path(dir), flags]);
        assert!(fd >= 0, "open {dir}: {fd}");
        // Everything is looked up while the listing's descriptor is open:
        // it is in /proc/PID/fd's listing too.
        let listed = self.list(fd);
        let names: BTreeSet<String> = listed.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(names.len(), listed.len(), "{dir} lists a name twice: {listed:?}");
        for (name, t) in listed.iter().filter(|(n, _)| n != "." && n != "..") {
            match self.stat(fd, name) {
                Ok(mode) => assert_eq!(dt_of_mode(mode), *t, "{dir}/{name}: listed as type {t}, found as {mode:o}"),
                Err(e) => panic!("{dir}/{name} is listed but not found ({e})"),
            }
        }
        for name in probes.iter().filter(|n| !names.contains(*n)) {
            if let Ok(mode) = self.stat(fd, name) {
                panic!("{dir}/{name} is found ({mode:o}) but not listed: {names:?}");
            }
        }
        assert_eq!(self.t.sys("close", &[fd as u64]), 0);
        let mut all = names.clone();
        for (name, _) in listed.iter().filter(|(n, t)| *t == DT_DIR && n != "." && n != "..") {
            all.extend(self.walk(&format!("{dir}/{name}"), probes));
        }
        all
    }
}

#[test]
fn every_listed_proc_entry_is_found_and_every_found_one_listed() {
    let w = Walker::new();
    // A second process and a second thread, so that /proc and
    // /proc/1/task each number more than one.
    assert!(w.t.sys("fork", &[]) > 1);
    let thread = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
    assert!(w.t.sys("clone", &[thread, w.buf + BUF_LEN, 0, 0, 0]) > 1);
    // First every name anywhere, then each directory probed with all of
    // them and with names Linux has that faultline does not list.
    let names = w.walk("/proc", &BTreeSet::new());
    for must in ["self", "thread-self", "sys", "meminfo", "maps", "status", "task", "fd", "0", "1", "overcommit_memory"]
    {
        assert!(names.contains(must), "{must} is listed nowhere: {names:?}");
    }
    let mut probes = names;
    let more = ["stat", "cpuinfo", "fdinfo", "mountinfo", "01", "+1", "-1", "4294967296", "@link", "nonexistent"];
    probes.extend(more.iter().map(|s| s.to_string()));
    probes.extend((0..80).map(|n| n.to_string()));
    w.walk("/proc", &probes);
}

#[test]
fn a_threads_stat_is_its_own() {
    let w = Walker::new();
    let thread = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
    let tid = w.t.sys("clone", &[thread, w.buf + BUF_LEN, 0, 0, 0]);
    assert!(tid > 1, "{tid}");
    let pid = w.t.pid;
    let stat = |t: i64| String::from_utf8(w.t.read_file(&format!("/proc/{pid}/task/{t}/stat")).unwrap()).unwrap();
    let state = |t: i64| stat(t).split(' ').nth(2).unwrap().to_string();
    assert!(stat(tid).starts_with(&format!("{tid} (")), "{}", stat(tid));
    assert!(stat(pid as i64).starts_with(&format!("{pid} (")));
    // A thread asleep in the kernel (as futex_wake02 waits to see) shows S
    // while its process's leader runs.
    w.t.kernel.lock().tasks.thread_mut(tid as u32).unwrap().sleeping = true;
    assert_eq!((state(tid), state(pid as i64)), ("S".to_string(), "R".to_string()));
}

#[test]
fn proc_swaps_shows_the_swap_store_as_linux_lays_it_out() {
    use crate::kernel::testing::{TestConfig, TestKernel};
    let header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";
    let none = TestKernel::new();
    assert_eq!(String::from_utf8(none.read_file("/proc/swaps").unwrap()).unwrap(), header);
    let t = TestKernel::with(TestConfig { swap: 16 << 20, ..TestConfig::default() });
    let text = String::from_utf8(t.read_file("/proc/swaps").unwrap()).unwrap();
    let line = format!("/dev/faultline-swap{}partition\t16384\t\t0\t\t-2\n", " ".repeat(21));
    assert_eq!(text, format!("{header}{line}"));
}
