//! The one boundary for panics of third-party decoders. The Arrow IPC decoder and the
//! `tokenizers` crate assert some things their readers do not check, so a crafted file can
//! make them panic. Such a panic is a fact about the file, not a bug: the caller turns it into
//! the error the file deserves, and the panic's message is not printed, since the user sees
//! that error instead of a backtrace. Panics anywhere else print as usual.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many [`contain`] calls are active on this thread.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Wraps the panic hook in place (once per process) so that it stays silent for panics
/// raised inside [`contain`] on the same thread.
fn install_quiet_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
}

/// Runs `call`; a panic inside it returns `None` without printing anything.
pub(crate) fn contain<T>(call: impl FnOnce() -> T) -> Option<T> {
    install_quiet_hook();
    DEPTH.with(|depth| depth.set(depth.get() + 1));
    let outcome = panic::catch_unwind(AssertUnwindSafe(call));
    DEPTH.with(|depth| depth.set(depth.get() - 1));
    outcome.ok()
}

#[cfg(test)]
mod tests {
    use super::contain;

    #[test]
    fn a_panic_inside_becomes_none_and_the_depth_is_restored() {
        assert_eq!(contain(|| 7), Some(7));
        assert_eq!(contain(|| -> u8 { panic!("a crafted file") }), None);
        // Nested boundaries unwind to the innermost one only.
        assert_eq!(
            contain(|| contain(|| -> u8 { panic!("inner") }).is_none()),
            Some(true)
        );
        assert_eq!(super::DEPTH.with(std::cell::Cell::get), 0);
        // Outside a boundary a panic still unwinds to its own catcher.
        assert!(std::panic::catch_unwind(|| panic!("elsewhere")).is_err());
    }
}
