//! The identity of a dataset: one digest of its tokenizer and of every shard's rows, tokens
//! and checksum, equal for equal datasets wherever they live and different once any shard
//! changes. Loader states and epoch seeds are keyed by it.
//!
//! The digest is BLAKE2b-128 over the JSON text that Python's
//! `json.dumps({"tokenizer": …, "shards": [[rows, tokens, checksum], …]}, sort_keys=True)`
//! writes, hex-encoded: the definition datasets have been identified by since the first
//! release, kept byte for byte so that saved loader states and drawn epochs stay valid.

use blake2::digest::consts::U16;
use blake2::{Blake2b, Digest};
use serde_json::Value;

use super::ShardEntry;
use crate::json::write_python_string;

/// The fingerprint of a dataset whose manifest has the tokenizer entry `tokenizer` (as
/// written, unknown fields included) and the shards `shards`.
pub fn dataset_fingerprint(tokenizer: &Value, shards: &[ShardEntry]) -> String {
    let mut text = String::from("{\"shards\": ");
    write_separated(&mut text, '[', shards, ']', |shard, out| {
        out.push_str(&format!("[{}, {}, ", shard.rows, shard.tokens));
        write_python_string(out, &shard.checksum, true);
        out.push(']');
    });
    text.push_str(", \"tokenizer\": ");
    write_value(tokenizer, &mut text);
    text.push('}');
    let digest = Blake2b::<U16>::digest(text.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// `value` as `json.dumps(value, sort_keys=True)` writes it (default separators, ASCII only).
fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_python_string(out, s, true),
        Value::Array(items) => write_separated(out, '[', items, ']', write_value),
        Value::Object(map) => {
            // UTF-8 byte order is code point order, as Python sorts.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            write_separated(out, '{', keys, '}', |key, out| {
                write_python_string(out, key, true);
                out.push_str(": ");
                write_value(&map[key], out);
            });
        }
    }
}

/// `open`, each of `items` as `write_item` writes it with `", "` between them, `close`.
fn write_separated<T>(
    out: &mut String,
    open: char,
    items: impl IntoIterator<Item = T>,
    close: char,
    mut write_item: impl FnMut(T, &mut String),
) {
    out.push(open);
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_item(item, out);
    }
    out.push(close);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rows: u64, tokens: u64, checksum: &str) -> ShardEntry {
        ShardEntry {
            file: "ignored.arrow".into(),
            rows,
            tokens,
            bytes: 0,
            checksum: checksum.into(),
        }
    }

    #[test]
    fn equals_the_digest_saved_states_were_keyed_by() {
        // Computed with the former Python definition (blake2b over `json.dumps`).
        let tokenizer = serde_json::json!({
            "vocab_size": 2147483648u64,
            "fingerprint": "tök\u{2028}\u{1F600}\"x",
            "implementation": "bpe",
        });
        let shards = [
            entry(3, 10, "xxh3:0123456789abcdef"),
            entry(1, 7, "xxh3:fedcba9876543210"),
        ];
        assert_eq!(
            dataset_fingerprint(&tokenizer, &shards),
            "eb812017606985df6639814b06f638b0"
        );
        let changed = [entry(3, 10, "xxh3:0123456789abcdef"), entry(1, 7, "xxh3:0")];
        assert_ne!(
            dataset_fingerprint(&tokenizer, &changed),
            "eb812017606985df6639814b06f638b0"
        );
    }
}
