//! Whole-tokenizer tests: round trips, `tokenizer.json` reading and its errors, fingerprints.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::train::{BpeTrainer, Pattern, TrainerOptions};
use super::*;
use crate::Error;
use crate::tokenize::Tokenizer;

const CORPUS: &str = "The quick brown fox jumps over the lazy dog. DON'T panic; it's 2024!\n\
    def encode(self, text):\n    return [self.vocab[t] for t in text.split()]\n\n\
    Ça va? Größe: 12,5 cm. 東京は大きい。 مرحبا بالعالم 😀👍🏽 e\u{301}\r\n\t\tend   ";

fn trained(pattern: Pattern, specials: &[&str]) -> BpeTokenizer {
    let mut trainer = BpeTrainer::new(TrainerOptions {
        vocab_size: 400,
        special_tokens: specials.iter().map(|s| s.to_string()).collect(),
        pattern,
        min_frequency: 1,
    })
    .unwrap();
    trainer.feed(&[CORPUS; 3]).unwrap();
    trainer.train().unwrap()
}

fn json_of(tokenizer: &BpeTokenizer) -> Value {
    serde_json::from_str(tokenizer.to_json()).unwrap()
}

fn load(value: &Value) -> crate::Result<BpeTokenizer> {
    BpeTokenizer::from_json(&value.to_string())
}

fn round_trip(tokenizer: &BpeTokenizer, text: &str) {
    let ids = tokenizer.encode(text, false).unwrap();
    assert_eq!(tokenizer.decode(&ids).unwrap(), text.as_bytes(), "{text:?}");
}

#[test]
fn training_text_round_trips_and_compresses() {
    for pattern in [Pattern::Gpt2, Pattern::Llama3] {
        let tokenizer = trained(pattern, &["<|endoftext|>"]);
        round_trip(&tokenizer, CORPUS);
        let ids = tokenizer.encode(CORPUS, false).unwrap();
        assert!(ids.len() * 3 < CORPUS.len(), "{} tokens", ids.len());
    }
}

#[test]
fn special_tokens_are_cut_out_and_decode_to_their_content() {
    let tokenizer = trained(Pattern::Gpt2, &["<|endoftext|>", "<pad>"]);
    let eot = tokenizer.token_to_id("<|endoftext|>").unwrap();
    let pad = tokenizer.token_to_id("<pad>").unwrap();
    assert_eq!((eot, pad), (398, 399));
    let ids = tokenizer
        .encode("fox<|endoftext|><pad> fox", false)
        .unwrap();
    let fox = tokenizer.encode("fox", false).unwrap();
    assert_eq!(ids[..fox.len()], fox[..]);
    assert_eq!(ids[fox.len()..fox.len() + 2], [eot, pad]);
    round_trip(&tokenizer, "a<|endoftext|>b<pad><|endoftext|");
}

#[test]
fn batch_encoding_equals_one_by_one() {
    let tokenizer = trained(Pattern::Llama3, &[]);
    let texts: Vec<String> = (0..200)
        .map(|i| format!("{i} {}", &CORPUS[..i % 50]))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = tokenizer.encode_batch(&refs, false).unwrap();
    for (text, ids) in texts.iter().zip(&batch) {
        assert_eq!(&tokenizer.encode(text, false).unwrap(), ids);
    }
}

#[test]
fn token_strings_and_ids() {
    let tokenizer = trained(Pattern::Gpt2, &["<|endoftext|>"]);
    assert_eq!(tokenizer.vocab_size(), 400);
    assert_eq!(tokenizer.token_to_id("Ġ"), Some(u32::from(b' ')));
    assert_eq!(
        tokenizer.id_to_token(u32::from(b'\n')),
        Some("Ċ".to_owned())
    );
    let the = tokenizer
        .token_to_id("Ġthe")
        .expect("' the' is frequent in the corpus");
    assert_eq!(tokenizer.decode(&[the]).unwrap(), b" the");
    assert_eq!(tokenizer.id_to_token(400), None);
    match tokenizer.decode(&[1, 400]) {
        Err(Error::UnknownTokenId {
            index: 1,
            id: 400,
            vocab_size: 400,
        }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn template_adds_special_tokens_only_when_asked() {
    let mut value = json_of(&trained(Pattern::Gpt2, &["<s>", "</s>"]));
    value["post_processor"] = json!({
        "type": "Sequence",
        "processors": [
            {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                        {"SpecialToken": {"id": "</s>", "type_id": 0}}],
             "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [398], "tokens": ["<s>"]},
                                            "</s>": {"id": "</s>", "ids": [399], "tokens": ["</s>"]}}}
        ]
    });
    let tokenizer = load(&value).unwrap();
    let plain = tokenizer.encode("fox", false).unwrap();
    let wrapped = tokenizer.encode("fox", true).unwrap();
    assert_eq!(wrapped, [&[398][..], &plain, &[399]].concat());
}

#[test]
fn prefix_space_and_ignore_merges() {
    let mut value = json_of(&trained(Pattern::Gpt2, &["<s>"]));
    value["pre_tokenizer"]["add_prefix_space"] = json!(true);
    let tokenizer = load(&value).unwrap();
    let spaced = trained(Pattern::Gpt2, &["<s>"]);
    // Each stretch between added tokens gets its own leading space.
    assert_eq!(
        tokenizer.encode("fox<s>dog", false).unwrap(),
        spaced.encode(" fox<s> dog", false).unwrap()
    );

    let mut value = json_of(&spaced);
    value["model"]["ignore_merges"] = json!(true);
    let vocab = value["model"]["vocab"].as_object_mut().unwrap();
    vocab.insert("Ġfoxes".into(), json!(400));
    let tokenizer = load(&value).unwrap();
    assert_eq!(tokenizer.encode(" foxes", false).unwrap(), [400]);
}

#[test]
fn unsupported_files_say_what_is_unsupported() {
    let base = json_of(&trained(Pattern::Gpt2, &[]));
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/model/type",
            json!("WordPiece"),
            "model \"WordPiece\" is not supported",
        ),
        (
            "/normalizer",
            json!({"type": "NFC"}),
            "normalizer: normalizer \"NFC\" is not supported",
        ),
        (
            "/pre_tokenizer",
            json!({"type": "Metaspace", "replacement": "▁"}),
            "pre-tokenizer \"Metaspace\"",
        ),
        (
            "/pre_tokenizer",
            Value::Null,
            "without a ByteLevel pre-tokenizer",
        ),
        (
            "/model/byte_fallback",
            json!(true),
            "model.byte_fallback: byte_fallback is not supported",
        ),
        ("/model/dropout", json!(0.1), "BPE dropout 0.1"),
        (
            "/decoder",
            json!({"type": "WordPiece"}),
            "decoder \"WordPiece\"",
        ),
        (
            "/post_processor",
            json!({"type": "Sequence", "processors": [
                {"type": "BertProcessing", "sep": ["a", 97], "cls": ["b", 98]},
                {"type": "RobertaProcessing", "sep": ["a", 97], "cls": ["b", 98]}]}),
            "post-processor \"RobertaProcessing\" in a sequence",
        ),
        (
            "/truncation",
            json!({"max_length": 5}),
            "truncation inside the tokenizer",
        ),
        (
            "/pre_tokenizer",
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": "\\d"}, "behavior": "Removed", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}),
            "pre_tokenizer.pretokenizers[0].behavior: Split behavior \"Removed\"",
        ),
    ];
    for (pointer, replacement, expected) in cases {
        let mut value = base.clone();
        *value.pointer_mut(pointer).unwrap() = replacement;
        let error = load(&value).err().expect(pointer);
        assert!(
            matches!(error, Error::UnsupportedTokenizer { .. }),
            "{error}"
        );
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[test]
fn malformed_files_name_the_field() {
    let base = json_of(&trained(Pattern::Gpt2, &[]));
    let mut bad_merge = base.clone();
    bad_merge["model"]["merges"][3] = json!("Ġ x y");
    let mut unknown_merge = base.clone();
    unknown_merge["model"]["merges"][5] = json!(["Ġ", "nonexistent"]);
    let mut bad_id = base.clone();
    bad_id["model"]["vocab"]["a"] = json!(-1);
    let mut not_a_pair = base.clone();
    not_a_pair["model"]["merges"][2] = json!(["Ġ", 7]);
    let mut not_a_merge = base.clone();
    not_a_merge["model"]["merges"][4] = json!({"left": "Ġ"});
    let mut no_model = base.clone();
    no_model.as_object_mut().unwrap().remove("model");
    for (value, expected) in [
        (
            not_a_pair,
            "model.merges[2]: expected a pair of token strings",
        ),
        (
            not_a_merge,
            "model.merges[4]: expected a string or a pair, got an object",
        ),
        (
            bad_merge,
            "model.merges[3]: expected two tokens separated by one space",
        ),
        (
            unknown_merge,
            "model.merges[5]: \"nonexistent\" is not in model.vocab",
        ),
        (
            bad_id,
            "model.vocab[\"a\"]: expected a non-negative integer id",
        ),
        (no_model, "model: missing"),
    ] {
        let error = load(&value).err().unwrap();
        assert!(matches!(error, Error::InvalidTokenizer { .. }), "{error}");
        assert!(error.to_string().contains(expected), "{error}");
    }
    let error = BpeTokenizer::from_json("{not json").err().unwrap();
    assert!(
        error
            .to_string()
            .starts_with("tokenizer JSON: (document): not valid JSON"),
        "{error}"
    );
}

#[test]
fn fingerprint_follows_behaviour_not_formatting() {
    let tokenizer = trained(Pattern::Gpt2, &["<|endoftext|>"]);
    let value = json_of(&tokenizer);
    let reformatted = serde_json::to_string_pretty(&value).unwrap();
    assert_eq!(
        BpeTokenizer::from_json(&reformatted).unwrap().fingerprint(),
        tokenizer.fingerprint()
    );
    assert_eq!(tokenizer.fingerprint().len(), 16);

    let mut fewer_merges = value.clone();
    fewer_merges["model"]["merges"]
        .as_array_mut()
        .unwrap()
        .pop();
    let mut other_pattern = value.clone();
    other_pattern["pre_tokenizer"]["add_prefix_space"] = json!(true);
    let mut not_special = value;
    not_special["added_tokens"][0]["special"] = json!(false);
    for changed in [fewer_merges, other_pattern, not_special] {
        assert_ne!(
            load(&changed).unwrap().fingerprint(),
            tokenizer.fingerprint()
        );
    }
}

#[test]
fn merges_as_pairs_and_escaped_tokens_load_as_written() {
    let tokenizer = trained(Pattern::Gpt2, &["<|endoftext|>"]);
    let mut value = json_of(&tokenizer);
    // The same merges as `"left right"` strings, the older spelling.
    for merge in value["model"]["merges"].as_array_mut().unwrap() {
        let [left, right] = merge.as_array().unwrap().as_slice() else {
            panic!("a merge is written as a pair");
        };
        *merge = json!(format!(
            "{} {}",
            left.as_str().unwrap(),
            right.as_str().unwrap()
        ));
    }
    let joined = load(&value).unwrap();
    assert_eq!(joined.fingerprint(), tokenizer.fingerprint());
    // Escaped token strings (the parser cannot borrow those) read as their plain spelling.
    let escaped = tokenizer.to_json().replace("\"Ġ\"", "\"\\u0120\"");
    assert_ne!(escaped, tokenizer.to_json());
    let escaped = BpeTokenizer::from_json(&escaped).unwrap();
    assert_eq!(escaped.fingerprint(), tokenizer.fingerprint());
    for text in [CORPUS, " the end"] {
        assert_eq!(
            escaped.encode(text, false).unwrap(),
            tokenizer.encode(text, false).unwrap()
        );
    }
}

#[test]
fn tokens_that_share_an_id_are_all_found() {
    let tokenizer = trained(Pattern::Gpt2, &[]);
    let id = tokenizer.token_to_id("a").unwrap();
    let mut value = json_of(&tokenizer);
    value["model"]["vocab"]["an alias"] = json!(id);
    let shared = load(&value).unwrap();
    assert_eq!(shared.token_to_id("a"), Some(id));
    assert_eq!(shared.token_to_id("an alias"), Some(id));
    assert!(["a", "an alias"].contains(&shared.id_to_token(id).unwrap().as_str()));
    assert_eq!(shared.vocab_size(), tokenizer.vocab_size());
    // The fingerprint does not depend on which of the two the id table keeps.
    assert_eq!(load(&value).unwrap().fingerprint(), shared.fingerprint());
    assert_ne!(shared.fingerprint(), tokenizer.fingerprint());
}

/// Text with every kind of character the pre-tokenizers treat differently, plus special
/// tokens and fragments of them.
fn text() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        4 => any::<String>(),
        2 => "[ \\t\\n\\r]{1,6}",
        2 => "(?i)(don't|it's|we're|i'll|a'd|'ve|'m)",
        1 => Just("<|endoftext|>".to_owned()),
        1 => Just("<|endoftext".to_owned()),
        2 => "[0-9]{1,7}",
        2 => "\\PC{1,8}",
    ];
    prop::collection::vec(part, 0..8).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn decode_inverts_encode(text in text()) {
        thread_local! {
            static TOKENIZERS: [BpeTokenizer; 2] = [
                trained(Pattern::Gpt2, &["<|endoftext|>"]),
                trained(Pattern::Llama3, &["<|endoftext|>"]),
            ];
        }
        TOKENIZERS.with(|tokenizers| {
            for tokenizer in tokenizers {
                let ids = tokenizer.encode(&text, false).unwrap();
                prop_assert_eq!(tokenizer.decode(&ids).unwrap(), text.as_bytes());
            }
            Ok(())
        })?;
    }
}
