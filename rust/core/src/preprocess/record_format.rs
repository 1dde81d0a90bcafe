//! What the records of an input file are: plain text, conversations (`messages`), or
//! `prompt`/`completion` pairs. Forced by an option, or detected once per file from its
//! first record (JSONL) or its columns (Arrow, Parquet), before the run starts, so that a
//! resumed run sees the same formats.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::arrow_input;
use super::input::{Format, format_of};
use crate::choice::names;
use crate::{Error, Result};

names! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    #[derive(serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum RecordFormat parsed as "format" {
        /// A text field (or line, or file) tokenized as it is, every token trained on.
        Text => "text",
        /// A conversation: `messages`, a list of `{role, content}`, through a chat template.
        Messages => "messages",
        /// `prompt` and `completion` strings, the completion trained on.
        PromptCompletion => "prompt-completion",
    }
}

/// The names of the formats, as options and manifests spell them.
pub const RECORD_FORMATS: &[(&str, RecordFormat)] = RecordFormat::NAMES;

impl RecordFormat {
    /// The fields (columns) that hold a record of this format.
    pub(crate) fn record_fields(self) -> &'static [&'static str] {
        match self {
            RecordFormat::Text => &[],
            RecordFormat::Messages => &["messages", "tools"],
            RecordFormat::PromptCompletion => &["prompt", "completion"],
        }
    }

    /// The format a record with these field names has: `messages` wins over `prompt`,
    /// which wins over plain text.
    fn of_fields<'a>(mut names: impl Iterator<Item = &'a str> + Clone) -> Self {
        if names.clone().any(|name| name == "messages") {
            RecordFormat::Messages
        } else if names.any(|name| name == "prompt") {
            RecordFormat::PromptCompletion
        } else {
            RecordFormat::Text
        }
    }
}

/// The format of each input: `forced`, or detected. A file that cannot be read is plain
/// text here; opening it later reports (or counts) it in order with the others.
pub(crate) fn formats_of(
    inputs: &[std::path::PathBuf],
    forced: Option<RecordFormat>,
) -> Vec<RecordFormat> {
    inputs
        .iter()
        .map(|path| forced.unwrap_or_else(|| detect(path).unwrap_or(RecordFormat::Text)))
        .collect()
}

/// The format of `path` from its first record (JSONL) or its columns (Arrow, Parquet);
/// `.txt` files are plain text.
fn detect(path: &Path) -> Result<RecordFormat> {
    match format_of(path)? {
        Format::Text => Ok(RecordFormat::Text),
        Format::Arrow | Format::Parquet => {
            let names = arrow_input::column_names(path)?;
            Ok(RecordFormat::of_fields(names.iter().map(String::as_str)))
        }
        Format::Jsonl => {
            let Some(line) = first_record(path)? else {
                return Ok(RecordFormat::Text);
            };
            let record: serde_json::Value =
                serde_json::from_slice(&line).unwrap_or(serde_json::Value::Null);
            let names = record.as_object().map(|object| object.keys());
            Ok(match names {
                Some(names) => RecordFormat::of_fields(names.map(String::as_str)),
                None => RecordFormat::Text,
            })
        }
    }
}

/// The first line of a JSONL file (decompressed) that is not blank.
fn first_record(path: &Path) -> Result<Option<Vec<u8>>> {
    let io = |e| Error::io(path, e);
    let file = std::fs::File::open(path).map_err(io)?;
    let name = path.to_string_lossy();
    let reader: Box<dyn Read> = if name.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(file).map_err(io)?)
    } else {
        Box::new(file)
    };
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
            return Ok(None);
        }
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line);
        if !line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some(line.to_vec()));
        }
    }
}
