//! The settings of glibc's allocator rcgi runs with. With a thread per
//! connection, glibc's per-thread caches of freed blocks (tcache) keep
//! about 12 KiB per thread that no other thread can use, and its cache
//! of ended threads' stacks keeps their touched pages: both grow with the
//! connections, not with the work. Its arenas (up to 8 per core, each
//! with its own free memory that `malloc_trim` cannot hand back from the
//! top of a small arena) are bounded to one per core. glibc reads these
//! settings only from `GLIBC_TUNABLES`, as it starts, so rcgi re-executes
//! itself once with them, first thing, before any thread or descriptor of its own exists.
//! Scripts do not see the variable (their environment is built from
//! scratch). An operator's own `glibc.malloc.tcache_count` is kept, and so
//! is an operator's own `glibc.malloc.arena_max`.

/// What rcgi adds to `GLIBC_TUNABLES`. `glibc.rtld.nns=1`: rcgi never
/// calls `dlmopen`, so no thread needs the static TLS reserved for the
/// C libraries of other link namespaces (896 bytes at the top of each
/// thread's stack, which pushes its deepest call that much further).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TUNABLES: &str =
    "glibc.malloc.tcache_count=0:glibc.pthread.stack_cache_size=0:glibc.rtld.nns=1";
/// Present when the settings were made (by rcgi or by the operator).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MARK: &str = "glibc.malloc.tcache_count=";
/// The arena bound, followed by the count of cores.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENA_MAX: &str = "glibc.malloc.arena_max=";

/// Re-executes rcgi with [`TUNABLES`] unless they are set; returns only
/// if they are, or if the re-execution failed (rcgi then runs as it is,
/// with glibc's defaults).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn settle() {
    use std::ffi::OsString;
    use std::os::unix::process::CommandExt;

    let current = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let Some(value) = tunables(&current, cores) else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from("rcgi"));
    let error = std::process::Command::new("/proc/self/exe")
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", value)
        .exec();
    eprintln!(
        "rcgi: cannot re-execute with GLIBC_TUNABLES (running with glibc's defaults): {error}"
    );
}

/// `GLIBC_TUNABLES` with rcgi's settings added to the `current` one, an
/// arena per core unless it bounds them; None if the settings are made.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tunables(current: &std::ffi::OsStr, cores: usize) -> Option<std::ffi::OsString> {
    let text = current.to_string_lossy();
    if text.contains(MARK) {
        return None;
    }
    let mut value = current.to_os_string();
    if !value.is_empty() {
        value.push(":");
    }
    value.push(TUNABLES);
    if !text.contains(ARENA_MAX) {
        value.push(format!(":{ARENA_MAX}{cores}"));
    }
    Some(value)
}

/// Other C libraries have neither setting.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn settle() {}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn adds_the_settings_once_and_keeps_the_operators() {
        let fresh = tunables(OsStr::new(""), 2).unwrap();
        assert_eq!(
            fresh,
            "glibc.malloc.tcache_count=0:glibc.pthread.stack_cache_size=0:glibc.rtld.nns=1:\
             glibc.malloc.arena_max=2"
        );
        let theirs = tunables(OsStr::new("glibc.malloc.arena_max=3"), 8).unwrap();
        assert_eq!(
            theirs,
            "glibc.malloc.arena_max=3:glibc.malloc.tcache_count=0:\
             glibc.pthread.stack_cache_size=0:glibc.rtld.nns=1"
        );
        assert_eq!(tunables(&fresh, 2), None, "made once");
        assert_eq!(tunables(OsStr::new("glibc.malloc.tcache_count=7"), 2), None);
    }
}
