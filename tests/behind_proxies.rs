//! The README's "Deploying" configurations for nginx and Caddy, run as
//! written (only the addresses, ports and certificate paths replaced)
//! with the real servers from Debian's packages in front of rcgi, over
//! TLS: curl connects from 127.0.0.9, the proxy from 127.0.0.1 (the one
//! rcgi trusts), and the script must see the client's address,
//! `HTTPS=on` and the public host name.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{Root, Server, client_command, readme_block, replaced, require, run_ok, wait_until};

/// The address curl connects from: not the proxy's, so REMOTE_ADDR
/// shows which one the script was told.
const CLIENT_IP: &str = "127.0.0.9";
const NAME: &str = "www.example.org";

const SHOW: &str = r#"#!/bin/sh
printf 'Content-Type: text/plain\n\n'
for v in REMOTE_ADDR HTTPS REQUEST_SCHEME SERVER_NAME SERVER_PORT HTTP_HOST; do
    eval "printf '%s=%s\n' $v \"\${$v-unset}\""
done
"#;

/// A server process stopped (SIGKILL) when the test ends.
struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free now on 127.0.0.1 (for a server that binds its own).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A self-signed certificate for NAME in `dir`: (certificate, key).
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let openssl = require("openssl", "openssl");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    run_ok(
        Command::new(openssl)
            .args(["req", "-x509", "-nodes", "-days", "2", "-newkey", "ec"])
            .args(["-pkeyopt", "ec_paramgen_curve:prime256v1", "-subj"])
            .arg(format!("/CN={NAME}"))
            .args(["-addext", &format!("subjectAltName=DNS:{NAME}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    (cert, key)
}

/// rcgi as the README starts it (with a free port).
fn rcgi(root: &Root) -> Server {
    let line = readme_block("rcgi on the loopback, the one nginx trusts:");
    let args: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        args,
        [
            "rcgi",
            "--root",
            "/srv/cgi-bin",
            "--bind",
            "127.0.0.1",
            "--port",
            "8000",
            "--trusted-proxy",
            "127.0.0.1"
        ]
    );
    // The harness sets --root, --bind 127.0.0.1 and a free --port.
    root.start(&args[7..])
}

/// Waits until something listens on `port`.
fn wait_listening(port: u16, proxy: &mut Proxy) {
    wait_until(&format!("a server on port {port}"), || {
        if let Ok(Some(status)) = proxy.0.try_wait() {
            panic!("the proxy exited: {status}");
        }
        TcpStream::connect(("127.0.0.1", port)).ok()
    });
}

/// What the script says through the proxy at `port`, fetched by curl
/// over https from CLIENT_IP.
fn through(port: u16, home: &Path) -> String {
    require("curl", "curl");
    let url = format!("https://{NAME}:{port}/cgi-bin/show.sh");
    let out = run_ok(
        client_command("curl", home)
            .args(["-sS", "--fail", "-k", "--interface", CLIENT_IP])
            .args(["--resolve", &format!("{NAME}:{port}:127.0.0.1")])
            .arg(url),
    );
    String::from_utf8(out).unwrap()
}

fn assert_script_saw(view: &str, port: u16) {
    for line in [
        format!("REMOTE_ADDR={CLIENT_IP}"),
        "HTTPS=on".to_string(),
        "REQUEST_SCHEME=https".to_string(),
        format!("SERVER_NAME={NAME}"),
        format!("SERVER_PORT={port}"),
    ] {
        assert!(view.lines().any(|l| l == line), "{line} in:\n{view}");
    }
}

#[test]
fn behind_nginx_as_the_readme_configures_it() {
    let nginx = require("nginx", "nginx");
    let root = Root::new();
    root.script("show.sh", SHOW);
    let server = rcgi(&root);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();
    let (cert, key) = certificate(&dir);
    let port = free_port();
    let site = readme_block("nginx (`/etc/nginx/sites-enabled/cgi`):");
    let site = replaced(
        &site,
        "listen 443 ssl;",
        &format!("listen 127.0.0.1:{port} ssl;"),
    );
    let site = replaced(
        &site,
        "/etc/ssl/certs/www.example.org.pem",
        cert.to_str().unwrap(),
    );
    let site = replaced(
        &site,
        "/etc/ssl/private/www.example.org.key",
        key.to_str().unwrap(),
    );
    let site = replaced(
        &site,
        "http://127.0.0.1:8000",
        &format!("http://{}", server.addr),
    );
    // What /etc/nginx/nginx.conf around a site would say, in the test's
    // folder, as one process in the foreground.
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{}}\nhttp {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    \
         proxy_temp_path {d}/proxy;\n    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    \
         scgi_temp_path {d}/scgi;\n{site}}}\n"
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let mut proxy = Proxy(
        Command::new(nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .spawn()
            .expect("start nginx"),
    );
    wait_listening(port, &mut proxy);
    let view = through(port, &dir);
    assert_script_saw(&view, port);
    assert!(view.contains(&format!("HTTP_HOST={NAME}\n")), "{view}");
    server.wait_access(&format!("{CLIENT_IP} - - ["));
}

#[test]
fn behind_caddy_as_the_readme_configures_it() {
    let caddy = require("caddy", "caddy");
    let root = Root::new();
    root.script("show.sh", SHOW);
    let server = rcgi(&root);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().canonicalize().unwrap();
    let (cert, key) = certificate(&dir);
    let port = free_port();
    let site = readme_block("rcgi as above (`--trusted-proxy 127.0.0.1`); the `Caddyfile`:");
    // Caddy would get a certificate for the name from an ACME CA; the
    // test gives it one, and keeps it on the loopback.
    let site = replaced(
        &site,
        "www.example.org {",
        &format!(
            "https://{NAME}:{port} {{\n    bind 127.0.0.1\n    tls {} {}",
            cert.display(),
            key.display()
        ),
    );
    let site = replaced(&site, "127.0.0.1:8000", &server.addr.to_string());
    // No admin endpoint (port 2019 is shared), no redirect listener on
    // port 80, nothing in the system's trust store.
    let conf = format!(
        "{{\n    admin off\n    auto_https disable_redirects\n    skip_install_trust\n    \
         storage file_system {}\n}}\n{site}",
        dir.join("storage").display()
    );
    let conf_path = dir.join("Caddyfile");
    std::fs::write(&conf_path, conf).unwrap();
    let mut proxy = Proxy(
        Command::new(caddy)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&conf_path)
            .env("HOME", &dir)
            .env("XDG_DATA_HOME", dir.join("data"))
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start caddy"),
    );
    wait_listening(port, &mut proxy);
    let view = through(port, &dir);
    assert_script_saw(&view, port);
    server.wait_access(&format!("{CLIENT_IP} - - ["));
}
