//! The options that fix an epoch's rows, and the planner that makes the rows of any epoch
//! from them: a pure function of (dataset, options, epoch).

use std::sync::Arc;

use serde_json::{Value, json};

use super::seed::{Purpose, derive_seed};
use super::spread::spread_rows;
use crate::batch::Plan;
use crate::pack::{Algorithm, LongDocs, PackOptions};
use crate::shard::TokenStore;
use crate::{Error, Result};

/// What decides an epoch's rows besides the data: row length, packer and policies, the seed
/// (`shuffle = false`: dataset order, the same rows every epoch), and `align`: each
/// document padded to a multiple of it inside its row (patch-level training), and
/// `spread_cost`: the rows put in cost-spread order (see [`super::spread`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    pub seq_len: u32,
    pub algorithm: Algorithm,
    pub long_docs: LongDocs,
    pub max_docs_per_pack: Option<u64>,
    pub shuffle: bool,
    pub seed: u64,
    pub align: u32,
    pub spread_cost: bool,
}

impl PlanOptions {
    pub fn validate(&self) -> Result<()> {
        // The row length is the packer's capacity: its bounds are the packer's.
        if let Err(Error::InvalidOption { message, .. }) = PackOptions::new(self.seq_len).validate()
        {
            return Err(Error::invalid_option(
                "seq_len",
                format!("must be an integer {}", message.replacen("must be ", "", 1)),
            ));
        }
        if self.align == 0 || self.seq_len % self.align != 0 {
            return Err(Error::invalid_option(
                "align",
                format!(
                    "must be a positive integer that divides seq_len = {}, got {}",
                    self.seq_len, self.align
                ),
            ));
        }
        if self.max_docs_per_pack == Some(0) {
            return Err(Error::invalid_option(
                "max_docs_per_pack",
                "must be a positive integer or None, got 0",
            ));
        }
        Ok(())
    }

    /// The options as a JSON object: what a loader state records and the seed digests.
    /// `spread_cost` is recorded only when set, so that the states and seeds of runs
    /// without it stay what they were.
    pub fn to_json(&self) -> Value {
        let mut json = json!({
            "seq_len": self.seq_len,
            "algorithm": self.algorithm.to_string(),
            "long_docs": match self.long_docs {
                LongDocs::Split => "split",
                LongDocs::Truncate => "truncate",
                LongDocs::Error => "error",
            },
            "max_docs_per_pack": self.max_docs_per_pack,
            "shuffle": self.shuffle,
            "seed": self.seed,
            "align": self.align,
        });
        if self.spread_cost {
            json["spread_cost"] = Value::Bool(true);
        }
        json
    }
}

/// Where an epoch's rows come from.
#[derive(Debug)]
enum Rows {
    /// A dataset of documents, packed anew each epoch from these lengths.
    Documents(Vec<i64>),
    /// A packed dataset: its rows are kept, only their order changes.
    Packed(Arc<TokenStore>),
}

/// Plans the epochs of one dataset. A dataset of documents is packed anew each epoch
/// (documents in an order drawn for the epoch, then rows shuffled); a packed dataset keeps
/// its rows and only their order changes.
#[derive(Debug)]
pub struct EpochPlanner {
    /// The dataset's path, to name it in errors.
    name: String,
    fingerprint: String,
    options: PlanOptions,
    options_json: Value,
    /// What the seeds digest: the options but `spread_cost`, which only reorders the rows
    /// that the same seeds give.
    seed_json: Value,
    rows: Rows,
}

impl EpochPlanner {
    /// `packed_seq_len` is the row length of a packed dataset (`None` for documents).
    pub fn new(
        store: Arc<TokenStore>,
        name: String,
        fingerprint: String,
        packed_seq_len: Option<u32>,
        options: PlanOptions,
    ) -> Result<Self> {
        options.validate()?;
        let rows = match packed_seq_len {
            None => Rows::Documents(store.lengths()),
            Some(_) if options.align != 1 => {
                return Err(Error::invalid_option(
                    "patch_size",
                    format!(
                        "{name}: a packed dataset keeps its rows; patch alignment needs the dataset of documents it was packed from"
                    ),
                ));
            }
            Some(len) if len != options.seq_len => {
                return Err(Error::invalid_option(
                    "seq_len",
                    format!(
                        "{name}: a dataset packed into rows of {len} tokens cannot give rows of seq_len = {}",
                        options.seq_len
                    ),
                ));
            }
            Some(_) => Rows::Packed(store),
        };
        Ok(EpochPlanner {
            name,
            fingerprint,
            options_json: options.to_json(),
            seed_json: PlanOptions {
                spread_cost: false,
                ..options.clone()
            }
            .to_json(),
            options,
            rows,
        })
    }

    pub fn options(&self) -> &PlanOptions {
        &self.options
    }

    pub fn options_json(&self) -> &Value {
        &self.options_json
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn is_packed(&self) -> bool {
        matches!(self.rows, Rows::Packed(_))
    }

    /// The seed of `purpose` in `epoch`; `None` without shuffling.
    pub fn seed(&self, epoch: u64, purpose: Purpose) -> Option<u64> {
        self.options
            .shuffle
            .then(|| derive_seed(&self.fingerprint, &self.seed_json, epoch, purpose))
    }

    /// The rows of `epoch` in training order.
    pub fn plan(&self, epoch: u64) -> Result<Plan> {
        let o = &self.options;
        let rows = self.seed(epoch, Purpose::RowOrder);
        let plan = self.rows_of(epoch, rows)?;
        Ok(if o.spread_cost {
            spread_rows(&plan, rows.unwrap_or(0))
        } else {
            plan
        })
    }

    /// The rows of `epoch`, shuffled with `rows` (a packed dataset's, or packed anew).
    fn rows_of(&self, epoch: u64, rows: Option<u64>) -> Result<Plan> {
        let o = &self.options;
        match &self.rows {
            Rows::Packed(store) => Plan::packed_rows(store, o.seq_len, rows),
            Rows::Documents(lengths) => {
                // A cap beyond the row length cannot bind (every entry holds a token).
                let max_docs = o
                    .max_docs_per_pack
                    .map(|m| m.min(u64::from(o.seq_len)) as u32);
                let options = PackOptions {
                    capacity: o.seq_len,
                    algorithm: o.algorithm,
                    max_docs_per_pack: max_docs,
                    long_docs: o.long_docs,
                    seed: rows,
                };
                let documents = self.seed(epoch, Purpose::DocumentOrder);
                Plan::pack_epoch(lengths, &options, o.align, documents).map_err(|error| {
                    // Name the dataset, not only the document.
                    match error {
                        Error::NonPositiveLength { .. } | Error::DocumentTooLong { .. } => {
                            Error::invalid_option("dataset", format!("{}: {error}", self.name))
                        }
                        other => other,
                    }
                })
            }
        }
    }
}
