//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use faultline::abi::Output;
use faultline::loader::Image;
use faultline::timeline::{Access, Event, EventKind, Origin};
use faultline::{Config, Outcome, Sandbox};

pub struct Run {
    pub outcome: Outcome,
    /// The program's stdout, byte for byte.
    pub stdout_bytes: Vec<u8>,
    /// The same, as text (lossy).
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.outcome.status.code()
    }

    /// Guest faults per region: (region, access, event) -> count.
    pub fn faults(&self) -> BTreeMap<(String, Access, EventKind), u64> {
        let mut m = BTreeMap::new();
        for e in self.outcome.events.iter().filter(|e| e.origin == Origin::Guest) {
            *m.entry((self.region(e), e.access, e.kind)).or_insert(0) += 1;
        }
        m
    }

    pub fn region(&self, e: &Event) -> String {
        e.region.map(|r| self.outcome.regions.name(r).to_string()).unwrap_or_else(|| "?".into())
    }

    /// Guest faults in `region`.
    pub fn guest_faults_in(&self, region: &str) -> u64 {
        self.outcome.summary.region(region).map(|r| r.faults()).unwrap_or(0)
    }

    /// Events without times and latencies: what must repeat exactly.
    pub fn stable_rows(&self) -> Vec<String> {
        self.outcome
            .events
            .iter()
            .map(|e| {
                format!(
                    "{},{},{:#x},{:#x},{:?},{:?},{:?}",
                    e.seq,
                    self.region(e),
                    e.gva,
                    e.gpa,
                    e.access,
                    e.kind,
                    e.origin
                )
            })
            .collect()
    }
}

pub fn config(argv: &[&str]) -> Config {
    Config {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        stdout: Output::capture(),
        stderr: Output::capture(),
        timeout: Some(Duration::from_secs(30)),
        ..Config::default()
    }
}

pub fn run_image(image: &Image, config: Config) -> Run {
    let (out, err) = (config.stdout.clone(), config.stderr.clone());
    let outcome = Sandbox::new(image, config).expect("sandbox").run().expect("run");
    let stdout_bytes = out.captured_bytes();
    Run { outcome, stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(), stdout_bytes, stderr: err.captured() }
}

/// Runs fixture `name` with `args` (argv[0] is the name).
pub fn run_fixture(name: &str, args: &[&str]) -> Run {
    let image = Image::from_file(&elf_fixtures::path(name)).expect("fixture loads");
    let mut argv = vec![name];
    argv.extend_from_slice(args);
    run_image(&image, config(&argv))
}

pub fn demo_image() -> Image {
    Image::from_bytes("demo".into(), Arc::from(faultline_guest_demo())).unwrap()
}

fn faultline_guest_demo() -> &'static [u8] {
    faultline::guest::DEMO_ELF
}
