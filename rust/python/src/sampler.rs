//! Bindings of `seqpack_core::sampler`: epoch plans, the rank/step split, the curriculum,
//! the one seed derivation and the resumable loader state. Integer options are read here
//! so that a bad one raises `InvalidInputError` naming the Python parameter.

use std::sync::{Arc, Mutex};

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString};
use seqpack_core::Error;
use seqpack_core::batch::{Plan, Schedule};
use seqpack_core::sampler::{
    self, Balance, CostModel, EpochPlanner, LoaderKind, LoaderState, Partition, PlanOptions,
    Purpose, StepSplit, TokenBudget,
};
use serde_json::{Map, Value};

use crate::batch::{BatchStream, FlatStream, PyContextParallel, PyPlan, ShardStream};
use crate::convert::{choice, from_python, to_python};
use crate::dataset::PyTokenStore;
use crate::errors::to_py;
use crate::gil::without_gil;

fn invalid(py: Python<'_>, name: &'static str, message: String) -> PyErr {
    to_py(py, Error::InvalidOption { name, message })
}

/// An integer option of at least `least`; anything else (a bool, a float, a negative
/// number) raises `InvalidInputError` naming `name`.
pub(crate) fn integer(value: &Bound<'_, PyAny>, name: &'static str, least: u64) -> PyResult<u64> {
    let py = value.py();
    // Python and numpy integers (anything with `__index__`), never a bool or a float.
    let got = (!value.is_instance_of::<PyBool>())
        .then(|| value.extract::<u64>().ok())
        .flatten()
        .filter(|&v| v >= least);
    got.ok_or_else(|| {
        let what = match least {
            0 => "a non-negative integer".to_string(),
            1 => "a positive integer".to_string(),
            n => format!("an integer ≥ {n}"),
        };
        let repr = value.repr().map_or_else(|_| "?".into(), |r| r.to_string());
        invalid(py, name, format!("must be {what}, got {repr}"))
    })
}

fn narrow<T: TryFrom<u64>>(py: Python<'_>, value: u64, name: &'static str) -> PyResult<T> {
    T::try_from(value).map_err(|_| invalid(py, name, format!("{value} is too large")))
}

fn options_map(py: Python<'_>, options: &Bound<'_, PyDict>) -> PyResult<Map<String, Value>> {
    match from_python(options.as_any(), "options")? {
        Value::Object(map) => Ok(map),
        _ => Err(invalid(py, "options", "must be a mapping".into())),
    }
}

fn loader_kind(py: Python<'_>, loader: &str) -> PyResult<LoaderKind> {
    match loader {
        "packed" => Ok(LoaderKind::Packed),
        "decomposed" => Ok(LoaderKind::Decomposed),
        other => Err(invalid(
            py,
            "loader",
            format!("{other:?} is unknown; expected packed or decomposed"),
        )),
    }
}

/// Plans the epochs of one dataset; the last plan asked for is kept.
#[pyclass(frozen, name = "EpochPlanner", module = "seqpack._core")]
pub(crate) struct PyEpochPlanner {
    pub(crate) planner: Arc<EpochPlanner>,
    pub(crate) store: Py<PyTokenStore>,
    last: Mutex<Option<(u64, Py<PyPlan>)>>,
}

#[pymethods]
impl PyEpochPlanner {
    #[new]
    #[pyo3(signature = (store, name, fingerprint, packed_seq_len, *, seq_len, algorithm, long_docs, max_docs_per_pack, shuffle, seed, align, spread_cost=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        store: Py<PyTokenStore>,
        name: String,
        fingerprint: String,
        packed_seq_len: Option<u32>,
        seq_len: &Bound<'_, PyAny>,
        algorithm: &str,
        long_docs: &str,
        max_docs_per_pack: Option<&Bound<'_, PyAny>>,
        shuffle: bool,
        seed: &Bound<'_, PyAny>,
        align: &Bound<'_, PyAny>,
        spread_cost: bool,
    ) -> PyResult<Self> {
        let options = PlanOptions {
            seq_len: narrow(py, integer(seq_len, "seq_len", 0)?, "seq_len")?,
            algorithm: algorithm.parse().map_err(|e| to_py(py, e))?,
            long_docs: long_docs.parse().map_err(|e| to_py(py, e))?,
            max_docs_per_pack: max_docs_per_pack
                .map(|m| integer(m, "max_docs_per_pack", 1))
                .transpose()?,
            shuffle,
            seed: integer(seed, "seed", 0)?,
            align: narrow(py, integer(align, "align", 1)?, "align")?,
            spread_cost,
        };
        let shared = store.get().0.clone();
        let planner = without_gil(py, || {
            EpochPlanner::new(shared, name, fingerprint, packed_seq_len, options)
        })?;
        Ok(PyEpochPlanner {
            planner: Arc::new(planner),
            store,
            last: Mutex::new(None),
        })
    }

    /// The rows of `epoch` in training order.
    fn plan(&self, py: Python<'_>, epoch: &Bound<'_, PyAny>) -> PyResult<Py<PyPlan>> {
        let epoch = integer(epoch, "epoch", 0)?;
        if let Some((e, plan)) = &*self.last.lock().unwrap_or_else(|p| p.into_inner())
            && *e == epoch
        {
            return Ok(plan.clone_ref(py));
        }
        let planner = &*self.planner;
        let plan: Plan = without_gil(py, || planner.plan(epoch))?;
        let plan = Py::new(py, PyPlan(Arc::new(plan)))?;
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((epoch, plan.clone_ref(py)));
        Ok(plan)
    }

    /// Forgets the kept plan, so that the next `plan()` packs again.
    fn forget(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The options as the state records them.
    fn options<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, self.planner.options_json())
    }

    #[getter]
    fn store(&self, py: Python<'_>) -> Py<PyTokenStore> {
        self.store.clone_ref(py)
    }

    #[getter]
    fn fingerprint(&self) -> &str {
        self.planner.fingerprint()
    }

    #[getter]
    fn is_packed(&self) -> bool {
        self.planner.is_packed()
    }
}

/// A token id option (what fits the shards' u32 tokens), as the batches' i64.
fn token_id(value: &Bound<'_, PyAny>, name: &'static str) -> PyResult<i64> {
    let id = integer(value, name, 0)?;
    if id >= 1 << 32 {
        return Err(invalid(
            value.py(),
            name,
            format!("must be a token id, got {id}"),
        ));
    }
    Ok(id as i64)
}

/// The cost model `balance` asks for: `None` for "none", `balance_cost` (or the default)
/// for "attention". `balance_cost` or micro-batches (`micro_batches`) without "attention"
/// are refused, as they would change nothing.
fn cost_model(
    py: Python<'_>,
    balance: &str,
    balance_cost: Option<(f64, f64)>,
    micro_batches: bool,
) -> PyResult<Option<CostModel>> {
    match balance {
        "attention" => balance_cost
            .map_or(Ok(CostModel::default()), |(a, b)| CostModel::new(a, b))
            .map(Some)
            .map_err(|e| to_py(py, e)),
        "none" if balance_cost.is_some() || micro_batches => Err(invalid(
            py,
            "balance",
            "must be \"attention\" for balance_cost or micro_batches to apply".into(),
        )),
        "none" => Ok(None),
        other => Err(invalid(
            py,
            "balance",
            format!("{other:?} is unknown; expected none or attention"),
        )),
    }
}

/// How a stream feeds its batches: the token id of padding, and how many batches it
/// assembles ahead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Feed {
    pub(crate) pad_id: i64,
    pub(crate) prefetch: usize,
}

impl Feed {
    fn read(pad_id: &Bound<'_, PyAny>, prefetch: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = pad_id.py();
        Ok(Feed {
            pad_id: token_id(pad_id, "pad_id")?,
            prefetch: narrow(py, integer(prefetch, "prefetch", 1)?, "prefetch")?,
        })
    }
}

/// How an epoch's rows are cut into steps and shared out over ranks and workers, and the
/// batch stream of one rank.
#[pyclass(frozen, name = "StepSplit", module = "seqpack._core")]
pub(crate) struct PyStepSplit {
    pub(crate) split: StepSplit,
    pub(crate) feed: Feed,
}

pymethods_with_fields! {
impl PyStepSplit {
    fields of split { batch_size: u64, world_size: u64, rank: u64 }

    #[new]
    #[pyo3(signature = (*, batch_size, world_size, rank, drop_last, pad_id, prefetch, balance="none", balance_cost=None, micro_batches=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        batch_size: &Bound<'_, PyAny>,
        world_size: &Bound<'_, PyAny>,
        rank: &Bound<'_, PyAny>,
        drop_last: bool,
        pad_id: &Bound<'_, PyAny>,
        prefetch: &Bound<'_, PyAny>,
        balance: &str,
        balance_cost: Option<(f64, f64)>,
        micro_batches: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut split = StepSplit::new(
            integer(batch_size, "batch_size", 1)?,
            integer(world_size, "world_size", 1)?,
            integer(rank, "rank", 0)?,
            drop_last,
        )
        .map_err(|e| to_py(py, e))?;
        let micro_batches = micro_batches
            .map(|m| integer(m, "micro_batches", 1))
            .transpose()?;
        if let Some(cost) = cost_model(py, balance, balance_cost, micro_batches.is_some())? {
            let balance = Balance::new(cost, micro_batches.unwrap_or(1));
            split = split.balanced(balance).map_err(|e| to_py(py, e))?;
        }
        Ok(PyStepSplit {
            split,
            feed: Feed::read(pad_id, prefetch)?,
        })
    }

    #[getter]
    fn rows_per_step(&self) -> u64 {
        self.split.rows_per_step()
    }

    /// Steps left in an epoch of `rows` rows of which `consumed` have been handed out.
    fn steps(&self, rows: u64, consumed: u64) -> u64 {
        self.split.steps(rows, consumed)
    }

    /// Rows of an epoch of `rows` rows that no step hands out.
    fn rows_left_out(&self, rows: u64) -> u64 {
        self.split.rows_left_out(rows)
    }

    /// This rank's (and worker's) batches of `plan` from `consumed` on, assembled ahead on
    /// a thread.
    fn stream(
        &self,
        store: &PyTokenStore,
        plan: &PyPlan,
        consumed: u64,
        worker: u64,
        workers: u64,
    ) -> BatchStream {
        let schedule = self.schedule(plan, consumed, worker, workers);
        BatchStream::start(store, plan, schedule, self.feed)
    }

    /// The same batches cut into the shards of rank `cp.rank` of a context-parallel group.
    #[allow(clippy::too_many_arguments)]
    fn shard_stream(
        &self,
        store: &PyTokenStore,
        plan: &PyPlan,
        consumed: u64,
        worker: u64,
        workers: u64,
        cp: &PyContextParallel,
    ) -> ShardStream {
        let schedule = self.schedule(plan, consumed, worker, workers);
        ShardStream::start(store, plan, schedule, self.feed, cp.0)
    }
}
}

impl PyStepSplit {
    /// The rows of `plan` this rank's `worker` of `workers` hands out from `consumed` on.
    fn schedule(&self, plan: &PyPlan, consumed: u64, worker: u64, workers: u64) -> Schedule {
        let rows = plan.0.num_packs() as u64;
        self.split.schedule(rows, consumed, worker, workers)
    }
}

/// Token-budget steps (see `seqpack_core::sampler::TokenBudget`): one flattened batch of
/// at most `batch_tokens` tokens per rank and step, and the stream of one rank.
#[pyclass(frozen, name = "TokenBudget", module = "seqpack._core")]
pub(crate) struct PyTokenBudget {
    pub(crate) budget: TokenBudget,
    pub(crate) feed: Feed,
}

pymethods_with_fields! {
impl PyTokenBudget {
    fields of budget { batch_tokens: u64, world_size: u64, rank: u64 }

    #[new]
    #[pyo3(signature = (*, batch_tokens, seq_len, world_size, rank, drop_last, pad_id, prefetch, balance="none", balance_cost=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        batch_tokens: &Bound<'_, PyAny>,
        seq_len: &Bound<'_, PyAny>,
        world_size: &Bound<'_, PyAny>,
        rank: &Bound<'_, PyAny>,
        drop_last: bool,
        pad_id: &Bound<'_, PyAny>,
        prefetch: &Bound<'_, PyAny>,
        balance: &str,
        balance_cost: Option<(f64, f64)>,
    ) -> PyResult<Self> {
        let mut budget = TokenBudget::new(
            integer(batch_tokens, "batch_tokens", 1)?,
            integer(seq_len, "seq_len", 1)?,
            integer(world_size, "world_size", 1)?,
            integer(rank, "rank", 0)?,
            drop_last,
        )
        .map_err(|e| to_py(py, e))?;
        if let Some(cost) = cost_model(py, balance, balance_cost, false)? {
            budget = budget.balanced(cost);
        }
        Ok(PyTokenBudget {
            budget,
            feed: Feed::read(pad_id, prefetch)?,
        })
    }

    /// Steps left in the epoch of `plan` from plan position `consumed`.
    fn steps(&self, py: Python<'_>, plan: &PyPlan, consumed: u64) -> PyResult<usize> {
        let (budget, plan) = (&self.budget, &*plan.0);
        without_gil(py, || budget.steps(plan, consumed).map(|s| s.len()))
    }

    /// Rows of the epoch of `plan` that no step hands out.
    fn rows_left_out(&self, py: Python<'_>, plan: &PyPlan) -> PyResult<u64> {
        let (budget, plan) = (&self.budget, &*plan.0);
        without_gil(py, || budget.rows_left_out(plan))
    }

    /// This rank's (and worker's) flattened batches of `plan` from `consumed` on,
    /// assembled ahead on a thread.
    fn stream(
        &self,
        py: Python<'_>,
        store: &PyTokenStore,
        plan: &PyPlan,
        consumed: u64,
        worker: u64,
        workers: u64,
    ) -> PyResult<FlatStream> {
        let (budget, rows) = (&self.budget, &*plan.0);
        let schedule = without_gil(py, || budget.schedule(rows, consumed, worker, workers))?;
        Ok(FlatStream::start(store, plan, schedule, self.feed))
    }
}
}

/// The seed of `purpose` ("document-order", "row-order", "curriculum") in `epoch` of a run
/// over `dataset` with `options` (see `seqpack_core::sampler::derive_seed`).
#[pyfunction]
fn derive_seed(
    py: Python<'_>,
    dataset: &str,
    options: &Bound<'_, PyDict>,
    epoch: &Bound<'_, PyAny>,
    purpose: &str,
) -> PyResult<u64> {
    let purpose = match purpose {
        "document-order" => Purpose::DocumentOrder,
        "row-order" => Purpose::RowOrder,
        "curriculum" => Purpose::Curriculum,
        other => {
            return Err(invalid(
                py,
                "purpose",
                format!("{other:?} is unknown; expected document-order, row-order or curriculum"),
            ));
        }
    };
    let options = Value::Object(options_map(py, options)?);
    Ok(sampler::derive_seed(
        dataset,
        &options,
        integer(epoch, "epoch", 0)?,
        purpose,
    ))
}

/// The group of each of `costs` when they are cut into `groups` groups of equal size and
/// near-equal total cost (`method`: "kk" or "lpt"; see `seqpack_core::sampler::partition`).
#[pyfunction]
#[pyo3(signature = (costs, groups, method="kk"))]
fn balance_partition(
    py: Python<'_>,
    costs: Vec<f64>,
    groups: usize,
    method: &str,
) -> PyResult<Vec<usize>> {
    let method: Partition = choice(py, "method", method)?;
    without_gil(py, || sampler::partition(&costs, groups, method))
}

/// The cost-spread order of rows of attention work `work` (Σ l² each) shifted by `offset`:
/// position `i` holds row `order[i]` (see `seqpack_core::sampler::spread_order`).
#[pyfunction]
fn spread_order(work: Vec<u64>, offset: u64) -> Vec<usize> {
    sampler::spread_order(&work, offset)
}

/// The odds per bucket (smallest first) of a named curriculum or of custom odds.
#[pyfunction]
fn curriculum_odds(
    py: Python<'_>,
    curriculum: &Bound<'_, PyAny>,
    num_buckets: usize,
) -> PyResult<Vec<f64>> {
    if let Ok(name) = curriculum.cast::<PyString>() {
        return sampler::curriculum_odds(name.to_str()?, num_buckets).map_err(|e| to_py(py, e));
    }
    let odds: Vec<f64> = curriculum.extract().map_err(|_| {
        invalid(
            py,
            "curriculum",
            "must be a name or a sequence of odds per bucket".into(),
        )
    })?;
    sampler::curriculum::check_odds(&odds, num_buckets).map_err(|e| to_py(py, e))?;
    Ok(odds)
}

/// The bucket of every step of an epoch (see `seqpack_core::sampler::schedule`).
#[pyfunction]
fn curriculum_schedule<'py>(
    py: Python<'py>,
    steps_per_bucket: Vec<u64>,
    odds: Vec<f64>,
    cycles: &Bound<'_, PyAny>,
    seed: u64,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let cycles = integer(cycles, "cycles", 1)?;
    let buckets =
        sampler::schedule(&steps_per_bucket, &odds, cycles, seed).map_err(|e| to_py(py, e))?;
    Ok(PyArray1::from_vec(
        py,
        buckets.into_iter().map(i64::from).collect(),
    ))
}

/// The state of a `loader` ("packed" or "decomposed") in the current layout.
#[pyfunction]
fn loader_state<'py>(
    py: Python<'py>,
    loader: &str,
    dataset: String,
    options: &Bound<'_, PyDict>,
    epoch: u64,
    consumed: u64,
) -> PyResult<Bound<'py, PyAny>> {
    let state = LoaderState::new(
        loader_kind(py, loader)?,
        dataset,
        options_map(py, options)?,
        epoch,
        consumed,
    );
    to_python(py, &state.to_json())
}

/// Reads `state` (any version) for a `loader` over `dataset` with `options` and returns
/// `(epoch, consumed)`; `epoch_size(epoch)` gives the rows or steps an epoch hands out.
#[pyfunction]
fn resume_loader_state(
    py: Python<'_>,
    state: &Bound<'_, PyAny>,
    loader: &str,
    dataset: &str,
    options: &Bound<'_, PyDict>,
    epoch_size: &Bound<'_, PyAny>,
) -> PyResult<(u64, u64)> {
    let kind = loader_kind(py, loader)?;
    let options = options_map(py, options)?;
    let state = LoaderState::read(&from_python(state, "state")?).map_err(|e| to_py(py, e))?;
    state
        .check_identity(kind, dataset, &options)
        .map_err(|e| to_py(py, e))?;
    let size: u64 = epoch_size.call1((state.epoch,))?.extract()?;
    state.position(size).map_err(|e| to_py(py, e))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    add_to_module!(
        m,
        classes: [PyEpochPlanner, PyStepSplit, PyTokenBudget],
        functions: [
            derive_seed, balance_partition, spread_order, curriculum_odds, curriculum_schedule,
            loader_state, resume_loader_state,
        ]
    )
}
