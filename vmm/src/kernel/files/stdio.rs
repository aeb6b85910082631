//! The program's standard streams: where its stdin comes from and where its
//! stdout and stderr go, on the host.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

/// Where the program's stdout or stderr goes.
#[derive(Clone, Debug)]
pub enum Output {
    /// Straight to this process's fd (1 or 2), unbuffered so the program's
    /// output interleaves with ours as it would natively.
    Inherit(i32),
    /// Collected in memory (tests, the library).
    Capture(Arc<Mutex<Vec<u8>>>),
}

impl Output {
    /// A new, empty capture buffer; keep a clone to read it later.
    pub fn capture() -> Self {
        Output::Capture(Arc::default())
    }

    pub(crate) fn write_all(&self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Inherit(fd) => {
                // Held across the write: no status line is drawn between
                // clearing it and the program's bytes.
                let mut line = STATUS_LINE.lock().unwrap_or_else(|p| p.into_inner());
                line.before_output(*fd, buf);
                if *fd == 1 {
                    std::io::stdout().lock().write_all(buf).and_then(|_| std::io::stdout().flush())
                } else {
                    std::io::stderr().lock().write_all(buf)
                }
            }
            Output::Capture(v) => {
                v.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
                Ok(())
            }
        }
    }

    /// What was captured so far.
    pub fn captured_bytes(&self) -> Vec<u8> {
        match self {
            Output::Capture(v) => v.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            Output::Inherit(_) => Vec::new(),
        }
    }

    /// What was captured so far, as text.
    pub fn captured(&self) -> String {
        String::from_utf8_lossy(&self.captured_bytes()).into_owned()
    }

    /// The host descriptor behind it, if any.
    pub(crate) fn host_fd(&self) -> Option<i32> {
        match self {
            Output::Inherit(fd) => Some(*fd),
            Output::Capture(_) => None,
        }
    }
}

/// faultline's status line (the progress line) on a terminal's stderr,
/// below what the program writes there: it is cleared before the
/// program's next output reaches the terminal, and not drawn over a line
/// the program has begun.
#[derive(Default)]
pub(crate) struct StatusLine {
    shown: bool,
    /// The program's last output to a terminal did not end its line.
    mid_line: bool,
}

/// One per process, as stdout and stderr are.
pub(crate) static STATUS_LINE: Mutex<StatusLine> = Mutex::new(StatusLine { shown: false, mid_line: false });

fn is_terminal(fd: i32) -> bool {
    // SAFETY: isatty only looks at the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

impl StatusLine {
    fn before_output(&mut self, fd: i32, buf: &[u8]) {
        if buf.is_empty() || !is_terminal(fd) {
            return;
        }
        if self.shown {
            let _ = std::io::stderr().lock().write_all(b"\r\x1b[K");
            self.shown = false;
        }
        self.mid_line = buf.last() != Some(&b'\n');
    }

    /// Draws `text` as the status line on stderr, replacing the last one,
    /// unless the program is in the middle of a line.
    pub(crate) fn show(&mut self, text: &str) {
        if self.mid_line {
            return;
        }
        let _ = write!(std::io::stderr().lock(), "\r\x1b[K{text}");
        self.shown = true;
    }

    /// Erases the status line, if one is shown.
    pub(crate) fn clear(&mut self) {
        if self.shown {
            let _ = std::io::stderr().lock().write_all(b"\r\x1b[K");
            self.shown = false;
        }
    }
}

/// Where the program's stdin comes from.
#[derive(Clone, Debug, Default)]
pub enum Input {
    /// This process's stdin.
    Inherit,
    /// These bytes, then end of file.
    Bytes(Arc<[u8]>),
    /// End of file at once.
    #[default]
    Empty,
}

impl Input {
    pub(crate) fn host_fd(&self) -> Option<i32> {
        matches!(self, Input::Inherit).then_some(0)
    }

    /// Reads at `pos` (for in-memory input) or from the host.
    pub(crate) fn read(&self, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Input::Inherit => std::io::stdin().lock().read(buf),
            Input::Bytes(b) => {
                let start = (pos as usize).min(b.len());
                let n = (b.len() - start).min(buf.len());
                buf[..n].copy_from_slice(&b[start..start + n]);
                Ok(n)
            }
            Input::Empty => Ok(0),
        }
    }
}

/// Waits up to `ms` for host descriptor `fd` to be readable (or writable).
/// Returns true when it is (or has an error or hang-up to report).
pub(crate) fn host_ready(fd: i32, write: bool, ms: i32) -> bool {
    let mut p = libc::pollfd { fd, events: if write { libc::POLLOUT } else { libc::POLLIN }, revents: 0 };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    r > 0
}
