//! getsockopt and setsockopt: the arguments decoded (the value copied in
//! or out); the options' rules are `kernel::net::options`'s.

use super::super::abi::capability::{CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN};
use super::super::errno::*;
use super::super::net::options;
use super::super::task::Ctx;
use super::socket::sock_of;

pub(super) fn setsockopt(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (_, s) = sock_of(ctx, a[0])?;
    let (level, name, at, len) = (a[1] as i32, a[2] as i32, a[3], a[4] as i32);
    if len < 0 {
        return Err(EINVAL);
    }
    let c = &ctx.proc().cred;
    let caps =
        options::Caps { admin: c.capable(CAP_NET_ADMIN) || c.capable(CAP_SYS_ADMIN), raw: c.capable(CAP_NET_RAW) };
    let mut read = |n: usize| {
        let mut b = vec![0u8; n];
        ctx.read_user(at, &mut b).map(|()| b)
    };
    options::set(&s, level, name, &mut options::Value { len: len as usize, read: &mut read }, caps)?;
    Ok(0)
}

pub(super) fn getsockopt(ctx: &mut Ctx, a: [u64; 6]) -> SysResult {
    let (_, s) = sock_of(ctx, a[0])?;
    let (level, name, at, lenp) = (a[1] as i32, a[2] as i32, a[3], a[4]);
    let len = ctx.read_u32(lenp)? as i32;
    if len < 0 {
        return Err(EINVAL);
    }
    let v = options::get(&s, level, name, len as usize)?;
    // As much as the caller's buffer holds; the length given back is what
    // was copied.
    let n = (len as usize).min(v.len());
    ctx.write_user(at, &v[..n])?;
    ctx.write_u32(lenp, n as u32)?;
    Ok(0)
}
