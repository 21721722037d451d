//! A tiny ordered JSON writer that prints exactly what JavaScript's `JSON.stringify` prints
//! for the values the WAL generator uses (keys in insertion order, non-ASCII left raw, the
//! same escapes, numbers in shortest round-trip form).

/// A JSON value whose objects keep their keys in insertion order, like JS objects do.
#[derive(Clone, Debug, PartialEq)]
pub enum V {
    Null,
    Bool(bool),
    Int(i64),
    /// A finite float; printed like JS prints a Number (`3` for 3.0, `843.87`).
    F(f64),
    S(String),
    A(Vec<V>),
    O(Vec<(String, V)>),
}

impl V {
    pub fn s(text: impl Into<String>) -> V {
        V::S(text.into())
    }

    /// Serialises like `JSON.stringify(value)`.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256);
        self.write(&mut out);
        out
    }

    pub fn write(&self, out: &mut String) {
        match self {
            V::Null => out.push_str("null"),
            V::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            V::Int(i) => {
                out.push_str(itoa(*i).as_str());
            }
            V::F(f) => write_f64(*f, out),
            V::S(s) => write_str(s, out),
            V::A(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            V::O(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    /// Index of the object field whose key, without a JSS type tag (`name<!T>`), is `base`.
    pub fn field_index(&self, base: &str) -> Option<usize> {
        match self {
            V::O(fields) => fields.iter().position(|(k, _)| strip_tag(k) == base),
            _ => None,
        }
    }

    /// The value of the field whose untagged key is `base`.
    pub fn get(&self, base: &str) -> Option<&V> {
        let i = self.field_index(base)?;
        match self {
            V::O(fields) => Some(&fields[i].1),
            _ => None,
        }
    }

    pub fn get_mut(&mut self, base: &str) -> Option<&mut V> {
        let i = self.field_index(base)?;
        match self {
            V::O(fields) => Some(&mut fields[i].1),
            _ => None,
        }
    }

    /// Sets the field whose untagged key is `base` to `key` (which may carry a new tag) and
    /// `value`, keeping its position; appends it when absent. Panics on a non-object.
    pub fn set(&mut self, key: &str, value: V) {
        let base = strip_tag(key).to_string();
        match self.field_index(&base) {
            Some(i) => {
                if let V::O(fields) = self {
                    fields[i] = (key.to_string(), value);
                }
            }
            None => {
                if let V::O(fields) = self {
                    fields.push((key.to_string(), value));
                } else {
                    panic!("set on a non-object");
                }
            }
        }
    }

    /// Inserts a field just before the field `before` (or at the end when that is absent).
    pub fn insert_before(&mut self, before: &str, key: &str, value: V) {
        let at = self.field_index(before);
        if let V::O(fields) = self {
            match at {
                Some(i) => fields.insert(i, (key.to_string(), value)),
                None => fields.push((key.to_string(), value)),
            }
        }
    }

    pub fn remove(&mut self, base: &str) {
        if let Some(i) = self.field_index(base) {
            if let V::O(fields) = self {
                fields.remove(i);
            }
        }
    }
}

/// `name<!T>` -> `name`; keys without a tag are returned unchanged.
pub fn strip_tag(key: &str) -> &str {
    if key.ends_with('>') {
        if let Some(i) = key.rfind("<!") {
            return &key[..i];
        }
    }
    key
}

fn itoa(i: i64) -> String {
    i.to_string()
}

/// Prints a finite f64 the way JS prints a Number for the magnitudes used here
/// (Rust's `Display` is also shortest-round-trip and prints integral values without `.0`).
pub fn write_f64(f: f64, out: &mut String) {
    if f == 0.0 {
        out.push('0');
    } else {
        out.push_str(&format!("{f}"));
    }
}

/// Appends `s` as a JSON string literal, escaped like `JSON.stringify`.
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    escape_into(s, out);
    out.push('"');
}

/// Appends the JSON escape of `s` (without quotes), like `JSON.stringify` does it.
pub fn escape_into(s: &str, out: &mut String) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => out.push_str(&format!("\\u{:04x}", b)),
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_json_stringify() {
        let mut out = String::new();
        write_str("a\"b\\c\nd\r\te\u{1}Zürich 👍", &mut out);
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\r\\te\\u0001Zürich 👍\"");
    }

    #[test]
    fn numbers_print_like_js() {
        assert_eq!(V::F(3.0).to_json(), "3");
        assert_eq!(V::F(843.87).to_json(), "843.87");
        assert_eq!(V::F(-36.0557).to_json(), "-36.0557");
        assert_eq!(V::Int(-630633600000).to_json(), "-630633600000");
    }

    #[test]
    fn objects_keep_order_and_tags() {
        let mut o = V::O(vec![
            ("b".into(), V::Int(1)),
            ("loginHistory<![D]>".into(), V::A(vec![V::Int(5)])),
            ("$ID".into(), V::s("USER_x")),
        ]);
        o.set("loginHistory<![D,D]>", V::A(vec![V::Int(5), V::Int(6)]));
        o.insert_before("$ID", "nick", V::s("n"));
        assert_eq!(
            o.to_json(),
            r#"{"b":1,"loginHistory<![D,D]>":[5,6],"nick":"n","$ID":"USER_x"}"#
        );
        assert_eq!(strip_tag("createdAt<!D>"), "createdAt");
        assert_eq!(strip_tag("<!D> is not a tag"), "<!D> is not a tag");
    }
}
