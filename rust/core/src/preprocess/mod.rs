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
mod input;
mod journal;
mod json_scan;
mod json_text;
mod output;
mod pipeline;
mod record;
mod record_format;
mod recycle;
mod sink;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::chat::{RecordEncoder, RecordEncoders};
use crate::shard::{self, LossMaskInfo, Manifest, TokenizerInfo};
use crate::tokenize::Tokenizer;
use crate::{Error, Result};
use journal::{JOURNAL, Journal};
use recycle::Recycler;
use sink::Sink;

pub use input::{Format, INPUT_SUFFIXES};
pub use record_format::{RECORD_FORMATS, RecordFormat};

#[cfg(test)]
mod masked_tests;
#[cfg(test)]
mod tests;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Stop at the first bad record with an error naming its file and line.
    Fail,
    /// Skip bad records and count them by reason in the manifest.
    Skip,
}

impl std::str::FromStr for OnError {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self> {
        match name {
            "fail" => Ok(OnError::Fail),
            "skip" => Ok(OnError::Skip),
            _ => Err(Error::invalid_option(
                "on_error",
                format!("{name:?} is unknown; expected fail or skip"),
            )),
        }
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

/// Tokenizes `inputs` into the dataset directory `out` and returns its manifest.
/// `on_progress` runs after each batch; an error from it (e.g. [`Error::Interrupted`])
/// stops the run, leaving what is complete for `resume`.
pub fn preprocess(
    inputs: &[PathBuf],
    out: &Path,
    tokenizer: &dyn Tokenizer,
    options: &PreprocessOptions,
    on_progress: &mut dyn FnMut(&Progress) -> Result<()>,
) -> Result<Manifest> {
    let started = Instant::now();
    validate(inputs, options)?;
    let sources: Vec<String> = inputs.iter().map(|p| p.display().to_string()).collect();
    let mut sizes = Vec::with_capacity(inputs.len());
    for path in inputs {
        // An unreadable file is reported (or counted) when it is opened, in input order.
        sizes.push(std::fs::metadata(path).map_or(0, |m| m.len()));
    }
    let formats = record_format::formats_of(inputs, options.format);
    check_encoders(inputs, &formats, &options.encoders)?;
    let masks = mask_info(&formats, &options.encoders);
    let run = run_id(&sources, &sizes, tokenizer, options, masks.as_ref());
    let manifest_path = out.join(shard::MANIFEST);
    let journal_path = out.join(JOURNAL);
    let options_record = options_record(options);
    let _lock = output::OutputLock::acquire(out)?;
    let journal = match output::prepare(out, &run, options.resume, |manifest| {
        manifest.sources == sources
            && manifest.tokenizer.fingerprint == tokenizer.fingerprint()
            && manifest.options == options_record
    })? {
        output::Prepared::Finished(manifest) => return Ok(manifest),
        output::Prepared::Write(journal) => journal,
    };
    let state = journal.unwrap_or_else(|| Journal {
        run: run.clone(),
        ..Journal::default()
    });

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.workers)
        .build()
        .map_err(|e| Error::invalid_option("workers", e.to_string()))?;
    let read = Arc::new(AtomicU64::new(0));
    let mut progress = Progress {
        input_bytes_total: sizes.iter().sum(),
        shards: state.shards.len() as u64,
        ..Progress::default()
    };
    let cursor = state.cursor;
    let mut sink = Sink {
        out,
        journal_path: &journal_path,
        inputs,
        sources: &sources,
        options,
        state,
        shard: None,
        // A record batch closes at the first document that reaches its size; a longer one
        // costs a reallocation.
        pending: shard::ShardBuilder::with_capacity(
            sink::RECORD_BATCH_TOKENS.min(options.shard_tokens) as usize,
            masks.is_some(),
        ),
    };
    // Buffers of up to four times a usual batch are kept (a chunk of lines ends after the
    // line that reaches the batch size, a worker reserves a token per two bytes of text, and
    // vectors grow by doubling).
    let (input_buffers, record_buffers, token_buffers) = (
        Recycler::new(4 * batches::BATCH_BYTES),
        Recycler::new(2 * options.batch_records),
        Recycler::new(2 * batches::BATCH_BYTES),
    );
    let piped = pipeline::ordered_map(
        &pool,
        BATCHES_PER_THREAD * pool.current_num_threads() + 2,
        |submit| {
            let files = batches::Files {
                inputs,
                formats: &formats,
            };
            batches::read_batches(&files, cursor, options, &read, &input_buffers, submit)
        },
        |batch| {
            let (records, tokens) = (record_buffers.take(), token_buffers.take());
            let encoding = record::Encoding {
                tokenizer,
                options,
                masked: masks.is_some(),
            };
            record::tokenize(batch, &encoding, records, tokens)
        },
        |mut batch| {
            sink.append(
                &mut batch.records,
                &batch.tokens,
                &batch.mask,
                &mut progress,
            )?;
            record_buffers.give(batch.records);
            token_buffers.give(batch.tokens);
            if let Some(input) = batch.input {
                input_buffers.give(input);
            }
            report(&mut progress, &read, &started, on_progress)
        },
    );
    if let Err(error) = piped.and_then(|()| sink.flush(None)) {
        sink.abandon();
        return Err(error);
    }
    report(&mut progress, &read, &started, on_progress)?;
    let state = sink.state;

    let loss_mask = masks.map(|masks| LossMaskInfo {
        trained_tokens: state.trained_tokens,
        records_with_nothing_to_train: state.records_with_nothing_to_train,
        edges_inside_tokens: state.edges_inside_tokens,
        ..masks
    });
    let manifest = Manifest {
        format: shard::FORMAT_NAME.into(),
        format_version: if loss_mask.is_some() {
            shard::LOSS_MASK_FORMAT_VERSION
        } else {
            shard::FORMAT_VERSION
        },
        tokenizer: TokenizerInfo {
            fingerprint: tokenizer.fingerprint().to_owned(),
            vocab_size: u64::from(tokenizer.vocab_size()),
            implementation: Some(tokenizer.implementation().name().to_owned()),
        },
        total_rows: state.next_doc_id,
        total_tokens: state.shards.iter().map(|s| s.tokens).sum(),
        total_text_bytes: state.text_bytes,
        shards: state.shards.clone(),
        length_histogram: state.histogram.clone(),
        skipped: state.skipped.clone(),
        sources,
        options: options_record,
        loss_mask,
    };
    manifest.write(&manifest_path)?;
    let _ = std::fs::remove_file(&journal_path);
    Ok(manifest)
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

fn report(
    progress: &mut Progress,
    read: &AtomicU64,
    started: &Instant,
    on_progress: &mut dyn FnMut(&Progress) -> Result<()>,
) -> Result<()> {
    progress.input_bytes_read = read.load(Ordering::Relaxed);
    progress.seconds = started.elapsed().as_secs_f64();
    on_progress(progress)
}

/// The options as the manifest records them.
fn options_record(options: &PreprocessOptions) -> BTreeMap<String, serde_json::Value> {
    let mut record = BTreeMap::new();
    record.insert("text_field".into(), options.text_field.clone().into());
    record.insert("lines".into(), options.lines.into());
    record.insert("prepend_token".into(), options.prepend.into());
    record.insert("append_token".into(), options.append.into());
    record.insert("shard_tokens".into(), options.shard_tokens.into());
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
        "{sources:?}|{sizes:?}|{}|{}|{}|{:?}|{:?}|{}|{:?}{masks}",
        tokenizer.fingerprint(),
        options.text_field,
        options.lines,
        options.prepend,
        options.append,
        options.shard_tokens,
        options.on_error
    );
    format!(
        "{:016x}",
        xxhash_rust::xxh3::xxh3_64(description.as_bytes())
    )
}
