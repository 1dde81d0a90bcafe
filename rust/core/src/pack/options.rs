//! Packing options and their validation.

use std::fmt;
use std::str::FromStr;

use crate::choice::{self, names};
use crate::{Error, Result};

/// The largest capacity accepted. Several algorithms keep one slot per possible free space,
/// so memory grows with the capacity; 2^24 tokens is far beyond any training context.
pub const MAX_CAPACITY: u32 = 1 << 24;

/// Which packing algorithm to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// Best-fit decreasing with a counting sort and a bit tree over free spaces: O(N + N log L).
    #[default]
    Obfd,
    /// Best-fit decreasing over an ordered set of bins: the textbook O(N log N) version.
    /// Gives exactly the packing of `Obfd` (same tie-breaks); kept as an independent check.
    Bfd,
    /// First-fit decreasing with a max segment tree over bins.
    Ffd,
    /// Next-fit in input order: one open pack at a time.
    Nf,
    /// Graphcore's shortest-pack-first histogram packing (worst fit over groups of packs).
    Spfhp,
    /// Graphcore's longest-pack-first histogram packing (best fit, several copies at once).
    Lpfhp,
    /// Concatenate-and-chunk in input order. Documents are cut wherever a row ends; this is
    /// the contaminating baseline unless attention is isolated per fragment.
    Wrapped,
    /// Column generation on the cutting-stock LP over the histogram, rounded and repaired:
    /// near-optimal packs, and the LP lower bound as a certificate.
    Exact,
    /// Graphcore's non-negative least-squares histogram packing: at most three entries per
    /// pack, the published reference for capped packing.
    Nnlshp,
}

impl Algorithm {
    /// Every algorithm by the name options and manifests give it.
    pub const CHOICES: &'static [(&'static str, Algorithm)] = &[
        ("obfd", Algorithm::Obfd),
        ("bfd", Algorithm::Bfd),
        ("ffd", Algorithm::Ffd),
        ("nf", Algorithm::Nf),
        ("spfhp", Algorithm::Spfhp),
        ("lpfhp", Algorithm::Lpfhp),
        ("wrapped", Algorithm::Wrapped),
        ("exact", Algorithm::Exact),
        ("nnlshp", Algorithm::Nnlshp),
    ];
}

impl FromStr for Algorithm {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self> {
        choice::parse("algorithm", name, Algorithm::CHOICES)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(choice::name_of(*self, Algorithm::CHOICES))
    }
}

names! {
    /// What to do with a document longer than the capacity.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum LongDocs parsed as "long_docs" {
        /// Cut it into consecutive fragments of at most `capacity` tokens and pack each.
        #[default]
        Split => "split",
        /// Keep its first `capacity` tokens and count the rest as truncated.
        Truncate => "truncate",
        /// Refuse the input, naming the document.
        Error => "error",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackOptions {
    /// Tokens per pack.
    pub capacity: u32,
    pub algorithm: Algorithm,
    /// At most this many entries (documents or fragments) per pack; `None` for no limit.
    pub max_docs_per_pack: Option<u32>,
    pub long_docs: LongDocs,
    /// Shuffle the order of packs and of entries inside each pack with this seed.
    pub seed: Option<u64>,
}

impl PackOptions {
    pub fn new(capacity: u32) -> Self {
        PackOptions {
            capacity,
            algorithm: Algorithm::default(),
            max_docs_per_pack: None,
            long_docs: LongDocs::default(),
            seed: None,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return Err(Error::invalid_option(
                "capacity",
                format!("must be in 1..={MAX_CAPACITY}, got {}", self.capacity),
            ));
        }
        let nnlshp_limit = super::nnlshp::MAX_CAPACITY;
        if self.algorithm == Algorithm::Nnlshp && self.capacity > nnlshp_limit {
            return Err(Error::invalid_option(
                "capacity",
                format!(
                    "must be at most {nnlshp_limit} with algorithm \"nnlshp\" (it fits \
                     capacity² / 12 strategies), got {}",
                    self.capacity
                ),
            ));
        }
        if self.max_docs_per_pack == Some(0) {
            return Err(Error::invalid_option(
                "max_docs_per_pack",
                "must be at least 1 (or None for no limit), got 0",
            ));
        }
        Ok(())
    }

    /// The depth cap as a number; "no limit" is the capacity, since every entry holds at
    /// least one token.
    pub(crate) fn depth_cap(&self) -> u32 {
        self.max_docs_per_pack
            .map_or(self.capacity, |k| k.min(self.capacity))
    }
}
