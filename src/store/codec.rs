//! Gorilla-style block compression (Pelkonen et al., VLDB 2015): timestamps as
//! delta-of-delta, each value column XOR-ed with its previous value. A scrape every
//! 5 s gives a delta-of-delta of 0 (one bit); an unchanged value costs one bit.
//!
//! Block layout: `[version u8][columns u8][count u32 LE][bit stream]`. A block holds
//! one timestamp column and `columns` f64 columns (1 for raw samples; 5 for rollup
//! points: min, max, sum, count, last).
//!
//! Format 2 (written now) XORs each value with a prediction rather than always with
//! the column's previous value, which is what Gorilla does and format 1 did:
//! - the first point's values with 0.0 (format 1 stored them as 64 plain bits: a
//!   young block of a rollup tier paid 40 bytes for its first point);
//! - in a rollup point, `last` and `count` with their previous values, `min` and
//!   `max` with this point's `last`, `sum` with `last * count`. A value that held
//!   still for the minute has min = max = last and sum = last * count (a bit each),
//!   and a counter's max is its last. Format 1 XORed every column with its own
//!   previous value: 3.35 bytes a 1-minute point on the recorded corpus.
//!
//! After the first point the XOR windows start afresh: the first value's window is
//! too wide for the small changes that follow. Format 1 blocks are still read.

use super::StoreError;

/// The format written.
pub const FORMAT: u8 = 2;
/// The first format, read only.
pub const FORMAT_PLAIN: u8 = 1;
const HEADER: usize = 6;

/// Rollup points: the columns' indexes, and the order they are coded in (a column's
/// prediction may use the columns coded before it in the same point).
const MIN: usize = 0;
const MAX: usize = 1;
const SUM: usize = 2;
const COUNT: usize = 3;
const LAST: usize = 4;
const ROLLUP_ORDER: [usize; 5] = [LAST, COUNT, MIN, MAX, SUM];
/// The most value columns a block has: the tiers use 1 and 5, and no version wrote
/// more. A bound of 5, not 8: an encoder keeps the previous point and a XOR window
/// per column inline, for three open blocks of every series in the head.
pub const MAX_COLUMNS: usize = 5;
const IN_ORDER: [usize; MAX_COLUMNS] = [0, 1, 2, 3, 4];

/// The order a block of `columns` codes its values in.
fn order(columns: usize) -> &'static [usize] {
    if columns == ROLLUP_ORDER.len() {
        &ROLLUP_ORDER
    } else {
        &IN_ORDER[..columns]
    }
}

/// What column `c` of a point is XORed with in format 2: `row` holds this point's
/// columns coded so far, `prev` the previous point's (all 0.0 before the first).
fn predict(columns: usize, c: usize, row: &[u64], prev: &[u64]) -> u64 {
    if columns != ROLLUP_ORDER.len() {
        return prev[c];
    }
    match c {
        MIN | MAX => row[LAST],
        SUM => {
            // A product of numbers is the same on every platform; a NaN's bits may
            // not be, so a NaN product is not used.
            let product = f64::from_bits(row[LAST]) * f64::from_bits(row[COUNT]);
            if product.is_nan() {
                prev[c]
            } else {
                product.to_bits()
            }
        }
        _ => prev[c],
    }
}

#[derive(Debug, Default, Clone)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = the last byte is full or there is none).
    used: u8,
}

impl BitWriter {
    /// Starts a new byte. The stream grows by an eighth (at least 32 bytes) at a
    /// time, not by doubling: the head holds an open stream for every tier of every
    /// series, and doubling would leave up to half of each unused.
    fn new_byte(&mut self) {
        if self.bytes.len() == self.bytes.capacity() {
            self.bytes.reserve_exact((self.bytes.len() / 8).max(32));
        }
        self.bytes.push(0);
    }

    fn push_bit(&mut self, bit: bool) {
        if self.used == 0 {
            self.new_byte();
        }
        if bit {
            *self.bytes.last_mut().expect("pushed above") |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    /// Writes the low `n` bits of `value`, most significant first.
    fn push_bits(&mut self, value: u64, n: u32) {
        let mut remaining = n;
        while remaining > 0 {
            if self.used == 0 {
                self.new_byte();
            }
            let free = 8 - u32::from(self.used);
            let take = free.min(remaining);
            let shift = remaining - take;
            let chunk = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            *self.bytes.last_mut().expect("pushed above") |= chunk << (free - take);
            self.used = ((u32::from(self.used) + take) % 8) as u8;
            remaining -= take;
        }
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Result<bool, StoreError> {
        let byte = *self
            .bytes
            .get(self.pos / 8)
            .ok_or_else(|| StoreError::Corrupt("block ends early".into()))?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Ok(bit)
    }

    fn bits(&mut self, n: u32) -> Result<u64, StoreError> {
        if self.pos + n as usize > self.bytes.len() * 8 {
            return Err(StoreError::Corrupt("block ends early".into()));
        }
        let mut v = 0u64;
        for _ in 0..n {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Ok(v)
    }
}

/// Bytes, not words: an encoder holds one per column for each open block of every
/// series in the head (three blocks a series), inline rather than in a Vec.
#[derive(Debug, Clone, Copy, Default)]
struct XorState {
    leading: u8,
    trailing: u8,
    /// A (leading, trailing) window exists to reuse.
    window: bool,
}

/// Appends points to one block.
#[derive(Debug, Clone)]
pub struct BlockEncoder {
    columns: u8,
    count: u32,
    bits: BitWriter,
    prev_ts: i64,
    prev_delta: i64,
    xor: [XorState; MAX_COLUMNS],
    /// The last point's values (bits).
    prev: [u64; MAX_COLUMNS],
}

impl BlockEncoder {
    pub fn new(columns: usize) -> Self {
        assert!((1..=MAX_COLUMNS).contains(&columns));
        BlockEncoder {
            columns: columns as u8,
            count: 0,
            bits: BitWriter::default(),
            prev_ts: 0,
            prev_delta: 0,
            xor: [XorState::default(); MAX_COLUMNS],
            prev: [0; MAX_COLUMNS],
        }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    fn columns(&self) -> usize {
        usize::from(self.columns)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn last_timestamp(&self) -> Option<i64> {
        (self.count > 0).then_some(self.prev_ts)
    }

    /// The last point's value in `column`.
    pub fn last_value(&self, column: usize) -> Option<f64> {
        (self.count > 0).then(|| f64::from_bits(self.prev[column]))
    }

    /// Appends a point; `values.len()` must equal the block's columns.
    pub fn push(&mut self, ts: i64, values: &[f64]) {
        debug_assert_eq!(values.len(), self.columns());
        if self.count == 0 {
            self.bits.push_bits(ts as u64, 64);
        } else {
            let delta = ts.wrapping_sub(self.prev_ts);
            self.push_dod(delta.wrapping_sub(self.prev_delta));
            self.prev_delta = delta;
        }
        self.prev_ts = ts;
        let mut row = [0u64; MAX_COLUMNS];
        for (bits, v) in row.iter_mut().zip(values) {
            *bits = v.to_bits();
        }
        for &c in order(self.columns()) {
            let predicted = predict(self.columns(), c, &row, &self.prev);
            self.push_value(c, row[c] ^ predicted);
        }
        if self.count == 0 {
            for state in &mut self.xor {
                state.window = false;
            }
        }
        self.prev = row;
        self.count += 1;
    }

    fn push_dod(&mut self, dod: i64) {
        let b = &mut self.bits;
        let fits = |bits: u32| dod >= -(1 << (bits - 1)) && dod < (1 << (bits - 1));
        if dod == 0 {
            b.push_bit(false);
        } else if fits(7) {
            b.push_bits(0b10, 2);
            b.push_bits(dod as u64, 7);
        } else if fits(12) {
            b.push_bits(0b110, 3);
            b.push_bits(dod as u64, 12);
        } else if fits(20) {
            b.push_bits(0b1110, 4);
            b.push_bits(dod as u64, 20);
        } else {
            b.push_bits(0b1111, 4);
            b.push_bits(dod as u64, 64);
        }
    }

    /// Writes a value's XOR with its prediction.
    fn push_value(&mut self, column: usize, xor: u64) {
        let state = &mut self.xor[column];
        let b = &mut self.bits;
        if xor == 0 {
            b.push_bit(false);
            return;
        }
        b.push_bit(true);
        let leading = xor.leading_zeros().min(63);
        let trailing = xor.trailing_zeros();
        if state.window
            && leading >= u32::from(state.leading)
            && trailing >= u32::from(state.trailing)
        {
            b.push_bit(false);
            let meaningful = 64 - u32::from(state.leading) - u32::from(state.trailing);
            b.push_bits(xor >> state.trailing, meaningful);
        } else {
            b.push_bit(true);
            let meaningful = 64 - leading - trailing;
            b.push_bits(u64::from(leading), 6);
            // 1..=64 stored as 0..=63.
            b.push_bits(u64::from(meaningful - 1), 6);
            b.push_bits(xor >> trailing, meaningful);
            // leading <= 63 and trailing <= 63 (xor is not 0).
            state.leading = leading as u8;
            state.trailing = trailing as u8;
            state.window = true;
        }
    }

    /// Length of [`BlockEncoder::to_bytes`] without building it.
    pub fn encoded_len(&self) -> usize {
        HEADER + self.bits.bytes.len()
    }

    /// Bytes it holds on the heap: the stream's allocation and the columns' states.
    pub fn heap_bytes(&self) -> usize {
        self.bits.bytes.capacity()
    }

    /// Of [`BlockEncoder::heap_bytes`], the stream's allocation.
    pub fn stream_capacity(&self) -> usize {
        self.bits.bytes.capacity()
    }

    /// The bit stream (the block without its header).
    pub fn stream(&self) -> &[u8] {
        &self.bits.bytes
    }

    /// Bytes of the stream that no later push changes: all but a partly filled last byte.
    pub fn settled_len(&self) -> usize {
        self.bits.bytes.len() - usize::from(self.bits.used != 0)
    }

    /// The block as stored.
    pub fn to_bytes(&self) -> Vec<u8> {
        assemble(FORMAT, self.columns(), self.count, &self.bits.bytes)
    }

    /// Continues a stored block (decodes it and encodes it again: the same bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, StoreError> {
        let block = decode(bytes)?;
        let mut enc = BlockEncoder::new(block.columns);
        let mut row = vec![0.0; block.columns];
        for (i, ts) in block.timestamps.iter().enumerate() {
            for (c, col) in block.values.iter().enumerate() {
                row[c] = col[i];
            }
            enc.push(*ts, &row);
        }
        Ok(enc)
    }
}

/// A block as stored, from its parts (as [`BlockEncoder::to_bytes`] would write it).
pub fn assemble(format: u8, columns: usize, count: u32, stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + stream.len());
    out.push(format);
    out.push(columns as u8);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(stream);
    out
}

/// A decoded block: timestamps and one vector per column.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub columns: usize,
    pub timestamps: Vec<i64>,
    pub values: Vec<Vec<f64>>,
}

/// Reads only the header: (columns, count).
pub fn header(bytes: &[u8]) -> Result<(usize, usize), StoreError> {
    if bytes.len() < HEADER {
        return Err(StoreError::Corrupt(format!(
            "block of {} bytes is shorter than its header",
            bytes.len()
        )));
    }
    if bytes[0] != FORMAT && bytes[0] != FORMAT_PLAIN {
        return Err(StoreError::Corrupt(format!(
            "block format {} is unknown",
            bytes[0]
        )));
    }
    let columns = bytes[1] as usize;
    let count = u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]) as usize;
    if !(1..=MAX_COLUMNS).contains(&columns) {
        return Err(StoreError::Corrupt(format!(
            "block has {columns} value columns"
        )));
    }
    Ok((columns, count))
}

/// The bit stream of a stored block (what follows its header).
pub fn stream_of(bytes: &[u8]) -> Result<&[u8], StoreError> {
    header(bytes)?;
    Ok(&bytes[HEADER..])
}

pub fn decode(bytes: &[u8]) -> Result<Block, StoreError> {
    let (columns, count) = header(bytes)?;
    let plain = bytes[0] == FORMAT_PLAIN;
    // Every point after the first takes at least 1 + columns bits.
    let stream = &bytes[HEADER..];
    if count > 0 && (count - 1) * (1 + columns) > stream.len() * 8 {
        return Err(StoreError::Corrupt(format!(
            "block claims {count} points in {} bytes",
            stream.len()
        )));
    }
    let mut r = BitReader {
        bytes: stream,
        pos: 0,
    };
    let mut timestamps = Vec::with_capacity(count);
    let mut values: Vec<Vec<f64>> = (0..columns).map(|_| Vec::with_capacity(count)).collect();
    let mut xor = [XorState::default(); MAX_COLUMNS];
    let mut prev = [0u64; MAX_COLUMNS];
    let mut prev_ts = 0i64;
    let mut prev_delta = 0i64;
    for i in 0..count {
        if i == 0 {
            prev_ts = r.bits(64)? as i64;
        } else {
            let dod = if !r.bit()? {
                0
            } else if !r.bit()? {
                sign_extend(r.bits(7)?, 7)
            } else if !r.bit()? {
                sign_extend(r.bits(12)?, 12)
            } else if !r.bit()? {
                sign_extend(r.bits(20)?, 20)
            } else {
                r.bits(64)? as i64
            };
            prev_delta = prev_delta.wrapping_add(dod);
            prev_ts = prev_ts.wrapping_add(prev_delta);
        }
        timestamps.push(prev_ts);
        let mut row = [0u64; MAX_COLUMNS];
        if plain && i == 0 {
            // Format 1: the first values as plain bits.
            for bits in row.iter_mut().take(columns) {
                *bits = r.bits(64)?;
            }
        } else {
            // Format 1 coded the columns in their order, each against its previous value.
            let columns_in_order = if plain {
                &IN_ORDER[..columns]
            } else {
                order(columns)
            };
            for &c in columns_in_order {
                let predicted = if plain {
                    prev[c]
                } else {
                    predict(columns, c, &row, &prev)
                };
                row[c] = predicted ^ read_xor(&mut r, &mut xor[c])?;
            }
        }
        if i == 0 && !plain {
            for state in &mut xor {
                state.window = false;
            }
        }
        for (c, column) in values.iter_mut().enumerate() {
            column.push(f64::from_bits(row[c]));
        }
        prev = row;
    }
    Ok(Block {
        columns,
        timestamps,
        values,
    })
}

/// Reads one value's XOR (0 when the value is its prediction).
fn read_xor(r: &mut BitReader<'_>, state: &mut XorState) -> Result<u64, StoreError> {
    if !r.bit()? {
        return Ok(0);
    }
    if r.bit()? {
        let leading = r.bits(6)? as u32;
        let meaningful = r.bits(6)? as u32 + 1;
        if leading + meaningful > 64 {
            return Err(StoreError::Corrupt("bad XOR window".into()));
        }
        state.leading = leading as u8;
        state.trailing = (64 - leading - meaningful) as u8;
        state.window = true;
    } else if !state.window {
        return Err(StoreError::Corrupt("XOR window reused before set".into()));
    }
    let meaningful = 64 - u32::from(state.leading) - u32::from(state.trailing);
    Ok(r.bits(meaningful)? << state.trailing)
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(points: &[(i64, f64)]) -> Vec<u8> {
        let mut enc = BlockEncoder::new(1);
        for (t, v) in points {
            enc.push(*t, &[*v]);
        }
        let bytes = enc.to_bytes();
        assert_eq!(enc.encoded_len(), bytes.len());
        let block = decode(&bytes).unwrap();
        assert_eq!(
            block.timestamps,
            points.iter().map(|p| p.0).collect::<Vec<_>>()
        );
        for (got, want) in block.values[0].iter().zip(points) {
            assert_eq!(got.to_bits(), want.1.to_bits(), "{got} vs {}", want.1);
        }
        // Resuming gives the same bytes.
        assert_eq!(BlockEncoder::from_bytes(&bytes).unwrap().to_bytes(), bytes);
        bytes
    }

    #[test]
    fn regular_scrapes_of_a_constant_cost_two_bits_a_point() {
        let points: Vec<(i64, f64)> = (0..1440)
            .map(|i| (1_700_000_000_000 + i * 5000, 42.0))
            .collect();
        let bytes = roundtrip(&points);
        // 16 bytes for the first point, 4 for the second (its delta), then 1 bit for
        // the timestamp and 1 for the value.
        assert!(
            bytes.len() <= HEADER + 16 + 4 + 1440 * 2 / 8 + 1,
            "{}",
            bytes.len()
        );
    }

    #[test]
    fn special_values_and_irregular_times_survive() {
        let mut points = vec![
            (0, f64::NAN),
            (1, f64::INFINITY),
            (5, f64::NEG_INFINITY),
            (6, -0.0),
            (10_000, 1e300),
            (10_001, 5e-324),
            (i64::MAX / 2, 3.5),
            (i64::MAX / 2 + 1, 3.5),
            (-5, 1.0),
        ];
        points.extend((0..100).map(|i| (1_000_000 + i * i * 997, (i as f64).sin() * 1e6)));
        roundtrip(&points);
        roundtrip(&[]);
        roundtrip(&[(7, 7.0)]);
    }

    #[test]
    fn a_counter_changing_every_scrape_stays_under_two_bytes_a_point() {
        let mut v = 1_000_000.0;
        let points: Vec<(i64, f64)> = (0..1440)
            .map(|i| {
                v += (i % 7) as f64 * 13.0;
                (i * 5000, v)
            })
            .collect();
        let bytes = roundtrip(&points);
        assert!((bytes.len() as f64) / 1440.0 < 2.0, "{} bytes", bytes.len());
    }

    #[test]
    fn multi_column_rollup_points() {
        let mut enc = BlockEncoder::new(5);
        for i in 0..100 {
            let f = i as f64;
            enc.push(i * 60_000, &[f, f + 1.0, f * 12.0, 12.0, f + 0.5]);
        }
        let block = decode(&enc.to_bytes()).unwrap();
        assert_eq!(block.columns, 5);
        assert_eq!(block.values[2][10], 120.0);
        assert_eq!(block.values[3], vec![12.0; 100]);
    }

    /// Rollup points of `samples` (12 a minute) as the store folds them.
    fn minute_points(samples: &[f64]) -> Vec<[f64; 5]> {
        samples
            .chunks(12)
            .map(|m| {
                let (min, max) = m
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
                let sum = m.iter().fold(0.0, |s, v| s + v);
                [min, max, sum, m.len() as f64, *m.last().unwrap()]
            })
            .collect()
    }

    fn rollup_bytes(points: &[[f64; 5]]) -> usize {
        let mut enc = BlockEncoder::new(5);
        for (i, p) in points.iter().enumerate() {
            enc.push(i as i64 * 60_000, p);
        }
        let bytes = enc.to_bytes();
        let block = decode(&bytes).unwrap();
        for (i, p) in points.iter().enumerate() {
            for (c, want) in p.iter().enumerate() {
                assert_eq!(
                    block.values[c][i].to_bits(),
                    want.to_bits(),
                    "point {i} column {c}"
                );
            }
        }
        assert_eq!(BlockEncoder::from_bytes(&bytes).unwrap().to_bytes(), bytes);
        bytes.len()
    }

    #[test]
    fn rollup_points_are_predicted_from_their_last_value() {
        // A gauge that holds still within each minute: min = max = last, sum = last *
        // count, count as before: six bits a point after the first (1 for the time).
        let still: Vec<f64> = (0..1440 * 12)
            .map(|i| ((i / 12) % 7) as f64 * 1.5)
            .collect();
        let bytes = rollup_bytes(&minute_points(&still));
        assert!(bytes < 1440 * 3, "{bytes} bytes for 1440 still minutes");
        // A counter: max = last costs a bit; min, sum and last carry its change.
        let mut v = 1_000_000.0;
        let counter: Vec<f64> = (0..1440 * 12)
            .map(|i| {
                v += (i % 5) as f64;
                v
            })
            .collect();
        let points = minute_points(&counter);
        let bytes = rollup_bytes(&points);
        let mut plain = 0;
        {
            // What format 1 took: each column against its own previous value.
            let mut prev = [0u64; 5];
            for p in &points {
                for c in 0..5 {
                    let xor = p[c].to_bits() ^ prev[c];
                    plain += if xor == 0 {
                        1
                    } else {
                        14 + 64 - xor.leading_zeros() - xor.trailing_zeros()
                    };
                    prev[c] = p[c].to_bits();
                }
            }
        }
        assert!(
            bytes * 8 < plain as usize,
            "{bytes} bytes, format 1 about {} bytes",
            plain / 8
        );
        // First values against 0.0: a young block of zeros is its header, the time and
        // a bit a column.
        assert_eq!(rollup_bytes(&[[0.0; 5]]), HEADER + 8 + 1);
        // NaN and infinities anywhere, including a NaN product (inf x 0).
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        rollup_bytes(&[
            [nan, nan, nan, 12.0, nan],
            [1.0, 2.0, nan, 0.0, inf],
            [-inf, inf, 3.0, nan, 0.5],
            [0.0, -0.0, -nan, 12.0, -0.0],
        ]);
    }

    #[test]
    fn format_1_blocks_still_read() {
        // Format 1, hand-made: header, ts 1000 and 2.5 / 12.0 as plain bits, then one
        // point 60 s later with its values unchanged (dod 60000 needs 20 bits).
        let mut bits = BitWriter::default();
        bits.push_bits(1000, 64);
        bits.push_bits(2.5f64.to_bits(), 64);
        bits.push_bits(12.0f64.to_bits(), 64);
        bits.push_bits(0b1110, 4);
        bits.push_bits(60_000, 20);
        bits.push_bits(0, 2);
        let bytes = assemble(FORMAT_PLAIN, 2, 2, &bits.bytes);
        let block = decode(&bytes).unwrap();
        assert_eq!(block.timestamps, vec![1000, 61_000]);
        assert_eq!(block.values, vec![vec![2.5, 2.5], vec![12.0, 12.0]]);
        // Continued in the current format.
        let again = BlockEncoder::from_bytes(&bytes).unwrap().to_bytes();
        assert_eq!(again[0], FORMAT);
        assert_eq!(decode(&again).unwrap(), block);
    }

    #[test]
    fn corrupt_blocks_are_errors_not_panics() {
        let mut enc = BlockEncoder::new(1);
        for i in 0..50 {
            enc.push(i * 5000, &[i as f64 * 1.5]);
        }
        let bytes = enc.to_bytes();
        for cut in 0..bytes.len() {
            let _ = decode(&bytes[..cut]);
        }
        let mut rng = 0x9e3779b97f4a7c15u64;
        for _ in 0..2000 {
            let mut b = bytes.clone();
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let i = (rng as usize) % b.len();
            b[i] ^= 1 << (rng % 8);
            let _ = decode(&b);
        }
        assert!(decode(&[9, 1, 0, 0, 0, 0]).is_err());
        assert!(decode(&[1, 1, 255, 255, 0, 0]).is_err());
        // More columns than any tier has, or none: refused, by the encoder too.
        for columns in [0, 6, 8, 255] {
            let block = [FORMAT, columns, 0, 0, 0, 0];
            assert!(decode(&block).is_err(), "{columns} columns");
            assert!(
                BlockEncoder::from_bytes(&block).is_err(),
                "{columns} columns"
            );
        }
    }

    /// The head holds three encoders for every series (51,900 series at 100
    /// clusters): each byte here is 150 KB there.
    #[test]
    fn an_encoder_is_small() {
        assert!(
            size_of::<BlockEncoder>() <= 112,
            "{} bytes",
            size_of::<BlockEncoder>()
        );
    }
}
