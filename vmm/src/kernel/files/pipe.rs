//! Pipes: a bounded byte buffer between writers and readers, with Linux's
//! semantics: reads block while it is empty and a writer exists, and end
//! of file once none does; writes block while it is full, are atomic up to
//! PIPE_BUF bytes, and fail with EPIPE (and SIGPIPE) once no reader exists.

use std::collections::VecDeque;

use parking_lot::Mutex;

use crate::kernel::errno::{Errno, EAGAIN, EPIPE};
use crate::kernel::wait::WaitQueue;

/// Linux's default pipe capacity (16 pages).
pub const PIPE_CAPACITY: usize = 65536;
/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;

#[derive(Default)]
struct State {
    buf: VecDeque<u8>,
    readers: u32,
    writers: u32,
}

#[derive(Default)]
pub struct Pipe {
    state: Mutex<State>,
    /// Threads waiting for data, or for the last writer to go.
    pub readable: WaitQueue,
    /// Threads waiting for room, or for the last reader to go.
    pub writable: WaitQueue,
}

/// What a read or write attempt did.
pub enum Io {
    Done(usize),
    /// Nothing can be done now: block (or EAGAIN when non-blocking).
    WouldBlock,
}

impl Pipe {
    pub fn new() -> Self {
        Pipe { state: Mutex::new(State { readers: 0, writers: 0, buf: VecDeque::new() }), ..Default::default() }
    }

    pub fn open_end(&self, write: bool) {
        let mut s = self.state.lock();
        if write {
            s.writers += 1;
        } else {
            s.readers += 1;
        }
    }

    pub fn close_end(&self, write: bool) {
        let mut s = self.state.lock();
        if write {
            s.writers = s.writers.saturating_sub(1);
            if s.writers == 0 {
                drop(s);
                self.readable.wake_all();
            }
        } else {
            s.readers = s.readers.saturating_sub(1);
            if s.readers == 0 {
                drop(s);
                self.writable.wake_all();
            }
        }
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.state.lock().buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a read would not block (data, or no writer left).
    pub fn read_ready(&self) -> bool {
        let s = self.state.lock();
        !s.buf.is_empty() || s.writers == 0
    }

    /// Whether a write would not block (room, or no reader left: EPIPE).
    pub fn write_ready(&self) -> bool {
        let s = self.state.lock();
        s.buf.len() + PIPE_BUF <= PIPE_CAPACITY || s.readers == 0
    }

    pub fn has_writers(&self) -> bool {
        self.state.lock().writers > 0
    }

    pub fn has_readers(&self) -> bool {
        self.state.lock().readers > 0
    }

    /// Takes up to `max` bytes.
    pub fn read(&self, max: usize) -> Result<(Io, Vec<u8>), Errno> {
        let mut s = self.state.lock();
        if s.buf.is_empty() {
            return Ok(if s.writers == 0 { (Io::Done(0), Vec::new()) } else { (Io::WouldBlock, Vec::new()) });
        }
        let n = max.min(s.buf.len());
        let data: Vec<u8> = s.buf.drain(..n).collect();
        drop(s);
        self.writable.wake_all();
        Ok((Io::Done(n), data))
    }

    /// Puts as much of `data` as fits (all of it or nothing when it is at
    /// most PIPE_BUF bytes, which must stay atomic).
    pub fn write(&self, data: &[u8]) -> Result<Io, Errno> {
        let mut s = self.state.lock();
        if s.readers == 0 {
            return Err(EPIPE);
        }
        let room = PIPE_CAPACITY - s.buf.len();
        if room == 0 || (data.len() <= PIPE_BUF && room < data.len()) {
            return Ok(Io::WouldBlock);
        }
        let n = room.min(data.len());
        s.buf.extend(&data[..n]);
        drop(s);
        self.readable.wake_all();
        Ok(Io::Done(n))
    }
}

/// EAGAIN for a non-blocking end, else block.
pub fn would_block(nonblock: bool) -> Result<(), Errno> {
    if nonblock {
        Err(EAGAIN)
    } else {
        Ok(())
    }
}
