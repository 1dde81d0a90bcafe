//! Column generation on the LP relaxation of cutting stock over the length histogram:
//! minimise Σ x_p over patterns p subject to Σ_p copies(p, i) · x_p = demand_i for every
//! distinct length i, x ≥ 0. The restricted master problem keeps only the basis (one column
//! per row) and its dense inverse; each iteration prices with the knapsack of
//! [`super::pricing`] and brings its pattern in by one revised-simplex pivot. A few hundred
//! rows make the inverse a few hundred kilobytes, which is why a dense simplex is enough.
//!
//! Every pricing also gives a lower bound (Farley's): with y⁺ the positive part of the duals
//! and v the best pattern's dual value, y⁺ / max(v, 1) is dual feasible, so
//! Σ demand_i y⁺_i / max(v, 1) packs are needed by any packing. It holds whenever the search
//! stops, at the optimum or when the work budget is spent.

use super::budget::Budget;
use super::pricing::{Pattern, Pricing};

/// Reduced costs below this do not improve the LP.
const OPTIMALITY: f64 = 1e-9;
/// Pivot elements below this are treated as zero.
const PIVOT: f64 = 1e-9;
/// Pivots between refactorisations of the basis inverse (rank-one updates drift).
const REFACTOR_EVERY: usize = 200;

pub(crate) struct LpSolution {
    /// Basic patterns with a positive value, and that value.
    pub columns: Vec<(Pattern, f64)>,
    /// A lower bound on the LP optimum (hence on any packing), valid even if not optimal.
    pub bound: f64,
}

/// Solves the LP for `demand[i]` items of length `lengths[i]` (all demands positive); None
/// if the budget cannot pay for factorising a first basis (m³ steps).
pub(crate) fn solve(
    lengths: &[u32],
    demand: &[u64],
    capacity: u32,
    depth_cap: u32,
    budget: &mut Budget,
) -> Option<LpSolution> {
    let m = demand.len() as u64;
    if !budget.spend(m * m * m) {
        return None;
    }
    let mut pricing = Pricing::new(lengths, demand, capacity, depth_cap);
    let mut basis = Basis::first_fit(&pricing, lengths, demand, capacity, depth_cap);
    let mut bound = 0.0f64;
    // A pricing, then a pivot (every entry of the inverse), and now and then a refactoring.
    let iteration_work = pricing.work() + m * m + m * m * m / REFACTOR_EVERY as u64;
    for iteration in 1.. {
        if !budget.spend(iteration_work) {
            break;
        }
        let (pattern, value) = pricing.best(&basis.duals);
        let positive: f64 = demand
            .iter()
            .zip(&basis.duals)
            .map(|(&d, &y)| d as f64 * y.max(0.0))
            .sum();
        bound = bound.max(positive / value.max(1.0));
        let objective: f64 = basis.values.iter().sum();
        let proven = rounded_bound(bound) >= rounded_bound(objective);
        if value <= 1.0 + OPTIMALITY || proven {
            break;
        }
        if !basis.pivot(pattern) {
            break;
        }
        if iteration % REFACTOR_EVERY == 0 && !basis.refactor(demand) {
            break;
        }
    }
    let columns = basis
        .columns
        .into_iter()
        .zip(basis.values)
        .filter(|(_, x)| *x > OPTIMALITY)
        .collect();
    Some(LpSolution { columns, bound })
}

/// The integer bound implied by a fractional one, with room for rounding error: an LP value
/// of 41.9999999997 proves 42 packs, not 43.
pub(crate) fn rounded_bound(bound: f64) -> u64 {
    (bound - 1e-6 - 1e-9 * bound).ceil().max(0.0) as u64
}

struct Basis {
    m: usize,
    /// The basic column of each row position.
    columns: Vec<Pattern>,
    /// Their values: B⁻¹ · demand.
    values: Vec<f64>,
    /// Row-major B⁻¹.
    inverse: Vec<f64>,
    /// 1ᵀ B⁻¹: the duals of the demand rows.
    duals: Vec<f64>,
}

impl Basis {
    /// A first basis from fractional first-fit decreasing: with rows in decreasing length,
    /// column j holds as many copies of length j as a pack may, then fills the space left
    /// with shorter lengths, each only as far as its remaining demand allows at this column's
    /// value. B is lower triangular with a positive diagonal, so it is invertible and its
    /// values are non-negative; and it starts the LP close to greedy, not from one length
    /// per pack, which saves most of the pivots.
    fn first_fit(
        pricing: &Pricing,
        lengths: &[u32],
        demand: &[u64],
        capacity: u32,
        depth_cap: u32,
    ) -> Self {
        let m = demand.len();
        let mut left: Vec<f64> = demand.iter().map(|&d| d as f64).collect();
        let mut columns = Vec::with_capacity(m);
        for j in 0..m {
            let copies = pricing.most(j);
            let mut pattern = vec![(j as u32, copies)];
            let value = left[j] / f64::from(copies);
            left[j] = 0.0;
            if value > OPTIMALITY {
                let mut space = capacity - copies * lengths[j];
                let mut depth = depth_cap - copies;
                for i in j + 1..m {
                    if depth == 0 || space == 0 {
                        break;
                    }
                    let room = (space / lengths[i]).min(depth).min(pricing.most(i));
                    let allowed = ((left[i] / value) + 1e-9).floor().min(f64::from(room)) as u32;
                    if allowed > 0 {
                        pattern.push((i as u32, allowed));
                        left[i] = (left[i] - f64::from(allowed) * value).max(0.0);
                        space -= allowed * lengths[i];
                        depth -= allowed;
                    }
                }
            }
            columns.push(pattern);
        }
        let mut basis = Basis {
            m,
            columns,
            values: vec![0.0; m],
            inverse: vec![0.0; m * m],
            duals: vec![0.0; m],
        };
        let invertible = basis.refactor(demand);
        debug_assert!(invertible, "a triangular basis with a positive diagonal");
        basis
    }

    /// Brings `pattern` into the basis; false if no row can leave (never for this LP).
    fn pivot(&mut self, pattern: Pattern) -> bool {
        let m = self.m;
        // alpha = B⁻¹ a, from the few non-zero entries of a.
        let mut alpha = vec![0.0; m];
        for (i, a) in alpha.iter_mut().enumerate() {
            let row = &self.inverse[i * m..(i + 1) * m];
            *a = pattern
                .iter()
                .map(|&(r, c)| row[r as usize] * f64::from(c))
                .sum();
        }
        // Ratio test; among ties, the largest pivot element for stability.
        let mut leave: Option<(usize, f64)> = None;
        for (i, &a) in alpha.iter().enumerate() {
            if a > PIVOT {
                let ratio = self.values[i].max(0.0) / a;
                let better = match leave {
                    None => true,
                    Some((j, best)) => {
                        ratio < best - 1e-12 || (ratio <= best + 1e-12 && a > alpha[j])
                    }
                };
                if better {
                    leave = Some((i, ratio));
                }
            }
        }
        let Some((r, step)) = leave else {
            return false;
        };
        for (x, &a) in self.values.iter_mut().zip(&alpha) {
            *x = (*x - step * a).max(0.0);
        }
        self.values[r] = step;
        let reduced: f64 = 1.0
            - pattern
                .iter()
                .map(|&(row, c)| self.duals[row as usize] * f64::from(c))
                .sum::<f64>();
        let pivot = alpha[r];
        let pivot_row: Vec<f64> = self.inverse[r * m..(r + 1) * m]
            .iter()
            .map(|v| v / pivot)
            .collect();
        for (y, &p) in self.duals.iter_mut().zip(&pivot_row) {
            *y += reduced * p;
        }
        for (i, &a) in alpha.iter().enumerate() {
            let row = &mut self.inverse[i * m..(i + 1) * m];
            if i == r {
                row.copy_from_slice(&pivot_row);
            } else if a != 0.0 {
                for (v, &p) in row.iter_mut().zip(&pivot_row) {
                    *v -= a * p;
                }
            }
        }
        self.columns[r] = pattern;
        true
    }

    /// Recomputes B⁻¹ from the basic columns (Gauss–Jordan, partial pivoting), then the
    /// values and duals from it; false if the basis has become singular.
    fn refactor(&mut self, demand: &[u64]) -> bool {
        let m = self.m;
        let mut b = vec![0.0; m * m];
        for (j, column) in self.columns.iter().enumerate() {
            for &(row, copies) in column {
                b[row as usize * m + j] = f64::from(copies);
            }
        }
        let mut inverse = vec![0.0; m * m];
        for i in 0..m {
            inverse[i * m + i] = 1.0;
        }
        for col in 0..m {
            let pivot_row = (col..m)
                .max_by(|&a, &b2| b[a * m + col].abs().total_cmp(&b[b2 * m + col].abs()))
                .expect("non-empty range");
            let pivot = b[pivot_row * m + col];
            if pivot.abs() < PIVOT {
                return false;
            }
            for k in 0..m {
                b.swap(col * m + k, pivot_row * m + k);
                inverse.swap(col * m + k, pivot_row * m + k);
            }
            for k in 0..m {
                b[col * m + k] /= pivot;
                inverse[col * m + k] /= pivot;
            }
            for i in 0..m {
                let factor = b[i * m + col];
                if i != col && factor != 0.0 {
                    for k in 0..m {
                        b[i * m + k] -= factor * b[col * m + k];
                        inverse[i * m + k] -= factor * inverse[col * m + k];
                    }
                }
            }
        }
        self.inverse = inverse;
        for i in 0..m {
            let row = &self.inverse[i * m..(i + 1) * m];
            self.values[i] = row
                .iter()
                .zip(demand)
                .map(|(v, &d)| v * d as f64)
                .sum::<f64>()
                .max(0.0);
        }
        self.duals.iter_mut().for_each(|y| *y = 0.0);
        for i in 0..m {
            for (y, v) in self.duals.iter_mut().zip(&self.inverse[i * m..(i + 1) * m]) {
                *y += v;
            }
        }
        true
    }
}
