//! rcgi's own threads ask the kernel's scheduler for a short time slice
//! (EEVDF's per-task slice, Linux 6.12 and later): a thread of rcgi's
//! that wakes (a request arrived, a script wrote, a script ended) then
//! runs before the scripts that keep the CPUs busy, instead of waiting
//! for their slices to end. Its work is short, so the scripts lose
//! nothing. The setting is reset on fork (`SCHED_FLAG_RESET_ON_FORK`):
//! scripts, and threads until they ask again, get the default slice.
//! Older kernels take the request and ignore the slice; any refusal is
//! ignored too, since nothing depends on it.

use nix::libc;

/// The slice asked for, in nanoseconds (the kernel's least is 0.1 ms).
const SHORT_SLICE_NS: u64 = 100_000;
/// `SCHED_FLAG_RESET_ON_FORK` of `sched_setattr(2)`.
const RESET_ON_FORK: u64 = 0x01;

/// Asks for a short slice for the calling thread, keeping its policy and
/// nice value.
pub fn prefer_short() {
    let size = std::mem::size_of::<libc::sched_attr>() as u32;
    // SAFETY: sched_attr is plain integers, all-zero is a valid value.
    let mut attr: libc::sched_attr = unsafe { std::mem::zeroed() };
    // SAFETY: sched_getattr(2) writes at most `size` bytes into `attr`,
    // which is that large; pid 0 is the calling thread.
    let got = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut attr, size, 0) };
    if got != 0 || attr.sched_policy != libc::SCHED_OTHER as u32 {
        return;
    }
    attr.size = size;
    attr.sched_flags |= RESET_ON_FORK;
    attr.sched_runtime = SHORT_SLICE_NS;
    // SAFETY: sched_setattr(2) reads `size` bytes of `attr`; pid 0 is
    // the calling thread.
    let _ = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a kernel with per-task slices, the thread has the short one,
    /// and a child it starts has the kernel's default again.
    #[test]
    fn a_thread_gets_the_short_slice_and_its_children_do_not() {
        let slice = |path: &str| -> Option<u64> {
            let text = std::fs::read_to_string(path).ok()?;
            let line = text.lines().find(|l| l.starts_with("se.slice"))?;
            line.split(':').nth(1)?.trim().parse().ok()
        };
        std::thread::spawn(move || {
            let tid = nix::unistd::gettid();
            let ours = format!("/proc/self/task/{tid}/sched");
            let Some(before) = slice(&ours) else {
                eprintln!("no se.slice in {ours}: this kernel has no per-task slices");
                return;
            };
            prefer_short();
            let after = slice(&ours).unwrap();
            if after == before {
                eprintln!("the kernel kept the slice at {before} ns (before 6.12?)");
                return;
            }
            assert_eq!(after, SHORT_SLICE_NS);
            let out = std::process::Command::new("sh")
                .args(["-c", "grep '^se.slice' /proc/$$/sched"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let child: u64 = text.split(':').nth(1).unwrap().trim().parse().unwrap();
            assert_ne!(child, SHORT_SLICE_NS, "the child kept the short slice");
        })
        .join()
        .unwrap();
    }
}
