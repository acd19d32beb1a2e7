//! Fossil, a real CGI program that forks a detached backoffice process
//! after serving a page: the process outlives every host's kill of the
//! script's process group, and rcgi kills it once its `--linger` is over,
//! on either containment path.

mod common;

use std::process::Command;

use common::{Root, is_dead, require, run_ok, wait_until};

/// The backoffice's kill, as rcgi logs it: its pid and its command
/// line, which is fossil's on the CGI script.
fn killed_backoffice(line: &str) -> Option<u32> {
    let rest = line.split("killed leftover pid ").nth(1)?;
    let (pid, command) = rest.split_once(' ')?;
    command
        .starts_with("(/usr/bin/fossil ")
        .then(|| pid.parse().ok())
        .flatten()
}

#[test]
fn fossils_backoffice_is_killed_after_the_linger() {
    let fossil = require("fossil", "fossil");
    for path in ["group", "cgroup"] {
        let root = Root::new();
        let home = tempfile::tempdir().unwrap();
        let repo = home.path().join("demo.fossil");
        run_ok(
            Command::new(&fossil)
                .arg("init")
                .arg("--admin-user")
                .arg("demo")
                .arg(&repo)
                .env("HOME", home.path()),
        );
        root.script(
            "repo.cgi",
            &format!("#!{}\nrepository: {}\n", fossil.display(), repo.display()),
        );
        if path == "cgroup" {
            if let Err(why) = common::cgroup_usable() {
                eprintln!("legacy_fossil: the cgroup path cannot run here ({why})");
                continue;
            }
        }
        let server = root.start(&["--linger", "1s", "--contain", path]);
        // The first page of a new repository takes the backoffice's
        // lease; from the second on, a page starts the backoffice.
        for _ in 0..2 {
            let r = server.get("/cgi-bin/repo.cgi/timeline");
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            assert!(r.text().contains("Timeline"), "{path}");
        }
        let line = server.wait_stderr("(/usr/bin/fossil ");
        let pid = killed_backoffice(&line).unwrap_or_else(|| panic!("{line}"));
        assert!(line.contains("still running"), "{line}");
        wait_until("the backoffice gone", || is_dead(pid).then_some(()));
        wait_until("no zombie", || server.zombies().is_empty().then_some(()));
        server.stop();
    }
}
