//! AF_UNIX names: the abstract namespace (per sandbox, per socket type:
//! Linux hashes the type in, so a stream and a datagram socket may share
//! a name and find only their own kind) and path names,
//! which are S_IFSOCK nodes of the sandbox's view registered here by their
//! (device, inode). A socket node with nothing registered (a host's
//! socket, or one whose socket closed) refuses connections.

use std::sync::Arc;

use super::addr::{SockAddr, UnixName};
use super::{Net, Socket};
use crate::kernel::errno::*;

impl Net {
    /// Binds `s` to abstract name `name`: EADDRINUSE if a live socket
    /// holds it.
    pub fn bind_abstract(&self, s: &Arc<Socket>, name: &[u8]) -> Result<(), Errno> {
        let mut t = self.tables.lock();
        let key = (s.ty, name.to_vec());
        if t.abstract_names.get(&key).and_then(|w| w.upgrade()).is_some_and(|o| !o.lock().dead) {
            return Err(EADDRINUSE);
        }
        t.abstract_names.insert(key, Arc::downgrade(s));
        Ok(())
    }

    /// unix_autobind: an abstract name of five hex digits no socket holds
    /// (ENOSPC once all 2^20 are taken).
    pub fn autobind(&self, s: &Arc<Socket>) -> Result<SockAddr, Errno> {
        for _ in 0..0x100000 {
            let n = {
                let mut t = self.tables.lock();
                t.autobind = (t.autobind + 1) & 0xfffff;
                t.autobind
            };
            let name = format!("{n:05x}").into_bytes();
            if self.bind_abstract(s, &name).is_ok() {
                return Ok(SockAddr::Unix(UnixName::Abstract(name)));
            }
        }
        Err(ENOSPC)
    }

    /// Registers `s` as the socket of the node `key` it just made.
    pub fn bind_path(&self, s: &Arc<Socket>, key: (u64, u64)) {
        self.tables.lock().paths.insert(key, Arc::downgrade(s));
    }

    /// The live socket of type `ty` bound to abstract name `name`.
    pub fn find_abstract(&self, ty: u32, name: &[u8]) -> Option<Arc<Socket>> {
        let s = self.tables.lock().abstract_names.get(&(ty, name.to_vec()))?.upgrade()?;
        let dead = s.lock().dead;
        (!dead).then_some(s)
    }

    /// The live socket bound to the node `key`.
    pub fn find_path(&self, key: (u64, u64)) -> Option<Arc<Socket>> {
        let s = self.tables.lock().paths.get(&key)?.upgrade()?;
        let dead = s.lock().dead;
        (!dead).then_some(s)
    }
}
