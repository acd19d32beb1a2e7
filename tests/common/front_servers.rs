//! The real web servers from Debian's packages (nginx, Caddy, lighttpd,
//! Apache) run as children of a test in front of a FastCGI backend
//! (`fastcgi_backend`): each on a free port of 127.0.0.1 with its
//! configuration, logs and temporary files in a folder of its own,
//! serving the scripts under `/cgi-bin/` of a document root. Started
//! once it answers HTTP; killed on drop, printing its error log when
//! the test failed. The configurations are the README's "FastCGI" ones
//! plus what a test needs (its paths, foreground, no user switch).

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::fastcgi_backend::{Listen, free_port};
use super::{proc_state, require, wait_until};

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

/// The README's nginx `location` block for `backend`.
pub fn nginx_location(backend: &Listen) -> String {
    let pass = match backend {
        Listen::Unix(path) => format!("unix:{}", path.display()),
        Listen::Tcp(addr) => addr.to_string(),
    };
    format!(
        "    location /cgi-bin/ {{
        include /etc/nginx/fastcgi_params;
        fastcgi_split_path_info ^(/cgi-bin/[^/]+)(/.*)$;
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_param PATH_INFO $fastcgi_path_info;
        fastcgi_read_timeout 1h;
        client_max_body_size 0;
        fastcgi_pass {pass};
    }}
"
    )
}

fn nginx(d: &Path, port: u16, docroot: &Path, backend: &Listen) -> Command {
    let dd = d.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {dd}/nginx.pid;\nerror_log {dd}/error.log info;\n\
         events {{}}\nhttp {{\n    access_log {dd}/access.log;\n    client_body_temp_path {dd}/body;\n    \
         proxy_temp_path {dd}/proxy;\n    fastcgi_temp_path {dd}/fastcgi;\n    uwsgi_temp_path {dd}/uwsgi;\n    \
         scgi_temp_path {dd}/scgi;\n  server {{\n    listen 127.0.0.1:{port};\n    root {};\n{}  }}\n}}\n",
        docroot.display(),
        nginx_location(backend)
    );
    let conf = write(d, "nginx.conf", &conf);
    let mut cmd = Command::new(require("nginx", "nginx"));
    cmd.arg("-p").arg(d).arg("-e").arg(d.join("error.log"));
    cmd.arg("-c").arg(conf);
    cmd
}

fn caddy(d: &Path, port: u16, docroot: &Path, backend: &Listen) -> Command {
    let upstream = match backend {
        Listen::Unix(path) => format!("unix/{}", path.display()),
        Listen::Tcp(addr) => addr.to_string(),
    };
    let conf = format!(
        "{{\n    admin off\n    auto_https off\n    storage file_system {}\n}}\n\
         http://:{port} {{\n    bind 127.0.0.1\n    root * {}\n    \
         reverse_proxy /cgi-bin/* {upstream} {{\n        transport fastcgi {{\n            \
         split .sh\n        }}\n        flush_interval -1\n    }}\n}}\n",
        d.join("storage").display(),
        docroot.display()
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
    let place = match backend {
        Listen::Unix(path) => format!("\"socket\" => \"{}\"", path.display()),
        Listen::Tcp(addr) => format!("\"host\" => \"{}\", \"port\" => {}", addr.ip(), addr.port()),
    };
    fs::create_dir_all(d.join("uploads")).unwrap();
    let conf = format!(
        "server.modules = ( \"mod_fastcgi\" )\nserver.document-root = \"{}\"\n\
         server.bind = \"127.0.0.1\"\nserver.port = {port}\nserver.errorlog = \"{}/error.log\"\n\
         server.upload-dirs = ( \"{}/uploads\" )\nserver.stream-response-body = 2\n\
         server.stream-request-body = 0\n\
         fastcgi.server = ( \"/cgi-bin/\" => (( {place}, \"check-local\" => \"disable\" )) )\n",
        docroot.display(),
        d.display(),
        d.display()
    );
    let conf = write(d, "lighttpd.conf", &conf);
    let mut cmd = Command::new(require("/usr/sbin/lighttpd", "lighttpd"));
    cmd.arg("-D").arg("-f").arg(conf);
    cmd
}

fn apache(d: &Path, port: u16, docroot: &Path, backend: &Listen) -> Command {
    let handler = match backend {
        Listen::Unix(path) => format!("proxy:unix:{}|fcgi://localhost", path.display()),
        Listen::Tcp(addr) => format!("proxy:fcgi://{addr}"),
    };
    let modules: String = [
        ("mpm_event", "mod_mpm_event"),
        ("authz_core", "mod_authz_core"),
        ("proxy", "mod_proxy"),
        ("proxy_fcgi", "mod_proxy_fcgi"),
    ]
    .iter()
    .map(|(name, file)| format!("LoadModule {name}_module {APACHE_MODULES}/{file}.so\n"))
    .collect();
    let (dd, root) = (d.display(), docroot.display());
    let conf = format!(
        "{modules}ServerRoot {dd}\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\n\
         PidFile {dd}/httpd.pid\nErrorLog {dd}/error.log\nDefaultRuntimeDir {dd}\nMutex file:{dd}\n\
         LogLevel info\nUser nobody\nGroup nogroup\nDocumentRoot {root}\n\
         <Directory {root}/cgi-bin>\n    Require all granted\n    AcceptPathInfo On\n    \
         SetHandler \"{handler}\"\n    \
         ProxyFCGISetEnvIf true SCRIPT_FILENAME \"%{{DOCUMENT_ROOT}}%{{reqenv:SCRIPT_NAME}}\"\n\
         </Directory>\n<Proxy \"fcgi://localhost\">\n    ProxySet flushpackets=on\n</Proxy>\n"
    );
    let conf = write(d, "httpd.conf", &conf);
    let mut cmd = Command::new(require("/usr/sbin/apache2", "apache2"));
    cmd.arg("-X").arg("-f").arg(conf);
    cmd
}
