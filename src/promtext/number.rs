//! Number parsing for sample values and timestamps.

/// Exact powers of ten representable in an f64 (10^0 ..= 10^22).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses a sample value: a decimal float, `NaN`, `+Inf`, `-Inf` or `Inf`
/// (the special words case-insensitively, as Go's `strconv.ParseFloat` does).
#[inline]
pub(super) fn parse_f64(s: &str) -> Option<f64> {
    match fast_f64(s.as_bytes()) {
        Some(v) => Some(v),
        None => s.parse::<f64>().ok(),
    }
}

/// Clinger's fast path: a decimal with at most 19 digits whose mantissa fits
/// in 53 bits and whose decimal exponent is within ±22 is converted exactly
/// with a single correctly rounded multiplication or division, so the result
/// equals `str::parse::<f64>`. Returns `None` for anything else (which the
/// caller then hands to the standard parser).
#[inline]
pub(super) fn fast_f64(b: &[u8]) -> Option<f64> {
    let len = b.len();
    let mut i = 0;
    let neg = match b.first()? {
        b'-' => {
            i = 1;
            true
        }
        b'+' => {
            i = 1;
            false
        }
        _ => false,
    };
    let mut mant: u64 = 0;
    let mut ndigits = 0usize;
    let int_start = i;
    while i < len {
        let d = b[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        mant = mant.wrapping_mul(10).wrapping_add(d as u64);
        i += 1;
    }
    ndigits += i - int_start;
    let mut exp: i32 = 0;
    if i < len && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < len {
            let d = b[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            mant = mant.wrapping_mul(10).wrapping_add(d as u64);
            i += 1;
        }
        let nfrac = i - frac_start;
        ndigits += nfrac;
        if nfrac > 22 {
            return None;
        }
        exp = -(nfrac as i32);
    }
    if ndigits == 0 || ndigits > 19 {
        return None;
    }
    if i < len && (b[i] | 0x20) == b'e' {
        i += 1;
        let eneg = match b.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let exp_start = i;
        let mut e: i32 = 0;
        while i < len {
            let d = b[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            if i - exp_start >= 4 {
                return None;
            }
            e = e * 10 + d as i32;
            i += 1;
        }
        if i == exp_start {
            return None;
        }
        exp += if eneg { -e } else { e };
    }
    if i != len || mant > (1u64 << 53) {
        return None;
    }
    let m = mant as f64;
    let v = if exp == 0 {
        m
    } else if (1..=22).contains(&exp) {
        m * POW10[exp as usize]
    } else if (-22..0).contains(&exp) {
        m / POW10[(-exp) as usize]
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

/// Parses an optional sample timestamp: a (possibly signed) decimal integer
/// of milliseconds that fits in an i64.
#[inline]
pub(super) fn parse_i64(s: &str) -> Option<i64> {
    s.parse::<i64>().ok()
}
