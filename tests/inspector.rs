//! The request inspector (`--debug`, `/.rcgi/`): its list and its
//! per-request pages, checked as HTML, and in a real browser (headless
//! Chromium, Debian's `chromium`) that runs the page's polling script.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

use common::{Root, WAIT, open_gate, require, wait_until};

const OK: &str = "#!/bin/sh\nbody=$(cat)\necho \"warning: <careful> & $QUERY_STRING\" >&2\nprintf 'Content-Type: text/plain\\nX-From: script\\n\\ngot %s\\n' \"$body\"\n";
const FAILS: &str = "#!/bin/sh\necho 'cannot open /etc/app.conf' >&2\nexit 4\n";

fn scripts() -> Root {
    let root = Root::new();
    root.script("ok.sh", OK);
    root.script("fails.sh", FAILS);
    root
}

#[test]
fn the_list_and_each_request_page_show_what_happened() {
    let root = scripts();
    let server = root.start(&["--debug"]);
    server.wait_stderr(&format!(
        "rcgi also serves http://{}/.rcgi/ (request inspector)",
        server.addr
    ));
    let r = server.exchange(
        b"POST /cgi-bin/ok.sh?a=<1> HTTP/1.1\r\nHost: t\r\nX-Test: <script>x</script>\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    );
    assert_eq!(r.text(), "got hello\n");
    assert_eq!(server.get("/cgi-bin/fails.sh").status, 502);
    assert_eq!(server.get("/cgi-bin/missing").status, 404);

    // A request's record is closed just after its response went out.
    wait_until("the three requests to be over", || {
        let rows = server.get("/.rcgi/rows").text();
        (!rows.contains("class=run")).then_some(())
    });
    let list = server.get("/.rcgi/");
    assert_eq!(
        list.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let page = list.text();
    let urls: Vec<usize> = [
        "/cgi-bin/missing",
        "/cgi-bin/fails.sh",
        "/cgi-bin/ok.sh?a=&lt;1&gt;",
    ]
    .iter()
    .map(|u| {
        page.find(&format!(">{u}</a>"))
            .unwrap_or_else(|| panic!("{u} in {page}"))
    })
    .collect();
    assert!(
        urls[0] < urls[1] && urls[1] < urls[2],
        "newest first: {page}"
    );
    assert!(page.contains("<td class=s5>502</td>") && page.contains("<td class=s4>404</td>"));
    assert!(page.contains("fetch('rows'"), "the list polls its rows");
    assert!(
        !page.contains("/.rcgi/</a>"),
        "its own requests are not kept"
    );
    assert_eq!(server.get("/.rcgi/rows").text().matches("<tr>").count(), 3);

    let post = server.get("/.rcgi/1").text();
    for part in [
        "<h1>#1 POST <code>/cgi-bin/ok.sh?a=&lt;1&gt;</code></h1>",
        "<tr><th>Request body</th><td>5 bytes</td></tr>",
        "<tr><th class=m>REQUEST_METHOD</th><td class=m>POST</td></tr>",
        "<tr><th class=m>CONTENT_LENGTH</th><td class=m>5</td></tr>",
        "<tr><th class=m>QUERY_STRING</th><td class=m>a=&lt;1&gt;</td></tr>",
        "<tr><th class=m>X-Test</th><td class=m>&lt;script&gt;x&lt;/script&gt;</td></tr>",
        "<tr><th class=m>X-From</th><td class=m>script</td></tr>",
        "warning: &lt;careful&gt; &amp; a=&lt;1&gt;",
        "<tr><th>Script ended</th><td>exit 0 after ",
    ] {
        assert!(post.contains(part), "{part} in {post}");
    }
    assert!(!post.contains("<script>x"));
    let failed = server.get("/.rcgi/2").text();
    assert!(
        failed.contains("<td>exit 4 after ") && failed.contains("cannot open /etc/app.conf"),
        "{failed}"
    );
    let missing = server.get("/.rcgi/3").text();
    assert!(missing.contains("(none: no script ran)"), "{missing}");
    assert_eq!(server.get("/.rcgi/99").status, 404);
    assert_eq!(server.get("/.rcgi").header("location"), Some("/.rcgi/"));

    // Without --debug there is no inspector.
    assert_eq!(root.start(&[]).get("/.rcgi/").status, 404);
}

#[test]
fn a_running_request_shows_as_running_until_it_ends() {
    let root = Root::new();
    let gate = root.gate("gate");
    root.script(
        "slow.sh",
        "#!/bin/sh\nread x < ./gate\nprintf 'Content-Type: text/plain\\n\\ndone\\n'\n",
    );
    let server = root.start(&["--debug"]);
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/slow.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_until("the request to show as running", || {
        let rows = server.get("/.rcgi/rows").text();
        rows.contains("<td class=run>running</td>").then_some(())
    });
    let page = server.get("/.rcgi/1").text();
    assert!(
        page.contains("location.reload()"),
        "a running request's page reloads itself"
    );
    assert!(
        page.contains("<tr><th class=m>SCRIPT_NAME</th><td class=m>/cgi-bin/slow.sh</td></tr>"),
        "{page}"
    );
    open_gate(&gate);
    assert_eq!(client.response().text(), "done\n");
    wait_until("the request to show its status", || {
        let rows = server.get("/.rcgi/rows").text();
        rows.contains("<td class=s2>200</td>").then_some(())
    });
    assert!(!server.get("/.rcgi/1").text().contains("location.reload()"));
}

/// Runs headless Chromium with `args` and the page `url`; its stdout.
/// It is stopped (its whole process group) if it outlasts the wait.
fn chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let browser = require("/usr/bin/chromium", "chromium");
    let child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-proxy-server",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let group = child.id() as i32;
    let waiter = thread::spawn(move || child.wait_with_output());
    let started = Instant::now();
    while !waiter.is_finished() && started.elapsed() < WAIT {
        thread::sleep(std::time::Duration::from_millis(20));
    }
    if !waiter.is_finished() {
        common::signal(-group, nix::sys::signal::Signal::SIGKILL);
    }
    let out = waiter.join().unwrap().expect("chromium's output");
    assert!(out.status.success(), "chromium failed: {:?}", out.status);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_real_browser_shows_the_inspector_and_it_keeps_itself_current() {
    let root = scripts();
    let server = root.start(&["--debug"]);
    let profile = tempfile::tempdir().unwrap();
    assert_eq!(server.get("/cgi-bin/ok.sh?from=browser").status, 200);
    assert_eq!(server.get("/cgi-bin/fails.sh").status, 502);
    wait_until("both requests to be over", || {
        let rows = server.get("/.rcgi/rows").text();
        (!rows.contains("class=run")).then_some(())
    });
    let base = format!("http://{}/.rcgi/", server.addr);
    // Virtual time lets the page's polling run three times; "Live:" is
    // written only by the script, once a fetch of the rows succeeded.
    let dom = chromium(
        profile.path(),
        &["--virtual-time-budget=3500", "--dump-dom"],
        &base,
    );
    assert!(dom.contains("<span id=\"live\">Live: updated "), "{dom}");
    assert!(dom.contains(">/cgi-bin/ok.sh?from=browser</a>"), "{dom}");
    assert!(dom.contains("<td class=\"s5\">502</td>"), "{dom}");
    server.wait_access("GET /.rcgi/rows");

    let dom = chromium(profile.path(), &["--dump-dom"], &format!("{base}1"));
    assert!(dom.contains("<h2>CGI environment</h2>"), "{dom}");
    assert!(dom.contains("<td class=\"m\">from=browser</td>"), "{dom}");
    assert!(
        dom.contains("warning: &lt;careful&gt; &amp; from=browser"),
        "{dom}"
    );

    let shot = profile.path().join("inspector.png");
    let arg = format!("--screenshot={}", shot.display());
    chromium(profile.path(), &[&arg, "--window-size=1100,520"], &base);
    let png = std::fs::read(&shot).expect("the screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "a PNG of the page"
    );
}
