//! Who scripts run as (`--user`, `--group`), what rcgi does when root
//! starts it without `--user`, and the refusal of scripts others may
//! write. The user switches need root (CI runs as root); run as another
//! user, those tests say so and check nothing.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{Root, Server};
use nix::unistd::{Uid, User};

/// A script that prints who it runs as.
const WHO: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"uid=$(id -u) gid=$(id -g) groups=$(id -G) home=${HOME-unset}\"\n";

fn is_root() -> bool {
    if !Uid::effective().is_root() {
        eprintln!("not run: switching users needs root (CI runs these tests as root)");
        return false;
    }
    true
}

fn nobody() -> User {
    User::from_name("nobody").unwrap().expect("a user nobody")
}

/// A root folder `nobody` can reach: the temporary folder opened up.
fn open_root() -> Root {
    let root = Root::new();
    fs::set_permissions(root.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    root.script("who.sh", WHO);
    root
}

/// The Uid: and Groups: lines of /proc/PID/status.
fn ids_of(pid: u32) -> (String, String) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    (line("Uid:"), line("Groups:"))
}

fn rcgi(root: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rcgi"));
    cmd.arg("--root")
        .arg(root)
        .args(["--port", "0", "--bind", "127.0.0.1"])
        .args(args)
        .env("HOME", "/root");
    cmd
}

/// Runs an rcgi that should stop at start: its exit code and stderr.
/// One that serves instead is killed, and the test fails.
fn run_to_exit(cmd: &mut Command) -> (Option<i32>, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + common::WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rcgi served instead of stopping at start");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr)
}

#[test]
fn scripts_run_as_the_user_with_its_groups_only_and_no_home() {
    if !is_root() {
        return;
    }
    let root = open_root();
    let server = Server::start_with_env(&root.path(), &["--user", "nobody"], &[("HOME", "/root")]);
    let nobody = nobody();
    let text = server.get("/cgi-bin/who.sh").text();
    assert_eq!(
        text.trim(),
        format!(
            "uid={} gid={} groups={} home=unset",
            nobody.uid, nobody.gid, nobody.gid
        )
    );
    let (uids, groups) = ids_of(server.pid());
    let id = nobody.uid.to_string();
    assert_eq!(
        uids,
        [id.as_str(); 4].join(" "),
        "rcgi itself runs as nobody"
    );
    assert_eq!(groups, nobody.gid.to_string());
    server.wait_stderr("running as nobody");
}

#[test]
fn group_replaces_the_primary_group() {
    if !is_root() {
        return;
    }
    let root = open_root();
    let server = root.start(&["--user", "nobody", "--group", "daemon"]);
    let daemon = nix::unistd::Group::from_name("daemon").unwrap().unwrap();
    let text = server.get("/cgi-bin/who.sh").text();
    assert!(text.contains(&format!("gid={} ", daemon.gid)), "{text}");
}

#[test]
fn root_without_user_runs_as_nobody_and_says_so() {
    if !is_root() {
        return;
    }
    let root = open_root();
    let server = Server::spawn(&root.path(), &mut rcgi(&root.path(), &[]));
    let line = server.wait_stderr("started as root without --user");
    assert!(
        line.contains("run as nobody") && line.contains("--user NAME"),
        "{line}"
    );
    let text = server.get("/cgi-bin/who.sh").text();
    assert!(
        text.starts_with(&format!("uid={} ", nobody().uid)),
        "{text}"
    );
}

#[test]
fn root_without_user_and_an_unreachable_root_stops_with_one_line() {
    if !is_root() {
        return;
    }
    let root = Root::new();
    fs::set_permissions(root.dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    root.script("who.sh", WHO);
    let (code, stderr) = run_to_exit(&mut rcgi(&root.path(), &[]));
    assert_eq!(code, Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let root_shown = root.path().display().to_string();
    assert!(
        lines[0].contains("cannot reach")
            && lines[0].contains(&root_shown)
            && lines[0].contains("--user NAME")
            && lines[0].contains("--user root"),
        "{stderr}"
    );
}

#[test]
fn user_root_keeps_root_and_warns() {
    if !is_root() {
        return;
    }
    let root = open_root();
    let server = root.start(&["--user", "root"]);
    server.wait_stderr("running as root, and so do the scripts");
    assert!(server.get("/cgi-bin/who.sh").text().starts_with("uid=0 "));
}

#[test]
fn a_normal_user_keeps_its_identity_and_cannot_switch() {
    if !is_root() {
        return;
    }
    let root = open_root();
    let nobody = nobody();
    let as_nobody = |cmd: &mut Command| {
        std::os::unix::process::CommandExt::uid(cmd, nobody.uid.as_raw());
        std::os::unix::process::CommandExt::gid(cmd, nobody.gid.as_raw());
    };
    let mut cmd = rcgi(&root.path(), &[]);
    as_nobody(&mut cmd);
    let server = Server::spawn(&root.path(), &mut cmd);
    assert!(!server.stderr().iter().any(|l| l.contains("running as")));
    let text = server.get("/cgi-bin/who.sh").text();
    assert!(text.starts_with(&format!("uid={} ", nobody.uid)), "{text}");
    drop(server);

    let mut cmd = rcgi(&root.path(), &["--user", "root"]);
    as_nobody(&mut cmd);
    let (code, stderr) = run_to_exit(&mut cmd);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--user root: only root can switch users"),
        "{stderr}"
    );
}

#[test]
fn scripts_others_may_write_are_refused_unless_allowed() {
    let root = Root::new();
    root.file("open.sh", WHO, 0o757);
    root.file("group.sh", WHO, 0o775);
    root.script("shared/in.sh", WHO);
    let shared = root.path().join("shared");
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    root.script("fine.sh", WHO);
    let server = root.start(&[]);
    assert_eq!(server.get("/cgi-bin/fine.sh").status, 200);
    for (path, file, what) in [
        ("/cgi-bin/open.sh", "open.sh", "open.sh"),
        ("/cgi-bin/group.sh", "group.sh", "group.sh"),
        ("/cgi-bin/shared/in.sh", "shared/in.sh", "shared"),
    ] {
        assert_eq!(server.get(path).status, 403, "{path}");
        let file = root.path().join(file).display().to_string();
        let line = server.wait_stderr(&format!("refused {file}:"));
        let what = root.path().join(what).display().to_string();
        assert!(line.contains(&format!("{what} is writable by")), "{line}");
    }
    drop(server);

    let server = root.start(&["--allow-writable"]);
    for path in [
        "/cgi-bin/open.sh",
        "/cgi-bin/group.sh",
        "/cgi-bin/shared/in.sh",
    ] {
        assert_eq!(server.get(path).status, 200, "{path}");
    }
}
