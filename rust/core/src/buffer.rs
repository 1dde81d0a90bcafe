//! Large output and scratch buffers backed by transparent huge pages.
//!
//! Packing millions of lengths writes several hundred MB of fresh memory, and with 4 KiB pages
//! the kernel's page faults cost more than the algorithm itself (measured: 0.67 s instead of
//! 1.23 s for the 16 M lengths of Wikipedia-512). Asking for huge pages on each large buffer
//! before it is first touched turns ~250,000 faults into a few hundred. Elsewhere, or where
//! the kernel declines, these are ordinary vectors.

/// Buffers smaller than this are left alone: one huge page is 2 MiB.
const HUGE_PAGE: usize = 2 << 20;

/// An empty vector with room for `n` elements, its memory advised to use huge pages.
pub(crate) fn with_capacity<T>(n: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise_huge_pages(&mut v);
    v
}

/// A vector of `n` zeros (`T::default()` must be all-zero bytes, as for the integers used
/// here). The memory comes zeroed from the allocator and is not touched, so pages that are
/// never written cost nothing and the others are zeroed once, by the kernel.
pub(crate) fn zeroed<T: Copy + Default>(n: usize) -> Vec<T> {
    let mut v = vec![T::default(); n];
    advise_huge_pages(&mut v);
    v
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn advise_huge_pages<T>(v: &mut Vec<T>) {
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < 2 * HUGE_PAGE {
        return;
    }
    // madvise needs a page-aligned start; round up to the first huge page inside the buffer.
    let start = v.as_mut_ptr() as usize;
    let aligned = start.next_multiple_of(HUGE_PAGE);
    let len = (start + bytes - aligned) / HUGE_PAGE * HUGE_PAGE;
    // SAFETY: [aligned, aligned + len) lies inside the vector's own allocation, which stays
    // alive for the call; MADV_HUGEPAGE only changes how the kernel backs the pages and never
    // their contents, and failure (e.g. THP disabled) is harmless, so the result is ignored.
    unsafe {
        libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages<T>(_v: &mut Vec<T>) {}

#[cfg(test)]
mod tests {
    #[test]
    fn buffers_have_the_requested_contents() {
        let v: Vec<u32> = super::zeroed(3 << 20);
        assert_eq!(v.len(), 3 << 20);
        assert!(v.iter().all(|&x| x == 0));
        let w: Vec<u64> = super::with_capacity(1 << 20);
        assert!(w.is_empty() && w.capacity() >= 1 << 20);
    }
}
