//! Listeners: `--listen` with TCP (IPv4, IPv6) and Unix sockets, the
//! socket's mode and group, stale and live socket files, what a script
//! sees of a Unix-socket client, and `--reuse-port` beside a running
//! instance.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};

use common::{Client, Root, Server};

const ENV_SCRIPT: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\n\
    for v in REMOTE_ADDR REMOTE_PORT SERVER_ADDR SERVER_PORT SERVER_NAME; do\n\
    eval \"printf '%s=%s\\n' $v \\\"\\${$v-unset}\\\"\"\ndone\n";

fn get_on<S: std::io::Read + std::io::Write>(c: &mut Client<S>, path: &str, host: &str) -> String {
    c.send(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes());
    let r = c.response();
    assert_eq!(r.status, 200, "{}", r.text());
    r.text()
}

/// rcgi run to its end with `args`: its exit code and stderr.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rcgi"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rcgi");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_unix_socket_is_served_with_its_mode_and_group() {
    let root = Root::new();
    root.script("env.sh", ENV_SCRIPT);
    let sock = root.path().join("rcgi.sock");
    let spec = format!("unix:{}", sock.display());
    // A group other than root's own, by name; its gid is what the file gets.
    let group = nix::unistd::Group::from_name("daemon")
        .unwrap()
        .expect("group daemon");
    let server = root.start(&[
        "--listen",
        &spec,
        "--socket-mode",
        "0620",
        "--socket-group",
        "daemon",
    ]);
    assert_eq!(
        common::message(&server.wait_stderr("rcgi listening on")),
        format!(
            "rcgi listening on {spec} for /cgi-bin/ (root {})",
            root.path().display()
        )
    );
    let meta = fs::symlink_metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o620);
    assert_eq!(meta.gid(), group.gid.as_raw());

    // A client on the socket is local: loopback, no ports, and the port
    // of its Host (or 80).
    let text = get_on(
        &mut Client::unix(&sock),
        "/cgi-bin/env.sh",
        "example.org:8080",
    );
    assert_eq!(
        text,
        "REMOTE_ADDR=127.0.0.1\nREMOTE_PORT=unset\nSERVER_ADDR=unset\nSERVER_PORT=8080\nSERVER_NAME=example.org\n"
    );
    let text = get_on(&mut Client::unix(&sock), "/cgi-bin/env.sh", "example.org");
    assert!(text.contains("SERVER_PORT=80\n"), "{text}");
    assert!(
        server
            .wait_access("GET /cgi-bin/env.sh")
            .starts_with("127.0.0.1 - - [")
    );

    // Its file goes with it.
    assert_eq!(server.stop().code(), Some(0));
    assert!(!sock.exists(), "the socket file is removed at exit");
}

#[test]
fn a_stale_socket_is_replaced_a_live_one_or_a_file_refused() {
    let root = Root::new();
    root.script("env.sh", ENV_SCRIPT);
    let sock = root.path().join("stale.sock");
    drop(UnixListener::bind(&sock).unwrap());
    assert!(sock.exists(), "a socket file nothing listens on");
    let spec = format!("unix:{}", sock.display());
    let server = root.start(&["--listen", &spec]);
    server.wait_stderr("replaced the stale socket");
    get_on(&mut Client::unix(&sock), "/cgi-bin/env.sh", "t");

    let root_arg = root.path().display().to_string();
    let (code, err) = refused(&["--root", &root_arg, "--listen", &spec]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("another server is listening there"), "{err}");
    // The running one still serves.
    get_on(&mut Client::unix(&sock), "/cgi-bin/env.sh", "t");

    let file = root.file("plain", "data", 0o644);
    let spec = format!("unix:{}", file.display());
    let (code, err) = refused(&["--root", &root_arg, "--listen", &spec]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("exists and is not a socket"), "{err}");
    assert_eq!(fs::read_to_string(&file).unwrap(), "data");
}

#[test]
fn every_kind_of_listener_at_once() {
    let root = Root::new();
    root.script("env.sh", ENV_SCRIPT);
    let sock = root.path().join("both.sock");
    let spec = format!("unix:{}", sock.display());
    let server = root.start(&[
        "--listen",
        "127.0.0.1:0",
        "--listen",
        "[::1]:0",
        "--listen",
        &spec,
    ]);
    let places = common::wait_until("three listening lines", || {
        let l = server.listening();
        (l.len() == 3).then_some(l)
    });
    assert!(places[0].starts_with("http://127.0.0.1:"), "{places:?}");
    assert!(places[1].starts_with("http://[::1]:"), "{places:?}");
    assert_eq!(places[2], spec);
    let v6: std::net::SocketAddr = places[1].trim_start_matches("http://").parse().unwrap();
    let text = get_on(&mut Client::connect(v6), "/cgi-bin/env.sh", "t");
    assert!(text.starts_with("REMOTE_ADDR=::1\nREMOTE_PORT="), "{text}");
    assert!(text.contains(&format!("SERVER_ADDR=::1\nSERVER_PORT={}\n", v6.port())));
    let text = get_on(&mut server.connect(), "/cgi-bin/env.sh", "t");
    assert!(text.starts_with("REMOTE_ADDR=127.0.0.1\n"), "{text}");
    get_on(&mut Client::unix(&sock), "/cgi-bin/env.sh", "t");
}

#[test]
fn bad_listen_options_are_one_line_errors() {
    let root = Root::new();
    let root_arg = root.path().display().to_string();
    for args in [
        vec!["--listen", "127.0.0.1:0", "--port", "8000"],
        vec!["--listen", "localhost"],
        vec!["--listen", "unix:relative.sock"],
        vec!["--socket-mode", "999"],
        vec![
            "--socket-group",
            "no-such-group-here",
            "--listen",
            "unix:/tmp/x.sock",
        ],
    ] {
        let mut all = vec!["--root", &root_arg];
        all.extend(&args);
        let (code, err) = refused(&all);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn reuse_port_binds_beside_a_running_instance_which_hands_over() {
    let root = Root::new();
    root.script("env.sh", ENV_SCRIPT);
    let first = root.start(&["--listen", "127.0.0.1:0", "--reuse-port"]);
    let addr = first.addr.to_string();
    let second = root.start(&["--listen", &addr, "--reuse-port"]);
    assert_eq!(second.addr, first.addr);
    // Without the option, the address is taken.
    let root_arg = root.path().display().to_string();
    let (code, err) = refused(&["--root", &root_arg, "--listen", &addr]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");

    assert_eq!(first.stop().code(), Some(0));
    // The second one takes every connection now.
    for _ in 0..5 {
        get_on(&mut Client::connect(second.addr), "/cgi-bin/env.sh", "t");
    }
    common::wait_until("the second instance's access lines", || {
        (second.access_log().len() == 5).then_some(())
    });
}

#[test]
fn the_harness_still_binds_tcp_by_default() {
    // Without --listen, --bind and --port make the one listener.
    let root = Root::new();
    root.script("env.sh", ENV_SCRIPT);
    let server: Server = root.start(&["--bind", "::1"]);
    assert!(server.addr.is_ipv6());
    get_on(&mut server.connect(), "/cgi-bin/env.sh", "t");
}
