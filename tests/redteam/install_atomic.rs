//! Hole: `drover pack install` stored the pack (record and components) in
//! one transaction and its rules and policies in later ones, so a failure
//! in between left a pack stored without its rules: half a pack, whose
//! triggers and actions were live while the rules meant to go with them
//! (or the policies meant to limit them) were missing. Everything a pack
//! brings is now one transaction: all of it is stored, or none.
//!
//! The fault is injected from outside: a SQLite trigger that refuses the
//! pack's rules, as a full disk or a constraint would at that point.

use crate::support::*;

#[test]
fn a_pack_whose_rules_cannot_be_stored_is_not_stored_at_all() {
    let d = Drover::new();
    d.install(&["packs/core"]);
    {
        let conn = rusqlite::Connection::open(d.db()).unwrap();
        conn.execute_batch(
            "CREATE TRIGGER redteam_fault BEFORE INSERT ON rules WHEN NEW.pack = 'events'
             BEGIN SELECT RAISE(ABORT, 'injected fault: rules of events refused'); END;",
        )
        .unwrap();
    }
    let events = pack_dir("tests/packs/events");
    let out = d.run(&["pack", "install", events.to_str().unwrap()]);
    assert!(!out.status.success(), "installed:\n{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cannot install the pack in") && err.contains("injected fault"),
        "the operator sees what failed: {err}"
    );
    let packs = d.json(0, &["pack", "list"]);
    let names: Vec<&str> = packs
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["core"], "half a pack was stored: {packs:#}");
    let rules = d.json(0, &["rule", "list"]);
    assert_eq!(rules, serde_json::json!([]), "{rules:#}");

    // The fault gone, the same install stores all of it.
    {
        let conn = rusqlite::Connection::open(d.db()).unwrap();
        conn.execute_batch("DROP TRIGGER redteam_fault").unwrap();
    }
    d.expect(0, &["pack", "install", events.to_str().unwrap()]);
    let rules = d.json(0, &["rule", "list"]);
    assert_eq!(rules.as_array().unwrap().len(), 3, "{rules:#}");
}
