//! What a finished run is turned into for people and other tools: the
//! summary as JSON with a stable schema, a Chrome/Perfetto trace, one
//! self-contained HTML page, and a comparison of two timelines. Built from
//! an [`Outcome`] or a saved CSV alone, above every other layer.
//!
//! [`Outcome`]: crate::Outcome

pub mod diff;
pub mod folded;
pub mod html;
pub mod rows;
pub mod summary;
pub mod trace;
