//! Delimited text spectra (`.csv .tsv .txt .dat`): comma, semicolon or tab separated through
//! the `csv` crate (quoting, `#` comments, ragged rows reported by line), or columns separated
//! by runs of blanks, which the `csv` crate cannot split (one delimiter byte only), so those
//! lines are split on whitespace here.
//!
//! The file is streamed: the first record decides the layout ([`super::layout`]), then every
//! row goes straight into its spectrum, reserving its bytes in the budget first. A line of
//! millions of columns therefore costs its own bytes plus 8 per column of grid, not a string
//! per cell.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use super::budget::{Budget, bytes_of};
use super::error::Problem;
use super::layout::{self, Roles, Wide, number};
use super::{Axis, Spectrum};

/// Points reserved at a time while a long (one point per row) table grows.
const RESERVE_POINTS: u64 = 1 << 10;

/// How the fields of a line are separated.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Separator {
    Byte(u8),
    Blanks,
}

/// The records of the file, with their 1-based line numbers.
struct Records<R: Read> {
    csv: Option<csv::StringRecordsIntoIter<R>>,
    lines: Option<std::io::Lines<R>>,
    line: u64,
}

impl<R: BufRead> Records<R> {
    fn new(reader: R, separator: Separator) -> Records<R> {
        match separator {
            Separator::Byte(delimiter) => {
                let csv = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .comment(Some(b'#'))
                    .trim(csv::Trim::All)
                    .delimiter(delimiter)
                    .from_reader(reader);
                Records { csv: Some(csv.into_records()), lines: None, line: 0 }
            }
            Separator::Blanks => Records { csv: None, lines: Some(reader.lines()), line: 0 },
        }
    }

    /// The next non-empty record, or None at the end.
    fn next(&mut self) -> Result<Option<csv::StringRecord>, Problem> {
        if let Some(csv) = &mut self.csv {
            for record in csv.by_ref() {
                let record = record.map_err(|e| Problem::invalid(format!("not readable as CSV: {e}")))?;
                self.line = record.position().map_or(self.line + 1, |p| p.line());
                if record.iter().any(|c| !c.is_empty()) {
                    return Ok(Some(record));
                }
            }
            return Ok(None);
        }
        let lines = self.lines.as_mut().expect("one of the two readers");
        for line in lines.by_ref() {
            self.line += 1;
            let line = line.map_err(|e| Problem::invalid(format!("not readable as text: {e}")))?;
            let trimmed = line.trim();
            if !trimmed.is_empty() && !trimmed.starts_with('#') {
                return Ok(Some(trimmed.split_whitespace().collect()));
            }
        }
        Ok(None)
    }
}

/// The separator of the first line that is not blank or a comment (within the first buffer).
fn sniff(head: &[u8]) -> Separator {
    let text = String::from_utf8_lossy(head);
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("");
    [b',', b';', b'\t'].into_iter().find(|&b| line.contains(b as char)).map_or(Separator::Blanks, Separator::Byte)
}

/// The spectra of a delimited text file (names left empty where the table gives none).
pub fn read(reader: impl Read, file: &str, budget: &Budget) -> Result<Vec<Spectrum>, Problem> {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let separator = sniff(reader.fill_buf().map_err(|e| Problem::io(&e))?);
    let mut records = Records::new(reader, separator);
    let Some(first) = records.next()? else {
        return Err("the file is empty".into());
    };
    // A first line of numbers is data, unless it is three or more strictly increasing
    // wavelengths heading one spectrum per row (a numeric header, as wide tables are written).
    let numbers: Vec<Option<f64>> = first.iter().map(number).collect();
    let increasing = numbers.windows(2).all(|w| matches!((w[0], w[1]), (Some(a), Some(b)) if a < b));
    let headerless = numbers.iter().all(Option::is_some) && !(numbers.len() >= 3 && increasing);
    drop(numbers);
    let names: Vec<&str> = first.iter().collect();
    let roles =
        if headerless { Roles::default() } else { Roles::of(&names.iter().map(|n| (*n, None)).collect::<Vec<_>>()) };
    let width = first.len();
    let pending = headerless.then(|| first.clone());
    if let (Some((w, log10)), Some(f)) = (roles.wave, roles.flux) {
        return long(&mut records, None, (w, f, log10), roles.label, file, budget);
    }
    if let (Some(t), None) = (roles.time, roles.flux) {
        return time_series(&mut records, &names, t, file, budget);
    }
    if width == 2 {
        return long(&mut records, pending, (0, 1, false), None, file, budget);
    }
    if width == 1 {
        return Err("the table has one column (expected wavelength and flux columns)".into());
    }
    let wide = if headerless { Wide::indexed(width) } else { Wide::from_header(&names, &roles)? };
    budget.reserve(bytes_of(wide.wave.len() as u64, 8, &"the grid")?, &"the grid")?;
    rows(&mut records, pending, &wide, width, budget)
}

fn cell_number(record: &csv::StringRecord, c: usize, line: u64, what: &str) -> Result<f64, Problem> {
    let Some(cell) = record.get(c) else {
        return Err(Problem::invalid(format!("line {line} has {} cells, expected at least {}", record.len(), c + 1)));
    };
    number(cell).ok_or_else(|| Problem::invalid(format!("line {line}, {what}: '{cell}' is not a number")))
}

/// One spectrum from two columns, one point per row.
fn long<R: BufRead>(
    records: &mut Records<R>,
    first: Option<csv::StringRecord>,
    (x, y, log10): (usize, usize, bool),
    label: Option<usize>,
    file: &str,
    budget: &Budget,
) -> Result<Vec<Spectrum>, Problem> {
    let (mut wave, mut flux, mut label_text) = (Vec::new(), Vec::new(), None);
    let mut reserved = 0u64;
    let mut next = first;
    while let Some(record) = next.take().map_or_else(|| records.next(), |r| Ok(Some(r)))? {
        if wave.len() as u64 == reserved {
            budget.reserve(RESERVE_POINTS * 12, &"the spectrum")?;
            reserved += RESERVE_POINTS;
        }
        let line = records.line.max(1);
        wave.push(cell_number(&record, x, line, "wavelength")?);
        flux.push(cell_number(&record, y, line, "flux")? as f32);
        if label_text.is_none() {
            label_text = label.and_then(|c| record.get(c)).map(str::to_string);
        }
    }
    if wave.is_empty() {
        return Err("the table has no rows".into());
    }
    if log10 {
        layout::unlog(&mut wave);
    }
    let _ = file;
    Ok(vec![layout::spectrum(None, label_text, Arc::from(wave), flux, Axis::Wavelength)])
}

/// One spectrum per row of a wide table.
fn rows<R: BufRead>(
    records: &mut Records<R>,
    first: Option<csv::StringRecord>,
    wide: &Wide,
    width: usize,
    budget: &Budget,
) -> Result<Vec<Spectrum>, Problem> {
    let mut out = Vec::new();
    let mut next = first;
    let row_bytes = bytes_of(wide.flux.len() as u64, 4, &"a row")?;
    while let Some(record) = next.take().map_or_else(|| records.next(), |r| Ok(Some(r)))? {
        let line = records.line.max(1);
        if record.len() != width {
            return Err(Problem::invalid(format!("line {line} has {} cells, the header has {width}", record.len())));
        }
        let text = |c: Option<usize>| c.and_then(|c| record.get(c)).map(|s| s.trim_matches('"').to_string());
        let name = text(wide.name).filter(|n| !n.is_empty());
        budget.reserve(row_bytes + name.as_ref().map_or(0, |n| n.len() as u64), &"a row")?;
        let flux = wide
            .flux
            .iter()
            .enumerate()
            .map(|(k, &c)| cell_number(&record, c, line, &format!("column {}", wide.wave[k])).map(|v| v as f32))
            .collect::<Result<Vec<f32>, _>>()?;
        out.push(layout::spectrum(name, text(wide.label), wide.wave.clone(), flux, Axis::Wavelength));
    }
    if out.is_empty() {
        return Err("the table has no rows".into());
    }
    Ok(out)
}

/// A time series table (the ocean kinds' `timeseries.csv`): every column numeric in all rows
/// becomes a series against the time column; text columns (an ISO time) are skipped.
fn time_series<R: BufRead>(
    records: &mut Records<R>,
    names: &[&str],
    t: usize,
    file: &str,
    budget: &Budget,
) -> Result<Vec<Spectrum>, Problem> {
    let width = names.len();
    let mut columns: Vec<Option<Vec<f64>>> = vec![Some(Vec::new()); width];
    let mut rows = 0usize;
    while let Some(record) = records.next()? {
        budget.reserve(bytes_of(width as u64, 8, &"a row")?, &"a row")?;
        for (c, column) in columns.iter_mut().enumerate() {
            let value = record.get(c).and_then(number);
            match (column.as_mut(), value) {
                (Some(values), Some(v)) => values.push(v),
                _ => *column = None,
            }
        }
        rows += 1;
    }
    let time = columns[t].take().filter(|_| rows > 0).ok_or("the time column holds no numbers")?;
    let time: Arc<[f64]> = Arc::from(time);
    let series: Vec<Spectrum> = columns
        .into_iter()
        .enumerate()
        .filter_map(|(c, values)| {
            let values = values?;
            let name = format!("{file}: {}", names[c].trim());
            Some(layout::spectrum(
                Some(name),
                None,
                time.clone(),
                values.iter().map(|&v| v as f32).collect(),
                Axis::Time,
            ))
        })
        .collect();
    if series.is_empty() {
        return Err("a time column but no numeric columns to plot against it".into());
    }
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spectra(text: &str) -> Result<Vec<Spectrum>, Problem> {
        read(text.as_bytes(), "x.csv", &Budget::new(1 << 20))
    }

    #[test]
    fn wide_tables_give_one_spectrum_per_row_with_names_and_labels() {
        let s = spectra("name,label,6500,6501,6502\na,em,1,2,3\n\"b, the second\",abs,3,2,1\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[1].name.as_str(), s[1].label.as_deref()), ("b, the second", Some("abs")), "quoting works");
        assert_eq!((&*s[0].wave, &s[0].flux[..]), (&[6500.0, 6501.0, 6502.0][..], &[1.0f32, 2.0, 3.0][..]));
        assert!(Arc::ptr_eq(&s[0].wave, &s[1].wave), "rows share the grid");
        let s = spectra("# a comment\n3;2;1\n4;5;6\n").unwrap();
        assert_eq!((s.len(), &*s[1].wave, &s[1].flux[..]), (2, &[0.0, 1.0, 2.0][..], &[4.0f32, 5.0, 6.0][..]));
        let s = spectra("6500\t6501\t6502\n4\t5\t6\n").unwrap();
        assert_eq!((s.len(), &*s[0].wave), (1, &[6500.0, 6501.0, 6502.0][..]), "increasing numbers head the columns");
    }

    #[test]
    fn long_tables_headerless_pairs_and_blank_separated_columns() {
        let s = spectra("wave,flux,ivar\n1,5,0\n2,6,0\n").unwrap();
        assert_eq!((s.len(), &*s[0].wave, &s[0].flux[..]), (1, &[1.0, 2.0][..], &[5.0f32, 6.0][..]));
        let s = spectra("3 30\n1   10\n2\t20\n").unwrap();
        assert_eq!((&*s[0].wave, &s[0].flux[..]), (&[3.0, 1.0, 2.0][..], &[30.0f32, 10.0, 20.0][..]));
        let s = spectra("loglam,flux\n3,1\n4,2\n").unwrap();
        assert_eq!(&*s[0].wave, &[1000.0, 10000.0]);
        let s = spectra("wave,flux\n1,\n2,nan\n").unwrap();
        assert!(s[0].flux.iter().all(|v| v.is_nan()), "missing values are NaN");
    }

    #[test]
    fn bad_cells_ragged_rows_and_empty_tables_name_the_line() {
        let e = spectra("wave,flux\n1,5\n2,abc\n").unwrap_err();
        assert!(e.text.contains("line 3, flux: 'abc' is not a number"), "{}", e.text);
        let e = spectra("name,6500,6501\na,1.0,oops\n").unwrap_err();
        assert!(e.text.contains("'oops' is not a number"), "{}", e.text);
        assert!(spectra("a,6500,6501\n1,2\n").unwrap_err().text.contains("line 2 has 2 cells, the header has 3"));
        assert!(spectra("wave,flux\n1\n").unwrap_err().text.contains("line 2 has 1 cells, expected at least 2"));
        assert!(spectra("name,6500,6501\n").unwrap_err().text.contains("no rows"));
        assert_eq!(spectra("").unwrap_err().text, "the file is empty");
        assert!(spectra("# only a comment\n").unwrap_err().text.contains("empty"));
    }

    #[test]
    fn time_series_tables_give_a_series_per_numeric_column() {
        let s = spectra("time,iso_time,cnt,mean\n86400,1970-01-02T00:00:00,5,300.5\n0,1970-01-01T00:00:00,4,301\n")
            .unwrap();
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["x.csv: cnt", "x.csv: mean"]);
        assert_eq!((s[1].axis, &*s[1].wave, &s[1].flux[..]), (Axis::Time, &[86400.0, 0.0][..], &[300.5f32, 301.0][..]));
    }

    #[test]
    fn a_line_of_millions_of_columns_is_refused_by_the_budget_before_rows_are_stored() {
        let header: String = (0..2_000_000).map(|i| format!(",{i}")).collect();
        let text = format!("name{header}\n");
        let budget = Budget::new(4 << 20);
        let e = read(text.as_bytes(), "x.csv", &budget).unwrap_err();
        assert_eq!(e.kind, super::super::ErrorKind::TooLarge, "{}", e.text);
        assert!(e.text.contains("the grid needs 15.3 MiB"), "{}", e.text);
    }
}
