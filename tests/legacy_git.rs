//! git's smart HTTP protocol through the real `git http-backend`, driven
//! by the real `git` client: clone, push of a commit holding a 5 MiB file
//! (which git sends as a chunked POST), and a second clone that gets the
//! file back byte for byte; once with chunked bodies spooled, once
//! streamed. And a push that the backend takes because rcgi
//! authenticated its user (`--auth-file`: REMOTE_USER is set).

mod common;

use std::fs;

use common::{
    Root, Server, bare_repo, client_command, git, push_noise, require, run_ok, sha256_hex,
    wait_until,
};

/// The CGI script: it notes how the request body arrives, then becomes
/// git-http-backend.
const BACKEND: &str = r#"#!/bin/sh
echo "backend: $REQUEST_METHOD $PATH_INFO length=${CONTENT_LENGTH-unset} te=${HTTP_TRANSFER_ENCODING-unset}" >&2
exec git http-backend
"#;

const BIG: usize = 5 << 20;

fn clone_push_clone(chunked_mode: &str) {
    require("git", "git");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().canonicalize().unwrap();
    let projects = home.join("projects");
    let bare = projects.join("repo.git");
    bare_repo(
        &bare,
        &home,
        &[("README", b"a repository served by rcgi\n")],
        "first commit",
    );
    git(&bare, &home, &["config", "http.receivepack", "true"]);

    let root = Root::new();
    root.script("git", BACKEND);
    let project_root = format!("GIT_PROJECT_ROOT={}", projects.display());
    let server = root.start(&[
        "--chunked",
        chunked_mode,
        "--env",
        &project_root,
        "--env",
        "GIT_HTTP_EXPORT_ALL=1",
    ]);
    let url = format!("http://{}/cgi-bin/git/repo.git", server.addr);

    // Clone.
    git(&home, &home, &["clone", "-q", &url, "first"]);
    let first = home.join("first");
    assert_eq!(
        fs::read(first.join("README")).unwrap(),
        b"a repository served by rcgi\n"
    );
    server.wait_access(
        "\"GET /cgi-bin/git/repo.git/info/refs?service=git-upload-pack HTTP/1.1\" 200",
    );
    server.wait_access("\"POST /cgi-bin/git/repo.git/git-upload-pack HTTP/1.1\" 200");

    // Push a commit holding 5 MiB of noise: git compresses nothing of it,
    // so its pack outgrows http.postBuffer (1 MiB) and goes chunked.
    let (big, trace) = push_noise(&first, &home, BIG, "add a 5 MiB file");
    assert!(
        trace.contains("=> Send header: POST /cgi-bin/git/repo.git/git-receive-pack HTTP/1.1"),
        "{trace}"
    );
    assert!(
        trace.contains("=> Send header: Transfer-Encoding: chunked"),
        "git did not send the pack chunked:\n{trace}"
    );
    server.wait_access("\"POST /cgi-bin/git/repo.git/git-receive-pack HTTP/1.1\" 200");
    check_pack_arrival(&server, chunked_mode);

    // The bare repository has the commit, and a second clone the file.
    let log = git(&bare, &home, &["log", "--format=%s", "main"]);
    assert_eq!(log, "add a 5 MiB file\nfirst commit\n");
    git(&home, &home, &["clone", "-q", &url, "second"]);
    let again = fs::read(home.join("second/big.bin")).unwrap();
    assert_eq!(again.len(), BIG);
    assert_eq!(sha256_hex(&again), sha256_hex(&big));
    assert_eq!(
        git(&home.join("second"), &home, &["rev-parse", "HEAD"]),
        git(&first, &home, &["rev-parse", "HEAD"])
    );
    assert!(
        !server.stderr().iter().any(|l| l.contains("killed")),
        "{:#?}",
        server.stderr()
    );
}

/// What the backend saw of the chunked pack: with `spool`, a body of
/// known length (over 5 MiB); with `stream`, no length and the chunked
/// coding named.
fn check_pack_arrival(server: &Server, chunked_mode: &str) {
    // git first sends a 4-byte probe ("0000") with a Content-Length.
    let pack = wait_until("the backend's line for the pack", || {
        server
            .stderr()
            .into_iter()
            .filter(|l| l.contains("backend: POST /repo.git/git-receive-pack "))
            .find(|l| !l.contains(" length=4 "))
    });
    match chunked_mode {
        "spool" => {
            let length: usize = pack
                .split("length=")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no length in {pack:?}"));
            assert!(length > BIG, "{pack}");
            assert!(pack.ends_with("te=unset"), "{pack}");
        }
        _ => assert!(pack.ends_with("length=unset te=chunked"), "{pack}"),
    }
}

#[test]
fn git_clone_push_clone_with_chunked_bodies_spooled() {
    clone_push_clone("spool");
}

#[test]
fn git_clone_push_clone_with_chunked_bodies_streamed() {
    clone_push_clone("stream");
}

#[test]
fn git_refuses_a_push_to_a_repository_that_does_not_allow_it() {
    require("git", "git");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().canonicalize().unwrap();
    let projects = home.join("projects");
    bare_repo(
        &projects.join("ro.git"),
        &home,
        &[("README", b"read only\n")],
        "only commit",
    );
    let root = Root::new();
    root.script("git", BACKEND);
    let project_root = format!("GIT_PROJECT_ROOT={}", projects.display());
    let server = root.start(&["--env", &project_root, "--env", "GIT_HTTP_EXPORT_ALL=1"]);
    // Without http.receivepack and without REMOTE_USER, the backend
    // refuses the push; rcgi passes its 403 on unchanged.
    let r = server.get("/cgi-bin/git/ro.git/info/refs?service=git-receive-pack");
    assert_eq!(r.status, 403, "{}", r.text());
    // An unknown repository is the backend's 404, not rcgi's.
    let r = server.get("/cgi-bin/git/none.git/info/refs?service=git-upload-pack");
    assert_eq!(r.status, 404);
    assert!(!r.text().contains("no script at this path"), "{}", r.text());
}

#[test]
fn git_pushes_as_the_user_rcgi_authenticated() {
    require("git", "git");
    let htpasswd = require("htpasswd", "apache2-utils");
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().canonicalize().unwrap();
    let projects = home.join("projects");
    let bare = projects.join("team.git");
    bare_repo(&bare, &home, &[("README", b"team\n")], "first commit");
    // No http.receivepack: git-http-backend takes pushes only from an
    // authenticated user (REMOTE_USER set).
    let users = home.join("users");
    run_ok(
        std::process::Command::new(htpasswd)
            .arg("-cbB")
            .arg(&users)
            .args(["ada", "s3cret pw"]),
    );
    let root = Root::new();
    root.script("git", BACKEND);
    let project_root = format!("GIT_PROJECT_ROOT={}", projects.display());
    let server = root.start(&[
        "--auth-file",
        users.to_str().unwrap(),
        "--auth-realm",
        "git",
        "--env",
        &project_root,
        "--env",
        "GIT_HTTP_EXPORT_ALL=1",
    ]);
    let anonymous = format!("http://{}/cgi-bin/git/team.git", server.addr);
    let out = client_command("git", &home)
        .args(["clone", "-q", &anonymous, "nobody"])
        .current_dir(&home)
        .output()
        .unwrap();
    assert!(!out.status.success(), "a clone without credentials fails");
    server.wait_access(
        "\"GET /cgi-bin/git/team.git/info/refs?service=git-upload-pack HTTP/1.1\" 401",
    );

    let url = format!(
        "http://ada:s3cret%20pw@{}/cgi-bin/git/team.git",
        server.addr
    );
    git(&home, &home, &["clone", "-q", &url, "work"]);
    let work = home.join("work");
    fs::write(work.join("NOTES"), "pushed through rcgi\n").unwrap();
    git(&work, &home, &["add", "NOTES"]);
    git(&work, &home, &["commit", "-q", "-m", "a pushed commit"]);
    git(&work, &home, &["push", "-q", "origin", "main"]);
    server.wait_access("- ada [");
    server.wait_access("\"POST /cgi-bin/git/team.git/git-receive-pack HTTP/1.1\" 200");
    let log = git(&bare, &home, &["log", "--format=%s", "main"]);
    assert_eq!(log, "a pushed commit\nfirst commit\n");
}
