//! Tokenizer files under mutation: real `tokenizer.json`s (byte-level BPE, AST-BPE and two
//! that go to the `tokenizers` crate) with bytes flipped, text cut short and JSON nodes
//! replaced, removed or repeated. Loading must return a tokenizer or an error, and every use
//! of a loaded one must return too: no panic, no crash, no hang, no unbounded allocation.
//!
//! `SEQPACK_MUTATIONS=100000 cargo test -p seqpack-core --profile ci mutated_tokenizer`
//! runs a long campaign; the default is short enough for every test run.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::mutation_runner::mutation_runner;

use super::ast::{AstTokenizer, Language};
use super::bpe::{BpeTrainer, Pattern, TrainerOptions};
use super::{Tokenizer, from_json};

const TEXTS: &[&str] = &[
    "hello world, hello there <|endoftext|>",
    "def f(x):\n    return x + 1\n",
    "Ça va? 東京 😀 e\u{301}\r\n\t",
    "",
];

fn byte_level_bpe() -> String {
    let mut trainer = BpeTrainer::new(TrainerOptions {
        vocab_size: 320,
        special_tokens: vec!["<|endoftext|>".into(), "<pad>".into()],
        pattern: Pattern::from_name_or_regex("gpt2"),
        min_frequency: 1,
    })
    .unwrap();
    trainer.feed(&[TEXTS[0], TEXTS[1], TEXTS[2]]).unwrap();
    trainer.train().unwrap().to_json().to_owned()
}

fn ast_bpe() -> String {
    let (tokenizer, _) = AstTokenizer::train(
        &["x = 1\ny = x + 1\n", TEXTS[1]],
        Language::Python,
        290,
        vec!["<|endoftext|>".into()],
        1,
    )
    .unwrap();
    tokenizer.to_json().to_owned()
}

/// WordPiece with BERT's pre-tokenizer, normalizer and template.
const WORD_PIECE: &str = r###"{"version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [{"id": 0, "content": "[UNK]", "single_word": false, "lstrip": false,
        "rstrip": false, "normalized": false, "special": true},
        {"id": 5, "content": "[CLS]", "single_word": false, "lstrip": false,
        "rstrip": false, "normalized": false, "special": true}],
    "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
        "strip_accents": null, "lowercase": true},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                   {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [5], "tokens": ["[CLS]"]}}},
    "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100,
              "vocab": {"[UNK]": 0, "hello": 1, "world": 2, "##s": 3, "x": 4, "[CLS]": 5}}}"###;

/// BPE over whitespace-split words (not byte-level, so the `tokenizers` crate runs it).
const WHITESPACE_BPE: &str = r###"{"version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [], "normalizer": {"type": "NFC"},
    "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null, "decoder": null,
    "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>",
              "continuing_subword_prefix": null, "end_of_word_suffix": null,
              "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
              "vocab": {"<unk>": 0, "h": 1, "e": 2, "l": 3, "o": 4, "he": 5, "ll": 6,
                        "hell": 7, "hello": 8},
              "merges": ["h e", "l l", "he ll", "hell o"]}}"###;

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: f64, xor: u8 },
    Truncate { keep: f64 },
    Replace { node: f64, value: usize },
    Remove { node: f64 },
    Repeat { node: f64, times: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0..1.0f64;
    prop_oneof![
        (at.clone(), 1..=255u8).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        at.clone().prop_map(|keep| Mutation::Truncate { keep }),
        (at.clone(), 0..REPLACEMENTS).prop_map(|(node, value)| Mutation::Replace { node, value }),
        at.clone().prop_map(|node| Mutation::Remove { node }),
        (at, 2..40usize).prop_map(|(node, times)| Mutation::Repeat { node, times }),
    ]
}

const REPLACEMENTS: usize = 16;

fn replacement(index: usize) -> Value {
    match index {
        0 => json!(null),
        1 => json!(-1),
        2 => json!(0),
        3 => json!(1),
        4 => json!(255),
        5 => json!(u32::MAX - 1),
        6 => json!(u64::MAX),
        7 => json!(1e300),
        8 => json!(""),
        9 => json!("x"),
        10 => json!("Ġ"),
        11 => json!([]),
        12 => json!({}),
        13 => json!(true),
        14 => json!([0, 0]),
        _ => json!("(?:a*)*b"),
    }
}

/// The JSON pointers of every node under `value` (the root excluded).
fn pointers(value: &Value, at: &str, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (escape(k), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return,
    };
    for (key, child) in children {
        let pointer = format!("{at}/{key}");
        pointers(child, &pointer, out);
        out.push(pointer);
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn pick(nodes: &[String], at: f64) -> Option<&str> {
    let index = ((nodes.len() as f64 * at) as usize).min(nodes.len().checked_sub(1)?);
    Some(&nodes[index])
}

/// `text` mutated; bytes that are no longer UTF-8 are replaced, as a file read with its
/// invalid bytes refused would be another (already tested) error.
fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for mutation in mutations {
        let position = |at: f64| ((bytes.len() as f64 * at) as usize).min(bytes.len() - 1);
        match *mutation {
            Mutation::Flip { at, xor } if !bytes.is_empty() => {
                let at = position(at);
                bytes[at] ^= xor;
            }
            Mutation::Truncate { keep } => bytes.truncate((bytes.len() as f64 * keep) as usize),
            Mutation::Replace { node, .. }
            | Mutation::Remove { node }
            | Mutation::Repeat { node, .. } => {
                let Ok(mut root) = serde_json::from_slice::<Value>(&bytes) else {
                    continue;
                };
                let mut nodes = Vec::new();
                pointers(&root, "", &mut nodes);
                let Some(pointer) = pick(&nodes, node).map(str::to_owned) else {
                    continue;
                };
                mutate_node(&mut root, &pointer, mutation);
                bytes = serde_json::to_vec(&root).unwrap();
            }
            Mutation::Flip { .. } => {}
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn mutate_node(root: &mut Value, pointer: &str, mutation: &Mutation) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match *mutation {
        Mutation::Replace { value, .. } => {
            if let Some(node) = root.pointer_mut(pointer) {
                *node = replacement(value);
            }
        }
        Mutation::Remove { .. } => match root.pointer_mut(parent) {
            Some(Value::Object(map)) => {
                map.remove(&key.replace("~1", "/").replace("~0", "~"));
            }
            Some(Value::Array(items)) => {
                if let Ok(index) = key.parse::<usize>() {
                    if index < items.len() {
                        items.remove(index);
                    }
                }
            }
            _ => {}
        },
        Mutation::Repeat { times, .. } => {
            // An array entry repeated (duplicate merges, tokens, template pieces); anything
            // else becomes a list of copies of itself.
            let node = root.pointer(pointer).cloned();
            match (root.pointer_mut(parent), node) {
                (Some(Value::Array(items)), Some(node)) => {
                    let index = key.parse::<usize>().unwrap_or(0).min(items.len());
                    for _ in 1..times {
                        items.insert(index, node.clone());
                    }
                }
                (_, Some(node)) => {
                    if let Some(slot) = root.pointer_mut(pointer) {
                        *slot = Value::Array(vec![node; times]);
                    }
                }
                _ => {}
            }
        }
        Mutation::Flip { .. } | Mutation::Truncate { .. } => unreachable!("not a node"),
    }
}

/// Loads `json` and, if it loads, uses every method on a few texts and ids.
fn load_and_use(json: &str) {
    let Ok(tokenizer) = from_json(json, None) else {
        return;
    };
    let vocab_size = tokenizer.vocab_size();
    for text in TEXTS {
        for special in [false, true] {
            if let Ok(ids) = tokenizer.encode(text, special) {
                let _ = tokenizer.decode(&ids);
            }
        }
    }
    let _ = tokenizer.encode_batch(TEXTS, true);
    for id in (0..vocab_size.min(400)).chain([vocab_size, u32::MAX]) {
        let _ = tokenizer.decode(&[id]);
        if let Some(token) = tokenizer.id_to_token(id) {
            std::hint::black_box(tokenizer.token_to_id(&token));
        }
    }
    std::hint::black_box((tokenizer.fingerprint(), tokenizer.to_json().len()));
}

#[test]
fn mutated_tokenizer_files_load_or_fail_without_a_panic() {
    let originals = [
        byte_level_bpe(),
        ast_bpe(),
        WORD_PIECE.to_owned(),
        WHITESPACE_BPE.to_owned(),
    ];
    for original in &originals {
        // Each unmutated file loads and encodes.
        let tokenizer = from_json(original, None).unwrap();
        assert!(!tokenizer.encode(TEXTS[0], false).unwrap().is_empty());
    }
    let mut runner = mutation_runner(400);
    let strategy = (
        0..originals.len(),
        proptest::collection::vec(mutation(), 1..4),
    );
    runner
        .run(&strategy, |(original, mutations)| {
            load_and_use(&apply(&originals[original], &mutations));
            Ok(())
        })
        .unwrap();
    eprintln!(
        "{} mutated tokenizer files loaded or refused",
        runner.config().cases
    );
}

#[test]
fn an_ast_bpe_file_that_doubles_one_token_is_refused_before_spelling_it() {
    let mut merges = vec![json!([97, 97])];
    merges.extend((0..40).map(|i| json!([256 + i, 256 + i])));
    let file = json!({"model": {"type": "AstBPE", "language": "python", "merges": merges}});
    let error = from_json(&file.to_string(), None).err().expect("refused");
    let message = error.to_string();
    assert!(message.contains("model.merges["), "{message}");
    assert!(message.contains("spell more than"), "{message}");
}

#[test]
fn an_id_far_beyond_the_vocabulary_is_refused_by_every_reader() {
    let byte_level: Value = serde_json::from_str(&byte_level_bpe()).unwrap();
    let mut sparse = byte_level.clone();
    sparse["model"]["vocab"]["Ġfar"] = json!((1u32 << 26) - 1);
    let mut hf: Value = serde_json::from_str(WORD_PIECE).unwrap();
    hf["model"]["vocab"]["far"] = json!(u32::MAX - 5);
    for file in [sparse, hf] {
        let error = from_json(&file.to_string(), None).err().expect("refused");
        assert!(error.to_string().contains("far beyond"), "{error}");
    }
    // Ids with a few holes still load.
    let mut holes = byte_level;
    holes["model"]["vocab"]["Ġnear"] = json!(1000);
    from_json(&holes.to_string(), None).unwrap();
}

#[test]
fn a_template_naming_a_special_token_the_file_lacks_is_an_error_not_a_panic() {
    // Found by the mutation test: the `tokenizers` crate asserts this while encoding.
    let mut file: Value = serde_json::from_str(WORD_PIECE).unwrap();
    file["post_processor"]["single"][0]["SpecialToken"]["id"] = json!("");
    let outcome = from_json(&file.to_string(), None).and_then(|t| t.encode("hello", true));
    let error = outcome.expect_err("refused at load or at encoding");
    assert!(
        error
            .to_string()
            .contains("tokenizers library cannot use it"),
        "{error}"
    );
}
