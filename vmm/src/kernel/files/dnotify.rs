//! Directory notifications (fcntl's F_NOTIFY, fs/notify/dnotify): an open
//! directory asks to hear of accesses, changes, creations, deletions,
//! renames or attribute changes of the names in it (and of itself); each
//! one sends its owner SIGIO, or F_SETSIG's signal with POLL_MSG and the
//! descriptor in si_fd. A watch without DN_MULTISHOT goes after its first
//! event. Watches are keyed by the directory's identity, as the inode's
//! mark is, so every name of it hears; a process's watch through a file
//! ends when that process closes a descriptor of the file (dnotify_flush).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use super::{FileKind, OpenFile};
use crate::kernel::abi::fcntl::*;
use crate::kernel::abi::signal::POLL_MSG;
use crate::kernel::cred::Cred;
use crate::kernel::errno::*;
use crate::kernel::files::vfs::Meta;
use crate::kernel::process::Pid;
use crate::kernel::KernelState;
use crate::mm::{Kmem, KmemCharge};

/// struct dnotify_struct's size, what each watch costs in kernel memory.
const DN_BYTES: u64 = 40;

/// The events a watch can ask for.
const DN_EVENTS: u32 = DN_ACCESS | DN_MODIFY | DN_CREATE | DN_DELETE | DN_RENAME | DN_ATTRIB;

/// One process's watch through one open directory (struct dnotify_struct).
struct Watch {
    file: Weak<OpenFile>,
    /// Who set it (dn_owner, the process's descriptor table).
    owner: Pid,
    /// The descriptor it came through: the signal's si_fd.
    fd: i32,
    /// DN_ events, with DN_MULTISHOT.
    mask: u32,
    _record: KmemCharge,
}

/// Every directory watched, by its (device, inode).
#[derive(Default)]
pub(crate) struct Dnotify {
    by_dir: HashMap<(u64, u64), Vec<Watch>>,
}

impl Dnotify {
    fn key(m: &Meta) -> (u64, u64) {
        (m.dev, m.ino)
    }
}

impl KernelState {
    /// Whether any directory is watched: every event site asks this first,
    /// so that a sandbox without watches pays nothing for them.
    pub(crate) fn dnotify_watching(&self) -> bool {
        !self.files.dnotify.by_dir.is_empty()
    }

    /// fcntl_dirnotify(): F_NOTIFY `arg` on descriptor `fd` of `f` for
    /// process `pid`. No events (DN_MULTISHOT alone or 0) removes the
    /// watch; a second call adds its events to the first's.
    pub(crate) fn dnotify_set(
        &mut self,
        f: &Arc<OpenFile>,
        fd: i32,
        arg: u32,
        pid: Pid,
        cred: &Cred,
    ) -> Result<(), Errno> {
        if arg & !DN_MULTISHOT == 0 {
            self.dnotify_flush(pid, f);
            return Ok(());
        }
        let FileKind::Dir(d) = &f.kind else { return Err(ENOTDIR) };
        let key = Dnotify::key(&d.meta);
        let mask = arg & (DN_EVENTS | DN_MULTISHOT);
        let held = self
            .files
            .dnotify
            .by_dir
            .get_mut(&key)
            .and_then(|ws| ws.iter_mut().find(|w| w.owner == pid && std::ptr::eq(w.file.as_ptr(), Arc::as_ptr(f))));
        if let Some(w) = held {
            (w.fd, w.mask) = (fd, w.mask | mask);
        } else {
            let record = self.kmem_charge(Kmem::Kmalloc(DN_BYTES), 1)?;
            let w = Watch { file: Arc::downgrade(f), owner: pid, fd, mask, _record: record };
            self.files.dnotify.by_dir.entry(key).or_default().push(w);
        }
        KernelState::f_setown_if_none(f, pid, cred);
        Ok(())
    }

    /// dnotify_flush(): process `pid` closed a descriptor of `f`; its
    /// watch through `f` goes.
    pub(crate) fn dnotify_flush(&mut self, pid: Pid, f: &OpenFile) {
        if !self.dnotify_watching() || !matches!(f.kind, FileKind::Dir(_)) {
            return;
        }
        self.files.dnotify.by_dir.retain(|_, ws| {
            ws.retain(|w| !(w.owner == pid && std::ptr::eq(w.file.as_ptr(), f)) && w.file.strong_count() > 0);
            !ws.is_empty()
        });
    }

    /// Process `pid` ended: its watches go with its descriptor table.
    pub(crate) fn dnotify_exit(&mut self, pid: Pid) {
        if !self.dnotify_watching() {
            return;
        }
        self.files.dnotify.by_dir.retain(|_, ws| {
            ws.retain(|w| w.owner != pid && w.file.strong_count() > 0);
            !ws.is_empty()
        });
    }

    /// Event `ev` (one DN_ bit) in directory `dir`, or on it:
    /// dnotify_handle_event() for each watch that asked for it.
    pub(crate) fn dnotify_event(&mut self, dir: &Meta, ev: u32) {
        if !dir.is_dir() {
            return;
        }
        let Some(ws) = self.files.dnotify.by_dir.get_mut(&Dnotify::key(dir)) else { return };
        let mut told = Vec::new();
        ws.retain(|w| {
            let Some(f) = w.file.upgrade() else { return false };
            if w.mask & ev == 0 {
                return true;
            }
            told.push((f, w.fd));
            w.mask & DN_MULTISHOT != 0
        });
        if ws.is_empty() {
            self.files.dnotify.by_dir.remove(&Dnotify::key(dir));
        }
        for (f, fd) in told {
            self.sigio(&f, fd, POLL_MSG);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::kernel::abi::fcntl::*;
    use crate::kernel::abi::mman::{PROT_READ, PROT_WRITE};
    use crate::kernel::abi::signal::POLL_MSG;
    use crate::kernel::errno::*;
    use crate::kernel::signal::{SIGIO, SIGUSR1};
    use crate::kernel::testing::{err, TestKernel};

    /// Takes a pending signal (all are blocked) or EAGAIN, with its
    /// si_code and si_fd.
    fn take(t: &TestKernel, m: u64) -> (i64, i32, i32) {
        t.poke(m + 64, &[0u8; 16]);
        let sig = t.sys("rt_sigtimedwait", &[m, m + 128, m + 64, 8]);
        let si = t.peek(m + 128, 32);
        let word = |i: usize| i32::from_le_bytes(si[i..i + 4].try_into().unwrap());
        (sig, word(8), word(24))
    }

    fn path(t: &TestKernel, m: u64, at: u64, s: &str) -> u64 {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        t.poke(m + at, &b);
        m + at
    }

    #[test]
    fn a_watched_directory_hears_its_names_change_and_one_shot_watches_end() {
        let t = TestKernel::new();
        let m = t.mmap_anon(8192, PROT_READ | PROT_WRITE);
        // Every signal blocked: they wait to be taken.
        t.poke(m, &u64::MAX.to_le_bytes());
        assert_eq!(t.sys("rt_sigprocmask", &[0, m, 0, 8]), 0);
        let dir = path(&t, m, 1024, "/tmp/dn");
        assert_eq!(t.sys("mkdir", &[dir, 0o755]), 0);
        let d = t.sys("open", &[dir, O_RDONLY as u64 | O_DIRECTORY as u64, 0]) as u64;
        let file = path(&t, m, 2048, "/tmp/dn/f");
        let fd = t.sys("open", &[file, (O_CREAT | O_WRONLY) as u64, 0o644]) as u64;
        assert_eq!(t.sys("fcntl", &[fd, F_NOTIFY, DN_CREATE as u64]), err(ENOTDIR));
        // One shot, plain SIGIO.
        assert_eq!(t.sys("fcntl", &[d, F_NOTIFY, DN_CREATE as u64]), 0);
        assert_eq!(t.sys("fcntl", &[d, F_GETOWN]), t.pid as i64, "F_NOTIFY makes the caller the owner");
        let g = path(&t, m, 3072, "/tmp/dn/g");
        assert_eq!(t.sys("mkdir", &[g, 0o755]), 0);
        assert_eq!(take(&t, m).0, SIGIO as i64);
        assert_eq!(t.sys("rmdir", &[g]), 0);
        assert_eq!(t.sys("mkdir", &[g, 0o755]), 0);
        assert_eq!(take(&t, m).0, err(EAGAIN), "the one-shot watch ended");
        // Multishot with F_SETSIG: POLL_MSG and the descriptor.
        assert_eq!(t.sys("fcntl", &[d, F_SETSIG, SIGUSR1 as u64]), 0);
        assert_eq!(t.sys("fcntl", &[d, F_NOTIFY, (DN_MODIFY | DN_DELETE | DN_MULTISHOT) as u64]), 0);
        t.poke(m + 512, b"xy");
        assert_eq!(t.sys("write", &[fd, m + 512, 2]), 2);
        assert_eq!(take(&t, m), (SIGUSR1 as i64, POLL_MSG, d as i32));
        assert_eq!(t.sys("rmdir", &[g]), 0);
        assert_eq!(take(&t, m), (SIGUSR1 as i64, POLL_MSG, d as i32));
        // A write elsewhere tells nobody.
        let other = path(&t, m, 4096, "/tmp/other");
        let o = t.sys("open", &[other, (O_CREAT | O_WRONLY) as u64, 0o644]) as u64;
        assert_eq!(t.sys("write", &[o, m + 512, 2]), 2);
        assert_eq!(take(&t, m).0, err(EAGAIN));
        // Closing a descriptor of the directory ends the watch.
        let d2 = t.sys("dup", &[d]) as u64;
        assert_eq!(t.sys("close", &[d2]), 0);
        assert_eq!(t.sys("write", &[fd, m + 512, 2]), 2);
        assert_eq!(take(&t, m).0, err(EAGAIN));
    }

    #[test]
    fn renames_are_heard_only_inside_one_directory_and_attributes_on_parent_and_self() {
        let t = TestKernel::new();
        let m = t.mmap_anon(8192, PROT_READ | PROT_WRITE);
        t.poke(m, &u64::MAX.to_le_bytes());
        assert_eq!(t.sys("rt_sigprocmask", &[0, m, 0, 8]), 0);
        let top = path(&t, m, 1024, "/tmp/top");
        let sub = path(&t, m, 1280, "/tmp/top/sub");
        let file = path(&t, m, 1536, "/tmp/top/f");
        let moved = path(&t, m, 1792, "/tmp/top/sub/f");
        let sub2 = path(&t, m, 2048, "/tmp/top/sub2");
        assert_eq!(t.sys("mkdir", &[top, 0o755]), 0);
        assert_eq!(t.sys("mkdir", &[sub, 0o700]), 0);
        let fd = t.sys("open", &[file, (O_CREAT | O_WRONLY) as u64, 0o644]);
        assert_eq!(t.sys("close", &[fd as u64]), 0);
        let (p, s) = (
            t.sys("open", &[top, O_RDONLY as u64 | O_DIRECTORY as u64, 0]) as u64,
            t.sys("open", &[sub, O_RDONLY as u64 | O_DIRECTORY as u64, 0]) as u64,
        );
        // A real-time signal: each event queues one.
        const SIGRT: i64 = 35;
        for d in [p, s] {
            assert_eq!(t.sys("fcntl", &[d, F_SETSIG, SIGRT as u64]), 0);
            assert_eq!(t.sys("fcntl", &[d, F_NOTIFY, (DN_RENAME | DN_ATTRIB | DN_MULTISHOT) as u64]), 0);
        }
        // From one directory to another: no rename in either.
        assert_eq!(t.sys("rename", &[file, moved]), 0);
        assert_eq!(take(&t, m).0, err(EAGAIN));
        // The subdirectory renamed inside its parent: the parent hears.
        assert_eq!(t.sys("rename", &[sub, sub2]), 0);
        assert_eq!(take(&t, m), (SIGRT, POLL_MSG, p as i32));
        assert_eq!(take(&t, m).0, err(EAGAIN), "not the subdirectory itself");
        // chmod of the subdirectory: its own watch and its parent's.
        assert_eq!(t.sys("chmod", &[sub2, 0o755]), 0);
        let mut fds = [take(&t, m).2, take(&t, m).2];
        fds.sort();
        let mut want = [p as i32, s as i32];
        want.sort();
        assert_eq!(fds, want);
    }
}
