//! Process memory: the allocator's arenas, and what the process holds (`/metrics`, the bench).
//!
//! glibc's `malloc` gives each thread that allocates its own arena, up to eight per core. The server's
//! threads (the runtime's workers, and the blocking threads that serialise state snapshots, up to hundreds of
//! them) then keep free memory in many arenas that the others cannot reuse: at 1M entries that cost about
//! 150 MB of resident memory (BENCHMARKS.md, "Log service"). [`tune_allocator`] caps them at one per core.
//!
//! glibc also raises its threshold for serving an allocation with its own mapping each time such a block
//! is freed, up to 32 MiB: after the first state snapshot, vectors and buffers of up to 32 MiB come from
//! the arenas, and each one that grows or is freed leaves a hole that the arena keeps. [`tune_allocator`]
//! fixes the threshold, and [`spawn_trimming`] hands free pages back to the system every half minute.

/// Blocks of this size or more get a mapping of their own, returned to the system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD_BYTES: libc::c_int = 256 * 1024;

/// Caps glibc's `malloc` arenas at one per core (at least two), unless `MALLOC_ARENA_MAX` is set, and fixes
/// the size from which a block gets its own mapping at 256 KiB, unless `MALLOC_MMAP_THRESHOLD_` is set
/// (glibc then applies the variables itself). Call it first in `main`, before any thread starts. Elsewhere
/// it does nothing.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            let cores = std::thread::available_parallelism().map_or(2, usize::from).max(2);
            let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
            // SAFETY: `mallopt` only sets a tuning parameter of the allocator; no thread has started yet.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, arenas);
            }
        }
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            // SAFETY: as above. Setting the threshold also stops glibc from moving it.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
            }
        }
    }
}

/// How often [`spawn_trimming`] gives free pages back.
pub const TRIM_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Gives the allocator's free pages back to the system every [`TRIM_EVERY`], on a blocking thread (a trim
/// walks the arenas' free lists).
pub fn spawn_trimming() {
    tokio::spawn(async {
        let mut ticks = tokio::time::interval(TRIM_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if tokio::task::spawn_blocking(release_free_pages).await.is_err() {
                return;
            }
        }
    });
}

/// Returns the pages of free memory held by the allocator to the system (glibc's `malloc_trim`), after a
/// large temporary structure was freed. Elsewhere it does nothing.
pub fn release_free_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases free memory; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What the process holds in memory, as the allocators and the kernel count it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Resident set size (Linux; 0 elsewhere).
    pub resident: u64,
    /// Bytes handed out by `malloc` and not yet freed: Rust's allocations and SQLite's (glibc; 0 elsewhere).
    pub heap_in_use: u64,
    /// Bytes the allocator keeps free for reuse instead of returning them to the system (glibc; 0 elsewhere).
    pub heap_free: u64,
    /// Bytes SQLite's own allocations hold (page caches, statements), part of `heap_in_use`.
    pub sqlite: u64,
}

/// Reads the process's memory figures.
pub fn usage() -> Usage {
    let mut usage = Usage {
        resident: resident_bytes().unwrap_or(0),
        // SAFETY: a read of SQLite's memory statistics, safe from any thread.
        sqlite: u64::try_from(unsafe { libsqlite3_sys::sqlite3_memory_used() }).unwrap_or(0),
        ..Usage::default()
    };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallinfo2` only reads the allocator's statistics.
        let info = unsafe { libc::mallinfo2() };
        // Small allocations live in the arenas (`uordblks`), large ones in their own mappings (`hblkhd`).
        usage.heap_in_use = (info.uordblks + info.hblkhd) as u64;
        usage.heap_free = info.fordblks as u64;
    }
    usage
}

fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: `sysconf` reads a configuration value.
    let page_size = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
    Some(pages * page_size)
}
