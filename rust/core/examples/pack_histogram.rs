//! Packs an expanded `length,count` histogram and prints the result and the time taken:
//! `cargo run --release --example pack_histogram -- FILE CAPACITY [ALGORITHM] [REPEATS]
//! [MAX_DOCS_PER_PACK]`.
//! The lengths are shuffled with a fixed seed, as a real corpus would arrive.

use std::time::Instant;

use seqpack_core::pack::{PackOptions, pack};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (path, capacity) = (&args[1], args[2].parse::<u32>().expect("capacity"));
    let algorithm = args
        .get(3)
        .map_or("obfd", String::as_str)
        .parse()
        .expect("algorithm");
    let repeats: usize = args.get(4).map_or(5, |r| r.parse().expect("repeats"));
    let max_docs_per_pack = args.get(5).map(|k| k.parse().expect("max docs per pack"));
    let text = std::fs::read_to_string(path).expect("histogram file");
    let mut lengths = Vec::new();
    for line in text.lines().skip(1) {
        let (length, count) = line.split_once(',').expect("length,count");
        let count: usize = count.trim().parse().expect("count");
        lengths.extend(std::iter::repeat_n(
            length.trim().parse::<i64>().expect("length"),
            count,
        ));
    }
    // Fisher–Yates with a fixed xorshift stream: a realistic, reproducible input order.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..lengths.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        lengths.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let options = PackOptions {
        algorithm,
        max_docs_per_pack,
        ..PackOptions::new(capacity)
    };
    let mut times = Vec::new();
    for _ in 0..repeats {
        let started = Instant::now();
        let packing = pack(&lengths, &options).expect("packing");
        times.push(started.elapsed().as_secs_f64());
        if times.len() == repeats {
            times.sort_by(f64::total_cmp);
            let median = times[times.len() / 2];
            println!(
                "{algorithm}: {} lengths, {} packs, efficiency {:.4} %, L2 bound {}, LP bound {}, max {} per pack, median {:.3} s ({:.1} M lengths/s)",
                lengths.len(),
                packing.num_packs(),
                100.0 * packing.efficiency(),
                packing.bounds.l2,
                packing.bounds.lp.map_or("-".to_string(), |b| b.to_string()),
                packing.max_depth(),
                median,
                lengths.len() as f64 / median / 1e6
            );
        }
    }
}
