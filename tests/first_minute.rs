//! The first minute with rcgi, and coming from `python -m http.server
//! --cgi`: `rcgi` alone, `rcgi --python`, several script folders, folder
//! listings, a script's source never served as a file, error pages that
//! say what to do, `-p`, `--bind localhost`, the man page and completions.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{Root, Server};

fn rcgi_in(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rcgi"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("run rcgi")
}

const HELLO: &str =
    "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nhello from %s\\n' \"$SCRIPT_NAME\"\n";

#[test]
fn rcgi_alone_serves_cgi_bin_or_says_what_to_do() {
    let empty = tempfile::tempdir().unwrap();
    let out = rcgi_in(empty.path(), &["-p", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("rcgi: no ./cgi-bin folder in "), "{err}");
    for advice in ["mkdir cgi-bin", "rcgi --root DIR", "rcgi --python"] {
        assert!(err.contains(advice), "{err}");
    }

    let site = Root::new();
    site.script("cgi-bin/hello.sh", HELLO);
    let server = Server::start_in(&site.path(), &[]);
    let line = server.wait_stderr("rcgi listening on");
    assert_eq!(
        common::message(&line),
        format!(
            "rcgi listening on http://{}/cgi-bin/ (root {})",
            server.addr,
            site.path().join("cgi-bin").display()
        )
    );
    let r = server.get("/cgi-bin/hello.sh");
    assert_eq!(
        (r.status, r.text()),
        (200, "hello from /cgi-bin/hello.sh\n".into())
    );
}

#[test]
fn python_and_mounts_refuse_what_cannot_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let bad: [&[&str]; 5] = [
        &["--python", "--root", "."],
        &["--python", "--static", "."],
        &["--mount", "/htbin"],
        &["--mount", "/.rcgi=."],
        &["--mount", "/=.", "--static", "."],
    ];
    for args in bad {
        let out = rcgi_in(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn the_examples_first_page_links_every_example() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let server = Server::start_in(repo, &[]);
    let r = server.get("/cgi-bin/");
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.text();
    for example in [
        "hello.sh",
        "env.sh/any/path?x=1",
        "form.py",
        "hello.pl?name=you",
        "echo.sh",
    ] {
        let link = format!("href=\"/cgi-bin/{example}\"");
        assert!(page.contains(&link), "{link} in {page}");
        let status = server.get(&format!("/cgi-bin/{example}")).status;
        assert_eq!(status, 200, "{example}");
    }
}

#[test]
fn python_layout_serves_the_folder_and_runs_cgi_bin_and_htbin() {
    let site = Root::new();
    site.script("cgi-bin/hello.sh", HELLO);
    site.script("htbin/hello.sh", HELLO);
    site.file("page.html", "<p>a page</p>", 0o644);
    site.file("notes/<b>.txt", "bold", 0o644);
    let server = Server::start_in(&site.path(), &["--python"]);
    let lines = [
        format!(
            "rcgi listening on http://{}/cgi-bin/ (root {}/cgi-bin)",
            server.addr,
            site.path().display()
        ),
        format!(
            "rcgi also serves http://{}/htbin/ (root {}/htbin)",
            server.addr,
            site.path().display()
        ),
        format!(
            "rcgi also serves http://{}/ (static files from {}, listed)",
            server.addr,
            site.path().display()
        ),
    ];
    for line in lines {
        assert_eq!(common::message(&server.wait_stderr(&line)), line);
    }
    let r = server.get("/htbin/hello.sh");
    assert_eq!(
        (r.status, r.text()),
        (200, "hello from /htbin/hello.sh\n".into())
    );
    assert_eq!(
        server.get("/cgi-bin/hello.sh").text(),
        "hello from /cgi-bin/hello.sh\n"
    );
    assert_eq!(server.get("/page.html").text(), "<p>a page</p>");
    let index = server.get("/");
    assert_eq!(
        index.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let page = index.text();
    assert!(page.contains("<a href=\"notes/\">notes/</a>"), "{page}");
    assert!(
        page.contains("<a href=\"page.html\">page.html</a>"),
        "{page}"
    );
    // The script folders are served as scripts, not listed as files.
    assert!(
        !page.contains("cgi-bin") && !page.contains("htbin"),
        "{page}"
    );
}

#[test]
fn a_script_folder_file_is_never_served_as_source() {
    let site = Root::new();
    site.script("cgi-bin/hello.sh", HELLO);
    site.script("htbin/secret.sh", "#!/bin/sh\n# password=hunter2\n");
    site.file("www/index.html", "home", 0o644);
    let s = site.path();
    let (cgi, htbin) = (s.join("cgi-bin"), s.join("htbin"));
    // The static folder holds both script folders; one is mounted away
    // from its name, so its files have a static URL too.
    let server = Server::start_in(
        &s,
        &[
            "--static",
            s.to_str().unwrap(),
            "--mount",
            &format!("/scripts={}", cgi.display()),
            "--mount",
            &format!("/htbin={}", htbin.display()),
        ],
    );
    assert_eq!(
        server.get("/scripts/hello.sh").text(),
        "hello from /scripts/hello.sh\n"
    );
    for path in [
        "/cgi-bin/hello.sh",
        "/cgi-bin/",
        "/cgi-bin",
        "//cgi-bin/hello.sh",
        "/%63gi-bin/hello.sh",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(!r.text().contains("printf"), "{path}");
    }
    let r = server.get("/htbin/secret.sh");
    assert!(!r.text().contains("hunter2"), "{}", r.text());
    assert!(!server.get("/").text().contains("cgi-bin"));
    assert_eq!(server.get("/www/").text(), "home");
    server.wait_stderr("GET /cgi-bin/hello.sh: 404 no file at this path");
}

#[test]
fn listings_are_sorted_escaped_and_can_be_turned_off() {
    let site = Root::new();
    site.file("www/<b>.txt", "bold", 0o644);
    site.file("www/a & b.txt", "and", 0o644);
    site.file("www/zeta/x.txt", "x", 0o644);
    site.file("www/.hidden", "h", 0o644);
    site.file("www/empty/index.htm", "htm index", 0o644);
    site.script("cgi-bin/x.sh", HELLO);
    let www = site.path().join("www");
    std::os::unix::fs::symlink("/etc", www.join("etc")).unwrap();
    std::os::unix::fs::symlink("zeta", www.join("zeta-link")).unwrap();
    let args = ["--static", www.to_str().unwrap(), "--root", "cgi-bin"];
    let server = Server::start_in(&site.path(), &args);
    let page = server.get("/").text();
    assert!(page.contains("<h1>Index of /</h1>"), "{page}");
    let rows: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("<tr><td><a"))
        .collect();
    assert_eq!(rows.len(), 5, "{page}");
    assert!(rows[0].starts_with("<tr><td><a href=\"empty/\">empty/</a>"));
    assert!(rows[1].starts_with("<tr><td><a href=\"zeta/\">zeta/</a>"));
    assert!(rows[2].starts_with("<tr><td><a href=\"zeta-link/\">zeta-link/</a>"));
    assert!(!page.contains("etc/"), "a link out of the folder: {page}");
    let rows = &rows[1..];
    assert!(
        rows[2].starts_with(
            "<tr><td><a href=\"%3Cb%3E.txt\">&lt;b&gt;.txt</a></td><td class=n>4 B</td><td>"
        ),
        "{}",
        rows[2]
    );
    assert!(
        rows[3].starts_with("<tr><td><a href=\"a%20&amp;%20b.txt\">a &amp; b.txt</a>"),
        "{}",
        rows[3]
    );
    assert!(!page.contains("<b>") && !page.contains(".hidden"));
    assert_eq!(server.get("/%3Cb%3E.txt").text(), "bold");
    assert!(
        server
            .get("/zeta/")
            .text()
            .contains("<a href=\"../\">../</a>")
    );
    assert_eq!(server.get("/empty/").text(), "htm index");

    let off = Server::start_in(&site.path(), &[&args[..], &["--no-listings"]].concat());
    let r = off.get("/");
    assert_eq!(r.status, 403);
    assert!(
        r.text()
            .starts_with("403 Forbidden: folder without an index.html")
    );
}

#[test]
fn several_script_folders_each_at_its_prefix_longest_first() {
    let a = Root::new();
    a.script("hello.sh", HELLO);
    let b = Root::new();
    b.script(
        "hello.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nfrom b %s\\n' \"$DOCUMENT_ROOT\"\n",
    );
    let mount = format!("/app/v2={}", b.path().display());
    let server = a.start(&["--prefix", "/app", "--mount", &mount]);
    assert_eq!(
        server.get("/app/hello.sh").text(),
        "hello from /app/hello.sh\n"
    );
    assert_eq!(
        server.get("/app/v2/hello.sh").text(),
        format!("from b {}\n", b.path().display())
    );
    assert_eq!(server.get("/app/v2x").status, 404);
    let line = format!(
        "rcgi also serves http://{}/app/v2/ (root {})",
        server.addr,
        b.path().display()
    );
    server.wait_stderr(&line);

    let same = format!("/app={}", b.path().display());
    let out = rcgi_in(
        &a.path(),
        &["--root", ".", "--prefix", "/app", "--mount", &same],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("two script folders at the same prefix"));
}

#[test]
fn error_pages_say_what_to_do_and_refusals_are_logged() {
    let root = Root::new();
    root.script("crlf.sh", "#!/bin/sh\r\necho\r\n");
    root.file("notexec.sh", "#!/bin/sh\n", 0o644);
    root.script("fails.sh", "#!/bin/sh\nexit 3\n");
    fs::create_dir(root.dir.path().join("empty")).unwrap();
    let server = root.start(&[]);
    let hint = "run rcgi with --debug to see them on this page";

    let page = server.get("/cgi-bin/crlf.sh").text();
    assert!(
        page.starts_with("502 Bad Gateway: the script's #! line ends in a carriage return (Windows line endings)\n"),
        "{page}"
    );
    assert!(
        page.contains(hint) && !page.contains("interpreter not found"),
        "{page}"
    );
    server.wait_stderr("convert it with dos2unix");

    let r = server.get("/cgi-bin/notexec.sh");
    assert_eq!(r.status, 403);
    assert!(r.text().contains("chmod +x"), "{}", r.text());
    server.wait_stderr("GET /cgi-bin/notexec.sh: 403 script is not executable (chmod +x it");

    assert!(server.get("/cgi-bin/fails.sh").text().contains(hint));
    let r = server.get("/cgi-bin/empty/");
    assert_eq!(r.status, 403);
    assert!(
        r.text().contains("rcgi --debug to list its scripts"),
        "{}",
        r.text()
    );
    assert_eq!(server.get("/cgi-bin/missing.sh").status, 404);
    server.wait_stderr("GET /cgi-bin/missing.sh: 404 no script at this path");
}

#[test]
fn debug_lists_a_script_folder_without_an_index_script() {
    let root = Root::new();
    root.script("tools/run.sh", HELLO);
    root.script("tools/<x>.sh", HELLO);
    root.file("tools/data.txt", "not a script", 0o644);
    root.script("tools/sub/deep.sh", HELLO);
    let server = root.start(&["--debug"]);
    let r = server.get("/cgi-bin/tools/");
    assert_eq!(r.status, 200);
    let page = r.text();
    assert!(page.contains("<a href=\"sub/\">sub/</a>"), "{page}");
    assert!(page.contains("<a href=\"run.sh\">run.sh</a>"), "{page}");
    assert!(
        page.contains("<a href=\"%3Cx%3E.sh\">&lt;x&gt;.sh</a>"),
        "{page}"
    );
    assert!(!page.contains("data.txt"), "{page}");
}

#[test]
fn short_port_option_and_a_host_name_to_bind() {
    let root = Root::new();
    root.script("hello.sh", HELLO);
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port().to_string();
    drop(free);
    let server = root.start(&["-p", &port, "--bind", "localhost"]);
    assert_eq!(server.addr.port().to_string(), port);
    assert!(server.addr.ip().is_loopback());
    server.wait_stderr(&format!("--bind localhost: bound to {}", server.addr.ip()));
    assert_eq!(server.get("/cgi-bin/hello.sh").status, 200);
}

#[test]
fn man_page_and_completions_come_from_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let man = rcgi_in(dir.path(), &["--man"]);
    assert!(man.status.success());
    let man = String::from_utf8(man.stdout).unwrap();
    assert!(man.starts_with(".ie"), "{man}");
    for option in [
        "\\-\\-mount",
        "\\-\\-python",
        "\\-\\-no\\-listings",
        "\\-\\-debug",
    ] {
        assert!(man.contains(option), "{option}");
    }
    let bash = rcgi_in(dir.path(), &["--completions", "bash"]);
    assert!(bash.status.success());
    let bash = String::from_utf8(bash.stdout).unwrap();
    assert!(
        bash.contains("complete") && bash.contains("--mount"),
        "{bash}"
    );
    let help = String::from_utf8(rcgi_in(dir.path(), &["--help"]).stdout).unwrap();
    assert!(
        help.contains("Examples:") && help.contains("-p, --port"),
        "{help}"
    );
    for heading in ["Serving:", "Scripts:", "Limits:"] {
        assert!(help.contains(heading), "{heading}");
    }
}
