//! `preprocess`: corpora to a tokenized dataset directory, streaming with bounded memory, in
//! parallel, resumably and deterministically.
//!
//! Records are read in input order on a thread of their own, tokenized in batches on a
//! thread pool while the next batches are read, and appended in the same order, on the
//! calling thread, to shards that close once they hold `shard_tokens` tokens (see
//! [`pipeline`]). Shard boundaries therefore depend only on the data, so a resumed run (which
//! restarts after its last complete shard, see [`journal`]) writes exactly the shards an
//! uninterrupted run would.

mod arrow_input;
mod batches;
mod commit;
mod count;
mod fn_tokenizer;
mod input;
mod journal;
mod json_text;
mod output;
mod pipeline;
mod record;
mod record_format;
mod recycle;
mod sink;
mod split;
mod state_file;
mod tokenized;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::chat::{RecordEncoder, RecordEncoders};
use crate::choice::names;
use crate::shard::{LossMaskInfo, Manifest};
use crate::tokenize::Tokenizer;
use crate::{Error, Result};
use journal::Journal;
use recycle::Recycler;
use sink::Sink;

pub use commit::{SplitResult, SplitStart, commit, result_name};
pub use count::{BadRecord, SplitCount, count_split, starts};
pub use input::{Format, INPUT_SUFFIXES};
pub use journal::Written;
pub use record_format::{RECORD_FORMATS, RecordFormat};
pub use split::{DEFAULT_SPLIT_BYTES, Plan, Split, SplitRange, split_shard_file_name};
pub use tokenized::commit_tokenized;

#[cfg(test)]
mod masked_tests;
#[cfg(test)]
mod tests;

names! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum OnError parsed as "on_error" {
        /// Stop at the first bad record with an error naming its file and line.
        Fail => "fail",
        /// Skip bad records and count them by reason in the manifest.
        Skip => "skip",
    }
}

#[derive(Debug, Clone)]
pub struct PreprocessOptions {
    /// The JSONL / Arrow field holding the text.
    pub text_field: String,
    /// `.txt` inputs hold one document per line (else one per file).
    pub lines: bool,
    pub prepend: Option<u32>,
    pub append: Option<u32>,
    /// A shard closes once it holds at least this many tokens.
    pub shard_tokens: u64,
    pub on_error: OnError,
    pub resume: bool,
    /// Tokenizer threads; 0 for one per core.
    pub workers: usize,
    /// Records per batch handed to the threads (a batch also ends at 1 MiB of input).
    pub batch_records: usize,
    /// What the records are; `None` detects it per file (see [`RecordFormat`]).
    pub format: Option<RecordFormat>,
    /// The encoders of conversations and prompt/completion records (built with
    /// [`crate::chat::record_encoders`]).
    pub encoders: RecordEncoders,
    /// Input bytes per split (see [`split`]).
    pub split_bytes: u64,
    /// The inputs' names in the dataset, one per input (empty: their paths), e.g. the URIs
    /// local copies were fetched from.
    pub source_names: Vec<String>,
}

impl Default for PreprocessOptions {
    fn default() -> Self {
        PreprocessOptions {
            text_field: "text".into(),
            lines: false,
            prepend: None,
            append: None,
            shard_tokens: 1 << 25,
            on_error: OnError::Fail,
            resume: false,
            workers: 0,
            batch_records: 8192,
            format: None,
            encoders: RecordEncoders::default(),
            split_bytes: DEFAULT_SPLIT_BYTES,
            source_names: Vec::new(),
        }
    }
}

/// Counters passed to the progress callback after every batch.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub documents: u64,
    pub tokens: u64,
    pub text_bytes: u64,
    /// Raw (possibly compressed) input bytes read so far, and in total, for an ETA.
    pub input_bytes_read: u64,
    pub input_bytes_total: u64,
    pub shards: u64,
    pub seconds: f64,
}

/// Batches read ahead per tokenizer thread: enough that the pool stays busy while the
/// calling thread writes and syncs (with 2 per thread, 2 workers idled through part of each
/// 128 MiB shard's write when shards were written whole), few enough to bound memory (a
/// batch is about [`batches::BATCH_BYTES`] of input and its tokens).
const BATCHES_PER_THREAD: usize = 6;

/// Tokenizes `inputs` into the dataset directory `out` and returns its manifest: the splits
/// of the run's [`Plan`] one after the other, then their [`commit`]. A cluster that runs the
/// splits at once ([`count_split`], [`starts`], [`preprocess_split`], [`commit`]) writes the
/// same dataset. `on_progress` runs after each batch; an error from it (e.g.
/// [`Error::Interrupted`]) stops the run, leaving what is complete for `resume`.
pub fn preprocess(
    inputs: &[PathBuf],
    out: &Path,
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
    on_progress: &mut dyn FnMut(&Progress) -> Result<()>,
) -> Result<Manifest> {
    let plan = plan_run(inputs, tokenizer, options)?;
    let _lock = output::OutputLock::acquire(out)?;
    if let Some(manifest) = prepare_output(out, &plan, tokenizer, options)? {
        return Ok(manifest);
    }
    let input_bytes = (0..plan.splits.len()).map(|k| split_bytes(&plan, k)).sum();
    let mut runner = SplitRunner::new(&plan, out, tokenizer, options, input_bytes, on_progress)?;
    let mut results: Vec<SplitResult> = Vec::with_capacity(plan.splits.len());
    let mut start = SplitStart {
        first_line: 1,
        first_doc_id: 0,
    };
    for split in 0..plan.splits.len() {
        if split > 0 {
            // Each split starts where the one before ended, as the counting pass finds.
            let before = &results[split - 1];
            start.first_doc_id = before.first_doc_id + before.documents;
            start.first_line = if plan.splits[split - 1].source == plan.splits[split].source {
                start.first_line + split::split_lines(&plan, split - 1)?
            } else {
                1
            };
        }
        results.push(runner.run(split, start)?);
    }
    runner.finish()?;
    commit(out, &plan, &results, tokenizer, options)
}

/// The plan of a run: its inputs' splits (see [`split`]) and the identity of the run.
pub fn plan_run(
    inputs: &[PathBuf],
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
) -> Result<Plan> {
    validate(inputs, options)?;
    let sources: Vec<String> = if options.source_names.is_empty() {
        inputs.iter().map(|p| p.display().to_string()).collect()
    } else if options.source_names.len() == inputs.len() {
        options.source_names.clone()
    } else {
        return Err(Error::invalid_option(
            "source_names",
            format!(
                "{} names for {} inputs",
                options.source_names.len(),
                inputs.len()
            ),
        ));
    };
    let mut sizes = Vec::with_capacity(inputs.len());
    for path in inputs {
        // An unreadable file is reported (or counted) when it is opened, in input order.
        sizes.push(std::fs::metadata(path).map_or(0, |m| m.len()));
    }
    let formats = record_format::formats_of(inputs, options.format);
    check_encoders(inputs, &formats, &options.encoders)?;
    let masks = mask_info(&formats, &options.encoders);
    let run = run_id(&sources, &sizes, tokenizer, options, masks.as_ref());
    let mut plan = split::plan(inputs, sources, run, options)?;
    plan.formats = formats;
    plan.loss_mask = masks;
    Ok(plan)
}

/// Checks the output directory of a run (under its lock, as [`output::prepare`] does) and
/// returns the finished dataset's manifest if a resumed run had already finished.
pub fn begin(
    out: &Path,
    plan: &Plan,
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
) -> Result<Option<Manifest>> {
    let _lock = output::OutputLock::acquire(out)?;
    prepare_output(out, plan, tokenizer, options)
}

fn prepare_output(
    out: &Path,
    plan: &Plan,
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
) -> Result<Option<Manifest>> {
    let options_record = options_record(options);
    let prepared = output::prepare(out, &plan.run, options.resume, |manifest| {
        manifest.sources == plan.sources
            && manifest.tokenizer.fingerprint == tokenizer.fingerprint()
            && manifest.options == options_record
    })?;
    Ok(match prepared {
        output::Prepared::Finished(manifest) => Some(*manifest),
        output::Prepared::Write => None,
    })
}

/// Tokenizes split `split` of `plan`, which starts at `start` (from [`starts`]), into
/// shards of `out` named by the split, and returns (and writes beside them) its
/// [`SplitResult`]. A split whose result is there already is not run again; one with a
/// journal (from an attempt that was killed) goes on from it.
#[allow(clippy::too_many_arguments)]
pub fn preprocess_split(
    plan: &Plan,
    split: usize,
    start: SplitStart,
    out: &Path,
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
    on_progress: &mut dyn FnMut(&Progress) -> Result<()>,
) -> Result<SplitResult> {
    if split >= plan.splits.len() {
        return Err(Error::invalid_option(
            "split",
            format!(
                "{split} is not below the plan's {} splits",
                plan.splits.len()
            ),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let input_bytes = split_bytes(plan, split);
    let mut runner = SplitRunner::new(plan, out, tokenizer, options, input_bytes, on_progress)?;
    let result = runner.run(split, start)?;
    runner.finish()?;
    Ok(result)
}

/// Progress over one or more splits, and whom to tell.
struct Reporter<'a> {
    progress: Progress,
    read: Arc<AtomicU64>,
    started: Instant,
    on_progress: &'a mut dyn FnMut(&Progress) -> Result<()>,
}

impl Reporter<'_> {
    fn report(&mut self) -> Result<()> {
        self.progress.input_bytes_read = self.read.load(Ordering::Relaxed);
        self.progress.seconds = self.started.elapsed().as_secs_f64();
        (self.on_progress)(&self.progress)
    }
}

/// The splits of one run, one after the other: what they share (the plan, the output, the
/// tokenizer and options, the thread pool) and the progress reported over all of them.
struct SplitRunner<'a> {
    plan: &'a Plan,
    out: &'a Path,
    tokenizer: &'a dyn Tokenizer,
    options: &'a PreprocessOptions,
    pool: rayon::ThreadPool,
    report: Reporter<'a>,
}

impl<'a> SplitRunner<'a> {
    /// A runner of splits of `plan` that hold `input_bytes` in all, for progress.
    fn new(
        plan: &'a Plan,
        out: &'a Path,
        tokenizer: &'a dyn Tokenizer,
        options: &'a PreprocessOptions,
        input_bytes: u64,
        on_progress: &'a mut dyn FnMut(&Progress) -> Result<()>,
    ) -> Result<Self> {
        let report = Reporter {
            progress: Progress {
                input_bytes_total: input_bytes,
                ..Progress::default()
            },
            read: Arc::new(AtomicU64::new(0)),
            started: Instant::now(),
            on_progress,
        };
        Ok(SplitRunner {
            plan,
            out,
            tokenizer,
            options,
            pool: thread_pool(options)?,
            report,
        })
    }

    /// Reports the progress once all splits have run.
    fn finish(mut self) -> Result<()> {
        self.report.report()
    }

    /// Tokenizes split `split`, which starts at `start` (see [`preprocess_split`]).
    fn run(&mut self, split: usize, start: SplitStart) -> Result<SplitResult> {
        let (plan, out, tokenizer, options) = (self.plan, self.out, self.tokenizer, self.options);
        let (pool, report) = (&self.pool, &mut self.report);
        let other_run = |path: &Path| {
            Error::invalid_option(
                "resume",
                format!(
                    "{} was written by a run with other inputs, options or tokenizer; use a new \
                     directory",
                    path.display()
                ),
            )
        };
        let result_path = out.join(result_name(split));
        if let Some(done) = SplitResult::read(&result_path)? {
            if done.run != plan.run {
                return Err(other_run(&result_path));
            }
            report.progress.shards += done.written.shards.len() as u64;
            return Ok(done);
        }
        let journal_path = out.join(journal::journal_name(split));
        let state = match Journal::read(&journal_path)? {
            Some(journal) if journal.run == plan.run => journal,
            Some(_) => return Err(other_run(&journal_path)),
            None => Journal {
                run: plan.run.clone(),
                next_doc_id: start.first_doc_id,
                ..Journal::default()
            },
        };
        output::clear_split(out, split, state.written.shards.len())?;
        report.progress.shards += state.written.shards.len() as u64;
        let cursor = state.cursor;
        let mut sink = Sink::new(out, split, &journal_path, plan, options, state);
        // Buffers of up to four times a usual batch are kept (a chunk of lines ends after the
        // line that reaches the batch size, a worker reserves a token per two bytes of text, and
        // vectors grow by doubling); a loss mask takes a byte a token.
        let (input_buffers, record_buffers, token_buffers, mask_buffers) = (
            Recycler::new(4 * batches::BATCH_BYTES),
            Recycler::new(2 * options.batch_records),
            Recycler::new(2 * batches::BATCH_BYTES),
            Recycler::new(2 * batches::BATCH_BYTES),
        );
        let read = report.read.clone();
        let piped = pipeline::ordered_map(
            pool,
            BATCHES_PER_THREAD * pool.current_num_threads() + 2,
            |submit| {
                batches::read_batches(
                    plan,
                    split,
                    start.first_line,
                    plan.formats[plan.splits[split].source as usize],
                    cursor,
                    options,
                    &read,
                    &input_buffers,
                    submit,
                )
            },
            |batch| {
                let (records, tokens) = (record_buffers.take(), token_buffers.take());
                let encoding = record::Encoding {
                    tokenizer,
                    options,
                    masked: plan.loss_mask.is_some(),
                };
                record::tokenize(batch, &encoding, records, tokens, mask_buffers.take())
            },
            |mut batch| {
                sink.append(
                    &mut batch.records,
                    &batch.tokens,
                    &batch.mask,
                    &mut report.progress,
                )?;
                record_buffers.give(batch.records);
                token_buffers.give(batch.tokens);
                mask_buffers.give(batch.mask);
                if let Some(input) = batch.input {
                    input_buffers.give(input);
                }
                report.report()
            },
        );
        if let Err(error) = piped.and_then(|()| sink.flush(None)) {
            sink.abandon();
            return Err(error);
        }
        let result = sink.into_result(&plan.run, start.first_doc_id);
        result.write(&result_path)?;
        let _ = std::fs::remove_file(&journal_path);
        Ok(result)
    }
}

/// The input bytes of split `split`, for progress: its range, or its whole file.
fn split_bytes(plan: &Plan, split: usize) -> u64 {
    let Split { source, range } = &plan.splits[split];
    match range {
        SplitRange::Bytes { start, end } => end - start,
        _ => std::fs::metadata(&plan.inputs[*source as usize]).map_or(0, |m| m.len()),
    }
}

fn thread_pool(options: &PreprocessOptions) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(options.workers)
        .build()
        .map_err(|e| Error::invalid_option("workers", e.to_string()))
}

fn validate(inputs: &[PathBuf], options: &PreprocessOptions) -> Result<()> {
    if inputs.is_empty() {
        return Err(Error::invalid_option("inputs", "no input files"));
    }
    if options.batch_records == 0 {
        return Err(Error::invalid_option("batch_records", "must be at least 1"));
    }
    if options.shard_tokens == 0 {
        return Err(Error::invalid_option(
            "shard_size",
            "must be at least 1 token",
        ));
    }
    for path in inputs {
        input::format_of(path)?;
    }
    Ok(())
}

/// Refuses, before anything is written, inputs whose records no encoder was given for.
fn check_encoders(
    inputs: &[PathBuf],
    formats: &[RecordFormat],
    encoders: &RecordEncoders,
) -> Result<()> {
    let conversations = formats.iter().position(|&f| f == RecordFormat::Messages);
    match conversations {
        Some(index) if encoders.messages.is_none() => Err(Error::invalid_option(
            "chat_template",
            format!(
                "{}: its records are conversations (messages), which need a chat template",
                inputs[index].display()
            ),
        )),
        _ => Ok(()),
    }
}

/// What the manifest says of a dataset's loss masks, before its counts are known; `None`
/// for a dataset of plain text only, which has no masks.
fn mask_info(formats: &[RecordFormat], encoders: &RecordEncoders) -> Option<LossMaskInfo> {
    if formats.iter().all(|&f| f == RecordFormat::Text) {
        return None;
    }
    let mut used: Vec<RecordFormat> = formats
        .iter()
        .copied()
        .filter(|&f| f != RecordFormat::Text)
        .collect();
    used.sort();
    used.dedup();
    let encoder_of = |format| match format {
        RecordFormat::Messages => encoders.messages.as_ref().map(|e| e.fingerprint()),
        RecordFormat::PromptCompletion => Some(encoders.prompt_completion.fingerprint()),
        RecordFormat::Text => None,
    };
    Some(LossMaskInfo {
        formats: formats.iter().map(|f| f.name().to_owned()).collect(),
        encoders: used
            .into_iter()
            .filter_map(|f| Some((f.name().to_owned(), encoder_of(f)?)))
            .collect(),
        ..LossMaskInfo::default()
    })
}

/// The options as the manifest records them.
fn options_record(options: &PreprocessOptions) -> BTreeMap<String, serde_json::Value> {
    let mut record = BTreeMap::new();
    record.insert("text_field".into(), options.text_field.clone().into());
    record.insert("lines".into(), options.lines.into());
    record.insert("prepend_token".into(), options.prepend.into());
    record.insert("append_token".into(), options.append.into());
    record.insert("shard_tokens".into(), options.shard_tokens.into());
    record.insert("split_bytes".into(), options.split_bytes.into());
    record.insert(
        "on_error".into(),
        format!("{:?}", options.on_error).to_lowercase().into(),
    );
    if let Some(format) = options.format {
        record.insert("format".into(), format.name().into());
    }
    record
}

/// A stable identifier of inputs (paths and sizes), options and tokenizer.
fn run_id(
    sources: &[String],
    sizes: &[u64],
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
    masks: Option<&LossMaskInfo>,
) -> String {
    // Plain-text runs are named as before masks existed, so their journals still resume.
    let masks = masks.map_or(String::new(), |m| {
        format!("|{:?}|{:?}", m.formats, m.encoders)
    });
    let description = format!(
        "{sources:?}|{sizes:?}|{}|{}|{}|{:?}|{:?}|{}|{:?}|{}{masks}",
        tokenizer.fingerprint(),
        options.text_field,
        options.lines,
        options.prepend,
        options.append,
        options.shard_tokens,
        options.on_error,
        options.split_bytes
    );
    format!(
        "{:016x}",
        xxhash_rust::xxh3::xxh3_64(description.as_bytes())
    )
}

#[cfg(test)]
mod split_tests;
