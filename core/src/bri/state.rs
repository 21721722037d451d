//! The database state BRI recovers: documents (key -> stored JSS string) and collections
//! (name -> set of members), and how WAL operations change it.

use super::jss::canonical_document;
use super::wal::{Op, OpRef};
use std::collections::{BTreeMap, BTreeSet};

/// Documents and collections, in key order (ordered maps: deterministic output and no hash
/// state, so no randomness in core and no hash-flooding of replay by a hostile WAL).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// Key -> the document's stored JSS text, exactly as written.
    pub documents: BTreeMap<String, String>,
    /// Set name -> members. A set is kept once it has existed, even when empty.
    pub collections: BTreeMap<String, BTreeSet<String>>,
}

impl State {
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one operation the way BRI's replay does.
    ///
    /// * SET replaces the document.
    /// * DELETE removes the document (a missing key is no error).
    /// * RENAME moves the document `old_key` to `target`, replacing what `target` held; when
    ///   `old_key` does not exist nothing changes.
    /// * SADD adds to the set (creating it); SREM removes from it and creates the set when it
    ///   did not exist (BRI keeps the set object once it has been touched).
    /// * Unknown actions change nothing.
    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Set { target, value } => {
                self.documents.insert(target.clone(), value.clone());
            }
            Op::Delete { target } => {
                self.documents.remove(target);
            }
            Op::Rename { old_key, target } => {
                if let Some(v) = self.documents.remove(old_key) {
                    self.documents.insert(target.clone(), v);
                }
            }
            Op::SAdd { target, member } => {
                self.collections
                    .entry(target.clone())
                    .or_default()
                    .insert(member.clone());
            }
            Op::SRem { target, member } => {
                if let Some(set) = self.collections.get_mut(target) {
                    set.remove(member);
                }
            }
            Op::Unknown { .. } => {}
        }
    }

    /// [`State::apply`], taking the operation by value (no copy of the document string).
    pub fn apply_owned(&mut self, op: Op) {
        match op {
            Op::Set { target, value } => {
                self.documents.insert(target, value);
            }
            Op::Rename { old_key, target } => {
                if let Some(v) = self.documents.remove(&old_key) {
                    self.documents.insert(target, v);
                }
            }
            Op::SAdd { target, member } => match self.collections.get_mut(&target) {
                Some(set) => {
                    set.insert(member);
                }
                None => {
                    self.collections.entry(target).or_default().insert(member);
                }
            },
            other => self.apply(&other),
        }
    }

    /// Register a document of BRI's cold tier the way BRI does on start: the file
    /// `cold/TYPE/ID.jss` becomes the document `TYPE_ID`, unless that key is already present
    /// (from the snapshot). Returns the key when it was added. Note BRI bug 4: a soft-deleted
    /// document `X:TYPE_id:X` evicted to cold/ comes back under its live key this way.
    pub fn add_cold_document(
        &mut self,
        type_dir: &str,
        file_name: &str,
        text: &str,
    ) -> Option<String> {
        let key = cold_document_key(type_dir, file_name)?;
        if self.documents.contains_key(&key) {
            return None;
        }
        self.documents.insert(key.clone(), text.to_owned());
        Some(key)
    }

    /// Documents in key order (byte order; JS string order for the ASCII keys BRI uses).
    pub fn sorted_documents(&self) -> Vec<(&String, &String)> {
        self.documents.iter().collect()
    }

    /// Collections in name order, each with its members sorted.
    pub fn sorted_collections(&self) -> Vec<(&String, Vec<&String>)> {
        self.collections
            .iter()
            .map(|(k, set)| (k, set.iter().collect()))
            .collect()
    }

    /// The canonical form as a JSON value: `{"collections": {name: [sorted members]},
    /// "documents": {key: stored string parsed as plain JSON}}` (keys sorted at every depth).
    pub fn to_canonical_value(&self) -> serde_json::Value {
        let mut cols = serde_json::Map::new();
        for (name, members) in self.sorted_collections() {
            cols.insert(
                name.clone(),
                serde_json::Value::Array(
                    members
                        .into_iter()
                        .cloned()
                        .map(serde_json::Value::String)
                        .collect(),
                ),
            );
        }
        let mut docs = serde_json::Map::new();
        for (k, v) in &self.documents {
            docs.insert(k.clone(), canonical_document(v));
        }
        let mut root = serde_json::Map::new();
        root.insert("collections".into(), serde_json::Value::Object(cols));
        root.insert("documents".into(), serde_json::Value::Object(docs));
        serde_json::Value::Object(root)
    }

    /// The canonical form as text, in the layout of the fixtures' `expected/*.json` files: one
    /// collection or document per line.
    pub fn to_canonical_json(&self) -> String {
        let mut out = String::from("{\"collections\":{");
        let mut first = true;
        for (name, arr) in self.sorted_collections() {
            out.push_str(if first { "\n" } else { ",\n" });
            first = false;
            out.push_str(&serde_json::Value::String(name.clone()).to_string());
            out.push(':');
            out.push_str(&serde_json::to_string(&arr).unwrap_or_else(|_| "[]".into()));
        }
        out.push_str("\n},\n\"documents\":{");
        first = true;
        for (k, v) in self.sorted_documents() {
            out.push_str(if first { "\n" } else { ",\n" });
            first = false;
            out.push_str(&serde_json::Value::String(k.clone()).to_string());
            out.push(':');
            out.push_str(&canonical_document(v).to_string());
        }
        out.push_str("\n}}\n");
        out
    }
}

/// The document key BRI gives the cold-tier file `cold/<type_dir>/<file_name>`:
/// `TYPE_ID` for `TYPE/ID.jss`; `None` for files that are not `.jss`.
pub fn cold_document_key(type_dir: &str, file_name: &str) -> Option<String> {
    let id = file_name.strip_suffix(".jss")?;
    if id.is_empty() || type_dir.is_empty() {
        return None;
    }
    Some(format!("{type_dir}_{id}"))
}

/// Largest bucket kept as a plain list; a fuller one becomes an ordered map.
const SMALL_BUCKET: usize = 8;

#[derive(Debug, Clone)]
enum Bucket<V> {
    /// (hash of the key, key, value): keys are compared only when the hashes are equal.
    Small(Vec<(u64, String, V)>),
    Tree(BTreeMap<String, V>),
}

/// The map replay works on: a table of buckets indexed by a fixed (deterministic, unkeyed)
/// hash of the key, each bucket a short list or, when more than [`SMALL_BUCKET`] keys land in
/// it, an ordered map. Keys chosen to collide (a hostile WAL knows the hash) only make one
/// bucket an ordered map, so the worst case is that of a `BTreeMap` (O(log n) comparisons),
/// never linear; the usual case is one hash and one or two comparisons.
#[derive(Debug, Clone)]
pub(crate) struct BucketMap<V> {
    buckets: Vec<Bucket<V>>,
    len: usize,
}

fn key_hash(b: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = 0x243f_6a88_85a3_08d3 ^ (b.len() as u64).wrapping_mul(K);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K);
        h ^= h >> 29;
    }
    let r = chunks.remainder();
    if !r.is_empty() {
        let mut w = [0u8; 8];
        w[..r.len()].copy_from_slice(r);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl<V> BucketMap<V> {
    pub(crate) fn new() -> Self {
        BucketMap {
            buckets: Vec::new(),
            len: 0,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    fn index(&self, h: u64) -> usize {
        (h as usize) & (self.buckets.len() - 1)
    }

    /// Keep at most one key per bucket on average (the bucket count is a power of two).
    fn reserve_one(&mut self) {
        if self.len < self.buckets.len() {
            return;
        }
        let n = (self.buckets.len() * 2).max(8);
        let old = std::mem::replace(
            &mut self.buckets,
            (0..n).map(|_| Bucket::Small(Vec::new())).collect(),
        );
        for b in old {
            match b {
                Bucket::Small(v) => {
                    for (h, k, x) in v {
                        self.place(h, k, x);
                    }
                }
                Bucket::Tree(t) => {
                    for (k, x) in t {
                        self.place(key_hash(k.as_bytes()), k, x);
                    }
                }
            }
        }
    }

    /// Put a key known to be absent (rehashing).
    fn place(&mut self, h: u64, k: String, x: V) {
        let i = self.index(h);
        push_new(&mut self.buckets[i], h, k, x);
    }

    fn get_mut_hashed(&mut self, h: u64, k: &str) -> Option<&mut V> {
        if self.buckets.is_empty() {
            return None;
        }
        let i = self.index(h);
        match &mut self.buckets[i] {
            Bucket::Small(v) => v
                .iter_mut()
                .find(|(hh, kk, _)| *hh == h && kk == k)
                .map(|(_, _, x)| x),
            Bucket::Tree(t) => t.get_mut(k),
        }
    }

    pub(crate) fn get_mut(&mut self, k: &str) -> Option<&mut V> {
        self.get_mut_hashed(key_hash(k.as_bytes()), k)
    }

    pub(crate) fn remove(&mut self, k: &str) -> Option<V> {
        if self.buckets.is_empty() {
            return None;
        }
        let h = key_hash(k.as_bytes());
        let i = self.index(h);
        let r = match &mut self.buckets[i] {
            Bucket::Small(v) => v
                .iter()
                .position(|(hh, kk, _)| *hh == h && kk == k)
                .map(|p| v.swap_remove(p).2),
            Bucket::Tree(t) => t.remove(k),
        };
        if r.is_some() {
            self.len -= 1;
        }
        r
    }

    /// Insert or replace; returns the previous value.
    pub(crate) fn insert(&mut self, k: String, x: V) -> Option<V> {
        let h = key_hash(k.as_bytes());
        if let Some(old) = self.get_mut_hashed(h, &k) {
            return Some(std::mem::replace(old, x));
        }
        self.reserve_one();
        self.len += 1;
        self.place(h, k, x);
        None
    }

    /// Run `act` on the value of `k`, first inserting `make()` (allocating the key only then)
    /// when `k` is absent.
    pub(crate) fn upsert(&mut self, k: &str, make: impl FnOnce() -> V, act: impl FnOnce(&mut V)) {
        let h = key_hash(k.as_bytes());
        if let Some(x) = self.get_mut_hashed(h, k) {
            act(x);
            return;
        }
        let mut x = make();
        act(&mut x);
        self.reserve_one();
        self.len += 1;
        self.place(h, k.to_owned(), x);
    }

    /// All entries in key order, as an ordered map. Sorting on an 8-byte key prefix first
    /// compares most pairs without a `memcmp` call.
    pub(crate) fn into_btree<W>(self, f: impl Fn(V) -> W) -> BTreeMap<String, W> {
        let mut v: Vec<(u64, String, W)> = self
            .into_vec()
            .into_iter()
            .map(|(k, x)| (key_prefix(&k), k, f(x)))
            .collect();
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        // Already sorted: the collect only checks the order.
        v.into_iter().map(|(_, k, x)| (k, x)).collect()
    }

    /// All entries, in no particular order.
    pub(crate) fn into_vec(self) -> Vec<(String, V)> {
        let mut out = Vec::with_capacity(self.len);
        for b in self.buckets {
            match b {
                Bucket::Small(v) => out.extend(v.into_iter().map(|(_, k, x)| (k, x))),
                Bucket::Tree(t) => out.extend(t),
            }
        }
        out
    }

    /// All entries by reference, in no particular order.
    pub(crate) fn entries(&self) -> Vec<(&String, &V)> {
        let mut out = Vec::with_capacity(self.len);
        for b in &self.buckets {
            match b {
                Bucket::Small(v) => out.extend(v.iter().map(|(_, k, x)| (k, x))),
                Bucket::Tree(t) => out.extend(t.iter()),
            }
        }
        out
    }

    #[cfg(test)]
    fn tree_buckets(&self) -> usize {
        self.buckets
            .iter()
            .filter(|b| matches!(b, Bucket::Tree(_)))
            .count()
    }
}

/// The first 8 bytes of a key as a big-endian number (zero-padded): ordering by it and then by
/// the whole key is the byte order of the keys.
fn key_prefix(k: &str) -> u64 {
    let b = k.as_bytes();
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    u64::from_be_bytes(w)
}

fn push_new<V>(b: &mut Bucket<V>, h: u64, k: String, x: V) {
    match b {
        Bucket::Small(v) if v.len() < SMALL_BUCKET => {
            if v.len() == v.capacity() {
                v.reserve_exact(v.len().max(1));
            }
            v.push((h, k, x));
        }
        Bucket::Small(v) => {
            let mut t: BTreeMap<String, V> = std::mem::take(v)
                .into_iter()
                .map(|(_, k, x)| (k, x))
                .collect();
            t.insert(k, x);
            *b = Bucket::Tree(t);
        }
        Bucket::Tree(t) => {
            t.insert(k, x);
        }
    }
}

/// A document's text in the replay state: as stored, or still JSON-escaped as in the WAL line
/// (decoded by [`WorkState::into_state`], so versions overwritten later are never decoded).
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    text: String,
    escaped: bool,
}

impl Doc {
    fn plain(text: String) -> Self {
        Doc {
            text,
            escaped: false,
        }
    }

    fn into_text(self) -> String {
        if self.escaped {
            self.decoded()
        } else {
            self.text
        }
    }

    fn decoded(&self) -> String {
        if !self.escaped {
            return self.text.clone();
        }
        let mut s = String::with_capacity(self.text.len());
        super::wal::decode_checked_escapes(&self.text, &mut s);
        s
    }
}

/// The state as replay changes it: [`State`] with [`BucketMap`]s instead of ordered maps
/// (the order is only needed for output; [`WorkState::into_state`] restores it).
#[derive(Debug, Clone)]
pub(crate) struct WorkState {
    documents: BucketMap<Doc>,
    collections: BucketMap<BucketMap<()>>,
}

impl WorkState {
    pub(crate) fn from_state(s: State) -> Self {
        let mut documents = BucketMap::new();
        for (k, v) in s.documents {
            documents.insert(k, Doc::plain(v));
        }
        let mut collections = BucketMap::new();
        for (k, set) in s.collections {
            let mut m = BucketMap::new();
            for x in set {
                m.insert(x, ());
            }
            collections.insert(k, m);
        }
        WorkState {
            documents,
            collections,
        }
    }

    pub(crate) fn into_state(self) -> State {
        State {
            documents: self.documents.into_btree(Doc::into_text),
            collections: self
                .collections
                .into_btree(|m| m.into_btree(|()| ()).into_keys().collect()),
        }
    }

    pub(crate) fn to_state(&self) -> State {
        State {
            documents: self
                .documents
                .entries()
                .into_iter()
                .map(|(k, d)| (k.clone(), d.decoded()))
                .collect(),
            collections: self
                .collections
                .entries()
                .into_iter()
                .map(|(k, m)| {
                    let members = m.entries().into_iter().map(|(x, ())| x.clone());
                    (k.clone(), members.collect())
                })
                .collect(),
        }
    }

    /// [`State::apply_owned`].
    pub(crate) fn apply_owned(&mut self, op: Op) {
        match op {
            Op::Set { target, value } => {
                self.documents.insert(target, Doc::plain(value));
            }
            Op::Delete { target } => {
                self.documents.remove(&target);
            }
            Op::Rename { old_key, target } => {
                if let Some(v) = self.documents.remove(&old_key) {
                    self.documents.insert(target, v);
                }
            }
            Op::SAdd { target, member } => {
                self.collections.upsert(&target, BucketMap::new, |set| {
                    set.upsert(&member, || (), |_| ())
                });
            }
            Op::SRem { target, member } => {
                if let Some(set) = self.collections.get_mut(&target) {
                    set.remove(&member);
                }
            }
            Op::Unknown { .. } => {}
        }
    }

    /// [`State::apply`] of a borrowed operation: keys are allocated only when they are new,
    /// and a SET of an existing document reuses that document's buffer.
    pub(crate) fn apply_ref(&mut self, op: &OpRef<'_>) {
        match *op {
            OpRef::Set { target, value } => {
                let value_raw = value.raw();
                let escaped = value.is_escaped();
                self.documents.upsert(
                    target,
                    || Doc::plain(String::new()),
                    |d| {
                        d.escaped = escaped;
                        let (doc, value) = (&mut d.text, value_raw);
                        // Reuse the buffer when it fits; do not keep one much larger than the text.
                        if doc.capacity() < value.len()
                            || doc.capacity() > value.len() + value.len() / 8 + 16
                        {
                            *doc = String::with_capacity(value.len());
                        }
                        doc.clear();
                        doc.push_str(value);
                    },
                );
            }
            OpRef::Delete { target } => {
                self.documents.remove(target);
            }
            OpRef::Rename { old_key, target } => {
                if let Some(v) = self.documents.remove(old_key) {
                    self.documents.insert(target.to_owned(), v);
                }
            }
            OpRef::SAdd { target, member } => {
                self.collections.upsert(target, BucketMap::new, |set| {
                    set.upsert(member, || (), |_| ())
                });
            }
            OpRef::SRem { target, member } => {
                if let Some(set) = self.collections.get_mut(target) {
                    set.remove(member);
                }
            }
            OpRef::Unknown { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        x.to_owned()
    }

    #[test]
    fn operations() {
        let mut st = State::new();
        st.apply(&Op::Set {
            target: s("A"),
            value: s("{\"n\":1}"),
        });
        st.apply(&Op::Rename {
            old_key: s("A"),
            target: s("X:A:X"),
        });
        st.apply(&Op::Rename {
            old_key: s("missing"),
            target: s("B"),
        });
        st.apply(&Op::SAdd {
            target: s("T?"),
            member: s("a"),
        });
        st.apply(&Op::SRem {
            target: s("T?"),
            member: s("a"),
        });
        st.apply(&Op::SRem {
            target: s("never"),
            member: s("a"),
        });
        assert_eq!(st.documents.keys().collect::<Vec<_>>(), vec!["X:A:X"]);
        assert!(st.collections["T?"].is_empty());
        assert!(!st.collections.contains_key("never"));
        st.apply(&Op::Delete { target: s("X:A:X") });
        assert!(st.documents.is_empty());
        let v = st.to_canonical_value();
        assert_eq!(
            v,
            serde_json::json!({"collections": {"T?": []}, "documents": {}})
        );
        let text: serde_json::Value = serde_json::from_str(&st.to_canonical_json()).unwrap();
        assert_eq!(text, v);
    }

    /// The replay map against an ordered map, under random operations on a small key space,
    /// including keys forced into one bucket (a flooding WAL).
    #[test]
    fn bucket_map_behaves_like_btreemap() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        // Keys that all land in bucket 0 of a 1024-bucket table (and so of smaller ones).
        let colliding: Vec<String> = (0..100_000u32)
            .map(|i| format!("k{i}"))
            .filter(|k| key_hash(k.as_bytes()) & 1023 == 0)
            .take(40)
            .collect();
        assert!(colliding.len() > SMALL_BUCKET * 2);
        let mut m: BucketMap<u32> = BucketMap::new();
        let mut r: BTreeMap<String, u32> = BTreeMap::new();
        for step in 0..50_000u32 {
            let k = if rng.gen_bool(0.5) {
                colliding[rng.gen_range(0..colliding.len())].clone()
            } else {
                format!("x{}", rng.gen_range(0..300))
            };
            match rng.gen_range(0..4) {
                0 => assert_eq!(m.insert(k.clone(), step), r.insert(k, step)),
                1 => assert_eq!(m.remove(&k), r.remove(&k)),
                2 => {
                    m.upsert(&k, || 0, |v| *v += 1);
                    *r.entry(k).or_insert(0) += 1;
                }
                _ => assert_eq!(m.get_mut(&k).copied(), r.get(&k).copied()),
            }
            assert_eq!(m.len(), r.len());
        }
        assert!(
            m.tree_buckets() > 0,
            "the colliding keys should share a tree bucket"
        );
        let got: BTreeMap<String, u32> = m.clone().into_vec().into_iter().collect();
        assert_eq!(got, r);
        let by_ref: BTreeMap<&String, &u32> = m.entries().into_iter().collect();
        assert_eq!(by_ref, r.iter().collect());
    }

    /// `into_btree` orders keys as bytes, also where the 8-byte prefixes tie.
    #[test]
    fn into_btree_orders_by_bytes() {
        let keys = [
            "",
            "a",
            "a\0",
            "a\0\0",
            "USER_0000001",
            "USER_0000000",
            "USER_000000",
            "USER_",
            "USER",
            "USEQ_zzzzzzzz",
            "\u{ff}",
            "\u{7f}",
            "é",
            "東京",
            "abcdefgh",
            "abcdefgh\0",
            "abcdefg",
        ];
        let mut m: BucketMap<usize> = BucketMap::new();
        let mut r = BTreeMap::new();
        for (i, k) in keys.iter().enumerate() {
            m.insert(k.to_string(), i);
            r.insert(k.to_string(), i);
        }
        let got = m.into_btree(|x| x);
        assert_eq!(got.keys().collect::<Vec<_>>(), r.keys().collect::<Vec<_>>());
        assert_eq!(got, r);
    }

    /// The replay state and [`State`] agree on random operations (both entry paths).
    #[test]
    fn work_state_applies_like_state() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut initial = State::new();
        initial.documents.insert(s("A"), s("{}"));
        initial
            .collections
            .insert(s("T?"), [s("a")].into_iter().collect());
        let mut st = initial.clone();
        let mut work = WorkState::from_state(initial);
        let names = ["A", "B", "C\\\"q", "D\\u00e9", "T?", "U?"];
        for _ in 0..20_000 {
            let k = names[rng.gen_range(0..names.len())];
            let k2 = names[rng.gen_range(0..names.len())];
            let v = format!("{{\\\"n\\\":{}}}", rng.gen_range(0..1000));
            let json = match rng.gen_range(0..6) {
                0 => format!(r#"{{"action":"SET","target":"{k}","value":"{v}"}}"#),
                1 => format!(r#"{{"action":"DELETE","target":"{k}"}}"#),
                2 => format!(r#"{{"action":"RENAME","target":"{k}","oldKey":"{k2}"}}"#),
                3 => format!(r#"{{"action":"SADD","target":"{k}","member":"{k2}"}}"#),
                4 => format!(r#"{{"action":"SREM","target":"{k}","member":"{k2}"}}"#),
                _ => format!(r#"{{"action":"NOPE","target":"{k}"}}"#),
            };
            let op = crate::bri::wal::parse_entry(&json).unwrap().op;
            st.apply(&op);
            if rng.gen_bool(0.5) {
                let mut scratch = String::new();
                let e = crate::bri::wal::parse_entry_fast(&json, &mut scratch).unwrap();
                work.apply_ref(&e.op);
            } else {
                work.apply_owned(op);
            }
        }
        assert_eq!(work.to_state(), st);
        assert_eq!(work.into_state(), st);
    }

    #[test]
    fn cold_keys() {
        assert_eq!(
            cold_document_key("POST", "ab1.jss").as_deref(),
            Some("POST_ab1")
        );
        assert_eq!(cold_document_key("POST", "ab1.jss.tmp"), None);
        let mut st = State::new();
        st.documents.insert(s("POST_ab1"), s("{}"));
        assert_eq!(st.add_cold_document("POST", "ab1.jss", "{\"x\":1}"), None);
        assert_eq!(st.documents["POST_ab1"], "{}");
    }
}
