//! The raw start of a script's process: `clone(CLONE_VM | CLONE_VFORK |
//! CLONE_PIDFD)` on a stack taken from a small shared pool for the
//! clone alone (untouched pages cost no memory), then, in the child,
//! only async-signal-safe system calls before `execve`: signal
//! dispositions back to their defaults, the three descriptors onto 0, 1
//! and 2, a process group of its own (pgid = pid), the cgroup, the resource
//! limits, the umask, the folder, an empty signal mask, and exec. A step
//! that fails is written, with its errno, into memory the parent shares
//! (CLONE_VM), and the child exits with 127; the parent, which the kernel
//! holds until the child has exec'd or exited (CLONE_VFORK), reads it
//! back and reaps the child, as `posix_spawn` does.
//!
//! Everything the child touches is prepared by the parent ([`Plan`]): no
//! allocation, no lock, no Rust runtime call happens in the child.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::fmt;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

use nix::libc;
use nix::sys::signal::{SigSet, SigmaskHow, pthread_sigmask};

use crate::io::kept::Kept;

/// The child's stack. It is an anonymous mapping, not a heap buffer:
/// only the pages the child touches become resident (the test
/// `child_touches_one_page` measures it: one page), so its size is only
/// a bound.
const CHILD_STACK: usize = 64 * 1024;
/// Child stacks the pool keeps when they are given back; one taken while
/// none is kept is mapped, one given back past this is unmapped. With
/// CLONE_VFORK a stack is busy only from the clone until the child's
/// exec, while its parent thread is suspended, so the stacks in use at
/// once are the spawns in progress at that instant (a few, on a few
/// cores), not the threads alive.
const CHILD_STACKS_KEPT: usize = 4;

/// `CLONE_PIDFD` (Linux 5.2): the kernel writes a pidfd of the child
/// into the `parent_tid` argument.
const CLONE_PIDFD: c_int = 0x1000;

/// The highest signal number, plus one.
const NSIG: c_int = 65;

/// Child stacks not in use.
static STACKS: Kept<ChildStack> = Kept::new(CHILD_STACKS_KEPT);

/// An anonymous mapping a child runs on, unmapped when dropped. Its
/// address is kept as a number: the mapping belongs to whoever holds the
/// value, whichever thread that is.
struct ChildStack {
    base: usize,
    len: usize,
}

impl ChildStack {
    fn map(len: usize) -> io::Result<ChildStack> {
        // SAFETY: a new private anonymous mapping at an address of the
        // kernel's choosing; it aliases nothing of ours.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(ChildStack {
            base: base as usize,
            len,
        })
    }

    /// The stack's top (it grows down), 16-byte aligned.
    fn top(&self) -> *mut c_void {
        (self.base + self.len) as *mut c_void
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: the mapping is ours alone and no child runs on it (its
        // last clone returned, so that child has exec'd or exited).
        unsafe {
            libc::munmap(self.base as *mut c_void, self.len);
        }
    }
}

/// The resource limits rcgi sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Cpu,
    Memory,
    Procs,
    Files,
    Fsize,
}

/// Every [`Resource`], in the order of their codes.
const RESOURCES: [Resource; 5] = [
    Resource::Cpu,
    Resource::Memory,
    Resource::Procs,
    Resource::Files,
    Resource::Fsize,
];

impl Resource {
    /// Its number for prlimit(2).
    fn number(self) -> c_int {
        let n = match self {
            Resource::Cpu => libc::RLIMIT_CPU,
            Resource::Memory => libc::RLIMIT_AS,
            Resource::Procs => libc::RLIMIT_NPROC,
            Resource::Files => libc::RLIMIT_NOFILE,
            Resource::Fsize => libc::RLIMIT_FSIZE,
        };
        n as c_int
    }

    /// `RLIMIT_CPU` and so on.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Cpu => "RLIMIT_CPU",
            Resource::Memory => "RLIMIT_AS",
            Resource::Procs => "RLIMIT_NPROC",
            Resource::Files => "RLIMIT_NOFILE",
            Resource::Fsize => "RLIMIT_FSIZE",
        }
    }
}

/// One resource limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

/// What the child needs, prepared by the parent. The pointers point into
/// memory the caller keeps alive until [`start`] returns.
pub struct Plan<'a> {
    pub program: &'a CStr,
    /// Null-terminated.
    pub argv: &'a [*const c_char],
    /// Null-terminated `K=V` strings.
    pub envp: &'a [*const c_char],
    pub dir: &'a CStr,
    /// Become stdin, stdout and stderr.
    pub fds: [RawFd; 3],
    pub rlimits: &'a [Rlimit],
    pub umask: u32,
    /// A cgroup v2 folder to join before exec.
    pub cgroup: Option<RawFd>,
    /// The signals to set back to their default action
    /// ([`changed_signals`]).
    pub signals: &'static [c_int],
}

/// A step of the child's way to exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Signals,
    Descriptors,
    Group,
    Cgroup,
    Limit(Resource),
    Folder,
    Exec,
}

impl Step {
    fn code(self) -> u32 {
        match self {
            Step::Signals => 1,
            Step::Descriptors => 2,
            Step::Group => 3,
            Step::Cgroup => 4,
            Step::Folder => 5,
            Step::Exec => 6,
            Step::Limit(r) => 100 + r as u32,
        }
    }

    fn from_code(code: u32) -> Step {
        match code {
            1 => Step::Signals,
            2 => Step::Descriptors,
            3 => Step::Group,
            4 => Step::Cgroup,
            5 => Step::Folder,
            6 => Step::Exec,
            n => {
                let i = n.saturating_sub(100) as usize;
                RESOURCES.get(i).map_or(Step::Exec, |&r| Step::Limit(r))
            }
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Signals => f.write_str("reset the signals"),
            Step::Descriptors => f.write_str("set up stdin, stdout and stderr"),
            Step::Group => f.write_str("lead a process group (setpgid)"),
            Step::Cgroup => f.write_str("join the request's cgroup"),
            Step::Limit(r) => write!(f, "set {}", r.name()),
            Step::Folder => f.write_str("enter the script's folder"),
            Step::Exec => f.write_str("execute the script"),
        }
    }
}

/// Why a child did not reach its program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    pub step: Step,
    pub errno: i32,
}

impl Failed {
    /// An exec failure keeps its bare errno (the caller explains ENOENT,
    /// EACCES, ...); another step's says which step it was.
    pub fn into_error(self) -> io::Error {
        let os = io::Error::from_raw_os_error(self.errno);
        match self.step {
            Step::Exec => os,
            step => io::Error::other(format!("cannot {step} before exec: {os}")),
        }
    }
}

/// The memory parent and child share: the plan, and the child's report.
struct Shared<'a> {
    plan: &'a Plan<'a>,
    step: AtomicU32,
    errno: AtomicI32,
}

/// A started child: its pid, and its pidfd when the kernel gave one.
pub struct Started {
    pub pid: i32,
    pub pidfd: Option<OwnedFd>,
}

/// Starts the child and waits until it has exec'd (`Ok`) or failed.
pub fn start(plan: &Plan) -> io::Result<Result<Started, Failed>> {
    let stack = STACKS
        .take()
        .map_or_else(|| ChildStack::map(CHILD_STACK), Ok)?;
    let started = start_on(&stack, plan);
    STACKS.give_back(stack);
    started
}

/// [`start`] on a given child stack.
fn start_on(stack: &ChildStack, plan: &Plan) -> io::Result<Result<Started, Failed>> {
    let shared = Shared {
        plan,
        step: AtomicU32::new(0),
        errno: AtomicI32::new(0),
    };
    let blocked = BlockedSignals::block()?;
    let cloned = clone_on(stack.top(), &shared);
    drop(blocked);
    let started = cloned?;
    let errno = shared.errno.load(Ordering::Acquire);
    if errno == 0 {
        return Ok(Ok(started));
    }
    reap_failed(started.pid);
    Ok(Err(Failed {
        step: Step::from_code(shared.step.load(Ordering::Acquire)),
        errno,
    }))
}

/// The clone itself, with CLONE_PIDFD, or without it on a kernel that
/// refuses it (then `pidfd_open`).
fn clone_on(end: *mut c_void, shared: &Shared) -> io::Result<Started> {
    let arg = shared as *const Shared as *mut c_void;
    let base = libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD;
    let mut pidfd: c_int = -1;
    // SAFETY: `child` runs on the stack below `end` (a page-aligned
    // mapping of CHILD_STACK bytes), which nothing else uses while the
    // parent waits (CLONE_VFORK); `shared` outlives the child's use of it
    // (the parent resumes only once the child has exec'd or exited), and
    // the child only makes async-signal-safe calls on memory prepared
    // before the clone. `pidfd` is where the kernel writes the pidfd.
    let pid = unsafe {
        libc::clone(
            child,
            end,
            base | CLONE_PIDFD,
            arg,
            &mut pidfd as *mut c_int,
        )
    };
    if pid >= 0 {
        // SAFETY: the kernel created this descriptor for us alone.
        let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
        return Ok(Started { pid, pidfd });
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EINVAL) {
        return Err(e);
    }
    // SAFETY: as above, without CLONE_PIDFD (a kernel before 5.2).
    let pid = unsafe { libc::clone(child, end, base, arg) };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Started {
        pid,
        pidfd: pidfd_open(pid),
    })
}

/// A descriptor that becomes readable when the process exits (Linux 5.3).
fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open(2) takes a pid and flags, touches no memory of
    // ours, and returns a new close-on-exec descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: the descriptor was just created for us and nothing else
    // owns it.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Reaps a child that failed before exec (it has exited or is exiting).
fn reap_failed(pid: i32) {
    let pid = nix::unistd::Pid::from_raw(pid);
    while let Err(nix::errno::Errno::EINTR) = nix::sys::wait::waitpid(pid, None) {}
}

/// Every signal blocked in this thread while the child runs on rcgi's
/// memory, so that no handler of rcgi's runs in the child; restored on
/// drop.
struct BlockedSignals(SigSet);

impl BlockedSignals {
    fn block() -> io::Result<BlockedSignals> {
        let mut old = SigSet::empty();
        pthread_sigmask(
            SigmaskHow::SIG_SETMASK,
            Some(&SigSet::all()),
            Some(&mut old),
        )?;
        Ok(BlockedSignals(old))
    }
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.0), None);
    }
}

/// The child: runs on the thread's mapped stack, in rcgi's memory.
extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `Shared` that `start` passed, alive while the
    // parent waits for us (CLONE_VFORK).
    let shared = unsafe { &*(arg as *const Shared) };
    let (step, errno) = prepare_and_exec(shared.plan);
    shared.step.store(step.code(), Ordering::Release);
    shared.errno.store(errno.max(1), Ordering::Release);
    // SAFETY: _exit(2) ends this process at once, running nothing of the
    // parent's (no atexit handler, no buffer flush).
    unsafe { libc::_exit(127) }
}

/// The errno of the call that just failed. Reads the thread's errno (the
/// parent thread's, which is suspended), allocates nothing.
fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL)
}

/// A step before exec: -1 on failure, errno set.
type StepFn = fn(&Plan) -> c_int;

/// Every step, then exec; returns only on a failure, with its step.
fn prepare_and_exec(plan: &Plan) -> (Step, i32) {
    let steps: [(Step, StepFn); 4] = [
        (Step::Signals, default_signals),
        (Step::Descriptors, descriptors),
        (Step::Group, own_group),
        (Step::Cgroup, join_cgroup),
    ];
    for (step, run) in steps {
        if run(plan) < 0 {
            return (step, errno());
        }
    }
    for limit in plan.rlimits {
        if set_limit(limit) < 0 {
            return (Step::Limit(limit.resource), errno());
        }
    }
    // SAFETY: umask(2) and chdir(2) take a number and a NUL-terminated
    // path that the plan keeps alive.
    unsafe { libc::umask(plan.umask as libc::mode_t) };
    if unsafe { libc::chdir(plan.dir.as_ptr()) } < 0 {
        return (Step::Folder, errno());
    }
    let empty = SigSet::empty();
    if pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&empty), None).is_err() {
        return (Step::Signals, errno());
    }
    // SAFETY: program, argv and envp are NUL-terminated strings and
    // null-terminated arrays of them, kept alive by the caller.
    unsafe {
        libc::execve(
            plan.program.as_ptr(),
            plan.argv.as_ptr(),
            plan.envp.as_ptr(),
        )
    };
    (Step::Exec, errno())
}

/// The kernel's `struct sigaction` (not the C library's, which differs),
/// for `rt_sigaction(2)` itself: the C library refuses the two signals
/// it keeps for its threads, which rcgi may have inherited ignored.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// The default action, SIG_DFL, and nothing else.
const DEFAULT_ACTION: KernelSigaction = KernelSigaction {
    handler: 0,
    flags: 0,
    restorer: 0,
    mask: 0,
};

/// rt_sigaction(2): sets `new` if given, reads the old action into `old`
/// if given.
fn rt_sigaction(
    signal: c_int,
    new: Option<&KernelSigaction>,
    old: Option<&mut KernelSigaction>,
) -> c_int {
    let new = new.map_or(std::ptr::null(), |n| n as *const KernelSigaction);
    let old = old.map_or(std::ptr::null_mut(), |o| o as *mut KernelSigaction);
    // SAFETY: the pointers are null or point to a kernel sigaction of
    // ours; the last argument is the size of the kernel's signal set.
    let r = unsafe { libc::syscall(libc::SYS_rt_sigaction, signal, new, old, 8usize) };
    r as c_int
}

/// The signals whose action is not the default (rcgi ignores SIGPIPE and
/// handles SIGINT, SIGTERM and SIGHUP; it may have inherited others
/// ignored), found once, at the first start: rcgi sets its signal
/// actions at start-up, before any script runs.
pub fn changed_signals() -> &'static [c_int] {
    static CHANGED: OnceLock<Vec<c_int>> = OnceLock::new();
    CHANGED.get_or_init(|| {
        (1..NSIG)
            .filter(|&signal| {
                let mut old = DEFAULT_ACTION;
                rt_sigaction(signal, None, Some(&mut old)) == 0 && old.handler != 0
            })
            .collect()
    })
}

/// Every signal rcgi changed back to its default action, while all are
/// still blocked: neither an ignored SIGPIPE nor one of rcgi's handlers
/// may reach the script (a handler would run in this child, in rcgi's
/// memory, if a signal came before exec).
fn default_signals(plan: &Plan) -> c_int {
    for &signal in plan.signals {
        if rt_sigaction(signal, Some(&DEFAULT_ACTION), None) < 0 {
            return -1;
        }
    }
    0
}

/// The three descriptors onto 0, 1 and 2 (dup2 clears close-on-exec).
/// One below 3 is first moved above 2, so that none overwrites another.
fn descriptors(plan: &Plan) -> c_int {
    let mut fds = plan.fds;
    if fds.iter().any(|&fd| fd < 3) {
        for fd in &mut fds {
            // SAFETY: fcntl(2) duplicates an open descriptor of ours.
            *fd = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) };
            if *fd < 0 {
                return -1;
            }
        }
    }
    for (target, fd) in fds.into_iter().enumerate() {
        // SAFETY: dup2(2) on descriptors of this (copied) table.
        if unsafe { libc::dup2(fd, target as c_int) } < 0 {
            return -1;
        }
    }
    0
}

/// A process group led by the script (not a session: with the kernel's
/// autogroup, each session is a scheduling group of its own).
fn own_group(_: &Plan) -> c_int {
    // SAFETY: setpgid(2) on this process, with plain integers.
    unsafe { libc::setpgid(0, 0) }
}

/// Joins the cgroup: "0" written to its `cgroup.procs` moves the writer.
fn join_cgroup(plan: &Plan) -> c_int {
    let Some(dir) = plan.cgroup else {
        return 0;
    };
    // SAFETY: openat(2) with a literal NUL-terminated name; write(2) from
    // a literal; close(2) of the descriptor just opened.
    unsafe {
        let procs = libc::openat(
            dir,
            c"cgroup.procs".as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        );
        if procs < 0 {
            return -1;
        }
        let written = libc::write(procs, b"0".as_ptr() as *const c_void, 1);
        libc::close(procs);
        if written < 0 { -1 } else { 0 }
    }
}

/// The limit, soft and hard.
fn set_limit(limit: &Rlimit) -> c_int {
    let value = libc::rlimit64 {
        rlim_cur: limit.soft,
        rlim_max: limit.hard,
    };
    // SAFETY: prlimit64(2) on this process (pid 0) reads `value` and
    // writes nothing back (the old-limit pointer is null).
    let r = unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            limit.resource.number(),
            &value as *const libc::rlimit64,
            std::ptr::null_mut::<libc::rlimit64>(),
        )
    };
    r as c_int
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::os::fd::AsRawFd;

    /// The pages of a child stack that are resident.
    fn resident_stack_pages(stack: &ChildStack) -> usize {
        // SAFETY: sysconf takes no pointer.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let mut pages = vec![0u8; stack.len.div_ceil(page)];
        // SAFETY: the range is the mapping itself, and `pages` has a
        // byte for each of its pages.
        let rc = unsafe { libc::mincore(stack.base as *mut c_void, stack.len, pages.as_mut_ptr()) };
        assert_eq!(rc, 0, "mincore: {}", io::Error::last_os_error());
        pages.iter().filter(|p| *p & 1 == 1).count()
    }

    /// Stacks go back to the pool, which never keeps more than
    /// CHILD_STACKS_KEPT, and are taken from it again.
    #[test]
    fn stacks_are_pooled() {
        let pool: Kept<ChildStack> = Kept::new(CHILD_STACKS_KEPT);
        let map = || pool.take().map_or_else(|| ChildStack::map(CHILD_STACK), Ok);
        let stacks: Vec<_> = (0..CHILD_STACKS_KEPT + 2).map(|_| map().unwrap()).collect();
        let bases: Vec<usize> = stacks.iter().map(|s| s.base).collect();
        stacks.into_iter().for_each(|s| pool.give_back(s));
        assert_eq!(pool.count(), CHILD_STACKS_KEPT);
        let again = map().unwrap();
        assert!(bases.contains(&again.base), "a kept stack is reused");
        assert_eq!(pool.count(), CHILD_STACKS_KEPT - 1);
    }

    /// The deepest use of the child's stack, in pages: a child that fails
    /// late (after every step but exec) and one that execs both fit in
    /// the pages counted, far below CHILD_STACK.
    #[test]
    fn child_touches_one_page() {
        let null: Vec<File> = (0..3).map(|_| File::open("/dev/null").unwrap()).collect();
        let program = c"/bin/true";
        let argv = [program.as_ptr(), std::ptr::null()];
        let envp = [std::ptr::null()];
        let rlimits = [Rlimit {
            resource: Resource::Fsize,
            soft: u64::MAX,
            hard: u64::MAX,
        }];
        let plan = Plan {
            program,
            argv: &argv,
            envp: &envp,
            dir: c"/",
            fds: [
                null[0].as_raw_fd(),
                null[1].as_raw_fd(),
                null[2].as_raw_fd(),
            ],
            rlimits: &rlimits,
            umask: 0o022,
            cgroup: None,
            signals: changed_signals(),
        };
        let stack = ChildStack::map(CHILD_STACK).unwrap();
        let started = start_on(&stack, &plan).unwrap().unwrap();
        let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(started.pid), None);
        assert!(status.is_ok());
        let missing = Plan {
            program: c"/nonexistent/rcgi-test",
            ..plan
        };
        let failed = start_on(&stack, &missing)
            .unwrap()
            .err()
            .expect("no such program");
        assert_eq!(failed.errno, libc::ENOENT);
        let pages = resident_stack_pages(&stack);
        assert!(pages >= 1, "the child ran on its stack");
        assert!(pages <= 2, "the child used {pages} pages of its stack");
    }
}
