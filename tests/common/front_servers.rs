//! The real web servers from Debian's packages (nginx, Caddy, lighttpd,
//! Apache) run as children of a test in front of a FastCGI backend
//! (`fastcgi_backend`): each on a free port of 127.0.0.1 with its
//! configuration, logs and temporary files in a folder of its own,
//! serving the scripts under `/cgi-bin/` of a document root. Started
//! once it answers HTTP; killed on drop, printing its error log when
//! the test failed. The configurations are the README's ("Behind nginx,
//! Caddy, lighttpd, Apache"), with the test's paths and port, inside
//! what the packages' main configuration files would say.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::fastcgi_backend::{Listen, free_port};
use super::{WAIT, proc_state, readme_block, replaced, require, wait_until};

/// The socket the README's configurations name.
const README_SOCKET: &str = "/run/rcgi/fcgi.sock";
/// Debian's modules folder for Apache.
const APACHE_MODULES: &str = "/usr/lib/apache2/modules";

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Nginx,
    Caddy,
    Lighttpd,
    Apache,
}

/// A running web server in front of the backend.
pub struct Front {
    pub kind: Kind,
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Front {
    /// Starts `kind` serving `docroot` (scripts in `docroot/cgi-bin`)
    /// with `/cgi-bin/` passed to the FastCGI backend at `backend`.
    pub fn start(kind: Kind, docroot: &Path, backend: &Listen) -> Front {
        let dir = tempfile::tempdir().expect("a folder for the server");
        // Apache's children run as nobody: they must reach the files.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let port = free_port();
        let d = dir.path().to_path_buf();
        let mut cmd = match kind {
            Kind::Nginx => nginx(&d, port, docroot, backend),
            Kind::Caddy => caddy(&d, port, docroot, backend),
            Kind::Lighttpd => lighttpd(&d, port, docroot, backend),
            Kind::Apache => apache(&d, port, docroot, backend),
        };
        let child = cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(fs::File::create(d.join("stdout.log")).unwrap())
            .stderr(fs::File::create(d.join("stderr.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {kind:?}: {e}"));
        let front = Front {
            kind,
            port,
            child,
            dir,
        };
        front.wait_answering();
        front
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The server's own logs: its error log, stdout and stderr.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["error.log", "stdout.log", "stderr.log"] {
            if let Ok(text) = fs::read_to_string(self.dir.path().join(name)) {
                out.push_str(&format!("--- {name}:\n{text}"));
            }
        }
        out
    }

    /// Waits until the server answers an HTTP request (any status).
    fn wait_answering(&self) {
        wait_until(
            &format!("{:?} to answer on port {}", self.kind, self.port),
            || {
                let state = proc_state(self.child.id());
                assert!(
                    !matches!(state, None | Some('Z')),
                    "{:?} exited:\n{}",
                    self.kind,
                    self.logs()
                );
                let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
                s.set_read_timeout(Some(WAIT)).ok()?;
                s.write_all(b"HEAD / HTTP/1.0\r\n\r\n").ok()?;
                let mut head = [0u8; 8];
                s.read_exact(&mut head).ok()?;
                (&head[..5] == b"HTTP/").then_some(())
            },
        );
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {:?}'s logs:\n{}", self.kind, self.logs());
        }
        // Workers (Apache's, nginx's) are in its group.
        let group = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).expect("write a server configuration");
    path
}

/// The README's configuration after `marker` with `/srv/www` made
/// `docroot`, then `edits` (`(from, to)`, each of which must be there:
/// the port, the backend).
fn readme_config(marker: &str, docroot: &Path, edits: &[(&str, String)]) -> String {
    let mut text = replaced(
        &readme_block(marker),
        "/srv/www",
        &docroot.display().to_string(),
    );
    for (from, to) in edits {
        text = replaced(&text, from, to);
    }
    text
}

/// The README's socket, as a server's configuration names it in
/// `unix_form`, replaced by the backend's (`tcp_form` of its address).
fn backend_edit<'a>(
    unix_form: &'a str,
    backend: &Listen,
    tcp_form: impl Fn(SocketAddr) -> String,
) -> (&'a str, String) {
    let to = match backend {
        Listen::Unix(path) => unix_form.replace(README_SOCKET, &path.display().to_string()),
        Listen::Tcp(addr) => tcp_form(*addr),
    };
    (unix_form, to)
}

fn nginx(d: &Path, port: u16, docroot: &Path, backend: &Listen) -> Command {
    let site = readme_config(
        "nginx, as for fcgiwrap (`/etc/nginx/sites-enabled/cgi`):",
        docroot,
        &[
            ("listen 80;", format!("listen 127.0.0.1:{port};")),
            backend_edit("unix:/run/rcgi/fcgi.sock", backend, |a| a.to_string()),
        ],
    );
    // What /etc/nginx/nginx.conf around a site says, in the test's
    // folder, as one process in the foreground (so as root: no worker
    // user needs the socket).
    let dd = d.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {dd}/nginx.pid;\nerror_log {dd}/error.log info;\n\
         events {{}}\nhttp {{\n    access_log {dd}/access.log;\n    client_body_temp_path {dd}/body;\n    \
         proxy_temp_path {dd}/proxy;\n    fastcgi_temp_path {dd}/fastcgi;\n    uwsgi_temp_path {dd}/uwsgi;\n    \
         scgi_temp_path {dd}/scgi;\n{site}}}\n"
    );
    let conf = write(d, "nginx.conf", &conf);
    let mut cmd = Command::new(require("nginx", "nginx"));
    cmd.arg("-p").arg(d).arg("-e").arg(d.join("error.log"));
    cmd.arg("-c").arg(conf);
    cmd
}

fn caddy(d: &Path, port: u16, docroot: &Path, backend: &Listen) -> Command {
    let site = readme_config(
        "Caddy (`/etc/caddy/Caddyfile`):",
        docroot,
        &[
            (
                "www.example.org {",
                format!("http://:{port} {{\n    bind 127.0.0.1"),
            ),
            backend_edit("unix//run/rcgi/fcgi.sock", backend, |a| a.to_string()),
        ],
    );
    // No admin endpoint (port 2019 is shared), no certificates.
    let conf = format!(
        "{{\n    admin off\n    auto_https off\n    storage file_system {}\n}}\n{site}",
        d.join("storage").display()
    );
    let conf = write(d, "Caddyfile", &conf);
    let mut cmd = Command::new(require("caddy", "caddy"));
    cmd.args(["run", "--adapter", "caddyfile", "--config"])
        .arg(conf);
    cmd.env("HOME", d)
        .env("XDG_DATA_HOME", d.join("data"))
        .env("XDG_CONFIG_HOME", d.join("config"));
    cmd
}

fn lighttpd(d: &Path, port: u16, docroot: &Path, backend: &Listen) -> Command {
    let site = readme_config(
        "lighttpd (`/etc/lighttpd/conf-enabled/90-rcgi.conf`):",
        docroot,
        &[backend_edit(
            "\"socket\" => \"/run/rcgi/fcgi.sock\"",
            backend,
            |a| format!("\"host\" => \"{}\", \"port\" => {}", a.ip(), a.port()),
        )],
    );
    fs::create_dir_all(d.join("uploads")).unwrap();
    let dd = d.display();
    // What Debian's lighttpd.conf around it says, in the test's folder.
    let conf = format!(
        "server.bind = \"127.0.0.1\"\nserver.port = {port}\nserver.errorlog = \"{dd}/error.log\"\n\
         server.upload-dirs = ( \"{dd}/uploads\" )\n{site}"
    );
    let conf = write(d, "lighttpd.conf", &conf);
    let mut cmd = Command::new(require("/usr/sbin/lighttpd", "lighttpd"));
    cmd.arg("-D").arg("-f").arg(conf);
    cmd
}

fn apache(d: &Path, port: u16, docroot: &Path, backend: &Listen) -> Command {
    let site = readme_config(
        "`/etc/apache2/sites-enabled/cgi.conf`):",
        docroot,
        &[
            (
                "<VirtualHost *:80>",
                format!("<VirtualHost 127.0.0.1:{port}>"),
            ),
            backend_edit("unix:/run/rcgi/fcgi.sock|fcgi://localhost", backend, |a| {
                format!("fcgi://{a}")
            }),
        ],
    );
    let modules: String = [
        ("mpm_event", "mod_mpm_event"),
        ("authz_core", "mod_authz_core"),
        ("proxy", "mod_proxy"),
        ("proxy_fcgi", "mod_proxy_fcgi"),
    ]
    .iter()
    .map(|(name, file)| format!("LoadModule {name}_module {APACHE_MODULES}/{file}.so\n"))
    .collect();
    // What Debian's apache2.conf around a site says, in the test's
    // folder; its children run as nobody.
    let dd = d.display();
    let conf = format!(
        "{modules}ServerRoot {dd}\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\n\
         PidFile {dd}/httpd.pid\nErrorLog {dd}/error.log\nLogLevel info\nDefaultRuntimeDir {dd}\n\
         Mutex file:{dd}\nUser nobody\nGroup nogroup\n{site}"
    );
    let conf = write(d, "httpd.conf", &conf);
    let mut cmd = Command::new(require("/usr/sbin/apache2", "apache2"));
    cmd.arg("-X").arg("-f").arg(conf);
    cmd
}
