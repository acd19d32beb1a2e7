//! Starting a script ([`spawn`]): everything its process needs is made
//! ready here (argv and envp as C strings, its three descriptors, its
//! resource limits, its umask), then [`clone`] starts it with one
//! `clone(CLONE_VM | CLONE_VFORK)`: no `fork` of rcgi's memory, no
//! `pre_exec`. The script leads a process group of its own (pgid = pid;
//! not a session, see `custody`), with an empty environment but the one given, in its own
//! folder, with pipes for stdin (unless the body is a file), stdout and
//! stderr; every other descriptor rcgi holds is close-on-exec, those it
//! inherited included ([`seal_inherited_fds`]).
//!
//! [`clone`]: super::clone

use std::ffi::{CString, OsStr, OsString, c_char};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ChildStderr, ChildStdin, ChildStdout, ExitStatus};
use std::sync::OnceLock;
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;

use super::clone::{self, Plan, Resource, Rlimit};
use super::env::Env;
use super::running;
use super::script::Script;
use crate::io::fd_limit;
use crate::io::pipe::set_nonblocking;

/// Seconds of CPU time between SIGXCPU and SIGKILL.
const CPU_HARD_AFTER: u64 = 1;
/// How often a script busy being written (ETXTBSY) is tried again.
const BUSY_RETRIES: u32 = 5;
/// How long to wait between those tries.
const BUSY_PAUSE: Duration = Duration::from_millis(10);

/// What a script reads on stdin.
pub enum Input {
    /// Nothing: end-of-file at once.
    Empty,
    /// A pipe the exchange writes the body into.
    Pipe,
    /// A file holding the whole body (a spooled chunked upload).
    File(File),
}

/// The script's ends of the exchange, non-blocking.
pub struct Pipes {
    pub stdin: Option<ChildStdin>,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
}

/// The per-script resource limits (`--limit-*`), each soft = hard but
/// CPU time's, whose hard limit is a second later (at the soft limit
/// the kernel sends SIGXCPU, which says why the script died; at the hard
/// one SIGKILL, which a script cannot catch). None leaves rcgi's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rlimits {
    /// RLIMIT_CPU: CPU time, in whole seconds; past it, SIGXCPU.
    pub cpu: Option<Duration>,
    /// RLIMIT_AS: address space, in bytes; past it, allocations fail.
    pub memory: Option<u64>,
    /// RLIMIT_NPROC: processes of the script's user.
    pub procs: Option<u64>,
    /// RLIMIT_NOFILE: open descriptors.
    pub files: Option<u64>,
    /// RLIMIT_FSIZE: the largest file written, in bytes; past it, SIGXFSZ.
    pub fsize: Option<u64>,
}

impl Rlimits {
    /// The limit a script that ended with `exit` ran into, as the
    /// operator set it: "--limit-cpu 2s". Only the signals
    /// the kernel sends for a limit tell; a failed allocation or fork
    /// shows as the script's own exit.
    pub fn exceeded(&self, exit: ExitStatus) -> Option<String> {
        match exit.signal()? {
            libc::SIGXCPU => {
                let secs = self.cpu?.as_secs();
                Some(format!("--limit-cpu {secs}s"))
            }
            libc::SIGXFSZ => {
                let size = shown_size(self.fsize?);
                Some(format!("--limit-fsize {size}"))
            }
            _ => None,
        }
    }

    /// The limits to set, as the child sets them.
    fn list(&self) -> Vec<Rlimit> {
        let cpu = self.cpu.map(|d| d.as_secs().max(1));
        let cpu_limit = cpu.map(|soft| Rlimit {
            resource: Resource::Cpu,
            soft,
            hard: soft.saturating_add(CPU_HARD_AFTER),
        });
        let same = [
            (Resource::Memory, self.memory),
            (Resource::Procs, self.procs),
            (Resource::Files, self.files),
            (Resource::Fsize, self.fsize),
        ]
        .into_iter()
        .filter_map(|(resource, value)| {
            let value = value?;
            Some(Rlimit {
                resource,
                soft: value,
                hard: value,
            })
        });
        // Without --limit-files, a script gets back the descriptor limit
        // rcgi started with (rcgi raised its own).
        let files = self.files.is_none().then(fd_limit::for_scripts).flatten();
        let files = files.map(|(soft, hard)| Rlimit {
            resource: Resource::Files,
            soft,
            hard,
        });
        cpu_limit.into_iter().chain(same).chain(files).collect()
    }
}

/// `1M`, `64K`, or bytes.
fn shown_size(n: u64) -> String {
    for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] {
        if n >= 1 << shift && n % (1 << shift) == 0 {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

/// How a script's process is set up, besides what it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub rlimits: Rlimits,
    /// `--umask`.
    pub umask: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rlimits: Rlimits::default(),
            umask: 0o022,
        }
    }
}

/// One script to start.
pub struct Spawn<'a> {
    pub program: &'a Path,
    /// Arguments after the program.
    pub args: &'a [OsString],
    pub dir: &'a Path,
    /// Exactly the script's environment.
    pub env: &'a Env,
    pub input: &'a Input,
    pub settings: &'a Settings,
    /// A cgroup v2 folder to start the script in; None: rcgi's own.
    pub cgroup: Option<BorrowedFd<'a>>,
}

/// The C strings of a start, alive until it is done.
struct Strings {
    program: CString,
    dir: CString,
    _owned: Vec<CString>,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in argument"))
}

impl Strings {
    fn new(s: &Spawn) -> io::Result<Strings> {
        let program = c_string(s.program.as_os_str().as_bytes())?;
        let dir = c_string(s.dir.as_os_str().as_bytes())?;
        let mut owned = vec![program.clone()];
        for arg in s.args {
            owned.push(c_string(arg.as_bytes())?);
        }
        let argc = owned.len();
        // A name given twice takes its last value (--env wins over a CGI
        // variable), as std's `Command::envs` has it.
        for (i, (k, v)) in s.env.iter().enumerate() {
            if s.env[i + 1..].iter().any(|(later, _)| later == k) {
                continue;
            }
            let mut pair = k.as_bytes().to_vec();
            pair.push(b'=');
            pair.extend_from_slice(OsStr::as_bytes(v));
            owned.push(c_string(&pair)?);
        }
        let pointers = |strings: &[CString]| -> Vec<*const c_char> {
            strings
                .iter()
                .map(|s| s.as_ptr())
                .chain([std::ptr::null()])
                .collect()
        };
        Ok(Strings {
            argv: pointers(&owned[..argc]),
            envp: pointers(&owned[argc..]),
            program,
            dir,
            _owned: owned,
        })
    }
}

/// The descriptors of a start: the child's ends and the parent's.
struct Ends {
    child: [OwnedFd; 3],
    stdin: Option<OwnedFd>,
    stdout: OwnedFd,
    stderr: OwnedFd,
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC)?)
}

/// `/dev/null` for a script with no body: opened once, then a copy of
/// that descriptor (one `fcntl`, no path lookup) per script.
fn null() -> io::Result<OwnedFd> {
    static NULL: OnceLock<File> = OnceLock::new();
    let file = match NULL.get() {
        Some(file) => file,
        None => {
            let _ = NULL.set(File::open("/dev/null")?);
            NULL.get()
                .ok_or_else(|| io::Error::other("/dev/null not kept"))?
        }
    };
    Ok(file.try_clone()?.into())
}

impl Ends {
    fn new(input: &Input) -> io::Result<Ends> {
        let (stdin_child, stdin) = match input {
            Input::Empty => (null()?, None),
            Input::Pipe => {
                let (read, write) = pipe()?;
                (read, Some(write))
            }
            Input::File(f) => (f.try_clone()?.into(), None),
        };
        let (stdout, stdout_child) = pipe()?;
        let (stderr, stderr_child) = pipe()?;
        Ok(Ends {
            child: [stdin_child, stdout_child, stderr_child],
            stdin,
            stdout,
            stderr,
        })
    }
}

/// Starts the script; an error names the step that failed (an exec
/// failure keeps its errno alone, as `posix_spawn` reports it).
pub fn spawn(s: &Spawn) -> io::Result<(Script, Pipes)> {
    let strings = Strings::new(s)?;
    let rlimits = s.settings.rlimits.list();
    let ends = Ends::new(s.input)?;
    let plan = Plan {
        program: &strings.program,
        argv: &strings.argv,
        envp: &strings.envp,
        dir: &strings.dir,
        fds: ends.child.each_ref().map(|fd| fd.as_raw_fd()),
        rlimits: &rlimits,
        umask: s.settings.umask,
        cgroup: s.cgroup.map(|fd| fd.as_raw_fd()),
        signals: clone::changed_signals(),
    };
    let mut attempts = 0;
    let started = loop {
        match clone::start(&plan)? {
            Ok(started) => break started,
            // A script being written right now (by a deploy; in a test, by
            // a thread whose descriptor a concurrent start holds for a
            // moment) is busy for a few milliseconds: try again.
            Err(f) if f.errno == libc::ETXTBSY && attempts < BUSY_RETRIES => {
                attempts += 1;
                std::thread::sleep(BUSY_PAUSE);
            }
            Err(f) => return Err(f.into_error()),
        }
    };
    drop(ends.child);
    running::add(started.pid);
    let script = Script::new(started.pid, started.pidfd);
    let pipes = Pipes {
        stdin: ends.stdin.map(ChildStdin::from),
        stdout: ChildStdout::from(ends.stdout),
        stderr: ChildStderr::from(ends.stderr),
    };
    if let Some(stdin) = &pipes.stdin {
        set_nonblocking(stdin)?;
    }
    set_nonblocking(&pipes.stdout)?;
    set_nonblocking(&pipes.stderr)?;
    Ok((script, pipes))
}

/// Marks every descriptor rcgi inherited above 2 close-on-exec, so that
/// none reaches a script (everything rcgi opens itself already is). Call
/// at start, before other threads exist.
pub fn seal_inherited_fds() {
    let Ok(mut dir) = nix::dir::Dir::open(
        "/proc/self/fd",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    ) else {
        return;
    };
    let own = dir.as_fd().as_raw_fd();
    let fds: Vec<i32> = dir
        .iter()
        .flatten()
        .filter_map(|e| e.file_name().to_str().ok()?.parse().ok())
        .filter(|&fd| fd > 2 && fd != own)
        .collect();
    for fd in fds {
        // SAFETY: `fd` is open (just listed, and not the listing's own
        // descriptor), and no other thread exists yet to close it.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let _ = fcntl(fd, FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;

    fn start(program: &Path, settings: &Settings) -> io::Result<(Script, Pipes)> {
        let env = vec![("A".into(), "1".into()), ("A".into(), "2".into())];
        spawn(&Spawn {
            program,
            args: &[
                "-c".into(),
                "echo $A $$; cut -d' ' -f5,6 /proc/$$/stat; umask".into(),
            ],
            dir: Path::new("/"),
            env: &env,
            input: &Input::Empty,
            settings,
            cgroup: None,
        })
    }

    /// Runs `program` with `args`, default settings and no body, in `/`
    /// (and `cgroup`); its whole stdout once it has ended.
    fn output_of(program: &str, args: &[&str], cgroup: Option<BorrowedFd>) -> io::Result<String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let (mut child, pipes) = spawn(&Spawn {
            program: Path::new(program),
            args: &args,
            dir: Path::new("/"),
            env: &Vec::new(),
            input: &Input::Empty,
            settings: &Settings::default(),
            cgroup,
        })?;
        Ok(read_all(&mut child, pipes))
    }

    /// The whole stdout of a started script, which is then reaped.
    fn read_all(child: &mut Script, mut pipes: Pipes) -> String {
        let mut out = String::new();
        fcntl(&pipes.stdout, FcntlArg::F_SETFL(OFlag::empty())).unwrap();
        pipes.stdout.read_to_string(&mut out).unwrap();
        child.reap();
        out
    }

    fn script(text: &str, mode: u32) -> tempfile::TempPath {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        f.into_temp_path()
    }

    #[test]
    fn leads_its_own_group_in_our_session_with_its_umask_and_last_value() {
        let settings = Settings {
            umask: 0o027,
            ..Settings::default()
        };
        let (mut child, mut pipes) = start(Path::new("/bin/sh"), &settings).unwrap();
        let mut out = String::new();
        fcntl(&pipes.stdout, FcntlArg::F_SETFL(OFlag::empty())).unwrap();
        pipes.stdout.read_to_string(&mut out).unwrap();
        assert!(child.reap().success());
        let words: Vec<&str> = out.split_whitespace().collect();
        let pid = child.pid().to_string();
        let sid = nix::unistd::getsid(None).unwrap().to_string();
        assert_ne!(sid, pid);
        assert_eq!(words, ["2", &pid, &pid, &sid, "0027"], "{out}");
    }

    #[test]
    fn exec_failures_keep_their_errno() {
        let settings = Settings::default();
        let missing = script("#!/nonexistent/interpreter\n", 0o755);
        let e = start(&missing, &settings).err().expect("no interpreter");
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
        let plain = script("#!/bin/sh\n", 0o644);
        let e = start(&plain, &settings).err().expect("not executable");
        assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{e}");
    }

    #[test]
    fn a_limit_that_cannot_be_set_names_itself() {
        // Above fs.nr_open even root cannot raise RLIMIT_NOFILE; above
        // the hard limit no one else can: EPERM either way.
        let settings = Settings {
            rlimits: Rlimits {
                files: Some(1 << 40),
                ..Rlimits::default()
            },
            ..Settings::default()
        };
        let e = start(Path::new("/bin/sh"), &settings)
            .err()
            .expect("limit refused");
        let text = e.to_string();
        assert!(
            text.contains("cannot set RLIMIT_NOFILE before exec") && text.contains("os error 1"),
            "{text}"
        );
    }

    /// The cgroup v2 mount, if there is one.
    fn cgroup2_mount() -> Option<std::path::PathBuf> {
        let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
        let line = mounts
            .lines()
            .find(|l| l.split(' ').nth(2) == Some("cgroup2"))?;
        line.split(' ').nth(1).map(Into::into)
    }

    #[test]
    fn starts_in_the_cgroup_given() {
        let Some(mount) = cgroup2_mount() else {
            eprintln!("not run: no cgroup v2 file system mounted here");
            return;
        };
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let own = own
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("/");
        let name = format!("rcgi-spawn-test-{}", std::process::id());
        let dir = mount.join(own.trim_start_matches('/')).join(&name);
        if let Err(e) = std::fs::create_dir(&dir) {
            eprintln!(
                "not run: cannot make a cgroup here ({}: {e})",
                dir.display()
            );
            return;
        }
        let folder = File::open(&dir).unwrap();
        let out = output_of("/bin/cat", &["/proc/self/cgroup"], Some(folder.as_fd())).unwrap();
        let _ = std::fs::remove_dir(&dir);
        let joined = out
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .unwrap_or("");
        assert!(joined.ends_with(&format!("/{name}")), "{out}");
    }

    #[test]
    fn a_cgroup_that_cannot_be_joined_names_the_step() {
        let not_a_cgroup = tempfile::tempdir().unwrap();
        let folder = File::open(not_a_cgroup.path()).unwrap();
        let e =
            output_of("/bin/true", &[], Some(folder.as_fd())).expect_err("no cgroup.procs there");
        let text = e.to_string();
        assert!(
            text.contains("cannot join the request's cgroup before exec")
                && text.contains("os error 2"),
            "{text}"
        );
    }

    #[test]
    fn scripts_get_default_signals_and_an_empty_mask() {
        // The test binary ignores SIGPIPE, as rcgi does (Rust's runtime).
        let out = output_of("/bin/cat", &["/proc/self/status"], None).unwrap();
        let field = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or("missing")
                .to_string()
        };
        assert_eq!(field("SigIgn:"), "0000000000000000", "{out}");
        assert_eq!(field("SigBlk:"), "0000000000000000", "{out}");
    }
}
