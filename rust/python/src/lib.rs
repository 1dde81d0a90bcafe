//! The extension module `seqpack._core`: conversions, GIL release and error mapping over
//! `seqpack-core`, nothing else. The typed public API lives in `python/seqpack/`.

/// The extension's own allocations (never freed by Python or C: numpy and Arrow hand their
/// buffers back to Rust to drop) come from mimalloc, whose per-thread heaps make the many
/// small allocations of parsing and rendering records a fraction of glibc's cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The body of a binding module's `register`: adds its classes, then its functions, to
/// `_core` in the order given.
macro_rules! add_to_module {
    ($m:expr, classes: [$($class:ty),* $(,)?], functions: [$($function:ident),* $(,)?]) => {{
        $($m.add_class::<$class>()?;)*
        $($m.add_function(pyo3::wrap_pyfunction!($function, $m)?)?;)*
        pyo3::PyResult::Ok(())
    }};
}

/// The `#[pymethods]` of a class that wraps a core value: a read-only property for each
/// listed field of `self.$inner` (copied out), then the class's other methods as written.
macro_rules! pymethods_with_fields {
    (
        impl $class:ty {
            fields of $inner:tt { $($field:ident: $type:ty),* $(,)? }
            $($methods:tt)*
        }
    ) => {
        #[pyo3::pymethods]
        impl $class {
            $(
                #[getter]
                fn $field(&self) -> $type {
                    self.$inner.$field
                }
            )*
            $($methods)*
        }
    };
}

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

/// How a binding module adds its classes, functions and constants to `_core`.
type Register = fn(&Bound<'_, PyModule>) -> PyResult<()>;

/// Every binding module, in the order they register (pyo3 lists every class and function
/// in `__all__`).
const MODULES: &[Register] = &[
    constants::register,
    pack::register,
    batch::register,
    dataset::register,
    bpe::register,
    ast::register,
    tokenizer::register,
    chat::register,
    preprocess::register,
    split::register,
    sampler::register,
    mixture::register,
    decompose::register,
];

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    for register in MODULES {
        register(m)?;
    }
    Ok(())
}
