//! The command line and the process: options, errors at start, the
//! listening line, and a clean stop on SIGINT or SIGTERM.

mod common;

use std::fs;
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Root, is_dead, wait_until};
use nix::sys::signal::Signal;

fn rcgi(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rcgi"))
        .args(args)
        .output()
        .expect("run rcgi")
}

/// Runs rcgi with arguments it should refuse: its output once it exits,
/// or, if it starts serving instead, after it was stopped (SIGKILL: exit
/// status without a code).
fn rcgi_refusing(args: &[&str]) -> std::process::Output {
    let child = Command::new(env!("CARGO_BIN_EXE_rcgi"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run rcgi");
    let pid = child.id() as i32;
    let waiter = std::thread::spawn(move || child.wait_with_output().expect("rcgi's output"));
    let started = Instant::now();
    while !waiter.is_finished() && started.elapsed() < common::WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !waiter.is_finished() {
        common::signal(pid, Signal::SIGKILL);
    }
    waiter.join().unwrap()
}

#[test]
fn help_names_every_option_and_version_prints_it() {
    let out = rcgi(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for option in [
        "--root",
        "--port",
        "--bind",
        "--prefix",
        "--env",
        "--pass-env",
        "--pass-auth",
        "--help",
        "--version",
    ] {
        assert!(help.contains(option), "--help lacks {option}");
    }
    let out = rcgi(&["--version"]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("rcgi {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_bad_root_is_a_one_line_error_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    fs::write(&file, "x").unwrap();
    for root in [dir.path().join("missing"), file] {
        let out = rcgi(&["--root", root.to_str().unwrap(), "--port", "0"]);
        assert_eq!(out.status.code(), Some(2), "{root:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("rcgi: --root "), "{err}");
    }
    let out = rcgi(&["--root", ".", "--prefix", "no-slash"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_busy_port_is_an_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = rcgi(&["--root", dir.path().to_str().unwrap(), "--port", &port]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("cannot listen on 127.0.0.1:")
    );
}

#[test]
fn the_listening_line_names_the_real_address_prefix_and_root() {
    let root = Root::new();
    let server = root.start(&[]);
    let line = server.wait_stderr("rcgi listening on");
    assert_eq!(common::level(&line), "info");
    assert_eq!(
        common::message(&line),
        format!(
            "rcgi listening on http://{}/cgi-bin/ (root {})",
            server.addr,
            root.path().display()
        )
    );
    assert_ne!(server.addr.port(), 0);
    let top = root.start(&["--prefix", "/"]);
    assert!(
        top.wait_stderr("rcgi listening on")
            .contains(&format!("http://{}/ (root", top.addr))
    );
}

#[test]
fn sigterm_lets_a_running_request_finish_then_exits_0() {
    let root = Root::new();
    let fifo = root.gate("gate");
    root.script(
        "wait.sh",
        "#!/bin/sh\nread x < ./gate\nprintf 'Content-Type: text/plain\\n\\nfinished\\n'\n",
    );
    let server = root.start(&[]);
    let pid = server.pid() as i32;
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/wait.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    wait_until("the script to run", || {
        (!common::children_of(server.pid()).is_empty()).then_some(())
    });
    common::signal(pid, Signal::SIGTERM);
    server.wait_stderr("stopping: 1 requests running");
    // New connections are no longer accepted.
    wait_until("the listener to close", || {
        std::net::TcpStream::connect(server.addr)
            .is_err()
            .then_some(())
    });
    common::open_gate(&fifo);
    let r = client.response();
    assert_eq!(r.text(), "finished\n");
    let status = server.stop();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigint_past_the_grace_period_stops_the_scripts() {
    let root = Root::new();
    root.script(
        "forever.sh",
        "#!/bin/sh\nsleep 600 &\necho $! > child.pid\nwait\n",
    );
    let server = root.start(&["--shutdown-grace", "1s"]);
    let mut client = server.connect();
    client.send(b"GET /cgi-bin/forever.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    let child: u32 = wait_until("child pid", || {
        fs::read_to_string(root.dir.path().join("child.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    });
    let started = Instant::now();
    common::signal(server.pid() as i32, Signal::SIGINT);
    server.wait_stderr("stopping: 1 requests running, waiting up to 1s");
    // The grace ran out with the request still running.
    server.wait_stderr("stopping 1 scripts");
    let took = started.elapsed();
    let status = server.stop();
    assert_eq!(status.code(), Some(0));
    // A lower bound: a loaded machine only makes it longer.
    assert!(
        took >= Duration::from_millis(900),
        "waited the grace period: {took:?}"
    );
    wait_until("the script's child to be killed", || {
        is_dead(child).then_some(())
    });
    let r = client.try_response(false);
    assert!(
        r.map_or(true, |r| r.status == 504 || r.status == 502),
        "the request ended"
    );
}

#[test]
fn every_size_and_time_has_an_upper_bound_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    for (flag, value) in [
        ("--idle-timeout", "18446744073709551615s"),
        ("--header-timeout", "18446744073709551615ms"),
        ("--timeout", "9999999999m"),
        ("--timeout", "25h"),
        ("--max-head", "2G"),
        ("--max-target", "2G"),
        ("--max-script-head", "2G"),
        ("--max-body", "99999999G"),
        ("--max-fields", "65535"),
        ("--max-scripts", "4000000000"),
        ("--max-connections", "4000000000"),
    ] {
        let out = rcgi_refusing(&["--root", root, "--port", "0", flag, value]);
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert_eq!(err.lines().count(), 1, "{flag} {value}: {err}");
        assert!(err.starts_with("rcgi: ") && err.contains(flag), "{err}");
    }
}
