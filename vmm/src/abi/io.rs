//! read/write family.

use super::errno::{SysResult, EBADF, EFAULT};
use super::Task;

/// Largest chunk copied out of the guest at once.
const CHUNK: u64 = 64 * 1024;

/// write(2) to stdout or stderr. Like Linux, a bad buffer after some bytes
/// went out gives a short count; a bad buffer at the start gives EFAULT.
pub fn write(task: &mut Task, fd: u64, buf: u64, count: u64) -> SysResult {
    let out = match fd {
        1 => task.stdout.clone(),
        2 => task.stderr.clone(),
        _ => return Err(EBADF),
    };
    // Linux caps a single write at MAX_RW_COUNT (INT_MAX rounded to pages).
    let count = count.min(0x7fff_f000);
    let mut done = 0u64;
    let mut chunk = vec![0u8; CHUNK.min(count) as usize];
    while done < count {
        let n = CHUNK.min(count - done) as usize;
        let Some(at) = buf.checked_add(done) else { break };
        if let Err(e) = task.copy_from_user(at, &mut chunk[..n]) {
            // Write what is readable of this chunk, then stop.
            let good = readable_prefix(task, at, n);
            if good > 0 {
                let _ = task.copy_from_user(at, &mut chunk[..good]);
                let _ = out.write_all(&chunk[..good]);
                done += good as u64;
            }
            return if done > 0 { Ok(done as i64) } else { Err(e) };
        }
        if out.write_all(&chunk[..n]).is_err() {
            return if done > 0 { Ok(done as i64) } else { Err(EFAULT) };
        }
        done += n as u64;
    }
    Ok(done as i64)
}

fn readable_prefix(task: &Task, at: u64, n: usize) -> usize {
    let mut good = 0usize;
    while good < n {
        let page_left = (4096 - (at + good as u64) % 4096) as usize;
        if task.space.user_page(at + good as u64).is_none() {
            break;
        }
        good += page_left.min(n - good);
    }
    good
}
