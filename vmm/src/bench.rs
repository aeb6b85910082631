//! Placeholder replaced below.
pub const DEFAULT_PAGES: u64 = 16384;
pub struct Report;
impl Report { pub fn to_json(&self) -> String { String::new() } }
impl std::fmt::Display for Report { fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { Ok(()) } }
pub fn run(_: u64, _: u32) -> anyhow::Result<Report> { Ok(Report) }
