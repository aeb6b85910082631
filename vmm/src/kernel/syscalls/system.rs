//! System information: uname, getrandom, sysinfo, getcpu, membarrier.

use zerocopy::FromZeros;

use super::super::abi::system::*;
use super::super::errno::*;
use super::super::task::Ctx;

/// The kernel faultline claims to be: the newest whose calls it has that
/// programs test the version for (MADV_GUARD_INSTALL is 6.13's,
/// F_CREATED_QUERY 6.12's); what it lacks of those kernels is ENOSYS or
/// EINVAL, as a kernel built without them answers.
pub(crate) const RELEASE: &str = "6.13.0-faultline";
/// Its host name (uname's nodename, kernel.hostname, a core name's %h).
pub(crate) const NODENAME: &str = "faultline";

pub(crate) fn uname(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let mut u = NewUtsname::new_zeroed();
    let fields = [
        (&mut u.sysname, "Linux"),
        (&mut u.nodename, NODENAME),
        (&mut u.release, RELEASE),
        (&mut u.version, "#1 SMP faultline"),
        (&mut u.machine, UTS_MACHINE),
        (&mut u.domainname, "(none)"),
    ];
    for (field, s) in fields {
        field[..s.len()].copy_from_slice(s.as_bytes());
    }
    ctx.write_struct(a[0], &u)?;
    Ok(0)
}

pub(crate) fn getrandom(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (buf, count, flags) = (a[0], a[1], a[2]);
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE
    {
        return Err(EINVAL);
    }
    let count = count.min(GETRANDOM_MAX) as usize;
    let mut done = 0usize;
    let mut chunk = vec![0u8; count.min(65536)];
    while done < count {
        let n = chunk.len().min(count - done);
        // SAFETY: filling our own buffer.
        let got = unsafe { libc::getrandom(chunk.as_mut_ptr().cast(), n, 0) };
        if got <= 0 {
            return if done > 0 { Ok(done as i64) } else { Err(EAGAIN) };
        }
        let got = got as usize;
        if let Err(e) = ctx.write_user(buf + done as u64, &chunk[..got]) {
            return if done > 0 { Ok(done as i64) } else { Err(e) };
        }
        done += got;
    }
    Ok(done as i64)
}

/// sysinfo(2): uptime, memory and processes as the sandbox sees them.
pub(crate) fn sysinfo(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let i = ctx.k.mem_info();
    let s = Sysinfo {
        uptime: ctx.k.booted.elapsed().as_secs() as i64,
        totalram: i.mem_total * 1024,
        freeram: i.mem_free * 1024,
        sharedram: i.shmem * 1024,
        totalswap: i.swap_total * 1024,
        freeswap: i.swap_free * 1024,
        procs: ctx.k.tasks.process_count() as u16,
        mem_unit: 1,
        ..Default::default()
    };
    ctx.write_struct(a[0], &s)?;
    Ok(0)
}

pub(crate) fn getcpu(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[0] != 0 {
        ctx.write_u32(a[0], 0)?;
    }
    if a[1] != 0 {
        ctx.write_u32(a[1], 0)?;
    }
    Ok(0)
}

pub(crate) fn membarrier(_: &mut Ctx, a: [u64; 6]) -> SysResult {
    const SUPPORTED: u64 =
        MEMBARRIER_CMD_GLOBAL | MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED;
    if a[1] != 0 {
        return Err(EINVAL);
    }
    match a[0] {
        MEMBARRIER_CMD_QUERY => Ok(SUPPORTED as i64),
        MEMBARRIER_CMD_GLOBAL | MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED => Ok(0),
        _ => Err(EINVAL),
    }
}
