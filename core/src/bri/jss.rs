//! JSS, BRI's JSON superset, as far as the engine needs it.
//!
//! JSS text is JSON whose object keys may carry a type tag: `"createdAt<!D>": 1707121800000`
//! (a Date as epoch ms), `<!S>` (Set as array), `<!M>` (Map as object), `<!R>` (RegExp text),
//! `<!E>` (Error), `<!U>` (undefined), `<!P>` (pointer: a `/`-separated path from the root of the
//! same text to an object met earlier on the path, written for reference cycles), and array
//! tags `<![D,,P]>` giving per-element tags. BRI stores every document as a JSS string; the
//! engine never needs to decode the tags into values: it keeps the strings exactly, and where
//! it must re-serialise (documents of a version-2 snapshot) it works on an order-preserving
//! JSON tree ([`JVal`]) and writes it back the way `JSON.stringify` does.
//!
//! The *canonical form* of a stored string (the fixtures' `expected/*.json` form) is the string
//! parsed as plain JSON, tags left in the keys, object keys sorted: see [`canonical_document`].

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A JSON value that keeps object keys in their order of appearance (unlike
/// `serde_json::Value` without `preserve_order`, which this workspace does not enable, so that
/// other crates' output stays as it is).
#[derive(Debug, Clone, PartialEq)]
pub enum JVal {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(String),
    Arr(Vec<JVal>),
    Obj(Vec<(String, JVal)>),
}

impl JVal {
    /// Parse JSON text (JSS is syntactically JSON) into an order-preserving tree.
    pub fn parse(text: &str) -> Result<JVal, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The member `key` of an object (exact key, tags included).
    pub fn get(&self, key: &str) -> Option<&JVal> {
        match self {
            JVal::Obj(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The member whose key, without its type tag, is `name`.
    pub fn get_untagged(&self, name: &str) -> Option<&JVal> {
        match self {
            JVal::Obj(m) => m
                .iter()
                .find(|(k, _)| split_tag(k).0 == name)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            JVal::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An integer value (epoch ms, line numbers); floats with an integral value are accepted.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            JVal::Num(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19)
                    .map(|f| f as u64)
            }),
            _ => None,
        }
    }

    /// Serialise the way JavaScript's `JSON.stringify` does (no whitespace, same escapes, same
    /// number formatting), keeping key order.
    pub fn to_json_string(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            JVal::Null => out.push_str("null"),
            JVal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            JVal::Num(n) => write_js_number(n, out),
            JVal::Str(s) => write_json_string(s, out),
            JVal::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_json(out);
                }
                out.push(']');
            }
            JVal::Obj(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_json_string(k, out);
                    out.push(':');
                    v.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

/// Write `s` as a JSON string literal exactly as `JSON.stringify` does (`"`, `\`, and control
/// characters escaped; everything else, U+2028/U+2029 included, written raw).
pub fn write_json_string(s: &str, out: &mut String) {
    // serde_json's escaping is the same set as JSON.stringify's for valid Rust strings.
    match serde_json::to_string(s) {
        Ok(t) => out.push_str(&t),
        Err(_) => out.push_str("\"\""),
    }
}

fn write_js_number(n: &serde_json::Number, out: &mut String) {
    if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(f) = n.as_f64() {
        out.push_str(&js_number(f));
    } else {
        out.push_str(&n.to_string());
    }
}

/// Format a finite `f64` as JavaScript's `Number.prototype.toString` does (shortest
/// round-trip digits; exponent form below 1e-6 and from 1e21).
pub fn js_number(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    if f == 0.0 {
        return "0".into();
    }
    // `{:e}` gives the shortest round-trip digits: "-4.7164e2".
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exp + 1; // position of the decimal point relative to the digits
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if k <= n && n <= 21 {
        s.push_str(&digits);
        for _ in 0..(n - k) {
            s.push('0');
        }
    } else if 0 < n && n <= 21 {
        s.push_str(&digits[..n as usize]);
        s.push('.');
        s.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        s.push_str("0.");
        for _ in 0..(-n) {
            s.push('0');
        }
        s.push_str(&digits);
    } else {
        s.push_str(&digits[..1]);
        if k > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if n > 0 { '+' } else { '-' });
        s.push_str(&(n - 1).abs().to_string());
    }
    s
}

impl<'de> Deserialize<'de> for JVal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<JVal, D::Error> {
        d.deserialize_any(JValVisitor)
    }
}

struct JValVisitor;

impl<'de> Visitor<'de> for JValVisitor {
    type Value = JVal;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<JVal, E> {
        Ok(JVal::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<JVal, E> {
        Ok(JVal::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<JVal, E> {
        Ok(JVal::Bool(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JVal, E> {
        Ok(JVal::Num(v.into()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JVal, E> {
        Ok(JVal::Num(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JVal, E> {
        Ok(serde_json::Number::from_f64(v).map_or(JVal::Null, JVal::Num))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<JVal, E> {
        Ok(JVal::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<JVal, E> {
        Ok(JVal::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JVal, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(JVal::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JVal, A::Error> {
        let mut m: Vec<(String, JVal)> = Vec::new();
        // Positions of keys, for objects too large to scan linearly (a snapshot's documents
        // object has one key per document: a linear scan per key would be quadratic).
        let mut index: Option<std::collections::BTreeMap<String, usize>> = None;
        while let Some((k, v)) = map.next_entry::<String, JVal>()? {
            // JSON.parse: a repeated key keeps its first position and its last value.
            if index.is_none() && m.len() >= 32 {
                index = Some(
                    m.iter()
                        .enumerate()
                        .map(|(i, (k, _))| (k.clone(), i))
                        .collect(),
                );
            }
            let found = match &index {
                Some(ix) => ix.get(&k).copied(),
                None => m.iter().position(|(ek, _)| *ek == k),
            };
            match found {
                Some(i) => m[i].1 = v,
                None => {
                    if let Some(ix) = index.as_mut() {
                        ix.insert(k.clone(), m.len());
                    }
                    m.push((k, v));
                }
            }
        }
        Ok(JVal::Obj(m))
    }
}

/// Split a JSS key into its name and its type tag: `"createdAt<!D>"` -> `("createdAt",
/// Some("D"))`, `"tags<![D,,P]>"` -> `("tags", Some("[D,,P]"))`, `"name"` -> `("name", None)`.
pub fn split_tag(key: &str) -> (&str, Option<&str>) {
    if let Some(body) = key.strip_suffix('>') {
        if let Some(pos) = body.rfind("<!") {
            return (&body[..pos], Some(&body[pos + 2..]));
        }
    }
    (key, None)
}

/// Parse an array tag body `[D,,P]` into per-element tags (`""` = untagged).
fn array_tags(tag: &str) -> Option<Vec<String>> {
    let inner = tag.strip_prefix('[')?.strip_suffix(']')?;
    Some(inner.split(',').map(str::to_owned).collect())
}

fn format_array_tag(tags: &[String]) -> Option<String> {
    if tags.iter().all(|t| t.is_empty()) {
        None
    } else {
        Some(format!("[{}]", tags.join(",")))
    }
}

/// Resolve a JSS pointer path (`documents/USER_x/friends/0`) from `root`. Path segments match
/// object keys by their untagged name, and array indices.
pub fn resolve_pointer<'a>(root: &'a JVal, path: &str) -> Option<&'a JVal> {
    let mut cur = root;
    if path.is_empty() {
        return Some(cur);
    }
    for seg in path.split('/') {
        cur = match cur {
            JVal::Obj(_) => cur.get(seg).or_else(|| cur.get_untagged(seg))?,
            JVal::Arr(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn id_of(v: &JVal) -> Option<&str> {
    match v {
        JVal::Obj(_) => v.get("$ID").and_then(JVal::as_str),
        _ => None,
    }
}

/// Undo BRI's version-2 snapshot inlining for one document.
///
/// BRI (bug 2 in the fixture README) replaces, when it writes a v2 snapshot, every string field
/// equal to an existing document key by a copy of that document, and writes `<!P>` pointers
/// (paths from the snapshot root) where such copies form a cycle. This walks the document
/// `doc` stored at `documents/<key>` of the snapshot `root` and puts back the key string for
/// every embedded object that carries a `$ID` (and for every pointer that leads to one);
/// pointers into the document itself are rebased onto the document root. The result is the
/// document as BRI held it before the snapshot (the WAL's form).
pub fn deinline_document(doc: &JVal, key: &str, root: &JVal) -> JVal {
    let prefix = format!("documents/{key}/");
    deinline(doc, 0, root, &prefix)
}

fn deinline(v: &JVal, depth: usize, root: &JVal, prefix: &str) -> JVal {
    if depth > 0 {
        if let Some(id) = id_of(v) {
            return JVal::Str(id.to_owned());
        }
    }
    match v {
        JVal::Arr(a) => JVal::Arr(
            a.iter()
                .map(|x| deinline(x, depth + 1, root, prefix))
                .collect(),
        ),
        JVal::Obj(m) => {
            let mut out = Vec::with_capacity(m.len());
            for (k, x) in m {
                let (name, tag) = split_tag(k);
                match tag {
                    Some("P") => {
                        let (nv, keep_tag) = deinline_pointer(x, root, prefix);
                        let nk = if keep_tag { k.clone() } else { name.to_owned() };
                        out.push((nk, nv));
                    }
                    Some(t) if t.starts_with('[') && t.contains('P') => {
                        let (nk, nv) = deinline_tagged_array(name, t, x, depth, root, prefix);
                        out.push((nk, nv));
                    }
                    _ => out.push((k.clone(), deinline(x, depth + 1, root, prefix))),
                }
            }
            JVal::Obj(out)
        }
        other => other.clone(),
    }
}

/// A pointer value: the `$ID` of its target when it is a document copy (tag dropped), or the
/// path rebased onto the document (tag kept).
fn deinline_pointer(x: &JVal, root: &JVal, prefix: &str) -> (JVal, bool) {
    let Some(path) = x.as_str() else {
        return (x.clone(), true);
    };
    if let Some(id) = resolve_pointer(root, path).and_then(id_of) {
        return (JVal::Str(id.to_owned()), false);
    }
    match path.strip_prefix(prefix) {
        Some(rel) => (JVal::Str(rel.to_owned()), true),
        None => (x.clone(), true),
    }
}

fn deinline_tagged_array(
    name: &str,
    tag: &str,
    x: &JVal,
    depth: usize,
    root: &JVal,
    prefix: &str,
) -> (String, JVal) {
    let (Some(mut tags), JVal::Arr(items)) = (array_tags(tag), x) else {
        return (
            format!("{name}<!{tag}>"),
            deinline(x, depth + 1, root, prefix),
        );
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if tags.get(i).map(String::as_str) == Some("P") {
            let (nv, keep) = deinline_pointer(item, root, prefix);
            if !keep {
                tags[i].clear();
            }
            out.push(nv);
        } else {
            out.push(deinline(item, depth + 2, root, prefix));
        }
    }
    let key = match format_array_tag(&tags) {
        Some(t) => format!("{name}<!{t}>"),
        None => name.to_owned(),
    };
    (key, JVal::Arr(out))
}

/// The canonical form of one stored document string: parsed as plain JSON (tags stay in the
/// keys), object keys sorted (serde_json's map is ordered). A stored string that is not JSON is
/// kept as a JSON string, so no document is ever dropped from the output.
pub fn canonical_document(stored: &str) -> serde_json::Value {
    serde_json::from_str(stored).unwrap_or_else(|_| serde_json::Value::String(stored.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split() {
        assert_eq!(split_tag("createdAt<!D>"), ("createdAt", Some("D")));
        assert_eq!(split_tag("a<![D,,P]>"), ("a", Some("[D,,P]")));
        assert_eq!(split_tag("plain"), ("plain", None));
        assert_eq!(split_tag("<!>"), ("", Some("")));
        assert_eq!(split_tag("x>"), ("x>", None));
    }

    #[test]
    fn order_is_kept_and_stringify_matches_js() {
        let t = r#"{"b":1,"a":[1.5,-0.25,1e21,1e-7,123456789012,"\u2028x\n\"/"],"c":{"z":null,"y":true}}"#;
        let v = JVal::parse(t).unwrap();
        assert_eq!(
            v.to_json_string(),
            "{\"b\":1,\"a\":[1.5,-0.25,1e+21,1e-7,123456789012,\"\u{2028}x\\n\\\"/\"],\"c\":{\"z\":null,\"y\":true}}"
        );
    }

    #[test]
    fn js_numbers() {
        for (f, s) in [
            (471.64, "471.64"),
            (1.0, "1"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e300, "1.5e+300"),
            (-2.5, "-2.5"),
            (123e18, "123000000000000000000"),
        ] {
            assert_eq!(js_number(f), s);
        }
    }

    #[test]
    fn deinline_replaces_copies_and_pointers() {
        let root = JVal::parse(
            r#"{"version":2,"documents":{"U_a":{"f":[{"g<![P]>":["documents/U_a"],"$ID":"U_b"}],"self<!P>":"documents/U_a/f","$ID":"U_a"},"U_b":{"$ID":"U_b"}}}"#,
        )
        .unwrap();
        let doc = resolve_pointer(&root, "documents/U_a").unwrap();
        let out = deinline_document(doc, "U_a", &root);
        assert_eq!(
            out.to_json_string(),
            r#"{"f":["U_b"],"self<!P>":"f","$ID":"U_a"}"#
        );
    }

    /// Regression (cargo-fuzz, jss_snapshot): a long run of digits must parse to the nearest
    /// f64, as JavaScript parses it, so that re-serialising is stable.
    #[test]
    fn long_numbers_round_trip() {
        let text = "8".repeat(248);
        let v = JVal::parse(&text).unwrap();
        let once = v.to_json_string();
        assert_eq!(once, "8.888888888888889e+247");
        assert_eq!(JVal::parse(&once).unwrap().to_json_string(), once);
    }

    #[test]
    fn garbage_never_panics() {
        for t in ["", "{", "[1,", "\"\\u12", "{\"a\":}", "nul", "1e999999"] {
            let _ = JVal::parse(t);
        }
        assert!(resolve_pointer(&JVal::Null, "a/b").is_none());
    }
}
