//! Encodings of text shared by the pages, the API and the command line.

/// Percent-encodes everything but RFC 3986's unreserved characters, for a query
/// value or a path segment.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Whether `name` is a plain name (a cluster's, a receiver's, a target's): not
/// empty, only ASCII letters, digits, `-`, `_` and `.`, so that it can go in a URL
/// path, a label and a command line as it is.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(super::urlencode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(super::urlencode("a b/c?d=é"), "a%20b%2Fc%3Fd%3D%C3%A9");
        assert_eq!(super::urlencode(""), "");
        assert_eq!(super::urlencode("a b/<c>&d"), "a%20b%2F%3Cc%3E%26d");
        assert_eq!(super::urlencode("m-0_1.x~"), "m-0_1.x~");
    }
}
