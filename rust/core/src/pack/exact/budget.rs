//! The work budget of exact packing: the LP and the rounding stop when it is spent, and the
//! best plan found so far is used. Work is counted in elementary steps (knapsack cells,
//! entries of the basis inverse touched), never in seconds, so the result is the same on
//! every machine, however fast or loaded.

/// Steps allowed for one packing: about 4 s of one unloaded core of this project's build
/// machine. The hardest shared histogram (Wikipedia-512 with at most 3 per pack: 508
/// distinct lengths, 2,072 pricings) needs half of it for its LP; the rest goes to
/// re-solving the residual LPs of the rounding, where each round saves a few dozen packs.
pub const WORK_BUDGET: u64 = 10_000_000_000;

pub(crate) struct Budget {
    left: u64,
}

impl Budget {
    pub fn new(steps: u64) -> Self {
        Budget { left: steps }
    }

    /// Takes `steps` from the budget if they are left; once a request is refused, the
    /// budget is spent and refuses every later one, so a smaller step cannot sneak in after a
    /// larger one was declined.
    pub fn spend(&mut self, steps: u64) -> bool {
        if steps > self.left {
            self.left = 0;
            false
        } else {
            self.left -= steps;
            true
        }
    }

    pub fn is_spent(&self) -> bool {
        self.left == 0
    }
}
