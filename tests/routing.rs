//! URL paths to scripts: SCRIPT_NAME and PATH_INFO, the prefix, the
//! statuses for what is not a runnable script, and a corpus of traversal
//! attempts that must never run or show anything outside the root.

mod common;

use std::os::unix::fs::symlink;

use common::{Root, Server};

const SHOW: &str = "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n%s|%s|%s\\n' \"$SCRIPT_NAME\" \"$PATH_INFO\" \"$QUERY_STRING\"\n";

#[test]
fn first_file_from_the_left_is_the_script() {
    let root = Root::new();
    root.script("app/run.pl", SHOW);
    let server = root.start(&[]);
    let r = server.get("/cgi-bin/app/run.pl/a/b?x=1");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "/cgi-bin/app/run.pl|/a/b|x=1\n");
    let r = server.get("/cgi-bin/app/run.pl");
    assert_eq!(r.text(), "/cgi-bin/app/run.pl||\n");
    // Decoded once: %2520 becomes the three characters %20.
    let r = server.get("/cgi-bin/app/run.pl/%41%2520/b%3Fc?q=%41");
    assert_eq!(r.text(), "/cgi-bin/app/run.pl|/A%20/b?c|q=%41\n");
    // Empty segments are skipped in the script's path, kept after it.
    let r = server.get("/cgi-bin//app//run.pl//x");
    assert_eq!(r.text(), "/cgi-bin/app/run.pl|//x|\n");
}

#[test]
fn prefix_can_be_changed_or_removed() {
    let root = Root::new();
    root.script("app/run.pl", SHOW);
    let top = root.start(&["--prefix", "/"]);
    assert_eq!(top.get("/app/run.pl/x").text(), "/app/run.pl|/x|\n");
    assert_eq!(top.get("/cgi-bin/app/run.pl").status, 404);
    let custom = root.start(&["--prefix", "/legacy/scripts/"]);
    assert_eq!(
        custom.get("/legacy/scripts/app/run.pl").text(),
        "/legacy/scripts/app/run.pl||\n"
    );
    assert_eq!(custom.get("/legacy/app/run.pl").status, 404);
    assert_eq!(custom.get("/legacy/scriptsx/app/run.pl").status, 404);
}

#[test]
fn what_is_not_a_runnable_script_gets_a_clear_status() {
    let root = Root::new();
    root.script("app/run.pl", SHOW);
    root.file("app/data.txt", "plain\n", 0o644);
    root.script(".hidden.sh", SHOW);
    root.script("app/.git/hook.sh", SHOW);
    std::fs::create_dir(root.dir.path().join("empty")).unwrap();
    let server = root.start(&[]);
    let cases = [
        ("/cgi-bin/missing.sh", 404),
        ("/cgi-bin/app/missing/x", 404),
        ("/elsewhere/app/run.pl", 404),
        ("/", 404),
        ("/cgi-bin/app/data.txt", 403),
        ("/cgi-bin/app", 301),
        ("/cgi-bin/app/", 403),
        ("/cgi-bin/empty", 301),
        ("/cgi-bin/empty/", 403),
        ("/cgi-bin", 301),
        ("/cgi-bin/", 403),
        ("/cgi-bin/.hidden.sh", 404),
        ("/cgi-bin/app/.git/hook.sh", 404),
        ("/cgi-bin/app/%2egit/hook.sh", 404),
        ("/cgi-bin/app/run.pl%00", 400),
        ("/cgi-bin/app%2Frun.pl", 400),
        ("/cgi-bin/app/../app/run.pl", 400),
        ("/cgi-bin/app/run.pl/%zz", 400),
    ];
    for (path, status) in cases {
        let r = server.get(path);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert!(
            r.text().starts_with(&format!("{status} ")),
            "{path}: {}",
            r.text()
        );
    }
    assert!(
        server
            .get("/cgi-bin/app/data.txt")
            .text()
            .contains("not executable")
    );
    assert!(!server.get("/cgi-bin/app/data.txt").text().contains("plain"));
}

#[test]
fn a_symlink_inside_the_root_works() {
    let root = Root::new();
    root.script("app/run.pl", SHOW);
    symlink("app/run.pl", root.dir.path().join("alias")).unwrap();
    symlink("app", root.dir.path().join("applink")).unwrap();
    let server = root.start(&[]);
    assert_eq!(
        server.get("/cgi-bin/alias/x").text(),
        "/cgi-bin/alias|/x|\n"
    );
    assert_eq!(server.get("/cgi-bin/applink/run.pl").status, 200);
}

#[test]
fn traversal_corpus_never_reaches_outside_the_root() {
    let top = tempfile::tempdir().unwrap();
    let outside = top.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let mark = outside.join("ran");
    let secret = format!(
        "#!/bin/sh\ntouch '{}'\nprintf 'Content-Type: text/plain\\n\\nSECRET\\n'\n",
        mark.display()
    );
    std::fs::write(outside.join("secret.sh"), secret).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        outside.join("secret.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let root = top.path().join("root");
    std::fs::create_dir_all(root.join("app")).unwrap();
    std::fs::write(root.join("app/run.sh"), SHOW).unwrap();
    std::fs::set_permissions(
        root.join("app/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    symlink(outside.join("secret.sh"), root.join("escape")).unwrap();
    symlink(&outside, root.join("linkdir")).unwrap();
    let server = Server::start(&root, &[]);

    let corpus = include_str!("fixtures/traversal.txt");
    let long = "a".repeat(9000);
    let mut tried = 0;
    for line in corpus
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let path = line.replace("{long}", &long);
        let r = server.get(&path);
        assert!(
            [400, 403, 404, 414].contains(&r.status),
            "{line}: status {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains("SECRET"), "{line}");
        tried += 1;
    }
    assert!(tried >= 30);
    assert!(!mark.exists(), "the secret script ran");
    // The server is still well.
    assert_eq!(server.get("/cgi-bin/app/run.sh").status, 200);
}
