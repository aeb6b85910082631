//! faultline's own errors, each one line on stderr: a usage error from
//! clap, a failure with its causes, a panic.

/// Exit status when faultline itself fails (as env(1) and timeout(1) use
/// it), so it is never mistaken for the program's own.
pub const TOOL_FAILURE: u8 = 125;

/// A usage error from clap in one line: its message (with the line under
/// it, where a list follows) and a similar option if clap found one, then
/// where help is. Clap's own form is a paragraph with the usage.
pub fn usage_error(e: &clap::Error) -> String {
    use clap::error::ErrorKind;
    let sub = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .filter(|a| ["run", "demo", "report", "diff", "bench"].contains(&a.as_str()));
    let help = match &sub {
        Some(s) => format!("faultline {s} --help"),
        None => "faultline --help".into(),
    };
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return format!("a command is needed: run, demo, report, diff or bench (see {help})");
    }
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim);
    let mut msg = lines.next().unwrap_or_default().trim_start_matches("error:").trim().to_string();
    for l in lines {
        if l.starts_with("Usage:") || l.starts_with("For more information") {
            break;
        }
        if l.is_empty() {
            continue;
        }
        match l.strip_prefix("tip:").map(str::trim) {
            Some(tip) if tip.starts_with("a similar") => msg = format!("{msg}; {tip}"),
            Some(_) => {}
            None => msg = format!("{msg} {l}"),
        }
    }
    faultline::text::tame_n(&format!("{msg} (see {help})"), 1000)
}

/// The error and its causes on one line, skipping causes whose text the
/// message before them already includes.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    // Parts quote files and guests: no control bytes reach the terminal.
    faultline::text::tame_n(&out.replace('\n', " "), 2000)
}

/// A panic is one line like every other error of faultline's (a thread
/// of its own panicking ends the run through its failure path); the
/// default report, backtrace and all, if RUST_BACKTRACE asks for it.
pub fn panics_in_one_line() {
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|info| {
            let thread = std::thread::current().name().unwrap_or("main").to_string();
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            let line = faultline::text::tame_n(&format!("thread {thread} panicked{at}: {msg}"), 1000);
            eprintln!("faultline: internal error: {line}");
        }));
    }
}
