//! Custody: nothing a request starts outlives it by more than
//! `--linger`. Scripts leave behind a `setsid` escapee, a double-forked
//! daemon and 200 background sleepers; all of them must be gone after
//! the linger (1 s here) once the request ends normally, times out, or
//! loses its client, and at once when rcgi stops; `--linger unlimited`
//! leaves them. Both containment paths run where they can: the session
//! path everywhere, the cgroup path where a cgroup2 folder can be made
//! (the test says so when it cannot). Every process a test starts is
//! killed by pid when the test ends, passed or failed.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{Root, Server, is_dead, proc_state, wait_until};
use nix::sys::signal::Signal;

/// How many background sleepers the crowd script starts.
const SLEEPERS: usize = 200;

/// The script every test runs: it leaves a `setsid` escapee, a daemon
/// (fork, setsid, fork again) and a crowd of sleepers in its own group,
/// writes their pids, then does what `$MODE` says (`QUERY_STRING`).
const LEAVER: &str = r#"#!/bin/sh
exec </dev/null
setsid sh -c 'exec sleep 333' >/dev/null 2>&1 &
echo $! > escapee.pid
./daemon.sh
i=0
while [ $i -lt $SLEEPERS ]; do
    sleep 335 >/dev/null 2>&1 &
    echo $! >> sleepers.pid
    i=$((i+1))
done
# A short-lived orphan: reaped by rcgi once it exits.
(sleep 0.1 >/dev/null 2>&1 & echo $! > brief.pid)
while [ ! -s daemon.pid ]; do sleep 0.01; done
echo started > started
case "$QUERY_STRING" in
    wait) sleep 30 ;;
esac
echo "Content-Type: text/plain"
echo
echo done
"#;

/// A classic daemon: a child that leads a new session, whose own child
/// is orphaned at once.
const DAEMON: &str = r#"#!/bin/sh
if [ "$1" != child ]; then
    ( setsid ./daemon.sh child >/dev/null 2>&1 & )
    exit 0
fi
sleep 334 &
echo $! > daemon.pid.tmp
mv daemon.pid.tmp daemon.pid
"#;

/// The processes a test's scripts left, killed by pid when the test ends.
struct Leftovers {
    dir: PathBuf,
    pids: Vec<u32>,
}

impl Leftovers {
    /// A guard over what the scripts run in `dir` leave: made before the
    /// request, so that even a test that fails early kills them.
    fn guard(dir: &Path) -> Leftovers {
        Leftovers {
            dir: dir.to_path_buf(),
            pids: Vec::new(),
        }
    }

    /// Waits until the script says it has started all, and reads their pids.
    fn started(&mut self) {
        wait_until("the script's leftovers to start", || {
            self.dir.join("started").exists().then_some(())
        });
        self.pids = self.written();
        assert_eq!(
            self.pids.len(),
            2 + SLEEPERS,
            "pids written: {:?}",
            self.pids
        );
    }

    /// The pids the script wrote so far.
    fn written(&self) -> Vec<u32> {
        let read = |name: &str| -> Vec<u32> {
            fs::read_to_string(self.dir.join(name))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        };
        let mut pids = read("escapee.pid");
        pids.extend(read("daemon.pid"));
        pids.extend(read("sleepers.pid"));
        pids
    }

    fn escapee(&self) -> u32 {
        self.pids[0]
    }

    fn daemon(&self) -> u32 {
        self.pids[1]
    }

    fn brief(&self) -> u32 {
        fs::read_to_string(self.dir.join("brief.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    fn alive(&self) -> Vec<u32> {
        self.pids.iter().copied().filter(|&p| !is_dead(p)).collect()
    }

    fn wait_all_gone(&self, after: &str) {
        wait_until(&format!("every leftover killed after {after}"), || {
            self.alive().is_empty().then_some(())
        });
    }
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for pid in self.written() {
            // Only what is still a sleep of ours (its pid not reused).
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                common::signal(pid as i32, Signal::SIGKILL);
            }
        }
    }
}

/// A root with the two scripts.
fn root() -> Root {
    let root = Root::new();
    root.script(
        "leaver.sh",
        &LEAVER.replace("$SLEEPERS", &SLEEPERS.to_string()),
    );
    root.script("daemon.sh", DAEMON);
    root
}

/// The containment paths this machine can run, saying which it cannot.
fn paths() -> Vec<&'static str> {
    match common::cgroup_usable() {
        Ok(()) => vec!["group", "cgroup"],
        Err(why) => {
            eprintln!(
                "custody: the cgroup path cannot run here ({why}); testing the group path only"
            );
            vec!["group"]
        }
    }
}

fn start(root: &Root, path: &str, extra: &[&str]) -> Server {
    start_lingering(root, path, "1s", extra)
}

fn start_lingering(root: &Root, path: &str, linger: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--linger", linger, "--contain", path];
    args.extend_from_slice(extra);
    let server = root.start(&args);
    let said = if path == "cgroup" {
        "held in cgroups under"
    } else {
        "held by process group, rcgi as subreaper"
    };
    server.wait_stderr(said);
    server
}

/// The kill of the escapee is logged with its pid and command, after
/// rcgi's own measure of at least the linger.
fn check_logged(server: &Server, left: &Leftovers) {
    let line = server.wait_stderr(&format!(
        "killed leftover pid {} (sleep 333)",
        left.escapee()
    ));
    let waited: f64 = line
        .split("still running ")
        .nth(1)
        .and_then(|r| r.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no time in {line:?}"));
    assert!(waited >= 1.0, "killed before the linger: {line}");
}

fn no_zombies(server: &Server) {
    wait_until("rcgi to reap every adopted orphan", || {
        server.zombies().is_empty().then_some(())
    });
}

#[test]
fn leftovers_of_a_normal_end_are_killed_after_the_linger() {
    for path in paths() {
        let root = root();
        let server = start(&root, path, &[]);
        let mut left = Leftovers::guard(&root.path());
        let r = server.get("/cgi-bin/leaver.sh");
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        left.started();
        left.wait_all_gone(&format!("a normal end ({path})"));
        check_logged(&server, &left);
        wait_until("the brief orphan reaped", || {
            proc_state(left.brief()).is_none().then_some(())
        });
        no_zombies(&server);
        server.stop();
    }
}

#[test]
fn leftovers_of_a_timed_out_script_are_killed_after_the_linger() {
    for path in paths() {
        let root = root();
        let server = start(&root, path, &["--timeout", "2s"]);
        let mut left = Leftovers::guard(&root.path());
        let r = server.get("/cgi-bin/leaver.sh?wait");
        assert_eq!(r.status, 504, "{path}");
        left.started();
        left.wait_all_gone(&format!("a timeout ({path})"));
        check_logged(&server, &left);
        no_zombies(&server);
        server.stop();
    }
}

#[test]
fn leftovers_of_an_abandoned_request_are_killed_after_the_linger() {
    for path in paths() {
        let root = root();
        let server = start(&root, path, &[]);
        let mut left = Leftovers::guard(&root.path());
        let mut client = server.connect();
        client.send(b"GET /cgi-bin/leaver.sh?wait HTTP/1.1\r\nHost: t\r\n\r\n");
        left.started();
        drop(client);
        server.wait_stderr("client closed the connection");
        left.wait_all_gone(&format!("a client disconnect ({path})"));
        check_logged(&server, &left);
        no_zombies(&server);
        server.stop();
    }
}

#[test]
fn stopping_rcgi_kills_every_leftover_at_once() {
    for path in paths() {
        let root = root();
        // A linger far longer than the test: only the stop kills.
        let server = start_lingering(&root, path, "1h", &[]);
        let cgroup = server.stderr().iter().find_map(|l| {
            Some(
                l.split_once("cgroups under ")?
                    .1
                    .split(' ')
                    .next()?
                    .to_string(),
            )
        });
        let mut left = Leftovers::guard(&root.path());
        let r = server.get("/cgi-bin/leaver.sh");
        assert_eq!(r.status, 200, "{path}");
        left.started();
        assert!(left.alive().contains(&left.escapee()) && left.alive().contains(&left.daemon()));
        let status = server.stop();
        assert!(status.success(), "{path}: {status:?}");
        left.wait_all_gone(&format!("rcgi stopped ({path})"));
        if let Some(folder) = cgroup {
            assert!(!Path::new(&folder).exists(), "{folder} left behind");
        }
    }
}

#[test]
fn unlimited_linger_leaves_them_running() {
    let root = root();
    // `session`, the old name of `group`, still works.
    let server = root.start(&["--linger", "unlimited", "--contain", "session"]);
    server.wait_stderr("--linger unlimited: what requests leave running may run for ever");
    let mut left = Leftovers::guard(&root.path());
    let r = server.get("/cgi-bin/leaver.sh");
    assert_eq!(r.status, 200);
    left.started();
    // rcgi has looked at its orphans since: it reaped the brief one.
    wait_until("the brief orphan reaped", || {
        proc_state(left.brief()).is_none().then_some(())
    });
    assert_eq!(left.alive().len(), 2 + SLEEPERS, "none killed");
    assert!(
        !server
            .stderr()
            .iter()
            .any(|l| l.contains("killed leftover"))
    );
    no_zombies(&server);
    // Leftovers' drop kills them.
}

#[test]
fn a_forced_cgroup_path_that_cannot_run_refuses_to_start() {
    if common::cgroup_usable().is_ok() {
        eprintln!(
            "custody: a cgroup2 folder can be made here; the refusal of --contain cgroup is not tested"
        );
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rcgi"))
        .args(["--port", "0", "--contain", "cgroup", "--root"])
        .arg(Root::new().path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--contain cgroup"), "{err}");
}

#[test]
fn a_bad_linger_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rcgi"))
        .args(["--linger", "forever", "--root", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--linger"));
}

#[test]
fn reaping_orphans_never_steals_a_scripts_exit_status() {
    // Scripts that exit at once, each leaving a brief orphan: the warden
    // reaps orphans while other scripts start and end. Every script's own
    // status must reach the engine (exit 3 here, shown in the log).
    let root = Root::new();
    root.script(
        "orphaning.sh",
        "#!/bin/sh\n(sleep 0.01 </dev/null >/dev/null 2>&1 &)\nprintf 'Content-Type: text/plain\\n\\nok'\nexit 3\n",
    );
    for path in paths() {
        let server = start(&root, path, &[]);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..50 {
                        let r = server.get("/cgi-bin/orphaning.sh");
                        assert_eq!((r.status, r.text().as_str()), (200, "ok"), "{path}");
                    }
                });
            }
        });
        let ends: Vec<String> = wait_until("200 scripts logged", || {
            let ends: Vec<String> = server
                .stderr()
                .into_iter()
                .filter(|l| l.contains("/cgi-bin/orphaning.sh["))
                .collect();
            (ends.len() >= 200).then_some(ends)
        });
        let wrong: Vec<&String> = ends
            .iter()
            .filter(|l| !l.contains("exit 3 after"))
            .collect();
        assert!(wrong.is_empty(), "{path}: {wrong:#?}");
        no_zombies(&server);
        server.stop();
    }
}

/// A script that says who and where it runs, and leaves an escapee whose
/// pid it prints.
const WHO_LEAVES: &str = r#"#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
id -u
grep '^0::' /proc/self/cgroup
setsid sh -c 'exec sleep 336' >/dev/null 2>&1 </dev/null &
echo $!
"#;

/// After rcgi drops root, the cgroup path still works: rcgi gave its
/// cgroup folder to the user before the drop, so scripts (as nobody)
/// join their request's leaf and their leftovers are killed.
#[test]
fn the_cgroup_path_works_after_dropping_to_nobody() {
    if let Err(why) = common::cgroup_usable() {
        eprintln!("custody: the cgroup path cannot run here ({why}); not run");
        return;
    }
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("custody: not root, so no drop to test; not run");
        return;
    }
    let root = Root::new();
    root.script("who.sh", WHO_LEAVES);
    let server = root.start(&["--user", "nobody", "--contain", "cgroup", "--linger", "1s"]);
    let said = server.wait_stderr("held in cgroups under");
    let folder = said
        .split("held in cgroups under ")
        .nth(1)
        .and_then(|r| r.split(" (").next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no folder in {said:?}"));
    let r = server.get("/cgi-bin/who.sh");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"65534"), "{text}");
    let cgroup = lines.get(1).copied().unwrap_or_default();
    assert!(
        cgroup.contains("/rcgi-") && cgroup.contains("/req-"),
        "not in a request's cgroup: {text}"
    );
    let escapee: u32 = lines
        .get(2)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {text}"));
    let guard = Leftovers {
        dir: root.path(),
        pids: vec![escapee],
    };
    wait_until("the escapee killed after the linger", || {
        is_dead(escapee).then_some(())
    });
    server.wait_stderr(&format!("killed leftover pid {escapee} (sleep 336)"));
    drop(guard);
    server.stop();
    // As nobody, rcgi cannot remove its folder (its parent is root's):
    // the test, as root, does.
    for leaf in fs::read_dir(&folder).into_iter().flatten().flatten() {
        let _ = fs::remove_dir(leaf.path());
    }
    let _ = fs::remove_dir(&folder);
}
