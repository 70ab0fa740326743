//! Output helpers: one-line JSON objects, standard base64, and bytes shown as text.
//!
//! The tool writes JSON by hand rather than through serde: its objects are flat, their
//! fields known, and the library stays free of a serialization dependency.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// A JSON object written field by field on one line.
#[derive(Debug)]
pub struct JsonObject {
    buf: String,
    empty: bool,
}

impl JsonObject {
    /// An empty object.
    pub fn new() -> Self {
        JsonObject {
            buf: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        push_json_string(&mut self.buf, key);
        self.buf.push(':');
    }

    /// A number (anything whose `Display` is a JSON number: integers).
    pub fn num(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.key(key);
        let _ = write!(self.buf, "{value}");
        self
    }

    /// A float with three decimals; non-finite values are written as `null`.
    pub fn float(mut self, key: &str, value: f64) -> Self {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.buf, "{value:.3}");
        } else {
            self.buf.push_str("null");
        }
        self
    }

    /// A boolean.
    pub fn bool(mut self, key: &str, value: bool) -> Self {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
        self
    }

    /// A string.
    pub fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        push_json_string(&mut self.buf, value);
        self
    }

    /// A string, or `null`.
    pub fn opt_str(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// A number, or `null`.
    pub fn opt_num(self, key: &str, value: Option<impl fmt::Display>) -> Self {
        match value {
            Some(v) => self.num(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// Already-encoded JSON (an array or a nested object).
    pub fn raw(mut self, key: &str, json: &str) -> Self {
        self.key(key);
        self.buf.push_str(json);
        self
    }

    /// The object's text.
    pub fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// Appends `s` as a JSON string literal.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_string(&mut out, s);
    out
}

/// A JSON array of already-encoded items.
pub fn json_array<I: IntoIterator<Item = String>>(items: I) -> String {
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item);
    }
    out.push(']');
    out
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648 §4, with padding): encoding only, which is all the tool needs,
/// so a dozen lines here instead of a dependency.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Bytes as one line of text: UTF-8 (invalid sequences replaced, as Kafka's string decoder
/// does), with control characters escaped as `\xNN` so that a record never breaks the
/// one-line-per-record layout.
pub fn text(bytes: &[u8]) -> Cow<'_, str> {
    let s = String::from_utf8_lossy(bytes);
    if !s.chars().any(char::is_control) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Problems found by `dump` and `verify`, each reported on stderr as it is found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Corruption, bad indexes, bad checkpoints: exit code 1.
    pub errors: u64,
    /// What recovery would repair after a crash, and other oddities: exit code 0.
    pub warnings: u64,
}

impl Findings {
    /// Reports an error.
    pub fn error(&mut self, what: impl fmt::Display) {
        eprintln!("tidelog: error: {what}");
        self.errors += 1;
    }

    /// Reports a warning.
    pub fn warning(&mut self, what: impl fmt::Display) {
        eprintln!("tidelog: warning: {what}");
        self.warnings += 1;
    }

    /// Reports an error, or a warning if `warn_only`.
    pub fn report(&mut self, warn_only: bool, what: impl fmt::Display) {
        if warn_only {
            self.warning(what);
        } else {
            self.error(what);
        }
    }

    /// Exit code 1 if any error was found; each was reported on its own line already.
    pub fn into_result(self) -> Result<(), crate::CliError> {
        if self.errors == 0 {
            Ok(())
        } else {
            Err(crate::CliError::reported())
        }
    }
}

/// "s" unless `n` is 1.
pub fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn json_escapes() {
        let o = JsonObject::new()
            .str("a\"b", "x\n\u{1}")
            .num("n", -1)
            .opt_str("k", None)
            .finish();
        assert_eq!(o, r#"{"a\"b":"x\n\u0001","n":-1,"k":null}"#);
    }

    #[test]
    fn text_escapes_controls() {
        assert_eq!(text(b"ab"), "ab");
        assert_eq!(text(b"a\nb\x00"), "a\\x0ab\\x00");
    }
}
