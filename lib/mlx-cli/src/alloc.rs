//! The allocator of every mlx binary: mimalloc, backed by transparent huge pages.
//!
//! glibc's malloc serialises the many small allocations of parallel work (a tracking
//! store's 100,000 entries parsed on two cores took as long as on one); mimalloc's
//! per-thread heaps do not. And a process that builds a few hundred megabytes of small
//! objects spends most of its time in the kernel faulting in and zeroing 4 KiB pages
//! (on this project's virtual machines, three times the parse itself); with large OS
//! pages allowed, mimalloc asks for transparent huge pages (`madvise(MADV_HUGEPAGE)`,
//! which Linux's default `madvise` mode grants), 512 times fewer faults.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Allows large OS pages, unless the user chose with mimalloc's own variable
/// (`MIMALLOC_ALLOW_LARGE_OS_PAGES`, or its older name `MIMALLOC_LARGE_OS_PAGES`).
/// Called first thing in `main`; the option is read on every request to the OS, so
/// what was allocated before keeps its pages and what comes after gets large ones.
#[allow(unsafe_code)]
pub(crate) fn tune() {
    let chosen = ["MIMALLOC_ALLOW_LARGE_OS_PAGES", "MIMALLOC_LARGE_OS_PAGES"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if !chosen {
        // SAFETY: mi_option_set stores a value in mimalloc's option table; it has no
        // preconditions on memory, and mimalloc reads the option afresh for each OS
        // allocation.
        unsafe {
            libmimalloc_sys::mi_option_set(libmimalloc_sys::mi_option_large_os_pages, 1);
        }
    }
}
