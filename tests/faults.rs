//! Scripts that misbehave as processes: background children that keep
//! stdout open, death by a signal mid-body, programs that cannot start,
//! and a server that runs out of descriptors.

mod common;

use std::time::Instant;

use common::{Root, Server, WAIT, is_dead, wait_until};

#[test]
fn a_background_child_holding_stdout_does_not_hang_the_request() {
    let root = Root::new();
    root.script(
        "daemon.sh",
        "#!/bin/sh\nsleep 30 &\necho $! > bg.pid\nprintf 'Content-Type: text/plain\\n\\nmain part\\n'\n",
    );
    let server = root.start(&[]);
    let started = Instant::now();
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/daemon.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = client.response();
    assert_eq!(r.text(), "main part\n");
    let took = started.elapsed();
    let bg: u32 = std::fs::read_to_string(root.dir.path().join("bg.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The response did not wait for the background child: it still runs
    // (it sleeps 30 s).
    assert!(!is_dead(bg), "the child outlives the response");
    // A safety net only.
    assert!(took < WAIT, "{took:?}");
    let line = server.wait_stderr("hold its stdout open");
    assert!(
        line.contains(&bg.to_string()),
        "the lingering pid is named: {line}"
    );
    // The connection goes on.
    client.send(b"GET /cgi-bin/daemon.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(client.response().text(), "main part\n");
    common::signal(bg as i32, nix::sys::signal::Signal::SIGKILL);
}

#[test]
fn a_script_killed_mid_body_gets_its_response_cut() {
    let root = Root::new();
    root.script(
        "crash.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\npartial\\n'\nkill -SEGV $$\n",
    );
    root.script(
        "exit3.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\ncomplete\\n'\nexit 3\n",
    );
    let server = root.start(&[]);
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/crash.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    client.read_head(false).unwrap();
    assert_eq!(client.read_chunk().unwrap().unwrap(), b"partial\n");
    assert!(client.read_chunk().is_err(), "no last chunk after a crash");
    let line = server.wait_stderr("killed by SIGSEGV mid-response");
    assert!(
        common::message(&line).starts_with("rcgi: /cgi-bin/crash.sh["),
        "{line}"
    );
    // A non-zero exit is no crash: the response is complete.
    let r = server.get("/cgi-bin/exit3.sh");
    assert_eq!((r.status, r.text().as_str()), (200, "complete\n"));
    server.wait_stderr("exit 3 after");
}

#[test]
fn scripts_that_cannot_start_are_502_with_their_cause_logged() {
    let root = Root::new();
    root.script("badinterp.pl", "#!/opt/no/such/perl\nprint 1;\n");
    root.script(
        "crlf.sh",
        "#!/bin/sh\r\necho 'Content-Type: text/plain'\r\necho\r\n",
    );
    root.script("noformat", "just some text, no #! line\n");
    let server = root.start(&[]);
    let cases = [
        (
            "badinterp.pl",
            "script interpreter not found",
            "/opt/no/such/perl, does not exist",
        ),
        (
            "crlf.sh",
            "#! line ends in a carriage return (Windows line endings)",
            "Windows (CRLF) line endings",
        ),
        (
            "noformat",
            "script is not in an executable format",
            "no #! line",
        ),
    ];
    for (name, short, cause) in cases {
        let r = server.get(&format!("/cgi-bin/{name}"));
        assert_eq!(r.status, 502, "{name}");
        assert!(r.text().contains(short), "{name}: {}", r.text());
        let line = server.wait_stderr(&format!("/cgi-bin/{name}: cannot start"));
        assert!(line.contains(cause), "{name}: {line}");
    }
}

#[test]
fn out_of_descriptors_each_new_connection_gets_503_and_rcgi_recovers() {
    let root = Root::new();
    root.script(
        "hello.sh",
        "#!/bin/sh\nprintf 'Content-Length: 2\\n\\nok'\n",
    );
    let path = root.path();
    let server = Server::start_custom(&path, &[], |cmd| {
        // Run rcgi under a shell that lowers its descriptor limit, the
        // hard one too: rcgi cannot raise its way out.
        let rcgi = cmd.get_program().to_owned();
        *cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg("ulimit -n 48 && exec \"$0\" \"$@\"")
            .arg(rcgi);
    });
    assert_eq!(server.get("/cgi-bin/hello.sh").status, 200);
    // Hold enough connections to use up every descriptor.
    let hogs: Vec<std::net::TcpStream> = (0..80)
        .filter_map(|_| std::net::TcpStream::connect(server.addr).ok())
        .collect();
    server.wait_stderr("no descriptors left");
    // Every new connection is told, by way of rcgi's reserve descriptor.
    for _ in 0..10 {
        let mut c = server.connect();
        c.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.header("retry-after")), (503, Some("1")));
    }
    let lines = server.stderr();
    assert!(
        !lines.iter().any(|l| l.contains("pausing")),
        "the reserve answered, with no pause: {lines:?}"
    );
    drop(hogs);
    wait_until("serving again", || {
        let mut c = server.connect();
        c.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        c.try_response(false).ok().filter(|r| r.status == 200)
    });
}

#[test]
fn a_client_that_leaves_after_a_whole_response_does_not_stop_the_script() {
    let root = Root::new();
    root.script(
        "late.sh",
        "#!/bin/sh\nprintf 'Content-Length: 3\\n\\nok\\n'\nsleep 0.5\necho 'after the response' >&2\n",
    );
    root.script(
        "head.sh",
        "#!/bin/sh\nprintf 'Status: 204\\n\\n'\nsleep 0.5\necho 'after no body' >&2\n",
    );
    let server = root.start(&[]);
    for (path, after) in [
        ("/cgi-bin/late.sh", "after the response"),
        ("/cgi-bin/head.sh", "after no body"),
    ] {
        let mut client = server.connect();
        client.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        client.response();
        drop(client);
        server.wait_stderr(after);
    }
    // A script's end is logged just after its last stderr line.
    common::wait_until("both scripts' exit 0 lines", || {
        let ends = server.stderr().into_iter();
        (ends.filter(|l| l.contains("exit 0 after")).count() >= 2).then_some(())
    });
    assert!(!server.stderr().iter().any(|l| l.contains("script stopped")));
}
