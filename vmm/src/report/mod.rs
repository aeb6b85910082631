//! What a finished run is turned into for people and other tools: the
//! summary as JSON with a stable schema. Built from an [`Outcome`] alone,
//! above every other layer.
//!
//! [`Outcome`]: crate::Outcome

pub mod diff;
pub mod summary;
