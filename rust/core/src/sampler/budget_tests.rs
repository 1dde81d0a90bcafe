use proptest::prelude::*;

use super::*;
use crate::pack::{Algorithm, LongDocs, PackOptions};

/// A plan of documents of `lengths` packed into rows of `capacity` (several per row).
fn plan_of(lengths: &[i64], capacity: u32, seed: u64) -> Plan {
    let options = PackOptions {
        capacity,
        algorithm: Algorithm::Obfd,
        max_docs_per_pack: None,
        long_docs: LongDocs::Split,
        seed: Some(seed),
    };
    Plan::pack_epoch(lengths, &options, 1, Some(seed ^ 7)).unwrap()
}

fn budgets(n: u64, seq_len: u64, world: u64, drop_last: bool, balance: bool) -> Vec<TokenBudget> {
    (0..world)
        .map(|r| {
            let budget = TokenBudget::new(n, seq_len, world, r, drop_last).unwrap();
            if balance {
                budget.balanced(CostModel::new(1.0, 0.0).unwrap())
            } else {
                budget
            }
        })
        .collect()
}

fn tokens(plan: &Plan, rows: &[usize]) -> u64 {
    rows.iter().map(|&p| flat_row_tokens(plan, p)).sum()
}

fn attention(plan: &Plan, rows: &[usize]) -> f64 {
    rows.iter()
        .flat_map(|&p| plan.row(p))
        .map(|s| f64::from(s.len).powi(2))
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every rank sees the same steps; no rank's batch passes the budget; without
    /// drop_last every row is in exactly one batch; with it, only a last step is left out.
    #[test]
    fn steps_hold_every_row_once_within_the_budget_on_every_rank(
        lengths in prop::collection::vec(1i64..200, 1..200),
        seq_len in prop::sample::select(vec![64u32, 128, 256]),
        extra in 0u64..300,
        world in 1u64..6,
        drop_last in any::<bool>(),
        balance in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let plan = plan_of(&lengths, seq_len, seed);
        let n = u64::from(seq_len) + extra;
        let budgets = budgets(n, u64::from(seq_len), world, drop_last, balance);
        let steps = budgets[0].steps(&plan, 0).unwrap();
        let mut seen = vec![0u32; plan.num_packs()];
        let mut start = 0;
        for step in &steps {
            prop_assert_eq!(step.ranks.len(), world as usize);
            for rows in &step.ranks {
                prop_assert!(tokens(&plan, rows) <= n);
                prop_assert!(rows.windows(2).all(|w| w[0] < w[1]), "rows in plan order");
                for &p in rows {
                    prop_assert!((start as usize..step.end as usize).contains(&p));
                    seen[p] += 1;
                }
            }
            start = step.end;
        }
        let left_out = budgets[0].rows_left_out(&plan).unwrap();
        prop_assert_eq!(left_out, plan.num_packs() as u64 - start);
        prop_assert!(seen[..start as usize].iter().all(|&c| c == 1));
        if !drop_last {
            prop_assert_eq!(left_out, 0);
        } else {
            // Only a step on which some rank would get nothing is left out.
            prop_assert!(steps.iter().all(|s| s.ranks.iter().all(|r| !r.is_empty())));
        }
        // Each rank's schedule is its share of the same steps, also over workers.
        for (rank, budget) in budgets.iter().enumerate() {
            let mine = budget.schedule(&plan, 0, 0, 1).unwrap();
            prop_assert_eq!(mine.batches.len(), steps.len());
            for (s, step) in steps.iter().enumerate() {
                prop_assert_eq!(&mine.batches[s], &step.ranks[rank]);
                prop_assert_eq!(mine.positions[s], step.end);
            }
            let workers: Vec<FlatSchedule> =
                (0..2).map(|w| budget.schedule(&plan, 0, w, 2).unwrap()).collect();
            for (s, step) in steps.iter().enumerate() {
                prop_assert_eq!(&workers[s % 2].batches[s / 2], &step.ranks[rank]);
            }
        }
    }

    /// A run resumed where a step ended plans the steps the uninterrupted run had left.
    #[test]
    fn steps_resume_exactly_at_any_step_end(
        lengths in prop::collection::vec(1i64..300, 1..150),
        world in 1u64..5,
        balance in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let plan = plan_of(&lengths, 256, seed);
        let budget = budgets(700, 256, world, false, balance).remove(0);
        let steps = budget.steps(&plan, 0).unwrap();
        let at = cut.index(steps.len());
        let resumed = budget.steps(&plan, steps[at].end).unwrap();
        prop_assert_eq!(&resumed[..], &steps[at + 1..]);
    }
}

/// The module's contract stated plainly, one row and one rank at a time: next-fit cuts
/// the steps; by cost, rows by falling cost (ties in plan order) each go to the rank of
/// least cost with room (ties: the lower rank), next-fit's deal kept if a row has none.
fn reference_steps(
    plan: &Plan,
    n: u64,
    world: usize,
    drop_last: bool,
    by_cost: bool,
) -> Vec<BudgetStep> {
    let tokens: Vec<u64> = (0..plan.num_packs())
        .map(|p| flat_row_tokens(plan, p))
        .collect();
    let cost = CostModel::new(1.0, 0.0).unwrap();
    let mut steps = Vec::new();
    let mut start = 0;
    while start < tokens.len() {
        let mut ranks = vec![Vec::new(); world];
        let (mut rank, mut load, mut p) = (0, 0, start);
        while p < tokens.len() {
            if load + tokens[p] > n {
                rank += 1;
                load = 0;
                if rank == world {
                    break;
                }
            }
            ranks[rank].push(p);
            load += tokens[p];
            p += 1;
        }
        if drop_last && ranks.iter().any(Vec::is_empty) {
            break;
        }
        if by_cost {
            let mut order: Vec<usize> = (start..p).collect();
            order.sort_by(|&x, &y| {
                cost.row_cost(plan, y)
                    .total_cmp(&cost.row_cost(plan, x))
                    .then(x.cmp(&y))
            });
            let mut dealt = vec![Vec::new(); world];
            let mut loads = vec![(0.0f64, 0u64); world];
            let mut fits = true;
            for q in order {
                let Some(r) = (0..world)
                    .filter(|&r| loads[r].1 + tokens[q] <= n)
                    .min_by(|&x, &y| loads[x].0.total_cmp(&loads[y].0).then(x.cmp(&y)))
                else {
                    fits = false;
                    break;
                };
                dealt[r].push(q);
                loads[r].0 += cost.row_cost(plan, q);
                loads[r].1 += tokens[q];
            }
            if fits {
                dealt.iter_mut().for_each(|rows| rows.sort_unstable());
                ranks = dealt;
            }
        }
        steps.push(BudgetStep {
            ranks,
            end: p as u64,
        });
        start = p;
    }
    steps
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The steps, dealt by cost or not, are the contract's, row for row.
    #[test]
    fn steps_equal_the_contract_stated_plainly(
        lengths in prop::collection::vec(1i64..300, 1..200),
        extra in 0u64..600,
        world in 1u64..7,
        drop_last in any::<bool>(),
        balance in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let plan = plan_of(&lengths, 256, seed);
        let n = 256 + extra;
        let budget = budgets(n, 256, world, drop_last, balance).remove(0);
        let expected = reference_steps(&plan, n, world as usize, drop_last, balance);
        prop_assert_eq!(budget.steps(&plan, 0).unwrap(), expected);
    }
}

#[test]
fn a_budget_below_the_row_length_is_refused_naming_it() {
    let error = TokenBudget::new(100, 128, 2, 0, true).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("batch_tokens"), "{message}");
    assert!(message.contains("below seq_len = 128"), "{message}");
    let error = TokenBudget::new(128, 128, 2, 2, true).unwrap_err();
    assert!(error.to_string().contains("rank"), "{error}");
    // A plan of longer rows than the budget was made for is refused, naming the row.
    let plan = plan_of(&[300, 20], 512, 1);
    let budget = TokenBudget::new(256, 256, 1, 0, false).unwrap();
    let error = budget.steps(&plan, 0).unwrap_err().to_string();
    assert!(error.contains("fit on no rank"), "{error}");
}

#[test]
fn dealing_by_cost_evens_out_the_ranks_attention() {
    // Rows of one long document and rows of ten short ones, two long then six short:
    // next-fit, four rows to a rank, gives ranks 0 and 2 both long rows of each step.
    let mut lengths = Vec::new();
    for i in 0..400 {
        if i % 8 < 2 {
            lengths.push(1000);
        } else {
            lengths.extend([100; 10]);
        }
    }
    let options = PackOptions {
        capacity: 1024,
        algorithm: Algorithm::Nf,
        max_docs_per_pack: None,
        long_docs: LongDocs::Split,
        seed: None,
    };
    let plan = Plan::pack_epoch(&lengths, &options, 1, None).unwrap();
    let worst = |balance: bool| {
        let budget = budgets(4096, 1024, 4, true, balance).remove(0);
        let steps = budget.steps(&plan, 0).unwrap();
        let (mut slowest, mut mean) = (0.0, 0.0);
        for step in &steps {
            let loads: Vec<f64> = step.ranks.iter().map(|r| attention(&plan, r)).collect();
            slowest += loads.iter().cloned().fold(0.0, f64::max);
            mean += loads.iter().sum::<f64>() / loads.len() as f64;
        }
        (steps.len(), slowest / mean)
    };
    let (steps_plain, plain) = worst(false);
    let (steps_balanced, balanced) = worst(true);
    assert_eq!(steps_plain, steps_balanced);
    assert!(plain > 1.5, "next-fit should be uneven here: {plain}");
    assert!(balanced < 1.05, "balanced: {balanced}");
}
