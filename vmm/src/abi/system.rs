//! System information: uname, getrandom, sysinfo.

use super::errno::*;
use super::Task;

/// The kernel faultline claims to be: new enough for any libc.
pub const RELEASE: &str = "6.1.0-faultline";

pub fn uname(task: &mut Task, buf: u64) -> SysResult {
    let mut b = [0u8; 65 * 6];
    let fields = ["Linux", "faultline", RELEASE, "#1 SMP faultline", "x86_64", "(none)"];
    for (i, f) in fields.iter().enumerate() {
        b[i * 65..i * 65 + f.len()].copy_from_slice(f.as_bytes());
    }
    task.copy_to_user(buf, &b)?;
    Ok(0)
}

pub fn getrandom(task: &mut Task, buf: u64, count: u64, flags: u64) -> SysResult {
    const GRND_NONBLOCK: u64 = 1;
    const GRND_RANDOM: u64 = 2;
    const GRND_INSECURE: u64 = 4;
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
        if let Err(e) = task.copy_to_user(buf + done as u64, &chunk[..got]) {
            return if done > 0 { Ok(done as i64) } else { Err(e) };
        }
        done += got;
    }
    Ok(done as i64)
}

/// sysinfo(2): uptime and memory as the sandbox sees them.
pub fn sysinfo(task: &mut Task, info: u64, total_ram: u64, free_ram: u64) -> SysResult {
    let mut b = [0u8; 112];
    b[0..8].copy_from_slice(&(task.started.elapsed().as_secs() as i64).to_le_bytes());
    b[32..40].copy_from_slice(&total_ram.to_le_bytes()); // totalram
    b[40..48].copy_from_slice(&free_ram.to_le_bytes()); // freeram
    b[80..82].copy_from_slice(&1u16.to_le_bytes()); // procs
    b[104..108].copy_from_slice(&1u32.to_le_bytes()); // mem_unit
    task.copy_to_user(info, &b)?;
    Ok(0)
}
