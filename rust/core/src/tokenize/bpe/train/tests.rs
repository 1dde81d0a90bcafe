//! Trainer tests: determinism, consistency with the encoder, options and corpus files.

use std::io::Write;

use super::*;
use crate::rng::SplitMix64;
use crate::tokenize::Tokenizer;

/// A deterministic corpus: random sentences over a small vocabulary with some unicode,
/// numbers and code-like punctuation.
fn corpus(documents: usize, seed: u64) -> Vec<String> {
    const WORDS: [&str; 24] = [
        "the", "pack", "token", "merge", "Vocab", "DON'T", "it's", "naïve", "東京", "😀", "x=1;",
        "def", "return", "(self)", "  ", "\n", "\t", "1234567", "über", "they're", "...", "ab",
        "aab", "bba",
    ];
    const LETTERS: [char; 12] = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'é', 'ü', 'x', 'y', 'z'];
    let mut rng = SplitMix64::new(seed);
    (0..documents)
        .map(|_| {
            let words = 5 + rng.below(60);
            (0..words)
                .map(|_| match rng.below(2) {
                    0 => WORDS[rng.below(WORDS.len())].to_owned(),
                    _ => (0..1 + rng.below(8))
                        .map(|_| LETTERS[rng.below(LETTERS.len())])
                        .collect(),
                })
                .collect::<Vec<String>>()
                .join(if rng.below(4) == 0 { "" } else { " " })
        })
        .collect()
}

fn options(vocab_size: u32, pattern: Pattern) -> TrainerOptions {
    TrainerOptions {
        vocab_size,
        special_tokens: vec!["<|endoftext|>".into()],
        pattern,
        min_frequency: 2,
    }
}

fn train_on(docs: &[String], options: TrainerOptions, threads: usize) -> BpeTokenizer {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut trainer = BpeTrainer::new(options).unwrap();
        for batch in docs.chunks(37) {
            trainer.feed(batch).unwrap();
        }
        trainer.train().unwrap()
    })
}

#[test]
fn training_is_deterministic_across_threads_and_document_order() {
    let docs = corpus(400, 1);
    let mut reversed = docs.clone();
    reversed.reverse();
    for pattern in [Pattern::Gpt2, Pattern::Llama3] {
        let one = train_on(&docs, options(600, pattern.clone()), 1);
        let four = train_on(&reversed, options(600, pattern), 4);
        assert_eq!(one.to_json(), four.to_json());
    }
}

#[test]
fn every_learned_token_encodes_to_itself() {
    // Encoding applies merges by rank; training applied them in the same order, so each
    // token's own bytes must merge back into exactly that token.
    let docs = corpus(300, 2);
    let tokenizer = train_on(&docs, options(1000, Pattern::Gpt2), 2);
    let merges = json_merges(&tokenizer);
    assert!(merges > 300, "only {merges} merges learned");
    for id in 256..256 + merges as u32 {
        let bytes = tokenizer.decode(&[id]).unwrap();
        assert_eq!(
            tokenizer.encode_piece(&bytes),
            [id],
            "token {id} = {bytes:?}"
        );
    }
}

#[test]
fn vocabulary_layout() {
    let docs = corpus(300, 3);
    let tokenizer = train_on(&docs, options(700, Pattern::Gpt2), 2);
    assert_eq!(tokenizer.vocab_size(), 700);
    assert_eq!(json_merges(&tokenizer), 700 - 256 - 1);
    assert_eq!(tokenizer.token_to_id("<|endoftext|>"), Some(699));
    for b in 0..=255u8 {
        assert_eq!(tokenizer.decode(&[u32::from(b)]).unwrap(), [b]);
    }
    // Too few pairs reach min_frequency: training stops early, specials follow the merges.
    let mut small = options(5000, Pattern::Gpt2);
    small.min_frequency = 1_000_000;
    let tokenizer = train_on(&docs, small, 1);
    assert_eq!(json_merges(&tokenizer), 0);
    assert_eq!(tokenizer.token_to_id("<|endoftext|>"), Some(256));
}

fn json_merges(tokenizer: &BpeTokenizer) -> usize {
    let value: serde_json::Value = serde_json::from_str(tokenizer.to_json()).unwrap();
    value["model"]["merges"].as_array().unwrap().len()
}

#[test]
fn bad_options_are_refused() {
    let bad = |options: TrainerOptions, expected: &str| {
        let error = BpeTrainer::new(options).err().unwrap().to_string();
        assert!(error.contains(expected), "{error}");
    };
    bad(options(256, Pattern::Gpt2), "vocab_size must be in 257..=");
    let mut twice = options(300, Pattern::Gpt2);
    twice.special_tokens.push("<|endoftext|>".into());
    bad(
        twice,
        "special_tokens [1] = \"<|endoftext|>\" is listed twice",
    );
    let mut byte = options(300, Pattern::Gpt2);
    byte.special_tokens = vec!["Ġ".into()];
    bad(byte, "is spelled like a byte token");
    bad(
        options(300, Pattern::Custom("(".into())),
        "pattern is not a valid regex",
    );
}

#[test]
fn corpus_files() {
    let dir = std::env::temp_dir().join(format!("seqpack-bpe-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(bytes)
            .unwrap();
        path
    };
    let good = write(
        "good.jsonl",
        b"{\"text\": \"hello world\", \"source\": 1}\n\n{\"text\": \"hi\"}\r\n",
    );
    let plain = write("plain.txt", "one document\nof two lines\n".as_bytes());
    let mut trainer = BpeTrainer::new(options(300, Pattern::Gpt2)).unwrap();
    let mut seen = Vec::new();
    trainer
        .feed_file(&good, &mut |n| {
            seen.push(n);
            Ok(())
        })
        .unwrap();
    trainer
        .feed_file(&plain, &mut |n| {
            seen.push(n);
            Ok(())
        })
        .unwrap();
    assert_eq!((trainer.documents(), trainer.bytes()), (3, 13 + 26));
    assert_eq!(seen.last(), Some(&26));

    let cases: [(&str, &[u8], &str); 5] = [
        (
            "a.jsonl",
            b"{\"text\": \"ok\"}\n{\"text\": 5}\n",
            "a.jsonl:2: \"text\" is not a string: 5",
        ),
        (
            "b.jsonl",
            b"{\"text\": \"ok\"}\n\n{\"body\": \"x\"}\n",
            "b.jsonl:3: no \"text\" field",
        ),
        (
            "c.jsonl",
            b"{\"text\": \"ok\"\n",
            "c.jsonl:1: not a JSON object",
        ),
        (
            "d.jsonl",
            b"{\"text\": \"ok\"}\n{\"text\": \"\xff\"}\n",
            "d.jsonl:2: not valid UTF-8 (byte 11 of the line)",
        ),
        (
            "e.txt",
            b"fine\nstill fine\nbad \xc3(\n",
            "e.txt:3: not valid UTF-8",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = write(name, bytes);
        let error = trainer
            .feed_file(&path, &mut |_| Ok(()))
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains(expected), "{error}");
    }
    let missing = trainer
        .feed_file(&dir.join("missing.jsonl"), &mut |_| Ok(()))
        .err()
        .unwrap();
    assert!(matches!(missing, Error::Io { .. }), "{missing}");
    std::fs::remove_dir_all(&dir).unwrap();
}
