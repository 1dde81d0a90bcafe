//! The extension module `seqpack._core`: conversions, GIL release and error mapping over
//! `seqpack-core`, nothing else. The typed public API lives in `python/seqpack/`.

mod ast;
mod batch;
mod bpe;
mod chat;
mod constants;
mod convert;
mod dataset;
mod decompose;
mod errors;
mod gil;
mod mixture;
mod pack;
mod preprocess;
mod sampler;
mod split;
mod tokenizer;

use pyo3::prelude::*;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    constants::register(m)?;
    // pyo3 lists every class and function added below in `__all__`.
    pack::register(m)?;
    batch::register(m)?;
    dataset::register(m)?;
    bpe::register(m)?;
    ast::register(m)?;
    tokenizer::register(m)?;
    chat::register(m)?;
    preprocess::register(m)?;
    split::register(m)?;
    sampler::register(m)?;
    mixture::register(m)?;
    decompose::register(m)
}
