//! The one interface: `load` picks the implementation a file needs, and every implementation
//! refuses the same bad ids.

use super::ast::{AstTokenizer, Language};
use super::bpe::{BpeTrainer, Pattern, TrainerOptions};
use super::*;
use crate::Error;

fn byte_level_bpe() -> String {
    let mut trainer = BpeTrainer::new(TrainerOptions {
        vocab_size: 300,
        special_tokens: vec!["<|endoftext|>".into()],
        pattern: Pattern::from_name_or_regex("gpt2"),
        min_frequency: 1,
    })
    .unwrap();
    trainer.feed(&["hello world, hello there"; 3]).unwrap();
    trainer.train().unwrap().to_json().to_owned()
}

fn ast_bpe() -> String {
    let (tokenizer, _) =
        AstTokenizer::train(&["x = 1\ny = x + 1\n"; 2], Language::Python, 270, vec![], 1).unwrap();
    tokenizer.to_json().to_owned()
}

/// A file seqpack does not encode itself.
const WORD_PIECE: &str = r###"{"version": "1.0", "truncation": null, "padding": null,
    "added_tokens": [], "normalizer": null, "pre_tokenizer": {"type": "Whitespace"},
    "post_processor": null, "decoder": null,
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100, "vocab": {"[UNK]": 0, "a": 1, "b": 2, "##b": 3}}}"###;

#[test]
fn load_picks_the_implementation_the_file_needs() {
    for (json, expected) in [
        (byte_level_bpe(), Implementation::Bpe),
        (ast_bpe(), Implementation::AstBpe),
        (WORD_PIECE.to_owned(), Implementation::Hf),
    ] {
        let tokenizer = from_json(&json, None).unwrap();
        assert_eq!(tokenizer.implementation(), expected);
        assert_eq!(tokenizer.to_json(), json);
        // Asking for the implementation it picked gives the same tokenizer.
        let chosen = from_json(&json, Some(expected)).unwrap();
        assert_eq!(chosen.fingerprint(), tokenizer.fingerprint());
    }
    let wordpiece = from_json(WORD_PIECE, None).unwrap();
    assert_eq!(wordpiece.encode("a ab", false).unwrap(), [1, 1, 3]);
    assert_eq!(wordpiece.language(), None);
    let ast = from_json(&ast_bpe(), None).unwrap();
    assert_eq!(ast.language(), Some(Language::Python));
    assert_eq!(ast.parse_fallbacks(), Some(0));
}

#[test]
fn a_required_implementation_refuses_what_it_does_not_support() {
    for required in [Implementation::Bpe, Implementation::AstBpe] {
        let error = from_json(WORD_PIECE, Some(required)).err().unwrap();
        assert!(
            matches!(error, Error::UnsupportedTokenizer { .. }),
            "{required:?}: {error}"
        );
        if required == Implementation::Bpe {
            assert!(error.to_string().contains("model.type"), "{error}");
        }
    }
    // A malformed file is an error of the fast path's reader, not a reason to fall back.
    let error = from_json("{oops", None).err().unwrap();
    assert!(matches!(error, Error::InvalidTokenizer { .. }), "{error}");
}

#[test]
fn every_implementation_refuses_an_id_that_stands_for_nothing() {
    for json in [byte_level_bpe(), ast_bpe(), WORD_PIECE.to_owned()] {
        let tokenizer = from_json(&json, None).unwrap();
        let size = tokenizer.vocab_size();
        let error = tokenizer.decode(&[0, 1, size]).err().unwrap();
        assert!(
            matches!(error, Error::UnknownTokenId { index: 2, id, .. } if id == size),
            "{:?}: {error}",
            tokenizer.implementation()
        );
    }
}

#[test]
fn implementation_names_round_trip() {
    for implementation in Implementation::ALL {
        assert_eq!(
            implementation.name().parse::<Implementation>().unwrap(),
            implementation
        );
    }
    assert!("sentencepiece".parse::<Implementation>().is_err());
}
