//! Credentials: who a process is (real, effective, saved and file-system
//! uid and gid, supplementary groups) and what it may do (capabilities),
//! with Linux's rules for changing them (kernel/sys.c,
//! security/commoncap.c `cap_emulate_setxuid`, `cap_bprm_creds_from_file`)
//! and for file access (fs/namei.c `generic_permission`).
//!
//! The guest starts as the user who runs faultline (or `--uid/--gid`), as
//! strace or valgrind run a program as you; uid 0 holds every capability
//! and nobody else holds any. Set-user-ID bits of the host's files are not
//! honoured: the view is mounted nosuid.

use super::abi::limits::NGROUPS_MAX;
use super::abi::stat::{S_IFDIR, S_IFMT};
use super::errno::*;

// The capability numbers, named through here by the credential code and
// its callers.
pub(crate) use super::abi::capability::*;
/// Every capability this kernel knows.
pub(crate) const CAP_FULL_SET: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;
/// The capabilities a file-system uid change moves (CAP_FS_MASK).
const CAP_FS_MASK: u64 = (1 << CAP_CHOWN)
    | (1 << CAP_DAC_OVERRIDE)
    | (1 << CAP_DAC_READ_SEARCH)
    | (1 << CAP_FOWNER)
    | (1 << CAP_FSETID)
    | (1 << CAP_LINUX_IMMUTABLE)
    | (1 << CAP_MKNOD)
    | (1 << CAP_MAC_OVERRIDE);

/// inode_permission's mask bits.
pub(crate) const MAY_EXEC: u32 = 1;
pub(crate) const MAY_WRITE: u32 = 2;
pub(crate) const MAY_READ: u32 = 4;

/// The "no change" id of the set*id calls.
const KEEP: u32 = u32::MAX;

/// A process's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cred {
    pub(crate) uid: u32,
    pub(crate) euid: u32,
    pub(crate) suid: u32,
    pub(crate) fsuid: u32,
    pub(crate) gid: u32,
    pub(crate) egid: u32,
    pub(crate) sgid: u32,
    pub(crate) fsgid: u32,
    /// Supplementary groups, sorted.
    pub(crate) groups: Vec<u32>,
    pub(crate) cap_inheritable: u64,
    pub(crate) cap_permitted: u64,
    pub(crate) cap_effective: u64,
    pub(crate) cap_bset: u64,
    pub(crate) cap_ambient: u64,
    /// PR_SET_KEEPCAPS: keep permitted capabilities when every uid leaves 0.
    keep_caps: bool,
}

/// Which ids a set*uid call changed, for `fix_setuid`.
enum Setid {
    /// setuid, setreuid, setresuid.
    Id,
    /// setfsuid.
    Fs,
}

impl Cred {
    /// A process of user `uid` in group `gid` with supplementary `groups`,
    /// as after an execve: root with every capability, anyone else none.
    pub(crate) fn new(uid: u32, gid: u32, groups: &[u32]) -> Self {
        let mut groups = groups.to_vec();
        groups.sort_unstable();
        groups.dedup();
        let mut c = Cred {
            uid,
            euid: uid,
            suid: uid,
            fsuid: uid,
            gid,
            egid: gid,
            sgid: gid,
            fsgid: gid,
            groups,
            cap_inheritable: 0,
            cap_permitted: 0,
            cap_effective: 0,
            cap_bset: CAP_FULL_SET,
            cap_ambient: 0,
            keep_caps: false,
        };
        c.exec();
        c
    }

    /// The user running faultline, with its groups.
    pub(crate) fn of_host() -> (u32, u32, Vec<u32>) {
        // SAFETY: no arguments, no failure.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        // SAFETY: size 0 asks only for the count.
        let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        let mut groups = vec![0 as libc::gid_t; n.max(0) as usize];
        // SAFETY: the buffer holds n entries.
        let got = unsafe { libc::getgroups(n, groups.as_mut_ptr()) };
        groups.truncate(got.max(0) as usize);
        (uid, gid, groups)
    }

    /// The capability bounding set faultline itself runs with: the guest's
    /// first process inherits it, as any child does (a root guest on a
    /// host whose root lacks a capability lacks it too).
    pub(crate) fn host_bounding_set() -> u64 {
        (0..=CAP_LAST_CAP)
            // SAFETY: PR_CAPBSET_READ takes a capability number and
            // returns 1, 0, or -1 for one the kernel does not know.
            .filter(|&c| unsafe { libc::prctl(libc::PR_CAPBSET_READ, c as libc::c_ulong, 0, 0, 0) } == 1)
            .fold(0, |set, c| set | 1 << c)
    }

    /// Narrows the bounding set to `bset`, the capabilities following as
    /// an execve would derive them.
    pub(crate) fn bound(mut self, bset: u64) -> Self {
        self.cap_bset &= bset;
        self.cap_inheritable &= bset;
        self.exec();
        self
    }

    pub(crate) fn capable(&self, cap: u32) -> bool {
        self.cap_effective & (1 << cap) != 0
    }

    /// in_group_p(): the fs gid or a supplementary group.
    pub(crate) fn in_group(&self, gid: u32) -> bool {
        self.fsgid == gid || self.groups.binary_search(&gid).is_ok()
    }

    /// inode_owner_or_capable(): the file is the caller's, or it has
    /// CAP_FOWNER.
    pub(crate) fn owns(&self, uid: u32) -> bool {
        self.fsuid == uid || self.capable(CAP_FOWNER)
    }

    /// generic_permission(): whether the caller may `mask` (MAY_*) a file
    /// of `mode` owned by `uid`:`gid`. Owner bits for its owner, group
    /// bits for its group, other bits otherwise; CAP_DAC_READ_SEARCH reads
    /// any file and searches any directory, CAP_DAC_OVERRIDE does the rest
    /// but execute a file no one may.
    pub(crate) fn permission(&self, mode: u32, uid: u32, gid: u32, mask: u32) -> Result<(), Errno> {
        let mask = mask & (MAY_READ | MAY_WRITE | MAY_EXEC);
        let bits = if self.fsuid == uid {
            mode >> 6
        } else if self.in_group(gid) {
            mode >> 3
        } else {
            mode
        } & 7;
        if bits & mask == mask {
            return Ok(());
        }
        let is_dir = mode & S_IFMT == S_IFDIR;
        if is_dir {
            if mask & MAY_WRITE == 0 && self.capable(CAP_DAC_READ_SEARCH) {
                return Ok(());
            }
            if self.capable(CAP_DAC_OVERRIDE) {
                return Ok(());
            }
            return Err(EACCES);
        }
        if mask == MAY_READ && self.capable(CAP_DAC_READ_SEARCH) {
            return Ok(());
        }
        if (mask & MAY_EXEC == 0 || mode & 0o111 != 0) && self.capable(CAP_DAC_OVERRIDE) {
            return Ok(());
        }
        Err(EACCES)
    }

    /// The credentials access(2) checks with (access_override_creds): the
    /// real ids as the file-system ids; a real uid other than 0 has no
    /// capabilities, a real root its permitted ones.
    pub(crate) fn for_access(&self) -> Cred {
        let mut c = self.clone();
        c.fsuid = c.uid;
        c.fsgid = c.gid;
        c.cap_effective = if c.uid == 0 { c.cap_permitted } else { 0 };
        c
    }

    /// Capabilities across an execve of a file without file capabilities
    /// (cap_bprm_creds_from_file): root's are the bounding set, others
    /// keep their ambient ones.
    pub(crate) fn exec(&mut self) {
        if self.uid == 0 || self.euid == 0 {
            self.cap_permitted = self.cap_bset | self.cap_inheritable;
            self.cap_effective = if self.euid == 0 { self.cap_permitted } else { self.cap_ambient };
        } else {
            self.cap_permitted = self.cap_ambient;
            self.cap_effective = self.cap_ambient;
        }
        self.keep_caps = false;
    }

    /// cap_task_fix_setuid(): capabilities follow uids leaving or
    /// reaching 0.
    fn fix_setuid(&mut self, old: &Cred, how: Setid) {
        match how {
            Setid::Id => {
                let was_root = old.uid == 0 || old.euid == 0 || old.suid == 0;
                if was_root && self.uid != 0 && self.euid != 0 && self.suid != 0 {
                    if !self.keep_caps {
                        self.cap_permitted = 0;
                        self.cap_effective = 0;
                    }
                    self.cap_ambient = 0;
                }
                if old.euid == 0 && self.euid != 0 {
                    self.cap_effective = 0;
                }
                if old.euid != 0 && self.euid == 0 {
                    self.cap_effective = self.cap_permitted;
                }
            }
            Setid::Fs => {
                if old.fsuid == 0 && self.fsuid != 0 {
                    self.cap_effective &= !CAP_FS_MASK;
                }
                if old.fsuid != 0 && self.fsuid == 0 {
                    self.cap_effective |= self.cap_permitted & CAP_FS_MASK;
                }
            }
        }
    }

    /// One of the ids the caller has now.
    fn has_uid(&self, id: u32) -> bool {
        id == self.uid || id == self.euid || id == self.suid
    }

    fn has_gid(&self, id: u32) -> bool {
        id == self.gid || id == self.egid || id == self.sgid
    }

    /// setuid(2).
    pub(crate) fn setuid(&mut self, uid: u32) -> Result<(), Errno> {
        if uid == KEEP {
            return Err(EINVAL);
        }
        let old = self.clone();
        if self.capable(CAP_SETUID) {
            self.uid = uid;
            self.suid = uid;
        } else if uid != old.uid && uid != old.suid {
            return Err(EPERM);
        }
        self.euid = uid;
        self.fsuid = uid;
        self.fix_setuid(&old, Setid::Id);
        Ok(())
    }

    /// setreuid(2).
    pub(crate) fn setreuid(&mut self, ruid: u32, euid: u32) -> Result<(), Errno> {
        let old = self.clone();
        let cap = self.capable(CAP_SETUID);
        if ruid != KEEP && ruid != old.uid && ruid != old.euid && !cap {
            return Err(EPERM);
        }
        if euid != KEEP && !old.has_uid(euid) && !cap {
            return Err(EPERM);
        }
        if ruid != KEEP {
            self.uid = ruid;
        }
        if euid != KEEP {
            self.euid = euid;
        }
        if ruid != KEEP || (euid != KEEP && euid != old.uid) {
            self.suid = self.euid;
        }
        self.fsuid = self.euid;
        self.fix_setuid(&old, Setid::Id);
        Ok(())
    }

    /// setresuid(2).
    pub(crate) fn setresuid(&mut self, ruid: u32, euid: u32, suid: u32) -> Result<(), Errno> {
        let old = self.clone();
        if !self.capable(CAP_SETUID) && [ruid, euid, suid].iter().any(|&id| id != KEEP && !old.has_uid(id)) {
            return Err(EPERM);
        }
        if ruid != KEEP {
            self.uid = ruid;
        }
        if euid != KEEP {
            self.euid = euid;
        }
        if suid != KEEP {
            self.suid = suid;
        }
        self.fsuid = self.euid;
        self.fix_setuid(&old, Setid::Id);
        Ok(())
    }

    /// setfsuid(2): the old fs uid, whether or not it changed.
    pub(crate) fn setfsuid(&mut self, uid: u32) -> u32 {
        let old = self.clone();
        if uid != KEEP && uid != old.fsuid && (old.has_uid(uid) || self.capable(CAP_SETUID)) {
            self.fsuid = uid;
            self.fix_setuid(&old, Setid::Fs);
        }
        old.fsuid
    }

    /// setgid(2).
    pub(crate) fn setgid(&mut self, gid: u32) -> Result<(), Errno> {
        if gid == KEEP {
            return Err(EINVAL);
        }
        if self.capable(CAP_SETGID) {
            self.gid = gid;
            self.sgid = gid;
        } else if gid != self.gid && gid != self.sgid {
            return Err(EPERM);
        }
        self.egid = gid;
        self.fsgid = gid;
        Ok(())
    }

    /// setregid(2).
    pub(crate) fn setregid(&mut self, rgid: u32, egid: u32) -> Result<(), Errno> {
        let old = self.clone();
        let cap = self.capable(CAP_SETGID);
        if rgid != KEEP && rgid != old.gid && rgid != old.egid && !cap {
            return Err(EPERM);
        }
        if egid != KEEP && !old.has_gid(egid) && !cap {
            return Err(EPERM);
        }
        if rgid != KEEP {
            self.gid = rgid;
        }
        if egid != KEEP {
            self.egid = egid;
        }
        if rgid != KEEP || (egid != KEEP && egid != old.gid) {
            self.sgid = self.egid;
        }
        self.fsgid = self.egid;
        Ok(())
    }

    /// setresgid(2).
    pub(crate) fn setresgid(&mut self, rgid: u32, egid: u32, sgid: u32) -> Result<(), Errno> {
        if !self.capable(CAP_SETGID) && [rgid, egid, sgid].iter().any(|&id| id != KEEP && !self.has_gid(id)) {
            return Err(EPERM);
        }
        if rgid != KEEP {
            self.gid = rgid;
        }
        if egid != KEEP {
            self.egid = egid;
        }
        if sgid != KEEP {
            self.sgid = sgid;
        }
        self.fsgid = self.egid;
        Ok(())
    }

    /// setfsgid(2): the old fs gid.
    pub(crate) fn setfsgid(&mut self, gid: u32) -> u32 {
        let old = self.fsgid;
        if gid != KEEP && (self.has_gid(gid) || gid == old || self.capable(CAP_SETGID)) {
            self.fsgid = gid;
        }
        old
    }

    /// setgroups(2).
    pub(crate) fn setgroups(&mut self, groups: &[u32]) -> Result<(), Errno> {
        if !self.capable(CAP_SETGID) {
            return Err(EPERM);
        }
        if groups.len() > NGROUPS_MAX {
            return Err(EINVAL);
        }
        let mut g = groups.to_vec();
        g.sort_unstable();
        g.dedup();
        self.groups = g;
        Ok(())
    }

    /// capset(2) for the caller itself (cap_capset): permitted may only
    /// shrink, effective stays within permitted, inheritable within the
    /// old inheritable and permitted (and the bounding set) unless
    /// CAP_SETPCAP.
    pub(crate) fn capset(&mut self, effective: u64, permitted: u64, inheritable: u64) -> Result<(), Errno> {
        let (effective, permitted, inheritable) =
            (effective & CAP_FULL_SET, permitted & CAP_FULL_SET, inheritable & CAP_FULL_SET);
        let cap_setpcap = self.capable(CAP_SETPCAP);
        let allowed_inh = self.cap_inheritable | if cap_setpcap { CAP_FULL_SET } else { self.cap_permitted };
        if inheritable & !allowed_inh != 0 || inheritable & !(self.cap_inheritable | self.cap_bset) != 0 {
            return Err(EPERM);
        }
        if permitted & !self.cap_permitted != 0 || effective & !permitted != 0 {
            return Err(EPERM);
        }
        self.cap_effective = effective;
        self.cap_permitted = permitted;
        self.cap_inheritable = inheritable;
        // Ambient capabilities must stay permitted and inheritable.
        self.cap_ambient &= permitted & inheritable;
        Ok(())
    }

    /// kill_ok_by_cred(): the sender's real or effective uid is the
    /// target's real or saved one, or it has CAP_KILL.
    pub(crate) fn may_signal(&self, target: &Cred) -> bool {
        [self.uid, self.euid].iter().any(|u| *u == target.uid || *u == target.suid) || self.capable(CAP_KILL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::kernel::abi::stat::{S_IFDIR as DIR, S_IFREG as REG};

    #[test]
    fn root_reads_and_searches_anything_and_runs_only_what_someone_may() {
        let root = Cred::new(0, 0, &[]);
        assert_eq!(root.cap_effective, CAP_FULL_SET);
        assert_eq!(root.permission(DIR | 0o700, 5, 5, MAY_READ | MAY_EXEC), Ok(()));
        assert_eq!(root.permission(REG, 5, 5, MAY_READ | MAY_WRITE), Ok(()));
        assert_eq!(root.permission(REG | 0o600, 5, 5, MAY_EXEC), Err(EACCES));
        assert_eq!(root.permission(REG | 0o001, 5, 5, MAY_EXEC), Ok(()));
        let user = Cred::new(1000, 1000, &[27]);
        assert_eq!(user.cap_effective, 0);
        assert_eq!(user.permission(DIR | 0o700, 0, 0, MAY_READ), Err(EACCES));
        assert_eq!(user.permission(DIR | 0o711, 0, 0, MAY_EXEC), Ok(()));
        // The owner gets the owner's bits alone, even when others may more.
        assert_eq!(user.permission(REG | 0o077, 1000, 0, MAY_READ), Err(EACCES));
        assert_eq!(user.permission(REG | 0o040, 0, 27, MAY_READ), Ok(()));
        assert_eq!(user.permission(REG | 0o004, 0, 0, MAY_READ), Ok(()));
    }

    #[test]
    fn capabilities_follow_uids_as_commoncap_has_them() {
        let mut c = Cred::new(0, 0, &[]);
        c.setresuid(KEEP, 1000, KEEP).unwrap();
        assert_eq!((c.cap_effective, c.cap_permitted), (0, CAP_FULL_SET), "seteuid drops effective only");
        c.setresuid(KEEP, 0, KEEP).unwrap();
        assert_eq!(c.cap_effective, CAP_FULL_SET, "and back");
        c.setfsuid(1000);
        assert_eq!(c.cap_effective & CAP_FS_MASK, 0);
        assert!(c.capable(CAP_SETUID));
        c.setfsuid(0);
        c.setuid(1000).unwrap();
        assert_eq!((c.uid, c.euid, c.suid, c.fsuid, c.cap_permitted), (1000, 1000, 1000, 1000, 0));
        assert_eq!(c.setuid(0), Err(EPERM));
        let mut u = Cred::new(1000, 1000, &[]);
        assert_eq!(u.setgroups(&[1]), Err(EPERM));
        assert_eq!(u.setreuid(KEEP, 1000), Ok(()));
        assert_eq!(u.setfsuid(0), 1000);
        assert_eq!(u.fsuid, 1000, "no capability, no change");
        assert_eq!(u.for_access().cap_effective, 0);
        assert!(!u.may_signal(&Cred::new(0, 0, &[])));
        assert!(Cred::new(0, 0, &[]).may_signal(&u));
    }
}
