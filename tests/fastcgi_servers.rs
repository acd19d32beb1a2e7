//! rcgi's FastCGI listener behind the four real web servers from
//! Debian's packages (`common::front_servers`): nginx over a Unix socket
//! and over TCP, Caddy, lighttpd and Apache. Through each: the script's
//! environment, a 100 MiB echo byte for byte, a chunked upload, a
//! streamed response, a local redirect, a 404 and a 403, a timeout and a
//! client that goes away (both stopping the script's process group),
//! and git clone and push through git-http-backend behind nginx. With
//! `RCGI_TEST_FASTCGI_BACKEND=fcgiwrap` the same requests go to fcgiwrap
//! instead, for comparison; the checks of what only rcgi does (its
//! timeout, its killing of abandoned scripts, streaming, its local
//! redirects, its 404) then only print what fcgiwrap did or are skipped;
//! what fcgiwrap does otherwise fails: the environment behind nginx
//! (no `PATH_INFO` from Debian's `fastcgi_params`), a chunked upload
//! through Apache and Caddy (no `CONTENT_LENGTH`, or -1), `--max-body`.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::fastcgi_backend::{Backend, Listen};
use common::front_servers::{Front, Kind};
use common::{
    Client, Root, WAIT, bare_repo, client_command, git, is_dead, noise, open_gate, push_noise,
    require, run_ok, wait_until,
};

/// The size of the echoed body.
const ECHO_BYTES: usize = 100 << 20;
/// The echo body is written in pieces of this size (each its own noise).
const PIECE: usize = 1 << 20;
/// The chunked upload's size and the size of its chunks (curl's).
const UPLOAD_BYTES: usize = 3 << 20;
/// The file the git check pushes.
const GIT_FILE_BYTES: usize = 5 << 20;
/// rcgi's --timeout in the timeout check.
const TIMEOUT: &str = "2s";
/// Seconds curl may take for one request (a bound, not a measure).
const CURL_MAX_SECONDS: &str = "120";

/// The variables the environment check prints, one `NAME=value` a line.
const ENV: &str = r#"#!/bin/sh
printf 'Content-Type: text/plain\n\n'
for v in GATEWAY_INTERFACE SERVER_PROTOCOL REQUEST_METHOD SCRIPT_NAME PATH_INFO QUERY_STRING CONTENT_TYPE CONTENT_LENGTH REMOTE_ADDR SERVER_PORT HTTP_X_TEST; do
    eval "printf '%s=%s\n' $v \"\${$v-unset}\""
done
printf 'body='; cat; printf '\n'
"#;

/// Echoes its body once it has read all of it (into a temporary file):
/// rcgi holds a script's output until the body has come, up to 192 KiB,
/// so a script that echoes as it reads stalls past that (with nginx and
/// Caddy, which send no more of a body once a response has begun, and
/// Apache too, seen here).
const ECHO: &str = r#"#!/bin/sh
t=$(mktemp) || exit 1
cat > "$t"
printf 'Content-Type: application/octet-stream\n\n'
cat "$t"
rm -f "$t"
"#;

/// Reads its whole body, then says how long it was and its digest.
const DIGEST: &str = r#"#!/bin/sh
sum=$(sha256sum | cut -d' ' -f1)
printf 'Content-Type: text/plain\n\n'
echo "length=${CONTENT_LENGTH-unset}"
echo "$sum"
"#;

const REDIRECT: &str = "#!/bin/sh\nprintf 'Location: /cgi-bin/env.sh?from=redirect\\n\\n'\n";

/// A script that notes its pid and its child's, then runs: `@DIR@` is
/// where the pid files go, `@BODY@` what it does meanwhile.
const RUNNER: &str = r#"#!/bin/sh
sleep 300 &
echo $! > @DIR@/sleeper.pid
echo $$ > @DIR@/script.pid
@BODY@
"#;

/// One server in front of one backend, with the scripts in `cgi-bin`.
struct Site {
    front: Front,
    backend: Backend,
    docroot: Root,
    /// Holds the backend's socket.
    _sock_dir: tempfile::TempDir,
}

impl Site {
    fn new(kind: Kind, tcp: bool, rcgi_args: &[&str]) -> Site {
        let docroot = Root::new();
        let d = docroot.path();
        fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        write_scripts(&docroot);
        let sock_dir = tempfile::tempdir().unwrap();
        fs::set_permissions(sock_dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let listen = if tcp {
            Listen::tcp()
        } else {
            Listen::unix(sock_dir.path())
        };
        let backend = Backend::start(&d.join("cgi-bin"), listen, rcgi_args);
        let front = Front::start(kind, &d, backend.listen());
        Site {
            front,
            backend,
            docroot,
            _sock_dir: sock_dir,
        }
    }

    fn url(&self, path: &str) -> String {
        self.front.url(path)
    }

    fn dir(&self) -> PathBuf {
        self.docroot.path()
    }

    /// curl `args` against `path`: (status, body).
    fn curl(&self, path: &str, args: &[&str]) -> (u16, Vec<u8>) {
        let out = run_ok(
            client_command("curl", &self.dir())
                .args([
                    "-sS",
                    "--max-time",
                    CURL_MAX_SECONDS,
                    "-w",
                    "\n%{http_code}",
                ])
                .args(args)
                .arg(self.url(path)),
        );
        let split = out.iter().rposition(|b| *b == b'\n').unwrap();
        let status = String::from_utf8_lossy(&out[split + 1..]).parse().unwrap();
        (status, out[..split].to_vec())
    }
}

fn write_scripts(root: &Root) {
    let d = root.path();
    root.script("cgi-bin/env.sh", ENV);
    root.script("cgi-bin/echo.sh", ECHO);
    root.script("cgi-bin/digest.sh", DIGEST);
    root.script("cgi-bin/redirect.sh", REDIRECT);
    root.file(
        "cgi-bin/plain.sh",
        "#!/bin/sh\necho no execute bit\n",
        0o644,
    );
    root.gate("gate");
    let stream = format!(
        "printf 'Content-Type: text/plain\\n\\nfirst\\n'\nread x < {}/gate\necho second",
        d.display()
    );
    let slow = "wait".to_string();
    let endless = "printf 'Content-Type: text/plain\\n\\n'\nwhile :; do echo tick; sleep 0.1; done";
    for (name, body) in [
        ("stream.sh", &stream[..]),
        ("slow.sh", &slow),
        ("endless.sh", endless),
    ] {
        let text = RUNNER
            .replace("@DIR@", &d.display().to_string())
            .replace("@BODY@", body);
        root.script(&format!("cgi-bin/{name}"), &text);
    }
}

// The checks, each run through every server below.

/// The meta-variables a script gets through the server.
fn environment(site: &Site) {
    let (status, body) = site.curl(
        "/cgi-bin/env.sh/extra/path?a=1&b=two",
        &[
            "-H",
            "X-Test: yes",
            "-H",
            "Content-Type: text/x-test",
            "--data-binary",
            "hello",
        ],
    );
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{text}");
    let port = format!("SERVER_PORT={}", site.front.port);
    for want in [
        "GATEWAY_INTERFACE=CGI/1.1",
        "SERVER_PROTOCOL=HTTP/1.1",
        "REQUEST_METHOD=POST",
        "SCRIPT_NAME=/cgi-bin/env.sh",
        "PATH_INFO=/extra/path",
        "QUERY_STRING=a=1&b=two",
        "CONTENT_TYPE=text/x-test",
        "CONTENT_LENGTH=5",
        "REMOTE_ADDR=127.0.0.1",
        &port,
        "HTTP_X_TEST=yes",
        "body=hello",
    ] {
        assert!(text.lines().any(|l| l == want), "{want} in:\n{text}");
    }
}

/// 100 MiB of noise in a file of `dir`, and its digest.
fn big_file(dir: &Path) -> (PathBuf, String) {
    let path = dir.join("big.bin");
    let mut f = fs::File::create(&path).unwrap();
    for i in 0..ECHO_BYTES / PIECE {
        f.write_all(&noise(PIECE, i as u64 + 1)).unwrap();
    }
    drop(f);
    let digest = file_digest(&path);
    (path, digest)
}

fn file_digest(path: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(path));
    String::from_utf8_lossy(&out)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A 100 MiB body comes back byte for byte.
fn echo_100_mib(site: &Site) {
    let tmp = tempfile::tempdir().unwrap();
    let (big, digest) = big_file(tmp.path());
    let back = tmp.path().join("back.bin");
    let upload = format!("@{}", big.display());
    let (status, _) = site.curl(
        "/cgi-bin/echo.sh",
        &["--data-binary", &upload, "-o", back.to_str().unwrap()],
    );
    assert_eq!(status, 200);
    assert_eq!(fs::metadata(&back).unwrap().len(), ECHO_BYTES as u64);
    assert_eq!(file_digest(&back), digest, "the echo differs");
}

/// A chunked request body reaches the script whole, with its length.
fn chunked_upload(site: &Site) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("upload.bin");
    fs::write(&path, noise(UPLOAD_BYTES, 7)).unwrap();
    let upload = format!("@{}", path.display());
    let (status, body) = site.curl(
        "/cgi-bin/digest.sh",
        &["-H", "Transfer-Encoding: chunked", "--data-binary", &upload],
    );
    let text = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{text}");
    // nginx and lighttpd have the whole body before they pass it on, with
    // its length; Apache streams it without one, Caddy with
    // CONTENT_LENGTH=-1 (unknown), and rcgi spools it (`--chunked spool`),
    // so the script sees its length everywhere.
    let want = format!("length={UPLOAD_BYTES}\n{}\n", file_digest(&path));
    assert_eq!(text, want);
}

/// The first line arrives while the script still waits for the gate.
fn streaming(site: &Site) {
    if !site.backend.is_rcgi() {
        eprintln!("fcgiwrap holds the output until the script ends: skipped");
        return;
    }
    let mut s = TcpStream::connect(("127.0.0.1", site.front.port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"GET /cgi-bin/stream.sh HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("first\n") {
        let n = s
            .read(&mut buf)
            .expect("the first line before the script ends");
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(!String::from_utf8_lossy(&seen).contains("second"));
    open_gate(&site.dir().join("gate"));
    s.read_to_end(&mut seen).unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("second\n"), "{text}");
}

/// A `Location: /path` without a status: the client gets the target's
/// response (rcgi follows it before the server sees anything).
fn local_redirect(site: &Site) {
    let (status, body) = site.curl("/cgi-bin/redirect.sh", &[]);
    let text = String::from_utf8_lossy(&body);
    if !site.backend.is_rcgi() {
        eprintln!(
            "fcgiwrap + {:?}: local redirect gave {status}: {text}",
            site.front.kind
        );
        return;
    }
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("QUERY_STRING=from=redirect\n"), "{text}");
    assert!(text.contains("SCRIPT_NAME=/cgi-bin/env.sh\n"), "{text}");
}

/// No such script: 404; a file without its execute bit: 403.
fn not_found_and_forbidden(site: &Site) {
    let (status, body) = site.curl("/cgi-bin/nope.sh", &[]);
    if !site.backend.is_rcgi() {
        eprintln!(
            "fcgiwrap + {:?}: a missing script gave {status}",
            site.front.kind
        );
        return;
    }
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    // rcgi's refusal, not the server's own page (Apache looks for the file too).
    site.backend
        .wait_log("GET /cgi-bin/nope.sh: 404 no script at this path");
    let (status, body) = site.curl("/cgi-bin/plain.sh", &[]);
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    assert!(!String::from_utf8_lossy(&body).contains("no execute bit"));
    site.backend.wait_log("GET /cgi-bin/plain.sh: 403 ");
}

/// The pids the runner script wrote: (script, sleeper).
fn runner_pids(site: &Site) -> (u32, u32) {
    let read = |name: &str| {
        let path = site.dir().join(name);
        wait_until(&format!("{name} written"), || {
            fs::read_to_string(&path).ok()?.trim().parse::<u32>().ok()
        })
    };
    (read("script.pid"), read("sleeper.pid"))
}

fn wait_gone(pids: (u32, u32)) {
    wait_until("the script and its child to be gone", || {
        (is_dead(pids.0) && is_dead(pids.1)).then_some(())
    });
}

/// A script past rcgi's --timeout without its headers: 504, and its
/// group (the script and its child) is gone.
fn timeout(site: &Site) {
    if !site.backend.is_rcgi() {
        eprintln!("fcgiwrap has no timeout: skipped");
        return;
    }
    let url_path = "/cgi-bin/slow.sh";
    let request = {
        let mut cmd = client_command("curl", &site.dir());
        cmd.args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            CURL_MAX_SECONDS,
        ]);
        cmd.arg(site.url(url_path))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        cmd.spawn().unwrap()
    };
    let pids = runner_pids(site);
    wait_gone(pids);
    let out = request.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "504");
    site.backend.wait_log("timed out");
}

/// A client that closes mid-response: the script and its child go.
fn client_disconnect(site: &Site) {
    if !site.backend.is_rcgi() {
        eprintln!("fcgiwrap holds the output: no line to wait for; skipped");
        return;
    }
    let s = TcpStream::connect(("127.0.0.1", site.front.port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    (&s).write_all(b"GET /cgi-bin/endless.sh HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(&s);
    let mut line = String::new();
    while !line.contains("tick") {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "closed early");
    }
    let pids = runner_pids(site);
    drop(reader);
    drop(s);
    wait_gone(pids);
}

/// git's smart HTTP through nginx and git-http-backend: a clone, a push
/// of a commit holding 5 MiB of noise (which git sends chunked; nginx
/// passes it on with its length), and a second clone that gets the file
/// back byte for byte.
#[test]
fn git_clone_and_push_through_nginx() {
    require("git", "git");
    let site = Site::new(Kind::Nginx, false, &[]);
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().canonicalize().unwrap();
    let projects = home.join("projects");
    let bare = projects.join("repo.git");
    bare_repo(
        &bare,
        &home,
        &[("README", b"behind nginx\n")],
        "first commit",
    );
    git(&bare, &home, &["config", "http.receivepack", "true"]);
    let backend = format!(
        "#!/bin/sh\nexport GIT_PROJECT_ROOT={} GIT_HTTP_EXPORT_ALL=1\nexec git http-backend\n",
        projects.display()
    );
    site.docroot.script("cgi-bin/git", &backend);
    let url = site.url("/cgi-bin/git/repo.git");
    git(&home, &home, &["clone", "-q", &url, "first"]);
    let first = home.join("first");
    assert_eq!(fs::read(first.join("README")).unwrap(), b"behind nginx\n");

    let (big, trace) = push_noise(&first, &home, GIT_FILE_BYTES, "a 5 MiB file");
    assert!(
        trace.contains("=> Send header: Transfer-Encoding: chunked"),
        "{trace}"
    );
    let log = git(&bare, &home, &["log", "--format=%s", "main"]);
    assert_eq!(log, "a 5 MiB file\nfirst commit\n");

    git(&home, &home, &["clone", "-q", &url, "second"]);
    let again = fs::read(home.join("second/big.bin")).unwrap();
    assert!(again == big, "the pushed file differs");
    let log = site.backend.log();
    assert!(!log.contains("killed"), "{log}");
}

// Checks of the HTTP integration tests (response.rs, limits.rs) that
// also hold through nginx.

/// A script's status, its repeated and custom header fields, and HEAD.
#[test]
fn status_and_fields_through_nginx() {
    let site = Site::new(Kind::Nginx, false, &[]);
    site.docroot.script(
        "cgi-bin/made.sh",
        "#!/bin/sh\nprintf 'Status: 201 Created\\nX-Made: yes\\nSet-Cookie: a=1\\nSet-Cookie: b=2\\nContent-Type: text/plain\\n\\nmade\\n'\n",
    );
    let mut c = Client::connect(SocketAddr::from(([127, 0, 0, 1], site.front.port)));
    c.send(b"GET /cgi-bin/made.sh HTTP/1.1\r\nHost: test\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("x-made"), Some("yes"));
    assert_eq!(r.headers_named("set-cookie"), ["a=1", "b=2"]);
    assert_eq!(r.text(), "made\n");
    c.send(b"HEAD /cgi-bin/made.sh HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let r = c.head_response();
    assert_eq!(r.status, 201);
    assert!(c.is_closed(), "a body after the HEAD response");
}

/// A client redirect (an absolute URL) is a 302 with its Location.
#[test]
fn client_redirect_through_nginx() {
    let site = Site::new(Kind::Nginx, false, &[]);
    site.docroot.script(
        "cgi-bin/away.sh",
        "#!/bin/sh\nprintf 'Location: http://www.example.org/there\\n\\n'\n",
    );
    let (status, head) = site.curl("/cgi-bin/away.sh", &["-D", "-", "-o", "/dev/null"]);
    assert_eq!(status, 302);
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(
        head.contains("location: http://www.example.org/there"),
        "{head}"
    );
}

/// rcgi's --max-body: a body over it is its 413, and no script runs.
#[test]
fn max_body_through_nginx() {
    let site = Site::new(Kind::Nginx, false, &["--max-body", "1000"]);
    let body = "x".repeat(5000);
    let (status, text) = site.curl("/cgi-bin/digest.sh", &["--data-binary", &body]);
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&text));
    let refusal = site.backend.wait_log(" 413 ");
    assert!(!refusal.contains("digest.sh["), "a script ran: {refusal}");
    let (status, _) = site.curl("/cgi-bin/digest.sh", &["--data-binary", "small"]);
    assert_eq!(status, 200);
}

/// The tests of one server: `$make` builds its Site.
macro_rules! through {
    ($server:ident, $kind:expr, $tcp:expr) => {
        mod $server {
            use super::*;

            fn site() -> Site {
                Site::new($kind, $tcp, &[])
            }

            #[test]
            fn environment() {
                super::environment(&site());
            }
            #[test]
            fn echo_100_mib() {
                super::echo_100_mib(&site());
            }
            #[test]
            fn chunked_upload() {
                super::chunked_upload(&site());
            }
            #[test]
            fn streaming() {
                super::streaming(&site());
            }
            #[test]
            fn local_redirect() {
                super::local_redirect(&site());
            }
            #[test]
            fn not_found_and_forbidden() {
                super::not_found_and_forbidden(&site());
            }
            #[test]
            fn timeout() {
                super::timeout(&Site::new($kind, $tcp, &["--timeout", TIMEOUT]));
            }
            #[test]
            fn client_disconnect() {
                super::client_disconnect(&site());
            }
        }
    };
}

through!(nginx_unix, Kind::Nginx, false);
through!(nginx_tcp, Kind::Nginx, true);
through!(caddy, Kind::Caddy, false);
through!(lighttpd, Kind::Lighttpd, false);
through!(apache, Kind::Apache, false);
