//! The database state BRI recovers: documents (key -> stored JSS string) and collections
//! (name -> set of members), and how WAL operations change it.

use super::jss::canonical_document;
use super::wal::Op;
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
