//! The core's constants, exported so that Python uses them instead of writing them again
//! (`tests/test_constants.py` checks that the Python side agrees).

use pyo3::prelude::*;
use seqpack_core::chat::TrainOn;
use seqpack_core::decompose::{DECOMPOSITION_FORMAT, DECOMPOSITION_VERSION};
use seqpack_core::pack::{Algorithm, MAX_CAPACITY, NNLSHP_MAX_CAPACITY};
use seqpack_core::preprocess::{INPUT_SUFFIXES, RECORD_FORMATS};
use seqpack_core::sampler::{CURRICULA, STATE_VERSION};
use seqpack_core::shard::{FORMAT_NAME, FORMAT_VERSION, LOSS_MASK_FORMAT_VERSION};

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let algorithms: Vec<&str> = Algorithm::CHOICES.iter().map(|(name, _)| *name).collect();
    m.add("ALGORITHMS", pyo3::types::PyTuple::new(m.py(), algorithms)?)?;
    m.add("MAX_CAPACITY", MAX_CAPACITY)?;
    m.add("NNLSHP_MAX_CAPACITY", NNLSHP_MAX_CAPACITY)?;
    m.add("DATASET_FORMAT", FORMAT_NAME)?;
    m.add(
        "DEFAULT_SPLIT_SIZE",
        seqpack_core::preprocess::DEFAULT_SPLIT_BYTES,
    )?;
    m.add("DATASET_FORMAT_VERSION", FORMAT_VERSION)?;
    m.add("LOSS_MASK_FORMAT_VERSION", LOSS_MASK_FORMAT_VERSION)?;
    m.add("DECOMPOSITION_FORMAT", DECOMPOSITION_FORMAT)?;
    m.add("DECOMPOSITION_FORMAT_VERSION", DECOMPOSITION_VERSION)?;
    let suffixes: Vec<&str> = INPUT_SUFFIXES.iter().map(|(suffix, _)| *suffix).collect();
    m.add(
        "INPUT_SUFFIXES",
        pyo3::types::PyTuple::new(m.py(), suffixes)?,
    )?;
    let formats: Vec<&str> = RECORD_FORMATS.iter().map(|(name, _)| *name).collect();
    m.add(
        "RECORD_FORMATS",
        pyo3::types::PyTuple::new(m.py(), formats)?,
    )?;
    let train_on: Vec<&str> = TrainOn::ALL.iter().map(|t| t.name()).collect();
    m.add("TRAIN_ON", pyo3::types::PyTuple::new(m.py(), train_on)?)?;
    m.add("CURRICULA", CURRICULA.to_vec())?;
    m.add("LOADER_STATE_VERSION", STATE_VERSION)?;
    Ok(())
}
