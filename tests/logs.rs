//! The logs: each access log format read back by what reads it in
//! production (GoAccess for `common` and `combined`, `serde_json` for
//! `json`), the access log file rotated by the real `logrotate` under
//! load without losing a line, and the error log's times, levels and
//! `--quiet`.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use common::{Root, Server, level, message, require, run_ok, wait_until};

const HELLO: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello\\n'\n";

/// The lines of `path` (none if it does not exist).
fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Waits until `path` holds `n` lines; returns them.
fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    wait_until(&format!("{n} lines in {}", path.display()), || {
        let l = lines(path);
        (l.len() >= n).then_some(l)
    })
}

/// A request's Referer and User-Agent, if it sends them.
type Sent<'a> = Option<(&'a str, &'a str)>;

/// Sends a GET with a Referer and a User-Agent.
fn get_from(server: &Server, path: &str, referer: &str, agent: &str) -> u16 {
    let raw = format!(
        "GET {path} HTTP/1.1\r\nHost: test\r\nReferer: {referer}\r\nUser-Agent: {agent}\r\nConnection: close\r\n\r\n"
    );
    server.exchange(raw.as_bytes()).status
}

/// GoAccess's summary of `log` read with `args`, as JSON.
fn goaccess(log: &Path, args: &[&str]) -> serde_json::Value {
    let goaccess = require("goaccess", "goaccess");
    let report = log.with_extension("report.json");
    run_ok(
        Command::new(goaccess)
            .arg(log)
            .args(args)
            .args(["--no-global-config", "-o"])
            .arg(&report),
    );
    let text = fs::read_to_string(&report).expect("GoAccess's report");
    serde_json::from_str(&text).expect("GoAccess writes JSON")
}

#[test]
fn the_common_log_with_its_duration_is_read_by_goaccess() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let server = root.start(&["--access-log", log.to_str().unwrap()]);
    for _ in 0..3 {
        assert_eq!(server.get("/cgi-bin/hello.sh").status, 200);
    }
    assert_eq!(server.get("/cgi-bin/missing").status, 404);
    let written = wait_lines(&log, 4);
    assert!(server.access_log().is_empty(), "nothing on stdout");
    for line in &written {
        let duration = line.rsplit(' ').next().unwrap();
        let ms = duration
            .strip_suffix("ms")
            .and_then(|d| d.parse::<f64>().ok());
        assert!(ms.is_some(), "{line}");
    }
    // The README's GoAccess command for this format.
    let report = goaccess(
        &log,
        &[
            "--log-format=%h %^ %e [%d:%t %^] \"%r\" %s %b %Lms",
            "--date-format=%d/%b/%Y",
            "--time-format=%T",
        ],
    );
    let general = &report["general"];
    assert_eq!(general["valid_requests"], 4, "{general}");
    assert_eq!(general["failed_requests"], 0, "{general}");
    let body_bytes: u64 = written
        .iter()
        .map(|l| l.split(' ').nth(9).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(general["bandwidth"], body_bytes, "{general}");
    assert_eq!(general["unique_not_found"], 1, "{general}");
}

#[test]
fn the_combined_log_is_apaches_and_read_by_goaccess() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let server = root.start(&[
        "--access-log",
        log.to_str().unwrap(),
        "--log-format",
        "combined",
    ]);
    // Each line is written once its response has gone: wait for it
    // before the next request, so the lines keep the requests' order.
    let from = "http://example.org/page";
    let requests: [(&str, Sent, u16); 4] = [
        (
            "/cgi-bin/hello.sh?a=1",
            Some((from, "Mozilla/5.0 (X11)")),
            200,
        ),
        ("/cgi-bin/missing", Some((from, "curl/7.88.1")), 404),
        // A quote in a field cannot end it.
        ("/cgi-bin/hello.sh", Some((from, "evil\" 200 9")), 200),
        ("/cgi-bin/hello.sh", None, 200),
    ];
    for (i, (path, sent, status)) in requests.into_iter().enumerate() {
        let got = match sent {
            Some((referer, agent)) => get_from(&server, path, referer, agent),
            None => server.get(path).status,
        };
        assert_eq!(got, status, "{path}");
        wait_lines(&log, i + 1);
    }
    let written = lines(&log);
    // host ident user [date] "request" status bytes "referer" "agent"
    let first = &written[0];
    let (head, rest) = first.split_once(" [").unwrap();
    assert_eq!(head, "127.0.0.1 - -");
    let (date, rest) = rest.split_once("] ").unwrap();
    assert!(date.ends_with(" +0000"), "{first}");
    assert_eq!(
        rest,
        "\"GET /cgi-bin/hello.sh?a=1 HTTP/1.1\" 200 6 \"http://example.org/page\" \"Mozilla/5.0 (X11)\""
    );
    assert!(
        written[2].ends_with(" \"evil\\x22 200 9\""),
        "{}",
        written[2]
    );
    assert!(written[3].ends_with(" 200 6 \"-\" \"-\""), "{}", written[3]);
    let report = goaccess(&log, &["--log-format=COMBINED"]);
    let general = &report["general"];
    assert_eq!(general["valid_requests"], 4, "{general}");
    assert_eq!(general["failed_requests"], 0, "{general}");
    assert_eq!(general["unique_not_found"], 1, "{general}");
    assert_eq!(general["bandwidth"], 6 * 3 + 38, "{general}");
}

#[test]
fn json_lines_carry_the_script_its_pid_and_exit_status() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    root.script(
        "three.sh",
        "#!/bin/sh\nprintf 'Status: 500 Oops\\n\\nno\\n'\nexit 3\n",
    );
    root.script(
        "killed.sh",
        "#!/bin/sh\nprintf 'Content-Type: x\\n\\n'\nkill -9 $$\n",
    );
    let server = root.start(&["--log-format", "json"]);
    let logged = |n: usize| {
        wait_until(&format!("{n} access lines"), || {
            (server.access_log().len() >= n).then_some(())
        })
    };
    get_from(
        &server,
        "/cgi-bin/hello.sh?x=%22",
        "http://r.example/",
        "agent \"q\"",
    );
    logged(1);
    server.get("/cgi-bin/three.sh");
    logged(2);
    // Killed mid-response: the response is cut, only its head is read.
    let mut killed = server.connect();
    killed.send(b"GET /cgi-bin/killed.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    killed.read_head(false).unwrap();
    logged(3);
    server.get("/cgi-bin/missing");
    let objects: Vec<serde_json::Value> = wait_until("4 access lines", || {
        let l = server.access_log();
        (l.len() >= 4).then_some(l)
    })
    .iter()
    .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
    .collect();

    let hello = &objects[0];
    assert_eq!(hello["remote"], "127.0.0.1");
    assert_eq!(hello["user"], serde_json::Value::Null);
    assert_eq!(hello["method"], "GET");
    assert_eq!(hello["target"], "/cgi-bin/hello.sh?x=%22");
    assert_eq!(hello["protocol"], "HTTP/1.1");
    assert_eq!(hello["status"], 200);
    assert_eq!(hello["bytes"], 6);
    assert!(hello["duration_ms"].as_f64().unwrap() > 0.0, "{hello}");
    assert_eq!(hello["script"], "/cgi-bin/hello.sh");
    assert_eq!(hello["exit_code"], 0);
    assert_eq!(hello["exit_signal"], serde_json::Value::Null);
    assert_eq!(hello["user_agent"], "agent \"q\"");
    assert_eq!(hello["referer"], "http://r.example/");
    let time = hello["time"].as_str().unwrap();
    assert!(time.len() == 24 && time.ends_with('Z'), "{time}");
    // The pid is the one the error log names.
    let pid = hello["pid"].as_u64().unwrap();
    server.wait_stderr(&format!("/cgi-bin/hello.sh[{pid}]: exit 0 after"));

    assert_eq!(
        (&objects[1]["status"], &objects[1]["exit_code"]),
        (&500.into(), &3.into())
    );
    assert_eq!(objects[2]["exit_signal"], "SIGKILL");
    assert_eq!(objects[2]["exit_code"], serde_json::Value::Null);
    let missing = &objects[3];
    assert_eq!(missing["status"], 404);
    assert_eq!(missing["script"], serde_json::Value::Null);
    assert_eq!(missing["pid"], serde_json::Value::Null);
}

/// Keep-alive clients requesting hello.sh until `stop`, counting the
/// responses they got.
fn load(
    server: &Server,
    stop: &Arc<AtomicBool>,
    done: &Arc<AtomicUsize>,
) -> Vec<thread::JoinHandle<()>> {
    (0..3)
        .map(|_| {
            let mut client = server.connect();
            let (stop, done) = (stop.clone(), done.clone());
            thread::spawn(move || {
                // Bounded, whatever happens to the test.
                for _ in 0..20_000 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    client.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n\r\n");
                    assert_eq!(client.response().status, 200);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect()
}

#[test]
fn logrotate_under_load_loses_no_line() {
    let logrotate = require("logrotate", "logrotate");
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let logs = tempfile::tempdir().unwrap();
    let dir = logs.path().canonicalize().unwrap();
    let log = dir.join("access.log");
    let server = root.start(&["--access-log", log.to_str().unwrap()]);
    // The README's logrotate configuration, for this log and this rcgi.
    let config = dir.join("rcgi.logrotate");
    let text = common::readme_block("(`/etc/logrotate.d/rcgi`)");
    let text = common::replaced(&text, "/var/log/rcgi/access.log", log.to_str().unwrap());
    let text = common::replaced(
        &text,
        "systemctl kill --signal=HUP --kill-whom=main rcgi.service",
        &format!("kill -HUP {}", server.pid()),
    );
    fs::write(&config, text).unwrap();
    let rotate = || {
        run_ok(
            Command::new(&logrotate)
                .arg("-f")
                .arg("-s")
                .arg(dir.join("state"))
                .arg(&config),
        )
    };

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let clients = load(&server, &stop, &done);
    let at_least = |n: usize| {
        wait_until(&format!("{n} requests"), || {
            (done.load(Ordering::Relaxed) >= n).then_some(())
        })
    };
    at_least(100);
    rotate();
    server.wait_stderr("reopened the access log");
    // Lines go to the new file, while the load goes on.
    wait_lines(&log, 20);
    let reopened = server.stderr().len();
    rotate();
    wait_until("the second reopen", || {
        server.stderr()[reopened..]
            .iter()
            .any(|l| l.contains("reopened the access log"))
            .then_some(())
    });
    wait_lines(&log, 20);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let total = done.load(Ordering::Relaxed);
    let files = [
        dir.join("access.log.2"),
        dir.join("access.log.1"),
        log.clone(),
    ];
    let all = wait_until(&format!("{total} lines in the three files"), || {
        let all: Vec<String> = files.iter().flat_map(|f| lines(f)).collect();
        (all.len() >= total).then_some(all)
    });
    assert_eq!(all.len(), total, "no line twice");
    for f in &files {
        assert!(!lines(f).is_empty(), "{} has lines", f.display());
    }
    for line in &all {
        assert!(
            line.starts_with("127.0.0.1 - - [")
                && line.contains("\"GET /cgi-bin/hello.sh HTTP/1.1\" 200 6 "),
            "a whole line: {line:?}"
        );
    }
    let reopen = server.wait_stderr("reopened the access log");
    assert_eq!(level(&reopen), "info");
}

#[test]
fn quiet_keeps_warnings_errors_and_the_listening_line() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    root.script("grumpy.sh", "#!/bin/sh\necho 'grumbling' >&2\nexit 1\n");
    let quiet = root.start(&["--quiet"]);
    let loud = root.start(&[]);
    for server in [&quiet, &loud] {
        server.get("/cgi-bin/hello.sh");
        server.get("/cgi-bin/grumpy.sh");
        let grumble = server.wait_stderr("grumbling");
        assert_eq!(level(&grumble), "warn");
        let failed = server.wait_stderr("/cgi-bin/grumpy.sh[");
        assert!(
            message(&failed).starts_with("rcgi: /cgi-bin/grumpy.sh["),
            "{failed}"
        );
        server.wait_access("grumpy.sh");
        // SIGHUP with the access log on stdout changes nothing.
        common::signal(server.pid() as i32, nix::sys::signal::Signal::SIGHUP);
        assert_eq!(server.get("/cgi-bin/hello.sh").status, 200);
    }
    let ended = loud.wait_stderr("/cgi-bin/hello.sh[");
    assert_eq!(level(&ended), "info");
    assert!(message(&ended).contains(": exit 0 after "), "{ended}");
    wait_until("the quiet one's second hello", || {
        (quiet.access_log().len() >= 3).then_some(())
    });
    let kept = quiet.stderr();
    assert!(
        kept.iter()
            .all(|l| level(l) != "info" || message(l).starts_with("rcgi listening on")),
        "{kept:#?}"
    );
    assert!(
        !kept.iter().any(|l| l.contains("/cgi-bin/hello.sh[")),
        "{kept:#?}"
    );
    for line in loud.stderr() {
        message(&line);
    }
}

#[test]
fn an_access_log_that_cannot_be_opened_stops_rcgi_at_start() {
    let root = Root::new();
    let out = Command::new(env!("CARGO_BIN_EXE_rcgi"))
        .arg("--root")
        .arg(root.path())
        .args(["--port", "0", "--access-log", "/nonexistent/dir/access.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open the access log /nonexistent/dir/access.log"),
        "{err}"
    );
}
