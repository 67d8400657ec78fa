//! The web UI in a real browser: `drover serve` with the bundled packs,
//! Debian's headless Chromium driven over WebDriver. Each test is a story
//! an operator lives through; the last one saves the screenshots shown in
//! the README (into `docs/img/` when `DROVER_UPDATE_SCREENSHOTS=1`).

#[path = "support/browser.rs"]
mod browser;
mod support;

use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use browser::Browser;
use support::{Drover, repo};

/// A running `drover serve`; killed and reaped on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Server {
    fn start(d: &Drover) -> Server {
        for attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let log = d.dir.path().join(format!("serve-{attempt}.log"));
            let file = std::fs::File::create(&log).unwrap();
            let child = d
                .cmd()
                .args(["serve", "--listen", &addr.to_string(), "--grace", "2s"])
                .stdin(Stdio::null())
                .stdout(file.try_clone().unwrap())
                .stderr(file)
                .spawn()
                .expect("spawn drover serve");
            let mut server = Server { child, addr, log };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Some(status) = server.child.try_wait().unwrap() {
                    let text = std::fs::read_to_string(&server.log).unwrap_or_default();
                    if text.contains("cannot listen") {
                        break;
                    }
                    panic!("drover serve exited {status}:\n{text}");
                }
                if ureq::get(&format!("http://{addr}/healthz")).call().is_ok() {
                    return server;
                }
                assert!(Instant::now() < deadline, "drover serve did not come up");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("no free port for drover serve");
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The admin password the first start printed.
    fn admin_password(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap();
        let line = log
            .lines()
            .find(|l| l.contains("created user \"admin\""))
            .unwrap_or_else(|| panic!("no first-start password in the log:\n{log}"));
        line.rsplit(' ').next().unwrap().to_owned()
    }
}

/// Logs in through the login page; lands on the dashboard.
fn login(b: &Browser, s: &Server, name: &str, password: &str) {
    b.login(&s.url(""), name, password);
}

/// A browser logged in as admin.
fn admin_browser(s: &Server, width: u32, height: u32) -> Browser {
    let b = Browser::start(width, height);
    login(&b, s, "admin", &s.admin_password());
    b
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn setup() -> (Drover, Server) {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo"]);
    let s = Server::start(&d);
    (d, s)
}

/// Runs `action` from the run page with `node` as its parameter.
fn run_from_page(b: &Browser, s: &Server, action: &str, node: &str, dry_run: bool) -> String {
    run_with(b, s, action, &[("node", node)], dry_run)
}

/// Runs `action` from the run page with `params`; waits on its execution
/// page until it is no longer queued or running (ended, or waiting).
fn run_with(
    b: &Browser,
    s: &Server,
    action: &str,
    params: &[(&str, &str)],
    dry_run: bool,
) -> String {
    b.goto(&s.url(&format!("/ui/run?action={action}")));
    for (name, value) in params {
        b.clear(&format!("#p-{name}"));
        b.type_into(&format!("#p-{name}"), value);
    }
    let checked = b.eval("return document.getElementById('dry-run').checked");
    assert_eq!(checked, true, "dry run is ticked by default");
    if !dry_run {
        b.click("#dry-run");
    }
    if !dry_run {
        // A live run of something that acts asks first (see
        // `a_live_run_says_so_and_asks_first`); this helper says yes.
        b.eval("window.confirm = function () { return true; }; return null");
    }
    b.click("#run-button");
    // The browser lands on the execution's page, which follows it to its end.
    let url = b.wait_for("the execution page", || {
        let u = b.url();
        u.contains("/ui/executions/").then_some(u)
    });
    b.wait_for("the execution to end", || {
        let t = b.text("#exec-status");
        (!t.contains("requested") && !t.contains("running")).then_some(())
    });
    // The page re-renders the part that changed; wait for the final one.
    b.find("#h-params");
    url
}

#[test]
fn login_roles_and_logout() {
    let (d, s) = setup();
    let b = Browser::start(1280, 900);
    // The anonymous are sent to the login page; a wrong password is refused.
    b.goto(&s.url("/ui/packs"));
    b.wait_for("the login page", || {
        b.url().ends_with("/login").then_some(())
    });
    b.type_into("input[name=name]", "admin");
    b.type_into("input[name=password]", "not-the-password");
    b.click("button[type=submit]");
    assert!(b.url().ends_with("/login"));
    login(&b, &s, "admin", &s.admin_password());
    assert!(b.text("header").contains("admin"));
    b.goto(&s.url("/ui/packs/demo"));
    b.find("#grant-form");
    b.click("#logout");
    b.goto(&s.url("/ui/"));
    b.wait_for("the login page again", || {
        b.url().ends_with("/login").then_some(())
    });

    // A viewer sees the pages but not the forms that would be refused.
    let out = d.expect(0, &["user", "add", "vera", "--role", "viewer"]);
    let password = support::last_line(&out);
    login(&b, &s, "vera", &password);
    assert!(b.text("header").contains("vera"));
    b.goto(&s.url("/ui/packs/demo"));
    assert!(b.text("#capabilities").contains("nodes.reboot"));
    assert!(b.try_find("#grant-form").is_none());
    b.goto(&s.url("/ui/run?action=core.echo"));
    assert!(b.try_find("#run-button").is_none());
    assert!(b.text("main").contains("operator role"));
}

#[test]
fn a_dry_run_from_the_browser_shows_its_plan() {
    let (d, s) = setup();
    let b = admin_browser(&s, 1280, 900);
    run_from_page(&b, &s, "demo.reboot_node", "n001", true);
    assert!(b.text("#exec-status").contains("dry run"));
    let plan = b.text("#plan");
    assert!(plan.contains("nodes.reboot"), "{plan}");
    assert!(plan.contains("n001"), "{plan}");
    // No grant yet: the plan says the reboot would be refused.
    assert!(plan.contains("denied"), "{plan}");
    // Nothing happened to the node.
    let node = d.json(0, &["exec", "list"]);
    assert_eq!(node.as_array().unwrap().len(), 1);
    assert_eq!(node[0]["dry_run"], true);
}

#[test]
fn granting_in_the_browser_lets_the_denied_action_succeed() {
    let (_d, s) = setup();
    let b = admin_browser(&s, 1280, 900);
    run_from_page(&b, &s, "demo.reboot_node", "n001", false);
    assert!(b.text("#exec-status").contains("denied"));

    b.goto(&s.url("/ui/packs/demo"));
    assert!(b.text("#capabilities").contains("not granted"));
    b.select("#grant-capability", "nodes.reboot");
    b.type_into("#grant-scope", "rack=r01");
    b.click("#grant-button");
    // The confirmation names the pack version, the capability and the scope.
    let confirm = b.text("main");
    assert!(confirm.contains("demo@0.1.0"), "{confirm}");
    assert!(confirm.contains("nodes.reboot"), "{confirm}");
    assert!(confirm.contains("rack=r01"), "{confirm}");
    b.click("#confirm-button");
    assert!(b.wait_text("#notice", "Granted").contains("Granted"));
    assert!(b.text("#grants").contains("rack=r01"));

    run_from_page(&b, &s, "demo.reboot_node", "n001", false);
    assert!(b.text("#exec-status").contains("succeeded"));
    // Outside the scope it is still refused.
    run_from_page(&b, &s, "demo.reboot_node", "n900", false);
    assert!(b.text("#exec-status").contains("denied"));
}

#[test]
fn a_node_state_change_appears_without_reload() {
    let (d, s) = setup();
    let b = admin_browser(&s, 1280, 900);
    b.goto(&s.url("/ui/fleet"));
    assert_eq!(
        b.attr("#node-n005", "data-state").as_deref(),
        Some("production")
    );
    // A marker in the page's memory survives only if the page is not reloaded.
    b.eval("window.droverMarker = 42; return null");
    d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");
    d.expect(0, &["run", "demo.reboot_node", "node=n005"]);
    b.wait_for("n005 to leave production", || {
        (b.attr("#node-n005", "data-state").as_deref() != Some("production")).then_some(())
    });
    assert_eq!(b.eval("return window.droverMarker"), 42);

    // Drain from the page: a dry-run preview first, the node unchanged...
    b.type_into("#change-form input[name=node]", "n007");
    b.select("#change-form select", "drain");
    b.click("#change-form button");
    assert!(b.text("#preview-h").contains("accepted"));
    assert_eq!(
        d.json(0, &["exec", "list"]).as_array().unwrap().len(),
        1,
        "the preview ran nothing"
    );
    // ...then the change, audited.
    b.click("#confirm-button");
    b.find("#notice");
    assert!(b.text("main h1").contains("accepted"));
    b.goto(&s.url("/ui/fleet"));
    b.wait_for("n007 to leave production", || {
        (b.attr("#node-n007", "data-state").as_deref() != Some("production")).then_some(())
    });

    // A node in intervention, repaired, given back from the page: again a
    // preview first (nothing changes), then the change.
    d.expect(
        0,
        &[
            "node",
            "set-state",
            "n009",
            "intervention",
            "--reason",
            "PSU",
        ],
    );
    b.wait_for("n009 in intervention", || {
        (b.attr("#node-n009", "data-state").as_deref() == Some("intervention")).then_some(())
    });
    b.type_into("#change-form input[name=node]", "n009");
    b.select("#change-form select", "production");
    b.type_into("#change-form input[name=reason]", "PSU swapped");
    b.click("#change-form button");
    // The click returns before the preview page has replaced this one.
    b.wait_text("main h1", "give back to production");
    let shown = d.json(0, &["node", "show", "n009"]);
    assert_eq!(
        shown["node"]["state"], "intervention",
        "the preview changed nothing"
    );
    b.click("#confirm-button");
    b.find("#notice");
    let shown = d.json(0, &["node", "show", "n009", "--history"]);
    assert_eq!(shown["node"]["state"], "production", "{shown:#}");
    assert!(shown.to_string().contains("PSU swapped"), "{shown:#}");
}

#[test]
fn the_pages_are_usable_from_the_keyboard_and_on_a_phone() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo", "tests/packs/flows"]);
    // An inquiry, so that its form is checked with the other pages.
    d.json(3, &["run", "flows.change_window", "node=n001"]);
    let s = Server::start(&d);
    let b = admin_browser(&s, 375, 800);
    b.goto(&s.url("/ui/"));
    assert_eq!(b.eval("return window.innerWidth"), 375);
    // The first Tab reaches the skip link, and it leads to the content.
    b.keys("\u{E004}");
    assert_eq!(
        b.eval("return document.activeElement.getAttribute('href')"),
        "#main"
    );
    for page in [
        "/ui/",
        "/ui/executions",
        "/ui/rules",
        "/ui/packs",
        "/ui/fleet",
        "/ui/audit",
        "/ui/run",
        "/ui/inquiries",
    ] {
        b.goto(&s.url(page));
        let overflow = b.eval(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        );
        assert!(
            overflow.as_i64().unwrap() <= 0,
            "{page} scrolls sideways at 375 px by {overflow} px"
        );
        // Every form control has a label.
        let unlabelled = b.eval(
            "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                .filter(e => !e.labels || e.labels.length === 0).map(e => e.name)",
        );
        assert_eq!(unlabelled, serde_json::json!([]), "{page}");
    }
    b.goto(&s.url("/ui/inquiries"));
    b.find("form[id$='-form'] input[name='f.reason']");
    // The CSP keeps everything on this origin.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let resp = agent.get(&s.url("/ui/static/app.css")).call().unwrap();
    let csp = resp
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    let html = ureq::get(&s.url("/ui/fleet"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external URLs"
    );
}

/// The id of the pending inquiry of workflow run `root`, from the CLI.
fn inquiry_of(d: &Drover, root: &str) -> String {
    let list = d.json(0, &["inquiry", "list"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|q| q["root"] == root)
        .unwrap_or_else(|| panic!("no pending inquiry of {root}: {list:#}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn approving_an_inquiry_in_the_browser_lets_the_workflow_finish() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo", "tests/packs/flows"]);
    // An inquiry only `oncall` may answer, parked by a run in a shell.
    let oncall = d.json(3, &["run", "flows.approve", "node=n007"]);
    let oncall_q = inquiry_of(&d, oncall["id"].as_str().unwrap());
    let s = Server::start(&d);
    let b = admin_browser(&s, 1280, 900);
    // The dashboard counts what waits for an answer.
    assert!(b.text("#inquiries-pending").contains("1 waiting"));

    // A workflow started from the run page parks on its question, and its
    // page says where to answer it.
    let url = run_with(&b, &s, "flows.change_window", &[("node", "n042")], false);
    let root = url.rsplit('/').next().unwrap().to_owned();
    let waiting = b.wait_text("#exec-waiting", "inquiry");
    let qid = inquiry_of(&d, &root);
    assert!(waiting.contains(&qid), "{waiting}");
    b.click("#exec-waiting a");
    b.wait_for("the inquiries page", || {
        b.url().contains("/ui/inquiries").then_some(())
    });
    let card = format!("#q-{qid}");
    // The question, from the schema; then its fields as inputs.
    assert_eq!(
        b.text(&format!("{card}-prompt")),
        "Open a change window on n042?"
    );
    // The schema's fields as inputs: text, integer, enum; approve as buttons.
    assert_eq!(
        b.attr(&format!("{card}-minutes"), "type").as_deref(),
        Some("number")
    );
    b.find(&format!("{card}-urgency option[value='high']"));
    b.find(&format!("{card}-approve"));
    b.find(&format!("{card}-deny"));
    let unlabelled = b.eval(
        "return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(e => !e.labels || e.labels.length === 0).map(e => e.name)",
    );
    assert_eq!(unlabelled, serde_json::json!([]));
    // A role the inquiry does not name gets a clear message, and no form.
    let other = b.text(&format!("#q-{oncall_q}"));
    assert!(other.contains("Only oncall may answer"), "{other}");
    assert!(b.try_find(&format!("#q-{oncall_q}-form")).is_none());

    // The list follows new inquiries without a reload.
    b.eval("window.droverMarker = 7; return null");
    let third = d.json(3, &["run", "flows.approve_ops", "node=n099"]);
    b.wait_for("the new inquiry to appear", || {
        (b.text("#pending-count").trim() == "3").then_some(())
    });
    assert_eq!(b.eval("return window.droverMarker"), 7);
    inquiry_of(&d, third["id"].as_str().unwrap());

    // A value the schema refuses comes back named, with what was typed.
    b.type_into(&format!("{card}-reason"), "kernel patch");
    b.type_into(&format!("{card}-minutes"), "0");
    b.select(&format!("{card}-urgency"), "high");
    b.click(&format!("{card}-approve"));
    let error = b.text(&format!("{card}-error"));
    assert!(
        error.contains("minutes") && error.contains("minimum"),
        "{error}"
    );
    assert_eq!(
        b.eval(&format!(
            "return document.getElementById('q-{qid}-reason').value"
        )),
        "kernel patch"
    );
    assert_eq!(inquiry_of(&d, &root), qid, "nothing was recorded");

    // The right answer: the server continues the workflow to its end.
    b.clear(&format!("{card}-minutes"));
    b.type_into(&format!("{card}-minutes"), "30");
    b.click(&format!("{card}-approve"));
    assert!(b.wait_text("#notice", "answered").contains(&root));
    b.click("#answered-workflow");
    b.wait_text("#exec-status", "succeeded");
    let result = b.text("#h-result + pre");
    assert!(
        result.contains("approved for 30 min: kernel patch"),
        "{result}"
    );
    let answered = d.json(0, &["inquiry", "get", &qid]);
    assert_eq!(answered["state"], "responded");
    assert_eq!(answered["responder"], "user:admin");
    assert_eq!(
        answered["response"],
        serde_json::json!({"approve": true, "reason": "kernel patch", "minutes": 30, "urgency": "high"})
    );
    // It is listed as ended; the oncall one still waits.
    b.goto(&s.url("/ui/inquiries"));
    assert!(b.text("#ended").contains("user:admin"));
    b.find(&format!("#q-{oncall_q}"));
}

#[test]
fn a_workflow_runs_from_the_browser_and_its_dry_run_shows_the_plan() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo", "tests/packs/flows"]);
    d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");
    let s = Server::start(&d);
    let b = admin_browser(&s, 1280, 900);
    let params = [("first", "n001"), ("second", "n002")];
    b.goto(&s.url("/ui/run?action=flows.reboot_twice"));
    b.find("#workflow-note");
    run_with(&b, &s, "flows.reboot_twice", &params, true);
    assert!(b.wait_text("#exec-status", "succeeded").contains("dry run"));
    let plan = b.text("#plan");
    for needle in ["reboot_first", "reboot_second", "n001", "n002", "allowed"] {
        assert!(plan.contains(needle), "{needle}: {plan}");
    }
    assert!(b.text("#h-graph").contains("Workflow"));
    let runs = d.json(0, &["exec", "list"]);
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .all(|e| e["dry_run"] == true),
        "a dry run ran nothing for real: {runs:#}"
    );
    // For real, both nodes are rebooted, task by task.
    run_with(&b, &s, "flows.reboot_twice", &params, false);
    b.wait_text("#exec-status", "succeeded");
    let tasks = b.text("#h-children + div");
    assert!(
        tasks.contains("reboot_first") && tasks.contains("reboot_second"),
        "{tasks}"
    );
    // Parameters are checked by the server before anything is queued (the
    // browser's own check of required fields taken away).
    b.goto(&s.url("/ui/run?action=flows.reboot_twice"));
    b.type_into("#p-first", "n001");
    b.eval("document.getElementById('p-second').removeAttribute('required'); return null");
    b.click("#run-button");
    assert!(b.text("#run-error").contains("second"));
}

/// Posts a signed `events.ping` and waits for serve to process it; whether
/// a rule matched it.
fn ping_fires(d: &Drover, s: &Server) -> bool {
    use support::server as srv;
    let body = br#"{"node":"b1","message":"hi"}"#;
    let sig = srv::signature(body);
    let id = srv::post(
        &srv::agent(Duration::from_secs(30)),
        &s.url("/api/v1/webhooks/events.ping"),
        &[("x-drover-signature", &sig)],
        body,
    )
    .unwrap()
    .accepted_id();
    let t = srv::wait_for("the ping to be processed", srv::SETTLE, || {
        srv::triggers(d)
            .into_iter()
            .find(|t| t["id"] == id.as_str() && t["state"] == "processed")
    });
    !t["enforcements"].as_array().unwrap().is_empty()
}

#[test]
fn a_rule_disabled_and_enabled_in_the_browser_applies_without_a_restart() {
    let d = Drover::new();
    d.install(&["packs/core", "tests/packs/events"]);
    support::server::set_secret(&d, "events.webhook", support::server::HMAC_KEY);
    let s = Server::start(&d);
    assert!(ping_fires(&d, &s));
    let b = admin_browser(&s, 1280, 900);
    b.goto(&s.url("/ui/rules/events.echo_ping"));
    assert!(b.text("#enable-note").contains("without a restart"));
    b.click("#enable-form button");
    b.wait_text("main dl", "disabled");
    support::server::wait_for(
        "the disabled rule to stop firing",
        support::server::SETTLE,
        || (!ping_fires(&d, &s)).then_some(()),
    );
    b.click("#enable-form button");
    b.wait_text("main dl", "enabled");
    support::server::wait_for(
        "the enabled rule to fire again",
        support::server::SETTLE,
        || ping_fires(&d, &s).then_some(()),
    );
}

/// What an operator clicks gets an answer: the rule tester reports (it
/// answered 500 for any rule with criteria), a server error shows in the
/// page instead of nothing, a disabled rule's definition says so, and the
/// login page and the icon are there.
#[test]
fn the_rule_page_answers_every_test_and_says_the_state_in_force() {
    let d = Drover::new();
    d.install(&["packs/core", "tests/packs/events"]);
    let s = Server::start(&d);

    // The login page is styled like the rest, and the icon is served.
    let b = Browser::start(1280, 900);
    b.goto(&s.url("/login"));
    let width = b.eval("return getComputedStyle(document.querySelector('main.login')).maxWidth");
    // Unstyled, a <main> has no maximum width.
    assert_ne!(
        width, "none",
        "the UI's stylesheet applies to the login page"
    );
    let icon = ureq::get(&s.url("/favicon.ico"))
        .call()
        .expect("GET /favicon.ico");
    assert_eq!(icon.headers().get("content-type").unwrap(), "image/svg+xml");
    login(&b, &s, "admin", &s.admin_password());
    assert_eq!(
        b.attr("link[rel=icon]", "type").as_deref(),
        Some("image/svg+xml")
    );

    // A payload that fails the criterion, then one that passes.
    b.goto(&s.url("/ui/rules/events.echo_ping"));
    b.clear("#payload");
    b.type_into("#payload", r#"{"node":"x03s04","message":"hi"}"#);
    b.click("#test-button");
    b.wait_text("#test-result", "Does not match");
    b.clear("#payload");
    b.type_into("#payload", r#"{"node":"b03s04","message":"hi"}"#);
    b.click("#test-button");
    b.wait_text("#test-result", "Matches: it would run core.echo");

    // A refused request (a stale form: its CSRF token no longer valid)
    // shows the server's reason where the report would have gone.
    b.eval("document.querySelector('#test-result').textContent = ''; document.querySelector('form[hx-post] input[name=csrf]').value = 'stale'; return null");
    b.click("#test-button");
    let shown = b.wait_text("#test-result", "");
    let alert = b.text("#test-result [role=alert]");
    assert!(!alert.is_empty(), "an error is shown: {shown}");

    // Disabled in drover: the definition shows the state in force.
    b.goto(&s.url("/ui/rules/events.echo_ping"));
    assert!(b.text("main pre").contains("enabled: true"));
    b.click("#enable-form button");
    b.wait_text("main dl", "disabled");
    let definition = b.text("main pre");
    assert!(
        definition.contains("enabled: false  # set in drover; the file says true"),
        "{definition}"
    );
}

/// The run form's button says what it will do, and a live run of an
/// action that acts on the world asks first; Cancel runs nothing.
#[test]
fn a_live_run_says_so_and_asks_first() {
    let (d, s) = setup();
    let b = admin_browser(&s, 1280, 900);
    b.goto(&s.url("/ui/run?action=demo.reboot_node"));
    assert_eq!(b.text("#run-button"), "Dry run demo.reboot_node");
    b.click("#dry-run");
    assert_eq!(b.text("#run-button"), "Run demo.reboot_node for real");
    b.type_into("#p-node", "n001");
    b.click("#run-button");
    let question = b.wait_for("the confirmation", || b.dialog_text());
    assert!(question.contains("nodes.reboot"), "{question}");
    b.answer_dialog(false);
    assert!(b.url().contains("/ui/run"), "Cancel stays on the form");
    let runs = d.json(0, &["exec", "list"]);
    assert_eq!(
        runs.as_array().map(Vec::len),
        Some(0),
        "nothing ran: {runs}"
    );

    // An action that only logs runs without a question.
    b.goto(&s.url("/ui/run?action=core.echo"));
    b.click("#dry-run");
    b.type_into("#p-message", "hello");
    b.click("#run-button");
    assert!(b.dialog_text().is_none());
    b.wait_for("the execution page", || {
        b.url().contains("/ui/executions/").then_some(())
    });
}

/// Node chips stay inside their rack's card at desktop and narrow widths,
/// with a real site's names (the demo's `b03s04`, 20 to a rack): at 1400 px
/// the eighth chip of each row sat under the neighbouring card.
#[test]
fn node_chips_stay_inside_their_racks() {
    let d = Drover::new();
    let mut csv = String::from("name,driver,label.rack\n");
    for rack in 1..=25 {
        for slot in 1..=20 {
            csv.push_str(&format!("b{rack:02}s{slot:02},sim,b{rack:02}\n"));
        }
    }
    let file = d.dir.path().join("inventory.csv");
    std::fs::write(&file, csv).unwrap();
    d.expect(0, &["node", "import", file.to_str().unwrap()]);
    let s = Server::start(&d);
    let b = admin_browser(&s, 1400, 900);
    for width in [1400, 1024, 800, 390] {
        b.set_size(width, 900);
        b.goto(&s.url("/ui/fleet"));
        b.find("#node-b25s20");
        let outside = b.eval(
            "var out = [];
             document.querySelectorAll('.rack').forEach(function (rack) {
               var r = rack.getBoundingClientRect();
               rack.querySelectorAll('a.node').forEach(function (a) {
                 var c = a.getBoundingClientRect();
                 if (c.left < r.left - 0.5 || c.right > r.right + 0.5) { out.push(a.id); }
               });
             });
             return out;",
        );
        assert_eq!(
            outside.as_array().map(Vec::len),
            Some(0),
            "at {width} px these chips leave their rack: {outside}"
        );
    }
}

/// In a storm the Fleet page says the brake engaged, why, and which nodes
/// it counts unhealthy; an admin releases it with a reason (asked to
/// confirm), automatic reboots are admitted again, and the release is in
/// the audit log with that reason. Budgets show their use; the fleet can
/// be paused and resumed from the same place.
#[test]
fn the_fleet_page_runs_a_storm_brake_release() {
    let (d, s) = setup();
    d.grant("demo@0.1.0", "nodes.reboot", "*");
    d.expect(
        0,
        &["brake", "set", "--threshold", "0.2%", "--window", "10m"],
    );
    d.budget_rack_one();
    for n in ["n001", "n041"] {
        d.expect(0, &["run", "demo.reboot_node", &format!("node={n}")]);
    }
    let held = d.json(1, &["run", "demo.reboot_node", "node=n081"]);
    assert_eq!(held["status"], "denied", "{held}");

    let b = admin_browser(&s, 1280, 900);
    b.goto(&s.url("/ui/fleet"));
    assert!(b.text("#brake h3").contains("engaged"));
    assert!(
        b.text("#brake-reason").contains("unhealthy"),
        "{}",
        b.text("#brake")
    );
    assert!(
        b.text("#brake-count").starts_with("3 of 1000"),
        "{}",
        b.text("#brake-count")
    );
    let nodes = b.text("#brake-nodes");
    for n in ["n001", "n041", "n081"] {
        assert!(nodes.contains(n), "{n} is counted unhealthy: {nodes}");
    }
    let budgets = b.text("#budgets");
    assert!(
        budgets.contains("rack-one") && budgets.contains("of 1"),
        "{budgets}"
    );

    // A dry run under the brake names the gate that answered (bug 5).
    let dry = d.json(1, &["run", "demo.reboot_node", "node=n121", "--dry-run"]);
    b.goto(&s.url(&format!("/ui/executions/{}", dry["id"].as_str().unwrap())));
    assert_eq!(b.text("#plan td.gate"), "brake");
    let row = b.text("#plan tbody tr");
    assert!(
        row.contains("denied") && row.contains("brake: storm brake engaged"),
        "{row}"
    );
    b.goto(&s.url("/ui/fleet"));

    // A reason is required; Cancel on the question releases nothing.
    b.type_into("#release-reason", "storm over: switch r03 replaced");
    b.click("#release-button");
    let question = b.wait_for("the confirmation", || b.dialog_text());
    assert!(question.contains("Release the storm brake"), "{question}");
    b.answer_dialog(false);
    assert_eq!(d.json(0, &["brake", "status"])["engaged"], true);
    b.click("#release-button");
    b.wait_for("the confirmation", || b.dialog_text());
    b.answer_dialog(true);
    b.wait_text("#notice", "Brake released");
    assert!(b.text("#brake h3").contains("off"));
    assert_eq!(d.json(0, &["brake", "status"])["engaged"], false);
    let exec = d.json(0, &["run", "demo.reboot_node", "node=n161"]);
    assert_eq!(exec["result"]["outcome"], "accepted", "{exec}");
    assert!(d.brake_release_audited("why: storm over: switch r03 replaced"));

    // Pause and resume, each audited.
    b.type_into("#pause-reason-input", "incident 4711");
    b.eval("window.confirm = function () { return true; }; return null");
    b.click("#pause-button");
    b.wait_text("#notice", "Fleet paused");
    assert!(b.text("#pause-reason").contains("incident 4711"));
    let paused = d.json(0, &["brake", "status"]);
    assert_eq!(paused["paused"]["reason"], "incident 4711", "{paused}");
    b.click("#resume-button");
    b.wait_text("#notice", "Fleet resumed");
    assert!(d.json(0, &["brake", "status"])["paused"].is_null());
}

/// A viewer sees the brake but no control, and the control routes refuse
/// them (the UI hides what the server would refuse, and the server
/// refuses it anyway).
#[test]
fn fleet_controls_need_their_roles() {
    let (d, s) = setup();
    let out = d.expect(0, &["user", "add", "vera", "--role", "viewer"]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let password = stdout.lines().last().unwrap().trim().to_owned();
    let b = Browser::start(1280, 900);
    login(&b, &s, "vera", &password);
    b.goto(&s.url("/ui/fleet"));
    assert!(b.text("#brake h3").contains("off"));
    assert!(b.try_find("#pause-form").is_none());
    assert!(b.try_find("#release-form").is_none());
    // Posting anyway (a hand-made form with this session's CSRF token).
    let csrf = b.eval(
        "var f = document.querySelector('form[action=\"/logout\"] input[name=csrf]'); return f ? f.value : ''",
    );
    let csrf = csrf.as_str().unwrap().to_owned();
    assert!(!csrf.is_empty());
    for (path, needs) in [
        ("/ui/fleet/pause", "operator"),
        ("/ui/fleet/brake/release", "admin"),
    ] {
        b.eval(&format!(
            "var f = document.createElement('form'); f.method = 'post'; f.action = '{path}';
             [['csrf', '{csrf}'], ['reason', 'x']].forEach(function (kv) {{
               var i = document.createElement('input'); i.name = kv[0]; i.value = kv[1]; f.appendChild(i); }});
             document.body.appendChild(f); f.submit(); return null"
        ));
        let page = b.wait_text("body", "needs the");
        assert!(
            page.contains(&format!("needs the {needs} role")),
            "{path}: {page}"
        );
        b.goto(&s.url("/ui/fleet"));
    }
    assert!(d.json(0, &["brake", "status"])["paused"].is_null());
}

/// Saves the main pages as PNGs: into `target/ui-screenshots/`, and into
/// `docs/img/` (what the README shows) with `DROVER_UPDATE_SCREENSHOTS=1`.
#[test]
fn screenshots_of_the_main_pages() {
    let d = Drover::new();
    d.install(&[
        "packs/core",
        "packs/demo",
        "tests/packs/events",
        "tests/packs/flows",
    ]);
    d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");
    for node in ["n003", "n017", "n022"] {
        d.expect(0, &["run", "demo.reboot_node", &format!("node={node}")]);
    }
    d.expect(1, &["run", "demo.reboot_node", "node=n900"]);
    d.expect(0, &["run", "demo.reboot_node", "node=n002", "--dry-run"]);
    d.expect(0, &["run", "core.echo", "message=hello"]);
    // Monitoring lost three nodes that are still in production, and a
    // check could not reach a fourth: the grid shows them apart.
    d.grant("demo@0.1.0", "nodes.health", "*");
    for (node, health) in [
        ("n045", "silent"),
        ("n046", "silent"),
        ("n047", "silent"),
        ("n090", "unreachable"),
    ] {
        d.report_health(node, health, "monitoring: no heartbeat");
    }
    let wf = d.json(0, &["run", "flows.remediate", "node=n031"]);
    // Inquiries: one answered, two waiting (one for another role).
    let asked = d.json(3, &["run", "flows.approve_ops", "node=n030"]);
    let q = inquiry_of(&d, asked["id"].as_str().unwrap());
    d.expect(
        0,
        &["inquiry", "respond", &q, "approve=true", "--as", "operator"],
    );
    d.json(3, &["run", "flows.change_window", "node=n033"]);
    d.json(3, &["run", "flows.approve", "node=n032"]);
    support::server::set_secret(&d, "events.webhook", support::server::HMAC_KEY);
    let s = Server::start(&d);
    let event = ping(&s, br#"{"node":"b12","message":"disk 93% full"}"#);
    support::server::wait_for("the event to be processed", support::server::SETTLE, || {
        support::server::triggers(&d)
            .into_iter()
            .find(|t| t["id"] == event.as_str() && t["state"] == "processed")
    });
    let out = repo().join("target/ui-screenshots");
    let keep = std::env::var("DROVER_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1");
    let b = admin_browser(&s, 1280, 900);
    let shoot = |b: &Browser, name: &str, path: &str, height: u32| {
        b.goto(&s.url(path));
        b.find("main h1");
        let width = b.eval("return window.innerWidth").as_u64().unwrap() as u32;
        if width >= 500 {
            b.set_size(width, height);
        }
        std::thread::sleep(Duration::from_millis(300));
        let file = out.join(format!("{name}.png"));
        b.screenshot(&file);
        if keep {
            let dst = repo().join("docs/img").join(format!("{name}.png"));
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(&file, dst).unwrap();
        }
    };
    let wf_id = wf["id"].as_str().unwrap();
    shoot(&b, "dashboard", "/ui/", 1100);
    shoot(&b, "executions", "/ui/executions", 700);
    shoot(&b, "workflow", &format!("/ui/executions/{wf_id}"), 1200);
    shoot(&b, "packs", "/ui/packs/demo", 1000);
    shoot(&b, "fleet", "/ui/fleet", 1200);
    shoot(&b, "audit", "/ui/audit", 700);
    shoot(&b, "rules", "/ui/rules", 600);
    shoot(&b, "inquiries", "/ui/inquiries", 1400);
    let dry = d.json(0, &["exec", "list"]);
    let dry_id = dry
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["dry_run"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    shoot(&b, "dry-run", &format!("/ui/executions/{dry_id}"), 900);
    shoot(&b, "event-trace", &format!("/ui/triggers/{event}"), 1000);
    shoot(&b, "incidents", "/ui/incidents", 900);
    drop(b);
    let phone = admin_browser(&s, 375, 800);
    shoot(&phone, "phone-dashboard", "/ui/", 1400);
    shoot(&phone, "phone-fleet", "/ui/fleet", 1400);
    for name in ["dashboard", "fleet", "phone-fleet", "workflow", "inquiries"] {
        let png = std::fs::read(out.join(format!("{name}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name}.png is a PNG");
        assert!(png.len() > 10_000, "{name}.png has content");
    }
}

/// Bug 2: a silent node in production looked like a healthy one, and the
/// dashboard and the Fleet page counted differently. Health is drawn apart
/// from state, with the same counts on the grid, the rack and the dashboard.
#[test]
fn silent_nodes_show_apart_from_their_state_with_one_count_everywhere() {
    let (d, s) = setup();
    d.grant("demo@0.1.0", "nodes.health", "*");
    let report = |node: &str, health: &str| {
        d.report_health(node, health, "monitoring: no heartbeat");
    };
    for n in ["n001", "n002", "n003"] {
        report(n, "silent");
    }
    report("n041", "unreachable");
    report("n042", "answering");

    let b = admin_browser(&s, 1400, 900);
    b.goto(&s.url("/ui/fleet"));
    assert_eq!(
        b.attr("#node-n001", "data-state").as_deref(),
        Some("production")
    );
    assert_eq!(
        b.attr("#node-n001", "data-health").as_deref(),
        Some("silent")
    );
    assert!(b.attr("#node-n001", "class").unwrap().contains("h-silent"));
    assert!(
        b.attr("#node-n041", "class")
            .unwrap()
            .contains("h-unreachable")
    );
    assert_eq!(b.attr("#node-n005", "data-health").as_deref(), Some(""));
    assert_eq!(
        b.attr("#node-n001", "aria-label").as_deref(),
        Some("n001: production, silent"),
        "screen readers hear it"
    );
    // Silent does not look like production: another background.
    let colour = |id: &str| {
        b.eval(&format!(
            "return getComputedStyle(document.getElementById('{id}')).backgroundImage \
             + getComputedStyle(document.getElementById('{id}')).backgroundColor"
        ))
    };
    assert_ne!(colour("node-n001"), colour("node-n005"));
    assert_eq!(b.text("#health-silent"), "silent: 3");
    assert_eq!(b.text("#health-unreachable"), "unreachable: 1");
    let rack = b.text("#rack-h-r01");
    assert!(rack.contains("3 silent"), "{rack}");
    // The dashboard says the same numbers.
    b.goto(&s.url("/ui"));
    let health = b.text("#fleet-health");
    assert!(
        health.contains("3 silent") && health.contains("1 unreachable"),
        "{health}"
    );
    // The grid redraws when a node's health changes, without a reload,
    // node by node: what comes back is that node's chip, its rack's
    // heading and the legend, not the grid.
    b.goto(&s.url("/ui/fleet"));
    let cursor = b.attr("#grid-cursor", "value").unwrap();
    report("n002", "answering");
    b.wait_text("#health-silent", "silent: 2");
    assert!(!b.attr("#node-n002", "class").unwrap().contains("h-silent"));
    assert!(b.text("#rack-h-r01").contains("2 silent"));
    let update = b.eval(&format!(
        "var x = new XMLHttpRequest(); x.open('GET', '/ui/fleet/changes?after={cursor}', false);
         x.send(); return x.responseText"
    ));
    let update = update.as_str().unwrap();
    assert!(update.contains("id=\"node-n002\""), "{update}");
    assert!(!update.contains("id=\"node-n005\""), "{update}");
    assert!(update.len() < 20_000, "{} bytes for one node", update.len());
    // A change of state ends the report: the reboot answers it.
    d.expect(0, &["node", "drain", "n001", "--reason", "look at it"]);
    b.wait_text("#health-silent", "silent: 1");
    assert_eq!(
        b.attr("#node-n001", "data-state").as_deref(),
        Some("draining")
    );
}

/// A page per node: its state and health, its timeline, requests,
/// executions and audit records, and what may be done to it. Chips link
/// there; an unknown or hostile name is a plain 404.
#[test]
fn a_node_has_its_own_page_with_its_story() {
    let (d, s) = setup();
    d.grant("demo@0.1.0", "nodes.health", "*");
    d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");
    d.report_health("n002", "silent", "no heartbeat for 5 min");
    let reboot = d.json(0, &["run", "demo.reboot_node", "node=n002"]);
    let reboot_id = reboot["id"].as_str().unwrap().to_owned();
    d.expect(0, &["run", "demo.reboot_node", "node=n003"]);

    let b = admin_browser(&s, 1280, 900);
    b.goto(&s.url("/ui/fleet"));
    // The chip links to the node's page (the live grid may redraw it under
    // a click, so follow its link).
    let href = b.attr("#node-n002", "href").unwrap();
    assert_eq!(href, "/ui/nodes/n002");
    b.goto(&s.url(&href));
    assert!(b.text("h1").contains("n002"), "{}", b.text("body"));
    let timeline = b.text("#timeline");
    assert!(
        timeline.contains("health") && timeline.contains("silent: no heartbeat for 5 min"),
        "{timeline}"
    );
    assert!(b.text("#health-report").contains("demo.report_health"));
    let requests = b.text("#requests");
    assert!(requests.contains("reboot"), "{requests}");
    // Executions about this node only, linked by their node parameter.
    let execs = b.text("#node-executions");
    assert!(execs.contains(&reboot_id), "{execs}");
    assert!(execs.contains("demo.report_health"), "{execs}");
    assert!(!execs.contains("n003"), "{execs}");
    let audit = b.text("#node-audit");
    assert!(
        audit.contains("nodes.reboot") && audit.contains("nodes.health"),
        "{audit}"
    );
    // What may be run on it opens the run form with the node filled in.
    let link = b
        .attr("#node-actions a[href*='demo.reboot_node']", "href")
        .unwrap();
    b.goto(&s.url(&link.replace("&amp;", "&")));
    assert_eq!(b.attr("#p-node", "value").as_deref(), Some("n002"));
    // The executions list filters by node, and keeps the filter in its URL.
    b.goto(&s.url("/ui/executions?node=n003"));
    let rows = b.text("#executions tbody");
    assert!(rows.contains("n003") && !rows.contains("n002"), "{rows}");
    assert_eq!(b.attr("input[name=node]", "value").as_deref(), Some("n003"));

    // The anonymous are sent to the login page, from the node's page and
    // from the grid's updates alike; a cursor that is not a number is 400.
    let anonymous: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    for path in ["/ui/nodes/n002", "/ui/fleet/changes?after=0"] {
        let r = anonymous.get(&s.url(path)).call().unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()["location"], "/login", "{path}");
    }
    let bad = b.eval(
        "var x = new XMLHttpRequest(); x.open('GET', '/ui/fleet/changes?after=1%20OR%201', false);
         x.send(); return x.status",
    );
    assert_eq!(bad, 400);

    // Unknown and hostile names: a 404 that shows the name as text.
    b.goto(&s.url("/ui/nodes/n9999"));
    assert!(
        b.text("body").contains("no node \"n9999\""),
        "{}",
        b.text("body")
    );
    b.goto(&s.url("/ui/nodes/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"));
    assert!(b.text("body").contains("<img src=x onerror=alert(1)>"));
    assert!(b.dialog_text().is_none(), "the name ran as script");
    assert!(b.try_find("main img").is_none());
}

/// Starts `action` from the run page with `params` (a live run says yes
/// to its question) and returns the new execution's id once its page is
/// shown, without waiting for it to end.
fn start_from_page(b: &Browser, s: &Server, action: &str, params: &[(&str, &str)]) -> String {
    b.goto(&s.url(&format!("/ui/run?action={action}")));
    for (name, value) in params {
        b.clear(&format!("#p-{name}"));
        b.type_into(&format!("#p-{name}"), value);
    }
    b.click("#dry-run");
    b.eval("window.confirm = function () { return true; }; return null");
    b.click("#run-button");
    let url = b.wait_for("the execution page", || {
        let u = b.url();
        u.contains("/ui/executions/").then_some(u)
    });
    url.rsplit('/').next().unwrap().to_owned()
}

/// Posts a hand-made form to `path` with this session's CSRF token and
/// `fields`, as a page would (or an attacker's copy of one).
fn post_form(b: &Browser, path: &str, fields: &[(&str, &str)]) {
    let csrf = b.eval(
        "var f = document.querySelector('form[action=\"/logout\"] input[name=csrf]'); return f ? f.value : ''",
    );
    let mut all = vec![("csrf".to_owned(), csrf.as_str().unwrap().to_owned())];
    all.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let all = serde_json::to_string(&all).unwrap();
    b.eval(&format!(
        "var f = document.createElement('form'); f.method = 'post'; f.action = {path:?};
         {all}.forEach(function (kv) {{
           var i = document.createElement('input'); i.type = 'hidden'; i.name = kv[0]; i.value = kv[1]; f.appendChild(i); }});
         document.body.appendChild(f); f.submit(); return null"
    ));
}

/// Waits (up to `secs`) until `#exec-status` contains `needle`: the live
/// page follows the run (longer than `wait_text`'s 10 s).
fn wait_status(b: &Browser, needle: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = b.try_find("#exec-status").map(|_| b.text("#exec-status"))
            && t.contains(needle)
        {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "the status never said {needle:?}: {}",
            b.text("main")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A workflow in flight can be paused, resumed and canceled from its
/// page (the buttons that apply to its state, cancel asked first), through
/// the same operations as `drover exec pause|resume|cancel`; once ended it
/// runs again with the same parameters.
#[test]
fn a_running_workflow_is_paused_resumed_and_canceled_from_its_page() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo", "tests/packs/flows"]);
    let s = Server::start(&d);
    let b = admin_browser(&s, 1280, 900);
    let id = start_from_page(&b, &s, "flows.naps", &[("seconds", "3")]);
    // In flight: pause and cancel, nothing that needs an ended run.
    b.find("#pause-button");
    b.find("#cancel-button");
    assert!(b.try_find("#resume-button").is_none());
    assert!(b.try_find("#run-again-button").is_none());
    assert!(b.try_find("#rerun-failed-button").is_none());

    b.click_fresh("#pause-button");
    assert!(b.wait_text("#notice", "Pause requested").contains("resume"));
    wait_status(&b, "paused", 20);
    b.find("#resume-button");
    assert!(b.try_find("#pause-button").is_none());
    let active = d.json(0, &["exec", "list", "--active"]);
    assert_eq!(active[0]["status"], "paused", "{active:#}");

    b.click_fresh("#resume-button");
    b.wait_text("#notice", "Resumed");
    b.find("#pause-button");

    // Cancel asks first; No leaves it running.
    b.click_fresh("#cancel-button");
    let question = b.wait_for("the confirmation", || b.dialog_text());
    assert!(
        question.contains("Cancel workflow flows.naps"),
        "{question}"
    );
    b.answer_dialog(false);
    assert!(
        b.try_find("#notice")
            .is_none_or(|_| !b.text("#notice").contains("Cancel"))
    );
    b.click_fresh("#cancel-button");
    b.wait_for("the confirmation", || b.dialog_text());
    b.answer_dialog(true);
    b.wait_text("#notice", "Cancel requested");
    wait_status(&b, "canceled", 20);
    assert_eq!(d.json(0, &["exec", "get", &id])["status"], "canceled");

    // Ended: no pause or cancel; run again with the same parameters, asked
    // first like the run form (a live workflow acts).
    assert!(b.try_find("#pause-button").is_none());
    assert!(b.try_find("#cancel-button").is_none());
    b.click_fresh("#run-again-button");
    let question = b.wait_for("the confirmation", || b.dialog_text());
    assert!(question.contains("for real"), "{question}");
    b.answer_dialog(true);
    let again = b.wait_for("the new execution's page", || {
        let u = b.url();
        (u.contains("/ui/executions/") && !u.contains(&id)).then_some(u)
    });
    let new_id = again
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    b.wait_text("#notice", "same parameters");
    let params = b.text("#h-params + pre");
    assert!(params.contains("\"seconds\": 3"), "{params}");
    let h1 = b.text("main h1");
    assert!(h1.contains("flows.naps") && h1.contains(&new_id), "{h1}");
}

/// A failed workflow is rerun from its failed task (after the operator
/// fixed the cause), as `drover exec rerun` does: only that task runs
/// again. Its graph's tasks lead to their executions, and the timeline
/// shows when each task ran.
#[test]
fn a_failed_workflow_reruns_from_its_failed_task() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo", "tests/packs/flows"]);
    let s = Server::start(&d);
    let b = admin_browser(&s, 1280, 900);
    // No grant: both reboots are denied, the workflow fails.
    let params = [("first", "n001"), ("second", "n002")];
    let url = run_with(&b, &s, "flows.reboot_twice", &params, false);
    let id = url.rsplit('/').next().unwrap().to_owned();
    wait_status(&b, "failed", 20);
    assert!(b.try_find("#pause-button").is_none());
    assert!(b.text("#rerun-failed-button").contains("reboot_second"));
    b.find("#run-again-button");

    // The timeline: one bar per task, in the order they ran.
    let rows = b.eval(
        "return [...document.querySelectorAll('#timeline tbody tr')].map(r => r.dataset.task)",
    );
    assert_eq!(rows, serde_json::json!(["reboot_first", "reboot_second"]));
    assert_eq!(
        b.eval("return document.querySelectorAll('#timeline rect.tl-seg').length"),
        2
    );
    // A task of the graph leads to its execution.
    let href = b
        .attr(
            "figure.graph a.task-link[aria-label*='reboot_first']",
            "href",
        )
        .unwrap();
    b.click("figure.graph a.task-link[aria-label*='reboot_first']");
    b.wait_for("the task's execution", || {
        b.url().ends_with(&href).then_some(())
    });
    assert!(b.text("main h1").contains("demo.reboot_node"));
    assert!(b.text("main").contains("Task reboot_first of workflow"));

    // The cause fixed, rerun from the failed task (asked first).
    d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");
    b.goto(&url);
    b.click_fresh("#rerun-failed-button");
    let question = b.wait_for("the confirmation", || b.dialog_text());
    assert!(question.contains("reboot_second"), "{question}");
    b.answer_dialog(true);
    let again = b.wait_for("the rerun's page", || {
        let u = b.url();
        (u.contains("/ui/executions/") && !u.contains(&id)).then_some(u)
    });
    b.wait_text("#notice", "Rerun of");
    wait_status(&b, "succeeded", 30);
    let new_id = again
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let tree = d.json(0, &["exec", "get", &new_id, "--tree"]);
    let tasks: Vec<&str> = tree["children"]
        .as_array()
        .unwrap_or_else(|| panic!("{tree:#}"))
        .iter()
        .map(|c| c["task"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, ["reboot_second"], "only the failed task ran again");
}

/// The run controls are the operator's: a viewer sees none and the
/// server refuses them anyway; an unknown id is a 404, an action that
/// does not apply a clear 409 on the page; a hostile parameter run again
/// is shown as text.
#[test]
fn run_controls_need_their_role_and_refuse_what_does_not_apply() {
    let (d, s) = setup();
    let hostile = format!(
        "<img src=x onerror=\"document.title='owned'\"><script>document.title='owned'</script>{}",
        "x".repeat(20_000)
    );
    let ended = d.json(0, &["run", "core.echo", &format!("message={hostile}")]);
    let id = ended["id"].as_str().unwrap().to_owned();
    let out = d.expect(0, &["user", "add", "vera", "--role", "viewer"]);
    let password = support::last_line(&out);

    let b = admin_browser(&s, 1280, 900);
    b.goto(&s.url(&format!("/ui/executions/{id}")));
    // Not a workflow: nothing to pause, cancel or rerun from a task.
    assert!(b.try_find("#cancel-button").is_none());
    assert!(b.try_find("#rerun-failed-button").is_none());
    // core.echo acts on nothing: it runs again without a question.
    b.click_fresh("#run-again-button");
    assert!(b.dialog_text().is_none());
    b.wait_text("#notice", "same parameters");
    assert!(!b.url().contains(&id));
    let shown = b.text("#h-params + pre");
    assert!(shown.contains("<img src=x onerror="), "shown as text");
    assert_eq!(
        b.eval("return document.querySelectorAll('main img, main script').length"),
        0
    );
    assert_ne!(b.eval("return document.title"), "owned");

    support::server::wait_for("the run again to end", Duration::from_secs(30), || {
        (d.json(0, &["exec", "list"]).as_array().unwrap().len() == 2).then_some(())
    });
    // Refused with a reason on the page: a run that is not a workflow.
    post_form(&b, &format!("/ui/executions/{id}/cancel"), &[]);
    let refused = b.wait_text("#action-error", "not a workflow");
    assert!(refused.contains("core.echo"), "{refused}");
    // Unknown ids: a clear 404.
    for bad in ["01JZZZZZZZZZZZZZZZZZZZZZZZ", "not-an-id", "%3Cscript%3E"] {
        post_form(&b, &format!("/ui/executions/{bad}/pause"), &[]);
        let page = b.wait_text("body", "404");
        assert!(page.contains("execution"), "{page}");
        assert_eq!(
            b.eval("return document.querySelectorAll('script:not([src])').length"),
            0
        );
        b.goto(&s.url("/ui/"));
    }

    // A viewer sees no control; posting anyway is refused.
    b.click("#logout");
    login(&b, &s, "vera", &password);
    b.goto(&s.url(&format!("/ui/executions/{id}")));
    b.find("#h-params");
    assert!(b.try_find("#run-again-button").is_none());
    for verb in ["cancel", "pause", "resume", "rerun", "run-again"] {
        post_form(&b, &format!("/ui/executions/{id}/{verb}"), &[]);
        let page = b.wait_text("body", "needs the");
        assert!(page.contains("needs the operator role"), "{verb}: {page}");
        b.goto(&s.url("/ui/"));
    }
    assert_eq!(
        d.json(0, &["exec", "list"]).as_array().unwrap().len(),
        2,
        "only the admin's run again ran, none of the viewer's"
    );
}

/// A polling task (like batchops.wait_for_node) refused a few times, then
/// allowed, is one task retried N times that succeeded: no red row; red
/// keeps meaning that the run failed.
#[test]
fn a_retried_then_successful_task_is_one_green_row() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo", "tests/packs/flows"]);
    let s = Server::start(&d);
    let b = admin_browser(&s, 1280, 900);
    let id = start_from_page(&b, &s, "flows.poll", &[("node", "n001")]);
    // Refused (no grant yet) at least twice: still one row, retrying.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let tree = d.json(0, &["exec", "get", &id, "--tree"]);
        let n = tree["children"].as_array().map_or(0, Vec::len);
        if n >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no retries: {tree:#}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let row = b.wait_text("#tasks tr.task-run[data-task=reboot]", "retrying");
    assert!(row.contains("reboot"), "{row}");
    d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");
    wait_status(&b, "succeeded", 30);
    let runs = b.eval("return document.querySelectorAll('#tasks tr.task-run').length");
    assert_eq!(runs, 1, "{}", b.text("#tasks"));
    let row = b.text("#tasks tr.task-run[data-task=reboot]");
    assert!(row.contains("succeeded"), "{row}");
    let tries = d.json(0, &["exec", "get", &id, "--tree"])["children"]
        .as_array()
        .unwrap()
        .len();
    assert!(tries >= 3, "two refusals and the reboot: {tries}");
    assert!(
        row.contains(&format!("retried {} times", tries - 1)),
        "{row}"
    );
    // No red in the tasks: the refused attempts are listed, muted.
    let red = b.eval(
        "return document.querySelectorAll('#tasks .s-failed, #tasks .s-denied, #tasks .s-timeout').length",
    );
    assert_eq!(red, 0, "{}", b.text("#tasks"));
    b.click("#tasks tr.task-run[data-task=reboot] summary");
    let attempts = b.eval("return document.querySelectorAll('#tasks .attempt').length");
    assert_eq!(attempts.as_u64(), Some(tries as u64 - 1));
    // The timeline draws each attempt on the task's one row.
    assert_eq!(
        b.eval("return document.querySelectorAll('#timeline tbody tr').length"),
        1
    );
    assert_eq!(
        b.eval("return document.querySelectorAll('#timeline rect.tl-seg').length")
            .as_u64(),
        Some(tries as u64)
    );
}

/// Contrast ratio (WCAG) of each `.status`, `.tag` and `.error` element's
/// text on its own background, and the page's text on its background, in
/// the page as the browser shows it.
const CONTRAST_JS: &str = "
  function rgb(c) { var m = c.match(/[\\d.]+/g).map(Number); return m; }
  function lum(c) { var v = rgb(c).slice(0, 3).map(function (x) { x /= 255;
      return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; }
  function ratio(a, b) { var x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }
  function bg(e) { while (e) { var c = getComputedStyle(e).backgroundColor;
      if (c && rgb(c).length === 3 || (rgb(c)[3] || 0) > 0) { return c; } e = e.parentElement; }
    return 'rgb(255, 255, 255)'; }
  var low = [];
  document.querySelectorAll('.status, .tag, .error, .notice, td, th, a, button').forEach(function (e) {
    if (!e.textContent.trim() || e.closest('svg')) { return; }
    var r = ratio(getComputedStyle(e).color, bg(e));
    if (r < 4.5) { low.push(e.className + ' ' + e.textContent.trim().slice(0, 20) + ': ' + r.toFixed(2)); }
  });
  return low;";

/// Dark mode follows the system; the status colours stay readable in
/// both schemes; focus is visible; at 800 px no page scrolls sideways
/// (wide tables scroll inside their box).
#[test]
fn dark_mode_follows_the_system_and_pages_fit_800_px() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo", "tests/packs/flows"]);
    d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");
    let wf = d.json(
        0,
        &["run", "flows.reboot_twice", "first=n001", "second=n002"],
    );
    let failed = d.json(
        1,
        &["run", "flows.reboot_twice", "first=n900", "second=n901"],
    );
    d.json(0, &["run", "flows.retrying"]);
    d.json(0, &["run", "demo.reboot_node", "node=n003", "--dry-run"]);
    let s = Server::start(&d);
    let b = admin_browser(&s, 800, 900);
    let pages = [
        "/ui/".to_owned(),
        "/ui/executions".to_owned(),
        format!("/ui/executions/{}", wf["id"].as_str().unwrap()),
        format!("/ui/executions/{}", failed["id"].as_str().unwrap()),
        "/ui/run?action=flows.reboot_twice".to_owned(),
        "/ui/packs/demo".to_owned(),
        "/ui/audit".to_owned(),
        "/ui/rules".to_owned(),
        "/ui/inquiries".to_owned(),
    ];
    for scheme in ["light", "dark"] {
        b.color_scheme(scheme);
        for page in &pages {
            b.goto(&s.url(page));
            b.find("main h1");
            let dark = b.eval(
                "var c = getComputedStyle(document.documentElement).backgroundColor.match(/\\d+/g).map(Number);
                 return (c[0] + c[1] + c[2]) / 3 < 80",
            );
            assert_eq!(dark, scheme == "dark", "{page} in {scheme}");
            let low = b.eval(CONTRAST_JS);
            assert_eq!(
                low,
                serde_json::json!([]),
                "{page} in {scheme}: low contrast"
            );
            let overflow = b.eval(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            );
            assert!(
                overflow.as_i64().unwrap() <= 0,
                "{page} scrolls sideways at 800 px by {overflow} px"
            );
        }
        // Focus is visible on a button and an input reached by keyboard.
        b.goto(&s.url("/ui/run?action=flows.reboot_twice"));
        b.keys("\u{E004}");
        for css in ["#p-first", "#run-button"] {
            b.eval(&format!(
                "document.querySelector('{css}').focus(); return null"
            ));
            let ring = b.eval(
                "var s = getComputedStyle(document.activeElement);
                 return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2",
            );
            assert_eq!(ring, true, "{css} shows its focus in {scheme}");
        }
    }
}

/// The executions list shows top-level runs: a workflow is one row with
/// the count of its task runs, and its toggle lists them (loaded when
/// opened); "show task runs too" is a URL parameter that restores the flat
/// list. Times read relative ("just now") with the UTC time on hover.
#[test]
fn a_workflows_task_runs_are_grouped_under_its_row() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo", "tests/packs/flows"]);
    d.grant("demo@0.1.0", "nodes.reboot", "rack=r01");
    let s = Server::start(&d);
    let wf = d.json(
        0,
        &["run", "flows.reboot_twice", "first=n001", "second=n002"],
    );
    let wf_id = wf["id"].as_str().unwrap().to_owned();
    let echo = d.json(0, &["run", "core.echo", "message=alone"]);
    let echo_id = echo["id"].as_str().unwrap().to_owned();
    let b = admin_browser(&s, 1280, 900);
    b.goto(&s.url("/ui/executions"));
    let rows = b.text("#executions tbody");
    assert!(rows.contains(&wf_id) && rows.contains(&echo_id), "{rows}");
    assert!(
        !rows.contains("demo.reboot_node"),
        "task runs listed: {rows}"
    );
    let toggle = format!("#executions tr:has(a[href='/ui/executions/{wf_id}']) details.kids");
    assert!(b.text(&format!("{toggle} summary")).contains("2 task runs"));
    assert!(
        b.try_find(&format!(
            "#executions tr:has(a[href='/ui/executions/{echo_id}']) details.kids"
        ))
        .is_none(),
        "a plain action has no toggle"
    );
    // The live list may redraw the rows (closing the toggle): open it
    // until its task runs show.
    let kids = b.wait_for("the task runs under the toggle", || {
        let open = b.eval(&format!(
            "var d = document.querySelector(\"{toggle}\"); return d ? d.open : false"
        ));
        if open != true {
            b.click_fresh(&format!("{toggle} summary"));
        }
        let t = b.eval(&format!(
            "var k = document.querySelector(\"{toggle} .kids-list\"); return k ? k.innerText : ''"
        ));
        let t = t.as_str()?.to_owned();
        t.contains("reboot_second").then_some(t)
    });
    assert!(
        kids.contains("reboot_first") && kids.contains("demo.reboot_node"),
        "{kids}"
    );
    // Relative times, the absolute UTC time on hover.
    let title = b
        .attr("#executions tbody tr:first-child time", "title")
        .unwrap();
    assert!(title.ends_with('Z') && title.starts_with("20"), "{title}");
    let when = b.text("#executions tbody tr:first-child time");
    assert!(when == "just now" || when.ends_with("min ago"), "{when}");
    // Task runs too: a checkbox, kept in the URL.
    b.click("#find input[name=tasks]");
    b.click("#find button[type=submit]");
    b.wait_for("the flat list", || {
        b.url().contains("tasks=1").then_some(())
    });
    let rows = b.text("#executions tbody");
    assert!(rows.matches("demo.reboot_node").count() >= 2, "{rows}");
    assert!(b.try_find("#grouping-note").is_none());
    assert_eq!(
        b.eval("return document.querySelector('#find input[name=tasks]').checked"),
        true
    );
}

/// Runs are found by the rule that started them, their actor, a time range
/// and a search over their parameters, each kept in the URL; a search is
/// literal (`%` and `_` are not wildcards) and says how far it read; bad
/// values are a 400 that says which field, and hostile ones stay text.
#[test]
fn runs_are_found_by_rule_actor_time_and_parameters() {
    let d = Drover::new();
    d.install(&["packs/core", "tests/packs/events"]);
    support::server::set_secret(&d, "events.webhook", support::server::HMAC_KEY);
    let s = Server::start(&d);
    assert!(ping_fires(&d, &s));
    let odd = d.json(0, &["run", "core.echo", "message=50%_off Disk"]);
    let odd_id = odd["id"].as_str().unwrap().to_owned();
    d.expect(0, &["run", "core.echo", "message=500 off"]);
    let runs = d.json(0, &["exec", "list"]);
    let by_rule = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["actor"] == "rule:events.echo_ping")
        .unwrap_or_else(|| panic!("no run of the rule: {runs:#}"));
    let rule_id = by_rule["id"].as_str().unwrap().to_owned();
    let cli_actor = odd_id_actor(&runs, &odd_id);

    let b = admin_browser(&s, 1280, 900);
    b.goto(&s.url("/ui/executions"));
    // The rule, typed into the form, lands in the URL.
    b.type_into("#find input[name=rule]", "events.echo_ping");
    b.click("#find button[type=submit]");
    b.wait_for("the rule filter", || {
        b.url().contains("rule=events.echo_ping").then_some(())
    });
    let rows = b.text("#executions tbody");
    assert!(rows.contains(&rule_id) && !rows.contains(&odd_id), "{rows}");
    assert_eq!(
        b.attr("#find input[name=rule]", "value").as_deref(),
        Some("events.echo_ping")
    );
    b.goto(&s.url(&format!(
        "/ui/executions?actor={}",
        cli_actor.replace(' ', "%20")
    )));
    let rows = b.text("#executions tbody");
    assert!(rows.contains(&odd_id) && !rows.contains(&rule_id), "{rows}");
    // A time range: all of them are from the last hour, none older.
    b.goto(&s.url("/ui/executions?since=1h"));
    assert!(b.text("#executions tbody").contains(&rule_id));
    b.goto(&s.url("/ui/executions?until=1h"));
    assert!(b.text("#executions tbody").contains("No executions."));
    // The search is literal and ignores case.
    b.goto(&s.url("/ui/executions"));
    b.type_into("#find input[name=q]", "50%_OFF");
    b.click("#find button[type=submit]");
    b.wait_for("the search", || {
        b.url().contains("q=50%25_OFF").then_some(())
    });
    let rows = b.text("#executions tbody");
    assert!(rows.contains(&odd_id), "{rows}");
    assert_eq!(
        b.eval("return document.querySelectorAll('#executions tbody a.mono').length"),
        1
    );
    assert!(
        b.text("#search-note")
            .contains("Searched the parameters of")
    );
    b.goto(&s.url("/ui/executions?q=0%25"));
    assert_eq!(
        b.eval("return document.querySelectorAll('#executions tbody a.mono').length"),
        1,
        "% is not a wildcard"
    );
    // Bad values: a 400 naming the field.
    for (query, says) in [
        ("since=yesterday", "since:"),
        ("status=exploded", "unknown status"),
        ("before=nope", "execution id"),
    ] {
        b.goto(&s.url(&format!("/ui/executions?{query}")));
        let body = b.text("body");
        assert!(
            body.contains("400") && body.contains(says),
            "{query}: {body}"
        );
    }
    let long = "x".repeat(201);
    b.goto(&s.url(&format!("/ui/executions?q={long}")));
    assert!(b.text("body").contains("longer than 200"));
    // Hostile input stays text, and SQL in it is only searched for.
    b.goto(&s.url(
        "/ui/executions?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E&actor=%27%20OR%201%3D1%20--",
    ));
    assert!(b.dialog_text().is_none(), "the search ran as script");
    assert!(b.try_find("main img").is_none());
    assert_eq!(
        b.attr("#find input[name=q]", "value").as_deref(),
        Some("<img src=x onerror=alert(1)>")
    );
    assert!(b.text("#executions tbody").contains("No executions."));
    b.goto(&s.url("/ui/executions"));
    assert!(b.text("#executions tbody").contains(&odd_id));
}

/// The actor of execution `id` in an `exec list` answer.
fn odd_id_actor(runs: &serde_json::Value, id: &str) -> String {
    runs.as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .and_then(|e| e["actor"].as_str())
        .unwrap_or_else(|| panic!("no {id} in {runs:#}"))
        .to_owned()
}

/// Posts a signed `events.ping` with `body`; its trigger instance's id.
fn ping(s: &Server, body: &[u8]) -> String {
    use support::server as srv;
    srv::post(
        &srv::agent(Duration::from_secs(30)),
        &s.url("/api/v1/webhooks/events.ping"),
        &[("x-drover-signature", &srv::signature(body))],
        body,
    )
    .unwrap()
    .accepted_id()
}

/// An event is followed in the browser from its arrival to the rules it
/// matched (or why not), the run it started, and back from the run to the
/// event; the rule's page lists it among its recent matches. A payload is
/// whatever the sender wrote: markup in it is shown, never run.
#[test]
fn an_event_is_traced_to_its_rules_and_runs_and_back() {
    let d = Drover::new();
    d.install(&["packs/core", "tests/packs/events"]);
    support::server::set_secret(&d, "events.webhook", support::server::HMAC_KEY);
    let s = Server::start(&d);

    // The anonymous are sent to the login page.
    let agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .new_agent();
    for path in ["/ui/triggers", "/ui/triggers/01NOSUCH", "/ui/incidents"] {
        let answer = agent.get(&s.url(path)).call().unwrap();
        assert!(answer.status().is_redirection(), "{path}: {answer:?}");
        assert!(
            answer.headers()["location"]
                .to_str()
                .unwrap()
                .contains("/login"),
            "{path}"
        );
    }

    let hostile = r#"<script>document.title='owned'</script><img src=x onerror=alert(1)>"#;
    let body = serde_json::json!({"node": "b7", "message": hostile}).to_string();
    let id = ping(&s, body.as_bytes());
    let t = support::server::wait_for("the event to be processed", support::server::SETTLE, || {
        support::server::triggers(&d)
            .into_iter()
            .find(|t| t["id"] == id.as_str() && t["state"] == "processed")
    });
    let execution = support::server::one_scheduled_echo(&t);

    let b = admin_browser(&s, 1280, 900);
    b.goto(&s.url("/ui/triggers"));
    b.click(&format!("a[href='/ui/triggers/{id}']"));
    b.wait_text("h1", &id);
    assert!(
        b.text("main pre").contains("<script>"),
        "the payload is shown as text"
    );
    assert_eq!(
        b.eval("return document.querySelectorAll('main script, main img').length"),
        0,
        "markup in a payload is never rendered"
    );
    assert_ne!(b.eval("return document.title"), "owned");

    // The rule that matched, with the run it started (wait for it to end).
    let echo = "[id='rule-events.echo_ping']";
    b.wait_for("the run to end", || {
        b.goto(&s.url(&format!("/ui/triggers/{id}")));
        b.text(echo).contains("succeeded").then_some(())
    });
    assert!(b.text(&format!("{echo} .verdict")).contains("scheduled"));
    // The rules that did not match say which criterion failed.
    let bad = b.text("[id='rule-events.bad_param']");
    assert!(bad.contains("no match"), "{bad}");
    assert!(
        bad.contains("trigger.node is \"b7\"") && bad.contains("x1"),
        "{bad}"
    );

    // From the event to its run, and back.
    b.click(&format!("{echo} a[href='/ui/executions/{execution}']"));
    let origin = b.wait_text("#exec-origin", "events.echo_ping");
    assert!(origin.contains(&id), "{origin}");
    b.click(&format!("#exec-origin a[href='/ui/triggers/{id}']"));
    b.wait_text("h1", &id);

    // The rule's page lists its recent matches.
    b.goto(&s.url("/ui/rules/events.echo_ping"));
    let matches = b.text("#matches");
    assert!(
        matches.contains(&id) && matches.contains(&execution),
        "{matches}"
    );
    assert!(matches.contains("succeeded"), "{matches}");
    b.goto(&s.url("/ui/rules/events.bad_param"));
    assert!(b.text("#h-matches + p").contains("No event has matched"));
}

/// The grid follows the inventory too: a node an import removes leaves the
/// page, one it adds appears in its rack, one it moves changes rack, all
/// without a reload.
#[test]
fn the_grid_follows_an_inventory_import_without_reload() {
    let d = Drover::new();
    let file = d.dir.path().join("fleet.csv");
    let write = |rows: &[(&str, &str)]| {
        let mut text = "name,driver,label.rack\n".to_owned();
        for (name, rack) in rows {
            text.push_str(&format!("{name},sim,{rack}\n"));
        }
        std::fs::write(&file, text).unwrap();
    };
    write(&[("a1", "r1"), ("a2", "r1"), ("b1", "r2")]);
    d.expect(0, &["node", "import", file.to_str().unwrap()]);
    let s = Server::start(&d);
    let b = admin_browser(&s, 1280, 900);
    b.goto(&s.url("/ui/fleet"));
    b.find("#node-a2");
    b.eval("window.droverMarker = 7; return null");

    write(&[("a1", "r2"), ("b1", "r2"), ("b2", "r2"), ("a3", "r2")]);
    d.expect(0, &["node", "import", file.to_str().unwrap(), "--replace"]);
    b.wait_for("b2 to appear in r2", || {
        b.try_find("#rack-r2 #node-b2").map(|_| ())
    });
    b.wait_for("a2 to leave", || {
        b.try_find("#node-a2").is_none().then_some(())
    });
    b.find("#rack-r2 #node-a3");
    b.find("#rack-r2 #node-a1");
    assert_eq!(b.eval("return window.droverMarker"), 7, "not reloaded");
    let history = d.json(0, &["node", "show", "b2", "--history"]);
    assert!(
        history.to_string().contains("added by an inventory import"),
        "{history:#}"
    );
}

/// The change log in the browser (issue 16, part 5): an admin promotes a
/// shadowed candidate from its pack page, the confirmation asks for the
/// reason (required), and the change log page shows who, what, the diff
/// and the reason, escaped; its filters live in the URL. A stale form
/// (wrong CSRF token) changes and records nothing; the anonymous are sent
/// to the login page; a viewer reads the log.
#[test]
fn a_promotion_with_its_reason_shows_in_the_change_log() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo"]);
    let bumped = d.copy_pack("packs/demo", "demo-0.2.0");
    support::edit_manifest(&bumped, "version: 0.1.0", "version: 0.2.0");
    d.expect(0, &["pack", "install", bumped.to_str().unwrap()]);
    let s = Server::start(&d);

    // The anonymous get the login page, not the log.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let anon = agent.get(&s.url("/ui/changes")).call().unwrap();
    assert_eq!(anon.status().as_u16(), 303);
    assert_eq!(anon.headers()["location"], "/login");

    let b = admin_browser(&s, 1280, 900);
    b.goto(&s.url("/ui/packs/demo?version=0.2.0"));
    b.click("form[action=\"/ui/packs/demo/promote\"] button");
    b.wait_text("h1", "Confirm the promotion");
    assert_eq!(b.attr("#reason", "required").as_deref(), Some("true"));
    // A stale form is refused: nothing promoted, nothing recorded.
    b.eval("document.querySelector('#confirm-button').form.querySelector('input[name=csrf]').value = 'stale'; return null");
    b.type_into("#reason", "stale");
    b.click("#confirm-button");
    b.wait_text("body", "CSRF token");
    assert_eq!(
        d.json(0, &["pack", "show", "demo"])["pack"]["version"],
        "0.1.0"
    );
    assert!(
        d.json(0, &["changes", "list", "--kind", "pack.promote"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    b.goto(&s.url("/ui/packs/demo?version=0.2.0"));
    b.click("form[action=\"/ui/packs/demo/promote\"] button");
    b.wait_text("h1", "Confirm the promotion");
    b.type_into("#reason", "CHG-1234: <b>ssh</b> timeout raised");
    b.click("#confirm-button");
    b.wait_text("#notice", "Promoted");
    assert_eq!(
        d.json(0, &["pack", "show", "demo"])["pack"]["version"],
        "0.2.0"
    );

    // The change log: from the nav, the promotion first with its diff.
    b.click("nav a[href=\"/ui/changes\"]");
    b.wait_text("h1", "Change log");
    let row = b.text("#changes tbody tr.change");
    assert!(
        row.contains("pack.promote") && row.contains("demo@0.2.0"),
        "{row}"
    );
    assert!(row.contains("user:admin"), "{row}");
    assert!(row.contains("live_version: 0.1.0 → 0.2.0"), "{row}");
    assert!(row.contains("shadow: true → false"), "{row}");
    // The reason is text, not markup.
    assert_eq!(
        b.text("#changes tbody tr.change td.reason"),
        "CHG-1234: <b>ssh</b> timeout raised"
    );
    assert!(b.try_find("#changes td.reason b").is_none());
    // Filters are in the URL: a link to them shows the same rows.
    b.select("select[name=kind]", "pack.install");
    b.click("form.filters button[type=submit]");
    b.wait_for("the filtered URL", || {
        b.url().contains("kind=pack.install").then_some(())
    });
    let rows = b.eval("return document.querySelectorAll('#changes tr.change').length");
    assert_eq!(rows, 3, "three installs");
    b.goto(&s.url("/ui/changes?kind=pack.promote&subject=demo&since=1h"));
    let rows = b.eval("return document.querySelectorAll('#changes tr.change').length");
    assert_eq!(rows, 1);
    b.goto(&s.url("/ui/changes?kind=nonsense"));
    b.wait_text("body", "unknown kind");

    // A viewer reads the log.
    let out = d.expect(0, &["user", "add", "vera", "--role", "viewer"]);
    let password = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    let v = Browser::start(1280, 900);
    login(&v, &s, "vera", &password);
    v.goto(&s.url("/ui/changes"));
    assert!(v.text("#changes").contains("pack.promote"));
}
/// A browser logged in as a new user `name` with `role`.
fn browser_as(d: &Drover, s: &Server, name: &str, role: &str) -> Browser {
    let out = d.expect(0, &["user", "add", name, "--role", role]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let password = stdout.lines().last().unwrap().trim().to_owned();
    let b = Browser::start(1280, 900);
    login(&b, s, name, &password);
    b
}

/// Each budget says which nodes hold its slots, per rack for a rack
/// budget (the full racks first, by whom), each linked to its node's
/// page; the table follows the fleet without a reload.
#[test]
fn the_fleet_page_names_who_holds_each_budget() {
    let (d, s) = setup();
    d.budget_rack_one();
    d.expect(0, &["budget", "set", "fleet", "--max-unavailable", "10"]);
    d.expect(
        0,
        &[
            "node",
            "set-state",
            "n001",
            "intervention",
            "--reason",
            "PSU",
        ],
    );
    d.expect(
        0,
        &["node", "set-state", "n041", "drained", "--reason", "disk"],
    );
    let b = admin_browser(&s, 1280, 900);
    b.goto(&s.url("/ui/fleet"));
    let rack = b.text("#budget-rack-one .holders");
    assert!(
        rack.contains("rack=r01 full (1 of 1): n001 intervention"),
        "{rack}"
    );
    assert!(
        rack.contains("rack=r02 full (1 of 1): n041 drained"),
        "{rack}"
    );
    let whole = b.text("#budget-fleet .holders");
    assert!(whole.contains("n001") && whole.contains("n041"), "{whole}");
    assert_eq!(b.text("#budget-fleet td:nth-child(3)"), "2 of 10");
    // A holder links to its node's page.
    b.click_fresh("#budget-rack-one .holders a[href='/ui/nodes/n001']");
    b.wait_for("the node page", || {
        b.url().ends_with("/ui/nodes/n001").then_some(())
    });
    b.goto(&s.url("/ui/fleet"));
    // Repaired: the rack is free, without a reload.
    d.expect(
        0,
        &[
            "node",
            "set-state",
            "n001",
            "production",
            "--reason",
            "PSU swapped",
        ],
    );
    b.wait_for("the budgets to follow", || {
        (!b.text("#budget-rack-one .holders").contains("n001")).then_some(())
    });
    assert!(b.text("#budget-fleet td:nth-child(3)").contains("1 of 10"));
}

/// The open requests, each with who asked (an execution links to its
/// run), since when and the gate it waits on; an operator cancels one
/// with a reason, after a preview of what it does and a confirmation.
/// The cancel is audited; a second try, or an unknown request, shows
/// the refusal in the page.
#[test]
fn an_operator_cancels_a_queued_request_from_the_fleet_page() {
    let (d, s) = setup();
    d.grant("demo@0.1.0", "nodes.reboot", "*");
    d.budget_rack_one();
    d.expect(
        0,
        &[
            "node",
            "set-state",
            "n001",
            "intervention",
            "--reason",
            "PSU",
        ],
    );
    let exec = d.json(0, &["run", "demo.reboot_node", "node=n002"]);
    assert_eq!(exec["result"]["outcome"], "queued", "{exec}");
    let id = exec["result"]["request"].as_str().unwrap().to_owned();
    let exec_id = exec["id"].as_str().unwrap().to_owned();

    let b = admin_browser(&s, 1280, 900);
    b.goto(&s.url("/ui/fleet"));
    let row = b.text(&format!("#req-{id}"));
    for said in ["n002", "reboot", "queued", "budget", "rack-one", "n001"] {
        assert!(row.contains(said), "{said}: {row}");
    }
    assert!(
        b.try_find(&format!("#req-{id} a[href='/ui/executions/{exec_id}']"))
            .is_some(),
        "the asking execution is linked: {row}"
    );
    assert_eq!(b.text(&format!("#req-{id} .gate")), "budget");

    b.click_fresh(&format!("#cancel-{id}"));
    let note = b.text("#cancel-note");
    assert!(note.contains("has not started"), "{note}");
    b.type_into("#cancel-reason", "n002 is fine after all");
    b.click("#cancel-button");
    let question = b.wait_for("the confirmation", || b.dialog_text());
    assert!(
        question.contains(&format!("Cancel request {id}")),
        "{question}"
    );
    b.answer_dialog(false);
    assert_eq!(
        d.json(0, &["node", "show", "n002"])["requests"][0]["status"],
        "queued"
    );
    b.click("#cancel-button");
    b.wait_for("the confirmation", || b.dialog_text());
    b.answer_dialog(true);
    b.wait_text("#notice", "cancelled");
    assert!(b.try_find(&format!("#req-{id}")).is_none());
    let show = d.json(0, &["node", "show", "n002"]);
    assert_eq!(show["requests"][0]["status"], "cancelled", "{show}");
    assert!(
        show["requests"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("n002 is fine after all")
    );
    let audit = d.json(0, &["audit", "list", "--pack", "drover", "--limit", "50"]);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["capability"] == "fleet.cancel"
                && a["actor"] == "user:admin"
                && a["target"] == "n002"
                && a["reason"]
                    .as_str()
                    .unwrap()
                    .contains("n002 is fine after all")),
        "{audit:#}"
    );

    // Again, and an unknown request: the refusal is in the page.
    post_form(
        &b,
        &format!("/ui/fleet/requests/{id}/cancel"),
        &[("reason", "again")],
    );
    let refused = b.wait_text("#cancel-error", "already ended");
    assert!(refused.contains("cancelled"), "{refused}");
    post_form(
        &b,
        "/ui/fleet/requests/01NOSUCHREQUEST/cancel",
        &[("reason", "x")],
    );
    b.wait_text("#cancel-error", "01NOSUCHREQUEST");
    b.goto(&s.url("/ui/fleet?cancel=01NOSUCHREQUEST"));
    b.wait_text("#cancel-error", "no open fleet request");
}

/// Maintenance windows on the Fleet page: when, which nodes, whether open
/// now; an operator adds one (a malformed time is refused in the page,
/// what was typed kept) and removes one, each audited.
#[test]
fn maintenance_windows_are_added_and_removed_from_the_fleet_page() {
    let (d, s) = setup();
    let b = browser_as(&d, &s, "otto", "operator");
    b.goto(&s.url("/ui/fleet"));
    assert!(b.text("#windows-empty").contains("No maintenance window"));
    b.type_into("#window-name", "nights");
    b.click("#window-day-mon");
    b.click("#window-day-tue");
    b.type_into("#window-start", "25:00");
    b.type_into("#window-end", "04:00");
    b.clear("#window-tz");
    b.type_into("#window-tz", "Europe/Zurich");
    b.type_into("#window-selector", "rack=r01");
    b.click("#window-add");
    let error = b.wait_text("#window-error", "25:00");
    assert!(error.contains("start"), "{error}");
    assert_eq!(b.attr("#window-name", "value").as_deref(), Some("nights"));
    assert_eq!(
        b.eval("return document.getElementById('window-day-tue').checked"),
        true
    );
    assert!(d.json(0, &["fleet", "window", "list"]) == serde_json::json!([]));
    b.clear("#window-start");
    b.type_into("#window-start", "22:00");
    b.click("#window-add");
    b.wait_text("#notice", "Window nights added");
    let row = b.text("#window-nights");
    for said in [
        "mon, tue",
        "22:00",
        "04:00",
        "Europe/Zurich",
        "rack=r01",
        "40 nodes",
    ] {
        assert!(row.contains(said), "{said}: {row}");
    }
    let now = b.text("#window-nights .open-now");
    assert!(now == "open" || now == "closed", "{now}");
    let listed = d.json(0, &["fleet", "window", "list"]);
    assert_eq!(listed[0]["selector"], "rack=r01", "{listed}");

    // An unknown window: refused in the page.
    post_form(&b, "/ui/fleet/windows/nope/remove", &[]);
    b.wait_text("#window-error", "no window named \"nope\"");

    b.click("#remove-window-nights");
    let question = b.wait_for("the confirmation", || b.dialog_text());
    assert!(question.contains("Remove window nights"), "{question}");
    b.answer_dialog(true);
    b.wait_text("#notice", "Window nights removed");
    assert!(b.try_find("#window-nights").is_none());
    let audit = d.json(0, &["audit", "list", "--pack", "drover", "--limit", "50"]);
    let said: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["actor"] == "user:otto")
        .map(|a| a["reason"].as_str().unwrap())
        .collect();
    assert!(said.contains(&"window nights added"), "{said:?}");
    assert!(said.contains(&"window nights removed"), "{said:?}");
}

/// Every new route of the Fleet page refuses the anonymous (401, or the
/// login page), a viewer (403 naming the operator role) and a form
/// without this session's CSRF token; a viewer sees the queue and the
/// windows but no control.
#[test]
fn the_queue_and_window_routes_refuse_the_anonymous_viewers_and_forged_forms() {
    let (d, s) = setup();
    d.budget_rack_one();
    d.expect(
        0,
        &[
            "node",
            "set-state",
            "n001",
            "intervention",
            "--reason",
            "PSU",
        ],
    );
    let answer = d.json(0, &["node", "drain", "n002", "--reason", "disk"]);
    let id = answer[0]["request_id"].as_str().unwrap().to_owned();
    d.expect(
        0,
        &[
            "fleet", "window", "add", "nights", "--start", "22:00", "--end", "04:00",
        ],
    );
    let routes = [
        format!("/ui/fleet/requests/{id}/cancel"),
        "/ui/fleet/windows".to_owned(),
        "/ui/fleet/windows/nights/remove".to_owned(),
    ];
    let anonymous: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    for path in &routes {
        let r = anonymous
            .post(&s.url(path))
            .content_type("application/x-www-form-urlencoded")
            .send("reason=x&name=evil&start=00:00&end=23:59")
            .unwrap();
        let to_login = r.status() == 303 && r.headers()["location"] == "/login";
        assert!(r.status() == 401 || to_login, "{path}: {}", r.status());
    }

    let b = browser_as(&d, &s, "vera", "viewer");
    b.goto(&s.url("/ui/fleet"));
    assert!(b.text(&format!("#req-{id}")).contains("n002"));
    assert!(b.try_find(&format!("#cancel-{id}")).is_none());
    assert!(b.try_find("#window-form").is_none());
    assert!(b.try_find("#remove-window-nights").is_none());
    for path in &routes {
        post_form(
            &b,
            path,
            &[
                ("reason", "x"),
                ("name", "evil"),
                ("start", "00:00"),
                ("end", "23:59"),
            ],
        );
        let page = b.wait_text("body", "needs the");
        assert!(page.contains("needs the operator role"), "{path}: {page}");
        b.goto(&s.url("/ui/fleet"));
    }

    // An operator's session, but a forged form (no token of this session).
    let o = browser_as(&d, &s, "otto", "operator");
    o.goto(&s.url("/ui/fleet"));
    for path in &routes {
        o.eval(&format!(
            "var f = document.createElement('form'); f.method = 'post'; f.action = '{path}';
             [['csrf', 'forged'], ['reason', 'x'], ['name', 'evil'], ['start', '00:00'], ['end', '23:59']].forEach(function (kv) {{
               var i = document.createElement('input'); i.name = kv[0]; i.value = kv[1]; f.appendChild(i); }});
             document.body.appendChild(f); f.submit(); return null"
        ));
        o.wait_text("body", "CSRF");
        o.goto(&s.url("/ui/fleet"));
    }
    // Nothing changed.
    assert_eq!(
        d.json(0, &["node", "show", "n002"])["requests"][0]["status"],
        "queued"
    );
    let windows = d.json(0, &["fleet", "window", "list"]);
    let names: Vec<&str> = windows
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nights"]);
}

/// Changing automation safely in the browser (issue 16, parts 3 and 4):
/// the pack page's version history links the shadowed candidate's diff
/// against the live version; the diff shows the new capability first
/// (and the grant the candidate lacks), then the rule's changed criterion
/// as a line diff, a hostile rule's `<script>` as text; Promote with a
/// reason; the change log shows it with the reason; then Roll back, with
/// a reason, makes the version before live again.
#[test]
fn a_diff_then_promote_then_roll_back_from_the_pack_page() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/batchops"]);
    d.grant("batchops@0.1.0", "nodes.reboot", "cluster=batch");
    let bumped = d.copy_pack("packs/batchops", "batchops-0.2.0");
    support::edit_manifest(&bumped, "version: 0.1.0", "version: 0.2.0");
    support::edit_manifest(
        &bumped,
        "capabilities: [log, nodes.read]",
        "capabilities: [log, nodes.read, nodes.drain]",
    );
    let rule = bumped.join("rules/on_no_contact.yaml");
    let text = std::fs::read_to_string(&rule)
        .unwrap()
        .replace("pattern: \"b*\"", "pattern: \"b7*\"");
    let text = text.replace(
        "description: Remediate batch workers",
        "description: <script>window.droverPwned = 1</script> Remediate batch workers",
    );
    std::fs::write(&rule, text).unwrap();
    // The workflow: a node that does not answer ping gets ssh tried first,
    // and a hostile label.
    support::edit_file(
        &bumped.join("workflows/handle_no_contact.yaml"),
        "- problem: \"no answer to ping\"\n        do: reboot",
        "- problem: \"no answer to ping <script>window.droverPwned = 2</script>\"\n        do: ssh_uptime",
    );
    d.expect(0, &["pack", "install", bumped.to_str().unwrap()]);
    let s = Server::start(&d);
    let b = admin_browser(&s, 1280, 900);

    // The pack page: its version history, the candidate's diff linked.
    b.goto(&s.url("/ui/packs/batchops"));
    let history = b.text("#versions");
    assert!(
        history.contains("0.1.0") && history.contains("0.2.0") && history.contains("shadow"),
        "{history}"
    );
    b.click("#versions a.diff-link[href*=\"to=0.2.0\"]");
    b.wait_text("h1", "batchops: 0.1.0 → 0.2.0");

    // Capabilities first: the new one on top, needing a grant.
    let first = b.text("#capability-diff tbody tr:first-child");
    assert!(
        first.contains("added") && first.contains("fleet_health") && first.contains("nodes.drain"),
        "{first}"
    );
    assert!(first.contains("needs a grant"), "{first}");
    let caps = b.text("#capability-diff");
    assert!(
        caps.contains("0.1.0 has 'cluster=batch'; 0.2.0 has no grant"),
        "{caps}"
    );
    let order =
        b.eval("return [...document.querySelectorAll('main section h2')].map(h => h.textContent)");
    assert_eq!(order[0], "Capabilities and grants", "{order}");
    assert_eq!(order[1], "Rules", "{order}");
    // The rule's changed criterion, as fields and as a line diff.
    let rules = b.text("#diff-rules");
    assert!(
        rules.contains("criteria.trigger.node.pattern: b* → b7*"),
        "{rules}"
    );
    let added: Vec<String> = serde_json::from_value(b.eval(
        "return [...document.querySelectorAll('#diff-rules .line.added')].map(l => l.textContent)",
    ))
    .unwrap();
    assert!(
        added.iter().any(|l| l == "+    pattern: \"b7*\""),
        "{added:?}"
    );
    let removed: Vec<String> = serde_json::from_value(b.eval(
        "return [...document.querySelectorAll('#diff-rules .line.removed')].map(l => l.textContent)",
    ))
    .unwrap();
    assert!(
        removed.iter().any(|l| l == "-    pattern: \"b*\""),
        "{removed:?}"
    );
    // A hostile rule's markup is text.
    assert!(
        added
            .iter()
            .any(|l| l.contains("<script>window.droverPwned = 1</script>")),
        "{added:?}"
    );
    assert!(b.try_find("#diff-rules script").is_none());
    // The workflow in both versions, the changed task marked in each.
    let graphs = "[id=\"workflows-batchops.handle_no_contact\"] figure.graph";
    let titles: Vec<Vec<String>> = serde_json::from_value(b.eval(&format!(
        "return [...document.querySelectorAll('{graphs}')].map(f => \
         [...f.querySelectorAll('g > title')].map(t => t.textContent))"
    )))
    .unwrap();
    assert_eq!(titles.len(), 2, "{titles:?}");
    for side in &titles {
        assert!(side.iter().any(|t| t == "ping (changed)"), "{titles:?}");
        assert!(side.iter().any(|t| t == "facts"), "{titles:?}");
    }
    assert!(b.try_find(&format!("{graphs} script")).is_none());
    assert_eq!(b.eval("return window.droverPwned === undefined"), true);
    // Added and removed lines stay readable, in both schemes.
    let diff_page = b.url();
    let contrast = CONTRAST_JS.replace(
        ".status, .tag,",
        ".line.added, .line.removed, .change, .status, .tag,",
    );
    for scheme in ["dark", "light"] {
        b.color_scheme(scheme);
        b.goto(&diff_page);
        b.find("#diff-rules .line.added");
        assert_eq!(
            b.eval(&contrast),
            serde_json::json!([]),
            "the diff in {scheme}: low contrast"
        );
    }

    // Promote, with a reason, from the diff.
    b.click("#promote-form button");
    b.wait_text("h1", "Confirm the promotion");
    // What the promotion lets the pack ask for, before the reason.
    let facts = b.text("section.confirm dl");
    assert!(
        facts.contains("New capabilities") && facts.contains("fleet_health: nodes.drain"),
        "{facts}"
    );
    b.type_into("#reason", "CHG-31: b7 only <i>now</i>");
    b.click("#confirm-button");
    b.wait_text("#notice", "Promoted");
    assert_eq!(
        d.json(0, &["pack", "show", "batchops"])["pack"]["version"],
        "0.2.0"
    );
    b.click("nav a[href=\"/ui/changes\"]");
    b.wait_text("h1", "Change log");
    let row = b.text("#changes tbody tr.change");
    assert!(
        row.contains("pack.promote") && row.contains("batchops@0.2.0"),
        "{row}"
    );
    assert_eq!(
        b.text("#changes tbody tr.change td.reason"),
        "CHG-31: b7 only <i>now</i>"
    );

    // Roll back, with a reason: 0.1.0 is live again.
    b.goto(&s.url("/ui/packs/batchops"));
    b.click("#rollback-form button");
    b.wait_text("h1", "Confirm the rollback");
    assert!(
        b.text("#confirm-q")
            .contains("Roll batchops back from 0.2.0 to 0.1.0"),
        "{}",
        b.text("#confirm-q")
    );
    assert_eq!(b.attr("#reason", "required").as_deref(), Some("true"));
    b.type_into("#reason", "CHG-32: b8 unattended");
    b.click("#confirm-button");
    b.wait_text("#notice", "Rolled back");
    assert!(b.text("h1").contains("batchops@0.1.0"));
    assert_eq!(
        d.json(0, &["pack", "show", "batchops"])["pack"]["version"],
        "0.1.0"
    );
    b.goto(&s.url("/ui/changes?kind=pack.rollback"));
    let row = b.text("#changes tbody tr.change");
    assert!(
        row.contains("pack.rollback")
            && row.contains("batchops@0.2.0")
            && row.contains("live_version: 0.2.0 → 0.1.0"),
        "{row}"
    );
    assert_eq!(
        b.text("#changes tbody tr.change td.reason"),
        "CHG-32: b8 unattended"
    );
    // Nothing earlier than 0.1.0: no Roll back button.
    b.goto(&s.url("/ui/packs/batchops"));
    b.find("#versions");
    assert!(b.try_find("#rollback-form").is_none());
}

/// `tests/packs/NAME` built into an archive in `d`'s directory.
fn archive_of(d: &Drover, name: &str) -> std::path::PathBuf {
    let dir = d.copy_pack(&format!("tests/packs/{name}"), name);
    d.expect(0, &["pack", "build", dir.to_str().unwrap(), "--skip-tests"]);
    dir.join(format!("dist/{name}-0.1.0.dpk"))
}

/// Each pack's page says who signed it: a trusted publisher's key, an
/// unsigned archive installed with --allow-unsigned (marked), or a pack
/// directory (no signer).
#[test]
fn a_pack_page_shows_who_signed_it() {
    let d = Drover::new();
    d.install(&["packs/core", "packs/demo"]);
    let signed = archive_of(&d, "events");
    let key = d.new_key("batch-team");
    d.sign(&signed, &key);
    let public = format!("{}.pub", key.display());
    d.expect(
        0,
        &[
            "trust",
            "add",
            &public,
            "--name",
            "batch-team",
            "--packs",
            "events",
        ],
    );
    d.expect(0, &["pack", "install", signed.to_str().unwrap()]);
    let unsigned = archive_of(&d, "flows");
    d.expect(
        0,
        &[
            "pack",
            "install",
            unsigned.to_str().unwrap(),
            "--allow-unsigned",
        ],
    );
    let s = Server::start(&d);
    let b = admin_browser(&s, 1280, 900);

    b.goto(&s.url("/ui/packs/events"));
    let signer = b.text("#signer");
    assert!(signer.starts_with("batch-team SHA256:"), "{signer}");
    assert!(!signer.contains("allow-unsigned"), "{signer}");
    b.goto(&s.url("/ui/packs/flows"));
    let signer = b.text("#signer");
    assert!(
        signer.contains("unsigned") && signer.contains("installed with --allow-unsigned"),
        "{signer}"
    );
    assert!(b.try_find("#signer .status").is_some(), "marked: {signer}");
    b.goto(&s.url("/ui/packs/core"));
    let signer = b.text("#signer");
    assert!(
        signer.contains("none: installed from a pack directory"),
        "{signer}"
    );
}
