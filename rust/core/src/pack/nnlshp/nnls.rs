//! Non-negative least squares, min ‖A x − b‖ subject to x ≥ 0, by the active-set method of
//! Lawson and Hanson, for a matrix whose columns have a few non-zero entries each (a packing
//! strategy holds at most three lengths).
//!
//! The least-squares problem on the passive set P (the columns allowed to be positive) is
//! solved through the normal equations A_Pᵀ A_P z = A_Pᵀ b, whose Cholesky factor is
//! updated as columns enter (one new row, O(|P|²)) and leave (a rank-one update of the rows
//! after it), instead of being factorised afresh at every step. Sparse columns make every
//! inner product O(1) and a gradient over all columns O(nnz).

/// A sparse column: (row, value) pairs.
pub(crate) type Column = Vec<(u32, f64)>;

/// Relative size below which a new column counts as a combination of the passive ones.
const DEPENDENT: f64 = 1e-10;

/// The solution x (one value per column, non-negative).
pub(crate) fn solve(columns: &[Column], b: &[f64], max_iterations: usize) -> Vec<f64> {
    let n = columns.len();
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let tolerance = 1e-9 * scale;
    let atb: Vec<f64> = columns.iter().map(|c| dot_dense(c, b)).collect();
    let mut x = vec![0.0; n];
    let mut passive = Passive::new(b.len(), n);
    // Columns refused because they were (numerically) dependent on the passive set or could
    // not become positive when they entered; they are never tried again.
    let mut refused = vec![false; n];
    let mut residual = b.to_vec();
    for _ in 0..max_iterations {
        // The gradient of ½‖Ax − b‖² is Aᵀ(Ax − b) = −Aᵀ r; the most negative one enters.
        let entering = (0..n)
            .filter(|&j| !refused[j] && !passive.member[j])
            .map(|j| (j, dot_dense(&columns[j], &residual)))
            .filter(|&(_, w)| w > tolerance)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        let Some((j, _)) = entering else {
            break;
        };
        if !passive.push(j, columns) {
            refused[j] = true;
            continue;
        }
        let mut z = passive.solve(&atb);
        if z.last().is_some_and(|&v| v <= 0.0) {
            passive.remove(passive.len() - 1);
            refused[j] = true;
            continue;
        }
        // Step from x towards z until a passive value would turn negative; that column
        // leaves, and the problem on the smaller set is solved again.
        while let Some(step) = first_block(&passive, &x, &z) {
            for (k, &column) in passive.columns.iter().enumerate() {
                x[column] += step.fraction * (z[k] - x[column]);
            }
            x[passive.columns[step.position]] = 0.0;
            let mut k = passive.len();
            while k > 0 {
                k -= 1;
                let column = passive.columns[k];
                if x[column] <= 0.0 {
                    x[column] = 0.0;
                    passive.remove(k);
                }
            }
            z = passive.solve(&atb);
        }
        for (k, &column) in passive.columns.iter().enumerate() {
            x[column] = z[k];
        }
        residual.copy_from_slice(b);
        for &column in &passive.columns {
            for &(row, a) in &columns[column] {
                residual[row as usize] -= a * x[column];
            }
        }
    }
    x
}

struct Block {
    /// Where in the passive set the step is blocked.
    position: usize,
    /// How far from x towards z the step goes.
    fraction: f64,
}

/// The first passive value that z would take to zero or below, if any.
fn first_block(passive: &Passive, x: &[f64], z: &[f64]) -> Option<Block> {
    let mut block: Option<Block> = None;
    for (k, &column) in passive.columns.iter().enumerate() {
        if z[k] <= 0.0 {
            let fraction = x[column] / (x[column] - z[k]);
            if block.as_ref().is_none_or(|b| fraction < b.fraction) {
                block = Some(Block {
                    position: k,
                    fraction,
                });
            }
        }
    }
    block
}

fn dot_dense(column: &Column, dense: &[f64]) -> f64 {
    column.iter().map(|&(row, a)| a * dense[row as usize]).sum()
}

fn dot_sparse(a: &Column, b: &Column) -> f64 {
    let mut sum = 0.0;
    for &(row_a, va) in a {
        for &(row_b, vb) in b {
            if row_a == row_b {
                sum += va * vb;
            }
        }
    }
    sum
}

/// The passive columns and the Cholesky factor L of their Gram matrix (L Lᵀ = A_Pᵀ A_P),
/// lower triangular, row-major with a fixed stride.
struct Passive {
    columns: Vec<usize>,
    /// Whether each column of A is in the set.
    member: Vec<bool>,
    stride: usize,
    factor: Vec<f64>,
}

impl Passive {
    /// A passive set of at most `rank` (the number of rows of A) of `n` columns.
    fn new(rank: usize, n: usize) -> Self {
        Passive {
            columns: Vec::new(),
            member: vec![false; n],
            stride: rank,
            factor: vec![0.0; rank * rank],
        }
    }

    fn len(&self) -> usize {
        self.columns.len()
    }

    /// Adds column `j` as the last one: solves L y = A_Pᵀ a_j for the new row and takes the
    /// square root of what is left of ‖a_j‖². False (and nothing added) if the column is a
    /// combination of the passive ones, or the set is full.
    fn push(&mut self, j: usize, columns: &[Column]) -> bool {
        let k = self.len();
        if k == self.stride {
            return false;
        }
        let norm = dot_sparse(&columns[j], &columns[j]);
        let mut row: Vec<f64> = self
            .columns
            .iter()
            .map(|&p| dot_sparse(&columns[p], &columns[j]))
            .collect();
        for i in 0..k {
            let known: f64 = (0..i)
                .map(|m| self.factor[i * self.stride + m] * row[m])
                .sum();
            row[i] = (row[i] - known) / self.factor[i * self.stride + i];
        }
        let left = norm - row.iter().map(|v| v * v).sum::<f64>();
        if left <= DEPENDENT * norm {
            return false;
        }
        self.factor[k * self.stride..k * self.stride + k].copy_from_slice(&row);
        self.factor[k * self.stride + k] = left.sqrt();
        self.columns.push(j);
        self.member[j] = true;
        true
    }

    /// Removes the column at `position`: the rows after it lose that entry, which leaves
    /// their block needing a rank-one update by the removed entries to stay a factor.
    fn remove(&mut self, position: usize) {
        let k = self.len();
        let s = self.stride;
        let mut update: Vec<f64> = (position + 1..k)
            .map(|i| self.factor[i * s + position])
            .collect();
        // Shift rows up and the columns after `position` left.
        for i in position + 1..k {
            for m in 0..position {
                self.factor[(i - 1) * s + m] = self.factor[i * s + m];
            }
            for m in position + 1..=i {
                self.factor[(i - 1) * s + m - 1] = self.factor[i * s + m];
            }
            self.factor[(i - 1) * s + i] = 0.0;
        }
        for m in 0..k {
            self.factor[(k - 1) * s + m] = 0.0;
        }
        // Rank-one update of the trailing block (rows and columns position..k-1):
        // L' L'ᵀ = L Lᵀ + u uᵀ, by rotations column after column.
        let n = update.len();
        for i in 0..n {
            let d = position + i;
            let diagonal = self.factor[d * s + d];
            let r = diagonal.hypot(update[i]);
            let (c, sn) = (r / diagonal, update[i] / diagonal);
            self.factor[d * s + d] = r;
            for (j, u) in update.iter_mut().enumerate().skip(i + 1) {
                let e = position + j;
                let value = (self.factor[e * s + d] + sn * *u) / c;
                self.factor[e * s + d] = value;
                *u = c * *u - sn * value;
            }
        }
        let column = self.columns.remove(position);
        self.member[column] = false;
    }

    /// The least-squares solution on the passive columns: L Lᵀ z = A_Pᵀ b.
    fn solve(&self, atb: &[f64]) -> Vec<f64> {
        let k = self.len();
        let s = self.stride;
        let mut z: Vec<f64> = self.columns.iter().map(|&p| atb[p]).collect();
        for i in 0..k {
            let known: f64 = (0..i).map(|m| self.factor[i * s + m] * z[m]).sum();
            z[i] = (z[i] - known) / self.factor[i * s + i];
        }
        for i in (0..k).rev() {
            let known: f64 = (i + 1..k).map(|m| self.factor[m * s + i] * z[m]).sum();
            z[i] = (z[i] - known) / self.factor[i * s + i];
        }
        z
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_small_problem_with_an_active_bound() {
        // Columns e0, e1, e0 + e1; b = (1, -1): the best non-negative fit uses e0 alone.
        let columns: Vec<Column> = vec![vec![(0, 1.0)], vec![(1, 1.0)], vec![(0, 1.0), (1, 1.0)]];
        let x = solve(&columns, &[1.0, -1.0], 100);
        assert!(
            (x[0] - 1.0).abs() < 1e-12 && x[1] == 0.0 && x[2] == 0.0,
            "{x:?}"
        );
    }

    #[test]
    fn matches_an_exact_fit_and_survives_removals() {
        // b is reached exactly by several combinations (2·(e0 + e1) + 3·e2 among them);
        // whichever the method ends with must reproduce b.
        let columns: Vec<Column> = vec![
            vec![(0, 1.0), (1, 1.0), (2, 1.0)],
            vec![(0, 1.0), (1, 1.0)],
            vec![(2, 1.0)],
            vec![(0, 1.0)],
        ];
        let b = [2.0, 2.0, 3.0];
        let x = solve(&columns, &b, 100);
        let mut fit = [0.0; 3];
        for (column, &value) in columns.iter().zip(&x) {
            assert!(value >= 0.0);
            for &(row, a) in column {
                fit[row as usize] += a * value;
            }
        }
        for (f, target) in fit.iter().zip(b) {
            assert!((f - target).abs() < 1e-9, "{fit:?} {x:?}");
        }
    }
}
