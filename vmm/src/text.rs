//! Untrusted text (names and paths from an ELF file or a guest) made safe
//! for one line of faultline's output: control bytes escaped, length
//! capped. Below every layer: anything that prints may use it. Public so
//! that a tool printing faultline's messages, or a test checking them
//! ([`is_tame`]), uses the same rule.

/// Most characters of one untrusted string in a message.
pub const MAX_SHOWN: usize = 200;

/// `s` with control characters (C0, DEL, C1, and so newlines and ESC)
/// escaped as `\xNN` / `\u{NNNN}`, cut to `max` characters with `…` after.
pub fn tame_n(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 8));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        match c {
            c if (c as u32) < 0x100 && c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// [`tame_n`] with [`MAX_SHOWN`].
pub fn tame(s: &str) -> String {
    tame_n(s, MAX_SHOWN)
}

/// Whether `s` is fit for one line of output: no control characters.
pub fn is_tame(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_bytes_are_escaped_and_length_capped() {
        assert_eq!(tame("a\nb\x1b[2J\rc\u{85}"), "a\\x0ab\\x1b[2J\\x0dc\\x85");
        assert_eq!(tame("plain/path-é"), "plain/path-é");
        let long = "x".repeat(5000);
        assert_eq!(tame(&long).chars().count(), MAX_SHOWN + 1);
        assert!(tame(&long).ends_with('…'));
        assert!(is_tame(&tame("\u{2028}\u{7f}\t")));
    }
}
