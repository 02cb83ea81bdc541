//! Time series results: `timeseries.json` (SDAP's layout and field names), `timeseries.csv` and
//! `timeseries.vot`, all with the same rows, and `timeseries.png`, the plot of the mean.
//!
//! Fields: `time` (epoch s), `iso_time`, `cnt`, `min`, `max`, `mean` (cos-latitude weighted,
//! SDAP's time series `mean`), `std`, plus `mean_plain` (unweighted) and `mean_coslat` (= `mean`,
//! kept for scripts written before the DDA's `mean` became weighted too). The contract is the
//! same for the time series and the DDA (SDAP's own DDA `mean` is plain: that is `mean_plain`).

use serde_json::{Value, json};

use super::select::BBox;
use super::stats::Partial;
use super::time::iso_utc;
use crate::votable::{Datatype, Field, Table, Value as Cell};
use crate::{Failure, JobContext, ResultFile};

/// One time step's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub time: i64,
    pub iso_time: String,
    pub stats: Partial,
    /// Optional derived fields (the seasonal variants), the same names on every row.
    pub extra: Vec<(&'static str, f64)>,
}

/// What the shaded band of `timeseries.png` shows around the mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Band {
    MinMax,
    /// mean ± std (for differences, whose extremes dwarf the mean).
    Std,
}

pub struct Series<'a> {
    pub dataset: &'a str,
    pub variable: &'a str,
    pub units: Option<&'a str>,
    pub bbox: BBox,
    pub start: i64,
    pub end: i64,
    pub band: Band,
    pub extra_meta: Vec<(&'static str, Value)>,
}

impl Series<'_> {
    pub fn json(&self, rows: &[Row]) -> Value {
        let data: Vec<Value> = rows
            .iter()
            .map(|r| {
                let p = &r.stats;
                let mut entry = json!({
                    "min": p.min, "max": p.max, "mean": p.mean_coslat(), "mean_plain": p.mean_plain(),
                    "mean_coslat": p.mean_coslat(), "cnt": p.cnt, "std": p.std(),
                    "time": r.time, "iso_time": r.iso_time, "ds": 0
                });
                for (name, value) in &r.extra {
                    entry[*name] = json!(value);
                }
                json!([entry])
            })
            .collect();
        let (start, end) =
            (self.start.max(rows.first().map_or(0, |r| r.time)), self.end.min(rows.last().map_or(0, |r| r.time)));
        let mut meta = json!({
            "shortName": self.dataset,
            "variable": self.variable,
            "units": self.units,
            "bounds": {"west": self.bbox.west, "south": self.bbox.south, "east": self.bbox.east, "north": self.bbox.north},
            "time": {"start": start, "stop": end, "iso_start": iso_utc(start), "iso_stop": iso_utc(end)},
        });
        for (k, v) in &self.extra_meta {
            meta[*k] = v.clone();
        }
        json!({ "meta": [meta], "data": data, "stats": {} })
    }

    pub fn csv(&self, rows: &[Row]) -> String {
        let mut out = String::from("time,iso_time,cnt,min,max,mean,mean_plain,mean_coslat,std");
        for (name, _) in rows.first().map_or(&[][..], |r| &r.extra[..]) {
            out.push(',');
            out.push_str(name);
        }
        out.push('\n');
        for r in rows {
            let p = &r.stats;
            out.push_str(&format!(
                "{},{},{},{:?},{:?},{:?},{:?},{:?},{:?}",
                r.time,
                r.iso_time,
                p.cnt,
                p.min,
                p.max,
                p.mean_coslat(),
                p.mean_plain(),
                p.mean_coslat(),
                p.std()
            ));
            for (_, value) in &r.extra {
                out.push_str(&format!(",{value:?}"));
            }
            out.push('\n');
        }
        out
    }

    pub fn votable(&self, rows: &[Row]) -> Vec<u8> {
        let unit = self.units.unwrap_or("");
        let value = |name: &str, desc: &str| Field::new(name, Datatype::Double).unit(unit).describe(desc);
        let mut fields = vec![
            Field::new("time", Datatype::Long)
                .unit("s")
                .ucd("time.epoch")
                .describe("seconds since 1970-01-01T00:00:00Z"),
            Field::new("iso_time", Datatype::Char).describe("time step, ISO 8601"),
            Field::new("cnt", Datatype::Long).ucd("meta.number").describe("number of valid pixels"),
            value("min", "minimum"),
            value("max", "maximum"),
            value("mean", "cos(latitude)-weighted mean (SDAP time series mean)"),
            value("mean_plain", "unweighted mean"),
            value("mean_coslat", "cos(latitude)-weighted mean"),
            value("std", "population standard deviation about the unweighted mean"),
        ];
        for (name, _) in rows.first().map_or(&[][..], |r| &r.extra[..]) {
            fields.push(value(name, "minus the same statistic of the climatology's month (SDAP seasonal filter)"));
        }
        let mut table = Table::new("timeseries", fields);
        table.description = Some(format!("{} over {} in bbox {:?}", self.variable, self.dataset, self.bbox));
        table.infos.push(("dataset".into(), self.dataset.into()));
        table.infos.push(("variable".into(), self.variable.into()));
        for r in rows {
            let p = &r.stats;
            let mut cells = vec![
                Cell::Int(r.time),
                Cell::Text(r.iso_time.clone()),
                Cell::Int(p.cnt as i64),
                Cell::Float(p.min),
                Cell::Float(p.max),
                Cell::Float(p.mean_coslat()),
                Cell::Float(p.mean_plain()),
                Cell::Float(p.mean_coslat()),
                Cell::Float(p.std()),
            ];
            cells.extend(r.extra.iter().map(|(_, v)| Cell::Float(*v)));
            table.push(cells);
        }
        table.to_bytes()
    }

    /// The plot of `mean` (cos-latitude weighted) over its band.
    pub fn png(&self, rows: &[Row]) -> Result<Vec<u8>, String> {
        let time: Vec<i64> = rows.iter().map(|r| r.time).collect();
        let mean: Vec<f64> = rows.iter().map(|r| r.stats.mean_coslat()).collect();
        let (band, band_label): (Vec<(f64, f64)>, &str) = match self.band {
            Band::MinMax => (rows.iter().map(|r| (r.stats.min, r.stats.max)).collect(), "min .. max"),
            Band::Std => (
                rows.iter()
                    .map(|r| (r.stats.mean_coslat() - r.stats.std(), r.stats.mean_coslat() + r.stats.std()))
                    .collect(),
                "mean ± std",
            ),
        };
        let units = self.units.map(|u| format!(" ({u})")).unwrap_or_default();
        super::render::series_png(&super::render::SeriesPlot {
            time: &time,
            mean: &mean,
            band: &band,
            title: format!("{} over {}, bbox {}", self.variable, self.dataset, self.bbox_text()),
            y_label: format!("{}{units}", self.variable),
            mean_label: "mean (cos-latitude weighted)",
            band_label,
        })
    }

    fn bbox_text(&self) -> String {
        let b = &self.bbox;
        format!("{},{},{},{}", b.west, b.south, b.east, b.north)
    }

    /// Writes the four files and returns them as results.
    pub fn write(&self, ctx: &JobContext, rows: &[Row]) -> Result<Vec<ResultFile>, Failure> {
        let json = serde_json::to_vec_pretty(&self.json(rows)).map_err(|e| Failure::fatal("timeseries.json", e))?;
        ctx.write_result("timeseries.json", &json)?;
        ctx.write_result("timeseries.csv", self.csv(rows).as_bytes())?;
        ctx.write_result("timeseries.vot", &self.votable(rows))?;
        ctx.write_result("timeseries.png", &self.png(rows).map_err(Failure::Fatal)?)?;
        Ok(vec![
            ResultFile { name: "timeseries.json".into(), mime_type: "application/json".into() },
            ResultFile { name: "timeseries.csv".into(), mime_type: "text/csv".into() },
            ResultFile { name: "timeseries.vot".into(), mime_type: "application/x-votable+xml".into() },
            ResultFile { name: "timeseries.png".into(), mime_type: "image/png".into() },
        ])
    }
}
