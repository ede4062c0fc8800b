//! Writes a synthetic legacy export (SPEC "Legacy import file") for benchmarks:
//! `cargo run --release -p pfid-migration --example gen_legacy -- 1000000 > legacy.jsonl`
//!
//! The data looks like a real export: distinct, well-formed bcrypt / PBKDF2 / argon2id
//! PHC strings (random salt and digest bytes: computing a million real bcrypt hashes
//! would take hours and tells the importer nothing more), about 1.5% of accounts
//! reusing an earlier account's email with different case or surrounding spaces,
//! families whose logins share children's records, and some security questions.
//! Deterministic for a given seed (second argument, default 1).

use std::io::Write;

use pfid_store::password::HashFormat;

/// splitmix64: small, fast, and good enough for test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, per_thousand: u64) -> bool {
        self.below(1000) < per_thousand
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char)
            .collect()
    }
}

const BCRYPT_B64: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

const FIRST: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Carlos",
    "Maria",
    "Wei",
    "Mei",
    "Ahmed",
    "Fatima",
    "Olga",
    "Ivan",
    "Priya",
];
const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Nguyen",
    "Patel",
    "Kim",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "aol.com",
    "icloud.com",
    "comcast.net",
    "example.org",
];
const QUESTIONS: &[&str] = &[
    "What was the name of your first pet?",
    "In what city were you born?",
    "What is your mother's maiden name?",
    "What was the make of your first car?",
];

/// A well-formed PHC string in one of the export's formats, in roughly the mix an old
/// portal that moved from bcrypt to PBKDF2 to argon2id would hold.
fn hash(rng: &mut Rng) -> String {
    match rng.below(100) {
        0..=69 => {
            let prefix = if rng.chance(500) { "$2a$" } else { "$2b$" };
            format!("{prefix}10${}", rng.chars(BCRYPT_B64, 53))
        }
        70..=89 => format!(
            "$pbkdf2-sha256$i=600000,l=32${}${}",
            rng.chars(B64, 22),
            digest(rng)
        ),
        _ => format!(
            "$argon2id$v=19$m=19456,t=2,p=1${}${}",
            rng.chars(B64, 22),
            digest(rng)
        ),
    }
}

/// 32 bytes in unpadded base64: 43 characters, the last carrying two zero bits as a
/// canonical encoding must.
fn digest(rng: &mut Rng) -> String {
    rng.chars(B64, 42) + &rng.chars(b"AEIMQUYcgkosw048", 1)
}

/// The same address as a person might have typed it again: other case, stray spaces.
fn variant(rng: &mut Rng, email: &str) -> String {
    let cased: String = match rng.below(3) {
        0 => email.to_uppercase(),
        1 => {
            let mut c = email.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        }
        _ => email.replace(".com", ".COM"),
    };
    match rng.below(3) {
        0 => format!(" {cased}"),
        1 => format!("{cased}  "),
        _ => cased,
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let count: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let mut rng = Rng(seed);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    // Emails of recent accounts, reused for the duplicates (a spouse or a second
    // login made years apart by the same person).
    let mut recent: Vec<String> = Vec::with_capacity(1024);
    let mut children = 0u64;
    let mut family: Vec<String> = Vec::new();
    for i in 1..=count {
        let first = rng.pick(FIRST);
        let last = rng.pick(LAST);
        let domain = rng.pick(DOMAINS);
        let own_email = format!(
            "{}.{}{}@{domain}",
            first.to_lowercase(),
            last.to_lowercase(),
            i
        );
        let email = if rng.chance(15) && !recent.is_empty() {
            let j = rng.below(recent.len() as u64) as usize;
            variant(&mut rng, &recent[j])
        } else {
            own_email.clone()
        };
        if recent.len() < 1024 {
            recent.push(own_email);
        } else {
            let j = rng.below(1024) as usize;
            recent[j] = own_email;
        }
        // About a quarter of logins look after children; the next login often belongs
        // to the other parent and sees the same children.
        let mut patient_ids = vec![format!("P{i:08}")];
        if !family.is_empty() && rng.chance(500) {
            patient_ids.append(&mut family);
        } else {
            family.clear();
            if rng.chance(250) {
                for _ in 0..1 + rng.below(3) {
                    children += 1;
                    family.push(format!("C{children:08}"));
                }
                patient_ids.extend(family.iter().cloned());
            }
        }
        let (question, answer) = if rng.chance(600) {
            (
                serde_json::Value::from(rng.pick(QUESTIONS)),
                serde_json::Value::from(hash(&mut rng)),
            )
        } else {
            (serde_json::Value::Null, serde_json::Value::Null)
        };
        let password_hash = hash(&mut rng);
        debug_assert!(HashFormat::is_well_formed(&password_hash));
        let line = serde_json::json!({
            "legacy_id": format!("L{i}"),
            "username": format!("{}{}{}", first.to_lowercase(), &last[..1].to_lowercase(), i),
            "email": email,
            "phone": format!("555-{:03}-{:04}", rng.below(1000), rng.below(10_000)),
            "birth_date": format!("{}-{:02}-{:02}", 1930 + rng.below(80), 1 + rng.below(12), 1 + rng.below(28)),
            "password_hash": password_hash,
            "security_question": question,
            "security_answer_hash": answer,
            "patient_ids": patient_ids,
            "created_at": format!("20{:02}-{:02}-{:02}T{:02}:{:02}:00Z", 10 + rng.below(15), 1 + rng.below(12), 1 + rng.below(28), rng.below(24), rng.below(60)),
            "first_name": first,
            "last_name": last,
        });
        writeln!(out, "{line}")?;
    }
    out.flush()
}
