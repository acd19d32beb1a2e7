//! Draining on SIGTERM or SIGINT: idle kept-alive connections close at
//! once, a request that has arrived is answered (and ends its
//! connection), and a second signal stops everything at once.

mod common;

use std::fs;

use common::{Root, is_dead, wait_until};
use nix::sys::signal::Signal;

const HELLO: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello\\n'\n";
const WAIT_GATE: &str =
    "#!/bin/sh\nread x < ./gate\nprintf 'Content-Type: text/plain\\n\\nfinished\\n'\n";

#[test]
fn an_idle_kept_alive_connection_closes_when_the_drain_begins() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    root.script("wait.sh", WAIT_GATE);
    let gate = root.gate("gate");
    // Idle connections, and the drain, would otherwise last far longer
    // than a test.
    let server = root.start(&["--idle-timeout", "1h", "--shutdown-grace", "1h"]);
    let mut idle = server.connect();
    idle.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(idle.response().text(), "hello\n");
    // A running request keeps the server draining meanwhile.
    let mut busy = server.connect();
    busy.send(b"GET /cgi-bin/wait.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_until("the script to run", || {
        (!common::children_of(server.pid()).is_empty()).then_some(())
    });
    server.signal(Signal::SIGTERM);
    server.wait_stderr("stopping: 1 requests running");
    assert!(idle.is_closed(), "the idle connection was closed");
    common::open_gate(&gate);
    let r = busy.response();
    assert_eq!(r.text(), "finished\n");
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn a_request_arriving_during_the_drain_is_answered_and_ends_its_connection() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let server = root.start(&["--idle-timeout", "1h"]);
    let mut late = server.connect();
    late.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\n");
    late.wait_until_received();
    server.signal(Signal::SIGTERM);
    server.wait_stderr("stopping: 1 requests running");
    late.send(b"Host: t\r\n\r\n");
    let r = late.response();
    assert_eq!((r.status, r.text().as_str()), (200, "hello\n"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(late.is_closed());
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn a_second_signal_stops_at_once_killing_the_scripts() {
    let root = Root::new();
    root.script(
        "forever.sh",
        "#!/bin/sh\nsleep 600 &\necho $! > child.pid\nwait\n",
    );
    // A grace longer than any wait of the test: only the second signal
    // can end it in time.
    let server = root.start(&["--shutdown-grace", "1h"]);
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/forever.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    let child: u32 = wait_until("child pid", || {
        fs::read_to_string(root.dir.path().join("child.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    });
    server.signal(Signal::SIGINT);
    server.wait_stderr("stopping: 1 requests running, waiting up to 3600s");
    server.signal(Signal::SIGINT);
    server.wait_stderr("second signal: stopping 1 scripts at once");
    wait_until("the script's child to be killed", || {
        is_dead(child).then_some(())
    });
    assert_eq!(server.wait_exit().code(), Some(0));
}
