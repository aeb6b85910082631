//! Guest-physical frames of the RAM slot.

use crate::arch::PAGE_SIZE;

/// Hands out 4 KiB frames of guest RAM. Frames are guest-physical
/// addresses; whether a frame is backed on the host is the fault handler's
/// business, not this allocator's.
#[derive(Debug)]
pub struct FrameAllocator {
    next: u64,
    end: u64,
    free: Vec<u64>,
}

impl FrameAllocator {
    pub fn new(base: u64, len: u64) -> Self {
        FrameAllocator { next: base, end: base + len, free: Vec::new() }
    }

    pub fn alloc(&mut self) -> Option<u64> {
        if let Some(f) = self.free.pop() {
            return Some(f);
        }
        (self.next + PAGE_SIZE <= self.end).then(|| {
            let f = self.next;
            self.next += PAGE_SIZE;
            f
        })
    }

    pub fn release(&mut self, frame: u64) {
        self.free.push(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_until_full_then_reuses() {
        let mut f = FrameAllocator::new(0x1000_0000, 2 * PAGE_SIZE);
        let a = f.alloc().unwrap();
        let b = f.alloc().unwrap();
        assert_eq!((a, b), (0x1000_0000, 0x1000_1000));
        assert_eq!(f.alloc(), None);
        f.release(a);
        assert_eq!(f.alloc(), Some(a));
        assert_eq!(f.alloc(), None);
    }
}
