//! Where a mixture stands, and its resumable state.
//!
//! The state (version [`STATE_VERSION`], beside the single-dataset loader state): `{"version":
//! 2, "loader": "mixture", "mixture": identity digest, "step": s, "sources": [{"epoch": e,
//! "consumed": rows of epoch e handed out, "rows": rows, "tokens": real tokens, "target":
//! target tokens}, …]}`, one entry per source in the mixture's order. `target` is a float
//! that JSON carries exactly (shortest round-trip form), so a resumed run makes the same
//! choices bit for bit.

use serde_json::{Map, Value, json};

use super::mixture::Mixture;
use super::state::{STATE_VERSION, bad};
use crate::Result;

/// Where one source stands.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceCursor {
    /// The source's epoch in use (its repetition).
    pub epoch: u64,
    /// Rows of that epoch handed out.
    pub consumed: u64,
    /// Rows handed out over the run.
    pub rows: u64,
    /// Real tokens handed out over the run.
    pub tokens: u64,
    /// Real tokens the weights have given it so far.
    pub target: f64,
}

impl SourceCursor {
    /// How far the source is behind its target (negative: ahead of it), in tokens.
    pub fn deficit(&self) -> f64 {
        self.target - self.tokens as f64
    }
}

/// Where a mixture stands: the steps handed out over all ranks, and each source.
#[derive(Debug, Clone, PartialEq)]
pub struct MixtureCursor {
    pub step: u64,
    pub sources: Vec<SourceCursor>,
}

fn count(state: &Map<String, Value>, key: &str, at: &str) -> Result<u64> {
    state.get(key).and_then(Value::as_u64).ok_or_else(|| {
        bad(format!(
            "{at}key '{key}' must be a non-negative integer, got {}",
            state.get(key).map_or("nothing".into(), Value::to_string)
        ))
    })
}

impl MixtureCursor {
    pub fn start(sources: usize) -> Self {
        MixtureCursor {
            step: 0,
            sources: vec![
                SourceCursor {
                    epoch: 0,
                    consumed: 0,
                    rows: 0,
                    tokens: 0,
                    target: 0.0,
                };
                sources
            ],
        }
    }

    /// Real tokens handed out over the run.
    pub fn tokens(&self) -> u64 {
        self.sources.iter().map(|s| s.tokens).sum()
    }

    /// Rows handed out over the run.
    pub fn rows(&self) -> u64 {
        self.sources.iter().map(|s| s.rows).sum()
    }

    /// The state of `mixture` at this cursor.
    pub fn to_json(&self, mixture: &Mixture) -> Value {
        json!({
            "version": STATE_VERSION,
            "loader": "mixture",
            "mixture": mixture.identity(),
            "step": self.step,
            "sources": self.sources.iter().map(|s| json!({
                "epoch": s.epoch,
                "consumed": s.consumed,
                "rows": s.rows,
                "tokens": s.tokens,
                "target": s.target,
            })).collect::<Vec<_>>(),
        })
    }

    /// Reads a state of `mixture`; a state of another mixture or loader, or one whose
    /// position lies outside its epochs, is refused naming the key.
    pub fn read(value: &Value, mixture: &Mixture) -> Result<Self> {
        let state = value
            .as_object()
            .ok_or_else(|| bad("must be a mapping (from state_dict())".into()))?;
        if state.get("version").and_then(Value::as_u64) != Some(STATE_VERSION) {
            return Err(bad(format!(
                "key 'version' must be {STATE_VERSION} for a mixture, got {}",
                state
                    .get("version")
                    .map_or("nothing".into(), Value::to_string)
            )));
        }
        match state.get("loader").and_then(Value::as_str) {
            Some("mixture") => {}
            Some(other) => {
                return Err(bad(format!(
                    "is of a {other} loader over one dataset, not of a mixture"
                )));
            }
            None => return Err(bad("key 'loader' must be \"mixture\"".into())),
        }
        let theirs = state.get("mixture").and_then(Value::as_str).unwrap_or("");
        if theirs != mixture.identity() {
            return Err(bad(format!(
                "is of another mixture ({theirs:?}, this one is {:?}): the sources, their options, weights or schedule differ",
                mixture.identity()
            )));
        }
        let sources = match state.get("sources") {
            Some(Value::Array(sources)) if sources.len() == mixture.sources().len() => sources,
            _ => {
                return Err(bad(format!(
                    "key 'sources' must list {} sources",
                    mixture.sources().len()
                )));
            }
        };
        let mut cursor = MixtureCursor {
            step: count(state, "step", "")?,
            sources: Vec::with_capacity(sources.len()),
        };
        for (i, source) in sources.iter().enumerate() {
            let name = &mixture.sources()[i].name;
            let at = format!("source {name:?}: ");
            let source = source
                .as_object()
                .ok_or_else(|| bad(format!("{at}must be a mapping")))?;
            let target = source
                .get("target")
                .and_then(Value::as_f64)
                .filter(|t| t.is_finite())
                .ok_or_else(|| bad(format!("{at}key 'target' must be a finite number")))?;
            let read = SourceCursor {
                epoch: count(source, "epoch", &at)?,
                consumed: count(source, "consumed", &at)?,
                rows: count(source, "rows", &at)?,
                tokens: count(source, "tokens", &at)?,
                target,
            };
            let within = match mixture.sources()[i].max_epochs {
                Some(m) if read.epoch >= m => read.epoch == m && read.consumed == 0,
                _ => read.consumed < mixture.plan(i, read.epoch)?.num_packs() as u64,
            };
            if !within {
                return Err(bad(format!(
                    "{at}key 'consumed' = {} is beyond epoch {} of the source",
                    read.consumed, read.epoch
                )));
            }
            cursor.sources.push(read);
        }
        Ok(cursor)
    }
}
