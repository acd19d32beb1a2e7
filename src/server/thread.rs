//! A connection's thread: a stack sized to what it holds, and, as the
//! thread ends, its stack's dead pages handed back to the system. glibc
//! keeps the stacks of ended threads for reuse (up to 40 MiB of them),
//! each with the pages its deepest request touched still resident: after
//! a busy moment, an idle rcgi would keep them all.

use std::io;
use std::thread::{self, JoinHandle};

/// Stack for a connection thread: buffers live on the heap; a request's
/// deepest path (a script's start) touches about 16 KiB of it.
const THREAD_STACK: usize = 256 * 1024;
/// Room kept below the frame that hands the pages back, for its own
/// calls (and the red zone).
const KEPT_BELOW: usize = 4 * 1024;

/// Starts `serve` on a connection thread of its own.
pub fn spawn_connection(serve: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("conn".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            serve();
            release_dead_stack();
        })
}

/// Drops the pages of this thread's stack below the current frame: no
/// frame lives there any more; a later call faults in zeroed pages.
#[cfg(target_os = "linux")]
#[inline(never)]
fn release_dead_stack() {
    use nix::libc;
    let Some((low, _)) = own_stack() else { return };
    let here = &low as *const usize as usize;
    // SAFETY: sysconf takes no pointer.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let Ok(page) = usize::try_from(page) else {
        return;
    };
    let Some(end) = here.checked_sub(KEPT_BELOW).map(|a| a & !(page - 1)) else {
        return;
    };
    if end <= low {
        return;
    }
    // SAFETY: [low, end) lies in this thread's own stack, below every
    // live frame (the stack grows down, and `end` is KEPT_BELOW under
    // this one); nothing points there. MADV_DONTNEED only makes those
    // pages read back as zeros when next touched.
    unsafe {
        libc::madvise(low as *mut libc::c_void, end - low, libc::MADV_DONTNEED);
    }
}

#[cfg(not(target_os = "linux"))]
fn release_dead_stack() {}

/// The lowest address and the size of this thread's stack (its guard
/// page excluded).
#[cfg(target_os = "linux")]
fn own_stack() -> Option<(usize, usize)> {
    use nix::libc;
    use std::mem::MaybeUninit;
    let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
    // SAFETY: pthread_getattr_np fills `attr` for the calling thread; on
    // success it is initialised, read, then destroyed once.
    unsafe {
        if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
            return None;
        }
        let mut addr = std::ptr::null_mut();
        let mut size = 0;
        let rc = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        (rc == 0).then_some((addr as usize, size))
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use nix::libc;

    /// Resident pages of `[low, low + len)`.
    fn resident(low: usize, len: usize) -> usize {
        let page = 4096;
        let mut pages = vec![0u8; len.div_ceil(page)];
        // SAFETY: the range is this thread's stack, mapped; `pages` has a
        // byte per page.
        let rc = unsafe { libc::mincore(low as *mut libc::c_void, len, pages.as_mut_ptr()) };
        assert_eq!(rc, 0);
        pages.iter().filter(|p| *p & 1 == 1).count()
    }

    #[inline(never)]
    fn deep(n: usize) -> u8 {
        let mut block = [0u8; 1024];
        block[n % 1024] = n as u8;
        let below = if n > 0 { deep(n - 1) } else { 0 };
        std::hint::black_box(&mut block)[n % 7].wrapping_add(below)
    }

    /// A thread that went 48 KiB deep keeps about that much resident
    /// until the release, and only a page or two after it.
    #[test]
    fn dead_stack_pages_are_released() {
        let counts = spawn_connection_test(|| {
            let (low, size) = own_stack().unwrap();
            std::hint::black_box(deep(48));
            let before = resident(low, size);
            release_dead_stack();
            (before, resident(low, size))
        });
        let (before, after) = counts;
        assert!(before >= 12, "the deep calls touched {before} pages");
        assert!(after + 8 <= before, "{before} pages before, {after} after");
    }

    fn spawn_connection_test<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
        thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }
}
