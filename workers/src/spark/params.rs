//! The `spark` kind's parameters and their checks at job creation.
//!
//! Lists travel as JSON text in one form field each (`args=["--bins","100"]`,
//! `conf={"spark.sql.shuffle.partitions":"8"}`): UWS posts strings, a repeated field is an
//! error, and a JSON list keeps every argument exactly as written — it never meets a shell.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ParamError, ParamSpec, ParamType};

/// The `--conf` keys a job may set: tuning knobs that cannot change where or as whom the
/// program runs, what it loads, or what it may use (those are the operator's: master, memory,
/// class paths, Java options, environment, UI and security settings).
pub const BUILTIN_CONF: &[&str] = &[
    "spark.sql.shuffle.partitions",
    "spark.default.parallelism",
    "spark.sql.adaptive.enabled",
    "spark.sql.adaptive.coalescePartitions.enabled",
    "spark.sql.adaptive.skewJoin.enabled",
    "spark.sql.autoBroadcastJoinThreshold",
    "spark.sql.files.maxPartitionBytes",
    "spark.sql.session.timeZone",
    "spark.sql.caseSensitive",
    "spark.sql.execution.arrow.pyspark.enabled",
    "spark.task.maxFailures",
    "spark.speculation",
    "spark.locality.wait",
    "spark.python.worker.reuse",
];

/// Stands for the results folder in `args`.
pub const RESULTS_ARG: &str = "{results}";
/// Stands for the input paths (one argument each) in `args`.
pub const INPUTS_ARG: &str = "{inputs}";

const MAX_ARGS: usize = 256;
const MAX_INPUTS: usize = 256;
const MAX_CONF: usize = 32;
const MAX_CONF_VALUE: usize = 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SparkParams {
    /// The program: a `.py` or `.jar` in the owner's storage.
    pub program: String,
    /// The main class of a jar.
    pub main_class: Option<String>,
    /// JSON list of arguments; absent means `["{results}", "{inputs}"]`.
    pub args: Option<String>,
    /// JSON list of paths in the owner's storage (or one path as it is).
    pub inputs: Option<String>,
    pub executors: Option<u32>,
    pub cores: Option<u32>,
    pub memory_mb: Option<u32>,
    /// JSON object of `--conf` keys (from [`BUILTIN_CONF`]) and values.
    pub conf: Option<String>,
}

pub fn specs() -> Vec<ParamSpec> {
    let text = |max_len| ParamType::Text { max_len };
    vec![
        ParamSpec::new("program", ParamType::Path, "the program: a .py or .jar file in your storage").required(),
        ParamSpec::new("main_class", text(255), "the main class of a .jar program (e.g. org.example.Main)"),
        ParamSpec::new(
            "args",
            text(64 * 1024),
            "the program's arguments as a JSON list of strings; \"{results}\" stands for the results folder and \
             \"{inputs}\" for the input paths (default [\"{results}\", \"{inputs}\"])",
        ),
        ParamSpec::new(
            "inputs",
            text(64 * 1024),
            "paths in your storage the program reads: a JSON list, or one path (the program gets them as \
             arguments and in VOCLOUD_INPUTS)",
        ),
        ParamSpec::new(
            "executors",
            ParamType::Integer { min: Some(1), max: Some(10_000) },
            "executors to ask for (clamped to the operator's limit)",
        ),
        ParamSpec::new(
            "cores",
            ParamType::Integer { min: Some(1), max: Some(1024) },
            "cores per executor; in local mode the driver's threads (clamped to the operator's limit)",
        ),
        ParamSpec::new(
            "memory_mb",
            ParamType::Integer { min: Some(256), max: Some(1 << 20) },
            "memory per executor in MiB; in local mode the driver's (clamped to the operator's limit)",
        ),
        ParamSpec::new(
            "conf",
            text(16 * 1024),
            "Spark settings as a JSON object, only keys from the allow-list (see the kind's manual)",
        ),
    ]
}

/// Whether the program is a jar (else Python).
pub fn is_jar(program: &str) -> bool {
    program.to_ascii_lowercase().ends_with(".jar")
}

impl SparkParams {
    /// Checks across parameters: program type and main class, and the three JSON values.
    pub fn check(&self) -> Result<(), ParamError> {
        let lower = self.program.to_ascii_lowercase();
        if !(lower.ends_with(".py") || lower.ends_with(".jar")) {
            return Err(ParamError::invalid("program", "expected a .py or .jar file"));
        }
        match (is_jar(&self.program), &self.main_class) {
            (true, None) => return Err(ParamError::invalid("main_class", "a .jar program needs its main class")),
            (false, Some(_)) => return Err(ParamError::invalid("main_class", "only .jar programs take a main class")),
            (true, Some(class)) => check_class_name(class)?,
            (false, None) => {}
        }
        self.args()?;
        self.input_paths()?;
        self.conf()?;
        Ok(())
    }

    /// The arguments as given (placeholders not yet replaced).
    pub fn args(&self) -> Result<Vec<String>, ParamError> {
        let Some(text) = &self.args else {
            return Ok(vec![RESULTS_ARG.into(), INPUTS_ARG.into()]);
        };
        let args = string_list("args", text)?;
        if args.len() > MAX_ARGS {
            return Err(ParamError::invalid("args", format!("at most {MAX_ARGS} arguments, got {}", args.len())));
        }
        if args.iter().any(|a| a.contains('\0')) {
            return Err(ParamError::invalid("args", "an argument contains a NUL character"));
        }
        Ok(args)
    }

    /// The input paths, relative to the owner's storage, each checked for its form.
    pub fn input_paths(&self) -> Result<Vec<String>, ParamError> {
        let Some(text) = self.inputs.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Vec::new());
        };
        let paths = if text.starts_with('[') { string_list("inputs", text)? } else { vec![text.to_string()] };
        if paths.len() > MAX_INPUTS {
            return Err(ParamError::invalid("inputs", format!("at most {MAX_INPUTS} paths, got {}", paths.len())));
        }
        paths.iter().map(|p| relative_path(p).map_err(|why| ParamError::invalid("inputs", why))).collect()
    }

    /// The `--conf` pairs, keys checked against [`BUILTIN_CONF`].
    pub fn conf(&self) -> Result<Vec<(String, String)>, ParamError> {
        let Some(text) = self.conf.as_deref().map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Vec::new());
        };
        let bad = |why: String| ParamError::invalid("conf", why);
        let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
            return Err(bad(r#"expected a JSON object such as {"spark.sql.shuffle.partitions": "8"}"#.into()));
        };
        if object.len() > MAX_CONF {
            return Err(bad(format!("at most {MAX_CONF} settings, got {}", object.len())));
        }
        let mut pairs = Vec::new();
        for (key, value) in object {
            if !BUILTIN_CONF.contains(&key.as_str()) {
                let key: String = key.chars().take(100).collect();
                return Err(bad(format!("'{key}' may not be set by jobs; allowed: {}", BUILTIN_CONF.join(", "))));
            }
            let value = match value {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(bad(format!("'{key}': expected a string, number or boolean value"))),
            };
            if value.len() > MAX_CONF_VALUE || value.chars().any(char::is_control) {
                return Err(bad(format!("'{key}': at most {MAX_CONF_VALUE} bytes without control characters")));
            }
            pairs.push((key, value));
        }
        Ok(pairs)
    }
}

fn string_list(name: &str, text: &str) -> Result<Vec<String>, ParamError> {
    serde_json::from_str::<Vec<String>>(text).map_err(|_| {
        ParamError::invalid(
            name,
            r#"expected a JSON list of strings such as ["--bins", "100"]; a list is passed as it is, never through a shell"#,
        )
    })
}

/// A Java binary class name: dot-separated identifiers.
fn check_class_name(class: &str) -> Result<(), ParamError> {
    let identifier = |part: &str| {
        part.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    if class.split('.').all(identifier) {
        Ok(())
    } else {
        Err(ParamError::invalid("main_class", format!("'{class}' is not a Java class name (e.g. org.example.Main)")))
    }
}

/// The form rules of a path in a user's storage (as the files API has them): no `.` or `..`,
/// no hidden names, no control characters or backslashes. Like every path parameter it is
/// relative to the user's folder, a leading `/` included. Returns it without slashes at either end.
pub fn relative_path(text: &str) -> Result<String, String> {
    let shown: String = text.chars().take(200).collect();
    if text.len() > 4096 {
        return Err(format!("'{shown}…' is longer than 4096 bytes"));
    }
    let parts: Vec<&str> = text.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Err("an empty path; name a file or folder in your storage".into());
    }
    for part in &parts {
        if part.starts_with('.') {
            return Err(format!("'{shown}': '.', '..' and names starting with '.' are not allowed"));
        }
        if part.chars().any(|c| c == '\\' || c.is_control()) {
            return Err(format!("'{shown}': names may not contain control characters or backslashes"));
        }
    }
    Ok(parts.join("/"))
}

/// `relative` inside `user_dir`, existing, and still inside once symlinks are resolved.
pub fn resolve_in(user_dir: &Path, relative: &str) -> Result<PathBuf, String> {
    let relative = relative_path(relative)?;
    let root = user_dir.canonicalize().map_err(|_| format!("'{relative}' does not exist in your storage"))?;
    let real =
        user_dir.join(&relative).canonicalize().map_err(|_| format!("'{relative}' does not exist in your storage"))?;
    if !real.starts_with(&root) {
        return Err(format!("'{relative}' leads out of your storage"));
    }
    Ok(real)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(program: &str) -> SparkParams {
        SparkParams {
            program: program.into(),
            main_class: None,
            args: None,
            inputs: None,
            executors: None,
            cores: None,
            memory_mb: None,
            conf: None,
        }
    }

    #[test]
    fn lists_keep_every_character_and_default_to_results_then_inputs() {
        let mut p = params("a.py");
        assert_eq!(p.args().unwrap(), vec!["{results}", "{inputs}"]);
        p.args = Some(r#"["a b", "$(touch x); `y` | z", "--n=1"]"#.into());
        assert_eq!(p.args().unwrap(), vec!["a b", "$(touch x); `y` | z", "--n=1"]);
        p.inputs = Some("spectra/".into());
        assert_eq!(p.input_paths().unwrap(), vec!["spectra"]);
        p.inputs = Some(r#"["a.nc", "/dir//b.nc"]"#.into());
        assert_eq!(p.input_paths().unwrap(), vec!["a.nc", "dir/b.nc"], "paths are relative to the user's folder");
        p.conf = Some(r#"{"spark.sql.shuffle.partitions": 8, "spark.speculation": true}"#.into());
        assert_eq!(p.conf().unwrap().len(), 2);
        assert!(p.check().is_ok());
    }

    #[test]
    fn hostile_values_are_refused_with_the_parameter_named() {
        type Case = (Box<dyn Fn(&mut SparkParams)>, &'static str);
        let cases: Vec<Case> = vec![
            (Box::new(|p| p.args = Some("--in data; rm -rf ~".into())), "parameter 'args': expected a JSON list"),
            (Box::new(|p| p.args = Some(r#"["a", 1]"#.into())), "parameter 'args'"),
            (Box::new(|p| p.args = Some(r#"["a\u0000b"]"#.into())), "NUL"),
            (Box::new(|p| p.inputs = Some("../bob/secret".into())), "parameter 'inputs'"),
            (Box::new(|p| p.inputs = Some(r#"["ok", "a/../../b"]"#.into())), "'..'"),
            (Box::new(|p| p.inputs = Some(r#"[".ssh/id_rsa"]"#.into())), "starting with '.'"),
            (
                Box::new(|p| p.conf = Some(r#"{"spark.driver.extraJavaOptions": "-Dx"}"#.into())),
                "'spark.driver.extraJavaOptions' may not be set",
            ),
            (Box::new(|p| p.conf = Some(r#"{"spark.speculation": "a\nb"}"#.into())), "control"),
            (Box::new(|p| p.conf = Some("spark.master=local".into())), "expected a JSON object"),
            (Box::new(|p| p.main_class = Some("Main".into())), "only .jar programs"),
            (Box::new(|p| p.program = "run.sh".into()), "expected a .py or .jar"),
        ];
        for (change, expected) in cases {
            let mut p = params("job.py");
            change(&mut p);
            let error = p.check().unwrap_err().to_string();
            assert!(error.contains(expected), "'{error}' lacks '{expected}'");
        }
    }

    #[test]
    fn jars_need_a_java_class_name() {
        let mut p = params("lib/app.JAR");
        assert!(p.check().unwrap_err().to_string().contains("needs its main class"));
        p.main_class = Some("org.example.Main; touch x".into());
        assert!(p.check().unwrap_err().to_string().contains("not a Java class name"));
        p.main_class = Some("org.example.Main$Inner".into());
        assert!(p.check().is_ok());
    }

    #[test]
    fn symlinks_out_of_the_storage_are_refused() {
        let dir = std::env::temp_dir().join(format!("vocloud-spark-params-{}", std::process::id()));
        let user = dir.join("alice");
        std::fs::create_dir_all(user.join("data")).unwrap();
        std::fs::write(dir.join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(dir.join("secret"), user.join("link")).unwrap();
        assert!(resolve_in(&user, "data").is_ok());
        assert!(resolve_in(&user, "link").unwrap_err().contains("leads out of your storage"));
        assert!(resolve_in(&user, "missing").unwrap_err().contains("does not exist"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
