//! The driver log: reading its end, and turning it into an error summary a user can act on
//! (the tail of the Python traceback, or the Java exception with its first frames).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// How vocloud's own lines in the driver log begin.
pub const NOTE: &str = "vocloud: ";
/// The end of the log we look at for an error: enough for a long traceback.
const TAIL_BYTES: u64 = 256 * 1024;
/// Lines of a traceback kept in the summary (its end: where the exception is).
const TRACEBACK_LINES: usize = 25;
/// Longest summary, in characters.
const MAX_SUMMARY: usize = 4000;

/// The last [`TAIL_BYTES`] of the file, as text.
pub fn tail(path: &Path) -> String {
    let Ok(mut file) = std::fs::File::open(path) else { return String::new() };
    let length = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(length.saturating_sub(TAIL_BYTES)));
    let mut bytes = Vec::new();
    let _ = file.take(TAIL_BYTES).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// What went wrong, from the end of a driver log: the last Python traceback's tail, else the
/// last Java exception and its first frames, else the last lines.
pub fn error_summary(log: &str) -> String {
    // Lines starting "vocloud: " are our own notes in the log (the command, the exit), not the program's.
    let lines: Vec<&str> = log.lines().filter(|l| !l.starts_with(NOTE)).collect();
    let summary = python_traceback(&lines).or_else(|| java_exception(&lines)).unwrap_or_else(|| last_lines(&lines, 10));
    shorten(summary.trim())
}

fn python_traceback(lines: &[&str]) -> Option<String> {
    let start = lines.iter().rposition(|l| l.trim_start().starts_with("Traceback (most recent call last):"))?;
    let block: Vec<&str> = lines[start..].iter().take_while(|l| !is_log4j(l)).copied().collect();
    let skip = block.len().saturating_sub(TRACEBACK_LINES);
    let mut out = if skip > 0 { vec!["Traceback (most recent call last), last lines:"] } else { Vec::new() };
    out.extend(&block[skip..]);
    Some(out.join("\n"))
}

fn java_exception(lines: &[&str]) -> Option<String> {
    let is_exception = |l: &&str| {
        let l = l.trim_start();
        l.starts_with("Exception in thread") || l.starts_with("Caused by:") || {
            let head = l.split([':', ' ']).next().unwrap_or("");
            head.contains('.') && (head.ends_with("Exception") || head.ends_with("Error"))
        }
    };
    let start = lines.iter().rposition(is_exception)?;
    let frames = lines[start + 1..].iter().take_while(|l| l.trim_start().starts_with("at ")).take(5);
    Some(std::iter::once(lines[start]).chain(frames.copied()).collect::<Vec<_>>().join("\n"))
}

fn last_lines(lines: &[&str], n: usize) -> String {
    let kept: Vec<&str> = lines.iter().filter(|l| !l.trim().is_empty()).copied().collect();
    kept[kept.len().saturating_sub(n)..].join("\n")
}

/// A log4j line as Spark writes them: `26/12/03 23:47:16 INFO …`.
fn is_log4j(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 18 && b[2] == b'/' && b[5] == b'/' && b[8] == b' ' && b[11] == b':' && b[14] == b':'
}

fn shorten(text: &str) -> String {
    let count = text.chars().count();
    if count <= MAX_SUMMARY {
        return text.to_string();
    }
    let tail: String = text.chars().skip(count - MAX_SUMMARY).collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHON_FAILURE: &str = "\
26/12/03 23:47:23 INFO SparkUI: Bound SparkUI to 0.0.0.0
Traceback (most recent call last):
  File \"/st/users/al/bad.py\", line 7, in <module>
    check(rows)
  File \"/st/users/al/bad.py\", line 4, in check
    raise ValueError(\"no spectra with class labels in input\")
ValueError: no spectra with class labels in input
26/12/03 23:47:25 INFO SparkContext: Invoking stop() from shutdown hook
26/12/03 23:47:25 INFO SparkUI: Stopped Spark web UI
";

    #[test]
    fn a_python_failure_gives_its_traceback_without_the_shutdown_noise() {
        let summary = error_summary(PYTHON_FAILURE);
        assert!(summary.starts_with("Traceback (most recent call last):"), "{summary}");
        assert!(summary.ends_with("ValueError: no spectra with class labels in input"), "{summary}");
        assert!(!summary.contains("shutdown hook"));
    }

    #[test]
    fn long_tracebacks_keep_their_end() {
        let mut log = String::from("Traceback (most recent call last):\n");
        for i in 0..100 {
            log.push_str(&format!("  frame {i}\n"));
        }
        log.push_str("KeyError: 'flux'\n");
        let summary = error_summary(&log);
        assert!(summary.contains("last lines") && summary.ends_with("KeyError: 'flux'"));
        assert!(!summary.contains("frame 10\n") && summary.contains("frame 99"));
    }

    #[test]
    fn a_java_failure_gives_the_last_cause_and_its_first_frames() {
        let log = "Exception in thread \"main\" org.apache.spark.SparkException: Job aborted\n\tat a.b(C.java:1)\n\
                   Caused by: java.lang.RuntimeException: failing on request: boom\n\tat Probe.main(Probe.java:12)\n\t... 6 more\n";
        assert_eq!(
            error_summary(log),
            "Caused by: java.lang.RuntimeException: failing on request: boom\n\tat Probe.main(Probe.java:12)"
        );
    }

    #[test]
    fn otherwise_the_last_lines() {
        let log = "vocloud: spark-submit a b\na\n\nb\nError: Unrecognized option: --bogus\nvocloud: exit code 1\n";
        assert_eq!(error_summary(log), "a\nb\nError: Unrecognized option: --bogus");
        assert!(error_summary(&"x".repeat(10_000)).chars().count() <= MAX_SUMMARY + 1);
    }
}
