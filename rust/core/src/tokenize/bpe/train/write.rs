//! Writing a trained tokenizer as a HuggingFace `tokenizer.json`: BPE model, ByteLevel
//! pre-tokenizer (GPT-2's pattern) or Split + ByteLevel (any other pattern), ByteLevel
//! decoder, and the special tokens as added tokens that are also in the model's vocabulary
//! (as GPT-2's `<|endoftext|>` is), so HF gives them the same ids.

use std::fmt::Write;

use super::merge::Learned;
use crate::tokenize::bpe::bytes::to_token_string;
use crate::tokenize::bpe::pretokenize::GPT2_PATTERN;

/// A JSON string literal.
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("strings always serialize")
}

pub(crate) fn tokenizer_json(learned: &Learned, specials: &[String], pattern: &str) -> String {
    let strings: Vec<String> = learned.tokens.iter().map(|t| to_token_string(t)).collect();
    let first_special = strings.len();
    let mut out = String::with_capacity(64 * strings.len());
    out.push_str("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n");
    out.push_str("  \"added_tokens\": [");
    for (i, special) in specials.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(
            out,
            "{sep}\n    {{\"id\": {}, \"content\": {}, \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}}",
            first_special + i,
            quote(special)
        );
    }
    out.push_str(if specials.is_empty() {
        "],\n"
    } else {
        "\n  ],\n"
    });
    out.push_str("  \"normalizer\": null,\n");
    if pattern == GPT2_PATTERN {
        out.push_str("  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},\n");
    } else {
        let _ = writeln!(
            out,
            "  \"pre_tokenizer\": {{\"type\": \"Sequence\", \"pretokenizers\": [{{\"type\": \"Split\", \"pattern\": {{\"Regex\": {}}}, \"behavior\": \"Isolated\", \"invert\": false}}, {{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}}]}},",
            quote(pattern)
        );
    }
    out.push_str("  \"post_processor\": null,\n");
    out.push_str("  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n");
    out.push_str("  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n    \"vocab\": {");
    let vocab = strings
        .iter()
        .map(String::as_str)
        .chain(specials.iter().map(String::as_str));
    for (id, token) in vocab.enumerate() {
        let sep = if id == 0 { "" } else { "," };
        let _ = write!(out, "{sep}\n      {}: {id}", quote(token));
    }
    out.push_str("\n    },\n    \"merges\": [");
    for (i, &(left, right)) in learned.merges.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let (left, right) = (&strings[left as usize], &strings[right as usize]);
        let _ = write!(out, "{sep}\n      [{}, {}]", quote(left), quote(right));
    }
    out.push_str(if learned.merges.is_empty() {
        "]\n  }\n}\n"
    } else {
        "\n    ]\n  }\n}\n"
    });
    out
}
