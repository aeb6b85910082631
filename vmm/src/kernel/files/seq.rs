//! An open seq_file's place (fs/seq_file.c): where the next read resumes,
//! and the part of a record a short read left over. A read generates
//! records from the place on, into at most a page (one record if it is
//! larger), as Linux does; a read at another offset walks there from the
//! start, as Linux's traverse() does.

/// Bytes a read fills with records, as seq_file's first buffer (a record
/// that does not fit waits for the next read).
const PAGE: usize = 4096;

/// The record generator: appends the record at `index` to the buffer and
/// returns the next index, `None` past the last.
pub(crate) trait Records {
    fn record(&mut self, index: u64, out: &mut Vec<u8>) -> Option<u64>;
}

impl<F: FnMut(u64, &mut Vec<u8>) -> Option<u64>> Records for F {
    fn record(&mut self, index: u64, out: &mut Vec<u8>) -> Option<u64> {
        self(index, out)
    }
}

#[derive(Debug, Default)]
pub(crate) struct SeqCursor {
    /// The file offset the next byte given comes from.
    read_pos: u64,
    /// The index the next record is generated at; `None` past the end.
    index: Option<u64>,
    /// What the last read generated and did not return, from `from`.
    pending: Vec<u8>,
    from: usize,
    /// Reads have started (a fresh cursor starts at index 0).
    started: bool,
}

impl SeqCursor {
    /// Reads at most `count` bytes at offset `at`.
    pub(crate) fn read(&mut self, at: u64, count: usize, mut gen: impl Records) -> Vec<u8> {
        if !self.started || at < self.read_pos {
            *self = SeqCursor { index: Some(0), started: true, ..SeqCursor::default() };
        }
        // Forward to `at`, record by record, keeping the one it falls in.
        while self.read_pos < at {
            if self.from == self.pending.len() && !self.fill_one(&mut gen) {
                break;
            }
            let skip = ((at - self.read_pos) as usize).min(self.pending.len() - self.from);
            self.from += skip;
            self.read_pos += skip as u64;
        }
        let mut out = self.take(count);
        if out.len() < count && self.read_pos == at + out.len() as u64 {
            // A page of records at most, stopping once `count` is reached.
            let want = count - out.len();
            let mut page = Vec::new();
            while page.len() < want {
                let Some(index) = self.index else { break };
                let before = page.len();
                let next = gen.record(index, &mut page);
                if before > 0 && page.len() > PAGE {
                    // Generated again by the next read, as seq_file does.
                    page.truncate(before);
                    break;
                }
                self.index = next;
            }
            self.pending = page;
            self.from = 0;
            out.extend(self.take(want));
        }
        out
    }

    /// Bytes left over from the last record, at most `count`.
    fn take(&mut self, count: usize) -> Vec<u8> {
        let n = count.min(self.pending.len() - self.from);
        let out = self.pending[self.from..self.from + n].to_vec();
        self.from += n;
        self.read_pos += n as u64;
        if self.from == self.pending.len() {
            self.pending = Vec::new();
            self.from = 0;
        }
        out
    }

    /// Generates the next record into `pending`; false at the end.
    fn fill_one(&mut self, gen: &mut impl Records) -> bool {
        let Some(index) = self.index else { return false };
        self.pending.clear();
        self.from = 0;
        self.index = gen.record(index, &mut self.pending);
        !self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::SeqCursor;

    /// Records "line N\n" for N in 0..n, index N.
    fn lines(n: u64, calls: &mut u64) -> impl FnMut(u64, &mut Vec<u8>) -> Option<u64> + '_ {
        move |i, out| {
            *calls += 1;
            if i >= n {
                return None;
            }
            out.extend_from_slice(format!("line {i}\n").as_bytes());
            Some(i + 1)
        }
    }

    fn whole(n: u64) -> Vec<u8> {
        (0..n).flat_map(|i| format!("line {i}\n").into_bytes()).collect()
    }

    #[test]
    fn byte_reads_give_the_whole_file_at_a_record_each() {
        let mut c = SeqCursor::default();
        let (mut calls, mut got, mut at) = (0, Vec::new(), 0u64);
        loop {
            let b = c.read(at, 1, lines(1000, &mut calls));
            if b.is_empty() {
                break;
            }
            at += b.len() as u64;
            got.extend(b);
        }
        assert_eq!(got, whole(1000));
        // One generation per record and one for the end: not one per byte.
        assert_eq!(calls, 1001);
    }

    #[test]
    fn large_reads_stop_at_a_page_and_resume() {
        let mut c = SeqCursor::default();
        let mut calls = 0;
        let first = c.read(0, 1 << 20, lines(100_000, &mut calls));
        assert!(first.len() <= 4096 && first.len() > 4000, "{}", first.len());
        assert!(first.ends_with(b"\n"));
        let (mut got, mut at) = (first, 0u64);
        at += got.len() as u64;
        loop {
            let b = c.read(at, 1 << 20, lines(100_000, &mut calls));
            if b.is_empty() {
                break;
            }
            at += b.len() as u64;
            got.extend(b);
        }
        assert_eq!(got, whole(100_000));
    }

    #[test]
    fn reads_elsewhere_walk_from_the_start_as_traverse_does() {
        let all = whole(50);
        let mut c = SeqCursor::default();
        let mut calls = 0;
        assert_eq!(c.read(100, 7, lines(50, &mut calls)), all[100..107]);
        assert_eq!(c.read(3, 5, lines(50, &mut calls)), all[3..8]);
        assert_eq!(c.read(8, 4, lines(50, &mut calls)), all[8..12]);
        assert_eq!(c.read(all.len() as u64 + 10, 4, lines(50, &mut calls)), b"");
        assert_eq!(c.read(0, 1 << 20, lines(50, &mut calls)), all);
    }
}
