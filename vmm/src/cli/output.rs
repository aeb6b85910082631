//! The files a run writes (the timeline, the JSON summary, the trace, the
//! page, folded stacks, the flame graph): all created before anything
//! runs, so a bad path fails first, then written from the outcome.

use std::fs::File;
use std::path::PathBuf;

use anyhow::{Context, Result};

use faultline::timeline::{CsvSink, EventSink};
use faultline::{Config, Outcome};

use super::options::OutputOpts;

/// The output files, created before anything runs, and the syscall log
/// the pictures draw from.
pub struct Opened {
    summary: Option<(PathBuf, File)>,
    trace: Option<(PathBuf, File)>,
    report: Option<(PathBuf, File)>,
    folded: Option<(PathBuf, File)>,
    flamegraph: Option<(PathBuf, File)>,
    select: faultline::report::folded::Select,
    calls: Option<faultline::strace::CallLog>,
}

impl OutputOpts {
    /// Creates every file asked for (so a bad path fails before anything
    /// runs) and sets `config` up for them: the timeline streams to its
    /// CSV; the pictures need every event and syscall.
    pub fn open(&self, config: &mut Config) -> Result<Opened> {
        let open = |p: &Option<PathBuf>| p.as_deref().map(|p| create(p).map(|f| (p.to_path_buf(), f))).transpose();
        let (summary, trace, report) = (open(&self.summary)?, open(&self.trace)?, open(&self.report)?);
        let (folded, flamegraph) = (open(&self.folded)?, open(&self.flamegraph)?);
        config.stacks |= self.stacks();
        if let Some(path) = &self.timeline {
            // The stacks table beside it, when there are stacks.
            let out = create(path)?;
            let sink = if config.stacks {
                let stacks = faultline::timeline::stacks_path(path);
                CsvSink::with_stacks(out, create(&stacks)?)
            } else {
                CsvSink::new(out)
            };
            let sink = sink.with_context(|| format!("cannot write {}", path.display()))?;
            config.sinks.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(sink) as Box<dyn EventSink>);
        }
        let pictures = trace.is_some() || report.is_some() || folded.is_some() || flamegraph.is_some();
        config.keep_events |= pictures;
        let calls = (trace.is_some() || report.is_some()).then(faultline::strace::CallLog::default);
        if calls.is_some() {
            config.calls = calls.clone();
        }
        Ok(Opened { summary, trace, report, folded, flamegraph, select: self.graph_events.clone(), calls })
    }

    /// Whether these outputs draw call stacks (so the run unwinds them).
    pub fn stacks(&self) -> bool {
        self.folded.is_some() || self.flamegraph.is_some() || self.report.is_some()
    }

    /// The same files, each named for scenario `name` (t.csv: t-name.csv).
    pub fn for_scenario(&self, name: &str) -> OutputOpts {
        let named = |p: &Option<PathBuf>| {
            p.as_ref().map(|p| {
                let stem = p.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                let file = match p.extension() {
                    Some(ext) => format!("{stem}-{name}.{}", ext.to_string_lossy()),
                    None => format!("{stem}-{name}"),
                };
                p.with_file_name(file)
            })
        };
        OutputOpts {
            timeline: named(&self.timeline),
            summary: named(&self.summary),
            trace: named(&self.trace),
            report: named(&self.report),
            folded: named(&self.folded),
            flamegraph: named(&self.flamegraph),
            graph_events: self.graph_events.clone(),
        }
    }

    /// The options as a command line would give them.
    pub fn words(&self) -> Vec<String> {
        [
            ("--timeline", &self.timeline),
            ("--summary", &self.summary),
            ("--trace", &self.trace),
            ("--report", &self.report),
            ("--folded", &self.folded),
            ("--flamegraph", &self.flamegraph),
        ]
        .iter()
        .filter_map(|(opt, p)| p.as_ref().map(|p| format!("{opt} {}", p.display())))
        .collect()
    }
}

impl Opened {
    /// Writes the JSON summary, the trace and the page, from `outcome`.
    pub fn write(self, outcome: &Outcome, title: &str) -> Result<()> {
        if let Some((path, f)) = self.summary {
            write_out(&path, f, &serde_json::to_string_pretty(&faultline::report::summary::to_json(outcome))?)?;
        }
        if self.trace.is_some() || self.report.is_some() || self.folded.is_some() || self.flamegraph.is_some() {
            use faultline::report::rows::{Row, StackTable};
            let rows: Vec<Row> = outcome.events.iter().map(|e| Row::from_event(e, &outcome.regions)).collect();
            let calls = self
                .calls
                .map(|c| std::mem::take(&mut *c.lock().unwrap_or_else(|p| p.into_inner())))
                .unwrap_or_default();
            let stacks = StackTable::from_events(&outcome.events);
            let limits = faultline::report::html::Limits::of(outcome);
            let pictures = Pictures { title: title.to_string(), rows, stacks, calls, limits, select: self.select };
            pictures.write(self.trace, self.report, self.folded, self.flamegraph)?;
        }
        Ok(())
    }
}

/// What the trace, the page, the folded stacks and the flame graph are
/// drawn from: a run's events, or a saved timeline.
pub struct Pictures {
    pub title: String,
    pub rows: Vec<faultline::report::rows::Row>,
    pub stacks: faultline::report::rows::StackTable,
    pub calls: Vec<faultline::strace::CallRecord>,
    pub limits: faultline::report::html::Limits,
    pub select: faultline::report::folded::Select,
}

/// A file asked for, created: its path (for messages) and the file.
pub type Out = Option<(PathBuf, File)>;

impl Pictures {
    pub fn write(&self, trace: Out, report: Out, folded: Out, flamegraph: Out) -> Result<()> {
        use faultline::report::{folded as fold, html, trace as chrome};
        if let Some((path, f)) = trace {
            write_out(&path, f, &chrome::to_json(&self.rows, &self.calls, &Default::default()).to_string())?;
        }
        let lines = fold::folded(&self.rows, &self.stacks, &self.select);
        if let Some((path, mut f)) = folded {
            use std::io::Write;
            f.write_all(fold::text(&lines).as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
        }
        if let Some((path, f)) = flamegraph {
            write_out(&path, f, &fold::flamegraph(&lines, &self.title, &self.select.describe())?)?;
        }
        if let Some((path, f)) = report {
            let page = html::Page {
                title: &self.title,
                rows: &self.rows,
                stacks: &self.stacks,
                calls: &self.calls,
                limits: self.limits,
            };
            write_out(&path, f, &html::render(&page))?;
        }
        Ok(())
    }
}

pub fn create(path: &std::path::Path) -> Result<File> {
    File::create(path).with_context(|| format!("cannot create {}", path.display()))
}

pub fn write_out(path: &std::path::Path, mut f: File, text: &str) -> Result<()> {
    use std::io::Write;
    writeln!(f, "{text}").with_context(|| format!("cannot write {}", path.display()))
}
