//! The settings of glibc's allocator rcgi runs with. With a thread per
//! connection, glibc's per-thread caches of freed blocks (tcache) keep
//! about 12 KiB per thread that no other thread can use, and its cache
//! of ended threads' stacks keeps their touched pages: both grow with the
//! connections, not with the work. glibc reads these settings only from
//! `GLIBC_TUNABLES`, as it starts, so rcgi re-executes itself once with
//! them, first thing, before any thread or descriptor of its own exists.
//! Scripts do not see the variable (their environment is built from
//! scratch). An operator's own `glibc.malloc.tcache_count` is kept.

/// What rcgi adds to `GLIBC_TUNABLES`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TUNABLES: &str = "glibc.malloc.tcache_count=0:glibc.pthread.stack_cache_size=0";
/// Present when the settings were made (by rcgi or by the operator).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MARK: &str = "glibc.malloc.tcache_count=";

/// Re-executes rcgi with [`TUNABLES`] unless they are set; returns only
/// if they are, or if the re-execution failed (rcgi then runs as it is,
/// with glibc's defaults).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn settle() {
    use std::ffi::OsString;
    use std::os::unix::process::CommandExt;

    let current = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
    if current.to_string_lossy().contains(MARK) {
        return;
    }
    let mut value = current;
    if !value.is_empty() {
        value.push(":");
    }
    value.push(TUNABLES);
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

/// Other C libraries have neither setting.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn settle() {}
