//! Data parallelism on rayon's global pool that survives `fork`. A forked child (a PyTorch
//! DataLoader worker, say) inherits the pool's bookkeeping but none of its threads, so work
//! sent to the pool would wait forever. The pool belongs to the process that first used it;
//! anywhere else the work runs on the calling thread instead.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Whether this process may use the global pool.
pub(crate) fn pool_usable() -> bool {
    static OWNER: OnceLock<u32> = OnceLock::new();
    *OWNER.get_or_init(std::process::id) == std::process::id()
}

/// Hand-outs per thread, about: enough that the last ones are small next to a thread's share,
/// few enough that claiming them costs nothing next to the work.
const CHUNKS_PER_THREAD: usize = 32;

/// `f` over `items`, results in the order of `items`, in parallel where the pool is usable.
/// If any item fails, the error of the first failing item (in the order of `items`) is
/// returned, whichever thread met it.
///
/// Threads take the items costliest first (by `cost`, roughly proportional to the work, such
/// as a text's length), a few at a time as they free up, so that what is left at the end is
/// small. In the order given, a long document met last kept one thread busy while the other
/// waited: with 692 files of 1–230 KB, 5–10 ms of each 45 ms two-thread `encode_batch`.
pub(crate) fn try_map<T, R, E, F>(
    items: &[T],
    cost: impl Fn(&T) -> usize,
    f: F,
) -> Result<Vec<R>, E>
where
    T: Sync,
    R: Send,
    E: Send,
    F: Fn(&T) -> Result<R, E> + Sync,
{
    let threads = if pool_usable() {
        rayon::current_num_threads()
    } else {
        1
    };
    if threads < 2 || items.len() < 2 {
        return items.iter().map(f).collect();
    }
    let costs: Vec<usize> = items.iter().map(cost).collect();
    let order = costliest_first(&costs);
    let chunks = chunk_starts(&order, &costs, threads * CHUNKS_PER_THREAD);
    let next_chunk = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let chunk = next_chunk.fetch_add(1, Ordering::Relaxed);
            let Some(&[start, end]) = chunks.get(chunk..chunk + 2) else {
                return done;
            };
            done.extend(order[start..end].iter().map(|&i| (i, f(&items[i]))));
        }
    };
    let mut finished = Vec::with_capacity(threads);
    rayon::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::channel();
        for _ in 1..threads {
            let sender = sender.clone();
            let work = &work;
            scope.spawn(move |_| {
                let _ = sender.send(work());
            });
        }
        drop(sender);
        finished.push(work());
        finished.extend(receiver);
    });
    let mut results: Vec<Option<Result<R, E>>> = items.iter().map(|_| None).collect();
    for (i, result) in finished.into_iter().flatten() {
        results[i] = Some(result);
    }
    results
        .into_iter()
        .map(|result| result.expect("every item is handed to a thread"))
        .collect()
}

/// The indices of `costs`, costliest first. Costs are ranked by their bit length (within a
/// factor of two), which is enough for balance and takes linear time where a sort would not.
fn costliest_first(costs: &[usize]) -> Vec<usize> {
    const RANKS: usize = usize::BITS as usize + 1;
    let rank = |cost: usize| (usize::BITS - cost.leading_zeros()) as usize;
    let mut starts = [0usize; RANKS + 1];
    for &cost in costs {
        starts[RANKS - rank(cost)] += 1;
    }
    let mut sum = 0;
    for start in &mut starts {
        (*start, sum) = (sum, sum + *start);
    }
    let mut order = vec![0; costs.len()];
    for (i, &cost) in costs.iter().enumerate() {
        let slot = &mut starts[RANKS - rank(cost)];
        order[*slot] = i;
        *slot += 1;
    }
    order
}

/// Where each hand-out starts in `order`, and the end: consecutive items of about an equal
/// share of the total cost (an item costlier than a share is a hand-out of its own).
fn chunk_starts(order: &[usize], costs: &[usize], chunks: usize) -> Vec<usize> {
    let total: usize = costs.iter().sum();
    let share = (total / chunks).max(1);
    let mut starts = vec![0];
    let mut gathered = 0;
    for (at, &i) in order.iter().enumerate() {
        gathered += costs[i].max(1);
        if gathered >= share {
            starts.push(at + 1);
            gathered = 0;
        }
    }
    if starts.last() != Some(&order.len()) {
        starts.push(order.len());
    }
    starts
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn results_come_in_the_order_of_the_items(
            costs in proptest::collection::vec(0usize..100_000, 0..300),
        ) {
            let mapped: Result<Vec<(usize, usize)>, ()> =
                try_map(&costs, |&c| c, |&c| Ok((c, c * 2)));
            let expected: Vec<(usize, usize)> = costs.iter().map(|&c| (c, c * 2)).collect();
            prop_assert_eq!(mapped.unwrap(), expected);
        }

        #[test]
        fn the_first_failing_item_names_the_error(
            costs in proptest::collection::vec(0usize..1_000, 1..300),
            failing in proptest::collection::vec(any::<proptest::sample::Index>(), 1..4),
        ) {
            let failing: Vec<usize> = failing.iter().map(|i| i.index(costs.len())).collect();
            let indexed: Vec<(usize, usize)> = costs.iter().copied().enumerate().collect();
            let mapped: Result<Vec<usize>, usize> = try_map(
                &indexed,
                |&(_, c)| c,
                |&(i, c)| if failing.contains(&i) { Err(i) } else { Ok(c) },
            );
            prop_assert_eq!(mapped, Err(*failing.iter().min().unwrap()));
        }

        #[test]
        fn costliest_come_first_and_every_item_once(
            costs in proptest::collection::vec(any::<usize>(), 0..500),
        ) {
            let order = costliest_first(&costs);
            let mut seen = order.clone();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..costs.len()).collect::<Vec<_>>());
            for pair in order.windows(2) {
                // Within a factor of two: the next is never more than twice as costly.
                prop_assert!(costs[pair[1]] / 2 <= costs[pair[0]]);
            }
        }

        #[test]
        fn chunks_cover_the_order_in_about_equal_shares(
            costs in proptest::collection::vec(0usize..10_000, 1..500),
            chunks in 1usize..100,
        ) {
            let order = costliest_first(&costs);
            let starts = chunk_starts(&order, &costs, chunks);
            prop_assert_eq!(starts.first(), Some(&0));
            prop_assert_eq!(starts.last(), Some(&order.len()));
            let share = (costs.iter().sum::<usize>() / chunks).max(1);
            for pair in starts.windows(2) {
                prop_assert!(pair[0] < pair[1]);
                // A chunk stops at its share: without its last item it was below it.
                let without_last: usize =
                    order[pair[0]..pair[1] - 1].iter().map(|&i| costs[i].max(1)).sum();
                prop_assert!(without_last < share);
            }
        }
    }

    #[test]
    fn a_long_item_met_last_is_started_first() {
        let mut costs = vec![10; 100];
        costs.push(100_000);
        assert_eq!(costliest_first(&costs)[0], 100);
    }
}
