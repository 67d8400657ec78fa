use serde_json::json;

use super::format::parse;
use super::*;

fn refused(text: &str) -> String {
    match parse("tests/t.yaml", text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_good_file_parses() {
    let p = parse(
        "tests/t.yaml",
        "fixtures:\n  nodes:\n    - {name: b1, labels: {cluster: batch}, hung: true}\n  kv:\n    a: \"1\"\n\
         grants:\n  - {capability: probe, scope: \"*\"}\n\
         tests:\n  - name: r\n    trigger: {type: p.t, payload: {node: b1}}\n    expect: {matches: []}\n\
           \x20 - name: a\n    run: x\n    expect: {status: succeeded}\n",
    )
    .unwrap();
    assert_eq!(p.file.tests.len(), 2);
    assert!(p.file.fixtures.nodes[0].hung);
}

#[test]
fn bad_files_are_refused_naming_file_line_and_field() {
    // An unknown key, with the valid ones.
    let e = refused("tests:\n  - name: a\n    run: x\n    expect:\n      staus: failed\n");
    assert!(e.starts_with("tests/t.yaml:5"), "{e}");
    assert!(e.contains("staus") && e.contains("status"), "{e}");
    // A wrong type.
    let e = refused("tests:\n  - name: a\n    run: [x]\n    expect: {status: failed}\n");
    assert!(e.starts_with("tests/t.yaml:3"), "{e}");
    assert!(e.contains("tests[0].run"), "{e}");
    // Neither trigger nor run; both.
    let e = refused("tests:\n  - name: a\n    expect: {status: failed}\n");
    assert!(e.contains("tests/t.yaml:2") && e.contains("neither"), "{e}");
    let e = refused(
        "tests:\n  - name: a\n    run: x\n    trigger: {type: t}\n    expect: {status: failed}\n",
    );
    assert!(e.contains("both"), "{e}");
    // Expectations of the other kind.
    let e = refused("tests:\n  - name: a\n    run: x\n    expect: {matches: []}\n");
    assert!(
        e.contains("tests[0].expect") && e.contains("rule tests"),
        "{e}"
    );
    let e = refused("tests:\n  - name: a\n    trigger: {type: t}\n    expect: {status: failed}\n");
    assert!(e.contains("matches"), "{e}");
    // Bad values.
    let e = refused("tests:\n  - name: a\n    run: x\n    expect: {status: fine}\n");
    assert!(
        e.contains("tests[0].expect.status") && e.contains("succeeded"),
        "{e}"
    );
    let e = refused(
        "tests:\n  - name: a\n    run: x\n    expect:\n      plan:\n        - {decision: maybe}\n",
    );
    assert!(e.contains(":6:") && e.contains("plan[0]"), "{e}");
    // Duplicate names, empty files, no tests.
    let e = refused(
        "tests:\n  - name: a\n    run: x\n    expect: {status: failed}\n  - name: a\n    run: x\n    expect: {status: failed}\n",
    );
    assert!(e.contains(":5:") && e.contains("unique"), "{e}");
    assert!(refused("# nothing\n").contains("empty"));
    assert!(refused("tests: []\n").contains("tests"));
    // Not YAML, and a document that expands without end.
    assert!(refused("tests: [\n").contains("tests/t.yaml"));
    let bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n\
                c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n\
                e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n";
    assert!(refused(bomb).contains("tests/t.yaml"));
}

#[test]
fn too_many_tests_are_refused() {
    let mut text = String::from("tests:\n");
    for i in 0..=format::MAX_TESTS_PER_FILE {
        text.push_str(&format!(
            "  - name: t{i}\n    run: x\n    expect: {{status: failed}}\n"
        ));
    }
    assert!(refused(&text).contains("at most"));
}

#[test]
fn another_packs_action_is_refused() {
    let p = parse(
        "tests/t.yaml",
        "tests:\n  - name: a\n    run: core.local\n    expect: {status: failed}\n",
    )
    .unwrap();
    let e = check_refs(&p, "tests/t.yaml", "batchops")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("tests/t.yaml:3: tests[0].run:"), "{e}");
    assert!(e.contains("its own actions"), "{e}");
}

#[test]
fn compare_is_partial_on_objects_and_exact_elsewhere() {
    let mut out = Vec::new();
    compare(
        "result",
        &json!({"a": 1, "b": {"c": "x"}}),
        Some(&json!({"a": 1.0, "b": {"c": "x", "d": 2}, "e": 3})),
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    compare(
        "result",
        &json!({"a": [1, 2], "b": "x", "m": 1}),
        Some(&json!({"a": [1], "b": "y"})),
        &mut out,
    );
    let shown: Vec<String> = out.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        shown,
        [
            "result.a: expected [1,2], got [1]",
            "result.b: expected \"x\", got \"y\"",
            "result.m: expected 1, got nothing",
        ]
    );
}
