//! Bindings of `seqpack_core::decompose`.

use std::path::PathBuf;

use pyo3::prelude::*;
use seqpack_core::decompose::{DecomposeOptions, LongPieces, decompose as run};

use crate::errors::to_py;
use crate::gil::without_gil;

/// Decomposes the dataset `input` into bucket datasets under `out` with the GIL released and
/// returns the top-level manifest as JSON. `seed = None` cuts long documents into pieces of
/// the largest bucket instead of drawing their sizes.
#[pyfunction]
#[pyo3(signature = (input, out, *, min_log2, max_log2, remainder, seed, shifted_targets, shard_tokens))]
#[allow(clippy::too_many_arguments)]
fn decompose(
    py: Python<'_>,
    input: PathBuf,
    out: PathBuf,
    min_log2: u32,
    max_log2: u32,
    remainder: &str,
    seed: Option<u64>,
    shifted_targets: bool,
    shard_tokens: u64,
) -> PyResult<String> {
    let options = DecomposeOptions {
        min_log2,
        max_log2,
        remainder: remainder.parse().map_err(|e| to_py(py, e))?,
        long_pieces: seed.map_or(LongPieces::Max, |seed| LongPieces::Random { seed }),
        shifted_targets,
        shard_tokens,
    };
    without_gil(py, || {
        let manifest = run(&input, &out, &options)?;
        Ok(serde_json::to_string(&manifest).expect("a manifest always serialises"))
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decompose, m)?)
}
