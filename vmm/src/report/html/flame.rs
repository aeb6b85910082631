//! The flame graphs of the code paths that faulted, inlined as SVG
//! documents.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{esc, Page, Proc};
use crate::report::folded::{self, Select};

/// The flame graphs of all faults, cow and major faults, one shown at a
/// time, each inferno's SVG in a document of its own (its script and ids
/// apart from the page's).
pub(super) fn flame_graphs(page: &Page, procs: &BTreeMap<u32, Proc>) -> String {
    let with_stack = page.rows.iter().filter(|r| r.is_fault() && r.stack != 0).count();
    let faults = page.rows.iter().filter(|r| r.is_fault()).count();
    let mut s = format!(
        "<h2>Code that faulted: a flame graph</h2><p class=\"note\">Each fault's call stack, root at the bottom, one root \
         per process; a frame's width is the faults under it. {with_stack} of {faults} faults came with registers and so \
         with a stack; the rest are counted as {} (see --fill-pages). Click a frame to zoom into it.</p><div class=\"fg-tabs\">",
        folded::NO_STACK
    );
    let choices = [("faults", "all faults"), ("cow", "cow only"), ("major", "major only")];
    let mut bodies = String::new();
    for (i, (sel, label)) in choices.iter().enumerate() {
        let select = Select::parse(sel).unwrap_or_default();
        let lines = folded::folded(page.rows, page.stacks, &select);
        let n: u64 = lines.iter().map(|l| l.1).sum();
        let _ =
            write!(s, "<button data-fg=\"{i}\" class=\"{}\">{label} ({n})</button>", if i == 0 { "on" } else { "" });
        let title = format!("{} ({} process{})", page.title, procs.len(), if procs.len() == 1 { "" } else { "es" });
        match folded::flamegraph(&lines, &title, &select.describe()) {
            Ok(svg) => {
                let _ = write!(
                    bodies,
                    "<object class=\"fg\" data-fg=\"{i}\" type=\"image/svg+xml\" style=\"display:{};height:{}px\" data=\"data:image/svg+xml;base64,{}\"></object>",
                    if i == 0 { "block" } else { "none" },
                    svg_height(&svg),
                    base64(svg.as_bytes())
                );
            }
            Err(e) => {
                let _ = write!(bodies, "<p class=\"note\" data-fg=\"{i}\">{}</p>", esc(&e.to_string()));
            }
        }
    }
    s.push_str("</div>");
    s.push_str(&bodies);
    s
}

/// An SVG's height attribute, for the frame it is shown in.
fn svg_height(svg: &str) -> u32 {
    svg.split_once("height=\"")
        .and_then(|(_, rest)| rest.split('"').next())
        .and_then(|h| h.trim_end_matches("px").parse::<f64>().ok())
        .map_or(400, |h| h.ceil() as u32 + 4)
}

/// Base64, for the flame graphs' data: URLs.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_as_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
