//! The pictures: a trace Perfetto opens, and one self-contained HTML page
//! that a real browser renders, from a run or from a saved CSV.

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::{faultline, tmp};

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

/// A screenshot of `url` by headless Chromium, `width` by `height`, after
/// its scripts ran: its pixels (RGB or RGBA), and the DOM they left.
fn chromium(url: &str, tag: &str, width: u32, height: u32) -> (Vec<Vec<u8>>, String) {
    let png = tmp(&format!("{tag}.png"));
    let common = |c: &mut Command| {
        c.args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
            .arg(format!("--window-size={width},{height}"))
            // Scripts run (and charts draw) before the picture is taken.
            .arg("--virtual-time-budget=5000")
            // A profile of its own: another Chromium running would take the
            // request over and leave no screenshot.
            .arg(format!("--user-data-dir={}", tmp(&format!("chromium-profile-{tag}")).display()));
    };
    let mut shot = Command::new("chromium");
    common(&mut shot);
    let out = shot
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .output()
        .expect("chromium runs (ci/setup installs it)");
    assert!(png.exists(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let mut dump = Command::new("chromium");
    common(&mut dump);
    let dom = dump.arg("--dump-dom").arg(url).output().expect("chromium runs");
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let pixels = buf[..info.buffer_size()].chunks(px).map(<[u8]>::to_vec).collect();
    (pixels, String::from_utf8_lossy(&dom.stdout).into_owned())
}

/// Pixels of exactly colour `#rrggbb`.
fn count(pixels: &[Vec<u8>], hex: &str) -> usize {
    let c = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
    let rgb = [(c >> 16) as u8, (c >> 8) as u8, c as u8];
    pixels.iter().filter(|p| p[..3] == rgb).count()
}

/// Pixels of colour `#rrggbb` drawn over white with an opacity from 0.3
/// to 1 (the heatmap's cells).
fn blended(pixels: &[Vec<u8>], hex: &str) -> usize {
    let c = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
    let rgb = [(c >> 16) as f64, ((c >> 8) & 0xff) as f64, (c & 0xff) as f64];
    pixels
        .iter()
        .filter(|p| {
            // The opacity each channel implies; one colour, one opacity.
            let a: Vec<f64> =
                (0..3).filter(|&i| rgb[i] < 200.0).map(|i| (255.0 - p[i] as f64) / (255.0 - rgb[i])).collect();
            let (lo, hi) = a.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
            let bright = (0..3).filter(|&i| rgb[i] >= 200.0).all(|i| (p[i] as f64) >= rgb[i] - 4.0);
            bright && lo >= 0.3 && hi <= 1.02 && hi - lo < 0.06
        })
        .count()
}

#[test]
fn the_html_report_is_self_contained_and_renders() {
    let (csv, html, _) = outputs("page");
    let page = std::fs::read_to_string(&html).unwrap();
    // Nothing fetched: the charting library and the data are inline.
    for bad in ["src=\"http", "<link", "@import", "url(http", "src=\"//"] {
        assert!(!page.contains(bad), "{bad} in the report");
    }
    assert!(page.contains("var uPlot=function()"), "uPlot inlined");
    // Regions per process, most faults first, with totals.
    let regions = &page[page.find("<h2>Regions</h2>").unwrap()..];
    assert!(
        // 64 hot pages read (the zero page) then written (cow), 2112 cold.
        regions.contains("<td class=\"l\">mmap</td><td>2176</td><td>64</td><td>2112</td><td>64</td><td>0</td>"),
        "{}",
        &regions[..regions.len().min(3000)]
    );
    let first = regions.find("<tr><td>1</td>").unwrap();
    assert!(regions[first..].starts_with("<tr><td>1</td><td class=\"l\">pressure-glibc</td><td class=\"l\">mmap</td>"));
    assert!(regions.contains("<td class=\"l\">total</td>"));
    // The same page from the saved CSV and its stacks table.
    let again = tmp("again.html");
    let out = faultline(&["report", csv.to_str().unwrap(), "--html", again.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let from_csv = std::fs::read_to_string(&again).unwrap();
    let section = |s: &str, from: &str, to: &str| {
        let a = s.find(from).unwrap();
        s[a..a + s[a..].find(to).unwrap()].to_string()
    };
    for (from, to) in
        [("<h2>Processes</h2>", "</table>"), ("<h2>Regions</h2>", "</table>"), ("<h2>Functions", "</table>")]
    {
        assert_eq!(section(&from_csv, from, to), section(&page, from, to), "{from}");
    }
    assert!(page.contains("<h2>Syscalls</h2>") && page.contains("<td class=\"l\">mmap</td><td>"), "the run's syscalls");
    // A real browser draws it: the charts, the legend's colours, the lanes.
    let (pixels, dom) = chromium(&format!("file://{}", html.display()), "page", 1400, 3000);
    let white = pixels.iter().filter(|p| p[0] > 245 && p[1] > 245 && p[2] > 245).count();
    assert!(white < pixels.len() * 99 / 100, "the screenshot is blank");
    assert!(dom.contains("class=\"uplot"), "uPlot drew no chart");
    assert_eq!(dom.matches("class=\"lane-title\"").count(), 1, "one process, one lane");
    assert!(dom.contains("pid 1 \u{b7} pressure-glibc"), "the lane names its process");
    for (kind, color) in faultline::report::html::KIND_COLORS {
        assert!(count(&pixels, color) >= 100, "the legend's {kind} ({color}) is not drawn");
    }
    // The heatmap's cells: this run's zero-fills, far more than a swatch.
    assert!(blended(&pixels, "#4e79a7") > 2000, "no zero-fill cells");
}

/// The fixture with known call paths, run with `flags`: its outputs.
fn stacks_run(fixture: &str, tag: &str, n: &str, m: &str) -> (PathBuf, PathBuf, PathBuf, PathBuf) {
    let (csv, folded, svg, html) = (
        tmp(&format!("{tag}.csv")),
        tmp(&format!("{tag}.folded")),
        tmp(&format!("{tag}.svg")),
        tmp(&format!("{tag}.html")),
    );
    let fixture = elf_fixtures::path(fixture);
    let out = faultline(&[
        "run",
        "-q",
        "--timeline",
        csv.to_str().unwrap(),
        "--folded",
        folded.to_str().unwrap(),
        "--flamegraph",
        svg.to_str().unwrap(),
        "--report",
        html.to_str().unwrap(),
        fixture.to_str().unwrap(),
        n,
        m,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    (csv, folded, svg, html)
}

/// The folded lines whose frames end with `tail`, by root.
fn ending(folded: &str, tail: &str) -> Vec<(String, u64)> {
    folded
        .lines()
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(f, _)| f.ends_with(tail))
        .map(|(f, n)| (f.split(';').next().unwrap().to_string(), n.parse().unwrap()))
        .collect()
}

#[test]
fn folded_stacks_count_each_call_path_exactly() {
    for (fixture, comm) in [("stacks", "stacks"), ("stacks-static", "stacks-static")] {
        let (csv, folded, svg, _) = stacks_run(fixture, &format!("paths-{comm}"), "100", "7");
        let text = std::fs::read_to_string(&folded).unwrap();
        // main -> build -> fill wrote 100 fresh pages; the forked child's
        // main -> dirty wrote 7 of them, each a copy.
        assert_eq!(ending(&text, ";main;build;fill"), [(format!("{comm} [1]"), 100)], "{fixture}:\n{text}");
        assert_eq!(ending(&text, ";main;dirty"), [(format!("{comm} [2]"), 7)], "{fixture}:\n{text}");
        // Every folded line is a root (process) and frames, then a count.
        assert!(text.lines().all(|l| l.starts_with(&format!("{comm} [")) && l.rsplit_once(' ').is_some()));
        // Only the cow faults, from the saved timeline: the child's 7 in dirty.
        let cow = tmp(&format!("paths-{comm}-cow.folded"));
        let out = faultline(&[
            "report",
            csv.to_str().unwrap(),
            "--html",
            tmp(&format!("paths-{comm}-again.html")).to_str().unwrap(),
            "--folded",
            cow.to_str().unwrap(),
            "--graph-events",
            "cow",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let cow = std::fs::read_to_string(&cow).unwrap();
        assert_eq!(ending(&cow, ";main;dirty"), [(format!("{comm} [2]"), 7)], "{cow}");
        assert!(ending(&cow, ";fill").is_empty(), "zero-fills are not cows: {cow}");
        // The stacks table names the frames with their source lines.
        let stacks = std::fs::read_to_string(faultline::timeline::stacks_path(&csv)).unwrap();
        assert!(stacks.lines().any(|l| l.contains(",fill+0x") && l.contains(",stacks.c:")), "{stacks}");
        assert!(std::fs::read_to_string(&svg).unwrap().contains("fill (100 faults"), "the flame graph's frame");
    }
}

#[test]
fn the_csv_replays_each_process_to_zero_at_its_exit() {
    let (csv, _, _, _) = stacks_run("stacks", "replay", "64", "5");
    let rows = faultline::report::rows::read_csv(csv.to_str().unwrap()).unwrap();
    // Each process's resident pages, replayed from its rows as a script
    // would: up with its faults, down to 0 at its exit row, and no row of
    // it after.
    let mut rss: std::collections::BTreeMap<u32, (u64, u64)> = Default::default();
    let mut exited = Vec::new();
    for r in &rows {
        assert!(!exited.contains(&r.pid), "a row of pid {} after its exit: {r:?}", r.pid);
        let (now, peak) = rss.entry(r.pid).or_insert((0, 0));
        if r.event == "exit" {
            assert!(*now > 0 && r.rss == 0, "pid {}: {now} pages before its exit, {} after", r.pid, r.rss);
            exited.push(r.pid);
        }
        *now = r.rss;
        *peak = (*peak).max(r.rss);
    }
    assert!(rss.values().all(|&(now, peak)| now == 0 && peak > 0), "{rss:?}");
    // Summed over processes at each row, as a chart stacks them.
    let total: u64 = rss.values().map(|v| v.0).sum();
    assert_eq!(total, 0);
    assert_eq!(exited, [2, 1], "the child ends first, then pid 1");
    let life: Vec<(String, u32, u32, String)> =
        rows.iter().filter(|r| r.is_lifecycle()).map(|r| (r.event.clone(), r.pid, r.parent, r.comm.clone())).collect();
    let s = |x: &str| x.to_string();
    assert_eq!(
        life,
        [
            (s("exec"), 1, 0, s("stacks")),
            (s("fork"), 2, 1, s("stacks")),
            (s("exit"), 2, 1, s("stacks")),
            (s("exit"), 1, 0, s("stacks")),
        ]
    );
    // The child's fork row counts the pages it shares with its parent.
    let fork = rows.iter().find(|r| r.event == "fork").unwrap();
    assert!(fork.rss >= 64, "{fork:?}");
}

#[test]
fn the_flame_graph_and_the_lanes_render() {
    let (_, _, svg, html) = stacks_run("stacks", "render", "200", "40");
    let (pixels, dom) = chromium(&format!("file://{}", svg.display()), "flame", 1200, 700);
    let white = pixels.iter().filter(|p| p[0] > 245 && p[1] > 245 && p[2] > 245).count();
    assert!(white < pixels.len() * 9 / 10, "the flame graph is blank");
    // inferno's "mem" palette: greens, many frames' worth.
    let green = pixels.iter().filter(|p| p[1] > 150 && p[0] < 120 && p[2] < 160).count();
    assert!(green > 5000, "no frames drawn ({green} green pixels)");
    assert!(dom.contains("fill") && dom.contains("dirty"), "the frames are named");
    // The page: a lane for each process, with fork and exit, cow cells.
    let (pixels, dom) = chromium(&format!("file://{}", html.display()), "lanes", 1400, 3000);
    assert_eq!(dom.matches("class=\"lane-title\"").count(), 2, "two processes, two lanes");
    assert!(dom.contains("pid 2 \u{b7} stacks \u{b7} child of 1"), "the child's lane");
    let cow = faultline::report::html::KIND_COLORS.iter().find(|k| k.0 == "cow").unwrap().1;
    // The legend's swatch (144 pixels) and the heatmap's cow cells, drawn
    // with some transparency over white.
    assert!(count(&pixels, cow) >= 100, "no cow swatch");
    assert!(blended(&pixels, cow) > 144 + 100, "no cow cells beyond the legend's swatch");
}
