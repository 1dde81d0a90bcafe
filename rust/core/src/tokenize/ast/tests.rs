//! Whole-pipeline properties of AST-BPE: exact round trips, merges that respect the parse,
//! and the stopping criterion's bookkeeping.

use proptest::prelude::*;

use super::sql::{SqlBpe, SqlBpeOptions};
use super::*;
use crate::tokenize::Tokenizer;

const QUERIES: &[&str] = &[
    r#"SELECT DISTINCT CITYalias0.CITY_NAME FROM CITY AS CITYalias0 WHERE CITYalias0.POPULATION = ( SELECT MAX( CITYalias1.POPULATION ) FROM CITY AS CITYalias1 ) ;"#,
    r#"SELECT COUNT( * ) FROM STATE AS STATEalias0 WHERE STATEalias0.STATE_NAME = "state_name0" ;"#,
    r#"SELECT RIVERalias0.RIVER_NAME FROM RIVER AS RIVERalias0 WHERE RIVERalias0.LENGTH > 100 AND RIVERalias0.TRAVERSE IN ( SELECT STATEalias0.STATE_NAME FROM STATE AS STATEalias0 ) ;"#,
    r#"SELECT ( ( ( a ) ) ) ;"#,
    r#"SELECT ( ( ( a ) ) ) , ( ( ( b ) ) ) ;"#,
];

fn options(syntax: bool, max_merges: usize) -> SqlBpeOptions {
    SqlBpeOptions {
        syntax,
        max_merges,
        stopping: None,
    }
}

#[test]
fn runs_of_identical_tokens_round_trip() {
    for syntax in [false, true] {
        let model = SqlBpe::train(QUERIES, &[], options(syntax, 1000)).unwrap();
        for q in QUERIES
            .iter()
            .chain(&["SELECT ( ( ( ( ( x ) ) ) ) ) ;", "new tokens ((("])
        {
            let ids = model.encode(q, None);
            assert_eq!(model.decode(&ids).unwrap(), *q, "syntax={syntax}");
        }
    }
}

#[test]
fn ast_symbols_are_sibling_runs_and_plain_ones_are_not() {
    let ast = SqlBpe::train(QUERIES, &[], options(true, 1000)).unwrap();
    let plain = SqlBpe::train(QUERIES, &[], options(false, 1000)).unwrap();
    let (mut ast_crossing, mut plain_crossing) = (0, 0);
    for q in QUERIES {
        ast_crossing += ast.crossing(q).0;
        plain_crossing += plain.crossing(q).0;
    }
    assert_eq!(ast_crossing, 0);
    assert!(
        plain_crossing > 0,
        "plain BPE merges across parentheses here"
    );
}

#[test]
fn a_merge_does_not_fire_where_the_parse_forbids_it() {
    // `) )` is frequent but inside `( ( a ) )` the inner `)` closes another subtree.
    let train = ["SELECT ( ( a ) ) ;"; 10];
    let model = SqlBpe::train(&train, &[], options(true, 1000)).unwrap();
    for &(a, b) in model.merges() {
        let bytes = [model.spelling(a).unwrap(), model.spelling(b).unwrap()].concat();
        assert_ne!(
            bytes, b" ) )",
            "no merge may join the two closing parentheses"
        );
    }
}

#[test]
fn stopping_bookkeeping() {
    let train: Vec<String> = (0..60)
        .map(|i| format!("SELECT A{} FROM T WHERE X = {} ;", i % 7, i % 3))
        .collect();
    let valid: Vec<String> = (0..20)
        .map(|i| format!("SELECT A{} FROM T ;", i % 9))
        .collect();
    for syntax in [false, true] {
        let stopping = Stopping {
            max_rejections: 3,
            rare_below: 5,
        };
        let model = SqlBpe::train(
            &train,
            &valid,
            SqlBpeOptions {
                syntax,
                max_merges: usize::MAX,
                stopping: Some(stopping),
            },
        )
        .unwrap();
        let before = model.rare_types_before();
        let accepted: Vec<_> = model.steps().iter().filter(|s| s.accepted).collect();
        assert_eq!(accepted.len(), model.merges().len());
        assert!(accepted.iter().all(|s| s.rare_types == before));
        let rejected = model.steps().iter().filter(|s| !s.accepted).count();
        assert!(
            (1..=3).contains(&rejected),
            "the criterion rejects here: {rejected}"
        );
        assert!(
            model
                .steps()
                .iter()
                .filter(|s| !s.accepted)
                .all(|s| s.rare_types != before)
        );
    }
}

#[test]
fn python_round_trip_and_fallback() {
    let texts = [
        "def f(x):\n    return x + 1\n\n\nprint(f(2))\n",
        "class A:\n    def g(self):\n        return [i * i for i in range(10)]\n",
        "def broken(:\n",
    ];
    let (tok, stats) = AstTokenizer::train(
        &texts,
        Language::Python,
        400,
        vec!["<|endoftext|>".into()],
        2,
    )
    .unwrap();
    assert_eq!((stats.documents, stats.unparsed), (3, 1));
    for t in texts {
        let ids = tok.encode(t, false).unwrap();
        assert_eq!(tok.decode(&ids).unwrap(), t.as_bytes());
        let lengths: Vec<u32> = ids
            .iter()
            .map(|&id| tok.token_bytes(id).unwrap().len() as u32)
            .collect();
        if let Some(n) = crossing(Language::Python, t, &lengths).unwrap() {
            assert_eq!(n, 0, "{t:?}");
        }
    }
    assert_eq!(tok.parse_fallbacks(), Some(1));
    let back = AstTokenizer::from_json(tok.to_json()).unwrap();
    assert_eq!(back.fingerprint(), tok.fingerprint());
    assert_eq!(
        back.token_to_id("<|endoftext|>"),
        Some(tok.vocab_size() - 1)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_sql_like_text_round_trips(
        parts in prop::collection::vec(
            prop::sample::select(vec!["SELECT", "(", ")", "a", "b", "\"", "%", ".", ",", " ", "  ", "x.y", "Aalias0", "=", ">=", "AND", "é"]),
            0..40,
        )
    ) {
        let text: String = parts.iter().map(|p| format!("{p} ")).collect::<String>() + &parts.concat();
        let model = SqlBpe::train(&[text.as_str(), text.as_str()], &[], options(true, 50)).unwrap();
        prop_assert_eq!(model.decode(&model.encode(&text, None)).unwrap(), text.clone());
        prop_assert_eq!(model.crossing(&text).0, 0);
        let (tok, _) = AstTokenizer::train(&[text.as_str()], Language::Sql, 300, vec![], 1).unwrap();
        let ids = tok.encode(&text, false).unwrap();
        prop_assert_eq!(tok.decode(&ids).unwrap(), text.as_bytes());
    }
}
