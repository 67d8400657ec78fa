//! Conductor semantics beyond the conformance fixtures: join counts and
//! unreachable joins, remediation then fail, `continue` splits, the retry
//! command, with-items concurrency, pause/resume/cancel, render-once, and
//! refused events. Rehearsal cases use the same driver as the fixtures.

use drover_workflow::rehearse::{parse_spec, run_case};
use drover_workflow::{ActionEvent, Conductor, ConductorError, RerunRequest, Status, Workflow};
use serde_json::json;

fn rehearse(workflow: &str, spec: &str) {
    let wf = Workflow::parse("wf.yaml", workflow, None).unwrap_or_else(|e| panic!("{e}"));
    let spec = parse_spec("spec.yaml", spec).unwrap_or_else(|e| panic!("{e}"));
    for case in &spec.cases {
        let report = run_case(&wf, case, &|_| Err("no files".into()));
        assert!(
            report.passed,
            "{}: {}",
            report.name,
            report.difference.unwrap_or_default()
        );
    }
}

const QUORUM: &str = r#"
version: 1.0
tasks:
  start:
    action: core.noop
    next:
      - do: probe_a, probe_b, probe_c
  probe_a:
    action: net.ping
    next:
      - when: "{{ succeeded() }}"
        do: decide
      - when: "{{ failed() }}"
        do: noop
  probe_b:
    action: net.ping
    next:
      - when: "{{ succeeded() }}"
        do: decide
      - when: "{{ failed() }}"
        do: noop
  probe_c:
    action: net.ping
    next:
      - when: "{{ succeeded() }}"
        do: decide
      - when: "{{ failed() }}"
        do: noop
  decide:
    join: 2
    action: core.noop
"#;

#[test]
fn join_count_and_unreachable_join() {
    rehearse(
        QUORUM,
        r#"
workflow: wf.yaml
cases:
- name: all_succeed
  expected_task_sequence: [start, probe_a, probe_b, probe_c, decide]
- name: one_fails_quorum_met
  mock_action_executions: [{task_id: probe_c, status: failed}]
  expected_task_sequence: [start, probe_a, probe_b, probe_c, noop__r1, decide]
  expected_routes: [[], [probe_c__t0]]
  expected_term_tasks: [noop__r1, decide]
- name: two_fail_quorum_unreachable
  mock_action_executions:
  - {task_id: probe_b, status: failed, result: unreachable}
  - {task_id: probe_c, status: failed}
  expected_task_sequence: [start, probe_a, probe_b, probe_c, noop__r1, noop__r2]
  expected_routes: [[], [probe_b__t0], [probe_c__t0]]
  expected_workflow_status: failed
  expected_errors:
  - {type: error, message: Execution failed. See result for details., task_id: probe_b, result: unreachable}
  - {type: error, message: Execution failed. See result for details., task_id: probe_c}
  - type: error
    message: 'UnreachableJoinError: The join task|route "decide|0" is partially satisfied but unreachable.'
    task_id: decide
    route: 0
- name: branch_still_running
  mock_action_executions: [{task_id: probe_c, status: running}]
  expected_task_sequence: [start, probe_a, probe_b, probe_c, decide]
  expected_workflow_status: running
"#,
    );
}

#[test]
fn remediation_runs_even_when_the_workflow_fails() {
    let wf = r#"
version: 1.0
tasks:
  reboot:
    action: fleet.reboot
    next:
      - when: "{{ failed() }}"
        publish: reason={{ result() }}
        do: ticket, fail
  ticket:
    action: itsm.open message={{ ctx().reason }}
"#;
    rehearse(
        wf,
        r#"
workflow: wf.yaml
cases:
- name: failed_reboot_opens_a_ticket_then_fails
  mock_action_executions: [{task_id: reboot, status: failed, result: bmc timeout}]
  expected_task_sequence: [reboot, fail, ticket]
  expected_workflow_status: failed
  expected_term_tasks: [reboot, fail, ticket]
"#,
    );
    let wf = Workflow::parse("wf.yaml", wf, None).unwrap();
    let mut c = Conductor::new(&wf, Default::default());
    c.request_status(Status::Running).unwrap();
    c.next_tasks();
    c.on_action_event("reboot", 0, ActionEvent::status(Status::Running))
        .unwrap();
    c.on_action_event("reboot", 0, ActionEvent::failed(json!("bmc timeout")))
        .unwrap();
    assert_eq!(c.status(), Some(Status::Failed));
    let next = c.next_tasks();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].task_id, "ticket");
    assert_eq!(next[0].actions[0].input, json!({"message": "bmc timeout"}));
}

#[test]
fn continue_is_a_split_and_output_follows_the_path() {
    let wf = r#"
version: 1.0
vars:
  - state: unknown
tasks:
  check:
    action: core.noop
    next:
      - when: "{{ succeeded() }}"
        do: fix
      - when: "{{ failed() }}"
        publish:
          - state: broken
        do: continue
  fix:
    action: core.noop
    next:
      - when: "{{ succeeded() }}"
        publish:
          - state: fixed
output:
  - state: "{{ ctx().state }}"
"#;
    rehearse(
        wf,
        r#"
workflow: wf.yaml
cases:
- name: success
  expected_task_sequence: [check, fix, continue__r1]
  expected_routes: [[], [fix__t0]]
  expected_output: {state: fixed}
- name: failure
  mock_action_executions: [{task_id: check, status: failed}]
  expected_task_sequence: [check, continue__r1]
  expected_routes: [[], [check__t0]]
  expected_workflow_status: failed
  expected_output: {state: broken}
"#,
    );
}

#[test]
fn retry_command_and_retry_spec() {
    let wf = r#"
version: 1.0
tasks:
  flaky:
    action: core.noop
    next:
      - when: "{{ failed() }}"
        do: retry
      - when: "{{ succeeded() }}"
        do: done
  done:
    action: core.noop
"#;
    rehearse(
        wf,
        r#"
workflow: wf.yaml
cases:
- name: recovers
  mock_action_executions: [{task_id: flaky, status: failed, num_iter: 2}]
  expected_task_sequence: [flaky, done]
  extra_assertions: {flaky.retry.tally: 2, flaky.retry.count: 3}
- name: gives_up
  mock_action_executions: [{task_id: flaky, status: failed, num_iter: 5}]
  expected_task_sequence: [flaky]
  expected_workflow_status: failed
  extra_assertions: {flaky.retry.tally: 3, flaky.status: failed}
"#,
    );

    // A retry is dispatched again with the retry delay, on the same entry.
    let wf = Workflow::parse(
        "wf.yaml",
        "version: 1.0\ninput: [{tries: 2}]\ntasks:\n  t:\n    action: core.noop\n    retry:\n      count: \"{{ ctx('tries') }}\"\n      delay: 5\n",
        None,
    )
    .unwrap();
    let mut c = Conductor::new(&wf, Default::default());
    c.request_status(Status::Running).unwrap();
    let first = c.next_tasks();
    assert_eq!((first[0].delay, first[0].retry), (None, false));
    c.on_action_event("t", 0, ActionEvent::status(Status::Running))
        .unwrap();
    c.on_action_event("t", 0, ActionEvent::failed(json!("boom")))
        .unwrap();
    let again = c.next_tasks();
    assert_eq!((again[0].delay, again[0].retry), (Some(5), true));
    assert_eq!(c.state().sequence().len(), 1);
    assert_eq!(c.state().sequence()[0].status, Some(Status::Retrying));
    assert_eq!(c.status(), Some(Status::Running));
}

#[test]
fn with_items_respects_concurrency_and_keeps_item_order() {
    let wf = Workflow::parse(
        "wf.yaml",
        r#"
version: 1.0
input:
  - nodes: [n1, n2, n3, n4, n5]
tasks:
  drain:
    with:
      items: node in {{ ctx('nodes') }}
      concurrency: 2
    action: fleet.drain node={{ item('node') }}
    next:
      - when: "{{ succeeded() }}"
        publish: drained={{ result() }}
output:
  - drained: "{{ ctx('drained') }}"
"#,
        None,
    )
    .unwrap();
    let mut c = Conductor::new(&wf, Default::default());
    c.request_status(Status::Running).unwrap();
    let mut started = Vec::new();
    let mut running: Vec<usize> = Vec::new();
    let mut first = true;
    loop {
        let batch = c.next_tasks();
        for d in &batch {
            assert_eq!(d.items_count, Some(5));
            assert_eq!(d.concurrency, Some(2));
            if first {
                c.on_action_event("drain", 0, ActionEvent::status(Status::Running))
                    .unwrap();
                first = false;
            }
            for a in &d.actions {
                let i = a.item_id.unwrap();
                assert_eq!(a.input, json!({"node": format!("n{}", i + 1)}));
                c.on_action_event("drain", 0, ActionEvent::status(Status::Running).for_item(i))
                    .unwrap();
                started.push(i);
                running.push(i);
            }
        }
        assert!(running.len() <= 2, "concurrency exceeded: {running:?}");
        // Nothing more is handed out while two items run.
        assert!(c.next_tasks().is_empty());
        // Finish the most recent item first, so results arrive out of order.
        let Some(i) = running.pop() else { break };
        c.on_action_event(
            "drain",
            0,
            ActionEvent::succeeded(json!(format!("ok-{i}"))).for_item(i),
        )
        .unwrap();
    }
    assert_eq!(started, [0, 1, 2, 3, 4]);
    assert_eq!(c.status(), Some(Status::Succeeded));
    c.render_output();
    assert_eq!(
        c.output().unwrap()["drained"],
        json!(["ok-0", "ok-1", "ok-2", "ok-3", "ok-4"])
    );
}

const TWO_STEPS: &str = "version: 1.0\ntasks:\n  a:\n    action: core.noop\n    next: [{do: b}]\n  b:\n    action: core.noop\n";

#[test]
fn pause_resume_and_cancel() {
    let wf = Workflow::parse("wf.yaml", TWO_STEPS, None).unwrap();
    let mut c = Conductor::new(&wf, Default::default());
    c.request_status(Status::Running).unwrap();
    c.next_tasks();
    c.on_action_event("a", 0, ActionEvent::status(Status::Running))
        .unwrap();
    c.request_status(Status::Pausing).unwrap();
    assert_eq!(c.status(), Some(Status::Pausing));
    c.on_action_event("a", 0, ActionEvent::succeeded(json!(null)))
        .unwrap();
    assert_eq!(c.status(), Some(Status::Paused));
    assert!(c.next_tasks().is_empty());
    c.request_status(Status::Resuming).unwrap();
    assert_eq!(c.status(), Some(Status::Resuming));
    let next = c.next_tasks();
    assert_eq!(next[0].task_id, "b");
    c.on_action_event("b", 0, ActionEvent::status(Status::Running))
        .unwrap();
    assert_eq!(c.status(), Some(Status::Running));
    c.on_action_event("b", 0, ActionEvent::succeeded(json!(null)))
        .unwrap();
    assert_eq!(c.status(), Some(Status::Succeeded));

    let mut c = Conductor::new(&wf, Default::default());
    c.request_status(Status::Running).unwrap();
    c.next_tasks();
    c.on_action_event("a", 0, ActionEvent::status(Status::Running))
        .unwrap();
    c.request_status(Status::Canceling).unwrap();
    assert_eq!(c.status(), Some(Status::Canceling));
    c.on_action_event("a", 0, ActionEvent::succeeded(json!(null)))
        .unwrap();
    assert_eq!(c.status(), Some(Status::Canceled));
    assert!(c.next_tasks().is_empty());
    assert!(matches!(
        c.request_status(Status::Running),
        Err(ConductorError::InvalidWorkflowEvent { .. })
    ));
}

#[test]
fn results_are_data_not_templates() {
    let wf = Workflow::parse(
        "wf.yaml",
        "version: 1.0\nvars:\n  - secret: s3cr3t\ntasks:\n  a:\n    action: core.noop\n    next:\n      - publish: said={{ result() }}\n        do: b\n  b:\n    action: core.echo\n    input:\n      message: \"echo: {{ ctx('said') }}\"\n      raw: \"{{ ctx('said') }}\"\n",
        None,
    )
    .unwrap();
    let mut c = Conductor::new(&wf, Default::default());
    c.request_status(Status::Running).unwrap();
    c.next_tasks();
    c.on_action_event("a", 0, ActionEvent::status(Status::Running))
        .unwrap();
    c.on_action_event("a", 0, ActionEvent::succeeded(json!("{{ ctx('secret') }}")))
        .unwrap();
    let b = c.next_tasks().remove(0);
    assert_eq!(
        b.actions[0].input,
        json!({"message": "echo: {{ ctx('secret') }}", "raw": "{{ ctx('secret') }}"})
    );
}

#[test]
fn runtime_inputs_are_never_rendered() {
    let wf = Workflow::parse(
        "wf.yaml",
        "version: 1.0\ninput:\n  - name\n  - greeting: \"hello {{ ctx('name') }}\"\ntasks:\n  a:\n    action: core.echo message={{ ctx('greeting') }}\n",
        None,
    )
    .unwrap();
    let inputs = json!({"name": "{{ ctx('x') }}"})
        .as_object()
        .unwrap()
        .clone();
    let mut c = Conductor::new(&wf, inputs);
    c.request_status(Status::Running).unwrap();
    let a = c.next_tasks().remove(0);
    assert_eq!(
        a.actions[0].input,
        json!({"message": "hello {{ ctx('x') }}"})
    );
}

#[test]
fn refused_events_leave_the_state_alone() {
    let wf = Workflow::parse("wf.yaml", TWO_STEPS, None).unwrap();
    let mut c = Conductor::new(&wf, Default::default());
    c.request_status(Status::Running).unwrap();
    c.next_tasks();
    let before = serde_json::to_string(c.state()).unwrap();
    assert!(matches!(
        c.on_action_event("a", 0, ActionEvent::succeeded(json!(1))),
        Err(ConductorError::InvalidTaskEvent { .. })
    ));
    assert!(matches!(
        c.on_action_event("zz", 0, ActionEvent::status(Status::Running)),
        Err(ConductorError::UnknownTask(_))
    ));
    assert!(matches!(
        c.on_action_event("b", 0, ActionEvent::status(Status::Running)),
        Err(ConductorError::NotStaged(_))
    ));
    assert!(matches!(
        c.on_action_event("a", 0, ActionEvent::status(Status::Running).for_item(0)),
        Err(ConductorError::InvalidItem { .. })
    ));
    assert!(matches!(
        c.request_rerun(&[]),
        Err(ConductorError::NotRerunnable)
    ));
    assert_eq!(serde_json::to_string(c.state()).unwrap(), before);
}

#[test]
fn rerun_a_named_task_after_failure() {
    let text = TWO_STEPS.replace("{do: b}", "{when: '{{ succeeded() }}', do: b}");
    let wf = Workflow::parse("wf.yaml", &text, None).unwrap();
    let mut c = Conductor::new(&wf, Default::default());
    c.request_status(Status::Running).unwrap();
    c.next_tasks();
    c.on_action_event("a", 0, ActionEvent::status(Status::Running))
        .unwrap();
    c.on_action_event("a", 0, ActionEvent::failed(json!("x")))
        .unwrap();
    assert_eq!(c.status(), Some(Status::Failed));
    let bad = RerunRequest {
        task_id: "b".into(),
        route: 0,
        reset_items: false,
    };
    assert!(matches!(
        c.request_rerun(&[bad]),
        Err(ConductorError::InvalidRerun(_))
    ));
    let req = RerunRequest {
        task_id: "a".into(),
        route: 0,
        reset_items: false,
    };
    c.request_rerun(&[req]).unwrap();
    assert_eq!(c.status(), Some(Status::Resuming));
    assert!(c.errors().is_empty());
    // Persist and resume, as the runtime would between events.
    let state = serde_json::from_str(&serde_json::to_string(c.state()).unwrap()).unwrap();
    let mut c = Conductor::resume(&wf, state).unwrap();
    for task in ["a", "b"] {
        assert_eq!(c.next_tasks()[0].task_id, task);
        c.on_action_event(task, 0, ActionEvent::status(Status::Running))
            .unwrap();
        c.on_action_event(task, 0, ActionEvent::succeeded(json!(null)))
            .unwrap();
    }
    assert_eq!(c.status(), Some(Status::Succeeded));
    let seq: Vec<&str> = c.state().sequence().iter().map(|e| &*e.id).collect();
    assert_eq!(seq, ["a", "a", "b"]);
}
