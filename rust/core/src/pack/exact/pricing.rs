//! The pricing problem of column generation: the pack (pattern) of greatest dual value. A
//! bounded knapsack over the distinct lengths, by dynamic programming over the capacity and,
//! where `max_docs_per_pack` can bind, over the number of entries too. Copies of a length are
//! split into chunks of 1, 2, 4, … so that any count up to its bound is a sum of chunks,
//! which makes the problem a 0/1 knapsack of a few chunks per length.

/// A pack's content: (row, copies) pairs, rows being indices into the distinct lengths, in
/// increasing row order.
pub(crate) type Pattern = Vec<(u32, u32)>;

/// Duals at or below this are not worth a token of space.
const NEGLIGIBLE: f64 = 1e-12;

pub(crate) struct Pricing {
    lengths: Vec<u32>,
    /// Most copies of each row in one pack: its demand, what fits, and the depth cap.
    most: Vec<u32>,
    capacity: usize,
    /// The entry cap, where it can bind (some pack could hold more entries than this).
    entry_cap: Option<usize>,
    values: Vec<f64>,
    /// Scratch: a layer before the current chunk.
    previous: Vec<f64>,
    taken: Vec<bool>,
    chunks: Vec<Chunk>,
}

struct Chunk {
    row: u32,
    copies: u32,
}

impl Pricing {
    pub fn new(lengths: &[u32], demand: &[u64], capacity: u32, depth_cap: u32) -> Self {
        let most = lengths
            .iter()
            .zip(demand)
            .map(|(&l, &d)| {
                (capacity / l)
                    .min(depth_cap)
                    .min(d.min(u64::from(u32::MAX)) as u32)
            })
            .collect();
        let shortest = lengths.iter().copied().min().unwrap_or(capacity).max(1);
        let entry_cap = (depth_cap < capacity / shortest).then_some(depth_cap as usize);
        Pricing {
            lengths: lengths.to_vec(),
            most,
            capacity: capacity as usize,
            entry_cap,
            values: Vec::new(),
            previous: Vec::new(),
            taken: Vec::new(),
            chunks: Vec::new(),
        }
    }

    /// The work of one [`best`](Self::best), at most: knapsack cells over every chunk of
    /// every row (rows of zero dual are skipped, but charging them keeps the count simple
    /// and an upper bound).
    pub fn work(&self) -> u64 {
        let chunks: u64 = self
            .most
            .iter()
            .map(|&m| u64::from(u32::BITS - m.leading_zeros()))
            .sum();
        let layers = self.entry_cap.map_or(1, |k| k as u64 + 1);
        chunks * (self.capacity as u64 + 1) * layers
    }

    /// Most copies of `row` that one pack may hold.
    pub fn most(&self, row: usize) -> u32 {
        self.most[row]
    }

    /// The pattern that maximises Σ duals · copies, and that value.
    pub fn best(&mut self, duals: &[f64]) -> (Pattern, f64) {
        self.chunks.clear();
        for (row, &dual) in duals.iter().enumerate() {
            if dual <= NEGLIGIBLE {
                continue;
            }
            let mut left = self.most[row];
            let mut chunk = 1;
            while left > 0 {
                let copies = chunk.min(left);
                self.chunks.push(Chunk {
                    row: row as u32,
                    copies,
                });
                left -= copies;
                chunk *= 2;
            }
        }
        let width = self.capacity + 1;
        let layers = self.entry_cap.map_or(1, |k| k + 1);
        let states = width * layers;
        self.values.clear();
        self.values.resize(states, 0.0);
        self.taken.clear();
        self.taken.resize(states * self.chunks.len(), false);
        for (j, chunk) in self.chunks.iter().enumerate() {
            let weight = (chunk.copies * self.lengths[chunk.row as usize]) as usize;
            let value = f64::from(chunk.copies) * duals[chunk.row as usize];
            let taken = &mut self.taken[j * states..(j + 1) * states];
            // With an entry cap, layer k holds packs of at most k entries; the chunk moves a
            // pack from layer k - copies to layer k.
            let entries = if self.entry_cap.is_some() {
                chunk.copies as usize
            } else {
                0
            };
            for layer in (entries..layers).rev() {
                // The layer read from, as it was before this chunk: a copy when it is the
                // layer written (no entry cap), else the lower layer, not yet updated since
                // layers go downwards. Slices let the loop run without bounds checks.
                let (below, row) = self.values.split_at_mut(layer * width);
                let row = &mut row[..width];
                let source: &[f64] = if entries == 0 {
                    self.previous.clear();
                    self.previous.extend_from_slice(row);
                    &self.previous
                } else {
                    &below[(layer - entries) * width..(layer - entries + 1) * width]
                };
                let taken = &mut taken[layer * width + weight..(layer + 1) * width];
                for ((best, took), &before) in row[weight..]
                    .iter_mut()
                    .zip(taken.iter_mut())
                    .zip(&source[..width - weight])
                {
                    let candidate = before + value;
                    if candidate > *best {
                        *best = candidate;
                        *took = true;
                    }
                }
            }
        }
        let mut layer = layers - 1;
        let mut space = self.capacity;
        let value = self.values[layer * width + space];
        let mut pattern: Pattern = Vec::new();
        for (j, chunk) in self.chunks.iter().enumerate().rev() {
            if self.taken[j * states + layer * width + space] {
                space -= (chunk.copies * self.lengths[chunk.row as usize]) as usize;
                if self.entry_cap.is_some() {
                    layer -= chunk.copies as usize;
                }
                match pattern.last_mut() {
                    Some((row, copies)) if *row == chunk.row => *copies += chunk.copies,
                    _ => pattern.push((chunk.row, chunk.copies)),
                }
            }
        }
        pattern.reverse();
        (pattern, value)
    }
}
