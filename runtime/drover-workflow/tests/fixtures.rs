//! The Orquesta conformance suite: every case of every spec in
//! `../shared/orquesta-fixtures/tests/` (relative to the repository root)
//! must pass, driven exactly as `EXPECTED.md` describes.

use std::path::PathBuf;

use drover_workflow::rehearse::rehearse_file;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/orquesta-fixtures")
}

#[test]
fn every_orquesta_fixture_case_passes() {
    let dir = fixtures().join("tests");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "the Orquesta fixtures are missing: cannot read {} ({e}); they live in ../shared/orquesta-fixtures beside the repository",
            dir.display()
        )
    });
    let mut specs: Vec<PathBuf> = entries
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    specs.sort();
    assert!(!specs.is_empty(), "no specs in {}", dir.display());
    let mut passed = 0;
    let mut failures = Vec::new();
    for spec in &specs {
        match rehearse_file(spec, None) {
            Ok(report) => {
                for case in &report.cases {
                    match &case.difference {
                        None => passed += 1,
                        Some(d) => failures.push(format!("{}: {}: {d}", spec.display(), case.name)),
                    }
                }
            }
            Err(e) => failures.push(format!("{}: {e}", spec.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed, 36, "EXPECTED.md lists 36 cases");
}
