//! Bindings of `seqpack_core::decompose`.

use std::path::PathBuf;

use pyo3::prelude::*;
use seqpack_core::decompose::{DecomposeOptions, LongPieces, decompose as run};

use crate::convert::{choice, python_names, to_python};
use crate::gil::without_gil;

/// Decomposes the dataset `input` into bucket datasets under `out` with the GIL released and
/// returns the top-level manifest as a dict. `seed = None` cuts long documents into pieces of
/// the largest bucket instead of drawing their sizes.
#[pyfunction]
#[pyo3(signature = (input, out, *, min_log2 = 8, max_log2 = 13, remainder = "pack", seed = None, shifted_targets = false, shard_size = 33554432))]
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
    shard_size: u64,
) -> PyResult<Py<PyAny>> {
    let options = DecomposeOptions {
        min_log2,
        max_log2,
        remainder: choice(py, "remainder", remainder)?,
        long_pieces: seed.map_or(LongPieces::Max, |seed| LongPieces::Random { seed }),
        shifted_targets,
        shard_tokens: shard_size,
    };
    let manifest = without_gil(py, || {
        run(&input, &out, &options)
            .map_err(|error| python_names(error, &[("shard_tokens", "shard_size")]))
    })?;
    let manifest = serde_json::to_value(manifest).expect("a manifest always serialises");
    Ok(to_python(py, &manifest)?.unbind())
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decompose, m)?)
}
