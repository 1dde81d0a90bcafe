//! Bindings of `seqpack_core::pack`.

use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use seqpack_core::pack::{LowerBounds, lower_bounds};

// The loaders' bindings (`batch.rs`) take packing options from here too.
use crate::convert::choice;
pub(crate) use crate::convert::pack_options;
use crate::gil::without_gil;

/// The result of `seqpack.pack`: a CSR list of packs. Pack `p` holds entries
/// `pack_offsets[p]:pack_offsets[p + 1]`; entry `e` is tokens
/// `start[e]:start[e] + length[e]` of document `doc[e]`. The arrays are read-only views of
/// the packing's own memory (no copy was made).
#[pyclass(frozen, module = "seqpack")]
pub(crate) struct Packing {
    #[pyo3(get)]
    pack_offsets: Py<PyArray1<i64>>,
    #[pyo3(get)]
    doc: Py<PyArray1<i64>>,
    #[pyo3(get)]
    start: Py<PyArray1<i64>>,
    #[pyo3(get)]
    length: Py<PyArray1<i64>>,
    #[pyo3(get)]
    capacity: u32,
    #[pyo3(get)]
    num_packs: usize,
    #[pyo3(get)]
    efficiency: f64,
    #[pyo3(get)]
    placed_tokens: u64,
    #[pyo3(get)]
    truncated_tokens: u64,
    #[pyo3(get)]
    algorithm: String,
    bounds: LowerBounds,
    max_depth: usize,
    mean_depth: f64,
    seconds: f64,
}

/// Moves a vector into a numpy array without copying and marks it read-only.
fn frozen_array(py: Python<'_>, values: Vec<i64>) -> PyResult<Py<PyArray1<i64>>> {
    let array = PyArray1::from_vec(py, values);
    array.getattr("flags")?.setattr("writeable", false)?;
    Ok(array.unbind())
}

#[pymethods]
impl Packing {
    fn __len__(&self) -> usize {
        self.num_packs
    }

    fn __repr__(&self) -> String {
        format!(
            "Packing(algorithm={:?}, capacity={}, num_packs={}, efficiency={:.4}, truncated_tokens={})",
            self.algorithm, self.capacity, self.num_packs, self.efficiency, self.truncated_tokens
        )
    }

    /// The report: packs, efficiency, lower bounds (L1, L2, and the LP bound where the
    /// algorithm solved the LP, else None) and the gap to the best of them, depth
    /// statistics, truncated tokens and wall time.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("algorithm", &self.algorithm)?;
        d.set_item("capacity", self.capacity)?;
        d.set_item("num_packs", self.num_packs)?;
        d.set_item("num_entries", self.doc.bind(py).len()?)?;
        d.set_item("efficiency", self.efficiency)?;
        d.set_item("placed_tokens", self.placed_tokens)?;
        d.set_item("truncated_tokens", self.truncated_tokens)?;
        d.set_item("lower_bound_l1", self.bounds.l1)?;
        d.set_item("lower_bound_l2", self.bounds.l2)?;
        d.set_item("lower_bound_lp", self.bounds.lp)?;
        d.set_item(
            "packs_over_lower_bound",
            self.num_packs as i64 - self.bounds.best() as i64,
        )?;
        d.set_item("max_docs_per_pack", self.max_depth)?;
        d.set_item("mean_docs_per_pack", self.mean_depth)?;
        d.set_item("seconds", self.seconds)?;
        Ok(d)
    }
}

#[pyfunction]
#[pyo3(signature = (lengths, capacity, *, algorithm = "obfd", max_docs_per_pack = None, long_docs = "split", seed = None))]
fn pack(
    py: Python<'_>,
    lengths: PyReadonlyArray1<'_, i64>,
    capacity: u32,
    algorithm: &str,
    max_docs_per_pack: Option<u32>,
    long_docs: &str,
    seed: Option<u64>,
) -> PyResult<Packing> {
    let options = pack_options(py, capacity, algorithm, max_docs_per_pack, long_docs, seed)?;
    let lengths = lengths.as_slice()?;
    let packing = without_gil(py, || seqpack_core::pack::pack(lengths, &options))?;
    let (num_packs, efficiency) = (packing.num_packs(), packing.efficiency());
    let (max_depth, mean_depth) = (packing.max_depth(), packing.mean_depth());
    Ok(Packing {
        pack_offsets: frozen_array(py, packing.pack_offsets)?,
        doc: frozen_array(py, packing.doc)?,
        start: frozen_array(py, packing.start)?,
        length: frozen_array(py, packing.length)?,
        capacity,
        num_packs,
        efficiency,
        placed_tokens: packing.placed_tokens,
        truncated_tokens: packing.truncated_tokens,
        algorithm: options.algorithm.to_string(),
        bounds: packing.bounds,
        max_depth,
        mean_depth,
        seconds: packing.seconds,
    })
}

#[pyfunction]
#[pyo3(signature = (lengths, capacity, *, long_docs = "split"))]
fn lower_bound(
    py: Python<'_>,
    lengths: PyReadonlyArray1<'_, i64>,
    capacity: u32,
    long_docs: &str,
) -> PyResult<(u64, u64)> {
    let long_docs = choice(py, "long_docs", long_docs)?;
    let lengths = lengths.as_slice()?;
    let bounds = without_gil(py, || lower_bounds(lengths, capacity, long_docs))?;
    Ok((bounds.l1, bounds.l2))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_to_module!(m, classes: [Packing], functions: [pack, lower_bound])
}
