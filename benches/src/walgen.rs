//! Generator of realistic BRI write-ahead logs.
//!
//! It simulates an application driving BRI's public API (db.add, save, db.set, db.del, a
//! friendship link that saves two users, custom sets, undeletes, purges, committed
//! transactions) over a social/shop domain (users, posts, comments, products) with a simulated
//! clock, and emits exactly the WAL lines BRI writes for those calls:
//! `{timestamp ms}|{pointer}|{entry}\n`, where `entry` is the JSON of the operation (a SET's
//! `value` is the document's JSS text, JSON-escaped once more) and `pointer` is the first
//! 8 hex chars of `sha256((previous pointer or "") + entry)`.
//!
//! The shapes follow the fixtures written by BRI itself (`benches/fixtures/bri-wal/`): the same
//! keys and key order, JSS type tags (`createdAt<!D>`, `loginHistory<![D,D,D]>`,
//! `favouriteNumbers<!S>`, `locale<!M>`, `handlePattern<!R>`, `lastError<!E>`,
//! `restockDates<![D,U,D]>`), the same awkward strings (escaped quotes, backslashes, CR/LF,
//! `|` inside values, emoji, non-Latin scripts), all lines of one API call sharing one
//! timestamp, ~5% of calls sharing the previous call's millisecond, and quiet nights.
//!
//! Memory is bounded: only a bounded working set of documents is kept (older ones are simply
//! never touched again), so any volume can be generated in a stream.

use crate::jsonw::{escape_into, V};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// BRI's default `walSegmentSize` (10 MiB).
pub const DEFAULT_SEGMENT_BYTES: u64 = 10 * 1024 * 1024;
/// 2024-03-18T08:30:00.000Z, a Monday morning.
pub const DEFAULT_START_MS: i64 = 1_710_750_600_000;

const MAX_ACTIVE: usize = 4000;
const MAX_DELETED: usize = 400;
const MAX_CUSTOM: usize = 2000;
const DAY_MS: i64 = 86_400_000;

/// The pointer BRI stores for `entry` after `prev` (empty for the first line of a chain).
pub fn pointer(prev: &str, entry: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(entry.as_bytes());
    let d = h.finalize();
    hex::encode(&d[..4])
}

/// One WAL line split into its three fields (the entry is everything after the second `|`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedLine<'a> {
    pub timestamp: i64,
    pub pointer: &'a str,
    pub entry: &'a str,
}

/// Splits a WAL line (without its `\n`) on its first two `|`, the way BRI does.
pub fn parse_line(line: &str) -> Option<ParsedLine<'_>> {
    let (ts, rest) = line.split_once('|')?;
    let (ptr, entry) = rest.split_once('|')?;
    if ptr.len() != 8 || !ptr.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let timestamp = ts.parse().ok()?;
    Some(ParsedLine {
        timestamp,
        pointer: ptr,
        entry,
    })
}

/// Kinds of documents, with BRI's key prefixes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    User,
    Post,
    Comment,
    Product,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::User => "USER",
            Kind::Post => "POST",
            Kind::Comment => "CONT",
            Kind::Product => "PROD",
        }
    }
}

#[derive(Clone, Debug)]
struct Doc {
    kind: Kind,
    id: String,
    body: V,
}

impl Doc {
    fn key(&self) -> String {
        format!("{}_{}", self.kind.prefix(), self.id)
    }
}

/// Counts of what was generated.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub lines: u64,
    pub bytes: u64,
    pub set: u64,
    pub sadd: u64,
    pub srem: u64,
    pub rename: u64,
    pub delete: u64,
    pub calls: u64,
    pub first_timestamp: i64,
    pub last_timestamp: i64,
    pub last_pointer: String,
}

/// Streaming generator of WAL lines, one API call at a time.
pub struct WalGenerator {
    rng: StdRng,
    now: i64,
    prev_pointer: String,
    active: Vec<Doc>,
    deleted: Vec<Doc>,
    custom: Vec<(String, String)>,
    pub stats: Stats,
}

const WORDS: &[&str] = &[
    "pixel", "echo", "violet", "breeze", "cobalt", "lantern", "summit", "willow", "harbor",
    "river", "velvet", "thistle", "signal", "canyon", "falcon", "prism", "nebula", "archive",
    "orbit", "quartz", "mosaic", "tundra", "saffron", "copper", "cinder", "atlas", "glacier",
    "meadow", "juniper", "ember", "ledger", "segment", "snapshot", "pointer", "restore", "marble",
    "chain",
];
const FIRST: &[&str] = &[
    "Aïsha",
    "Kenji",
    "José",
    "Grace",
    "Ольга",
    "Björk",
    "Ada",
    "Mia",
    "Renée",
    "Zoë",
    "Linus",
    "Amara",
    "Søren",
    "Priya",
    "Mateo",
    "Chloé",
    "Yuki",
    "Omar",
    "Ines",
    "Noah",
    "韩梅梅",
    "李雷",
    "Łukasz",
    "Nguyễn",
];
const LAST: &[&str] = &[
    "Okafor",
    "Tanaka",
    "Müller",
    "Trần",
    "王",
    "Lovelace",
    "Smith",
    "Hopper",
    "García",
    "Nakamura",
    "Ivanova",
    "O'Brien",
    "Kowalski",
    "Haddad",
    "Silva",
    "Dubois",
    "Iyer",
    "Nørgaard",
    "Παπαδόπουλος",
];
const CITIES: &[&str] = &[
    "Zürich",
    "東京",
    "Montréal",
    "New York",
    "Reykjavík",
    "Αθήνα",
    "São Paulo",
    "Kraków",
    "Lagos",
    "Berlin",
    "Mumbai",
    "Dublin",
];
const TLDS: &[&str] = &["com", "org", "jp", "ie", "de", "io"];
const TAGS: &[&str] = &[
    "ops", "node", "infra", "db", "design", "howto", "wal", "rust", "bun", "perf", "security",
    "bug", "release", "news",
];
const LANGS: &[&str] = &["en", "ga", "ja", "de", "fr", "pt", "el"];
const THEMES: &[&str] = &["dark", "light", "solarized"];
const EMOJI: &[&str] = &["👩‍💻", "😀", "🦀", "👍🏽", "🚀", "🎉"];
const ODD: &[&str] = &[
    "{\"looks\":\"like json\"}",
    "C:\\temp\\new",
    "crlf\r\nend",
    "<!D> is not a tag here",
    "100% | 0%",
    "x || y",
    "line one\nline two",
    "tab\there",
    "a \"quoted\" word",
    "a|b",
    "zero\u{200b}width",
    "ünïcödé ✓",
    "☃",
];
const CATEGORIES: &[&str] = &[
    "tools", "books", "garden", "kitchen", "audio", "outdoor", "toys",
];
const CURRENCIES: &[&str] = &["EUR", "USD", "JPY", "GBP"];
const ERRORS: &[&str] = &[
    "gateway timeout | retry later",
    "ECONNRESET",
    "card declined",
    "quota exceeded",
];

fn round_to(x: f64, decimals: i32) -> f64 {
    let m = 10f64.powi(decimals);
    (x * m).round() / m
}

impl WalGenerator {
    pub fn new(seed: u64) -> Self {
        Self::with_start(seed, DEFAULT_START_MS)
    }

    pub fn with_start(seed: u64, start_ms: i64) -> Self {
        WalGenerator {
            rng: StdRng::seed_from_u64(seed),
            now: start_ms,
            prev_pointer: String::new(),
            active: Vec::new(),
            deleted: Vec::new(),
            custom: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// The pointer of the last line generated ("" before the first).
    pub fn last_pointer(&self) -> &str {
        &self.prev_pointer
    }

    // ----- random helpers -------------------------------------------------------------------

    fn pick<'a>(&mut self, xs: &'a [&'a str]) -> &'a str {
        xs[self.rng.gen_range(0..xs.len())]
    }

    fn id(&mut self) -> String {
        const A: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        (0..7)
            .map(|_| A[self.rng.gen_range(0..A.len())] as char)
            .collect()
    }

    fn words(&mut self, lo: usize, hi: usize) -> String {
        let n = self.rng.gen_range(lo..=hi);
        let mut s = String::new();
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(self.pick(WORDS));
        }
        s
    }

    /// Words, sometimes prefixed by a name, sometimes ending with an odd string or an emoji.
    fn text(&mut self, lo: usize, hi: usize) -> String {
        let mut s = String::new();
        if self.rng.gen_bool(0.25) {
            s.push_str(self.pick(FIRST));
            s.push_str(": ");
        }
        s.push_str(&self.words(lo, hi));
        let r: f64 = self.rng.gen();
        if r < 0.12 {
            s.push(' ');
            s.push_str(self.pick(ODD));
        } else if r < 0.25 {
            s.push(' ');
            s.push_str(self.pick(EMOJI));
        }
        s
    }

    fn tags(&mut self, lo: usize, hi: usize) -> V {
        let n = self.rng.gen_range(lo..=hi);
        let mut v: Vec<V> = Vec::new();
        while v.len() < n {
            let t = V::s(self.pick(TAGS));
            if !v.contains(&t) {
                v.push(t);
            }
        }
        V::A(v)
    }

    fn past(&mut self, max_back_ms: i64) -> i64 {
        self.now - self.rng.gen_range(1..max_back_ms)
    }

    /// Advances the simulated clock for one API call: ~5% of calls share the previous
    /// millisecond; otherwise seconds to tens of minutes pass; nights (22:00-07:xx UTC) are
    /// quiet.
    fn tick(&mut self) {
        if self.stats.calls > 0 && self.rng.gen_bool(0.05) {
            return;
        }
        let r: f64 = self.rng.gen();
        let gap = if r < 0.35 {
            self.rng.gen_range(1..60_000)
        } else {
            // Exponential, mean ~6 minutes.
            let u: f64 = self.rng.gen_range(1e-9..1.0);
            (-u.ln() * 360_000.0) as i64 + 60_000
        };
        self.now += gap;
        let tod = self.now.rem_euclid(DAY_MS);
        if tod >= 22 * 3_600_000 {
            let next_day = self.now - tod + DAY_MS;
            self.now = next_day + 7 * 3_600_000 + self.rng.gen_range(0..5_400_000);
        }
    }

    // ----- documents -------------------------------------------------------------------------

    fn recent_key(&mut self, kind: Kind) -> Option<String> {
        // Mostly recent documents, sometimes any active one.
        let n = self.active.len();
        for _ in 0..12 {
            if n == 0 {
                break;
            }
            let i = if self.rng.gen_bool(0.7) {
                n - 1 - self.rng.gen_range(0..n.min(200))
            } else {
                self.rng.gen_range(0..n)
            };
            if self.active[i].kind == kind {
                return Some(self.active[i].key());
            }
        }
        self.active
            .iter()
            .rev()
            .find(|d| d.kind == kind)
            .map(|d| d.key())
    }

    fn login_history(&mut self, stamps: Vec<i64>) -> (String, V) {
        let tag = vec!["D"; stamps.len()].join(",");
        (
            format!("loginHistory<![{tag}]>"),
            V::A(stamps.into_iter().map(V::Int).collect()),
        )
    }

    fn new_user(&mut self, id: &str) -> V {
        let mut name = format!("{} {}", self.pick(FIRST), self.pick(LAST));
        if self.rng.gen_bool(0.05) {
            let nick: String = self.words(1, 1).chars().take(2).collect();
            let (f, l) = name.split_once(' ').unwrap();
            name = format!("{f} \"{nick}\" {l}");
        }
        let email = format!(
            "{}.{}@example.{}",
            self.pick(WORDS),
            self.rng.gen_range(1..1000),
            self.pick(TLDS)
        );
        let bio = if self.rng.gen_bool(0.3) {
            String::new()
        } else {
            self.text(1, 6)
        };
        let lh = {
            let a = self.past(30 * DAY_MS);
            let b = self.past(30 * DAY_MS);
            self.login_history(vec![a, b])
        };
        let birthday = self.rng.gen_range(-10_000i64..12_000) * DAY_MS;
        let digest = match self.rng.gen_range(0..3) {
            0 => V::s("weekly"),
            1 => V::s("daily"),
            _ => V::Null,
        };
        let mut fields: Vec<(String, V)> = vec![
            ("name".into(), V::S(name)),
            ("email".into(), V::S(email)),
            ("bio".into(), V::S(bio)),
            ("age".into(), V::Int(self.rng.gen_range(16..95))),
            (
                "score".into(),
                V::F(round_to(self.rng.gen_range(0.0..1000.0), 2)),
            ),
            ("verified".into(), V::Bool(self.rng.gen_bool(0.5))),
            (
                "address".into(),
                V::O(vec![
                    ("city".into(), V::s(self.pick(CITIES))),
                    (
                        "geo".into(),
                        V::O(vec![
                            (
                                "lat".into(),
                                V::F(round_to(self.rng.gen_range(-90.0..90.0), 4)),
                            ),
                            (
                                "lng".into(),
                                V::F(round_to(self.rng.gen_range(-180.0..180.0), 4)),
                            ),
                        ]),
                    ),
                ]),
            ),
            (
                "settings".into(),
                V::O(vec![
                    ("theme".into(), V::s(self.pick(THEMES))),
                    ("digest".into(), digest),
                ]),
            ),
            ("tags".into(), self.tags(0, 2)),
            ("birthday<!D>".into(), V::Int(birthday)),
            lh,
            ("friends".into(), V::A(vec![])),
        ];
        if self.rng.gen_bool(0.25) {
            fields.push(("nickname".into(), V::s(self.pick(WORDS))));
        }
        if self.rng.gen_bool(0.08) {
            let n = self.rng.gen_range(1..5);
            let nums = (0..n).map(|_| V::Int(self.rng.gen_range(0..100))).collect();
            fields.push(("favouriteNumbers<!S>".into(), V::A(nums)));
        }
        if self.rng.gen_bool(0.04) {
            fields.push(("handlePattern<!R>".into(), V::s("/^@[a-z]+\\d*$/i")));
        }
        if self.rng.gen_bool(0.08) {
            fields.push((
                "locale<!M>".into(),
                V::O(vec![
                    ("lang".into(), V::s(self.pick(LANGS))),
                    ("tz".into(), V::s("UTC")),
                ]),
            ));
        }
        fields.push(("$ID".into(), V::S(format!("USER_{id}"))));
        fields.push(("createdAt<!D>".into(), V::Int(self.now)));
        fields.push(("updatedAt<!D>".into(), V::Int(self.now)));
        V::O(fields)
    }

    fn new_post(&mut self, id: &str, author: String) -> V {
        let published = self.rng.gen_bool(0.6);
        let mut fields: Vec<(String, V)> = vec![
            ("title".into(), V::S(self.text(3, 6))),
            ("body".into(), V::S(self.text(5, 14))),
            ("author".into(), V::S(author)),
            ("tags".into(), self.tags(1, 3)),
            (
                "stats".into(),
                V::O(vec![
                    ("views".into(), V::Int(0)),
                    ("likes".into(), V::Int(0)),
                    ("shares".into(), V::Int(0)),
                ]),
            ),
            ("published".into(), V::Bool(published)),
            if published {
                ("publishedAt<!D>".into(), V::Int(self.now))
            } else {
                ("publishedAt".into(), V::Null)
            },
            ("lang".into(), V::s(self.pick(LANGS))),
            (
                "readingTimeMin".into(),
                V::F(round_to(self.rng.gen_range(1.0..15.0), 1)),
            ),
        ];
        if self.rng.gen_bool(0.15) {
            fields.push((
                "attachments".into(),
                V::A(vec![V::O(vec![
                    ("kind".into(), V::s("image")),
                    (
                        "url".into(),
                        V::S(format!(
                            "https://img.example/{}.png",
                            self.rng.gen_range(100_000..1_000_000)
                        )),
                    ),
                    ("w".into(), V::Int(self.rng.gen_range(100..4000))),
                    ("h".into(), V::Int(self.rng.gen_range(100..4000))),
                ])]),
            ));
        }
        fields.push(("$ID".into(), V::S(format!("POST_{id}"))));
        fields.push(("createdAt<!D>".into(), V::Int(self.now)));
        fields.push(("updatedAt<!D>".into(), V::Int(self.now)));
        V::O(fields)
    }

    fn new_comment(&mut self, id: &str, post: String, author: String) -> V {
        let reply = if self.rng.gen_bool(0.3) {
            self.recent_key(Kind::Comment).map(V::S).unwrap_or(V::Null)
        } else {
            V::Null
        };
        let mut fields: Vec<(String, V)> = vec![
            ("post".into(), V::S(post)),
            ("author".into(), V::S(author)),
            ("text".into(), V::S(self.text(3, 10))),
            ("likes".into(), V::Int(0)),
            ("replyTo".into(), reply),
        ];
        if self.rng.gen_bool(0.04) {
            let msg = self.pick(ERRORS);
            let stack = format!(
                "Error: {msg}\n    at charge (payments.js:{}:{})\n    at process (queue.js:{}:9)",
                self.rng.gen_range(10..400),
                self.rng.gen_range(1..40),
                self.rng.gen_range(10..300)
            );
            fields.push((
                "lastError<!E>".into(),
                V::A(vec![V::s("Error"), V::s(msg), V::S(stack)]),
            ));
        }
        fields.push(("$ID".into(), V::S(format!("CONT_{id}"))));
        fields.push(("createdAt<!D>".into(), V::Int(self.now)));
        fields.push(("updatedAt<!D>".into(), V::Int(self.now)));
        V::O(fields)
    }

    fn new_product(&mut self, id: &str, seller: String) -> V {
        let mut name = String::new();
        for i in 0..self.rng.gen_range(2..4) {
            if i > 0 {
                name.push(' ');
            }
            let w = self.pick(WORDS);
            let mut c = w.chars();
            if let Some(f) = c.next() {
                name.extend(f.to_uppercase());
                name.push_str(c.as_str());
            }
        }
        let r1 = self.past(60 * DAY_MS);
        let r2 = self.past(10 * DAY_MS);
        let n_cat = self.rng.gen_range(1..3);
        let cats = (0..n_cat).map(|_| V::s(self.pick(CATEGORIES))).collect();
        let fields: Vec<(String, V)> = vec![
            ("name".into(), V::S(name)),
            (
                "sku".into(),
                V::S(format!("SKU-{:04}", self.rng.gen_range(0..10_000))),
            ),
            (
                "price".into(),
                V::F(round_to(self.rng.gen_range(1.0..500.0), 2)),
            ),
            ("currency".into(), V::s(self.pick(CURRENCIES))),
            ("stock".into(), V::Int(self.rng.gen_range(0..500))),
            ("categories".into(), V::A(cats)),
            (
                "dimensions".into(),
                V::O(vec![
                    ("w".into(), V::Int(self.rng.gen_range(1..100))),
                    ("h".into(), V::Int(self.rng.gen_range(1..100))),
                    ("d".into(), V::Int(self.rng.gen_range(1..100))),
                    ("unit".into(), V::s("cm")),
                ]),
            ),
            ("skuPattern<!R>".into(), V::s("/^SKU-\\d{4}$/")),
            (
                "restockDates<![D,U,D]>".into(),
                V::A(vec![V::Int(r1), V::Null, V::Int(r2)]),
            ),
            ("seller".into(), V::S(seller)),
            ("$ID".into(), V::S(format!("PROD_{id}"))),
            ("createdAt<!D>".into(), V::Int(self.now)),
            ("updatedAt<!D>".into(), V::Int(self.now)),
        ];
        V::O(fields)
    }

    fn make_doc(&mut self, kind: Kind) -> Doc {
        let id = self.id();
        let body = match kind {
            Kind::User => self.new_user(&id),
            Kind::Post => {
                let a = self
                    .recent_key(Kind::User)
                    .unwrap_or_else(|| "USER_anon000".into());
                self.new_post(&id, a)
            }
            Kind::Comment => {
                let p = self
                    .recent_key(Kind::Post)
                    .unwrap_or_else(|| "POST_none000".into());
                let a = self
                    .recent_key(Kind::User)
                    .unwrap_or_else(|| "USER_anon000".into());
                self.new_comment(&id, p, a)
            }
            Kind::Product => {
                let s = self
                    .recent_key(Kind::User)
                    .unwrap_or_else(|| "USER_anon000".into());
                self.new_product(&id, s)
            }
        };
        Doc { kind, id, body }
    }

    /// What save() changes in a document before writing it again.
    fn mutate(&mut self, doc: &mut Doc) {
        let now = self.now;
        let r: f64 = self.rng.gen();
        match doc.kind {
            Kind::User => {
                if r < 0.5 {
                    let mut stamps: Vec<i64> = match doc.body.get("loginHistory") {
                        Some(V::A(xs)) => xs
                            .iter()
                            .filter_map(|v| if let V::Int(i) = v { Some(*i) } else { None })
                            .collect(),
                        _ => vec![],
                    };
                    stamps.push(now);
                    while stamps.len() > 3 {
                        stamps.remove(0);
                    }
                    let (k, v) = self.login_history(stamps);
                    doc.body.set(&k, v);
                } else if r < 0.8 {
                    if let Some(V::F(s)) = doc.body.get_mut("score") {
                        let d: f64 = self.rng.gen_range(-20.0..20.0);
                        *s = round_to((*s + d).max(0.0), 2);
                    }
                } else if r < 0.9 {
                    let t = self.tags(0, 3);
                    doc.body.set("tags", t);
                } else {
                    let b = self.text(1, 6);
                    doc.body.set("bio", V::S(b));
                }
            }
            Kind::Post => {
                if r < 0.6 {
                    let dv = self.rng.gen_range(0..60);
                    let dl = self.rng.gen_range(0..dv / 2 + 1);
                    let ds = self.rng.gen_range(0..2);
                    if let Some(V::O(st)) = doc.body.get_mut("stats") {
                        for (k, v) in st.iter_mut() {
                            if let V::Int(i) = v {
                                *i += match k.as_str() {
                                    "views" => dv,
                                    "likes" => dl,
                                    _ => ds,
                                };
                            }
                        }
                    }
                } else if r < 0.75 && doc.body.get("published") == Some(&V::Bool(false)) {
                    doc.body.set("published", V::Bool(true));
                    doc.body.set("publishedAt<!D>", V::Int(now));
                } else if r < 0.9 {
                    let t = self.text(3, 6);
                    doc.body.set("title", V::S(t));
                } else {
                    let t = self.tags(1, 3);
                    doc.body.set("tags", t);
                }
            }
            Kind::Comment => {
                if r < 0.75 {
                    let d = self.rng.gen_range(1..6);
                    if let Some(V::Int(l)) = doc.body.get_mut("likes") {
                        *l += d;
                    }
                } else {
                    let t = self.text(3, 10);
                    doc.body.set("text", V::S(t));
                    doc.body.set("updatedAt<!D>", V::Int(now));
                    doc.body.set("editedAt<!D>", V::Int(now));
                }
            }
            Kind::Product => {
                if r < 0.5 {
                    let s = self.rng.gen_range(0..500);
                    doc.body.set("stock", V::Int(s));
                } else if r < 0.75 {
                    if let Some(V::F(p)) = doc.body.get_mut("price") {
                        let f: f64 = self.rng.gen_range(0.8..1.2);
                        *p = round_to(*p * f, 2);
                    }
                } else if let Some(V::A(xs)) = doc.body.get("restockDates") {
                    let mut xs = xs.clone();
                    xs.push(V::Int(now));
                    if xs.len() > 5 {
                        xs.remove(0);
                    }
                    let tag: Vec<&str> = xs
                        .iter()
                        .map(|v| if matches!(v, V::Null) { "U" } else { "D" })
                        .collect();
                    doc.body
                        .set(&format!("restockDates<![{}]>", tag.join(",")), V::A(xs));
                }
            }
        }
        doc.body.set("updatedAt<!D>", V::Int(now));
    }

    fn pick_kind(&mut self) -> Kind {
        let r: f64 = self.rng.gen();
        if r < 0.22 {
            Kind::User
        } else if r < 0.48 {
            Kind::Post
        } else if r < 0.9 {
            Kind::Comment
        } else {
            Kind::Product
        }
    }

    /// Index into `active`, mostly among recent documents.
    fn pick_active(&mut self) -> Option<usize> {
        let n = self.active.len();
        if n == 0 {
            return None;
        }
        Some(if self.rng.gen_bool(0.85) {
            n - 1 - self.rng.gen_range(0..n.min(60))
        } else {
            self.rng.gen_range(0..n)
        })
    }

    fn push_active(&mut self, doc: Doc) {
        self.active.push(doc);
        if self.active.len() > MAX_ACTIVE {
            // Retire the oldest quarter: they stay in the database, never touched again.
            self.active.drain(0..MAX_ACTIVE / 4);
        }
    }

    // ----- entries --------------------------------------------------------------------------

    fn set_entry(key: &str, doc: &V, txn: Option<&str>) -> String {
        let value = doc.to_json();
        let mut e = String::with_capacity(value.len() + value.len() / 8 + 64);
        e.push_str("{\"action\":\"SET\",\"target\":\"");
        escape_into(key, &mut e);
        e.push_str("\",\"value\":\"");
        escape_into(&value, &mut e);
        e.push('"');
        if let Some(t) = txn {
            e.push_str(",\"txn\":");
            e.push_str(t);
        }
        e.push('}');
        e
    }

    fn member_entry(action: &str, set: &str, member: &str, txn: Option<&str>) -> String {
        let mut e = format!("{{\"action\":\"{action}\",\"target\":\"");
        escape_into(set, &mut e);
        e.push_str("\",\"member\":\"");
        escape_into(member, &mut e);
        e.push('"');
        if let Some(t) = txn {
            e.push_str(",\"txn\":");
            e.push_str(t);
        }
        e.push('}');
        e
    }

    fn rename_entry(old: &str, new: &str) -> String {
        format!("{{\"action\":\"RENAME\",\"target\":\"{new}\",\"oldKey\":\"{old}\"}}")
    }

    fn delete_entry(key: &str) -> String {
        format!("{{\"action\":\"DELETE\",\"target\":\"{key}\"}}")
    }

    /// Appends the line for `entry` (timestamp now, next pointer of the chain) to `out`.
    fn emit(&mut self, entry: String, out: &mut Vec<String>) {
        let p = pointer(&self.prev_pointer, &entry);
        let action = entry
            .strip_prefix("{\"action\":\"")
            .and_then(|r| r.split('"').next())
            .unwrap_or("");
        match action {
            "SET" => self.stats.set += 1,
            "SADD" => self.stats.sadd += 1,
            "SREM" => self.stats.srem += 1,
            "RENAME" => self.stats.rename += 1,
            "DELETE" => self.stats.delete += 1,
            _ => {}
        }
        let line = format!("{}|{}|{}\n", self.now, p, entry);
        if self.stats.lines == 0 {
            self.stats.first_timestamp = self.now;
        }
        self.stats.last_timestamp = self.now;
        self.stats.lines += 1;
        self.stats.bytes += line.len() as u64;
        self.stats.last_pointer.clone_from(&p);
        self.prev_pointer = p;
        out.push(line);
    }

    /// Generates the WAL lines of one API call (all with the same timestamp) into `out`
    /// (cleared first), each ending with `\n`.
    pub fn next_call(&mut self, out: &mut Vec<String>) {
        out.clear();
        self.tick();
        self.stats.calls += 1;
        while out.is_empty() {
            let r: f64 = self.rng.gen();
            if self.active.len() < 8 || r < 0.20 {
                self.call_add(out);
            } else if r < 0.75 {
                self.call_save(out);
            } else if r < 0.78 {
                self.call_replace(out);
            } else if r < 0.80 {
                self.call_link(out);
            } else if r < 0.86 {
                self.call_del(out);
            } else if r < 0.87 {
                self.call_undelete(out);
            } else if r < 0.875 {
                self.call_purge(out);
            } else if r < 0.877 {
                self.call_hard_delete(out);
            } else if r < 0.92 {
                self.call_custom_add(out);
            } else if r < 0.945 {
                self.call_custom_rem(out);
            } else {
                self.call_txn(out);
            }
        }
    }

    fn call_add(&mut self, out: &mut Vec<String>) {
        let mut kind = if self.active.len() < 3 {
            Kind::User
        } else {
            self.pick_kind()
        };
        if kind == Kind::Comment && !self.active.iter().any(|d| d.kind == Kind::Post) {
            kind = Kind::Post;
        }
        let doc = self.make_doc(kind);
        let key = doc.key();
        self.emit(Self::set_entry(&key, &doc.body, None), out);
        self.emit(
            Self::member_entry("SADD", &format!("{}?", kind.prefix()), &doc.id, None),
            out,
        );
        self.push_active(doc);
    }

    fn call_save(&mut self, out: &mut Vec<String>) {
        let Some(i) = self.pick_active() else { return };
        let mut doc = self.active[i].clone();
        self.mutate(&mut doc);
        self.emit(Self::set_entry(&doc.key(), &doc.body, None), out);
        self.active[i] = doc;
    }

    /// db.set: the whole document replaced; keys `$ID, updatedAt, createdAt` in that order.
    fn call_replace(&mut self, out: &mut Vec<String>) {
        let Some(i) = self.pick_active() else { return };
        let old = self.active[i].clone();
        let mut fresh = self.make_doc(old.kind);
        fresh.id = old.id.clone();
        let created = old
            .body
            .get("createdAt")
            .cloned()
            .unwrap_or(V::Int(self.now));
        for k in ["$ID", "createdAt", "updatedAt"] {
            fresh.body.remove(k);
        }
        fresh.body.set("replacedBy", V::s("db.set"));
        fresh.body.set("$ID", V::S(old.key()));
        fresh.body.set("updatedAt<!D>", V::Int(self.now));
        fresh.body.set("createdAt<!D>", created);
        self.emit(Self::set_entry(&fresh.key(), &fresh.body, None), out);
        self.active[i] = fresh;
    }

    /// Two users become friends: both saved, same timestamp.
    fn call_link(&mut self, out: &mut Vec<String>) {
        let users: Vec<usize> = (0..self.active.len())
            .rev()
            .filter(|&i| self.active[i].kind == Kind::User)
            .take(50)
            .collect();
        if users.len() < 2 {
            return;
        }
        let a = users[self.rng.gen_range(0..users.len())];
        let b = users[self.rng.gen_range(0..users.len())];
        if a == b {
            return;
        }
        for (x, y) in [(a, b), (b, a)] {
            let other = self.active[y].key();
            let now = self.now;
            let doc = &mut self.active[x];
            if let Some(V::A(f)) = doc.body.get_mut("friends") {
                if f.len() < 8 {
                    f.push(V::S(other));
                }
            }
            doc.body.set("updatedAt<!D>", V::Int(now));
            let e = Self::set_entry(&doc.key(), &doc.body, None);
            self.emit(e, out);
        }
    }

    /// db.del: SET with deletedAt/deletedBy, RENAME to `X:key:X`, SREM from the type set.
    fn call_del(&mut self, out: &mut Vec<String>) {
        let Some(i) = self.pick_active() else { return };
        let mut doc = self.active.remove(i);
        let by = self.recent_key(Kind::User).unwrap_or_else(|| doc.key());
        doc.body.set("updatedAt<!D>", V::Int(self.now));
        doc.body.set("deletedAt<!D>", V::Int(self.now));
        doc.body.set("deletedBy", V::S(by));
        let key = doc.key();
        self.emit(Self::set_entry(&key, &doc.body, None), out);
        self.emit(Self::rename_entry(&key, &format!("X:{key}:X")), out);
        self.emit(
            Self::member_entry("SREM", &format!("{}?", doc.kind.prefix()), &doc.id, None),
            out,
        );
        self.deleted.push(doc);
        if self.deleted.len() > MAX_DELETED {
            self.deleted.remove(0);
        }
    }

    fn call_undelete(&mut self, out: &mut Vec<String>) {
        if self.deleted.is_empty() {
            return;
        }
        let i = self.rng.gen_range(0..self.deleted.len());
        let doc = self.deleted.remove(i);
        let key = doc.key();
        self.emit(Self::rename_entry(&format!("X:{key}:X"), &key), out);
        self.emit(
            Self::member_entry("SADD", &format!("{}?", doc.kind.prefix()), &doc.id, None),
            out,
        );
        self.push_active(doc);
    }

    fn call_purge(&mut self, out: &mut Vec<String>) {
        if self.deleted.is_empty() {
            return;
        }
        let i = self.rng.gen_range(0..self.deleted.len());
        let doc = self.deleted.remove(i);
        self.emit(Self::delete_entry(&format!("X:{}:X", doc.key())), out);
    }

    fn call_hard_delete(&mut self, out: &mut Vec<String>) {
        let Some(i) = self.pick_active() else { return };
        let doc = self.active.remove(i);
        self.emit(Self::delete_entry(&doc.key()), out);
        self.emit(
            Self::member_entry("SREM", &format!("{}?", doc.kind.prefix()), &doc.id, None),
            out,
        );
    }

    fn call_custom_add(&mut self, out: &mut Vec<String>) {
        let r: f64 = self.rng.gen();
        let (set, member) = if r < 0.3 {
            ("online".to_string(), self.recent_key(Kind::User))
        } else if r < 0.55 {
            ("featured".to_string(), self.recent_key(Kind::Post))
        } else if r < 0.75 {
            let w = if self.rng.gen_bool(0.5) {
                "trending:week"
            } else {
                "trending:today"
            };
            let m = if self.rng.gen_bool(0.1) {
                Some("none".to_string())
            } else {
                self.recent_key(Kind::Post)
            };
            (w.to_string(), m)
        } else {
            (
                format!("tag:{}", self.pick(TAGS)),
                self.recent_key(Kind::Post),
            )
        };
        let Some(member) = member else { return };
        self.emit(Self::member_entry("SADD", &set, &member, None), out);
        self.custom.push((set, member));
        if self.custom.len() > MAX_CUSTOM {
            self.custom.drain(0..MAX_CUSTOM / 4);
        }
    }

    fn call_custom_rem(&mut self, out: &mut Vec<String>) {
        if self.custom.is_empty() {
            return;
        }
        let i = self.rng.gen_range(0..self.custom.len());
        let (set, member) = self.custom.swap_remove(i);
        self.emit(Self::member_entry("SREM", &set, &member, None), out);
    }

    /// A committed transaction (fin): new documents and updates staged at `ts`, squashed at
    /// commit: one SET per touched document, then one SADD per added member, each line
    /// carrying the `txn` field with the staged action list.
    fn call_txn(&mut self, out: &mut Vec<String>) {
        let staged_at = self.now - self.rng.gen_range(500..20_000);
        let n_new = self.rng.gen_range(0..3);
        let n_upd = self.rng.gen_range(1..3);
        let mut actions: Vec<V> = Vec::new();
        let act = |a: &str, t: &str| {
            V::O(vec![
                ("action".into(), V::s(a)),
                ("target".into(), V::s(t)),
                ("ts<!D>".into(), V::Int(staged_at)),
            ])
        };
        let saved_now = self.now;
        self.now = staged_at;
        let mut new_docs = Vec::new();
        for _ in 0..n_new {
            let kind = if self.rng.gen_bool(0.5) {
                Kind::Post
            } else {
                Kind::Comment
            };
            let d = self.make_doc(kind);
            actions.push(act("SET", &d.key()));
            actions.push(act("SADD", &format!("{}?", kind.prefix())));
            new_docs.push(d);
        }
        let mut upd = Vec::new();
        for _ in 0..n_upd {
            if let Some(i) = self.pick_active() {
                if upd.contains(&i) {
                    continue;
                }
                let mut d = self.active[i].clone();
                self.mutate(&mut d);
                actions.push(act("SET", &d.key()));
                upd.push(i);
                self.active[i] = d;
            }
        }
        self.now = saved_now;
        let txn = V::O(vec![
            ("txnId".into(), V::S(format!("txn_{}", self.id()))),
            ("actions".into(), V::A(actions)),
        ])
        .to_json();
        for d in &new_docs {
            let e = Self::set_entry(&d.key(), &d.body, Some(&txn));
            self.emit(e, out);
        }
        for &i in &upd {
            let e = Self::set_entry(&self.active[i].key(), &self.active[i].body, Some(&txn));
            self.emit(e, out);
        }
        for d in &new_docs {
            let e = Self::member_entry("SADD", &format!("{}?", d.kind.prefix()), &d.id, Some(&txn));
            self.emit(e, out);
        }
        for d in new_docs {
            self.push_active(d);
        }
    }
}

/// Options for writing a BRI data directory.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Stop before the WAL would exceed this many bytes (whole API calls only).
    pub bytes: u64,
    pub seed: u64,
    /// BRI's `walSegmentSize`: rotate before a line that would push a segment past it.
    pub segment_bytes: u64,
    pub start_ms: i64,
}

impl GenOptions {
    pub fn new(bytes: u64, seed: u64) -> Self {
        GenOptions {
            bytes,
            seed,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            start_ms: DEFAULT_START_MS,
        }
    }
}

/// Summary of a generated data directory.
#[derive(Clone, Debug)]
pub struct GenSummary {
    pub stats: Stats,
    pub segments: Vec<PathBuf>,
}

/// Feeds WAL lines into segment files the way BRI's writer does: before a line that would push
/// the current segment past `segment_bytes`, a new segment is started (so a line larger than
/// the limit gets a segment of its own, and one right after a rotation leaves an empty one).
pub struct SegmentWriter {
    dir: PathBuf,
    limit: u64,
    index: u32,
    size: u64,
    file: io::BufWriter<fs::File>,
    pub segments: Vec<PathBuf>,
}

impl SegmentWriter {
    /// Creates `dir` (the `wal/` directory) and its first segment `000000.wal`.
    pub fn create(dir: &Path, limit: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let first = dir.join("000000.wal");
        let file = io::BufWriter::with_capacity(1 << 20, fs::File::create(&first)?);
        Ok(SegmentWriter {
            dir: dir.to_path_buf(),
            limit,
            index: 0,
            size: 0,
            file,
            segments: vec![first],
        })
    }

    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        if self.size + line.len() as u64 > self.limit {
            self.rotate()?;
        }
        self.file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    pub fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.index += 1;
        let path = self.dir.join(format!("{:06}.wal", self.index));
        self.file = io::BufWriter::with_capacity(1 << 20, fs::File::create(&path)?);
        self.segments.push(path);
        self.size = 0;
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<Vec<PathBuf>> {
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        Ok(self.segments)
    }
}

/// Writes `dir/wal/000000.wal, 000001.wal, ...` holding about `opts.bytes` bytes of WAL (never
/// more; whole API calls only). `dir/wal` must not hold segments already.
pub fn write_data_dir(dir: &Path, opts: &GenOptions) -> io::Result<GenSummary> {
    let wal = dir.join("wal");
    if wal.exists() && fs::read_dir(&wal)?.next().is_some() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} already holds files", wal.display()),
        ));
    }
    let mut gen = WalGenerator::with_start(opts.seed, opts.start_ms);
    let mut w = SegmentWriter::create(&wal, opts.segment_bytes)?;
    let mut lines = Vec::new();
    let mut written = 0u64;
    let mut stats;
    loop {
        stats = gen.stats.clone();
        gen.next_call(&mut lines);
        let n: u64 = lines.iter().map(|l| l.len() as u64).sum();
        if written + n > opts.bytes {
            break;
        }
        for l in &lines {
            w.write_line(l.as_bytes())?;
        }
        written += n;
    }
    let segments = w.finish()?;
    // `stats` is what was written: the last generated call was dropped.
    Ok(GenSummary { stats, segments })
}

/// Checks a WAL text: every non-empty line parses, the pointer chain (starting from `anchor`,
/// "" for the first line of a database) is valid, and timestamps never decrease. Returns the
/// number of lines and the last pointer.
pub fn verify_chain(text: &str, anchor: &str) -> Result<(u64, String), String> {
    let mut prev = anchor.to_string();
    let mut last_ts = i64::MIN;
    let mut n = 0u64;
    for (i, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let p = parse_line(line).ok_or_else(|| format!("line {}: does not parse", i + 1))?;
        let want = pointer(&prev, p.entry);
        if want != p.pointer {
            return Err(format!(
                "line {}: pointer {} but chain gives {}",
                i + 1,
                p.pointer,
                want
            ));
        }
        if p.timestamp < last_ts {
            return Err(format!("line {}: timestamp goes back", i + 1));
        }
        last_ts = p.timestamp;
        prev = want;
        n += 1;
    }
    Ok((n, prev))
}
