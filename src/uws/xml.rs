//! The UWS XML documents (UWS 2.2.2): job list, job, results, parameters.
//!
//! Written directly as text: the documents are small and fixed by the schema, and this keeps the
//! element order exactly the schema's. Namespaces are declared on the root element (uws-client
//! only inspects the root), empty instants are `xsi:nil`, and `version="1.1"` is always set.
//! `tests/api/uws_xml.rs` validates every document against the UWS 1.1 XSD.

use std::fmt::Write;

use quick_xml::escape::escape;

use super::time::format_ms;
use crate::jobs::service::ResultView;
use crate::jobs::{JobRef, JobView, ShownParameter};

const HEADER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
const NAMESPACES: &str = r#"xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#;
/// Our own elements inside `jobInfo` (the schema allows any content there).
const VOCLOUD_NS: &str = "urn:vocloud";

/// `<uws:jobs>`: one `jobref` per job; `list_url` is the job list's absolute URL.
pub fn job_list(list_url: &str, jobs: &[JobRef]) -> String {
    let mut out = String::with_capacity(128 + jobs.len() * 256);
    let _ = write!(out, "{HEADER}\n<uws:jobs {NAMESPACES} version=\"1.1\">\n");
    for job in jobs {
        let _ = write!(
            out,
            "  <uws:jobref id=\"{id}\" xlink:type=\"simple\" xlink:href=\"{list}/{id}\">\
             <uws:phase>{phase}</uws:phase>",
            id = escape(&job.id),
            list = escape(list_url),
            phase = job.phase,
        );
        if let Some(run_id) = &job.run_id {
            let _ = write!(out, "<uws:runId>{}</uws:runId>", escape(run_id));
        }
        let _ = writeln!(
            out,
            "<uws:ownerId>{}</uws:ownerId><uws:creationTime>{}</uws:creationTime></uws:jobref>",
            escape(&job.owner_name),
            format_ms(job.creation_time)
        );
    }
    out.push_str("</uws:jobs>\n");
    out
}

fn instant(out: &mut String, element: &str, value: Option<i64>) {
    match value {
        Some(ms) => {
            let _ = writeln!(out, "  <uws:{element}>{}</uws:{element}>", format_ms(ms));
        }
        None => {
            let _ = writeln!(out, "  <uws:{element} xsi:nil=\"true\"/>");
        }
    }
}

/// `<uws:job>`: the whole job summary; `job_url` is the job's absolute URL.
pub fn job(job_url: &str, view: &JobView, results: &[ResultView]) -> String {
    let row = &view.row;
    let mut out = String::with_capacity(2048);
    let _ = write!(out, "{HEADER}\n<uws:job {NAMESPACES} xmlns:vocloud=\"{VOCLOUD_NS}\" version=\"1.1\">\n");
    let _ = writeln!(out, "  <uws:jobId>{}</uws:jobId>", escape(&row.id));
    if let Some(run_id) = &row.run_id {
        let _ = writeln!(out, "  <uws:runId>{}</uws:runId>", escape(run_id));
    }
    let _ = writeln!(out, "  <uws:ownerId>{}</uws:ownerId>", escape(&row.owner_name));
    let _ = writeln!(out, "  <uws:phase>{}</uws:phase>", view.phase);
    instant(&mut out, "quote", None);
    instant(&mut out, "creationTime", Some(row.creation_time));
    instant(&mut out, "startTime", row.start_time);
    instant(&mut out, "endTime", row.end_time);
    let _ = writeln!(out, "  <uws:executionDuration>{}</uws:executionDuration>", row.execution_duration);
    instant(&mut out, "destruction", row.destruction_time);
    out.push_str(&parameters_body(&view.shown_parameters(), "  "));
    out.push_str(&results_body(job_url, results, "  "));
    if let (Some(kind), Some(message)) = (&row.error_type, &row.error_message) {
        let _ = writeln!(
            out,
            "  <uws:errorSummary type=\"{kind}\" hasDetail=\"{}\"><uws:message>{}</uws:message></uws:errorSummary>",
            row.error_detail.is_some(),
            escape(message)
        );
    }
    out.push_str(&job_info(view));
    out.push_str("</uws:job>\n");
    out
}

fn job_info(view: &JobView) -> String {
    let row = &view.row;
    let mut out = String::from("  <uws:jobInfo>\n");
    let _ = writeln!(out, "    <vocloud:kind>{}</vocloud:kind>", escape(&row.kind));
    if let Some(experiment) = &row.experiment {
        let _ = writeln!(out, "    <vocloud:experiment>{}</vocloud:experiment>", escape(experiment));
    }
    if !row.label.is_empty() {
        let _ = writeln!(out, "    <vocloud:label>{}</vocloud:label>", escape(&row.label));
    }
    if !row.notes.is_empty() {
        let _ = writeln!(out, "    <vocloud:notes>{}</vocloud:notes>", escape(&row.notes));
    }
    if let (Some(fraction), Some(message)) = (row.progress_fraction, &row.progress_message) {
        let _ =
            writeln!(out, "    <vocloud:progress fraction=\"{fraction:.4}\">{}</vocloud:progress>", escape(message));
    }
    let _ = writeln!(out, "    <vocloud:attempt>{}</vocloud:attempt>", row.attempt);
    out.push_str("  </uws:jobInfo>\n");
    out
}

/// Posted values exactly as sent; defaults marked `isPost="false"` (the client did not post them).
fn parameters_body(parameters: &[ShownParameter], indent: &str) -> String {
    let mut out = format!("{indent}<uws:parameters>\n");
    for p in parameters {
        let default = if p.is_post { "" } else { " isPost=\"false\"" };
        let _ = writeln!(
            out,
            "{indent}  <uws:parameter id=\"{}\"{default}>{}</uws:parameter>",
            escape(&p.name),
            escape(&p.value)
        );
    }
    let _ = writeln!(out, "{indent}</uws:parameters>");
    out
}

fn results_body(job_url: &str, results: &[ResultView], indent: &str) -> String {
    let mut out = format!("{indent}<uws:results>\n");
    for r in results {
        let _ = writeln!(
            out,
            "{indent}  <uws:result id=\"{name}\" xlink:type=\"simple\" xlink:href=\"{url}/results/{href}\" size=\"{size}\" mime-type=\"{mime}\"/>",
            name = escape(&r.name),
            href = escape(crate::respond::encode_segment(&r.name)),
            url = escape(job_url),
            size = r.size,
            mime = escape(&r.mime_type),
        );
    }
    let _ = writeln!(out, "{indent}</uws:results>");
    out
}

/// `<uws:results>` as a document of its own (`/{job}/results`).
pub fn results(job_url: &str, results: &[ResultView]) -> String {
    let body = results_body(job_url, results, "");
    format!("{HEADER}\n{}", body.replacen("<uws:results>", &format!("<uws:results {NAMESPACES}>"), 1))
}

/// `<uws:parameters>` as a document of its own (`/{job}/parameters`).
pub fn parameters(view: &JobView) -> String {
    let body = parameters_body(&view.shown_parameters(), "");
    format!("{HEADER}\n{}", body.replacen("<uws:parameters>", &format!("<uws:parameters {NAMESPACES}>"), 1))
}
