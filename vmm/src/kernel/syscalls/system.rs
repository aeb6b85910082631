//! System information: uname, getrandom, sysinfo, getcpu, membarrier; and
//! sockets, which faultline does not provide.

use super::super::errno::*;
use super::super::task::Ctx;

/// The kernel faultline claims to be: new enough for any libc.
pub const RELEASE: &str = "6.1.0-faultline";

pub fn uname(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let mut b = [0u8; 65 * 6];
    let fields = ["Linux", "faultline", RELEASE, "#1 SMP faultline", "x86_64", "(none)"];
    for (i, f) in fields.iter().enumerate() {
        b[i * 65..i * 65 + f.len()].copy_from_slice(f.as_bytes());
    }
    ctx.write_user(a[0], &b)?;
    Ok(0)
}

pub fn getrandom(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    const GRND_NONBLOCK: u64 = 1;
    const GRND_RANDOM: u64 = 2;
    const GRND_INSECURE: u64 = 4;
    let (buf, count, flags) = (a[0], a[1], a[2]);
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE
    {
        return Err(EINVAL);
    }
    let count = count.min(33_554_431) as usize;
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
pub fn sysinfo(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let i = ctx.k.mem_info();
    let mut b = [0u8; 112];
    b[0..8].copy_from_slice(&(ctx.k.started.elapsed().as_secs() as i64).to_le_bytes());
    b[32..40].copy_from_slice(&(i.mem_total * 1024).to_le_bytes()); // totalram
    b[40..48].copy_from_slice(&(i.mem_free * 1024).to_le_bytes()); // freeram
    b[48..56].copy_from_slice(&(i.shmem * 1024).to_le_bytes()); // sharedram
    b[64..72].copy_from_slice(&(i.swap_total * 1024).to_le_bytes()); // totalswap
    b[72..80].copy_from_slice(&(i.swap_free * 1024).to_le_bytes()); // freeswap
    b[80..82].copy_from_slice(&(ctx.k.procs.len() as u16).to_le_bytes()); // procs
    b[104..108].copy_from_slice(&1u32.to_le_bytes()); // mem_unit
    ctx.write_user(a[0], &b)?;
    Ok(0)
}

pub fn getcpu(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[0] != 0 {
        ctx.write_u32(a[0], 0)?;
    }
    if a[1] != 0 {
        ctx.write_u32(a[1], 0)?;
    }
    Ok(0)
}

pub fn membarrier(_: &mut Ctx, a: [u64; 6]) -> SysResult {
    const QUERY: u64 = 0;
    const SUPPORTED: i64 = 1 | 8 | 16; // GLOBAL, PRIVATE_EXPEDITED, REGISTER_PRIVATE_EXPEDITED
    if a[1] != 0 {
        return Err(EINVAL);
    }
    match a[0] {
        QUERY => Ok(SUPPORTED),
        1 | 8 | 16 => Ok(0),
        _ => Err(EINVAL),
    }
}

/// faultline gives programs no network: socket() is refused as a kernel
/// without the address family would refuse it.
pub fn socket(_: &mut Ctx, a: [u64; 6]) -> SysResult {
    if a[0] > 45 {
        return Err(EAFNOSUPPORT);
    }
    Err(EAFNOSUPPORT)
}
