//! The resumable state of a loader: where it stands (epoch and what it has handed out of
//! it) and what fixes the order (dataset and options), checked when a run resumes. One
//! layout for both loaders, versioned; states of the older formats still load.
//!
//! Version 2 (written now): `{"version": 2, "loader": "packed" | "decomposed", "dataset":
//! fingerprint, "options": {…}, "epoch": e, "consumed": n}`, where `consumed` counts rows
//! (packed) or steps (decomposed) of epoch `e` handed out over all ranks.
//!
//! Read too: a v1 `PackedLoader` state `{"version": 1, "dataset", "options", "epoch",
//! "consumed_rows"}` and a v1 `DecomposedLoader` state `{"epoch", "step", "seed", "cycles",
//! "tokens_per_step"}` (no version). Their dataset fingerprint followed an older definition,
//! so it is not compared; their options are. They resume at the same epoch and position.

use serde_json::{Map, Value, json};

use crate::{Error, Result};

/// The version [`LoaderState::to_json`] writes.
pub const STATE_VERSION: u64 = 2;

/// Which loader a state belongs to; it decides what `consumed` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoaderKind {
    /// `PackedLoader`: rows handed out.
    Packed,
    /// `DecomposedLoader`: steps handed out.
    Decomposed,
}

impl LoaderKind {
    pub fn name(self) -> &'static str {
        match self {
            LoaderKind::Packed => "packed",
            LoaderKind::Decomposed => "decomposed",
        }
    }

    /// What `consumed` counts.
    pub fn unit(self) -> &'static str {
        match self {
            LoaderKind::Packed => "rows",
            LoaderKind::Decomposed => "steps",
        }
    }
}

/// A loader's state. `dataset` is `None` for states whose fingerprint cannot be compared.
#[derive(Debug, Clone, PartialEq)]
pub struct LoaderState {
    pub loader: LoaderKind,
    pub version: u64,
    pub dataset: Option<String>,
    pub options: Map<String, Value>,
    pub epoch: u64,
    pub consumed: u64,
    /// The key `consumed` was read from, to name it in errors.
    consumed_key: &'static str,
}

pub(super) fn bad(message: String) -> Error {
    Error::invalid_option("state", message)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "None",
        Value::Bool(_) => "a bool",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn field<'v>(state: &'v Map<String, Value>, key: &str) -> Result<&'v Value> {
    state
        .get(key)
        .ok_or_else(|| bad(format!("key '{key}' is missing")))
}

fn count(state: &Map<String, Value>, key: &'static str) -> Result<u64> {
    let value = field(state, key)?;
    value.as_u64().ok_or_else(|| {
        bad(format!(
            "key '{key}' must be a non-negative integer, got {value} ({})",
            type_name(value)
        ))
    })
}

impl LoaderState {
    pub fn new(
        loader: LoaderKind,
        dataset: String,
        options: Map<String, Value>,
        epoch: u64,
        consumed: u64,
    ) -> Self {
        LoaderState {
            loader,
            version: STATE_VERSION,
            dataset: Some(dataset),
            options,
            epoch,
            consumed,
            consumed_key: "consumed",
        }
    }

    /// The state in the current layout.
    pub fn to_json(&self) -> Value {
        json!({
            "version": STATE_VERSION,
            "loader": self.loader.name(),
            "dataset": self.dataset,
            "options": self.options,
            "epoch": self.epoch,
            "consumed": self.consumed,
        })
    }

    /// Reads a state of any known version; errors name the key that is wrong.
    pub fn read(value: &Value) -> Result<Self> {
        let state = value.as_object().ok_or_else(|| {
            bad(format!(
                "must be a mapping (from state_dict()), got {}",
                type_name(value)
            ))
        })?;
        let (loader, dataset, options, consumed_key) = match state.get("version") {
            Some(v) if v.as_u64() == Some(STATE_VERSION) => {
                let loader = match field(state, "loader")?.as_str() {
                    Some("packed") => LoaderKind::Packed,
                    Some("decomposed") => LoaderKind::Decomposed,
                    _ => {
                        return Err(bad(format!(
                            "key 'loader' must be \"packed\" or \"decomposed\", got {}",
                            state["loader"]
                        )));
                    }
                };
                (
                    loader,
                    Some(Self::dataset(state)?),
                    Self::options(state)?,
                    "consumed",
                )
            }
            Some(v) if v.as_u64() == Some(1) => {
                Self::dataset(state)?;
                (
                    LoaderKind::Packed,
                    None,
                    Self::options(state)?,
                    "consumed_rows",
                )
            }
            None if state.contains_key("step") => {
                let mut options = Map::new();
                for key in ["seed", "cycles", "tokens_per_step"] {
                    options.insert(key.into(), json!(count(state, key)?));
                }
                (LoaderKind::Decomposed, None, options, "step")
            }
            Some(v) => {
                return Err(bad(format!(
                    "key 'version' = {v} is unknown: this seqpack reads versions 1 and {STATE_VERSION}"
                )));
            }
            None => return Err(bad("key 'version' is missing".into())),
        };
        Ok(LoaderState {
            loader,
            version: state.get("version").and_then(Value::as_u64).unwrap_or(1),
            dataset,
            options,
            epoch: count(state, "epoch")?,
            consumed: count(state, consumed_key)?,
            consumed_key,
        })
    }

    fn dataset(state: &Map<String, Value>) -> Result<String> {
        match field(state, "dataset")? {
            Value::String(s) => Ok(s.clone()),
            other => Err(bad(format!(
                "key 'dataset' must be a fingerprint string, got {}",
                type_name(other)
            ))),
        }
    }

    fn options(state: &Map<String, Value>) -> Result<Map<String, Value>> {
        match field(state, "options")? {
            Value::Object(options) => Ok(options.clone()),
            other => Err(bad(format!(
                "key 'options' must be a mapping, got {}",
                type_name(other)
            ))),
        }
    }

    /// Checks that the state belongs to a `loader` over `dataset` with `options`.
    pub fn check_identity(
        &self,
        loader: LoaderKind,
        dataset: &str,
        options: &Map<String, Value>,
    ) -> Result<()> {
        if self.loader != loader {
            return Err(bad(format!(
                "is of a {} loader, not of a {} one",
                self.loader.name(),
                loader.name()
            )));
        }
        if let Some(theirs) = &self.dataset
            && theirs != dataset
        {
            return Err(bad(format!(
                "is of another dataset ({theirs}, this one is {dataset})"
            )));
        }
        // A v2 state records every option; an older one those it had.
        let differs = |key: &String| self.options.get(key) != options.get(key);
        let mismatch = match self.version {
            STATE_VERSION => options
                .keys()
                .chain(self.options.keys())
                .find(|k| differs(k)),
            _ => self.options.keys().find(|k| differs(k)),
        };
        if let Some(key) = mismatch {
            let show = |o: Option<&Value>| o.map_or("nothing".to_string(), Value::to_string);
            return Err(bad(format!(
                "was made with other options: {key} = {} there, {} here (the order would differ)",
                show(self.options.get(key)),
                show(options.get(key)),
            )));
        }
        Ok(())
    }

    /// `(epoch, consumed)`, once checked to lie within the epoch, which hands out
    /// `epoch_size` rows or steps.
    pub fn position(&self, epoch_size: u64) -> Result<(u64, u64)> {
        let size = epoch_size;
        if self.consumed > size {
            return Err(bad(format!(
                "key '{}' = {} is beyond epoch {}, which has {size} {}",
                self.consumed_key,
                self.consumed,
                self.epoch,
                self.loader.unit()
            )));
        }
        Ok((self.epoch, self.consumed))
    }
}
