//! Data parallelism on rayon's global pool that survives `fork`. A forked child (a PyTorch
//! DataLoader worker, say) inherits the pool's bookkeeping but none of its threads, so work
//! sent to the pool would wait forever. The pool belongs to the process that first used it;
//! anywhere else the work runs on the calling thread instead.

use std::sync::OnceLock;

use rayon::prelude::*;

/// Whether this process may use the global pool.
pub(crate) fn pool_usable() -> bool {
    static OWNER: OnceLock<u32> = OnceLock::new();
    *OWNER.get_or_init(std::process::id) == std::process::id()
}

/// `f` over `items` in order, in parallel where the pool is usable; the first error wins.
pub(crate) fn try_map<T, R, E, F>(items: &[T], f: F) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
    F: Fn(&T) -> Result<R, E> + Sync + Send,
{
    if pool_usable() && items.len() > 1 {
        items.par_iter().map(f).collect()
    } else {
        items.iter().map(f).collect()
    }
}
