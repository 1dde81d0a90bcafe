//! Conversations and prompt/completion records through preprocess: formats detected or
//! forced, ids and loss masks stored and read back, the manifest's counts, bad records.

use std::sync::Arc;

use arrow_array::{ArrayRef, ListArray, RecordBatch, StringArray, StructArray};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Fields};

use super::fn_tokenizer::FnTokenizer;
use super::tests::{
    BYTES, assert_bad_records, assert_written, interrupt_when, one_input, resume, run, run_one,
    temp_dir, write,
};
use super::*;
use crate::chat::{
    ChatOptions, ChatTemplate, EncoderOptions, PromptCompletion, RecordEncoder, TrainOn,
};
use crate::shard;
use crate::shard::{Dataset, Verify};

/// A chat template for tests: each message becomes `<role>content`, the assistant's
/// messages (their tags too) trained on.
fn role_tags() -> ChatTemplate {
    let source = "{% for message in messages %}{% if message.role == 'assistant' %}\
        {% generation %}<assistant>{{ message.content }}{% endgeneration %}\
        {% else %}<{{ message.role }}>{{ message.content }}{% endif %}{% endfor %}";
    let options = ChatOptions {
        train_on: TrainOn::Assistant,
        ..ChatOptions::default()
    };
    ChatTemplate::new(source, options).unwrap()
}

/// Each run of ASCII letters or digits is one token, any other byte a token of its own:
/// words merge across a prompt/completion boundary that falls inside them.
const WORDS: FnTokenizer = FnTokenizer {
    encode: |text| {
        let id = |piece: &str| {
            if piece.len() == 1 {
                u32::from(piece.as_bytes()[0])
            } else {
                256 + (xxhash_rust::xxh3::xxh3_64(piece.as_bytes()) % (1 << 20)) as u32
            }
        };
        let mut ids = Vec::new();
        let mut start = 0;
        let bytes = text.as_bytes();
        while start < bytes.len() {
            let mut end = start + 1;
            if bytes[start].is_ascii_alphanumeric() {
                while end < bytes.len() && bytes[end].is_ascii_alphanumeric() {
                    end += 1;
                }
            }
            ids.push(id(&text[start..end]));
            start = end;
        }
        ids
    },
    decode: |_| unimplemented!("not needed by these tests"),
    vocab_size: 256 + (1 << 20),
    fingerprint: "words",
};

fn with_chat(options: PreprocessOptions) -> PreprocessOptions {
    let mut options = options;
    options.encoders.messages = Some(Arc::new(role_tags()));
    options
}

/// Every row's (tokens, mask), read through the validated `Dataset`.
fn masked_rows(out: &Path) -> Vec<(Vec<u32>, Vec<bool>)> {
    let dataset = Dataset::open(
        out,
        &Verify {
            contents: true,
            tokenizer_fingerprint: None,
        },
    )
    .unwrap();
    let store = dataset.store();
    (0..store.len())
        .map(|row| {
            let tokens = store.tokens(row).unwrap().to_vec();
            let mask = store.loss_mask(row).unwrap().expect("a loss mask");
            (tokens, mask.iter().map(|&m| m != 0).collect())
        })
        .collect()
}

fn bytes_of(text: &str) -> Vec<u32> {
    text.bytes().map(u32::from).collect()
}

#[test]
fn prompt_completion_records_train_on_the_completion_and_the_end_token() {
    let options = PreprocessOptions {
        prepend: Some(1),
        append: Some(2),
        ..PreprocessOptions::default()
    };
    let (out, manifest) = run_one(
        "prompt-completion",
        "pairs.jsonl",
        b"{\"prompt\": \"Q: 1+1?\\n\", \"completion\": \"2\"}\n\n{\"completion\": \"yes\", \"prompt\": \"ok?\"}\n",
        &options,
    );
    let rows = masked_rows(&out);
    let expected = [("Q: 1+1?\n", "2"), ("ok?", "yes")].map(|(prompt, completion)| {
        let tokens: Vec<u32> = [1]
            .into_iter()
            .chain(bytes_of(prompt))
            .chain(bytes_of(completion))
            .chain([2])
            .collect();
        let mask: Vec<bool> = std::iter::repeat_n(false, 1 + prompt.len())
            .chain(std::iter::repeat_n(true, completion.len() + 1))
            .collect();
        (tokens, mask)
    });
    assert_eq!(rows, expected);
    assert_eq!(manifest.format_version, shard::LOSS_MASK_FORMAT_VERSION);
    let info = manifest.loss_mask.as_ref().unwrap();
    assert_eq!(info.formats, ["prompt-completion"]);
    let fingerprint = PromptCompletion::new(TrainOn::Completion).fingerprint();
    assert_eq!(info.encoders["prompt-completion"], fingerprint);
    let trained: usize = expected
        .iter()
        .map(|(_, mask)| mask.iter().filter(|&&m| m).count())
        .sum();
    assert_eq!(info.counts.trained_tokens, trained as u64);
    assert_eq!(info.counts.records_with_nothing_to_train, 0);
    assert_eq!(info.counts.edges_inside_tokens, 0);
    assert_eq!(
        manifest.total_text_bytes,
        ("Q: 1+1?\n2".len() + "ok?yes".len()) as u64
    );
    // The manifest on disk says the same.
    assert_written(&out, &manifest);
}

/// The loss-mask counts stand in the manifest's `loss_mask` object beside `formats` and
/// `encoders`, as manifests have always had them; a manifest without them is refused, a
/// journal written before masks existed still reads.
#[test]
fn the_loss_mask_counts_keep_their_place_in_the_manifest() {
    let written = serde_json::json!({
        "formats": ["messages"],
        "encoders": {"messages": "0123456789abcdef"},
        "trained_tokens": 7,
        "records_with_nothing_to_train": 2,
        "edges_inside_tokens": 1,
    });
    let info: shard::LossMaskInfo = serde_json::from_value(written.clone()).unwrap();
    assert_eq!(
        info.counts,
        shard::LossMaskCounts {
            trained_tokens: 7,
            records_with_nothing_to_train: 2,
            edges_inside_tokens: 1,
        }
    );
    assert_eq!(serde_json::to_value(&info).unwrap(), written);
    let mut without_counts = written.clone();
    without_counts
        .as_object_mut()
        .unwrap()
        .remove("trained_tokens");
    assert!(serde_json::from_value::<shard::LossMaskInfo>(without_counts).is_err());
    let journal = serde_json::json!({
        "shards": [], "skipped": {}, "histogram": {"counts": [], "min": 0, "max": 0},
        "text_bytes": 0,
    });
    let older: Written = serde_json::from_value(journal).unwrap();
    assert_eq!(older.loss_mask, None);
}

#[test]
fn train_on_all_trains_the_prompt_too_and_changes_the_fingerprint() {
    let chat = EncoderOptions {
        train_on: Some(TrainOn::All),
        ..EncoderOptions::default()
    };
    let options = PreprocessOptions {
        encoders: crate::chat::record_encoders(&chat, &BYTES).unwrap(),
        ..PreprocessOptions::default()
    };
    let (out, manifest) = run_one(
        "train-all",
        "pairs.jsonl",
        b"{\"prompt\": \"ab\", \"completion\": \"c\"}\n",
        &options,
    );
    assert_eq!(masked_rows(&out), [(bytes_of("abc"), vec![true; 3])]);
    let info = manifest.loss_mask.unwrap();
    assert_ne!(
        info.encoders["prompt-completion"],
        PromptCompletion::new(TrainOn::Completion).fingerprint()
    );
}

#[test]
fn a_completion_that_merges_with_the_prompt_starts_at_the_first_token_that_differs() {
    // "SELECT a" + "bc FROM t": the prompt alone ends in the token "a", the whole text has
    // "abc" there, which holds the end of the prompt and is trained on (TRL's rule).
    let (input, out) = one_input(
        "edges",
        "pairs.jsonl",
        b"{\"prompt\": \"SELECT a\", \"completion\": \"bc FROM t\"}\n{\"prompt\": \"x \", \"completion\": \"y\"}\n",
    );
    let manifest = preprocess(
        &[input],
        &out,
        &WORDS,
        &PreprocessOptions::default(),
        &mut |_| Ok(()),
    )
    .unwrap();
    let rows = masked_rows(&out);
    let whole = WORDS.encode("SELECT abc FROM t", false).unwrap();
    assert_eq!(rows[0].0, whole);
    // SELECT, " " untrained; "abc", " ", "FROM", " ", "t" trained.
    assert_eq!(rows[0].1, [false, false, true, true, true, true, true]);
    assert_eq!(rows[1].1, [false, false, true]);
    let info = manifest.loss_mask.unwrap();
    assert_eq!(info.counts.edges_inside_tokens, 1);
    assert_eq!(info.counts.trained_tokens, 6);
}

#[test]
fn conversations_go_through_the_chat_encoder_and_plain_text_beside_them_is_trained_whole() {
    let dir = temp_dir("messages");
    let chat = write(
        &dir.join("chat.jsonl"),
        br#"{"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}
{"messages": [{"role": "user", "content": "only a question"}]}
"#,
    );
    let text = write(&dir.join("plain.jsonl"), b"{\"text\": \"abc\"}\n");
    let out = dir.join("out");
    let options = with_chat(PreprocessOptions {
        append: Some(2),
        ..PreprocessOptions::default()
    });
    let manifest = run(&[chat, text], &out, &options).unwrap();
    let rows = masked_rows(&out);
    let expected_ids: Vec<u32> = bytes_of("<system>S<user>hi<assistant>yo")
        .into_iter()
        .chain([2])
        .collect();
    assert_eq!(rows[0].0, expected_ids);
    let untrained = "<system>S<user>hi".len();
    let mask: Vec<bool> = std::iter::repeat_n(false, untrained)
        .chain(std::iter::repeat_n(true, "<assistant>yo".len() + 1))
        .collect();
    assert_eq!(rows[0].1, mask);
    // A conversation without an assistant turn trains on its end token only.
    assert_eq!(rows[1].1.iter().filter(|&&m| m).count(), 1);
    assert_eq!(
        rows[2],
        (
            bytes_of("abc").into_iter().chain([2]).collect(),
            vec![true; 4]
        )
    );
    let info = manifest.loss_mask.unwrap();
    assert_eq!(info.formats, ["messages", "text"]);
    assert_eq!(info.encoders["messages"], role_tags().fingerprint());
    assert!(!info.encoders.contains_key("text"));
}

#[test]
fn conversations_without_a_chat_template_are_refused_before_anything_is_written() {
    let (chat, out) = one_input(
        "no-template",
        "chat.jsonl",
        br#"{"messages": [{"role": "user", "content": "hi"}]}"#,
    );
    let error = run(&[chat], &out, &PreprocessOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("chat.jsonl") && message.contains("chat template"),
        "{message}"
    );
    assert!(!out.join(shard::MANIFEST).exists());
}

#[test]
fn bad_structured_records_name_file_and_line_or_are_counted_by_reason() {
    let (input, _) = one_input(
        "bad-structured",
        "pairs.jsonl",
        b"{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"completion\": \"b\"}\n{\"prompt\": \"a\", \"completion\": 3}\n{\"prompt\": \n",
    );
    let skipped = [
        ("malformed_json", 1),
        ("missing_field", 1),
        ("not_a_string", 1),
    ];
    assert_bad_records(
        &[input],
        &PreprocessOptions::default(),
        ("pairs.jsonl", 2, "missing_field"),
        1,
        &skipped,
    );
}

#[test]
fn a_forced_format_overrides_detection() {
    let options = PreprocessOptions {
        format: Some(RecordFormat::Text),
        ..PreprocessOptions::default()
    };
    // Detected as prompt/completion, forced to plain text: its `text` field is read.
    let (out, manifest) = run_one(
        "forced",
        "a.jsonl",
        b"{\"prompt\": \"p\", \"completion\": \"c\", \"text\": \"t\"}\n",
        &options,
    );
    assert!(manifest.loss_mask.is_none());
    assert_eq!(manifest.format_version, shard::FORMAT_VERSION);
    assert_eq!(manifest.total_tokens, 1);
    let written = std::fs::read_to_string(out.join(shard::MANIFEST)).unwrap();
    assert!(!written.contains("loss_mask"));
    let dataset = Dataset::open(&out, &Verify::default()).unwrap();
    assert_eq!(dataset.store().loss_mask(0).unwrap(), None);
}

/// A Parquet file of conversations as `list<struct<role, content>>`, and of prompt/completion
/// string columns, give the rows their JSONL twins give.
#[test]
fn parquet_columns_read_as_the_same_records_as_jsonl() {
    let dir = temp_dir("parquet-records");
    let conversations = [
        vec![("user", "hi"), ("assistant", "yo")],
        vec![("system", "S"), ("user", "q"), ("assistant", "a")],
    ];
    let (mut roles, mut contents, mut offsets) = (Vec::new(), Vec::new(), vec![0i32]);
    let mut jsonl = String::new();
    for conversation in &conversations {
        let messages: Vec<serde_json::Value> = conversation
            .iter()
            .map(|(role, content)| serde_json::json!({"role": role, "content": content}))
            .collect();
        jsonl.push_str(&serde_json::json!({ "messages": messages }).to_string());
        jsonl.push('\n');
        for (role, content) in conversation {
            roles.push(*role);
            contents.push(*content);
        }
        offsets.push(roles.len() as i32);
    }
    let fields = Fields::from(vec![
        Field::new("role", DataType::Utf8, false),
        Field::new("content", DataType::Utf8, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(roles)),
        Arc::new(StringArray::from(contents)),
    ];
    let structs = StructArray::new(fields.clone(), columns, None);
    let item = Arc::new(Field::new("item", DataType::Struct(fields), false));
    let messages = ListArray::new(
        item,
        OffsetBuffer::new(offsets.into()),
        Arc::new(structs),
        None,
    );
    let batch = RecordBatch::try_from_iter([
        ("messages", Arc::new(messages) as ArrayRef),
        (
            "id",
            Arc::new(StringArray::from(vec!["x", "y"])) as ArrayRef,
        ),
    ])
    .unwrap();
    let parquet_path = dir.join("chat.parquet");
    let file = std::fs::File::create(&parquet_path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let jsonl_path = write(&dir.join("chat.jsonl"), jsonl.as_bytes());
    let options = with_chat(PreprocessOptions::default());
    let (from_parquet, from_jsonl) = (dir.join("p"), dir.join("j"));
    run(&[parquet_path], &from_parquet, &options).unwrap();
    run(&[jsonl_path], &from_jsonl, &options).unwrap();
    let rows = masked_rows(&from_parquet);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows, masked_rows(&from_jsonl));

    // Prompt/completion string columns, in an Arrow IPC file.
    let batch = RecordBatch::try_from_iter([
        (
            "prompt",
            Arc::new(StringArray::from(vec!["ab"])) as ArrayRef,
        ),
        (
            "completion",
            Arc::new(StringArray::from(vec!["c"])) as ArrayRef,
        ),
    ])
    .unwrap();
    let arrow_path = dir.join("pairs.arrow");
    let file = std::fs::File::create(&arrow_path).unwrap();
    let mut writer = arrow_ipc::writer::FileWriter::try_new(file, &batch.schema()).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    let out = dir.join("a");
    run(&[arrow_path], &out, &options).unwrap();
    assert_eq!(
        masked_rows(&out),
        [(bytes_of("abc"), vec![false, false, true])]
    );
}

#[test]
fn an_interrupted_masked_run_resumes_to_the_same_dataset() {
    let dir = temp_dir("masked-resume");
    let lines: String = (0..200)
        .map(|i| {
            format!(
                "{{\"prompt\": \"question {i}? \", \"completion\": \"answer {}\"}}\n",
                i * 7
            )
        })
        .collect();
    let input = write(&dir.join("pairs.jsonl"), lines.as_bytes());
    let options = PreprocessOptions {
        shard_tokens: 500,
        batch_records: 7,
        ..PreprocessOptions::default()
    };
    let whole = dir.join("whole");
    let expected = run(std::slice::from_ref(&input), &whole, &options).unwrap();
    let out = dir.join("resumed");
    interrupt_when(std::slice::from_ref(&input), &out, &options, |p| {
        p.shards >= 2
    });
    let manifest = resume(&[input], &out, &options).unwrap();
    assert_eq!(manifest.shards, expected.shards);
    assert_eq!(manifest.loss_mask, expected.loss_mask);
    assert_eq!(masked_rows(&out), masked_rows(&whole));
}
