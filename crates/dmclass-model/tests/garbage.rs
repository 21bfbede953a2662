//! Mutated and random inputs never panic; every error has a real position; whatever
//! parses also round-trips. A deterministic generator keeps runs reproducible.

#![allow(clippy::unwrap_used)]

use dmclass_model::{parse, to_yaml};
use std::path::Path;

/// xorshift64*: small, deterministic, good enough to shake a parser.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap()
    }
}

const ALPHABET: &[&str] = &[
    ":",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "&a",
    "*a",
    "!t",
    "|",
    ">",
    "'",
    "\"",
    "%",
    "@",
    "`",
    "\t",
    "\n",
    " ",
    "  ",
    "?",
    "~",
    "null",
    "name: x",
    "- ",
    "é",
    "\u{0}",
    "\r",
    "0",
    "1GiB",
    "type: stripe",
    "members: [",
    "---\n",
    "...\n",
    "\\",
    "version: 1\n",
    "\u{feff}",
];

fn check(text: &str) {
    match parse("g.yaml", text) {
        Ok(config) => {
            let again = parse("e.yaml", &to_yaml(&config)).unwrap();
            assert_eq!(again.without_spans(), config.without_spans(), "{text:?}");
        }
        Err(d) => {
            assert!(!d.0.is_empty());
            // YAML breaks lines at \n, \r\n and a lone \r.
            let breaks = text.matches('\n').count() + text.matches('\r').count();
            let lines = u32::try_from(breaks).unwrap() + 1;
            for diag in &d.0 {
                assert!(
                    diag.span.line >= 1 && diag.span.line <= lines + 1,
                    "{diag} in {text:?}"
                );
                assert!(diag.span.column >= 1, "{diag} in {text:?}");
                assert!(!diag.message.is_empty());
            }
        }
    }
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 => {
                let end = (at + rng.below(12)).min(chars.len());
                chars.drain(at..end);
            }
            1 | 2 => {
                let piece = ALPHABET[rng.below(ALPHABET.len())];
                chars.splice(at..at, piece.chars());
            }
            _ => {
                // Duplicate a slice elsewhere (duplicate keys, repeated entries).
                let end = (at + rng.below(40)).min(chars.len());
                let slice: Vec<char> = chars[at..end].to_vec();
                let to = rng.below(chars.len() + 1);
                chars.splice(to..to, slice);
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_good_files_never_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/good");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    let mut refused = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for _ in 0..1500 {
            let m = mutate(&mut rng, &text);
            check(&m);
            if parse("m", &m).is_ok() {
                parsed += 1;
            } else {
                refused += 1;
            }
        }
    }
    // The generator must exercise both outcomes to mean anything.
    assert!(
        parsed > 50 && refused > 1000,
        "parsed {parsed}, refused {refused}"
    );
}

#[test]
fn random_strings_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let mut s = String::new();
        for _ in 0..rng.below(30) {
            s.push_str(ALPHABET[rng.below(ALPHABET.len())]);
        }
        check(&s);
    }
}
