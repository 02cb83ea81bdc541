//! Checking VOTables the server hands out with the reference validator, STILTS `votlint`
//! (Debian package `stilts`, installed by `./x setup --test`).

use std::path::Path;
use std::process::Command;

/// Everything votlint printed about `path` (empty means valid).
pub fn votlint(path: &Path) -> String {
    let out = Command::new("stilts")
        .args(["votlint", &format!("votable={}", path.display()), "validate=true"])
        .output()
        .expect("running stilts (Debian package `stilts`; ./x setup --test installs it)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    text.trim().to_string()
}
