//! Repository browsers run unchanged: cgit (a compiled C program, routed
//! by PATH_INFO) and gitweb (a Perl script, routed by its query), each
//! showing a repository's summary page and a file's blob page.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{Root, Server, bare_repo, git, require};

const CGIT: &str = "/usr/lib/cgit/cgit.cgi";
const GITWEB: &str = "/usr/share/gitweb/gitweb.cgi";

const NOTES: &[u8] = b"Fish & chips <tonight>\nsecond line of the notes\n";

/// A folder holding `demo.git`, one commit of `notes.txt` and a README.
fn projects(home: &Path) -> PathBuf {
    let projects = home.join("projects");
    let bare = projects.join("demo.git");
    bare_repo(
        &bare,
        home,
        &[
            ("notes.txt", NOTES),
            ("README", b"demo repository for rcgi\n"),
        ],
        "Add the notes for Friday",
    );
    fs::write(bare.join("description"), "A demo of browsing over CGI\n").unwrap();
    projects
}

fn cgit_server(root: &Root, home: &Path) -> Server {
    require(CGIT, "cgit");
    require("git", "git");
    let projects = projects(home);
    let config = home.join("cgitrc");
    fs::write(
        &config,
        format!(
            "cache-size=0\nvirtual-root=/cgi-bin/cgit/\nroot-title=rcgi test repositories\n\
             repo.url=demo\nrepo.path={}\nrepo.desc=A demo of browsing over CGI\n",
            projects.join("demo.git").display()
        ),
    )
    .unwrap();
    root.script("cgit", &format!("#!/bin/sh\nexec {CGIT}\n"));
    let env = format!("CGIT_CONFIG={}", config.display());
    root.start(&["--env", &env])
}

fn gitweb_server(root: &Root, home: &Path) -> Server {
    require(GITWEB, "gitweb");
    require("git", "git");
    let projects = projects(home);
    let config = home.join("gitweb.conf");
    fs::write(
        &config,
        format!(
            "our $projectroot = '{}';\nour $site_name = 'rcgi test repositories';\n",
            projects.display()
        ),
    )
    .unwrap();
    root.script("gitweb", &format!("#!/bin/sh\nexec {GITWEB}\n"));
    let env = format!("GITWEB_CONFIG={}", config.display());
    root.start(&["--env", &env])
}

fn assert_contains(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "no {needle:?} in:\n{text}");
    }
}

#[test]
fn cgit_shows_the_summary_and_a_blob() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().canonicalize().unwrap();
    let root = Root::new();
    let server = cgit_server(&root, &home);

    let r = server.get("/cgi-bin/cgit/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_contains(
        &r.text(),
        &["rcgi test repositories", "href='/cgi-bin/cgit/demo/'"],
    );

    let r = server.get("/cgi-bin/cgit/demo/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/html; charset=UTF-8"));
    assert_contains(
        &r.text(),
        &[
            "A demo of browsing over CGI",
            "Add the notes for Friday",
            "/cgi-bin/cgit/demo/",
        ],
    );

    let r = server.get("/cgi-bin/cgit/demo/tree/notes.txt");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_contains(
        &r.text(),
        &[
            "Fish &amp; chips &lt;tonight&gt;",
            "second line of the notes",
        ],
    );
    // The raw file, byte for byte.
    let r = server.get("/cgi-bin/cgit/demo/plain/notes.txt");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, NOTES);
    // cgit's own 404 for a file the commit does not have.
    let r = server.get("/cgi-bin/cgit/demo/tree/none.txt");
    assert_eq!(r.status, 404, "{}", r.text());
}

#[test]
fn gitweb_shows_the_summary_and_a_blob() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().canonicalize().unwrap();
    let root = Root::new();
    let server = gitweb_server(&root, &home);
    let head = git(
        &home.join("projects/demo.git"),
        &home,
        &["rev-parse", "HEAD"],
    );
    let head = head.trim();

    let r = server.get("/cgi-bin/gitweb");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_contains(
        &r.text(),
        &[
            "rcgi test repositories",
            "/cgi-bin/gitweb?p=demo.git;a=summary",
        ],
    );

    let r = server.get("/cgi-bin/gitweb?p=demo.git;a=summary");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_contains(
        &r.text(),
        &[
            "<title>rcgi test repositories - demo.git/summary</title>",
            "A demo of browsing over CGI",
            "Add the notes for Friday",
            &format!("a=commit;h={head}"),
        ],
    );

    let r = server.get("/cgi-bin/gitweb?p=demo.git;a=blob;f=notes.txt;hb=HEAD");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_contains(
        &r.text(),
        &[
            "Fish&nbsp;&amp;&nbsp;chips&nbsp;&lt;tonight&gt;",
            "second&nbsp;line&nbsp;of&nbsp;the&nbsp;notes",
        ],
    );
    // gitweb writes spaces as &nbsp;. The same page by PATH_INFO, and
    // the raw blob.
    let r = server.get("/cgi-bin/gitweb/demo.git/blob/HEAD:/notes.txt");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_contains(
        &r.text(),
        &["Fish&nbsp;&amp;&nbsp;chips&nbsp;&lt;tonight&gt;"],
    );
    let r = server.get("/cgi-bin/gitweb?p=demo.git;a=blob_plain;f=notes.txt;hb=HEAD");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, NOTES);
    // gitweb's own 404 for a project it does not have.
    let r = server.get("/cgi-bin/gitweb?p=none.git;a=summary");
    assert_eq!(r.status, 404, "{}", r.text());
}
