//! Process lifetime: exit and exit_group (one thread, so the same).

use super::Action;

/// exit(2)/exit_group(2): the status is the low 8 bits, as wait(2) sees it.
pub fn exit(status: u64) -> Action {
    Action::Exit((status & 0xff) as i32)
}
