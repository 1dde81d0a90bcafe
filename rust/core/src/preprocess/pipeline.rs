//! Read, map in parallel, consume in order, all at once: a reader thread produces batches,
//! the pool maps each batch as soon as it is read, and the calling thread consumes the
//! mapped batches in the order they were read while the pool works on the next ones. The
//! pool therefore never waits for reading or for the consumer's writes, and the consumer
//! runs on the caller's thread (where a Python callback may take the GIL and see Ctrl-C).
//!
//! Memory stays bounded: at most `window` batches are read but not yet consumed.

use std::any::Any;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc::{Receiver, channel, sync_channel};

use crate::Result;

/// What the consumer receives at one place in the order of batches.
enum Message<U> {
    Mapped(U),
    /// The reader failed here; the batches before are consumed first.
    Failed(crate::Error),
    /// Nothing comes after this.
    End,
    Panicked(Box<dyn Any + Send>),
}

/// Runs `produce` on a thread of its own, handing it `submit` to pass on each batch (which
/// returns false once the consumer has stopped: `produce` should then return). Each batch
/// is mapped with `map` as a job of its own on `pool`, and `consume` gets the results in
/// submission order, on the calling thread. The first error, of `produce` (after
/// the batches it submitted before) or of `consume`, ends the run and is returned. A panic
/// in `map` is resumed on the calling thread.
pub(super) fn ordered_map<T, U, P, M, C>(
    pool: &rayon::ThreadPool,
    window: usize,
    produce: P,
    map: M,
    consume: C,
) -> Result<()>
where
    T: Send,
    U: Send,
    P: FnOnce(&mut dyn FnMut(T) -> bool) -> Result<()> + Send,
    M: Fn(T) -> U + Sync,
    C: FnMut(U) -> Result<()>,
{
    // A permit per batch between reading and consuming: the reader blocks once `window`
    // are out, and stops when the consumer drops its end.
    let (permits, returned) = sync_channel::<()>(window.max(1));
    let (done, arrivals) = channel::<(u64, Message<U>)>();
    let map = &map;
    pool.in_place_scope(|jobs| {
        std::thread::scope(|threads| {
            threads.spawn(move || {
                let mut next = 0u64;
                let mut submit = |batch: T| {
                    if permits.send(()).is_err() {
                        return false;
                    }
                    let (at, done) = (next, done.clone());
                    next += 1;
                    jobs.spawn(move |_| {
                        let mapped = catch_unwind(AssertUnwindSafe(|| map(batch)));
                        let message = match mapped {
                            Ok(mapped) => Message::Mapped(mapped),
                            Err(panic) => Message::Panicked(panic),
                        };
                        // A consumer that stopped early no longer listens.
                        let _ = done.send((at, message));
                    });
                    true
                };
                let last = match produce(&mut submit) {
                    Ok(()) => Message::End,
                    Err(error) => Message::Failed(error),
                };
                let _ = done.send((next, last));
            });
            consume_in_order(arrivals, returned, consume)
        })
    })
}

/// Receives batches as they finish and hands them to `consume` in order. Returning drops
/// `returned`, which stops the reader; the scopes then wait for the jobs still running.
fn consume_in_order<U>(
    arrivals: Receiver<(u64, Message<U>)>,
    returned: Receiver<()>,
    mut consume: impl FnMut(U) -> Result<()>,
) -> Result<()> {
    let mut early: BTreeMap<u64, Message<U>> = BTreeMap::new();
    let mut next = 0u64;
    loop {
        let message = match early.remove(&next) {
            Some(message) => message,
            None => {
                // Every sender gone without an end: the reader panicked, and the thread
                // scope re-raises that panic.
                let Ok((at, message)) = arrivals.recv() else {
                    return Ok(());
                };
                if at != next {
                    early.insert(at, message);
                    continue;
                }
                message
            }
        };
        next += 1;
        match message {
            Message::Mapped(batch) => {
                consume(batch)?;
                // This batch's permit: its memory is free again.
                let _ = returned.recv();
            }
            Message::Failed(error) => return Err(error),
            Message::End => return Ok(()),
            Message::Panicked(panic) => resume_unwind(panic),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    /// Batches of 0..n in sizes 1, 2, 3, …
    fn batches(n: u64, submit: &mut dyn FnMut(Vec<u64>) -> bool) -> Result<()> {
        let (mut start, mut size) = (0, 1);
        while start < n {
            let end = (start + size).min(n);
            if !submit((start..end).collect()) {
                break;
            }
            start = end;
            size += 1;
        }
        Ok(())
    }

    #[test]
    fn batches_are_consumed_in_order_whatever_order_they_finish_in() {
        for (threads, window) in [(1, 1), (2, 1), (3, 4), (4, 64)] {
            let mut seen = Vec::new();
            ordered_map(
                &pool(threads),
                window,
                |submit| batches(2000, submit),
                |batch: Vec<u64>| {
                    // Uneven work, so later batches often finish first.
                    if batch[0] % 7 == 0 {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                    batch.into_iter().map(|x| x * 2).collect::<Vec<_>>()
                },
                |batch| {
                    seen.extend(batch);
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(seen, (0..2000).map(|x| x * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn no_more_than_the_window_is_read_ahead() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let submitted = AtomicUsize::new(0);
        let mut consumed = 0;
        ordered_map(
            &pool(2),
            3,
            |submit| {
                for i in 0..50u64 {
                    submitted.fetch_add(1, Ordering::SeqCst);
                    if !submit(vec![i]) {
                        break;
                    }
                }
                Ok(())
            },
            |x| x,
            |_| {
                consumed += 1;
                // The batch being consumed, the window's others, and the one the reader
                // holds while it waits for a permit.
                assert!(submitted.load(Ordering::SeqCst) <= consumed + 3);
                std::thread::sleep(std::time::Duration::from_millis(1));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(consumed, 50);
    }

    #[test]
    fn a_read_error_comes_after_the_batches_before_it() {
        let mut seen = Vec::new();
        let err = ordered_map(
            &pool(2),
            4,
            |submit| {
                batches(10, submit)?;
                Err(Error::Interrupted)
            },
            |x| x,
            |batch| {
                seen.extend(batch);
                Ok(())
            },
        )
        .unwrap_err();
        assert!(matches!(err, Error::Interrupted));
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn a_consumer_error_stops_the_reader() {
        let mut calls = 0;
        let err = ordered_map(
            &pool(2),
            2,
            // Without the stop this would run for ever.
            |submit| {
                let mut i = 0u64;
                while submit(vec![i]) {
                    i += 1;
                }
                Ok(())
            },
            |x| x,
            |_| {
                calls += 1;
                if calls == 5 {
                    Err(Error::Interrupted)
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert!(matches!(err, Error::Interrupted));
        assert_eq!(calls, 5);
    }

    #[test]
    fn a_panic_while_mapping_reaches_the_caller() {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            ordered_map(
                &pool(2),
                2,
                |submit| batches(100, submit),
                |batch: Vec<u64>| {
                    assert!(!batch.contains(&50), "boom");
                    batch
                },
                |_| Ok(()),
            )
        }));
        assert!(outcome.is_err());
    }
}
