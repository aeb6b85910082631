//! The swap store: where evicted anonymous pages wait. Host memory, one
//! boxed page per slot, bounded by `--swap`; faultline never writes guest
//! data to disk.

use crate::arch::PAGE_SIZE;

type PageBuf = Box<[u8; PAGE_SIZE as usize]>;

#[derive(Debug, Default)]
pub struct SwapStore {
    slots: Vec<Option<PageBuf>>,
    free: Vec<u32>,
    capacity: usize,
    used: usize,
}

impl SwapStore {
    pub fn new(pages: u64) -> Self {
        SwapStore { capacity: usize::try_from(pages).unwrap_or(usize::MAX), ..Default::default() }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn used(&self) -> usize {
        self.used
    }

    /// Stores a page; None when the store is full.
    pub fn put(&mut self, page: &[u8]) -> Option<u32> {
        if self.used >= self.capacity {
            return None;
        }
        let mut buf: PageBuf = Box::new([0; PAGE_SIZE as usize]);
        buf.copy_from_slice(page);
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(buf);
                s
            }
            None => {
                self.slots.push(Some(buf));
                self.slots.len() as u32 - 1
            }
        };
        self.used += 1;
        Some(slot)
    }

    pub fn get(&self, slot: u32) -> Option<&[u8]> {
        self.slots.get(slot as usize)?.as_deref().map(|b| &b[..])
    }

    pub fn free(&mut self, slot: u32) {
        if let Some(s) = self.slots.get_mut(slot as usize) {
            if s.take().is_some() {
                self.used -= 1;
                self.free.push(slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_until_full_and_reuses_slots() {
        let mut s = SwapStore::new(2);
        let a = s.put(&[1; 4096]).unwrap();
        let b = s.put(&[2; 4096]).unwrap();
        assert_eq!(s.put(&[3; 4096]), None);
        assert_eq!(s.get(a).unwrap()[0], 1);
        s.free(a);
        assert_eq!(s.used(), 1);
        let c = s.put(&[4; 4096]).unwrap();
        assert_eq!(c, a);
        assert_eq!(s.get(c).unwrap()[4095], 4);
        assert_eq!(s.get(b).unwrap()[0], 2);
    }
}
