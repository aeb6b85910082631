//! The pictures: a trace Perfetto opens, and one self-contained HTML page
//! that a real browser renders, from a run or from a saved CSV.

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::faultline;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A run of the hot/cold fixture with every output asked for, in files
/// named after `tag`.
fn outputs(tag: &str) -> (PathBuf, PathBuf, PathBuf) {
    let (csv, html, trace) = (tmp(&format!("{tag}.csv")), tmp(&format!("{tag}.html")), tmp(&format!("{tag}.json")));
    let fixture = elf_fixtures::path("pressure-glibc");
    let out = faultline(&[
        "run",
        "-q",
        "--timeline",
        csv.to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
        fixture.to_str().unwrap(),
        "hotcold",
        "64",
        "8",
        "16",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    (csv, html, trace)
}

#[test]
fn the_trace_holds_every_fault_and_resident_counters() {
    let (csv, _, trace) = outputs("trace");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let faults_in_csv = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split(',').collect();
            f[8] == "guest" && ["zero-fill", "file-copy", "cache-hit", "cow", "swap-in"].contains(&f[6])
        })
        .count();
    let instants = events
        .iter()
        .filter(|e| {
            e["ph"] == "i"
                && e["cat"] == "guest"
                && ["zero-fill", "file-copy", "cache-hit", "cow", "swap-in"].contains(&e["name"].as_str().unwrap())
        })
        .count();
    assert_eq!(instants, faults_in_csv);
    assert!(faults_in_csv > 2000);
    assert!(events.iter().any(|e| e["ph"] == "C" && e["name"] == "resident pages"));
    assert!(events.iter().any(|e| e["ph"] == "C" && e["name"] == "resident: mmap"));
    assert!(events.iter().any(|e| e["ph"] == "M" && e["name"] == "process_name"));
    // Syscalls as duration events, with their results.
    let mmaps: Vec<_> =
        events.iter().filter(|e| e["ph"] == "X" && e["cat"] == "syscall" && e["name"] == "mmap").collect();
    assert!(mmaps.len() >= 2, "the fixture maps its hot and cold areas");
    assert!(mmaps.iter().all(|e| e["args"]["ret"].as_i64().unwrap() > 0 && e["dur"].as_f64().unwrap() > 0.0));
    let last = events.iter().rfind(|e| e["ph"] == "C" && e["name"] == "resident: mmap").unwrap();
    assert_eq!(last["args"]["pages"], 64 + 8 * 256, "hot and cold pages all resident at the end");
}

#[test]
fn the_html_report_is_self_contained_and_renders() {
    let (csv, html, _) = outputs("page");
    let page = std::fs::read_to_string(&html).unwrap();
    // Nothing fetched: no scripts, no links, no external resources.
    for bad in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!page.contains(bad), "{bad} in the report");
    }
    assert!(page.contains("<svg") && page.contains("Faults by address and time"));
    assert!(page.contains("<tr><td>mmap</td><td>2176</td><td>64</td><td>2112</td><td></td><td>2112</td>"), "{page}");
    // The same page from the saved CSV.
    let again = tmp("again.html");
    let out = faultline(&["report", csv.to_str().unwrap(), "--html", again.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    // Everything but the syscalls, which a CSV does not hold.
    let body = |s: &str| {
        let end = s.find("<h2>Syscalls</h2>").or_else(|| s.find("</body>")).unwrap();
        s[s.find("<h2>").unwrap()..end].to_string()
    };
    assert_eq!(body(&std::fs::read_to_string(&again).unwrap()), body(&page));
    assert!(page.contains("<h2>Syscalls</h2>") && page.contains("<tr><td>mmap</td>"), "the run's syscalls");
    // A real browser draws it: a screenshot with the heatmap's red in it.
    let png = tmp("shot.png");
    let url = format!("file://{}", html.display());
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,1400"])
        // A profile of its own: another Chromium running would take the
        // request over and leave no screenshot.
        .arg(format!("--user-data-dir={}", tmp("chromium-profile").display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .expect("chromium runs (ci/setup installs it)");
    assert!(png.exists(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    let white = pixels.iter().filter(|p| p[0] > 245 && p[1] > 245 && p[2] > 245).count();
    let red = pixels.iter().filter(|p| p[0] > 150 && p[1] < 120 && p[2] < 120).count();
    assert!(white < pixels.len() * 99 / 100, "the screenshot is blank");
    assert!(red > 200, "no heatmap cells drawn ({red} red pixels)");
}
