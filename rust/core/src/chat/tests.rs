use serde_json::{Map, Value as Json, json};

use super::clock::Civil;
use super::generation::{self, Rewrite};
use super::pyjson::python_float;
use super::spans::{TokenBytes, TokenPlaces, lengths_ends, mask_tokens, token_ends};
use super::value::from_json;
use super::{ChatOptions, ChatTemplate, MaskedIds, RecordEncoder, RecordFault, TrainOn};
use crate::tokenize::Tokenizer;
use crate::tokenize::bpe::{BpeTokenizer, BpeTrainer, Pattern, TrainerOptions};

fn tokenizer() -> BpeTokenizer {
    let mut trainer = BpeTrainer::new(TrainerOptions {
        vocab_size: 300,
        special_tokens: [
            "<|im_start|>",
            "<|im_end|>",
            "<|user|>",
            "<|assistant|>",
            "<|end|>",
            "<|endoftext|>",
        ]
        .map(String::from)
        .to_vec(),
        pattern: Pattern::Gpt2,
        min_frequency: 1,
    })
    .unwrap();
    trainer
        .feed(&["user assistant hello there, what is SQL? SELECT name FROM users; héllo"])
        .unwrap();
    trainer.train().unwrap()
}

const CHATML: &str = "{% for message in messages %}<|im_start|>{{ message.role }}\n\
{% if message.role == 'assistant' %}{% generation %}{{ message.content }}<|im_end|>{% endgeneration %}\n\
{% else %}{{ message.content }}<|im_end|>\n{% endif %}{% endfor %}\
{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/// ChatML without generation blocks: masks by prefix rendering.
const CHATML_PLAIN: &str = "{% for message in messages %}<|im_start|>{{ message.role }}\n\
{{ message.content }}<|im_end|>\n{% endfor %}\
{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

fn template(source: &str, train_on: TrainOn) -> ChatTemplate {
    ChatTemplate::new(
        source,
        ChatOptions {
            train_on,
            variables: Map::new(),
        },
    )
    .unwrap()
}

fn conversation() -> Json {
    json!({"messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "SELECT 1"},
        {"role": "user", "content": [{"type": "text", "text": "what is SQL?"}]},
        {"role": "assistant", "content": "SELECT name FROM users"},
    ]})
}

/// The text of the tokens the mask trains, joined.
fn trained_text(tokenizer: &dyn Tokenizer, masked: &MaskedIds) -> String {
    let trained: Vec<u32> = masked
        .ids
        .iter()
        .zip(&masked.mask)
        .filter(|(_, m)| **m)
        .map(|(id, _)| *id)
        .collect();
    String::from_utf8(tokenizer.decode(&trained).unwrap()).unwrap()
}

/// The text `chat` trains on in `record`.
fn trained_in(chat: &ChatTemplate, record: &Json, tokenizer: &dyn Tokenizer) -> String {
    let encoded = chat
        .encode_record(&from_json(record), tokenizer, false)
        .unwrap();
    trained_text(tokenizer, &encoded.masked)
}

/// Tokens placed by their ends alone, each starting where the one before ends.
fn placed(ends: &[usize]) -> TokenPlaces {
    TokenPlaces {
        ends: ends.to_vec(),
        starts: None,
    }
}

/// Byte ranges from (start, end) pairs.
fn spans(pairs: &[(usize, usize)]) -> Vec<std::ops::Range<usize>> {
    pairs.iter().map(|&(start, end)| start..end).collect()
}

#[test]
fn tokens_aligned_by_the_tokenizer_may_share_a_character() {
    // SentencePiece: `▁` and the byte token after it both lie at [3,4).
    let aligned = TokenPlaces {
        ends: vec![3, 4, 4, 6],
        starts: Some(vec![0, 3, 3, 4]),
    };
    assert_eq!(
        mask_tokens(&aligned, &spans(&[(0, 4)])),
        (vec![true, true, true, false], 0)
    );
    assert_eq!(
        mask_tokens(&aligned, &spans(&[(4, 6)])),
        (vec![false, false, false, true], 0)
    );
    // A gap the normalizer dropped (WordPiece's spaces): an edge in it is inside no token.
    let gapped = TokenPlaces {
        ends: vec![5, 11],
        starts: Some(vec![0, 6]),
    };
    assert_eq!(
        mask_tokens(&gapped, &spans(&[(6, 11)])),
        (vec![false, true], 0)
    );
    assert_eq!(
        mask_tokens(&gapped, &spans(&[(7, 11)])),
        (vec![false, true], 1)
    );
}

#[test]
fn a_token_is_trained_iff_it_overlaps_a_span() {
    // Tokens: [0,3) [3,5) [5,9) [9,10)
    let ends = [3, 5, 9, 10];
    assert_eq!(
        mask_tokens(&placed(&ends), &spans(&[(3, 5)])),
        (vec![false, true, false, false], 0)
    );
    // Starts inside token 0 and ends inside token 2: both trained, two edges inside.
    assert_eq!(
        mask_tokens(&placed(&ends), &spans(&[(2, 6)])),
        (vec![true, true, true, false], 2)
    );
    // Two spans, one ending at the text's end.
    assert_eq!(
        mask_tokens(&placed(&ends), &spans(&[(0, 3), (9, 10)])),
        (vec![true, false, false, true], 0)
    );
    // An empty span marks only a token that straddles it, and counts no edge.
    assert_eq!(
        mask_tokens(&placed(&ends), &spans(&[(4, 4)])),
        (vec![false, true, false, false], 0)
    );
    assert_eq!(
        mask_tokens(&placed(&ends), &spans(&[(5, 5)])),
        (vec![false; 4], 0)
    );
    assert_eq!(
        mask_tokens(&placed(&ends), &spans(&[])),
        (vec![false; 4], 0)
    );
}

proptest::proptest! {
    /// The spans' edges placed among the tokens give each token what the rule says of it
    /// alone: trained iff it ends after some span's start and starts before its end; an
    /// edge strictly inside the text and at no token's end is inside a token.
    #[test]
    fn each_token_is_marked_by_what_it_overlaps(
        lengths in proptest::collection::vec(0usize..5, 0..40),
        cuts in proptest::collection::vec(0usize..120, 0..8),
    ) {
        let ends: Vec<usize> = lengths
            .iter()
            .scan(0, |at, len| {
                *at += len;
                Some(*at)
            })
            .collect();
        let total = ends.last().copied().unwrap_or(0);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut % (total + 2)).collect();
        cuts.sort_unstable();
        let spans: Vec<_> = cuts.chunks_exact(2).map(|pair| pair[0]..pair[1]).collect();
        let expected: Vec<bool> = ends
            .iter()
            .enumerate()
            .map(|(i, &end)| {
                let start = if i == 0 { 0 } else { ends[i - 1] };
                spans.iter().any(|span| end > span.start && start < span.end)
            })
            .collect();
        let inside = |at: usize| at > 0 && at < total && !ends.contains(&at);
        let edges: u64 = spans
            .iter()
            .filter(|span| !span.is_empty())
            .map(|span| u64::from(inside(span.start)) + u64::from(inside(span.end)))
            .sum();
        proptest::prop_assert_eq!(mask_tokens(&placed(&ends), &spans), (expected.clone(), edges));
        // The same starts given as a tokenizer's alignment gives them: the same mask.
        let starts = std::iter::once(0).chain(ends.iter().copied()).take(ends.len()).collect();
        let aligned = TokenPlaces { ends: ends.clone(), starts: Some(starts) };
        proptest::prop_assert_eq!(mask_tokens(&aligned, &spans), (expected, edges));
    }
}

#[test]
fn token_ends_follow_the_decoded_bytes() {
    let tokenizer = tokenizer();
    let text = "<|im_start|>user\nhéllo<|im_end|>";
    let ids = tokenizer.encode(text, false).unwrap();
    let table = TokenBytes::of(&tokenizer);
    assert!(table.is_of(&tokenizer));
    assert!(std::sync::Arc::ptr_eq(&table, &TokenBytes::of(&tokenizer)));
    let ends = token_ends(&table, &ids, text).unwrap();
    assert_eq!(ends.len(), ids.len());
    assert_eq!(*ends.last().unwrap(), text.len());
    assert_eq!(ends[0], "<|im_start|>".len());
    // A text the ids do not spell is refused, by the lengths alone too.
    let fault = token_ends(&table, &ids, "something else").unwrap_err();
    assert_eq!(fault.reason, "tokenizer_offsets");
    let fault = lengths_ends(&table, &ids, "something else").unwrap_err();
    assert_eq!(fault.reason, "tokenizer_offsets");
    // Compared token by token, so is one that differs in a single byte: past a long
    // token's first word, inside a short token, or in the last bytes of the text.
    let compared = TokenBytes::new(&tokenizer).comparing_every_token();
    for (at, byte) in [(9, b'T'), (17, b'H'), (text.len() - 1, b']')] {
        let mut changed = text.as_bytes().to_vec();
        changed[at] = byte;
        let changed = String::from_utf8(changed).unwrap();
        assert!(token_ends(&compared, &ids, &changed).is_err(), "{changed}");
    }
}

#[test]
fn an_exact_tokenizer_places_its_tokens_by_their_lengths() {
    let tokenizer = tokenizer();
    assert!(tokenizer.decodes_to_its_text());
    let table = TokenBytes::new(&tokenizer);
    let compared = TokenBytes::new(&tokenizer).comparing_every_token();
    for text in [
        "<|im_start|>system\nYou are   helpful.<|im_end|>\n",
        "héllo wörld 🙂 \t\r\n  x<|im_end|><|im_end|>",
        "",
    ] {
        let ids = tokenizer.encode(text, false).unwrap();
        let by_lengths = lengths_ends(&table, &ids, text).unwrap();
        assert_eq!(
            by_lengths,
            token_ends(&compared, &ids, text).unwrap(),
            "{text:?}"
        );
        assert_eq!(
            by_lengths,
            token_ends(&table, &ids, text).unwrap(),
            "{text:?}"
        );
    }
}

#[test]
fn generation_blocks_keep_whitespace_control_and_give_spans() {
    let source = "a{%- generation -%} b {%+ endgeneration %}c";
    let (rewritten, found) = generation::rewrite(source, Rewrite::Markers);
    assert!(found);
    assert_eq!(
        rewritten,
        format!(
            "a{{%- if true %}}{}{{% endif -%}} b {{%+ if true %}}{}{{% endif %}}c",
            generation::OPEN,
            generation::CLOSE
        )
    );
    let (nesting, _) = generation::rewrite(source, Rewrite::Nesting);
    assert_eq!(nesting, "a{%- filter generation -%} b {%+ endfilter %}c");
    assert!(!generation::rewrite("{% if x %}generation{% endif %}", Rewrite::Markers).1);
    // Tags that do not pair up as blocks are a syntax error, as in HF's Jinja.
    for unpaired in [
        "{% generation %}x",
        "x{% endgeneration %}",
        "{% if a %}{% generation %}{% endif %}{% endgeneration %}",
    ] {
        let error = super::template::Template::new(unpaired).unwrap_err();
        assert!(error.to_string().contains("template line 1"), "{error}");
    }
    let mut text = format!(
        "ab{}cd{}e{}f{}",
        generation::OPEN,
        generation::CLOSE,
        generation::OPEN,
        generation::CLOSE
    );
    assert_eq!(generation::take_spans(&mut text).unwrap(), vec![2..4, 5..6]);
    assert_eq!(text, "abcdef");
    let mut open = format!("a{}b", generation::OPEN);
    assert!(generation::take_spans(&mut open).is_err());
}

#[test]
fn generation_blocks_train_the_assistant_text_and_end_token() {
    let tokenizer = tokenizer();
    let chat = template(CHATML, TrainOn::Assistant);
    assert!(chat.has_generation());
    let encoded = chat
        .encode_record(&from_json(&conversation()), &tokenizer, false)
        .unwrap();
    assert!(
        encoded
            .text
            .starts_with("<|im_start|>system\nbe brief<|im_end|>\n")
    );
    assert_eq!(
        encoded.masked.ids,
        tokenizer.encode(&encoded.text, false).unwrap()
    );
    assert_eq!(
        trained_text(&tokenizer, &encoded.masked),
        "SELECT 1<|im_end|>SELECT name FROM users<|im_end|>"
    );
    let last = template(CHATML, TrainOn::LastAssistant);
    assert_eq!(
        trained_in(&last, &conversation(), &tokenizer),
        "SELECT name FROM users<|im_end|>"
    );
    let all = template(CHATML, TrainOn::All);
    let encoded = all.encode(&from_json(&conversation()), &tokenizer).unwrap();
    assert!(encoded.mask.iter().all(|&m| m));
}

#[test]
fn prefix_rendering_marks_what_each_assistant_turn_adds() {
    let tokenizer = tokenizer();
    let chat = template(CHATML_PLAIN, TrainOn::Assistant);
    assert!(!chat.has_generation());
    assert_eq!(
        trained_in(&chat, &conversation(), &tokenizer),
        "SELECT 1<|im_end|>\nSELECT name FROM users<|im_end|>\n"
    );
}

#[test]
fn the_data_chooses_messages_to_train_on() {
    let tokenizer = tokenizer();
    let mut record = conversation();
    record["messages"][2]["train"] = json!(false);
    record["messages"][4]["weight"] = json!(0.5);
    for source in [CHATML, CHATML_PLAIN] {
        let trained = trained_in(&template(source, TrainOn::Assistant), &record, &tokenizer);
        assert!(
            trained.starts_with("SELECT name FROM users<|im_end|>"),
            "{trained:?}"
        );
    }
    // `train: true` brings back an earlier turn under last-assistant.
    let mut record = conversation();
    record["messages"][2]["train"] = json!(true);
    assert_eq!(
        trained_in(
            &template(CHATML, TrainOn::LastAssistant),
            &record,
            &tokenizer
        ),
        "SELECT 1<|im_end|>SELECT name FROM users<|im_end|>"
    );
}

fn fault(source: &str, record: Json) -> RecordFault {
    template(source, TrainOn::Assistant)
        .encode(&from_json(&record), &tokenizer())
        .unwrap_err()
}

#[test]
fn bad_records_are_faults_with_a_reason() {
    assert_eq!(
        fault(CHATML, json!({"text": "x"})).reason,
        "missing_messages"
    );
    assert_eq!(
        fault(CHATML, json!({"messages": "x"})).reason,
        "missing_messages"
    );
    let unknown = fault(
        CHATML,
        json!({"messages": [{"role": "robot", "content": "x"}]}),
    );
    assert_eq!(unknown.reason, "unknown_role");
    assert!(unknown.message.contains("message 0") && unknown.message.contains("robot"));
    let content = fault(
        CHATML,
        json!({"messages": [{"role": "user", "content": 3}]}),
    );
    assert_eq!(content.reason, "bad_content");
    let part = fault(
        CHATML,
        json!({"messages": [{"role": "user", "content": [{"type": "image"}]}]}),
    );
    assert_eq!(part.reason, "bad_content");
    assert!(part.message.contains("part 0"));
    let marker = fault(
        CHATML,
        json!({"messages": [{"role": "user", "content": "a\u{FDD0}b"}]}),
    );
    assert_eq!(marker.reason, "bad_content");
    let override_on_user = fault(
        CHATML,
        json!({"messages": [{"role": "user", "content": "x", "train": true}]}),
    );
    assert_eq!(override_on_user.reason, "bad_override");
    let bad_weight = fault(
        CHATML,
        json!({"messages": [{"role": "assistant", "content": "x", "weight": -1}]}),
    );
    assert_eq!(bad_weight.reason, "bad_override");
}

#[test]
fn template_errors_name_their_line_and_raise_exception_its_message() {
    let raising = "{% for m in messages %}\n{% if m.role == 'tool' %}\n\
{{ raise_exception('tools are not supported') }}\n{% endif %}{{ m.content }}{% endfor %}";
    let raised = fault(
        raising,
        json!({"messages": [{"role": "tool", "content": "x"}]}),
    );
    assert_eq!(raised.reason, "raise_exception");
    assert!(
        raised.message.contains("tools are not supported"),
        "{}",
        raised.message
    );
    let failing =
        "{% for m in messages %}\n{{ m.content }}\n{{ m.content.nothing.deeper }}{% endfor %}";
    let failed = fault(
        failing,
        json!({"messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(failed.reason, "template_error");
    assert!(failed.message.contains("line 3"), "{}", failed.message);
    assert!(
        failed.message.contains("m.content.nothing.deeper"),
        "{}",
        failed.message
    );
    let syntax = ChatTemplate::new("a\n{% if %}", ChatOptions::default()).unwrap_err();
    assert!(syntax.to_string().contains("line 2"), "{syntax}");
}

/// ChatML that opens an empty thinking block in the last assistant turn only, as Qwen3's
/// template does: a turn renders differently once a later one follows.
const CHATML_THINKING_LAST: &str = "{% for m in messages %}<|im_start|>{{ m.role }}\n\
{% if m.role == 'assistant' and loop.last %}<think>\n\n</think>\n\n{% endif %}\
{{ m.content if m.content is string else m.content[0].text }}<|im_end|>\n{% endfor %}\
{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

#[test]
fn turns_a_template_renders_differently_later_are_found_in_the_whole_rendering() {
    let tokenizer = tokenizer();
    let chat = template(CHATML_THINKING_LAST, TrainOn::Assistant);
    assert_eq!(
        trained_in(&chat, &conversation(), &tokenizer),
        "SELECT 1<|im_end|>\n<think>\n\n</think>\n\nSELECT name FROM users<|im_end|>\n"
    );
    // An answer with empty content (or none): its turn is what the template writes for it.
    let mut record = conversation();
    record["messages"][2]["content"] = json!("");
    assert_eq!(
        trained_in(&chat, &record, &tokenizer),
        "<|im_end|>\n<think>\n\n</think>\n\nSELECT name FROM users<|im_end|>\n"
    );
    // The same with a prompt that opens a thinking block: the prompt and the whole
    // rendering share the `<` of `<think>` and `<|im_end|>`, which the turn starts before
    // (and the last turn starts after the prompt's `<think>\n`).
    let prompt_thinks = CHATML_THINKING_LAST.replace(
        "<|im_start|>assistant\n{% endif %}",
        "<|im_start|>assistant\n<think>\n{% endif %}",
    );
    assert_ne!(prompt_thinks, CHATML_THINKING_LAST);
    assert_eq!(
        trained_in(
            &template(&prompt_thinks, TrainOn::Assistant),
            &record,
            &tokenizer
        ),
        "<|im_end|>\n\n</think>\n\nSELECT name FROM users<|im_end|>\n"
    );
    record["messages"][2]["content"] = Json::Null;
    let writes_none_as_empty =
        CHATML_THINKING_LAST.replace("m.content[0].text", "(m.content or '')");
    assert_eq!(
        trained_in(
            &template(&writes_none_as_empty, TrainOn::Assistant),
            &record,
            &tokenizer
        ),
        "<|im_end|>\n<think>\n\n</think>\n\nSELECT name FROM users<|im_end|>\n"
    );
    // A generation prompt that opens a block the turns do not have (DeepSeek-R1), and an
    // end-of-text token after the last turn only (Phi-3.5; the turn ends before the next
    // special token, not inside it); answers with trailing whitespace that the template
    // strips.
    let opens_and_ends = "{% for m in messages %}{% if m.role == 'user' %}<|user|>{{ m.content }}\
{% elif m.role == 'assistant' %}<|assistant|>{{ m.content.strip() }}<|end|>{% endif %}{% endfor %}\
{% if add_generation_prompt %}<|assistant|><think>\n{% else %}<|endoftext|>{% endif %}";
    let record = json!({"messages": [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "SELECT 1\n\n"},
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": " SELECT 2 "},
    ]});
    let chat = template(opens_and_ends, TrainOn::Assistant);
    assert_eq!(
        trained_in(&chat, &record, &tokenizer),
        "SELECT 1<|end|>SELECT 2<|end|><|endoftext|>"
    );
    // Tools listed before the last question (Mistral): the prompt for the first answer
    // differs from the whole rendering before the question, and agrees after it.
    let tools_before_last_question = "{%- set ns = namespace(last=-1) %}\
{%- for m in messages %}{% if m.role == 'user' %}{% set ns.last = loop.index0 %}{% endif %}{% endfor %}\
{%- for m in messages %}{% if loop.index0 == ns.last %}[TOOLS]{% endif %}\
{% if m.role == 'user' %}[INST]{{ m.content }}[/INST]{% else %}{{ m.content }}</s>{% endif %}{% endfor %}";
    let chat = template(tools_before_last_question, TrainOn::Assistant);
    assert_eq!(
        trained_in(&chat, &record, &tokenizer),
        "SELECT 1\n\n</s> SELECT 2 </s>"
    );
}

#[test]
fn turns_that_cannot_be_found_are_refused() {
    let conversation = || {
        json!({"messages": [
            {"role": "user", "content": "a question"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": "another"},
            {"role": "assistant", "content": "the last"},
        ]})
    };
    let refused = |source: &str, record: Json, why: &str| {
        let fault = fault(source, record);
        assert_eq!(fault.reason, "not_a_prefix", "{}", fault.message);
        assert!(
            fault.message.contains("assistant message 1") && fault.message.contains(why),
            "{}",
            fault.message
        );
    };
    // The template reads the text's length: a marker in it changes the rendering.
    refused(
        "{% for m in messages %}{{ m.content }}({{ m.content|length }}){% if loop.last %}!\
{% endif %}|{% endfor %}",
        conversation(),
        "changes the rendering",
    );
    // The question is not written when it is the last message: the prompt for the first
    // answer has no text to lead into its turn from.
    refused(
        "{% for m in messages %}{{ '?' if loop.last and m.role == 'user' else m.content }}\
{{ '!' if loop.last and m.role == 'assistant' else '' }}|{% endfor %}",
        conversation(),
        "does not lead into",
    );
    // An answer with no text, no tool call and content that is not empty (a part with empty
    // text): nothing to find its turn by.
    let mut record = conversation();
    record["messages"][1]["content"] = json!([{"type": "text", "text": ""}]);
    refused(
        "{% for m in messages %}{{ m.content if m.content is string }}{% if loop.last %}!\
{% endif %}|{% endfor %}",
        record,
        "neither text nor a tool call",
    );
    // Empty content the template writes only when there is some: the marker put in its
    // place would be written where nothing is.
    let mut record = conversation();
    record["messages"][1]["content"] = json!("");
    refused(
        "{% for m in messages %}{% if m.content %}<{{ m.content }}>{% endif %}\
{% if loop.last %}!{% endif %}|{% endfor %}",
        record,
        "changes the rendering",
    );
}

#[test]
fn a_turn_of_tool_calls_alone_is_found_by_its_last_call() {
    let tokenizer = tokenizer();
    // The assistant's last turn closes with `!`, earlier ones do not; calls are listed after
    // the text.
    let source = "{% for m in messages %}{{ m.role }}: {{ m.content or '' }}\
{% for c in m.tool_calls or [] %}<call {{ (c.function or c).name }}>{% endfor %}\
{% if loop.last and m.role == 'assistant' %}!{% endif %}|{% endfor %}\
{% if add_generation_prompt %}assistant: {% endif %}";
    let record = json!({"messages": [
        {"role": "user", "content": "hello"},
        {"role": "assistant", "tool_calls": [
            {"type": "function", "function": {"name": "lookup", "arguments": {}}},
            {"name": "count", "arguments": {}},
        ]},
        {"role": "tool", "content": "3"},
        {"role": "assistant", "content": "three"},
    ]});
    let chat = template(source, TrainOn::Assistant);
    assert_eq!(
        trained_in(&chat, &record, &tokenizer),
        // The first turn ends before `|`, which the last turn (`!|`) does not end with;
        // ` three` is one token, trained since it holds the answer's first byte.
        "<call lookup><call count> three!|"
    );
}

#[test]
fn templates_get_python_methods_tojson_and_loop_controls() {
    let source = "{%- set ns = namespace(n=0) -%}\
{%- for m in messages -%}{%- if m.role == 'system' -%}{%- continue -%}{%- endif -%}\
{%- set ns.n = ns.n + 1 -%}\
[{{ m.content.strip().split(' ')[0] }}|{{ m.content.startswith(' x') }}]\
{%- endfor -%}{{ ns.n }}{{ tools|tojson }}{{ tools[0].items()|list|length }}\
{{ bos_token }}{{ strftime_now('%Y')|length }}";
    let chat = ChatTemplate::new(
        source,
        ChatOptions {
            train_on: TrainOn::All,
            variables: [("bos_token".to_owned(), json!("<s>"))]
                .into_iter()
                .collect(),
        },
    )
    .unwrap();
    let record = json!({
        "messages": [
            {"role": "system", "content": "skip"},
            {"role": "user", "content": " x y "},
        ],
        "tools": [{"name": "f", "parameters": {"a": [1, 2.5, 1e-7, "é\n"]}}],
    });
    let text = chat
        .encode_record(&from_json(&record), &tokenizer(), false)
        .unwrap()
        .text;
    assert_eq!(
        text,
        "[x|True]1[{\"name\": \"f\", \"parameters\": {\"a\": [1, 2.5, 1e-07, \"é\\n\"]}}]2<s>4"
    );
}

#[test]
fn floats_print_as_python_prints_them() {
    for (number, python) in [
        (1.0, "1.0"),
        (0.1, "0.1"),
        (1e-5, "1e-05"),
        (1.5e16, "1.5e+16"),
        (1e15, "1000000000000000.0"),
        (-2.5, "-2.5"),
        (0.0001, "0.0001"),
        (1e20, "1e+20"),
        (123456789012345678.0, "1.2345678901234568e+17"),
        (1.5e300, "1.5e+300"),
        (-0.0, "-0.0"),
    ] {
        assert_eq!(python_float(number), python);
    }
}

#[test]
fn dates_format_as_strftime() {
    // 2024-02-29 13:05:09 UTC, a Thursday.
    let moment = Civil::from_unix(1_709_211_909);
    assert_eq!(
        moment.strftime("%d %b %Y, %A %H:%M:%S %j %%").unwrap(),
        "29 Feb 2024, Thursday 13:05:09 060 %"
    );
    assert!(moment.strftime("%Q").is_err());
    // 2026-12-06 02:47:09 UTC, a Sunday: the C library's codes and flags, as Python writes
    // them; a naive time has no zone.
    let moment = Civil::from_unix(1_796_525_229);
    for (format, expected) in [
        ("%-d %B %Y, %A", "6 December 2026, Sunday"),
        ("%e|%k|%l|%_d|%^a|%^B", " 6| 2| 2| 6|SUN|DECEMBER"),
        ("%c", "Sun Dec  6 02:47:09 2026"),
        (
            "%x %X %D %T %R %r",
            "12/06/26 02:47:09 12/06/26 02:47:09 02:47 02:47:09 AM",
        ),
        ("%j %u %w %C %y %I%p %P", "340 7 0 20 26 02AM am"),
        ("[%Z][%z]%%%n%t", "[][]%\n\t"),
    ] {
        assert_eq!(moment.strftime(format).unwrap(), expected, "{format}");
    }
}

#[test]
fn the_fingerprint_follows_template_variables_and_choice() {
    let base = template(CHATML, TrainOn::Assistant).fingerprint();
    assert_eq!(base.len(), 16);
    assert_eq!(base, template(CHATML, TrainOn::Assistant).fingerprint());
    assert_ne!(base, template(CHATML, TrainOn::LastAssistant).fingerprint());
    assert_ne!(
        base,
        template(CHATML_PLAIN, TrainOn::Assistant).fingerprint()
    );
    let with_variable = ChatTemplate::new(
        CHATML,
        ChatOptions {
            train_on: TrainOn::Assistant,
            variables: [("enable_thinking".to_owned(), json!(false))]
                .into_iter()
                .collect(),
        },
    )
    .unwrap();
    assert_ne!(base, with_variable.fingerprint());
}

#[test]
fn options_that_cannot_apply_are_refused() {
    let completion = ChatTemplate::new(
        CHATML,
        ChatOptions {
            train_on: TrainOn::Completion,
            variables: Map::new(),
        },
    );
    assert!(completion.unwrap_err().to_string().contains("train_on"));
    let reserved = ChatTemplate::new(
        CHATML,
        ChatOptions {
            train_on: TrainOn::Assistant,
            variables: [("messages".to_owned(), json!([]))].into_iter().collect(),
        },
    );
    assert!(reserved.unwrap_err().to_string().contains("messages"));
}

#[test]
fn padding_to_a_width_beyond_any_text_is_a_template_error_not_an_allocation() {
    let record = || json!({"messages": [{"role": "user", "content": "x"}]});
    for call in [
        "'x'.ljust(10 ** 15)",
        "'x'.center(10 ** 15, '*')",
        "'7'.zfill(10 ** 15)",
        "'x'|center(10 ** 15)",
    ] {
        let fault = fault(&format!("{{{{ {call} }}}}"), record());
        assert_eq!(fault.reason, "template_error", "{call}: {}", fault.message);
        assert!(
            fault.message.contains("cannot pad"),
            "{call}: {}",
            fault.message
        );
    }
    // Huge lengths in `truncate` leave the text as it is.
    assert_eq!(
        trained_in(
            &template(
                "{{ messages[0].content|truncate(18446744073709551615) }}",
                TrainOn::All
            ),
            &record(),
            &tokenizer()
        ),
        "x"
    );
}
