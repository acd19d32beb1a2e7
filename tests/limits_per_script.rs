//! The per-script limits (`--limit-cpu`, `--limit-memory`,
//! `--limit-procs`, `--limit-files`, `--limit-fsize`) and `--umask`, set
//! in the script's process before it runs: seen by the script, enforced
//! by the kernel, and a death by one of them logged with its name.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::Root;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, Uid};

const HEAD: &str = "printf 'Content-Type: text/plain\\r\\n\\r\\n'";

/// The soft and hard values of a line of /proc/PID/limits.
fn limit(limits: &str, name: &str) -> (String, String) {
    let line = limits
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name:?} in {limits}"));
    let mut words = line[name.len()..].split_whitespace();
    let soft = words.next().unwrap_or_default().to_string();
    let hard = words.next().unwrap_or_default().to_string();
    (soft, hard)
}

#[test]
fn the_script_sees_each_limit() {
    let root = Root::new();
    root.script(
        "limits.sh",
        &format!("#!/bin/sh\n{HEAD}\ncat /proc/$$/limits\n"),
    );
    let server = root.start(&[
        "--limit-cpu",
        "7",
        "--limit-memory",
        "256M",
        "--limit-procs",
        "300",
        "--limit-files",
        "77",
        "--limit-fsize",
        "2M",
    ]);
    let limits = server.get("/cgi-bin/limits.sh").text();
    let both = |v: &str| (v.to_string(), v.to_string());
    assert_eq!(limit(&limits, "Max cpu time"), ("7".into(), "8".into()));
    assert_eq!(limit(&limits, "Max address space"), both("268435456"));
    assert_eq!(limit(&limits, "Max processes"), both("300"));
    assert_eq!(limit(&limits, "Max open files"), both("77"));
    assert_eq!(limit(&limits, "Max file size"), both("2097152"));

    // Without the options, the script has rcgi's own limits.
    drop(server);
    let server = root.start(&[]);
    let limits = server.get("/cgi-bin/limits.sh").text();
    assert_eq!(limit(&limits, "Max address space").0, "unlimited");
}

#[test]
fn a_cpu_spinner_dies_by_sigxcpu_and_the_log_says_why() {
    let root = Root::new();
    root.script("spin.sh", "#!/bin/sh\nwhile :; do :; done\n");
    let server = root.start(&["--limit-cpu", "1", "--debug"]);
    let response = server.get("/cgi-bin/spin.sh");
    assert_eq!(response.status, 502);
    let page = response.text();
    assert!(
        page.contains("killed by SIGXCPU (exceeded --limit-cpu 1s)"),
        "{page}"
    );
    let line = server.wait_stderr("exceeded --limit-cpu 1s (SIGXCPU)");
    assert_eq!(common::level(&line), "warn", "{line}");
}

#[test]
fn an_allocation_over_the_memory_limit_fails() {
    let python = common::require("/usr/bin/python3", "python3");
    let root = Root::new();
    let script = format!(
        "#!{}\nimport sys\nprint('Content-Type: text/plain\\n')\ntry:\n    b = bytearray(200 * 1024 * 1024)\n    print('allocated')\nexcept MemoryError:\n    print('MemoryError')\n",
        python.display()
    );
    root.script("alloc.py", &script);
    let server = root.start(&["--limit-memory", "64M"]);
    assert_eq!(server.get("/cgi-bin/alloc.py").text().trim(), "MemoryError");
    drop(server);
    // The same script allocates without the limit: the limit did it.
    let server = root.start(&[]);
    assert_eq!(server.get("/cgi-bin/alloc.py").text().trim(), "allocated");
}

/// A script that forks sleepers until fork fails (giving up after 5
/// failures or 200 children) and prints its pid, how many it started
/// and how many forks failed; the sleepers keep nothing of the request.
const FORK_LOOP: &str = r#"#!/usr/bin/perl
$| = 1;
print "Content-Type: text/plain\r\n\r\n";
my ($started, $failed) = (0, 0);
while ($failed < 5 && $started < 200) {
    my $pid = fork();
    if (!defined $pid) { $failed++; next; }
    if ($pid == 0) {
        open(STDOUT, '>', '/dev/null'); open(STDERR, '>', '/dev/null');
        sleep 60; exit 0;
    }
    $started++;
}
print "$$ $started $failed\n";
"#;

#[test]
fn a_fork_loop_stops_at_the_process_limit() {
    if !Uid::effective().is_root() {
        eprintln!(
            "not run: RLIMIT_NPROC binds only a user other than root, which needs root to switch to (CI runs as root)"
        );
        return;
    }
    common::require("/usr/bin/perl", "perl");
    let root = Root::new();
    fs::set_permissions(root.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    root.script("forks.pl", FORK_LOOP);
    // Root is exempt from RLIMIT_NPROC: the scripts run as nobody.
    let server = root.start(&["--user", "nobody", "--limit-procs", "20"]);
    let text = server.get("/cgi-bin/forks.pl").text();
    let words: Vec<u32> = text
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    let [pid, started, failed] = words[..] else {
        panic!("{text}")
    };
    // Every process of nobody counts, rcgi's own threads too.
    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
    assert_eq!(failed, 5, "{text}");
    assert!(started < 20, "{text}");
    eprintln!("under --limit-procs 20 the script started {started} processes");
}

#[test]
fn a_write_past_the_file_size_limit_dies_by_sigxfsz() {
    let root = Root::new();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("big");
    root.script(
        "write.sh",
        // fd 3 keeps stdout open, so that the script's end is its death.
        "#!/bin/sh\nexec 3>&1\nexec head -c 10485760 /dev/zero > \"$OUT\"\n",
    );
    let env = format!("OUT={}", file.display());
    let server = root.start(&["--limit-fsize", "1M", "--env", &env, "--debug"]);
    let response = server.get("/cgi-bin/write.sh");
    assert_eq!(response.status, 502);
    let page = response.text();
    assert!(
        page.contains("killed by SIGXFSZ (exceeded --limit-fsize 1M)"),
        "{page}"
    );
    let line = server.wait_stderr("exceeded --limit-fsize 1M (SIGXFSZ)");
    assert!(line.contains("/cgi-bin/write.sh"), "{line}");
    server.wait_stderr("killed by SIGXFSZ (exceeded --limit-fsize 1M) after");
    assert_eq!(fs::metadata(&file).unwrap().len(), 1 << 20);
}

#[test]
fn a_limit_the_kernel_refuses_is_a_502_naming_it() {
    let root = Root::new();
    root.script("hello.sh", &format!("#!/bin/sh\n{HEAD}\necho hello\n"));
    // Above fs.nr_open (at most 2^30 - 8): EPERM even for root.
    let server = root.start(&["--limit-files", "1073741824"]);
    assert_eq!(server.get("/cgi-bin/hello.sh").status, 502);
    let line = server.wait_stderr("cannot set RLIMIT_NOFILE before exec");
    assert!(line.contains("Operation not permitted"), "{line}");
}

#[test]
fn umask_applies_to_what_scripts_create() {
    let root = Root::new();
    let out = tempfile::tempdir().unwrap();
    root.script(
        "touch.sh",
        &format!("#!/bin/sh\n{HEAD}\numask\n: > \"$OUT/made\"\n"),
    );
    let env = format!("OUT={}", out.path().display());
    let server = root.start(&["--umask", "077", "--env", &env]);
    assert_eq!(server.get("/cgi-bin/touch.sh").text().trim(), "0077");
    let mode = fs::metadata(out.path().join("made"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    fs::remove_file(out.path().join("made")).unwrap();
    drop(server);
    let server = root.start(&["--env", &env]);
    assert_eq!(server.get("/cgi-bin/touch.sh").text().trim(), "0022");
    let mode = fs::metadata(out.path().join("made"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
}
