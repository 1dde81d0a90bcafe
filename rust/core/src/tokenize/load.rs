//! Reading a `tokenizer.json` once and choosing its implementation: byte-level BPE by
//! seqpack's own reader whenever it supports the file; otherwise AST-BPE when the model says
//! so, and the `tokenizers` crate for anything else.

use std::borrow::Cow;
use std::path::Path;

use serde::Deserialize;

use super::ast::AstTokenizer;
use super::bpe::BpeTokenizer;
use super::hf::HfTokenizer;
use super::{Implementation, Tokenizer};
use crate::{Error, Result};

/// Reads a `tokenizer.json` (or an AST-BPE file). With `implementation`, only that one is
/// tried, and a file it does not support is an error; without, the first that supports it.
pub fn load(path: &Path, implementation: Option<Implementation>) -> Result<Box<dyn Tokenizer>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let name = path.display().to_string();
    let json = String::from_utf8(bytes).map_err(|e| Error::InvalidTokenizer {
        path: name.clone(),
        at: format!("byte {}", e.utf8_error().valid_up_to()),
        message: "not valid UTF-8".into(),
    })?;
    from_json_named(&json, &name, implementation)
}

/// [`load`] from the text of a `tokenizer.json`.
pub fn from_json(json: &str, implementation: Option<Implementation>) -> Result<Box<dyn Tokenizer>> {
    from_json_named(json, "tokenizer JSON", implementation)
}

/// `name` stands for the document in error messages.
fn from_json_named(
    json: &str,
    name: &str,
    implementation: Option<Implementation>,
) -> Result<Box<dyn Tokenizer>> {
    let chosen = match implementation {
        Some(chosen) => chosen,
        // The fast path reads the common case at no extra cost; only what it refuses is
        // looked at again.
        None => match BpeTokenizer::from_json_named(json, name) {
            Ok(bpe) => return Ok(Box::new(bpe)),
            Err(Error::UnsupportedTokenizer { .. })
                if model_type(json).as_deref() == Some(AstTokenizer::MODEL_TYPE) =>
            {
                Implementation::AstBpe
            }
            Err(Error::UnsupportedTokenizer { .. }) => Implementation::Hf,
            Err(error) => return Err(error),
        },
    };
    Ok(match chosen {
        Implementation::Bpe => Box::new(BpeTokenizer::from_json_named(json, name)?),
        Implementation::AstBpe => Box::new(AstTokenizer::from_json_named(json, name)?),
        Implementation::Hf => Box::new(HfTokenizer::from_json(json)?),
    })
}

/// Why a vocabulary's ids cannot be loaded, if they cannot: tables indexed by id are as long
/// as the largest id, so one id near `u32::MAX` among a few tokens would cost gigabytes.
/// Real vocabularies are dense (a few holes at most), so ids far beyond the number of
/// tokens are refused instead.
pub(crate) fn sparse_ids(largest: u32, tokens: usize) -> Option<String> {
    let allowed = (tokens as u64).saturating_mul(4).saturating_add(1 << 16);
    (u64::from(largest) >= allowed).then(|| {
        format!(
            "id {largest} is far beyond the {tokens} tokens of the vocabulary (at most \
             {} for them): ids must be (nearly) consecutive",
            allowed - 1
        )
    })
}

/// `model.type`, when the document has one.
fn model_type(json: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Document<'a> {
        #[serde(borrow)]
        model: Option<Model<'a>>,
    }
    #[derive(Deserialize)]
    struct Model<'a> {
        #[serde(rename = "type", borrow)]
        kind: Option<Cow<'a, str>>,
    }
    let document: Document<'_> = serde_json::from_str(json).ok()?;
    Some(document.model?.kind?.into_owned())
}
