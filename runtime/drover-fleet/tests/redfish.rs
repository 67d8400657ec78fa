//! The `redfish` driver against a real Redfish service: the sushy-tools
//! emulator with its fake system driver (`pip install sushy-tools`), started
//! per test on a free loopback port with basic auth on.

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use drover_fleet::driver::{Driver, DriverError, NodeTarget, PowerAction, SecretLookup};
use drover_fleet::drivers::redfish::Redfish;
use serde_json::{Value, json};

const USER: &str = "admin";
const PASSWORD: &str = "drover-test-pw";
/// bcrypt of PASSWORD (sushy-tools reads only bcrypt htpasswd entries).
const HTPASSWD: &str = "admin:$2b$04$LtBtsZWWjgwP660Ml23sL.IALPCN.XOi.6kNrQtpWjF9otPfLmqru\n";
const SYSTEM_ID: &str = "5cb2bd5e-5a6c-4bbb-8d1d-8f7e0b3ce0a1";

struct Secrets(HashMap<String, String>);

impl SecretLookup for Secrets {
    fn secret(&self, name: &str) -> Result<String, String> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| format!("no secret named {name:?}"))
    }
}

fn secrets(user: &str, password: &str) -> Secrets {
    Secrets(HashMap::from([
        ("bmc.user".to_owned(), user.to_owned()),
        ("bmc.password".to_owned(), password.to_owned()),
    ]))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running sushy-emulator; killed on drop.
struct Emulator {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Emulator {
    fn start() -> Emulator {
        Emulator::start_with(None)
    }

    /// `tls`: (certificate, key) PEM files to serve HTTPS with.
    fn start_with(tls: Option<(&Path, &Path)>) -> Emulator {
        let dir = tempfile::tempdir().unwrap();
        let auth = dir.path().join("htpasswd");
        std::fs::write(&auth, HTPASSWD).unwrap();
        let config = dir.path().join("emulator.conf");
        std::fs::write(
            &config,
            format!(
                "SUSHY_EMULATOR_FAKE_DRIVER = True\n\
                 SUSHY_EMULATOR_STATE_DIR = {state:?}\n\
                 SUSHY_EMULATOR_AUTH_FILE = {auth:?}\n\
                 SUSHY_EMULATOR_FAKE_SYSTEMS = [{{'uuid': '{SYSTEM_ID}', 'name': 'node1', \
                 'power_state': 'On', 'external_notifier': False, 'nics': []}}]\n",
                state = dir.path().join("state").display().to_string(),
                auth = auth.display().to_string(),
            ),
        )
        .unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("emulator.log")).unwrap();
        let mut cmd = Command::new("sushy-emulator");
        cmd.arg("--config")
            .arg(&config)
            .args(["--fake", "-i", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some((cert, key)) = tls {
            cmd.arg("--ssl-certificate")
                .arg(cert)
                .arg("--ssl-key")
                .arg(key);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start sushy-emulator ({e}): install it with `pip install sushy-tools` \
                 (bash .ci/run does)"
            )
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut emulator = Emulator {
            child,
            url: format!("{scheme}://127.0.0.1:{port}"),
            _dir: dir,
        };
        emulator.wait_ready(port);
        emulator
    }

    fn wait_ready(&mut self, port: u16) {
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "sushy-emulator exited ({status}) before listening:\n{}",
                    self.log()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "sushy-emulator did not listen on {port} within 30 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("emulator.log")).unwrap_or_default()
    }

    fn options(&self) -> Value {
        json!({
            "url": self.url,
            "username_secret": "bmc.user",
            "password_secret": "bmc.password",
            "timeout_seconds": 10,
        })
    }

    /// PowerState as read straight from the emulator, not through the driver.
    fn power_state(&self) -> String {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
        let mut resp = ureq::get(format!("{}/redfish/v1/Systems/{SYSTEM_ID}", self.url))
            .header("Authorization", format!("Basic {auth}"))
            .call()
            .unwrap();
        let doc: Value = serde_json::from_slice(&resp.body_mut().read_to_vec().unwrap()).unwrap();
        doc["PowerState"].as_str().unwrap().to_owned()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node<'a>(options: &'a Value, secrets: &'a Secrets) -> NodeTarget<'a> {
    NodeTarget {
        name: "n001",
        options,
        secrets,
    }
}

#[test]
fn reboot_issues_the_reset_and_the_node_comes_back() {
    let bmc = Emulator::start();
    let secrets = secrets(USER, PASSWORD);
    let options = bmc.options();
    let node = node(&options, &secrets);
    let redfish = Redfish;
    assert_eq!(bmc.power_state(), "On");
    assert!(redfish.is_up(&node).unwrap());

    redfish.reboot(&node, PowerAction::GracefulRestart).unwrap();
    // The fake system powers off at once and back on 1-11 s later.
    assert_eq!(bmc.power_state(), "Off");
    assert!(!redfish.is_up(&node).unwrap());
    let started = Instant::now();
    while !redfish.is_up(&node).unwrap() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the system did not come back on within 30 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(bmc.power_state(), "On");
    let resets = || bmc.log().matches("POST /redfish/v1/Systems/").count();
    assert_eq!(resets(), 1, "{}", bmc.log());

    redfish.reboot(&node, PowerAction::ForceRestart).unwrap();
    assert_eq!(bmc.power_state(), "Off");
    assert_eq!(resets(), 2, "{}", bmc.log());
}

#[test]
fn a_named_system_is_used_and_an_unknown_one_is_reported() {
    let bmc = Emulator::start();
    let secrets = secrets(USER, PASSWORD);
    let mut options = bmc.options();
    options["system"] = json!(SYSTEM_ID);
    assert!(Redfish.is_up(&node(&options, &secrets)).unwrap());

    options["system"] = json!("no-such-system");
    let err = Redfish
        .reboot(&node(&options, &secrets), PowerAction::ForceRestart)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "n001: GET {}/redfish/v1/Systems/no-such-system answered 404",
            bmc.url
        )),
        "{err}"
    );
    assert_eq!(bmc.power_state(), "On");
}

#[test]
fn wrong_credentials_give_a_clear_error() {
    let bmc = Emulator::start();
    let secrets = secrets(USER, "not-the-password");
    let options = bmc.options();
    let err = Redfish
        .reboot(&node(&options, &secrets), PowerAction::GracefulRestart)
        .unwrap_err();
    assert!(matches!(err, DriverError::Failed { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "n001: wrong credentials for the BMC at {} (user \"admin\" from secret bmc.user, \
             password from secret bmc.password)",
            bmc.url
        )
    );
    assert_eq!(bmc.power_state(), "On");

    // A secret that is not set is named with the command that sets it.
    let missing = Secrets(HashMap::new());
    let err = Redfish.is_up(&node(&options, &missing)).unwrap_err();
    assert!(matches!(err, DriverError::Config { .. }), "{err:?}");
    assert!(
        err.to_string().contains(
            "username_secret: cannot read secret \"bmc.user\": no secret named \"bmc.user\"; \
             set it with `drover secret set bmc.user`"
        ),
        "{err}"
    );
}

#[test]
fn an_unanswering_bmc_times_out_with_its_address() {
    // Accepts connections (the kernel's backlog) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", silent.local_addr().unwrap());
    let secrets = secrets(USER, PASSWORD);
    let options = json!({
        "url": address,
        "username_secret": "bmc.user",
        "password_secret": "bmc.password",
        "timeout_seconds": 1,
    });
    let started = Instant::now();
    let err = Redfish
        .reboot(&node(&options, &secrets), PowerAction::ForceRestart)
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(err, DriverError::Timeout { seconds: 1, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("n001: {address} did not answer within 1 s")
    );
}

#[test]
fn a_closed_port_is_reported_with_the_address() {
    let port = free_port();
    let secrets = secrets(USER, PASSWORD);
    let options = json!({
        "url": format!("http://127.0.0.1:{port}"),
        "username_secret": "bmc.user",
        "password_secret": "bmc.password",
    });
    let err = Redfish
        .is_up(&node(&options, &secrets))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("http://127.0.0.1:{port}")) && err.contains("refused"),
        "{err}"
    );
}

#[test]
fn bad_options_name_the_field() {
    let secrets = secrets(USER, PASSWORD);
    let cases = [
        (
            json!({"url": "http://127.0.0.1:1", "username_secret": "bmc.user"}),
            "n001: bad driver options: missing field `password_secret`",
        ),
        (
            json!({"url": "http://127.0.0.1:1", "username_secret": "u", "password_secret": "p",
                   "timeout_seconds": "ten"}),
            "n001: bad driver options: timeout_seconds: invalid type: string \"ten\", expected u64",
        ),
        (
            json!({"url": "http://127.0.0.1:1", "username_secret": "u", "password_secret": "p",
                   "insecure_tls": true}),
            "n001: bad driver options: insecure_tls: unknown field `insecure_tls`, expected one of \
             `url`, `username_secret`, `password_secret`, `insecure`, `system`, `timeout_seconds`",
        ),
        (
            json!({"url": "10.0.3.17", "username_secret": "u", "password_secret": "p"}),
            "n001: bad driver options: url: \"10.0.3.17\" has no scheme: write https://10.0.3.17",
        ),
        (
            json!({"url": "http://127.0.0.1:1", "username_secret": "u", "password_secret": "p",
                   "timeout_seconds": 0}),
            "n001: bad driver options: timeout_seconds: 0 is out of range (1 to 600)",
        ),
        (
            json!(["http://127.0.0.1:1"]),
            "n001: bad driver options: options must be an object of named fields, not [\"http://127.0.0.1:1\"]",
        ),
    ];
    for (options, want) in cases {
        let err = Redfish.is_up(&node(&options, &secrets)).unwrap_err();
        assert!(matches!(err, DriverError::Config { .. }), "{err:?}");
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn tls_is_verified_unless_the_node_opts_out() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (Debian: apt-get install openssl)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let bmc = Emulator::start_with(Some((&cert, &key)));
    let secrets = secrets(USER, PASSWORD);
    let mut options = bmc.options();

    let err = Redfish
        .is_up(&node(&options, &secrets))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("n001: TLS with the BMC at {} failed", bmc.url))
            && err.contains("insecure: true"),
        "{err}"
    );

    options["insecure"] = json!(true);
    assert!(Redfish.is_up(&node(&options, &secrets)).unwrap());
}
