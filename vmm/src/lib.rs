//! faultline: run a static x86-64 program as a tiny KVM guest and record,
//! page by page, how its memory gets backed.
//!
//! - [`vm`]: KVM plumbing (memory slots, the vCPU, exits).
//! - [`arch`]: x86-64 page tables, descriptor tables, traps.
//! - [`mm`]: the guest address space the VMM owns.
//! - [`loader`]: ELF validation and the page plan.
//! - [`fault`]: userfaultfd and the fault-handler thread.
//! - [`abi`]: the Linux syscalls faultline implements.
//! - [`timeline`]: events, CSV and the summary.
//! - [`sandbox`]: puts one program through all of the above.

pub mod abi;
pub mod arch;
pub mod bench;
pub mod fault;
pub mod loader;
pub mod mm;
pub mod sandbox;
pub mod timeline;
pub mod vm;

pub use sandbox::{Config, Error, ExitStatus, Outcome, Sandbox};

/// The embedded guests: the shim, the demo and the benchmark guest.
pub use faultline_guest as guest;

/// Parses sizes like `256M`, `64k`, `1G`, `4096` (binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        None => (t, 1u64),
        Some((i, _)) => {
            let unit = t[i..].to_ascii_lowercase();
            let m = match unit.trim_end_matches("ib").trim_end_matches('b') {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                _ => return Err(format!("bad size {s:?}: unknown unit (use K, M or G)")),
            };
            (&t[..i], m)
        }
    };
    let n: u64 = num.parse().map_err(|_| format!("bad size {s:?}"))?;
    n.checked_mul(mult).ok_or_else(|| format!("size {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }
}
