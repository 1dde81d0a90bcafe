//! The extension module `seqpack._core`: conversions, GIL release and error mapping over
//! `seqpack-core`, nothing else. The typed public API lives in `python/seqpack/`.

mod errors;
mod gil;
mod pack;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("__all__", ["Packing", "__version__", "lower_bound", "pack"])?;
    pack::register(m)
}
