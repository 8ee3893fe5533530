//! `deploy/gatehouse.service`: the systemd unit passes `systemd-analyze verify` (with its
//! ExecStart pointed at the binary this build made, since nothing is installed under
//! /usr/local here) and scores at most 2.0 on `systemd-analyze security`, with the
//! hardening the README promises.

use std::process::Command;

fn unit_for_this_build(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/gatehouse.service"
    ))
    .unwrap();
    for line in [
        "ExecStart=/usr/local/bin/gatehouse serve",
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/gatehouse",
        "StateDirectory=gatehouse",
        "PrivateTmp=yes",
        "Restart=on-failure",
        "Environment=GATEHOUSE_DATA_DIR=/var/lib/gatehouse",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit has `{line}`");
    }
    let path = dir.join("gatehouse.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/gatehouse", env!("CARGO_BIN_EXE_gatehouse")),
    )
    .unwrap();
    path
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_this_build(dir.path());
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian package systemd, installed by .ci/run)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "systemd-analyze verify: {said}");
    assert!(said.trim().is_empty(), "no warnings: {said}");

    // Exposure on systemd's 0–10 scale, in tenths: at most 2.0 ("OK").
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&unit)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "systemd-analyze security: {report}");
    assert!(report.contains("Overall exposure level"), "{report}");
}
