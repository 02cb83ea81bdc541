//! A table listing spectra, one row each, read for one numeric column: `preprocess`'s radial
//! velocities from a catalogue (`velocity=catalog.csv#vrad`, docs/kinds/ml.md). The table is a
//! VOTable (`.vot .votable .xml`, first TABLE, any serialisation, parsed by
//! [`crate::votable::read_with`]) or delimited text with a header line (`.csv .tsv .txt .dat`:
//! comma, semicolon, tab or blanks, as the spectra reader sniffs them). Rows are keyed by the
//! table's name column, found as the spectra reader finds one (`name`, `id`, `file`, `object`,
//! `objname`, `obj_id`, `target`, UCD `meta.id`), so a catalogue can list a folder's files by
//! file name or a wide table's spectra by name.
//!
//! Hostile input: the file's size is checked against the budget before it is read, the
//! VOTable is parsed under the same limit, and every refusal names the file and what was wrong
//! (an unknown column lists the columns there are).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use super::budget::human;
use super::error::{Problem, ReadError};
use super::layout::{Roles, number};
use crate::votable::{self, Limits, Value};

/// One numeric column of a catalogue, keyed by the name column.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    /// The name column's name, for messages.
    pub name_column: String,
    /// The value column's name as the table spells it.
    pub column: String,
    /// Name → value; `None` for an empty or null cell.
    values: HashMap<String, Option<f64>>,
}

impl Catalog {
    /// The row named `name`: `None` when there is none, `Some(None)` when its cell is empty.
    pub fn get(&self, name: &str) -> Option<Option<f64>> {
        self.values.get(name).copied()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Column `column` of the catalogue at `path` (`shown` in messages), keyed by its name column;
/// the file may take at most `budget` bytes.
///
/// # Errors
/// Invalid: not a table, no such column (the message lists the columns), no name column, a
/// cell that is not a number, a name listed twice; TooLarge: over the budget; NotFound/Io.
pub fn read_column(path: &Path, shown: &str, column: &str, budget: u64) -> Result<Catalog, ReadError> {
    let size = std::fs::metadata(path).map_err(|e| ReadError::io(shown, &e))?.len();
    if size > budget {
        return Err(ReadError::too_large(
            shown,
            format!("the catalogue takes {} but the read's memory budget is {}", human(size), human(budget)),
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| ReadError::io(shown, &e))?;
    let lower = shown.to_ascii_lowercase();
    let table = if [".vot", ".votable", ".xml"].iter().any(|e| lower.ends_with(e)) {
        votable_columns(&bytes, budget)
    } else {
        delimited_columns(&bytes)
    };
    pick(table.map_err(|p| p.at(shown))?, column).map_err(|p| p.at(shown))
}

/// A table as column names (with UCDs) and rows of cells (text, or a number already parsed).
struct Columns {
    names: Vec<(String, Option<String>)>,
    rows: Vec<Vec<Cell>>,
}

enum Cell {
    Text(String),
    Number(Option<f64>),
}

fn votable_columns(bytes: &[u8], budget: u64) -> Result<Columns, Problem> {
    let max = usize::try_from(budget).unwrap_or(usize::MAX);
    let limits = Limits { max_memory: max, max_bytes: max, ..Limits::default() };
    let doc = votable::read_with(bytes, limits).map_err(|e| Problem::invalid(e.to_string()))?;
    let table = doc.tables.into_iter().next().ok_or("the VOTable holds no TABLE")?;
    let names = table.fields.iter().map(|f| (f.name.clone(), f.ucd.clone())).collect();
    let cell = |v: Value| match v {
        Value::Null => Cell::Number(None),
        Value::Int(i) => Cell::Number(Some(i as f64)),
        Value::Float(f) => Cell::Number(Some(f).filter(|f| !f.is_nan())),
        Value::Text(t) => Cell::Text(t),
        other => Cell::Text(other.to_text()),
    };
    let rows = table.rows.into_iter().map(|r| r.into_iter().map(cell).collect()).collect();
    Ok(Columns { names, rows })
}

fn delimited_columns(bytes: &[u8]) -> Result<Columns, Problem> {
    let text = std::str::from_utf8(bytes).map_err(|_| Problem::invalid("not UTF-8 text"))?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'));
    let header = lines.next().ok_or("the file is empty")?;
    let separator = [',', ';', '\t'].into_iter().find(|&c| header.contains(c));
    let split = |line: &str| -> Vec<String> {
        let cells: Vec<&str> = match separator {
            Some(c) => line.split(c).collect(),
            None => line.split_whitespace().collect(),
        };
        cells.into_iter().map(|c| c.trim().trim_matches('"').trim().to_string()).collect()
    };
    let names: Vec<(String, Option<String>)> = split(header).into_iter().map(|n| (n, None)).collect();
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let cells = split(line);
        if cells.len() != names.len() {
            return Err(Problem::invalid(format!(
                "data row {} has {} cells but the header names {} columns",
                i + 1,
                cells.len(),
                names.len()
            )));
        }
        rows.push(cells.into_iter().map(Cell::Text).collect());
    }
    Ok(Columns { names, rows })
}

/// The catalogue of `column`, keyed by the name column.
fn pick(table: Columns, column: &str) -> Result<Catalog, Problem> {
    let listed = || table.names.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
    // The exact spelling first, then a unique case-insensitive match (CSV headers vary).
    let exact = table.names.iter().position(|(n, _)| n == column);
    let loose: Vec<usize> = (0..table.names.len()).filter(|&i| table.names[i].0.eq_ignore_ascii_case(column)).collect();
    let Some(value) = exact.or(if loose.len() == 1 { Some(loose[0]) } else { None }) else {
        return Err(Problem::invalid(format!("no column '{column}' (the columns are: {})", listed())));
    };
    let refs: Vec<(&str, Option<&str>)> = table.names.iter().map(|(n, u)| (n.as_str(), u.as_deref())).collect();
    let Some(name) = Roles::of(&refs).name.filter(|&n| n != value) else {
        return Err(Problem::invalid(format!(
            "no column naming the spectra (name, id, file, object, objname, obj_id, target, or UCD meta.id; \
             the columns are: {})",
            listed()
        )));
    };
    let mut values = HashMap::with_capacity(table.rows.len());
    let mut first_row = HashMap::new();
    for (r, row) in table.rows.into_iter().enumerate() {
        let key = match &row[name] {
            Cell::Text(t) => t.trim().to_string(),
            Cell::Number(n) => n.map(|n| n.to_string()).unwrap_or_default(),
        };
        let v =
            match &row[value] {
                Cell::Number(n) => *n,
                Cell::Text(t) => Some(number(t).ok_or_else(|| {
                    Problem::invalid(format!("row {}: '{t}' in column {column} is not a number", r + 1))
                })?),
            };
        if key.is_empty() {
            continue;
        }
        if let Some(before) = first_row.insert(key.clone(), r + 1) {
            return Err(Problem::invalid(format!("'{key}' is listed twice (rows {before} and {})", r + 1)));
        }
        values.insert(key, v.filter(|v| !v.is_nan()));
    }
    Ok(Catalog { name_column: table.names[name].0.clone(), column: table.names[value].0.clone(), values })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(name: &str, text: &str, column: &str) -> Result<Catalog, ReadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        read_column(&path, &format!("in/{name}"), column, 1 << 20)
    }

    #[test]
    fn a_csv_or_votable_catalogue_gives_a_column_by_name() {
        let c = catalog("v.csv", "# velocities\nfile,vrad\na.fits,12.5\nb.fits,\n", "vrad").unwrap();
        assert_eq!((c.get("a.fits"), c.get("b.fits"), c.get("c.fits")), (Some(Some(12.5)), Some(None), None));
        assert_eq!((c.name_column.as_str(), c.column.as_str()), ("file", "vrad"));
        let vot = r#"<VOTABLE version="1.4"><RESOURCE><TABLE>
            <FIELD name="obj" datatype="char" arraysize="*" ucd="meta.id"/>
            <FIELD name="RV" datatype="double"/>
            <DATA><TABLEDATA><TR><TD>s1</TD><TD>-30</TD></TR><TR><TD>s2</TD><TD/></TR></TABLEDATA></DATA>
            </TABLE></RESOURCE></VOTABLE>"#;
        let c = catalog("v.vot", vot, "rv").unwrap();
        assert_eq!((c.get("s1"), c.get("s2"), c.len()), (Some(Some(-30.0)), Some(None), 2));
    }

    #[test]
    fn unknown_columns_text_cells_and_repeated_names_are_refused_naming_the_file() {
        let e = catalog("v.csv", "name,vrad\na,1\n", "velocity").unwrap_err();
        assert_eq!(e.to_string(), "in/v.csv: no column 'velocity' (the columns are: name, vrad)");
        let e = catalog("v.csv", "star,vrad\na,1\n", "vrad").unwrap_err();
        assert!(e.to_string().starts_with("in/v.csv: no column naming the spectra"), "{e}");
        let e = catalog("v.csv", "name,vrad\na,fast\n", "vrad").unwrap_err();
        assert_eq!(e.to_string(), "in/v.csv: row 1: 'fast' in column vrad is not a number");
        let e = catalog("v.csv", "name,vrad\na,1\na,2\n", "vrad").unwrap_err();
        assert_eq!(e.to_string(), "in/v.csv: 'a' is listed twice (rows 1 and 2)");
        let e = catalog("v.csv", "name,vrad\na,1,3\n", "vrad").unwrap_err();
        assert!(e.to_string().contains("data row 1 has 3 cells"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big.csv"), "name,v\n".repeat(100)).unwrap();
        let e = read_column(&dir.path().join("big.csv"), "big.csv", "v", 10).unwrap_err();
        assert_eq!(e.kind, super::super::ErrorKind::TooLarge);
    }
}
