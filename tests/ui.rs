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
    b.goto(&s.url("/ui/"));
    b.wait_for("the login page", || {
        b.url().ends_with("/login").then_some(())
    });
    b.type_into("input[name=name]", name);
    b.type_into("input[name=password]", password);
    b.click("button[type=submit]");
    b.wait_for("the dashboard", || b.url().ends_with("/ui/").then_some(()));
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
    b.goto(&s.url(&format!("/ui/run?action={action}")));
    b.clear("#p-node");
    b.type_into("#p-node", node);
    let checked = b.eval("return document.getElementById('dry-run').checked");
    assert_eq!(checked, true, "dry run is ticked by default");
    if !dry_run {
        b.click("#dry-run");
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
}

#[test]
fn the_pages_are_usable_from_the_keyboard_and_on_a_phone() {
    let (_d, s) = setup();
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
    let wf = d.json(0, &["run", "flows.remediate", "node=n031"]);
    let s = Server::start(&d);
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
    drop(b);
    let phone = admin_browser(&s, 375, 800);
    shoot(&phone, "phone-dashboard", "/ui/", 1400);
    shoot(&phone, "phone-fleet", "/ui/fleet", 1400);
    for name in ["dashboard", "fleet", "phone-fleet", "workflow"] {
        let png = std::fs::read(out.join(format!("{name}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name}.png is a PNG");
        assert!(png.len() > 10_000, "{name}.png has content");
    }
}
