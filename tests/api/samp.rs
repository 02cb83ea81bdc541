//! `vocloud samp send` and `vocloud samp listen` against the real hubs (JSAMP, the one inside
//! TOPCAT, strict; astropy, lenient) with real third-party clients on the other side of every
//! exchange (JSAMP snooper and messagesender, astropy clients), and a real `vocloud serve` to
//! upload into; and the browser module static/samp-web.js in headless Chromium against both
//! hubs' Web Profile. The exchanges are scripted in tests/samp/exchange.sh, which runs inside a
//! private network namespace (`unshare --net`, needs root as in CI): JSAMP listens on all
//! interfaces, and the namespace keeps that, and the fixed ports, private to the test.

use std::process::Command;

/// Runs a script of tests/samp in its own network namespace and checks its PASS lines.
fn script(name: &str, args: &[&str], passes: usize) {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("unshare")
        .args(["--net", "bash", &format!("{root}/tests/samp/{name}")])
        .args(args)
        .output()
        .expect("running unshare (util-linux; the SAMP tests need root for a private network namespace)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name} {args:?} failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("PASS")).count(), passes, "{stdout}");
}

fn python() -> String {
    std::env::var("VOCLOUD_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn exchange(hub: &str) {
    script("exchange.sh", &[hub, env!("CARGO_BIN_EXE_vocloud"), &python()], 14);
}

/// static/samp-web.js in headless Chromium (Debian `chromium`) against the hub's Web Profile.
fn web(hub: &str) {
    script("web.sh", &[hub, &python()], 3);
}

#[test]
fn samp_web_profile_with_the_jsamp_hub() {
    web("jsamp");
}

#[test]
fn samp_web_profile_with_the_astropy_hub() {
    web("astropy");
}

#[test]
fn samp_with_the_jsamp_hub() {
    exchange("jsamp");
}

#[test]
fn samp_with_the_astropy_hub() {
    exchange("astropy");
}
