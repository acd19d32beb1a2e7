//! PHP through the real `php-cgi`, run by extension (`--handler
//! .php=php-cgi`): superglobals from the query, a urlencoded form and a
//! multipart upload, cookies, redirects, status codes, and `index.php` as
//! a folder's script.

mod common;

use common::{Part, Root, Server, multipart, noise, post, post_chunked, require, sha256_hex};

const INFO: &str = r#"<?php
header('Content-Type: text/plain; charset=utf-8');
echo 'method=', $_SERVER['REQUEST_METHOD'], "\n";
echo 'get=', json_encode($_GET), "\n";
echo 'post=', json_encode($_POST), "\n";
echo 'cookie=', json_encode($_COOKIE), "\n";
foreach ($_FILES as $field => $f) {
    echo 'file ', $field, ' name=', $f['name'], ' type=', $f['type'], ' size=', $f['size'],
        ' error=', $f['error'], ' sha256=', hash_file('sha256', $f['tmp_name']), "\n";
}
"#;

const COOKIE: &str = r#"<?php
setcookie('flavour', 'oatmeal raisin', ['path' => '/cgi-bin/', 'httponly' => true]);
echo "cookie set\n";
"#;

const AWAY: &str = r#"<?php
header('Location: http://elsewhere.example/landing?from=php');
"#;

const GONE: &str = r#"<?php
http_response_code(404);
echo "no such page\n";
"#;

const INDEX: &str = r#"<?php
echo 'index ', $_SERVER['SCRIPT_NAME'], ' q=', $_GET['q'] ?? '', "\n";
"#;

/// rcgi with php-cgi as the handler of `.php` files, none of which has an
/// execute bit.
fn php_server(root: &Root) -> Server {
    let php = require("php-cgi", "php-cgi");
    root.file("info.php", INFO, 0o644);
    root.file("cookie.php", COOKIE, 0o644);
    root.file("away.php", AWAY, 0o644);
    root.file("gone.php", GONE, 0o644);
    root.file("shop/index.php", INDEX, 0o644);
    let handler = format!(".php={}", php.display());
    root.start(&["--handler", &handler, "--index", "index.php"])
}

#[test]
fn php_reads_the_query_string_and_a_urlencoded_form() {
    let root = Root::new();
    let server = php_server(&root);
    let r = server.get("/cgi-bin/info.php?name=J%C3%BCrgen&tags[]=a&tags[]=b+c");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "{:?}",
        r.headers
    );
    assert_eq!(
        r.text(),
        "method=GET\nget={\"name\":\"J\\u00fcrgen\",\"tags\":[\"a\",\"b c\"]}\npost=[]\ncookie=[]\n"
    );

    let form = b"title=Hello+world&amount=12.50&note=caf%C3%A9";
    let r = post(
        &server,
        "/cgi-bin/info.php?from=form",
        "application/x-www-form-urlencoded",
        form,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.text(),
        "method=POST\nget={\"from\":\"form\"}\npost={\"title\":\"Hello world\",\"amount\":\"12.50\",\"note\":\"caf\\u00e9\"}\ncookie=[]\n"
    );

    // The same form sent chunked: spooled, it reaches PHP with a length.
    let r = post_chunked(
        &server,
        "/cgi-bin/info.php",
        "application/x-www-form-urlencoded",
        form,
        7,
    );
    assert!(
        r.text().contains(
            "post={\"title\":\"Hello world\",\"amount\":\"12.50\",\"note\":\"caf\\u00e9\"}"
        ),
        "{}",
        r.text()
    );
}

#[test]
fn php_receives_a_multipart_upload_whole() {
    let root = Root::new();
    let server = php_server(&root);
    let data = noise(700 * 1024, 0xf11e);
    let sum = sha256_hex(&data);
    let boundary = "----rcgiBoundary7MA4YWxkTrZu0gW";
    let body = multipart(
        boundary,
        &[
            Part {
                name: "caption",
                filename: None,
                content_type: None,
                data: b"holiday photos",
            },
            Part {
                name: "upload",
                filename: Some("photos.bin"),
                content_type: Some("application/octet-stream"),
                data: &data,
            },
        ],
    );
    let ct = format!("multipart/form-data; boundary={boundary}");
    let r = post(&server, "/cgi-bin/info.php", &ct, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let expected = format!(
        "method=POST\nget=[]\npost={{\"caption\":\"holiday photos\"}}\ncookie=[]\n\
         file upload name=photos.bin type=application/octet-stream size={} error=0 sha256={sum}\n",
        data.len()
    );
    assert_eq!(r.text(), expected);
    // Chunked, in odd-sized pieces: the same file arrives.
    let r = post_chunked(&server, "/cgi-bin/info.php", &ct, &body, 65_521);
    assert_eq!(r.text(), expected);
}

#[test]
fn php_upload_sent_by_curl() {
    let curl = require("curl", "curl");
    let root = Root::new();
    let server = php_server(&root);
    let tmp = tempfile::tempdir().unwrap();
    let data = noise(300_000, 42);
    let file = tmp.path().join("report.pdf");
    std::fs::write(&file, &data).unwrap();
    let out = common::run_ok(
        common::client_command(curl.to_str().unwrap(), tmp.path())
            .arg("-q")
            .args(["-sS", "--fail", "-F"])
            .arg(format!("doc=@{};type=application/pdf", file.display()))
            .args(["-F", "kind=report"])
            .arg(format!("http://{}/cgi-bin/info.php", server.addr)),
    );
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("post={\"kind\":\"report\"}\n"), "{text}");
    assert!(
        text.contains(&format!(
            "file doc name=report.pdf type=application/pdf size=300000 error=0 sha256={}\n",
            sha256_hex(&data)
        )),
        "{text}"
    );
}

#[test]
fn php_cookies_redirects_and_status_codes() {
    let root = Root::new();
    let server = php_server(&root);

    let r = server.get("/cgi-bin/cookie.php");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("set-cookie"),
        Some("flavour=oatmeal%20raisin; path=/cgi-bin/; HttpOnly")
    );
    assert_eq!(r.text(), "cookie set\n");
    // The cookie comes back as a browser would send it.
    let r = server.exchange(
        b"GET /cgi-bin/info.php HTTP/1.1\r\nHost: test\r\nCookie: flavour=oatmeal%20raisin; theme=dark\r\nConnection: close\r\n\r\n",
    );
    assert!(
        r.text()
            .contains("cookie={\"flavour\":\"oatmeal raisin\",\"theme\":\"dark\"}\n"),
        "{}",
        r.text()
    );

    // An absolute Location without a status: 302 for the client.
    let r = server.get("/cgi-bin/away.php");
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some("http://elsewhere.example/landing?from=php")
    );

    let r = server.get("/cgi-bin/gone.php");
    assert_eq!((r.status, r.reason.as_str()), (404, "Not Found"));
    assert_eq!(r.text(), "no such page\n");
}

#[test]
fn php_index_script_answers_a_folder_url() {
    let root = Root::new();
    let server = php_server(&root);
    let r = server.get("/cgi-bin/shop/?q=shoes");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "index /cgi-bin/shop/index.php q=shoes\n");
    let r = server.get("/cgi-bin/shop?q=shoes");
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/cgi-bin/shop/?q=shoes"));
    // php-cgi's own answer for a file it cannot find is not reached: the
    // path has no script, so rcgi says 404 itself.
    assert_eq!(server.get("/cgi-bin/shop/none.php").status, 404);
}
