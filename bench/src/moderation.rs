//! `kefu-bench moderation`: what checking a message against a tenant's sensitive words costs,
//! with the compiled automata Kefu uses and, for scale, a loop of `contains` over the same
//! words. Runs in-process; no server, no database.

use kefu_domain::moderation::{Filter, Verdict, Word, WordAction};
use std::time::Instant;

/// A deterministic generator, so runs compare.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// A common CJK character (U+4E00 … U+4FFF) or, one time in eight, an ASCII letter.
    fn char(&mut self) -> char {
        let n = self.next();
        if n.is_multiple_of(8) {
            (b'a' + (n % 26) as u8) as char
        } else {
            char::from_u32(0x4E00 + (n % 0x200) as u32).unwrap_or('的')
        }
    }

    fn text(&mut self, len: usize) -> String {
        (0..len).map(|_| self.char()).collect()
    }
}

pub fn run(words: usize, messages: usize) {
    let mut rng = Lcg(2026);
    let list: Vec<Word> = (0..words)
        .map(|i| Word {
            word: rng.text(2 + (i % 4)),
            action: if i.is_multiple_of(5) {
                WordAction::Block
            } else {
                WordAction::Mask
            },
        })
        .collect();
    let texts: Vec<String> = (0..messages).map(|_| rng.text(60)).collect();

    let started = Instant::now();
    let filter = Filter::new(&list);
    let compile = started.elapsed();

    let started = Instant::now();
    let (mut blocked, mut masked) = (0usize, 0usize);
    for t in &texts {
        match filter.check(t) {
            Verdict::Blocked(_) => blocked += 1,
            Verdict::Masked(_) => masked += 1,
            Verdict::Clean => {}
        }
    }
    let scan = started.elapsed();
    let per_message = scan.as_nanos() as f64 / messages as f64;

    // The naive way, on a sample: every word searched in every text.
    let sample = messages.min(2_000);
    let started = Instant::now();
    let mut naive_hits = 0usize;
    for t in &texts[..sample] {
        if list.iter().any(|w| t.contains(w.word.as_str())) {
            naive_hits += 1;
        }
    }
    let naive = started.elapsed().as_nanos() as f64 / sample as f64;

    println!(
        "moderation: {words} words ({} blocking), {messages} messages of 60 characters",
        words / 5
    );
    println!("{:<52} {:>14}", "figure", "measured");
    println!(
        "{:<52} {:>11.1} ms",
        "compile the words",
        compile.as_secs_f64() * 1000.0
    );
    println!(
        "{:<52} {:>11.2} µs",
        "check one message (automata)",
        per_message / 1000.0
    );
    println!(
        "{:<52} {:>11.0}/s",
        "messages checked per second, one core",
        1e9 / per_message
    );
    println!(
        "{:<52} {:>11.2} µs",
        "check one message (loop of contains, for scale)",
        naive / 1000.0
    );
    println!(
        "{:<52} {:>14}",
        "blocked / masked / clean",
        format!("{blocked} / {masked} / {}", messages - blocked - masked)
    );
    // Keep the comparison honest: both ways agree on which sampled texts hold a word.
    let agree = texts[..sample]
        .iter()
        .filter(|t| filter.check(t) != Verdict::Clean)
        .count();
    println!(
        "{:<52} {:>14}",
        "sample with a word (automata / loop)",
        format!("{agree} / {naive_hits}")
    );
}
