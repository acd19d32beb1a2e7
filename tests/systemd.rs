//! systemd: socket activation through `systemd-socket-activate` (which
//! needs no running systemd), READY=1 and STOPPING=1 over
//! NOTIFY_SOCKET, a socket named `fastcgi` served as FastCGI, and the units in
//! contrib/ checked by `systemd-analyze verify` and run as written (their
//! ExecStart options and socket settings, with test paths).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::Command;

use common::{Client, Root, Server, WAIT, contrib};
use nix::sys::signal::Signal;

const HELLO: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello\\n'\n";
/// What systemd-socket-activate says once it listens.
const ACTIVATOR_READY: &str = "Listening on ";

fn activator() -> PathBuf {
    common::require("systemd-socket-activate", "systemd")
}

/// The value of `key=` in a unit file (the first such line).
fn unit_value(unit: &str, key: &str) -> String {
    unit.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key}= in the unit"))
        .to_string()
}

/// A datagram socket standing for systemd's notification socket.
fn notify_socket(root: &Root) -> (UnixDatagram, PathBuf) {
    let path = root.path().join("notify");
    let socket = UnixDatagram::bind(&path).unwrap();
    // Anyone may write to it, as to systemd's: an rcgi started as root
    // without --user runs as nobody.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o777)).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    (socket, path)
}

fn next_state(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).expect("a notification");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn the_contrib_units_as_written_serve_a_unix_socket_from_systemd() {
    let service = contrib("rcgi.service");
    let socket = contrib("rcgi.socket");
    assert_eq!(unit_value(&service, "Type"), "notify");
    let root = Root::new();
    root.script("hello.sh", HELLO);
    // ExecStart's options as written, with this test's binary and root.
    let exec = unit_value(&service, "ExecStart");
    let mut words: Vec<String> = exec.split_whitespace().skip(1).map(String::from).collect();
    let at = words.iter().position(|w| w == "--root").expect("--root") + 1;
    words[at] = root.path().display().to_string();
    let name = unit_value(&socket, "FileDescriptorName");
    let sock = root.path().join("rcgi.sock");
    let (notify, notify_path) = notify_socket(&root);
    let mut cmd = Command::new(activator());
    cmd.arg(format!("--listen={}", sock.display()))
        .arg(format!("--fdname={name}"))
        .arg(format!("--setenv=NOTIFY_SOCKET={}", notify_path.display()))
        .arg(env!("CARGO_BIN_EXE_rcgi"))
        .args(&words);
    let server = Server::spawn_until(&root.path(), &mut cmd, ACTIVATOR_READY);
    // The activator starts rcgi at the first connection.
    let mut c = Client::unix(&sock);
    c.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().text(), "hello\n");
    assert_eq!(next_state(&notify), "READY=1");
    server.wait_stderr("serving the 1 sockets systemd passed (LISTEN_FDS)");
    server.wait_stderr(&format!(
        "rcgi listening on unix:{} for /cgi-bin/",
        sock.display()
    ));
    // The --status of ExecStart answers.
    let status = unit_value(&service, "ExecStart");
    let path = status
        .split("--status ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    c.send(format!("GET {path}/health HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    assert_eq!(c.response().text(), "serving\n");
    drop(c);

    server.signal(Signal::SIGTERM);
    assert_eq!(next_state(&notify), "STOPPING=1");
    assert_eq!(server.wait_exit().code(), Some(0));
    assert!(
        sock.exists(),
        "a socket systemd passed stays: it is systemd's"
    );
}

#[test]
fn tcp_sockets_from_systemd_are_served_with_their_addresses() {
    let root = Root::new();
    root.script(
        "env.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s %s\\n' \"$REMOTE_ADDR\" \"$SERVER_PORT\"\n",
    );
    // A free port for the activator (taken again at once: a short race
    // with other tests, which bind port 0).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sock = root.path().join("second.sock");
    let mut cmd = Command::new(activator());
    cmd.arg(format!("--listen=127.0.0.1:{port}"))
        .arg(format!("--listen={}", sock.display()))
        .arg("--fdname=web:web")
        .arg(env!("CARGO_BIN_EXE_rcgi"))
        .args(["--root", &root.path().display().to_string()]);
    let server = Server::spawn_until(&root.path(), &mut cmd, ACTIVATOR_READY);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = Client::connect(addr);
    c.send(b"GET /cgi-bin/env.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().text(), format!("127.0.0.1 {port}\n"));
    server.wait_stderr("serving the 2 sockets systemd passed");
    let mut u = Client::unix(&sock);
    u.send(b"GET /cgi-bin/env.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    assert_eq!(u.response().text(), "127.0.0.1 80\n");
    assert_eq!(server.stop().code(), Some(0));
}

#[test]
fn a_socket_named_fastcgi_speaks_fastcgi() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let sock = root.path().join("fcgi.sock");
    let mut cmd = Command::new(activator());
    cmd.arg(format!("--listen={}", sock.display()))
        .arg("--fdname=fastcgi")
        .arg(env!("CARGO_BIN_EXE_rcgi"))
        .args(["--root", &root.path().display().to_string()]);
    let server = Server::spawn_until(&root.path(), &mut cmd, ACTIVATOR_READY);
    let mut c = common::fcgi::Conn::unix(&sock);
    let params = common::fcgi::get_params("/cgi-bin/hello.sh");
    c.send(&common::fcgi::request(1, false, &params, b""));
    assert_eq!(c.reply(1).text(), "hello\n");
    server.wait_stderr(&format!(
        "rcgi listening on fastcgi unix:{} for /cgi-bin/",
        sock.display()
    ));
    assert_eq!(server.stop().code(), Some(0));
}

#[test]
fn systemd_analyze_finds_nothing_wrong_with_the_units() {
    let analyze = common::require("systemd-analyze", "systemd");
    let dir = tempfile::tempdir().unwrap();
    // The units as shipped, with ExecStart naming the binary that exists.
    let service =
        contrib("rcgi.service").replace("/usr/local/bin/rcgi", env!("CARGO_BIN_EXE_rcgi"));
    fs::write(dir.path().join("rcgi.service"), service).unwrap();
    fs::write(dir.path().join("rcgi.socket"), contrib("rcgi.socket")).unwrap();
    for f in ["rcgi.service", "rcgi.socket"] {
        fs::set_permissions(dir.path().join(f), fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = Command::new(analyze)
        .args(["verify", "--man=no", "./rcgi.socket", "./rcgi.service"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}
