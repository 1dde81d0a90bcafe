//! Variable-sequence-length curricula (Algorithm 1 of Pouransari et al., 2024): which bucket
//! each step of an epoch draws from.
//!
//! Each bucket's steps are split evenly over `cycles`. Within a cycle, a step draws one of
//! the buckets that still have steps left in that cycle, with probability proportional to
//! the bucket's odds times its share of the cycle's steps (its token share, since every step
//! has the same tokens); a bucket leaves the draw once its steps in the cycle are used. With
//! odds that favour short buckets (`grow-p2`) each cycle runs from short to long sequences.
//!
//! The schedule is a pure function of its arguments, so every rank computes the same one
//! without communicating, and a loader can resume from a step index.

use crate::rng::SplitMix64;
use crate::{Error, Result};

/// The paper's curricula, as odds from the smallest bucket to the largest.
pub const CURRICULA: [&str; 3] = ["uniform", "grow-linear", "grow-p2"];

/// The odds of each of `num_buckets` buckets, smallest first, of a named curriculum:
/// `uniform` 1, 1, …; `grow-linear` n, n − 1, …, 1; `grow-p2` 2^(n−1), …, 2, 1.
pub fn curriculum_odds(name: &str, num_buckets: usize) -> Result<Vec<f64>> {
    let n = num_buckets;
    match name {
        "uniform" => Ok(vec![1.0; n]),
        "grow-linear" => Ok((1..=n).rev().map(|i| i as f64).collect()),
        "grow-p2" => Ok((0..n).rev().map(|i| (i as f64).exp2()).collect()),
        _ => Err(Error::invalid_option(
            "curriculum",
            format!(
                "{name:?} is unknown; expected one of {} or a sequence of odds per bucket",
                CURRICULA.join(", ")
            ),
        )),
    }
}

/// Checks custom odds: one positive, finite value per bucket.
pub fn check_odds(odds: &[f64], num_buckets: usize) -> Result<()> {
    if odds.len() != num_buckets {
        return Err(Error::invalid_option(
            "curriculum",
            format!(
                "odds: {} values for {num_buckets} buckets (one per bucket, smallest first)",
                odds.len()
            ),
        ));
    }
    match odds.iter().position(|&o| !(o > 0.0 && o.is_finite())) {
        Some(i) => Err(Error::invalid_option(
            "curriculum",
            format!(
                "odds[{i}] = {:?}: odds must be positive and finite",
                odds[i]
            ),
        )),
        None => Ok(()),
    }
}

/// Steps of bucket `b` in cycle `c` at `[b][c]`: as even as possible, the earlier cycles
/// taking one more where the steps do not divide.
pub fn cycle_budgets(steps_per_bucket: &[u64], cycles: u64) -> Vec<Vec<u64>> {
    steps_per_bucket
        .iter()
        .map(|&s| {
            (0..cycles)
                .map(|c| s / cycles + u64::from(c < s % cycles))
                .collect()
        })
        .collect()
}

/// The bucket (an index into `steps_per_bucket`) of every step of an epoch: bucket `i`
/// appears exactly `steps_per_bucket[i]` times. The draws come from a SplitMix64 stream of
/// `seed` (see [`super::derive_seed`] with [`super::Purpose::Curriculum`]).
pub fn schedule(
    steps_per_bucket: &[u64],
    odds: &[f64],
    cycles: u64,
    seed: u64,
) -> Result<Vec<u32>> {
    if cycles == 0 {
        return Err(Error::invalid_option(
            "cycles",
            "must be a positive integer, got 0",
        ));
    }
    check_odds(odds, steps_per_bucket.len())?;
    let budgets = cycle_budgets(steps_per_bucket, cycles);
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(steps_per_bucket.iter().sum::<u64>() as usize);
    for cycle in 0..cycles as usize {
        let mut left: Vec<u64> = budgets.iter().map(|b| b[cycle]).collect();
        let total: u64 = left.iter().sum();
        let weight: Vec<f64> = odds
            .iter()
            .zip(&left)
            .map(|(&o, &b)| o * b as f64 / total.max(1) as f64)
            .collect();
        for _ in 0..total {
            let live: Vec<f64> = (0..left.len())
                .map(|i| if left[i] > 0 { weight[i] } else { 0.0 })
                .collect();
            let target = rng.uniform() * live.iter().sum::<f64>();
            let mut chosen = 0;
            let mut acc = live[0];
            while acc <= target && chosen + 1 < live.len() {
                chosen += 1;
                acc += live[chosen];
            }
            // Rounding at the top end: take the last bucket with steps left.
            while left[chosen] == 0 {
                chosen -= 1;
            }
            left[chosen] -= 1;
            out.push(chosen as u32);
        }
    }
    Ok(out)
}
