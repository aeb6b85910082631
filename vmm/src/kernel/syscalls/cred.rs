//! Identity calls: the get/set families of uids and gids, supplementary
//! groups and capabilities (kernel/sys.c, kernel/groups.c,
//! kernel/capability.c). The rules themselves are `cred::Cred`'s.

use zerocopy::IntoBytes;

use super::super::abi::capability::*;
use super::super::abi::limits::NGROUPS_MAX;
use super::super::cred::Cred;
use super::super::errno::*;
use super::super::process::Pid;
use super::super::task::Ctx;

fn with_cred(ctx: &mut Ctx, f: impl FnOnce(&mut Cred) -> Result<(), Errno>) -> SysResult {
    let old = ctx.proc().cred.clone();
    f(&mut ctx.proc_mut().cred)?;
    committed(ctx, &old);
    Ok(0)
}

/// commit_creds(): new effective or file-system ids, or capabilities the
/// process lacked, make it undumpable (suid_dumpable, 0).
fn committed(ctx: &mut Ctx, old: &Cred) {
    let p = ctx.proc_mut();
    let c = &p.cred;
    if (c.euid, c.egid, c.fsuid, c.fsgid) != (old.euid, old.egid, old.fsuid, old.fsgid)
        || c.cap_permitted & !old.cap_permitted != 0
    {
        p.dumpable = false;
    }
    ctx.k.procfs.changed();
}

/// An id argument (the calls take them as 32-bit values; -1 is "keep").
fn id(v: u64) -> u32 {
    v as u32
}

pub(crate) fn getuid(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(ctx.proc().cred.uid as i64)
}

pub(crate) fn geteuid(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(ctx.proc().cred.euid as i64)
}

pub(crate) fn getgid(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(ctx.proc().cred.gid as i64)
}

pub(crate) fn getegid(ctx: &mut Ctx, _: [u64; 6]) -> SysResult {
    Ok(ctx.proc().cred.egid as i64)
}

pub(crate) fn setuid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    with_cred(ctx, |c| c.setuid(id(a[0])))
}

pub(crate) fn setgid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    with_cred(ctx, |c| c.setgid(id(a[0])))
}

pub(crate) fn setreuid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    with_cred(ctx, |c| c.setreuid(id(a[0]), id(a[1])))
}

pub(crate) fn setregid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    with_cred(ctx, |c| c.setregid(id(a[0]), id(a[1])))
}

pub(crate) fn setresuid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    with_cred(ctx, |c| c.setresuid(id(a[0]), id(a[1]), id(a[2])))
}

pub(crate) fn setresgid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    with_cred(ctx, |c| c.setresgid(id(a[0]), id(a[1]), id(a[2])))
}

/// setfsuid and setfsgid return the old id, never an error.
pub(crate) fn setfsuid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let before = ctx.proc().cred.clone();
    let old = ctx.proc_mut().cred.setfsuid(id(a[0]));
    committed(ctx, &before);
    Ok(old as i64)
}

pub(crate) fn setfsgid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let before = ctx.proc().cred.clone();
    let old = ctx.proc_mut().cred.setfsgid(id(a[0]));
    committed(ctx, &before);
    Ok(old as i64)
}

fn write_ids(ctx: &mut Ctx, ptrs: &[u64], ids: [u32; 3]) -> SysResult {
    for (p, v) in ptrs.iter().zip(ids) {
        ctx.write_u32(*p, v)?;
    }
    Ok(0)
}

pub(crate) fn getresuid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let c = &ctx.proc().cred;
    let ids = [c.uid, c.euid, c.suid];
    write_ids(ctx, &a[..3], ids)
}

pub(crate) fn getresgid(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let c = &ctx.proc().cred;
    let ids = [c.gid, c.egid, c.sgid];
    write_ids(ctx, &a[..3], ids)
}

/// getgroups(size, list): the count with size 0, EINVAL if it does not
/// fit.
pub(crate) fn getgroups(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let size = a[0] as i32;
    if size < 0 {
        return Err(EINVAL);
    }
    let groups = ctx.proc().cred.groups.clone();
    if size == 0 {
        return Ok(groups.len() as i64);
    }
    if (size as usize) < groups.len() {
        return Err(EINVAL);
    }
    ctx.write_user(a[1], groups.as_bytes())?;
    Ok(groups.len() as i64)
}

pub(crate) fn setgroups(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let n = a[0] as i32;
    if n < 0 || n as usize > NGROUPS_MAX {
        return Err(EINVAL);
    }
    if !ctx.proc().cred.capable(super::super::cred::CAP_SETGID) {
        return Err(EPERM);
    }
    let mut groups = vec![0u32; n as usize];
    ctx.read_user(a[1], groups.as_mut_bytes())?;
    with_cred(ctx, |c| c.setgroups(&groups))
}

/// The header's version: how many words each set takes. An unknown
/// version is answered with the preferred one and EINVAL (cap_validate_magic).
fn cap_words(ctx: &mut Ctx, header: u64) -> Result<usize, Errno> {
    match ctx.read_u32(header)? {
        _LINUX_CAPABILITY_VERSION_1 => Ok(1),
        _LINUX_CAPABILITY_VERSION_2 | _LINUX_CAPABILITY_VERSION_3 => Ok(2),
        _ => {
            ctx.write_u32(header, _LINUX_CAPABILITY_VERSION_3)?;
            Err(EINVAL)
        }
    }
}

pub(crate) fn capget(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let words = match cap_words(ctx, a[0]) {
        Ok(w) => w,
        // Probing for the version with no data is not an error.
        Err(e) if a[1] == 0 => return if e == EINVAL { Ok(0) } else { Err(e) },
        Err(e) => return Err(e),
    };
    let pid = ctx.read_u32(a[0] + std::mem::offset_of!(CapUserHeader, pid) as u64)? as i32;
    if pid < 0 {
        return Err(EINVAL);
    }
    let pid = if pid == 0 { ctx.pid } else { pid as Pid };
    let c = &ctx.k.tasks.proc(pid).ok_or(ESRCH)?.cred;
    let (e, p, i) = (c.cap_effective, c.cap_permitted, c.cap_inheritable);
    if a[1] == 0 {
        return Ok(0);
    }
    // One struct per 32-bit word of the sets.
    let word = |set: u64, w: usize| (set >> (32 * w)) as u32;
    let out: Vec<CapUserData> = (0..words)
        .map(|w| CapUserData { effective: word(e, w), permitted: word(p, w), inheritable: word(i, w) })
        .collect();
    ctx.write_user(a[1], out.as_bytes())?;
    Ok(0)
}

pub(crate) fn capset(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let words = cap_words(ctx, a[0])?;
    let pid = ctx.read_u32(a[0] + std::mem::offset_of!(CapUserHeader, pid) as u64)? as i32;
    // Only a process's own capabilities may be set.
    if pid != 0 && pid as Pid != ctx.pid {
        return Err(EPERM);
    }
    let mut data = vec![CapUserData::default(); words];
    ctx.read_user(a[1], data.as_mut_bytes())?;
    let set = |k: fn(&CapUserData) -> u32| {
        data.iter().enumerate().fold(0u64, |acc, (w, d)| acc | u64::from(k(d)) << (32 * w))
    };
    let (e, p, i) = (set(|d| d.effective), set(|d| d.permitted), set(|d| d.inheritable));
    with_cred(ctx, |c| c.capset(e, p, i))
}
