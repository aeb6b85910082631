//! System V IPC inside the sandbox: its shared memory segments (`shm`).
//! The sandbox is one IPC namespace: its programs see their own segments
//! and no host's.

pub(crate) mod shm;

/// CLOCK_REALTIME's seconds, for the times a segment keeps.
fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests;
