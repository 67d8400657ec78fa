//! A headless Chromium for the UI tests, driven over the W3C WebDriver
//! protocol: Debian's `chromedriver` is started on a free port and spoken
//! to with plain HTTP and JSON (the handful of commands the tests need;
//! every call returns the driver's error text on failure).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The element reference key of the WebDriver protocol.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session; both end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

/// Whether Debian's chromium and chromedriver are installed; `.ci/run`
/// installs them.
pub fn available() -> bool {
    ["chromium", "chromedriver"].iter().all(|b| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile
    /// and no background networking, at `width` x `height`.
    pub fn start(width: u32, height: u32) -> Browser {
        assert!(
            available(),
            "chromium and chromedriver are needed: apt-get install -y chromium chromium-driver (.ci/run does)"
        );
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if agent.get(&format!("{base}/status")).call().is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut b = Browser {
            driver,
            base,
            session: String::new(),
            agent,
            _profile: profile,
        };
        let mut options = json!({"binary": "/usr/bin/chromium", "args": args});
        // Desktop windows are at least 500 px wide: a phone is emulated.
        if width < 500 {
            options["mobileEmulation"] = json!({"deviceMetrics": {
                "width": width, "height": height, "pixelRatio": 1.0, "touch": true,
            }});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        let created = b.post("/session", caps);
        b.session = created["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{}", self.base, path);
        let resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let status = resp.status();
        let v: Value = read_json(&mut resp).unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "webdriver {method} {path}: {status} {}",
            v["value"]
        );
        v["value"].clone()
    }

    fn post(&self, path: &str, body: Value) -> Value {
        // New session answers with the session id at top level of value.
        self.call("POST", path, Some(body))
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(json!({"url": url})));
    }

    pub fn url(&self) -> String {
        self.call("GET", &self.s("/url"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn set_size(&self, width: u32, height: u32) {
        self.call(
            "POST",
            &self.s("/window/rect"),
            Some(json!({"width": width, "height": height})),
        );
    }

    /// The first element matching `css`, if any.
    pub fn try_find(&self, css: &str) -> Option<String> {
        let url = format!("{}{}", self.base, self.s("/elements"));
        let mut resp = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(json!({"using": "css selector", "value": css}).to_string())
            .ok()?;
        let v = read_json(&mut resp)?;
        v["value"].as_array()?.first()?[ELEMENT]
            .as_str()
            .map(str::to_owned)
    }

    /// The first element matching `css`, waiting up to 10 s for it.
    pub fn find(&self, css: &str) -> String {
        self.wait_for(&format!("an element {css:?}"), || self.try_find(css))
    }

    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.call("POST", &self.s(&format!("/element/{el}/click")), None);
    }

    /// Clicks `css` in a part of the page that a live fragment may swap
    /// out between finding and clicking: tries again on a stale element.
    pub fn click_fresh(&self, css: &str) {
        self.wait_for(&format!("a click on {css:?}"), || {
            let el = self.try_find(css)?;
            let url = format!("{}{}", self.base, self.s(&format!("/element/{el}/click")));
            let resp = self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send("{}")
                .ok()?;
            resp.status().is_success().then_some(())
        })
    }

    pub fn clear(&self, css: &str) {
        let el = self.find(css);
        self.call("POST", &self.s(&format!("/element/{el}/clear")), None);
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.call(
            "POST",
            &self.s(&format!("/element/{el}/value")),
            Some(json!({"text": text})),
        );
    }

    /// Presses keys on whatever has focus (e.g. "\u{E004}" for Tab,
    /// "\u{E007}" for Enter).
    pub fn keys(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                [
                    json!({"type": "keyDown", "value": c.to_string()}),
                    json!({"type": "keyUp", "value": c.to_string()}),
                ]
            })
            .collect();
        self.call(
            "POST",
            &self.s("/actions"),
            Some(json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]})),
        );
    }

    /// GETs `what` (`text` or `attribute/NAME`) of the first element
    /// matching `css`; None while there is none or it was just replaced
    /// (a live fragment swapped in between finding and reading it).
    fn try_read(&self, css: &str, what: &str) -> Option<Value> {
        let el = self.try_find(css)?;
        let url = format!("{}{}", self.base, self.s(&format!("/element/{el}/{what}")));
        let mut resp = self.agent.get(&url).call().ok()?;
        if !resp.status().is_success() {
            return None;
        }
        Some(read_json(&mut resp)?["value"].clone())
    }

    /// The text of the first element matching `css` (waiting up to 10 s).
    pub fn text(&self, css: &str) -> String {
        self.wait_for(&format!("the text of {css:?}"), || {
            self.try_read(css, "text")
                .map(|v| v.as_str().unwrap_or_default().to_owned())
        })
    }

    /// An attribute of the first element matching `css`.
    pub fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.wait_for(&format!("attribute {name} of {css:?}"), || {
            self.try_read(css, &format!("attribute/{name}"))
        })
        .as_str()
        .map(str::to_owned)
    }

    /// Chooses `value` in the `<select>` matching `css` (by clicking its option).
    pub fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value='{value}']"));
    }

    /// Runs `script` in the page and returns its value.
    pub fn eval(&self, script: &str) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": script, "args": []})),
        )
    }

    /// Emulates the system's colour scheme (`dark` or `light`), as CSS's
    /// `prefers-color-scheme` sees it, through Chromium's DevTools protocol.
    pub fn color_scheme(&self, scheme: &str) {
        self.call(
            "POST",
            &self.s("/goog/cdp/execute"),
            Some(json!({"cmd": "Emulation.setEmulatedMedia", "params": {
                "features": [{"name": "prefers-color-scheme", "value": scheme}],
            }})),
        );
    }

    /// The text of the open alert or confirm dialog, if one is open.
    pub fn dialog_text(&self) -> Option<String> {
        let url = format!("{}{}", self.base, self.s("/alert/text"));
        let mut resp = self.agent.get(&url).call().ok()?;
        if !resp.status().is_success() {
            return None;
        }
        read_json(&mut resp)?["value"].as_str().map(str::to_owned)
    }

    /// Answers the open confirm dialog: OK when `accept`, else Cancel.
    pub fn answer_dialog(&self, accept: bool) {
        let verb = if accept { "accept" } else { "dismiss" };
        self.call("POST", &self.s(&format!("/alert/{verb}")), None);
    }

    /// Waits up to 10 s for `f` to return something.
    /// Logs in as `name` through the login page of the drover serving at
    /// `base` (`http://127.0.0.1:PORT`); lands on the dashboard.
    pub fn login(&self, base: &str, name: &str, password: &str) {
        self.goto(&format!("{base}/ui/"));
        self.wait_for("the login page", || {
            self.url().ends_with("/login").then_some(())
        });
        // Cleared first: the browser may have filled in the last login.
        self.clear("input[name=name]");
        self.type_into("input[name=name]", name);
        self.clear("input[name=password]");
        self.type_into("input[name=password]", password);
        self.click("button[type=submit]");
        self.wait_for("the dashboard", || {
            self.url().ends_with("/ui/").then_some(())
        });
    }

    pub fn wait_for<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() > deadline {
                let body = self.eval("return document.body ? document.body.innerText : ''");
                panic!(
                    "timed out waiting for {what} at {}; the page says:\n{}",
                    self.url(),
                    body.as_str().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the element `css` contains `needle`.
    pub fn wait_text(&self, css: &str, needle: &str) -> String {
        self.wait_for(&format!("{needle:?} in {css:?}"), || {
            let t = self.try_read(css, "text")?;
            let t = t.as_str()?.to_owned();
            t.contains(needle).then_some(t)
        })
    }

    /// A PNG of the whole page (the window resized to its height).
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let b64 = self.call("GET", &self.s("/screenshot"), None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 screenshot"))
            .expect("the screenshot is base64");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

fn read_json(resp: &mut ureq::http::Response<ureq::Body>) -> Option<Value> {
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .ok()?;
    serde_json::from_str(&text).ok()
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = self.agent.delete(&url).call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
