//! `vocloud samp send` and `vocloud samp listen` against the real hubs (JSAMP, the one inside
//! TOPCAT, strict; astropy, lenient) with real third-party clients on the other side of every
//! exchange (JSAMP snooper and messagesender, astropy clients), and a real `vocloud serve` to
//! upload into. The exchanges are scripted in tests/samp/exchange.sh, which runs inside a
//! private network namespace (`unshare --net`, needs root as in CI): JSAMP listens on all
//! interfaces, and the namespace keeps that, and the fixed ports, private to the test.

use std::process::Command;

fn exchange(hub: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    let python = std::env::var("VOCLOUD_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new("unshare")
        .args(["--net", "bash", &format!("{root}/tests/samp/exchange.sh"), hub, env!("CARGO_BIN_EXE_vocloud"), &python])
        .output()
        .expect("running unshare (util-linux; the SAMP tests need root for a private network namespace)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SAMP exchange with the {hub} hub failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("PASS")).count(), 10, "{stdout}");
}

#[test]
fn samp_with_the_jsamp_hub() {
    exchange("jsamp");
}

#[test]
fn samp_with_the_astropy_hub() {
    exchange("astropy");
}
