//! Plain FITS images read without cfitsio: an uncompressed file whose spectra HDU is a 1-D or
//! 2-D image of BITPIX -32, -64, 16 or 32 (BSCALE/BZERO applied), wavelengths from the axis-1
//! WCS. Anything else — gzip, a WAVELENGTH extension, BITPIX 8 or 64, a keyword this module
//! cannot read exactly as cfitsio would — goes through cfitsio ([`super::fits`]) as before.
//!
//! Why: a folder of small spectra is mostly per-file overhead. Through cfitsio each file was
//! opened twice (our structure walk, then `FitsFile::open`, which parses the header again and
//! allocates its buffers), and every keyword (about 15 per file: the WCS, CLASS/OBJTYPE/LABEL,
//! OBJECT/OBJNAME, each then looked up in the primary header too) was a scan of the header.
//! The walk ([`super::header`]) has already read the header and checked the declared data size
//! against the file, so here the keywords come from what it kept and the pixels are one
//! positioned read of the file the walk opened (with copies removed alongside, the bench's
//! `run-job` on 5,000 such files went from 0.32–0.39 s to 0.23–0.30 s; benches/ml/README.md).
//!
//! Same results: pixels are converted as cfitsio converts them when no null value is asked for
//! (fitsio's `read_section`): big-endian values, `(float)(value × BSCALE + BZERO)` computed in
//! double, NaN kept, no BLANK handling; the WCS goes through the same function. Same errors:
//! where cfitsio's answer is not certain — a header whose mandatory keywords are out of order
//! (cfitsio refuses it), a repeated or lower-case keyword (its search order decides), a value
//! that is not a plain number or quoted string (Fortran `D` exponents, continued strings), a
//! scaled value beyond float range — the file is left to cfitsio, which answers as it always did.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use super::error::Problem;
use super::fits::Keywords;
use super::header::{Body, Card, Hdu};

/// Bytes read at a time: pixels are converted from a bounded buffer, not a second copy of the
/// whole image.
const CHUNK: usize = 1 << 16;

/// An image HDU this module reads, with its keywords parsed.
pub struct Image {
    data_offset: u64,
    bitpix: i64,
    scale: f64,
    zero: f64,
    own: Parsed,
    primary: Parsed,
}

/// The reading keywords of one header, each parsed as the type cfitsio is asked for.
#[derive(Default)]
pub struct Parsed {
    numbers: BTreeMap<&'static str, f64>,
    integers: BTreeMap<&'static str, i64>,
    texts: BTreeMap<&'static str, String>,
}

impl Keywords for Parsed {
    fn number(&mut self, key: &str) -> Option<f64> {
        self.numbers.get(key).copied()
    }
    fn integer(&mut self, key: &str) -> Option<i64> {
        self.integers.get(key).copied()
    }
    fn text(&mut self, key: &str) -> Option<String> {
        self.texts.get(key).cloned()
    }
}

impl Image {
    /// The image HDU `hdu` of `bins` pixels per row, when this module can read it exactly as
    /// cfitsio would; `None` leaves it to cfitsio.
    pub fn of(hdus: &[Hdu], hdu: &Hdu, bins: u64) -> Option<Image> {
        let Body::Image { bitpix, shape } = &hdu.body else { return None };
        if ![-32, -64, 16, 32].contains(bitpix) {
            return None;
        }
        // cfitsio reads every header up to this one when it moves there.
        if !hdus
            .iter()
            .take(hdu.index + 1)
            .all(|h| matches!(h.body, Body::Image { .. }) && h.standard && well_ordered(h))
        {
            return None;
        }
        let has_wavelength_extension = hdus.iter().any(|h| {
            h.name == "WAVELENGTH" && matches!(&h.body, Body::Image { shape, .. } if shape.first() == Some(&bins))
        });
        if has_wavelength_extension || shape.len() > 2 {
            return None;
        }
        let own = parse(hdu)?;
        let primary = parse(&hdus[0])?;
        if !is_true(&hdus[0]) {
            return None;
        }
        if own.integers.get("PCOUNT").is_some_and(|&p| p != 0) || own.integers.get("GCOUNT").is_some_and(|&g| g != 1) {
            return None;
        }
        let scale = own.numbers.get("BSCALE").copied().unwrap_or(1.0);
        let zero = own.numbers.get("BZERO").copied().unwrap_or(0.0);
        if scale == 0.0 || !scale.is_finite() || !zero.is_finite() {
            return None;
        }
        Some(Image { data_offset: hdu.data_offset, bitpix: *bitpix, scale, zero, own, primary })
    }

    /// The HDU's own keywords.
    pub fn keys(&mut self) -> &mut Parsed {
        &mut self.own
    }

    /// A keyword of the HDU, else of the primary header (as [`super::fits`] looks them up).
    pub fn inherited(&mut self, keys: &[&str]) -> Option<String> {
        let own = keys.iter().find_map(|k| self.own.text(k));
        own.or_else(|| keys.iter().find_map(|k| self.primary.text(k)))
    }

    /// Pixels `start .. start + count` (0-based, row-major) as f32; `Ok(None)` when a scaled
    /// value leaves float range (cfitsio's answer to that decides, so it reads the file). The
    /// walk checked that the HDU's data lies inside the file, and the caller reserved `count`
    /// floats of budget.
    pub fn pixels(&self, file: &File, start: u64, count: u64) -> Result<Option<Vec<f32>>, Problem> {
        let width = self.bitpix.unsigned_abs() / 8;
        let overflow = || Problem::invalid("the image's pixel offsets overflow");
        let begin = start.checked_mul(width).and_then(|b| b.checked_add(self.data_offset)).ok_or_else(overflow)?;
        let total = count.checked_mul(width).ok_or_else(overflow)?;
        let count = usize::try_from(count).map_err(|_| overflow())?;
        let mut out = Vec::with_capacity(count);
        let mut buffer = vec![0u8; CHUNK.min(total as usize)];
        let mut done = 0u64;
        while done < total {
            let n = (total - done).min(CHUNK as u64) as usize;
            file.read_exact_at(&mut buffer[..n], begin + done).map_err(|e| Problem::io(&e))?;
            if !self.convert(&buffer[..n], &mut out) {
                return Ok(None);
            }
            done += n as u64;
        }
        Ok(Some(out))
    }

    /// Appends the big-endian values of `bytes` to `out`; false when one leaves float range.
    fn convert(&self, bytes: &[u8], out: &mut Vec<f32>) -> bool {
        let (scale, zero) = (self.scale, self.zero);
        let plain = scale == 1.0 && zero == 0.0;
        // cfitsio: `(float) input` without scaling, else `(float) (input * scale + zero)`.
        let scaled = |v: f64| {
            let s = if plain { v } else { v * scale + zero };
            let f = s as f32;
            (f.is_finite() || !s.is_finite()).then_some(f)
        };
        let before = out.len();
        match self.bitpix {
            -32 if plain => out.extend(bytes.chunks_exact(4).map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
            -32 => out
                .extend(bytes.chunks_exact(4).map_while(|b| scaled(f32::from_be_bytes(b.try_into().unwrap()) as f64))),
            -64 => out.extend(bytes.chunks_exact(8).map_while(|b| scaled(f64::from_be_bytes(b.try_into().unwrap())))),
            16 => out.extend(bytes.chunks_exact(2).map_while(|b| scaled(i16::from_be_bytes([b[0], b[1]]) as f64))),
            32 => out
                .extend(bytes.chunks_exact(4).map_while(|b| scaled(i32::from_be_bytes(b.try_into().unwrap()) as f64))),
            _ => return false,
        }
        out.len() - before == bytes.len() / (self.bitpix.unsigned_abs() / 8) as usize
    }
}

/// Whether SIMPLE is the logical T.
fn is_true(primary: &Hdu) -> bool {
    matches!(primary.keys.get("SIMPLE"), Some(Card(Some(v))) if v.split('/').next().is_some_and(|v| v.trim() == "T"))
}

/// Whether the mandatory keywords open the header in the standard's order (FITS 4.0 §4.4.1):
/// SIMPLE or XTENSION, BITPIX, NAXIS, NAXIS1…n, then PCOUNT, GCOUNT in an extension.
fn well_ordered(hdu: &Hdu) -> bool {
    let Some(naxis) = hdu.leading.get(2).filter(|k| *k == "NAXIS").and(naxis_of(hdu)) else { return false };
    let first = if hdu.index == 0 { "SIMPLE" } else { "XTENSION" };
    let mut expected = vec![first.to_string(), "BITPIX".into(), "NAXIS".into()];
    expected.extend((1..=naxis).map(|i| format!("NAXIS{i}")));
    if hdu.index > 0 {
        expected.extend(["PCOUNT".to_string(), "GCOUNT".to_string()]);
    }
    expected.len() <= hdu.leading.len() && hdu.leading[..expected.len()] == expected[..]
}

/// NAXIS of an image HDU (the walk keeps the shape; an empty shape is NAXIS = 0 or a zero axis).
fn naxis_of(hdu: &Hdu) -> Option<usize> {
    match &hdu.body {
        Body::Image { shape, .. } if !shape.is_empty() => Some(shape.len()),
        // A header without data: its NAXIS cards are counted from the card names.
        Body::Image { .. } => Some(hdu.leading.iter().skip(3).take_while(|k| k.starts_with("NAXIS")).count()),
        _ => None,
    }
}

/// Every reading keyword of `hdu`, parsed as the type it is read as; `None` when one of them is
/// not certain (see the module comment).
fn parse(hdu: &Hdu) -> Option<Parsed> {
    let mut parsed = Parsed::default();
    for (&key, Card(field)) in &hdu.keys {
        let field = field.as_deref()?;
        match key {
            "SIMPLE" => {}
            "DC-FLAG" | "PCOUNT" | "GCOUNT" => {
                parsed.integers.insert(key, integer(field)?);
            }
            "CTYPE1" | "CLASS" | "OBJTYPE" | "LABEL" | "OBJECT" | "OBJNAME" => {
                let text = quoted(field)?;
                let text = text.trim();
                if !text.is_empty() {
                    parsed.texts.insert(key, text.to_string());
                }
            }
            _ => {
                parsed.numbers.insert(key, number(field)?);
            }
        }
    }
    Some(parsed)
}

/// The value of a field before its comment.
fn bare(field: &str) -> &str {
    field.split('/').next().unwrap_or("").trim()
}

/// A plain decimal number: `[+-]digits[.digits][E[+-]digits]` (no Fortran `D`, no words).
fn number(field: &str) -> Option<f64> {
    let v = bare(field);
    let mantissa_end = v.find(['E', 'e']).unwrap_or(v.len());
    let (mantissa, exponent) = v.split_at(mantissa_end);
    let mantissa = mantissa.strip_prefix(['+', '-']).unwrap_or(mantissa);
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).count();
    let dots = mantissa.bytes().filter(|&b| b == b'.').count();
    let mantissa_ok = digits > 0 && dots <= 1 && digits + dots == mantissa.len();
    let exponent_ok = exponent.is_empty() || {
        let e = &exponent[1..];
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    };
    if !(mantissa_ok && exponent_ok) {
        return None;
    }
    // cfitsio refuses what strtod reports as out of range (ERANGE): an overflow, and an underflow
    // to a subnormal or to zero from a nonzero mantissa.
    let value: f64 = v.parse().ok()?;
    let underflow = value == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b));
    (value.is_finite() && (value == 0.0 || value.is_normal()) && !underflow).then_some(value)
}

/// A plain integer.
fn integer(field: &str) -> Option<i64> {
    let v = bare(field);
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then(|| v.parse().ok())?
}

/// A quoted string ('' is a quote) closed on its card and not continued (`&`), followed by
/// nothing or a comment.
fn quoted(field: &str) -> Option<String> {
    let rest = field.trim_start().strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\'' {
            out.push(c);
            continue;
        }
        if chars.peek().is_some_and(|&(_, c)| c == '\'') {
            chars.next();
            out.push('\'');
            continue;
        }
        let after = rest[i + 1..].trim();
        let out = out.trim_end().to_string();
        return ((after.is_empty() || after.starts_with('/')) && !out.ends_with('&')).then_some(out);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_only_when_cfitsio_would_read_them_the_same() {
        assert_eq!(number("  6500.5 / start"), Some(6500.5));
        assert_eq!(number("-1.5E-3"), Some(-1.5e-3));
        assert_eq!(number("+7"), Some(7.0));
        for unsure in ["1.0D3", "'6500'", "", "nan", "inf", "1e", "1.2.3", "T"] {
            assert_eq!(number(unsure), None, "{unsure}");
        }
        assert_eq!(integer(" 1 / log10"), Some(1));
        assert_eq!(integer("1.0"), None);
        assert_eq!(quoted(" 'star    ' / class"), Some("star".into()));
        assert_eq!(quoted("'O''Brien'"), Some("O'Brien".into()));
        assert_eq!(quoted("'long&'"), None, "continued on a CONTINUE card");
        assert_eq!(quoted("'open"), None);
        assert_eq!(quoted("123"), None);
    }
}
