//! Event loops: epoll, eventfd, timerfd and signalfd, with a pipe and a
//! forked child, in an unmodified static program whose output and exit
//! status must equal a native run's; and a small server over unix and TCP
//! sockets whose timeline shows its heap growing by each connection's
//! buffer.

mod support;

use support::*;

#[test]
fn an_epoll_event_loop_runs_as_natively() {
    for libc in ["glibc", "musl"] {
        let name = format!("evloop-{libc}");
        let run = run_fixture(&name, &[]);
        let (native, code) = run_native(&name, &[]);
        assert_eq!(code, 3, "{libc} natively: {native}");
        assert_eq!(run.code(), 3, "{libc}: {}\n{}", run.stdout, run.stderr);
        for (n, (a, b)) in native.lines().zip(run.stdout.lines()).enumerate() {
            assert_eq!(b, a, "{libc}: line {} differs from Linux", n + 1);
        }
        assert_eq!(run.stdout, native, "{libc}");
        // What Linux says, whatever the libc.
        for line in [
            "sizeof(struct epoll_event) = 12",
            "nest b in a (a loop)                     ok",
            "eventfd read fffffffffffffffe",
            "written: lt 1 data 1122334455667788 et 1 then 0 oneshot 1 then 0",
            "again: lt 1 et 1 oneshot 0 oneshot after mod 1",
            "reader closed: c",
            "anon_inode:[eventfd] mode 600 size 0",
            "SIGCHLD: code CLD_EXITED pid the child's status 7",
            "pipe: \"hello from the child\" then EOF",
            "eventfd: 42",
        ] {
            assert!(run.stdout.lines().any(|l| l == line), "{libc}: no {line:?} in\n{}", run.stdout);
        }
    }
}

/// The server's buffers as it reports them on stderr: (connection, the
/// pages wholly inside its buffer). Only those are the buffer's alone:
/// its edges share pages with the allocator's headers and its neighbours.
fn buffer_pages(stderr: &str) -> Vec<(u64, Vec<u64>)> {
    stderr
        .lines()
        .filter(|l| l.starts_with("conn="))
        .map(|l| {
            let k: u64 = l["conn=".len()..].split(' ').next().unwrap().parse().unwrap();
            let (buf, len) = (hex_field(l, "buf"), hex_field(l, "len"));
            let (first, end) = ((buf + 4095) & !4095, (buf + len) & !4095);
            (k, (first..end).step_by(4096).collect())
        })
        .collect()
}

#[test]
fn a_server_runs_as_natively_and_grows_by_each_connections_buffer() {
    use faultline::timeline::{Access, EventKind};
    for libc in ["glibc", "musl"] {
        let name = format!("server-{libc}");
        let run = run_fixture(&name, &[]);
        let (native, code) = run_native(&name, &[]);
        // Its exit status is the connections it served.
        assert_eq!(code, 4, "{libc} natively: {native}");
        assert_eq!(run.code(), 4, "{libc}: {}\n{}", run.stdout, run.stderr);
        assert_eq!(run.stdout, native, "{libc}");
        let bufs = buffer_pages(&run.stderr);
        assert_eq!(bufs.iter().map(|b| b.0).collect::<Vec<_>>(), [1, 2, 3, 4], "{libc}: {}", run.stderr);
        // The server is pid 1; its rows in order, each with its RSS after.
        let server: Vec<_> = run.outcome.events.iter().filter(|e| e.pid == 1).collect();
        let mut last_seq = 0;
        for (k, pages) in &bufs {
            // 64 KiB: 16 pages, 15 wholly inside when malloc did not align it.
            assert!(pages.len() == 16 || pages.len() == 15, "{libc} conn {k}: {pages:x?}");
            let rows: Vec<usize> = (0..server.len())
                .filter(|&i| server[i].kind != EventKind::Release && pages.contains(&(server[i].gva & !4095)))
                .collect();
            // One zero-filled page per page of the buffer, written, in the
            // heap, and nothing else there: the server's memory grows by
            // exactly the buffer.
            assert_eq!(
                rows.len(),
                pages.len(),
                "{libc} conn {k}: {:?}",
                rows.iter().map(|&i| server[i]).collect::<Vec<_>>()
            );
            for &i in &rows {
                let e = server[i];
                assert_eq!((e.kind, e.access), (EventKind::ZeroFill, Access::Write), "{libc} conn {k}: {e:?}");
                assert_eq!(run.region(e), "heap", "{libc} conn {k}: {e:?}");
                assert_eq!(e.rss, server[i - 1].rss + 1, "{libc} conn {k}: RSS after {e:?}");
            }
            let mut seen: Vec<u64> = rows.iter().map(|&i| server[i].gva & !4095).collect();
            seen.sort_unstable();
            assert_eq!(&seen, pages, "{libc} conn {k}: each page once");
            // Connection after connection: this buffer's pages came after
            // the last one's.
            let first = rows.iter().map(|&i| server[i].seq).min().unwrap();
            assert!(first > last_seq, "{libc} conn {k}: its pages came before the previous connection's");
            last_seq = rows.iter().map(|&i| server[i].seq).max().unwrap();
        }
    }
}

/// The timeline CSV's rows, each a map from the header's column names.
fn csv_rows(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    lines
        .map(|l| {
            // No field of these rows is quoted: a comma always separates.
            assert!(!l.contains('"'), "a quoted row: {l}");
            header.iter().map(|h| h.to_string()).zip(l.split(',').map(str::to_string)).collect()
        })
        .collect()
}

#[test]
fn the_timeline_csv_shows_the_server_growing_by_each_connection() {
    // What a user sees with `faultline run --timeline`: the same growth as
    // the library's events, connection by connection, in the CSV file.
    let csv = tmp("server-timeline.csv");
    let out = faultline(&["run", "-q", "--timeline", csv.to_str().unwrap(), &fixture_arg("server-glibc")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let bufs = buffer_pages(&stderr);
    assert_eq!(bufs.len(), 4, "{stderr}");
    let rows = csv_rows(&std::fs::read_to_string(&csv).unwrap());
    let num = |r: &std::collections::HashMap<String, String>, k: &str| -> u64 {
        let v = &r[k];
        match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).unwrap(),
            None => v.parse().unwrap_or_else(|_| panic!("{k}={v:?}")),
        }
    };
    let server: Vec<_> = rows.iter().filter(|r| r["pid"] == "1").collect();
    assert!(server.windows(2).all(|w| num(w[0], "seq") < num(w[1], "seq")), "rows in order");
    let mut rss_before = 0;
    for (k, pages) in &bufs {
        let mine: Vec<usize> = (0..server.len())
            .filter(|&i| server[i]["event"] != "release" && pages.contains(&(num(server[i], "gva") & !4095)))
            .collect();
        assert_eq!(mine.len(), pages.len(), "conn {k}: one row per page of its buffer");
        for &i in &mine {
            let r = server[i];
            assert_eq!(
                (r["event"].as_str(), r["access"].as_str(), r["region"].as_str()),
                ("zero-fill", "write", "heap"),
                "conn {k}: {r:?}"
            );
            assert_eq!(num(r, "rss"), num(server[i - 1], "rss") + 1, "conn {k}: RSS grows by the page: {r:?}");
        }
        // The server's resident pages after this connection's buffer: more
        // than after the last one's by at least the buffer.
        let after = num(server[*mine.last().unwrap()], "rss");
        assert!(after >= rss_before + pages.len() as u64, "conn {k}: RSS {after} after {rss_before}");
        rss_before = after;
    }
}
