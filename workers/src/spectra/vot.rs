//! VOTable spectra (`.vot .votable .xml`): the first TABLE, in any serialisation, parsed by
//! [`crate::votable::read_with`] (hostile XML refused there) under the read's memory budget,
//! then taken apart with the same layouts as CSV ([`super::layout`]): wavelength and flux
//! array cells (one spectrum per row, as SSA services and astropy write them), wavelength and
//! flux scalar columns (one spectrum), a time column, two unnamed columns, or wavelength-named
//! columns. Columns are found by name or by UCD (`em.wl`, `phot.flux.density`, `meta.id`).

use std::sync::Arc;

use super::budget::Budget;
use super::error::Problem;
use super::layout::{self, Roles, Wide};
use super::{Axis, Spectrum};
use crate::votable::{self, Limits, Table, Value};

/// The spectra of a VOTable document (names left empty where the table gives none).
pub fn read(bytes: &[u8], file: &str, budget: &Budget) -> Result<Vec<Spectrum>, Problem> {
    let left = budget.limit().saturating_sub(budget.used());
    let limits = Limits { max_memory: usize::try_from(left).unwrap_or(usize::MAX), ..Limits::default() };
    let doc = votable::read_with(bytes, limits).map_err(|e| match e {
        votable::ReadError::Refused(m) if m.contains("memory") || m.contains("cells") => Problem::too_large(m),
        other => Problem::invalid(other.to_string()),
    })?;
    let table = doc.tables.into_iter().next().ok_or("the VOTable holds no TABLE")?;
    if table.rows.is_empty() {
        return Err("the table has no rows".into());
    }
    let columns: Vec<(&str, Option<&str>)> = table.fields.iter().map(|f| (f.name.as_str(), f.ucd.as_deref())).collect();
    let roles = Roles::of(&columns);
    let is_array = |v: &Value| matches!(v, Value::FloatArray(_) | Value::IntArray(_));
    let spectra = match (roles.wave, roles.flux, roles.time) {
        (Some((w, log10)), Some(f), _) if table.rows.iter().any(|r| is_array(&r[f])) => {
            arrays(&table, (w, f, log10), &roles)
        }
        (Some((w, log10)), Some(f), _) => long(&table, (w, f, log10), roles.label),
        (_, None, Some(t)) => time_series(&table, t, file),
        _ if table.fields.len() == 2 => long(&table, (0, 1, false), None),
        _ => wide(&table, &roles),
    }?;
    // The document was parsed within what the budget had left; the spectra it becomes stay.
    budget.reserve(super::held_bytes(&spectra), &"the spectra")?;
    Ok(spectra)
}

/// A cell as a number: null is NaN; text must parse.
fn scalar(v: &Value, row: usize, field: &str) -> Result<f64, Problem> {
    match v {
        Value::Null => Ok(f64::NAN),
        Value::Float(x) => Ok(*x),
        Value::Int(n) => Ok(*n as f64),
        Value::Text(t) => layout::number(t)
            .ok_or_else(|| Problem::invalid(format!("row {}, column {field}: '{t}' is not a number", row + 1))),
        other => {
            Err(Problem::invalid(format!("row {}, column {field}: {} is not one number", row + 1, other.to_text())))
        }
    }
}

/// An array cell as numbers (null: none).
fn items(v: &Value, row: usize, field: &str) -> Result<Vec<f64>, Problem> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::FloatArray(a) => Ok(a.clone()),
        Value::IntArray(a) => Ok(a.iter().map(|&n| n as f64).collect()),
        other => scalar(other, row, field).map(|x| vec![x]),
    }
}

fn text(t: &Table, row: usize, column: Option<usize>) -> Option<String> {
    match column.map(|c| &t.rows[row][c]) {
        Some(Value::Null) | None => None,
        Some(v) => Some(v.to_text().trim().to_string()).filter(|s| !s.is_empty()),
    }
}

fn arrays(t: &Table, (w, f, log10): (usize, usize, bool), roles: &Roles) -> Result<Vec<Spectrum>, Problem> {
    let (wname, fname) = (&t.fields[w].name, &t.fields[f].name);
    let mut last: Option<Arc<[f64]>> = None;
    let mut out = Vec::with_capacity(t.rows.len());
    for (r, row) in t.rows.iter().enumerate() {
        let mut wave = items(&row[w], r, wname)?;
        let flux: Vec<f32> = items(&row[f], r, fname)?.into_iter().map(|v| v as f32).collect();
        if wave.len() != flux.len() {
            return Err(Problem::invalid(format!(
                "row {}: {} wavelengths but {} fluxes",
                r + 1,
                wave.len(),
                flux.len()
            )));
        }
        if log10 {
            layout::unlog(&mut wave);
        }
        // Rows on one grid share it.
        let wave: Arc<[f64]> = match &last {
            Some(g) if **g == *wave => g.clone(),
            _ => Arc::from(wave),
        };
        last = Some(wave.clone());
        out.push(layout::spectrum(text(t, r, roles.name), text(t, r, roles.label), wave, flux, Axis::Wavelength));
    }
    Ok(out)
}

fn long(t: &Table, (w, f, log10): (usize, usize, bool), label: Option<usize>) -> Result<Vec<Spectrum>, Problem> {
    let (wname, fname) = (&t.fields[w].name, &t.fields[f].name);
    let mut wave = Vec::with_capacity(t.rows.len());
    let mut flux = Vec::with_capacity(t.rows.len());
    for (r, row) in t.rows.iter().enumerate() {
        wave.push(scalar(&row[w], r, wname)?);
        flux.push(scalar(&row[f], r, fname)? as f32);
    }
    if log10 {
        layout::unlog(&mut wave);
    }
    Ok(vec![layout::spectrum(None, text(t, 0, label), Arc::from(wave), flux, Axis::Wavelength)])
}

fn time_series(t: &Table, time: usize, file: &str) -> Result<Vec<Spectrum>, Problem> {
    let column =
        |c: usize| t.rows.iter().enumerate().map(|(r, row)| scalar(&row[c], r, "")).collect::<Result<Vec<f64>, _>>();
    let x: Arc<[f64]> = Arc::from(column(time).map_err(|_| "the time column holds no numbers")?);
    let series: Vec<Spectrum> = (0..t.fields.len())
        .filter(|&c| c != time)
        .filter_map(|c| {
            let y = column(c).ok()?;
            let name = format!("{file}: {}", t.fields[c].name);
            Some(layout::spectrum(Some(name), None, x.clone(), y.into_iter().map(|v| v as f32).collect(), Axis::Time))
        })
        .collect();
    if series.is_empty() {
        return Err("a time column but no numeric columns to plot against it".into());
    }
    Ok(series)
}

fn wide(t: &Table, roles: &Roles) -> Result<Vec<Spectrum>, Problem> {
    let names: Vec<&str> = t.fields.iter().map(|f| f.name.as_str()).collect();
    let wide = Wide::from_header(&names, roles)?;
    (0..t.rows.len())
        .map(|r| {
            let flux = wide
                .flux
                .iter()
                .map(|&c| scalar(&t.rows[r][c], r, &t.fields[c].name).map(|v| v as f32))
                .collect::<Result<Vec<f32>, _>>()?;
            Ok(layout::spectrum(
                text(t, r, wide.name),
                text(t, r, wide.label),
                wide.wave.clone(),
                flux,
                Axis::Wavelength,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::votable::{Datatype, Encoding, Field, Version};

    fn written(t: &Table, encoding: Encoding) -> Vec<u8> {
        let mut bytes = Vec::new();
        t.write_as(&mut bytes, Version::V1_4, encoding).unwrap();
        bytes
    }

    #[test]
    fn array_cells_in_every_serialisation_give_one_spectrum_per_row() {
        let mut t = Table::new(
            "s",
            vec![
                Field::new("id", Datatype::Char),
                Field::new("wave", Datatype::Double).array("*"),
                Field::new("flux", Datatype::Float).array("*"),
            ],
        );
        t.push(vec![
            Value::Text("s&1".into()),
            Value::FloatArray(vec![1.0, 2.0, 3.0]),
            Value::FloatArray(vec![4.0, 5.0, 6.0]),
        ]);
        t.push(vec![Value::Null, Value::FloatArray(vec![1.0, 2.0, 3.0]), Value::FloatArray(vec![7.0, f64::NAN, 9.0])]);
        for encoding in [Encoding::TableData, Encoding::Binary, Encoding::Binary2] {
            let s = read(&written(&t, encoding), "x.vot", &Budget::new(1 << 20)).unwrap();
            assert_eq!((s[0].name.as_str(), &s[0].flux[..]), ("s&1", &[4.0f32, 5.0, 6.0][..]), "{encoding:?}");
            assert_eq!(s[1].name, "", "{encoding:?}: no name, the file reader names it");
            assert!(s[1].flux[1].is_nan());
            assert!(Arc::ptr_eq(&s[0].wave, &s[1].wave));
        }
    }

    #[test]
    fn scalar_columns_found_by_ucd_give_one_spectrum() {
        let mut t = Table::new(
            "s",
            vec![
                Field::new("a", Datatype::Double).ucd("em.wl"),
                Field::new("b", Datatype::Double).ucd("phot.flux.density"),
            ],
        );
        t.push(vec![Value::Float(5000.0), Value::Float(1.5)]);
        t.push(vec![Value::Float(5001.0), Value::Null]);
        let s = read(&written(&t, Encoding::Binary2), "x.vot", &Budget::new(1 << 20)).unwrap();
        assert_eq!((&*s[0].wave, s[0].flux[0]), (&[5000.0, 5001.0][..], 1.5));
        assert!(s[0].flux[1].is_nan());
    }

    #[test]
    fn a_table_over_the_budget_is_refused_as_too_large() {
        let mut t = Table::new("s", vec![Field::new("wave", Datatype::Double), Field::new("flux", Datatype::Double)]);
        for i in 0..10_000 {
            t.push(vec![Value::Float(i as f64), Value::Float(1.0)]);
        }
        let e = read(&written(&t, Encoding::Binary2), "x.vot", &Budget::new(100_000)).unwrap_err();
        assert_eq!(e.kind, super::super::ErrorKind::TooLarge, "{}", e.text);
    }
}
