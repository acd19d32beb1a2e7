//! Perl's CGI.pm (libcgi-pm-perl), the way countless legacy scripts use
//! it: `param()` from a query and from a posted form, a multipart upload,
//! `redirect()`, `header(-status => ...)`, cookies, `path_info()` and
//! `url()`.

mod common;

use common::{
    Part, Root, Server, multipart, noise, post, post_chunked, require, require_perl_module,
    sha256_hex,
};

const APP: &str = r#"#!/usr/bin/perl
use strict;
use warnings;
use CGI;
use Digest::SHA;

my $q = CGI->new;
my $route = $q->path_info;

if ($route eq '/redirect') {
    print $q->redirect('http://elsewhere.example/after?from=perl');
    exit;
}
if ($route eq '/missing') {
    print $q->header(-status => '404 Not Found', -type => 'text/plain'), "nothing at $route\n";
    exit;
}
if ($route eq '/login') {
    my $cookie = $q->cookie(-name => 'session', -value => 'abc 123', -path => '/cgi-bin/');
    print $q->header(-type => 'text/plain', -cookie => $cookie), "logged in\n";
    exit;
}

print $q->header(-type => 'text/plain', -charset => 'utf-8');
print 'method=', $q->request_method, "\n";
for my $name (sort $q->param) {
    if (my $fh = $q->upload($name)) {
        my $sha = Digest::SHA->new(256);
        binmode $fh;
        $sha->addfile($fh);
        my $file = $q->param($name);
        my $info = $q->uploadInfo($file);
        printf "upload %s=%s type=%s size=%d sha256=%s\n",
            $name, $file, $info->{'Content-Type'}, -s $fh, $sha->hexdigest;
    } else {
        print "param $name=", join('|', $q->multi_param($name)), "\n";
    }
}
print 'cookie=', ($q->cookie('session') // '(none)'), "\n";
print 'path_info=', $q->path_info, "\n";
print 'url=', $q->url, "\n";
print 'relative=', $q->url(-relative => 1), "\n";
print 'absolute=', $q->url(-absolute => 1), "\n";
"#;

fn perl_server(root: &Root, args: &[&str]) -> Server {
    require("perl", "perl");
    require_perl_module("CGI", "libcgi-pm-perl");
    root.script("shop/app.pl", APP);
    root.start(args)
}

/// The lines of a response body that start with `prefix`.
fn lines_with(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

#[test]
fn cgi_pm_params_from_the_query_and_from_a_posted_form() {
    let root = Root::new();
    let server = perl_server(&root, &[]);
    let r = server.get("/cgi-bin/shop/app.pl?colour=red&size=M&size=L&q=a%26b+c");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        lines_with(&r.text(), "param "),
        ["param colour=red", "param q=a&b c", "param size=M|L"]
    );

    let r = post(
        &server,
        "/cgi-bin/shop/app.pl",
        "application/x-www-form-urlencoded",
        b"name=J%C3%BCrgen&comment=two+words&comment=%3Cb%3E",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(text.starts_with("method=POST\n"), "{text}");
    assert_eq!(
        lines_with(&text, "param "),
        ["param comment=two words|<b>", "param name=Jürgen"]
    );
}

#[test]
fn cgi_pm_receives_a_multipart_upload() {
    let root = Root::new();
    let server = perl_server(&root, &[]);
    let data = noise(512 * 1024 + 3, 0xca1);
    let boundary = "xYzZY-rcgi-perl";
    let body = multipart(
        boundary,
        &[
            Part {
                name: "title",
                filename: None,
                content_type: None,
                data: b"scan",
            },
            Part {
                name: "scan",
                filename: Some("scan.tiff"),
                content_type: Some("image/tiff"),
                data: &data,
            },
        ],
    );
    let ct = format!("multipart/form-data; boundary={boundary}");
    let expected = vec![format!(
        "upload scan=scan.tiff type=image/tiff size={} sha256={}",
        data.len(),
        sha256_hex(&data)
    )];
    let r = post(&server, "/cgi-bin/shop/app.pl", &ct, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(lines_with(&r.text(), "upload "), expected);
    assert_eq!(lines_with(&r.text(), "param "), ["param title=scan"]);
    // Chunked (spooled, so CGI.pm gets the CONTENT_LENGTH it needs).
    let r = post_chunked(&server, "/cgi-bin/shop/app.pl", &ct, &body, 10_000);
    assert_eq!(lines_with(&r.text(), "upload "), expected);
}

#[test]
fn cgi_pm_redirect_status_and_cookies() {
    let root = Root::new();
    let server = perl_server(&root, &[]);

    let r = server.get("/cgi-bin/shop/app.pl/redirect");
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some("http://elsewhere.example/after?from=perl")
    );

    let r = server.get("/cgi-bin/shop/app.pl/missing");
    assert_eq!((r.status, r.reason.as_str()), (404, "Not Found"));
    assert_eq!(r.text(), "nothing at /missing\n");

    let r = server.get("/cgi-bin/shop/app.pl/login");
    assert_eq!(r.status, 200);
    let set = r.header("set-cookie").expect("Set-Cookie").to_string();
    assert_eq!(set, "session=abc%20123; path=/cgi-bin/");
    // Sent back as a browser would: CGI.pm reads and decodes it.
    let pair = set.split(';').next().unwrap();
    let r = server.exchange(
        format!("GET /cgi-bin/shop/app.pl HTTP/1.1\r\nHost: test\r\nCookie: lang=en; {pair}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(lines_with(&r.text(), "cookie="), ["cookie=abc 123"]);
    let r = server.get("/cgi-bin/shop/app.pl");
    assert_eq!(lines_with(&r.text(), "cookie="), ["cookie=(none)"]);
}

#[test]
fn cgi_pm_path_info_and_url_match_the_request() {
    let root = Root::new();
    let server = perl_server(&root, &[]);
    let port = server.addr.port();

    let r = server.exchange(
        format!("GET /cgi-bin/shop/app.pl/orders/42/caf%C3%A9%20au%20lait?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert_eq!(
        lines_with(&text, "path_info="),
        ["path_info=/orders/42/café au lait"]
    );
    // CGI.pm builds the URL from the Host header, as a client sent it.
    assert_eq!(
        lines_with(&text, "url="),
        [format!("url=http://127.0.0.1:{port}/cgi-bin/shop/app.pl")]
    );
    assert_eq!(lines_with(&text, "relative="), ["relative=app.pl"]);
    assert_eq!(
        lines_with(&text, "absolute="),
        ["absolute=/cgi-bin/shop/app.pl"]
    );

    let r = server.get("/cgi-bin/shop/app.pl");
    assert_eq!(
        lines_with(&r.text(), "url="),
        ["url=http://test/cgi-bin/shop/app.pl"]
    );
    // HTTP/1.0 without Host: CGI.pm falls back on SERVER_NAME (the
    // address the request came in on) and SERVER_PORT.
    let r = server.exchange(b"GET /cgi-bin/shop/app.pl/x HTTP/1.0\r\n\r\n");
    assert_eq!(
        lines_with(&r.text(), "url="),
        [format!("url=http://127.0.0.1:{port}/cgi-bin/shop/app.pl")]
    );
}

#[test]
fn cgi_pm_url_follows_server_name_set_by_the_operator() {
    let root = Root::new();
    let server = perl_server(
        &root,
        &[
            "--prefix",
            "/legacy",
            "--env",
            "SERVER_NAME=www.example.org",
        ],
    );
    let port = server.addr.port();
    let r = server.exchange(b"GET /legacy/shop/app.pl HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        lines_with(&r.text(), "url="),
        [format!(
            "url=http://www.example.org:{port}/legacy/shop/app.pl"
        )]
    );
}
