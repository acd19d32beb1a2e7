//! Every bound, set small with its flag: sizes (431, 414, 413, 502),
//! times (408, idle close, 504 or a cut response), and how many scripts
//! and connections run at once (503).

mod common;

use std::fs;
use std::io::Write;
use std::time::{Duration, Instant};

use common::{Root, WAIT, is_dead, wait_until};

const HELLO: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello\\n'\n";

#[test]
fn request_head_bounds() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let server = root.start(&[
        "--max-head",
        "1K",
        "--max-fields",
        "5",
        "--max-target",
        "100",
    ]);
    let big = format!(
        "GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
        "x".repeat(1100)
    );
    assert_eq!(server.exchange(big.as_bytes()).status, 431);
    let six =
        "GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n";
    assert_eq!(server.exchange(six.as_bytes()).status, 431);
    let five = "GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    assert_eq!(server.exchange(five.as_bytes()).status, 200);
    let long = format!(
        "GET /cgi-bin/hello.sh?{} HTTP/1.1\r\nHost: t\r\n\r\n",
        "q".repeat(100)
    );
    assert_eq!(server.exchange(long.as_bytes()).status, 414);
}

#[test]
fn body_bounds_refuse_before_running_and_remove_the_spool() {
    let root = Root::new();
    root.script(
        "mark.sh",
        "#!/bin/sh\ntouch ran\ncat >/dev/null\nprintf 'Content-Length: 2\\n\\nok'\n",
    );
    let tmp = tempfile::tempdir().unwrap();
    let server = common::Server::start_with_env(
        &root.path(),
        &["--max-body", "1K"],
        &[("TMPDIR", tmp.path().to_str().unwrap())],
    );
    let r = server
        .exchange(b"POST /cgi-bin/mark.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 1025\r\n\r\n");
    assert_eq!(r.status, 413);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(
        !root.dir.path().join("ran").exists(),
        "the script must not run"
    );

    let mut client = server.connect();
    client.send(b"POST /cgi-bin/mark.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..3 {
        // The client may see the connection close before all is sent.
        let _ = client.writer.write_all(b"200\r\n");
        let _ = client.writer.write_all(&[b'a'; 0x200]);
        let _ = client.writer.write_all(b"\r\n");
    }
    let r = client.response();
    assert_eq!(r.status, 413);
    assert!(!root.dir.path().join("ran").exists());
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "spool removed"
    );
}

#[test]
fn a_huge_chunk_size_cannot_slip_past_the_body_bound() {
    let root = Root::new();
    root.script(
        "mark.sh",
        "#!/bin/sh\ntouch ran\ncat >/dev/null\nprintf 'Content-Length: 2\\n\\nok'\n",
    );
    for mode in ["spool", "stream"] {
        let tmp = tempfile::tempdir().unwrap();
        let server = common::Server::start_with_env(
            &root.path(),
            &["--max-body", "1K", "--chunked", mode],
            &[("TMPDIR", tmp.path().to_str().unwrap())],
        );
        let mut client = server.connect();
        // One byte, then a chunk of 2^64 - 1 bytes: the sum of the sizes
        // must not wrap around below the bound. The first bytes of that
        // chunk come with its size line, the rest once rcgi has read
        // them, so the chunk's data is both in rcgi's buffer and on the
        // socket.
        client.send(b"POST /cgi-bin/mark.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nffffffffffffffff\r\n");
        client.send(&[b'x'; 100]);
        client.wait_until_received();
        let block = vec![b'x'; 64 * 1024];
        for _ in 0..64 {
            // rcgi may close the connection before all is sent.
            if client.writer.write_all(&block).is_err() {
                break;
            }
        }
        let r = client.response();
        assert_eq!(r.status, 413, "{mode}: {}", r.text());
        // A spooled body is refused before the script starts; a streamed
        // one while it runs (it may have begun).
        if mode == "spool" {
            assert!(
                !root.dir.path().join("ran").exists(),
                "{mode}: the script must not run"
            );
        }
        let left: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "{mode}: spool left behind: {left:?}");
    }
}

#[test]
fn a_body_within_the_bound_passes() {
    let root = Root::new();
    root.script(
        "len.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nwc -c\n",
    );
    let server = root.start(&["--max-body", "1K"]);
    let mut raw = b"POST /cgi-bin/len.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n".to_vec();
    raw.extend_from_slice(&[b'b'; 1024]);
    assert_eq!(server.exchange(&raw).text().trim(), "1024");
}

#[test]
fn a_body_trickled_below_the_minimum_rate_gets_408() {
    let root = Root::new();
    root.script(
        "read.sh",
        "#!/bin/sh\ncat >/dev/null\nprintf 'Content-Length: 2\\n\\nok'\n",
    );
    let server = root.start(&[
        "--body-timeout",
        "1s",
        "--body-min-rate",
        "500",
        "--chunked",
        "spool",
    ]);
    let heads = [
        "POST /cgi-bin/read.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n",
        "POST /cgi-bin/read.sh HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n186a0\r\n",
    ];
    for head in heads {
        let mut client = server.connect();
        client.send(head.as_bytes());
        let mut writer = client.writer.try_clone().unwrap();
        let answer = std::thread::spawn(move || client.response());
        // A byte every 50 ms: 20 bytes/s, far below 500, and never a stall
        // as long as --idle-timeout (15 s). Stop once rcgi has answered.
        let started = Instant::now();
        while !answer.is_finished() && started.elapsed() < common::WAIT {
            if writer.write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let r = answer.join().unwrap();
        assert_eq!(r.status, 408, "{head:?}: {}", r.text());
        assert_eq!(r.header("connection"), Some("close"));
    }
    // A body at a fair rate passes, however long it takes past the first
    // --body-timeout: 2,000 bytes/s for 1.5 s.
    let mut client = server.connect();
    client.send(b"POST /cgi-bin/read.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 3000\r\n\r\n");
    for _ in 0..30 {
        client.send(&[b'y'; 100]);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(client.response().text(), "ok");
}

#[test]
fn script_header_bound() {
    let root = Root::new();
    root.script(
        "big.sh",
        "#!/bin/sh\nprintf 'X-Big: %s\\n\\n' \"$(head -c 2000 /dev/zero | tr '\\0' a)\"\n",
    );
    root.script(
        "ok.sh",
        "#!/bin/sh\nprintf 'X-Big: %s\\n\\n' \"$(head -c 900 /dev/zero | tr '\\0' a)\"\n",
    );
    let server = root.start(&["--max-script-head", "1K"]);
    let r = server.get("/cgi-bin/big.sh");
    assert_eq!(r.status, 502);
    assert!(r.text().contains("script headers too large"));
    assert_eq!(server.get("/cgi-bin/ok.sh").status, 200);
}

#[test]
fn a_slow_head_gets_408_even_while_bytes_keep_coming() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let server = root.start(&["--header-timeout", "1s"]);
    let mut client = server.connect();
    // One byte every 100 ms (the client's pace, not a wait for rcgi): the
    // whole head would take 4.8 s. Stop once rcgi has logged its 408, or
    // has closed the connection (a write fails).
    let refused = "408 request head not received in time";
    for byte in b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: slowloris\r\n".iter() {
        if server.stderr().iter().any(|l| l.contains(refused)) {
            break;
        }
        if client.writer.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let r = client.response();
    assert_eq!(r.status, 408, "the head never completed: no request ran");
    server.wait_stderr(refused);
    assert!(client.is_closed());
}

#[test]
fn idle_connections_and_stalled_bodies_time_out() {
    let root = Root::new();
    root.script(
        "slurp.sh",
        "#!/bin/sh\necho $$ > slurp.pid\ncat >/dev/null\nprintf 'Content-Length: 2\\n\\nok'\n",
    );
    let server = root.start(&["--idle-timeout", "1s"]);
    // Idle between requests: closed quietly (by rcgi: is_closed is
    // false if the client's own wait runs out first).
    let mut idle = server.connect();
    assert!(idle.is_closed());
    // A body that stops coming: 408, the script stopped.
    let mut client = server.connect();
    let started = Instant::now();
    client.send(
        b"POST /cgi-bin/slurp.sh HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly ten..",
    );
    let r = client.response();
    assert_eq!(r.status, 408);
    server.wait_stderr("request body stalled");
    // A safety net only: the script would wait for the rest forever.
    assert!(started.elapsed() < WAIT, "{:?}", started.elapsed());
    let pid: u32 = fs::read_to_string(root.dir.path().join("slurp.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_until("the script stopped", || is_dead(pid).then_some(()));
    assert!(client.is_closed());
}

#[test]
fn a_script_over_its_time_is_stopped_504_or_cut() {
    let root = Root::new();
    root.script(
        "slow.sh",
        "#!/bin/sh\necho $$ > slow.pid\nsleep 30 &\necho $! > slow-child.pid\nwait\n",
    );
    root.script(
        "midway.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nbegun\\n'\nsleep 30\n",
    );
    root.script(
        "sized.sh",
        "#!/bin/sh\nprintf 'Content-Length: 100\\n\\nbegun\\n'\nsleep 30\n",
    );
    root.script(
        "stubborn.sh",
        "#!/bin/sh\ntrap 'echo term >> got-term' TERM\necho $$ > stubborn.pid\nwhile :; do sleep 0.1; done\n",
    );
    let server = root.start(&["--timeout", "1s"]);
    let pid_of = |name: &str| -> u32 {
        fs::read_to_string(root.dir.path().join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };

    let started = Instant::now();
    let r = server.get("/cgi-bin/slow.sh");
    assert_eq!(r.status, 504);
    let line = server.wait_stderr("/cgi-bin/slow.sh[");
    assert!(line.contains("timed out before its headers"), "{line}");
    // A safety net only: the script would run 30 s, longer than WAIT.
    assert!(started.elapsed() < WAIT, "{:?}", started.elapsed());
    let (script, child) = (pid_of("slow.pid"), pid_of("slow-child.pid"));
    wait_until("group killed", || {
        (is_dead(script) && is_dead(child)).then_some(())
    });

    // Mid-body: chunked gets no last chunk, the connection just closes.
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/midway.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    client.read_head(false).unwrap();
    assert_eq!(client.read_chunk().unwrap().unwrap(), b"begun\n");
    assert!(client.read_chunk().is_err(), "no terminating chunk");
    // Length-framed: closed short.
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/sized.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(client.try_response(false).is_err(), "short body");
    server.wait_stderr("timed out mid-response");

    // A script that ignores SIGTERM gets SIGKILL after the grace.
    let r = server.get("/cgi-bin/stubborn.sh");
    assert_eq!(r.status, 504);
    let pid = pid_of("stubborn.pid");
    wait_until("stubborn script killed", || is_dead(pid).then_some(()));
    assert!(
        fs::read_to_string(root.dir.path().join("got-term"))
            .unwrap()
            .contains("term")
    );
    // Its sleeps, orphaned as it died, are rcgi's to reap.
    wait_until("no zombie", || server.zombies().is_empty().then_some(()));
}

#[test]
fn past_max_scripts_requests_wait_briefly_then_get_503() {
    let root = Root::new();
    let gate = root.gate("gate");
    root.script(
        "held.sh",
        "#!/bin/sh\nread x < ./gate\nprintf 'Content-Length: 4\\n\\nheld'\n",
    );
    root.script("hello.sh", HELLO);
    let server = root.start(&["--max-scripts", "1"]);
    let mut holder = server.connect();
    holder.send(b"GET /cgi-bin/held.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_until("the held script", || {
        (!common::children_of(server.pid()).is_empty()).then_some(())
    });

    // Two requests for the one place in the queue, sent together: one
    // waits there and gets 503 after a short wait (2 s); the other finds
    // the queue full and is refused at once. Which is which is rcgi's
    // choice, so each response is timed on a thread of its own.
    let started = Instant::now();
    let readers = [server.connect(), server.connect()].map(|mut c| {
        c.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n\r\n");
        std::thread::spawn(move || (c.response(), started.elapsed()))
    });
    let mut answers = readers.map(|r| r.join().unwrap());
    answers.sort_by_key(|(_, took)| *took);
    let [(refused, refused_took), (queued, waited)] = answers;
    assert_eq!((refused.status, queued.status), (503, 503));
    assert_eq!(refused.header("retry-after"), Some("1"));
    // A lower bound: a loaded machine only makes the wait longer.
    assert!(waited >= Duration::from_millis(1500), "{waited:?}");
    // Refused at once, measured against the queued one: it came back
    // before half the queue wait had passed. Being refused is a moment's
    // work (about a millisecond), three orders of magnitude under that;
    // had it been queued too, both would take the whole wait.
    assert!(
        refused_took < waited / 2,
        "refused at once: {refused_took:?}, the queued one {waited:?}"
    );

    common::open_gate(&gate);
    assert_eq!(holder.response().text(), "held");
    assert_eq!(server.get("/cgi-bin/hello.sh").status, 200);
}

#[test]
fn past_max_connections_new_ones_get_503_and_old_ones_go_on() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let server = root.start(&["--max-connections", "2"]);
    let mut first = server.connect();
    let mut second = server.connect();
    first.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(first.response().status, 200);
    second.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(second.response().status, 200);
    let mut third = server.connect();
    let r = third.response();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(third.is_closed());
    first.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(first.response().status, 200);
    drop(second);
    wait_until("a free place", || {
        let mut c = server.connect();
        c.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        (c.response().status == 200).then_some(())
    });
}
