//! The header cards of a FITS file's HDUs, for the file preview.
//!
//! Read by hand rather than through cfitsio: the `fitsio` crate reads keys by name only, and
//! listing every card would take unsafe FFI (`ffgrec`). The format makes this small — 2880-byte
//! blocks of 80-character cards up to `END`, then a data unit whose size follows from
//! `BITPIX`, `NAXISn`, `PCOUNT` and `GCOUNT` — and it is display only: nothing is computed from
//! the values. Everything is bounded: HDUs, cards, header bytes, and data sizes are checked with
//! overflow-safe arithmetic against the real file length before a seek.

use std::io::{Read, Seek, SeekFrom};

const BLOCK: u64 = 2880;
const CARD: usize = 80;
/// HDUs shown at most.
pub const MAX_HDUS: usize = 16;
/// Cards of one header read at most (a header longer than this is cut, said so).
const MAX_CARDS: usize = 4000;

/// One header card, split into keyword, value and comment.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub key: String,
    pub value: String,
    pub comment: String,
}

/// The header of one HDU.
#[derive(Debug, Clone)]
pub struct Header {
    pub index: usize,
    pub cards: Vec<Card>,
    /// The header did not end within [`MAX_CARDS`] cards.
    pub truncated: bool,
}

/// Splits a card: `KEY     = value / comment`; commentary cards keep their text as the value.
fn parse_card(raw: &[u8]) -> Card {
    let text: String = raw.iter().map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '?' }).collect();
    let key = text[..8.min(text.len())].trim_end().to_string();
    if text.len() < 10 || &text[8..10] != "= " {
        return Card { key, value: text.get(8..).unwrap_or("").trim().to_string(), comment: String::new() };
    }
    let rest = &text[10..];
    let (value, comment) = if rest.trim_start().starts_with('\'') {
        // A string value: '' is an escaped quote; the comment follows the closing quote.
        let start = rest.find('\'').unwrap_or(0) + 1;
        let mut end = start;
        let bytes = rest.as_bytes();
        while end < bytes.len() {
            if bytes[end] == b'\'' {
                if bytes.get(end + 1) == Some(&b'\'') {
                    end += 2;
                    continue;
                }
                break;
            }
            end += 1;
        }
        let value = rest[start..end.min(rest.len())].replace("''", "'").trim_end().to_string();
        let after = rest.get(end + 1..).unwrap_or("");
        (value, after.split_once('/').map(|(_, c)| c.trim().to_string()).unwrap_or_default())
    } else {
        match rest.split_once('/') {
            Some((v, c)) => (v.trim().to_string(), c.trim().to_string()),
            None => (rest.trim().to_string(), String::new()),
        }
    };
    Card { key, value, comment }
}

fn int(cards: &[Card], key: &str) -> Option<i64> {
    cards.iter().find(|c| c.key == key)?.value.parse().ok()
}

/// Bytes of the data unit that follows a header, rounded up to whole blocks; `None` when the
/// header's numbers are missing, negative or overflow.
fn data_bytes(cards: &[Card]) -> Option<u64> {
    let bitpix = int(cards, "BITPIX")?.unsigned_abs() / 8;
    let naxis = int(cards, "NAXIS")?;
    if !(0..=999).contains(&naxis) {
        return None;
    }
    if naxis == 0 {
        return Some(0);
    }
    let mut elements: u64 = 1;
    for i in 1..=naxis {
        elements = elements.checked_mul(u64::try_from(int(cards, &format!("NAXIS{i}"))?).ok()?)?;
    }
    let pcount = u64::try_from(int(cards, "PCOUNT").unwrap_or(0)).ok()?;
    let gcount = u64::try_from(int(cards, "GCOUNT").unwrap_or(1)).ok()?;
    let bytes = bitpix.checked_mul(gcount)?.checked_mul(elements.checked_add(pcount)?)?;
    bytes.checked_add(BLOCK - 1).map(|b| b / BLOCK * BLOCK)
}

/// Reads one header at the current position; `None` at a clean end of file.
fn read_header(file: &mut (impl Read + Seek), index: usize) -> std::io::Result<Option<Header>> {
    let mut cards = Vec::new();
    let mut block = vec![0u8; BLOCK as usize];
    loop {
        match file.read_exact(&mut block) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && cards.is_empty() => return Ok(None),
            Err(e) => return Err(e),
        }
        for raw in block.chunks(CARD) {
            let card = parse_card(raw);
            if card.key == "END" {
                return Ok(Some(Header { index, cards, truncated: false }));
            }
            if !(card.key.is_empty() && card.value.is_empty()) {
                cards.push(card);
            }
        }
        if cards.len() >= MAX_CARDS {
            return Ok(Some(Header { index, cards, truncated: true }));
        }
    }
}

/// The headers of the file's first [`MAX_HDUS`] HDUs. An error only if the first block is not
/// FITS; a damaged later HDU ends the list.
pub fn read(file: &mut (impl Read + Seek), file_len: u64) -> Result<Vec<Header>, String> {
    let mut headers = Vec::new();
    while headers.len() < MAX_HDUS {
        let header = match read_header(file, headers.len()) {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) if headers.is_empty() => return Err(format!("not a FITS file: {e}")),
            Err(_) => break,
        };
        if headers.is_empty() && header.cards.first().is_none_or(|c| c.key != "SIMPLE") {
            return Err("not a FITS file: it does not start with SIMPLE".into());
        }
        let (truncated, skip) = (header.truncated, data_bytes(&header.cards));
        headers.push(header);
        let position = file.stream_position().map_err(|e| e.to_string())?;
        match skip.and_then(|s| position.checked_add(s)) {
            Some(next) if !truncated && next < file_len => {
                file.seek(SeekFrom::Start(next)).map_err(|e| e.to_string())?;
            }
            _ => break,
        }
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(cards: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in cards.iter().chain(std::iter::once(&"END")) {
            out.extend(format!("{c:<80}").bytes());
        }
        out.resize(out.len().div_ceil(BLOCK as usize) * BLOCK as usize, b' ');
        out
    }

    #[test]
    fn cards_split_into_key_value_and_comment() {
        let c = parse_card(format!("{:<80}", "OBJECT  = 'It''s M31 / disk' / the target").as_bytes());
        assert_eq!((c.key.as_str(), c.value.as_str(), c.comment.as_str()), ("OBJECT", "It's M31 / disk", "the target"));
        let c = parse_card(format!("{:<80}", "NAXIS1  =                 4000 / length").as_bytes());
        assert_eq!((c.value.as_str(), c.comment.as_str()), ("4000", "length"));
        let c = parse_card(format!("{:<80}", "HISTORY reduced <b>twice</b>").as_bytes());
        assert_eq!((c.key.as_str(), c.value.as_str()), ("HISTORY", "reduced <b>twice</b>"));
    }

    #[test]
    fn headers_of_every_hdu_are_read_and_data_units_skipped() {
        let mut bytes = block(&["SIMPLE  = T", "BITPIX  = -32", "NAXIS   = 1", "NAXIS1  = 1000", "EXTEND  = T"]);
        bytes.extend(vec![0u8; 2 * BLOCK as usize]); // 4000 bytes of data, two blocks
        bytes.extend(block(&["XTENSION= 'BINTABLE'", "BITPIX  = 8", "NAXIS   = 2", "NAXIS1  = 8", "NAXIS2  = 0"]));
        let headers = read(&mut std::io::Cursor::new(&bytes), bytes.len() as u64).unwrap();
        assert_eq!(headers.len(), 2);
        assert_eq!(headers[1].cards[0].value, "BINTABLE");
    }

    #[test]
    fn hostile_sizes_stop_the_walk_instead_of_overflowing() {
        let bytes = block(&[
            "SIMPLE  = T",
            "BITPIX  = 64",
            "NAXIS   = 3",
            "NAXIS1  = 9223372036854775807",
            "NAXIS2  = 4",
            "NAXIS3  = 4",
        ]);
        let headers = read(&mut std::io::Cursor::new(&bytes), bytes.len() as u64).unwrap();
        assert_eq!(headers.len(), 1);
        assert!(read(&mut std::io::Cursor::new(b"not fits at all".repeat(300)), 4500).is_err());
    }
}
