//! The line-by-line parser behind [`super::parse`].
//!
//! Every index used to slice a line points at an ASCII byte (a delimiter) or
//! at the end of the line, so slices always fall on char boundaries.

use std::borrow::Cow;

use super::number::{parse_f64, parse_i64};
use super::{FamilyMeta, Label, MetricType, ParseError, RawSample, Scrape};

pub(super) fn parse(text: &str) -> Result<Scrape<'_>, ParseError> {
    let mut scrape = Scrape {
        // Rough guesses from etcd scrapes (~70 bytes per line); they only
        // save a few reallocations.
        samples: Vec::with_capacity(text.len() / 64),
        labels: Vec::with_capacity(text.len() / 64),
        families: Vec::new(),
        family_index: Default::default(),
    };
    for (idx, raw_line) in text.split('\n').enumerate() {
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        parse_line(&mut scrape, line).map_err(|message| ParseError {
            line: idx + 1,
            message,
        })?;
    }
    Ok(scrape)
}

// Byte classes, one table lookup per byte in the hot loops.
const BLANK: u8 = 1;
const NAME_START: u8 = 2; // [a-zA-Z_:]
const NAME_CHAR: u8 = 4; // [a-zA-Z0-9_:]
const LABEL_START: u8 = 8; // [a-zA-Z_]
const LABEL_CHAR: u8 = 16; // [a-zA-Z0-9_]

pub(super) static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let mut c = 0;
        if b == b' ' || b == b'\t' {
            c |= BLANK;
        }
        if alpha || b == b':' {
            c |= NAME_START | NAME_CHAR;
        }
        if digit {
            c |= NAME_CHAR | LABEL_CHAR;
        }
        if alpha {
            c |= LABEL_START | LABEL_CHAR;
        }
        t[i] = c;
        i += 1;
    }
    t
};

#[inline(always)]
fn is(b: u8, class: u8) -> bool {
    CLASS[b as usize] & class != 0
}

#[inline]
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Index of the first byte of `b[from..]` that is not in `class`, or `b.len()`.
#[inline(always)]
fn scan_while(b: &[u8], mut i: usize, class: u8) -> usize {
    while i < b.len() && is(b[i], class) {
        i += 1;
    }
    i
}

/// Index of the first `"` or `\` in `b[from..]`, or `b.len()`. Looks at
/// eight bytes at a time.
#[inline(always)]
pub(super) fn find_quote_or_backslash(b: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const QUOTE: u64 = LO * b'"' as u64;
    const BACKSLASH: u64 = LO * b'\\' as u64;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        let q = w ^ QUOTE;
        let s = w ^ BACKSLASH;
        // Exact zero-byte test (no false positives), see "Bit Twiddling Hacks".
        let zq = !(((q & !HI).wrapping_add(!HI)) | q | !HI);
        let zs = !(((s & !HI).wrapping_add(!HI)) | s | !HI);
        let z = zq | zs;
        if z != 0 {
            return i + (z.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && b[i] != b'"' && b[i] != b'\\' {
        i += 1;
    }
    i
}

/// Cursor over one line (without its line terminator).
struct Cursor<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    #[inline]
    fn skip_blanks(&mut self) {
        self.pos = scan_while(self.b, self.pos, BLANK);
    }

    /// Like `skip_blanks`; true when there were any.
    #[inline]
    fn skipped_blanks(&mut self) -> bool {
        let before = self.pos;
        self.skip_blanks();
        self.pos != before
    }

    #[inline]
    fn at_end(&self) -> bool {
        self.pos >= self.b.len()
    }

    /// Reads up to the next blank or the end of the line.
    #[inline]
    fn token(&mut self) -> &'a str {
        let (b, start) = (self.b, self.pos);
        let mut i = start;
        while i < b.len() && !is(b[i], BLANK) {
            i += 1;
        }
        self.pos = i;
        &self.s[start..i]
    }

    /// Reads `[a-zA-Z_:][a-zA-Z0-9_:]*`; empty when the first byte is not a
    /// valid start.
    #[inline]
    fn metric_name(&mut self) -> &'a str {
        let (b, start) = (self.b, self.pos);
        if start < b.len() && is(b[start], NAME_START) {
            self.pos = scan_while(b, start + 1, NAME_CHAR);
        }
        &self.s[start..self.pos]
    }

    /// Reads `[a-zA-Z_][a-zA-Z0-9_]*`; empty when the first byte is not a
    /// valid start.
    #[inline]
    fn label_name(&mut self) -> &'a str {
        let (b, start) = (self.b, self.pos);
        if start < b.len() && is(b[start], LABEL_START) {
            self.pos = scan_while(b, start + 1, LABEL_CHAR);
        }
        &self.s[start..self.pos]
    }

    /// Describes the byte (or char) at the cursor for error messages.
    fn found(&self) -> String {
        match self.s[self.pos..].chars().next() {
            None => "end of line".to_string(),
            Some(c) => format!("{c:?}"),
        }
    }
}

fn parse_line<'a>(scrape: &mut Scrape<'a>, line: &'a str) -> Result<(), String> {
    let mut c = Cursor {
        s: line,
        b: line.as_bytes(),
        pos: 0,
    };
    c.skip_blanks();
    match c.peek() {
        None => Ok(()),
        Some(b'#') => {
            c.pos += 1;
            parse_comment(scrape, c)
        }
        Some(_) => parse_sample(scrape, c),
    }
}

fn parse_comment<'a>(scrape: &mut Scrape<'a>, mut c: Cursor<'a>) -> Result<(), String> {
    c.skip_blanks();
    let keyword = c.token();
    let is_help = match keyword {
        "HELP" => true,
        "TYPE" => false,
        _ => return Ok(()), // An ordinary comment.
    };
    c.skip_blanks();
    if c.at_end() {
        // "# HELP" with nothing after it carries no metadata: a plain comment.
        return Ok(());
    }
    let name = c.metric_name();
    if name.is_empty() || !(c.at_end() || is_blank(c.b[c.pos])) {
        let bad = c.s[c.pos - name.len()..].split([' ', '\t']).next();
        return Err(format!(
            "invalid metric name {:?} in {} line",
            bad.unwrap_or(""),
            keyword
        ));
    }
    c.skip_blanks();
    if is_help {
        let help = unescape_help(&c.s[c.pos..])?;
        let meta = family_mut(scrape, name);
        if meta.help.is_some() {
            return Err(format!("second HELP line for metric family {name:?}"));
        }
        meta.help = Some(help);
    } else {
        let word = c.token();
        c.skip_blanks();
        if !c.at_end() {
            return Err(format!(
                "unexpected text after type in TYPE line for {name:?}"
            ));
        }
        let ty = match MetricType::from_keyword(word) {
            Some(ty) => ty,
            None if word.is_empty() => {
                return Err(format!("missing type in TYPE line for {name:?}"))
            }
            None => return Err(format!("unknown metric type {word:?} for {name:?}")),
        };
        let meta = family_mut(scrape, name);
        if meta.ty.is_some() {
            return Err(format!("second TYPE line for metric family {name:?}"));
        }
        meta.ty = Some(ty);
    }
    Ok(())
}

/// The metadata of family `name`, created if new. HELP and TYPE of a family
/// usually come in a pair, so the last family is checked before hashing.
#[inline]
fn family_mut<'s, 'a>(scrape: &'s mut Scrape<'a>, name: &'a str) -> &'s mut FamilyMeta<'a> {
    let idx = match scrape.families.last() {
        Some((last, _)) if *last == name => scrape.families.len() - 1,
        _ => {
            let next = scrape.families.len();
            let idx = *scrape.family_index.entry(name).or_insert(next as u32) as usize;
            if idx == next {
                scrape.families.push((name, FamilyMeta::default()));
            }
            idx
        }
    };
    &mut scrape.families[idx].1
}

/// Unescapes a HELP text: `\\` and `\n` are the only escapes.
fn unescape_help(s: &str) -> Result<Cow<'_, str>, String> {
    if !s.as_bytes().contains(&b'\\') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some(other) => return Err(format!("invalid escape sequence '\\{other}' in HELP text")),
            None => return Err("unterminated escape sequence at end of HELP text".to_string()),
        }
    }
    Ok(Cow::Owned(out))
}

fn parse_sample<'a>(scrape: &mut Scrape<'a>, mut c: Cursor<'a>) -> Result<(), String> {
    let name_start = c.pos;
    let name = c.metric_name();
    if name.is_empty() {
        return Err(format!("invalid metric name: unexpected {}", c.found()));
    }
    let labels_start = scrape.labels.len();
    let after_name = c.pos;
    c.skip_blanks();
    let mut series = None;
    if c.peek() == Some(b'{') {
        let brace_follows_name = c.pos == after_name;
        c.pos += 1;
        let tidy = parse_labels(scrape, &mut c, labels_start)?;
        if tidy && brace_follows_name {
            series = Some(&c.s[name_start..c.pos]);
        }
        c.skip_blanks();
    } else if c.pos == after_name && !c.at_end() {
        // Neither a blank nor '{' directly after the name.
        return Err(format!(
            "invalid metric name {:?}: unexpected {}",
            name,
            c.found()
        ));
    }
    if c.at_end() {
        return Err(format!("missing value for sample {name:?}"));
    }
    let value_str = c.token();
    let value = match parse_f64(value_str) {
        Some(v) => v,
        None => return Err(format!("invalid value {value_str:?} for sample {name:?}")),
    };
    c.skip_blanks();
    let timestamp_ms = if c.at_end() {
        None
    } else {
        let ts = c.token();
        match parse_i64(ts) {
            Some(t) => {
                c.skip_blanks();
                if !c.at_end() {
                    return Err(format!(
                        "unexpected text after timestamp of sample {name:?}: {}",
                        c.found()
                    ));
                }
                Some(t)
            }
            None => return Err(format!("invalid timestamp {ts:?} for sample {name:?}")),
        }
    };
    let labels_end = scrape.labels.len();
    if labels_end > u32::MAX as usize {
        return Err("too many labels in one scrape".to_string());
    }
    scrape.samples.push(RawSample {
        name,
        value,
        timestamp_ms,
        labels_start: labels_start as u32,
        labels_end: labels_end as u32,
        series,
    });
    Ok(())
}

/// Parses the label set after the opening `{`, up to and including `}`.
/// True when it is written as [`super::SampleRef::series_text`] writes it: at least
/// one label, no blanks, no trailing comma.
fn parse_labels<'a>(
    scrape: &mut Scrape<'a>,
    c: &mut Cursor<'a>,
    labels_start: usize,
) -> Result<bool, String> {
    let mut tidy = true;
    loop {
        tidy &= !c.skipped_blanks();
        match c.peek() {
            // `{}` or a trailing comma.
            Some(b'}') => {
                c.pos += 1;
                return Ok(false);
            }
            None => return Err("unterminated label set: expected '}'".to_string()),
            Some(_) => {}
        }
        let lname = c.label_name();
        if lname.is_empty() {
            return Err(format!("invalid label name: unexpected {}", c.found()));
        }
        tidy &= !c.skipped_blanks();
        if c.peek() != Some(b'=') {
            return Err(format!(
                "expected '=' after label name {lname:?}, found {}",
                c.found()
            ));
        }
        c.pos += 1;
        tidy &= !c.skipped_blanks();
        if c.peek() != Some(b'"') {
            return Err(format!(
                "expected '\"' at start of value of label {lname:?}, found {}",
                c.found()
            ));
        }
        c.pos += 1;
        let value = label_value(c, lname)?;
        if scrape.labels[labels_start..]
            .iter()
            .any(|l| l.name == lname)
        {
            return Err(format!("duplicate label name {lname:?}"));
        }
        scrape.labels.push(Label { name: lname, value });
        tidy &= !c.skipped_blanks();
        match c.peek() {
            Some(b',') => c.pos += 1,
            Some(b'}') => {
                c.pos += 1;
                return Ok(tidy);
            }
            _ => {
                return Err(format!(
                    "expected ',' or '}}' after value of label {lname:?}, found {}",
                    c.found()
                ))
            }
        }
    }
}

/// Reads a label value after its opening quote, through the closing quote.
#[inline]
fn label_value<'a>(c: &mut Cursor<'a>, lname: &str) -> Result<Cow<'a, str>, String> {
    let start = c.pos;
    let i = find_quote_or_backslash(c.b, start);
    match c.b.get(i) {
        Some(b'"') => {
            c.pos = i + 1;
            Ok(Cow::Borrowed(&c.s[start..i]))
        }
        Some(_) => label_value_escaped(c, start, lname),
        None => Err(format!("unterminated value of label {lname:?}")),
    }
}

#[cold]
fn label_value_escaped<'a>(
    c: &mut Cursor<'a>,
    start: usize,
    lname: &str,
) -> Result<Cow<'a, str>, String> {
    let mut out = String::new();
    let mut chars = c.s[start..].char_indices();
    while let Some((off, ch)) = chars.next() {
        match ch {
            '"' => {
                c.pos = start + off + 1;
                return Ok(Cow::Owned(out));
            }
            '\\' => match chars.next() {
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, other)) => {
                    return Err(format!(
                        "invalid escape sequence '\\{other}' in value of label {lname:?}"
                    ))
                }
                None => break,
            },
            _ => out.push(ch),
        }
    }
    Err(format!("unterminated value of label {lname:?}"))
}
