//! HAProxy (Debian's) in front of two rcgi instances with
//! contrib/haproxy.cfg as written (its ports replaced): both serve, the
//! health check sees them, and one drained by SIGTERM loses no request.
//! The README shows the contrib files as they are.

mod common;

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{Client, Root, contrib, wait_until};
use nix::sys::signal::Signal;

const HELLO: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello\\n'\n";

/// HAProxy, stopped by pid when dropped.
struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: SocketAddr) -> common::Response {
    let mut c = Client::connect(addr);
    c.send(b"GET /cgi-bin/hello.sh HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    c.response()
}

#[test]
fn haproxy_balances_checks_health_and_loses_nothing_to_a_drain() {
    let haproxy = common::require("haproxy", "haproxy");
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let args = ["--listen", "127.0.0.1:0", "--status", "/server-status"];
    let one = root.start(&args);
    let two = root.start(&args);
    // A free port for HAProxy's frontend (a short race with other tests).
    let front = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let servers = format!(
        "    server rcgi1 {}\n    server rcgi2 {}\n",
        one.addr, two.addr
    );
    let config = contrib("haproxy.cfg");
    let first = config.find("    server rcgi1").expect("server lines");
    let config = format!("{}{servers}", &config[..first])
        .replace("bind 127.0.0.1:8080", &format!("bind {front}"));
    let path = root.path().join("haproxy.cfg");
    fs::write(&path, config).unwrap();
    let _proxy = Haproxy(
        Command::new(haproxy)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let checked = |s: &common::Server| {
        s.access_log()
            .iter()
            .any(|l| l.contains("GET /server-status/health HTTP/1.0\" 200"))
    };
    // HAProxy binds its frontend before it checks.
    wait_until("both health checks", || {
        (checked(&one) && checked(&two)).then_some(())
    });
    let served = |s: &common::Server| {
        s.access_log()
            .iter()
            .filter(|l| l.contains("/cgi-bin/hello.sh"))
            .count()
    };
    for _ in 0..10 {
        assert_eq!(get(front).text(), "hello\n");
    }
    wait_until("both to serve", || {
        (served(&one) + served(&two) == 10).then_some(())
    });
    assert!(served(&one) > 0 && served(&two) > 0, "round robin");

    one.signal(Signal::SIGTERM);
    assert_eq!(one.wait_exit().code(), Some(0));
    let before = served(&two);
    for _ in 0..10 {
        let r = get(front);
        assert_eq!((r.status, r.text().as_str()), (200, "hello\n"));
    }
    wait_until("the other to serve them all", || {
        (served(&two) == before + 10).then_some(())
    });
}

#[test]
fn the_readme_shows_the_contrib_files_as_they_are() {
    let readme =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for name in ["haproxy.cfg", "rcgi.service", "rcgi.socket"] {
        assert!(
            readme.contains(contrib(name).trim_end()),
            "README shows contrib/{name}"
        );
    }
}
