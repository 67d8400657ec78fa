//! The command-line interface, declared with clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// drover: auto-remediation for server fleets. Sensors notice, rules
/// decide, sandboxed WebAssembly actions act, within the grants an
/// operator gave them.
#[derive(Parser, Debug)]
#[command(name = "drover", version, about, long_about = None)]
pub struct Cli {
    /// The SQLite database (created when missing). Compiled components are
    /// cached in `cache/` beside it and secrets are sealed with `<db>.key`.
    #[arg(long, global = true, env = "DROVER_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Work through a running drover's API instead of the database, e.g.
    /// `http://127.0.0.1:8330`: exec, run, rule, pack list|show|promote|rollback|diff,
    /// grant, audit, changes, trigger, kv, secret, sensor, token, inquiry, node
    /// list|show|drain|reboot|undrain|set-state, budget, brake, fleet
    /// pause|resume.
    #[arg(long, global = true, env = "DROVER_SERVER", value_name = "URL")]
    pub server: Option<String>,

    /// API token for --server (`drover token create` makes one).
    #[arg(
        long,
        global = true,
        env = "DROVER_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build, sign, verify, install, list and inspect packs.
    #[command(subcommand)]
    Pack(PackCmd),
    /// Run an action: `drover run core.echo message=hello`.
    Run(RunArgs),
    /// Give, list and revoke capability grants (admin).
    #[command(subcommand)]
    Grant(GrantCmd),
    /// Signing keys for pack archives: `drover key new --name batch-team`.
    #[command(subcommand)]
    Key(crate::commands::key::KeyCmd),
    /// Publisher keys this drover trusts to sign packs: `drover trust add
    /// batch-team.pub --name batch-team --packs 'batch*'` (on the drover
    /// host's database; each an audited change).
    #[command(subcommand)]
    Trust(crate::commands::trust::TrustCmd),
    /// Inspect executions.
    #[command(subcommand, name = "exec")]
    Exec(ExecCmd),
    /// Read the audit log of capability uses.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// The change log: who installed, promoted, granted, revoked, enabled,
    /// disabled or set a budget, when, why and the diff: `drover changes
    /// list --since 7d`, `drover changes export > changes.jsonl`.
    #[command(subcommand)]
    Changes(crate::commands::changes::ChangesCmd),
    /// Set and list named secrets (values are write-only).
    #[command(subcommand)]
    Secret(SecretCmd),
    /// Work with rules: `drover rule test --rule FILE --trigger-instance FILE`.
    #[command(subcommand)]
    Rule(RuleCmd),
    /// Work with workflows, offline: `drover workflow validate|rehearse|graph`.
    #[command(subcommand)]
    Workflow(WorkflowCmd),
    /// Run drover as a service: webhooks, rules, the execution queue and
    /// its workers, in one process.
    Serve(ServeArgs),
    /// Inspect stored trigger instances and what the rules made of them.
    #[command(subcommand)]
    Trigger(TriggerCmd),
    /// Past trigger instances through a candidate pack version, as dry
    /// runs, next to what the live version did: `drover replay --pack
    /// batchops@0.2.0 --since 7d`.
    Replay(crate::commands::replay::ReplayArgs),
    /// Remediations with one cause, grouped: `drover incident list --since 6h`.
    #[command(subcommand)]
    Incident(crate::commands::incident::IncidentCmd),
    /// A candidate version beside the live one: `drover shadow report batchops`.
    #[command(subcommand)]
    Shadow(crate::commands::shadow::ShadowCmd),
    /// The key-value store: `drover kv set maintenance.b7s01 true --ttl 3600`.
    #[command(subcommand)]
    Kv(KvCmd),
    /// Sensors' state, last error and counts: `drover sensor list`.
    #[command(subcommand)]
    Sensor(SensorCmd),
    /// The fleet inventory and requests: `drover node list --label rack=r07`,
    /// `drover node reboot b7s01 --reason kernel`.
    #[command(subcommand)]
    Node(crate::commands::node::NodeCmd),
    /// Fleet budgets: `drover budget set rack-one --strategy groupsemaphore --label rack --max 1`.
    #[command(subcommand)]
    Budget(crate::commands::budget::BudgetCmd),
    /// The storm brake: `drover brake status|release`.
    #[command(subcommand)]
    Brake(crate::commands::brake::BrakeCmd),
    /// Faults in the simulated fleet: `drover sim hang b7s01` (it stops
    /// answering ping and ssh until the fleet controller reboots it).
    #[command(subcommand)]
    Sim(crate::commands::sim::SimCmd),
    /// Fleet controller switches: pause, resume, windows, ladders, run.
    #[command(subcommand)]
    Fleet(crate::commands::fleet::FleetCmd),
    /// The operator's scheduler policies, on any action: `drover policy set
    /// one_sleep.yaml` (a pack's own govern only its actions). Works with
    /// --server (changes need an admin token).
    #[command(subcommand)]
    Policy(crate::commands::policy::PolicyCmd),
    /// How long each kind of history is kept: `drover retention set
    /// executions --max-age 14d`. Works with --server (changes need an
    /// admin token).
    #[command(subcommand)]
    Retention(crate::commands::gc::RetentionCmd),
    /// Delete history past its retention now (`drover serve` does it every
    /// --gc-every): `drover gc --dry-run` shows what would go. Works with
    /// --server (an admin token; not --vacuum).
    Gc(crate::commands::gc::GcArgs),
    /// Questions workflows wait on (`core.ask`): list, show, answer.
    #[command(subcommand)]
    Inquiry(crate::commands::inquiry::InquiryCmd),
    /// API tokens: `drover token create --role operator` (admin).
    #[command(subcommand)]
    Token(crate::commands::access::TokenCmd),
    /// Users of the web login: add, list, reset-password.
    #[command(subcommand)]
    User(crate::commands::access::UserCmd),
    /// The whole story live: serve + a simulated fleet of 500 nodes in 25
    /// racks + the batchops pack, with monitoring reporting silent nodes.
    /// Open the printed URL. Its database lives in --dir, recreated each start.
    Demo(crate::commands::demo::DemoArgs),
}

#[derive(Subcommand, Debug)]
pub enum SensorCmd {
    /// Every sensor that has run under `drover serve`.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum KvCmd {
    /// Read a key.
    Get {
        key: String,
        /// `system` (what rules see as `kv.KEY`), `user:NAME` (`st2kv.user.KEY` in the rules of packs NAME installed), or `pack:NAME` (pack NAME's own keys).
        #[arg(long, default_value = "system")]
        scope: String,
        #[arg(long)]
        json: bool,
    },
    /// Set a key, optionally expiring after `--ttl` seconds.
    Set {
        key: String,
        value: String,
        /// `system`, `user:NAME` or `pack:NAME` (see `drover kv get --help`).
        #[arg(long, default_value = "system")]
        scope: String,
        /// Seconds until the key expires.
        #[arg(long)]
        ttl: Option<u32>,
    },
    /// Delete a key.
    Delete {
        key: String,
        /// `system`, `user:NAME` or `pack:NAME` (see `drover kv get --help`).
        #[arg(long, default_value = "system")]
        scope: String,
    },
    /// List the live keys of a scope.
    List {
        /// `system`, `user:NAME` or `pack:NAME` (see `drover kv get --help`).
        #[arg(long, default_value = "system")]
        scope: String,
        /// Only keys starting with this prefix.
        #[arg(long)]
        prefix: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on. Beyond loopback it needs --tls-cert and
    /// --tls-key, or --insecure-listen.
    #[arg(long, default_value = "127.0.0.1:8330", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// TLS certificate chain (PEM, leaf first): serve HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Listen beyond loopback without TLS: tokens, passwords and session
    /// cookies then cross the network in clear text.
    #[arg(long)]
    pub insecure_listen: bool,
    /// Require a viewer's token or session for /metrics (anonymous by default).
    #[arg(long)]
    pub metrics_auth: bool,
    /// Worker threads running plugins.
    #[arg(long, default_value_t = 8)]
    pub workers: usize,
    /// How long shutdown waits for running executions before leaving them
    /// to the next start.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub grace: std::time::Duration,
    /// NATS server for sensors' subscriptions, e.g. nats://127.0.0.1:4222.
    #[arg(long, env = "DROVER_NATS_URL", value_name = "URL")]
    pub nats: Option<String>,
    /// Trigger instances accepted but not yet stored, at most; past it,
    /// webhooks answer 429 with Retry-After (bounds memory under overload).
    #[arg(long, default_value_t = 4096, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,
    /// Open HTTP connections at most; one more is answered 503 with
    /// Retry-After and closed (over TLS, just closed).
    #[arg(long, default_value_t = drover_api::server::DEFAULT_MAX_CONNECTIONS as u32, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// How long a client may take to send a request's headers (also how
    /// long an idle kept-alive connection stays open).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub header_timeout: std::time::Duration,
    /// How long a client may take to send a request's body, in total.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub body_timeout: std::time::Duration,
    /// How often history past its retention (`drover retention show`) is
    /// deleted, in small batches; `off` never.
    #[arg(long, default_value = "10m", value_parser = parse_every, value_name = "DURATION|off")]
    pub gc_every: Every,
}

/// A period, or never (`off`).
#[derive(Clone, Copy, Debug)]
pub struct Every(pub Option<std::time::Duration>);

fn parse_every(s: &str) -> Result<Every, String> {
    if s == "off" {
        return Ok(Every(None));
    }
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("write a positive duration such as 10m, or off".into()),
        Ok(d) => Ok(Every(Some(d))),
        Err(e) => Err(format!("{e}; write a duration such as 10m, or off")),
    }
}

#[derive(Subcommand, Debug)]
pub enum TriggerCmd {
    /// Stored trigger instances, newest first, with their enforcements.
    List {
        /// Only instances of this trigger type (`pack.name`).
        #[arg(long = "type", value_name = "TYPE")]
        trigger_type: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only instances older than this id (the next page).
        #[arg(long, value_name = "ID")]
        before: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// One trigger instance's trace: every rule of its type, matched or
    /// not and why (a rule without a match is evaluated now), the
    /// executions the matches started and their effects.
    Show {
        /// The trigger instance's id (`drover trigger list`).
        id: String,
        #[arg(long)]
        json: bool,
    },
}

/// `drover pack new --lang`.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Lang {
    Python,
    Js,
    Rust,
}

#[derive(Subcommand, Debug)]
pub enum PackCmd {
    /// Check a pack (a signed `.dpk` archive, or a directory while
    /// developing), store its components by digest and record it. Refuses
    /// a component that imports more than its manifest declares. An
    /// archive must be intact (a changed file is refused, named) and
    /// signed by a key trusted for the pack's name (`drover trust add`),
    /// unless --allow-unsigned. `oci://REGISTRY/REPO:TAG` pulls the archive
    /// from an OCI registry (`drover pack push`) and `git+URL@REF`
    /// (`#subdir=PATH`) fetches a signed pack directory (`drover pack sign
    /// DIR`) from git; both are verified exactly as a `.dpk` file is, and
    /// installed in shadow mode unless --trusted.
    Install {
        /// Pack archives (`NAME-VERSION.dpk`, from `drover pack build`),
        /// `oci://…` artifacts, `git+…@REF` sources, or pack directories
        /// (each with a pack.yaml).
        #[arg(required = true, value_name = "FILE.dpk|oci://…|git+…|DIR")]
        dirs: Vec<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
        /// Install an archive that is unsigned, or signed by a key not
        /// trusted for it, anyway: always in shadow mode (so not with
        /// --trusted). A changed archive is refused all the same.
        #[arg(long, conflicts_with = "trusted")]
        allow_unsigned: bool,
        /// Shadow mode: the pack's rules fire, but every execution they
        /// start, and every run of its actions and workflows, is a dry run,
        /// until `drover pack promote`. The default for packs from outside
        /// this drover's own packs/ and tests/packs/, and for a new version
        /// of an installed pack wherever it comes from (the trusted version
        /// stays live until the new one is promoted).
        #[arg(long, conflicts_with = "trusted")]
        shadow: bool,
        /// Not in shadow mode, wherever the pack comes from (a new version
        /// becomes live at once, as if promoted).
        #[arg(long)]
        trusted: bool,
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Take a pack version out of shadow mode: its executions become real,
    /// and a promoted new version becomes the live one, its rules and
    /// policies replacing the old version's (a running `drover serve`
    /// applies it within about a second).
    Promote {
        /// `NAME` or `NAME@VERSION` (default: the newest shadowed version).
        pack: String,
        /// Why, for the change log (required): e.g. "CHG-1234: ssh timeout
        /// raised". One line, at most 500 characters.
        #[arg(long, value_name = "TEXT", required = true)]
        reason: String,
    },
    /// Roll a pack back: its live version goes back into shadow mode, so
    /// the trusted version live before it is live again, with its rules,
    /// policies, sensors and grants, in one transaction (a running
    /// `drover serve` applies it within about a second). Refused when no
    /// earlier trusted version is installed.
    Rollback {
        /// The pack's `NAME` (not a version: it goes back to the one before
        /// the live one).
        pack: String,
        /// Why, for the change log (required): e.g. "CHG-1235: 0.2.0
        /// reboots too eagerly". One line, at most 500 characters.
        #[arg(long, value_name = "TEXT", required = true)]
        reason: String,
    },
    /// Compare two installed versions of a pack, statically: capabilities
    /// and grants first (a capability the new version asks for, a grant it
    /// lacks), then rules (criteria, action parameters, a line diff of each
    /// changed one), workflows (tasks added, removed, changed), actions'
    /// parameters, trigger types and policies. Runs nothing.
    Diff {
        /// The pack's `NAME`.
        pack: String,
        /// The version to compare from (default: the live one).
        from: Option<String>,
        /// The version to compare to (default: the newest shadowed
        /// candidate).
        to: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Build a pack directory into `dist/NAME-VERSION.dpk`, in steps:
    /// every plugin that names a `source:` (a `.py` file, or a Rust crate
    /// directory) is built into the component its `component:` names,
    /// against a WIT world narrowed to its declared capabilities
    /// (componentize-py, cargo); then the checks that need no database
    /// (pack.yaml, rules, policies, every component a component of its
    /// world importing only what it declares); then the pack's own tests
    /// (`tests/*.yaml`, as `drover pack test`: a failing test writes no
    /// archive, exit 1); then the archive (pack.yaml, components, rules,
    /// policies, workflows, tests and a manifest of their digests).
    /// Needs no database.
    Build {
        /// The pack directory (with pack.yaml; default: the current one).
        #[arg(value_name = "DIR", default_value = ".")]
        dir: PathBuf,
        /// Where to write the archive (default: DIR/dist).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Do not run the pack's tests (`drover pack test` still does).
        #[arg(long)]
        skip_tests: bool,
        /// Print what each step did as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Create a new pack that builds, installs and runs as generated: one
    /// action (`hello`, with the `log` capability), a trigger type, a rule,
    /// a test trigger instance, a README and a .gitignore. Never
    /// overwrites: DIR must not exist. Needs no database.
    New {
        /// The pack's name: lowercase letters, digits and _ (e.g. netcheck).
        name: String,
        /// The language of its action.
        #[arg(long, value_enum, default_value = "python")]
        lang: Lang,
        /// Where to create it (default: ./NAME).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Run a pack's own tests (`tests/*.yaml`): rule tests (a trigger
    /// instance: which rules match, their rendered parameters) and action
    /// and workflow tests (a dry run against fixture nodes and kv: status,
    /// result, planned effects), on a scratch database with the pack
    /// installed; your database is not touched. Exit 0 all passed, 1 a
    /// test failed, 2 bad input (the pack or a test file). The format:
    /// docs/pack-authoring.md, "Testing a pack".
    Test(crate::commands::pack_test::PackTestArgs),
    /// Sign a pack archive (an SSH signature over its manifest, inside the
    /// archive): `drover pack sign dist/netcheck-0.1.0.dpk --key batch-team`.
    /// Given a pack directory, writes its manifest and signature into it
    /// (drover-archive.json, drover-archive.json.sig): commit both, and the
    /// directory installs from git (`drover pack install git+…@REF`).
    Sign {
        /// The archive (`NAME-VERSION.dpk`) or pack directory.
        #[arg(value_name = "FILE.dpk|DIR")]
        archive: PathBuf,
        /// A key made by `drover key new` (its NAME, from the keys
        /// directory) or the PATH of an OpenSSH ed25519 private key.
        #[arg(long, value_name = "NAME|PATH")]
        key: String,
    },
    /// Check a pack archive: every file against the manifest, the
    /// signature against the manifest, and who signed it (the trusted key's
    /// name, if this drover's database trusts it). Exits non-zero when a
    /// file or the signature does not match.
    Verify {
        #[arg(value_name = "FILE.dpk")]
        archive: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Push a pack archive to an OCI registry as an OCI artifact (its
    /// signature is inside the archive): `drover pack push
    /// dist/netcheck-0.1.0.dpk oci://registry.example:5000/packs/netcheck:0.1.0`.
    /// Credentials: DROVER_REGISTRY_USERNAME and DROVER_REGISTRY_PASSWORD,
    /// or --username with --password-stdin.
    Push {
        #[arg(value_name = "FILE.dpk")]
        archive: PathBuf,
        #[arg(value_name = "oci://REGISTRY/REPO:TAG")]
        reference: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Download a pack archive from an OCI registry into a `.dpk` file
    /// (checked against the artifact's digest and as an archive; install
    /// it later, offline, with `drover pack install FILE.dpk`).
    Pull {
        #[arg(value_name = "oci://REGISTRY/REPO:TAG")]
        reference: String,
        /// Directory for NAME-VERSION.dpk (default: the current one).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// List installed packs.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a pack's actions, parameters, and capabilities declared vs granted.
    Show {
        /// `NAME` or `NAME@VERSION`.
        pack: String,
        #[arg(long)]
        json: bool,
    },
}

/// How to reach an OCI registry (`oci://…`).
#[derive(Args, Debug, Clone, Default)]
pub struct RegistryArgs {
    /// Plain HTTP to a registry that is not on this machine (loopback
    /// registries always get plain HTTP, others HTTPS).
    #[arg(long)]
    pub plain_http: bool,
    /// The registry user (default: DROVER_REGISTRY_USERNAME).
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,
    /// Read the registry password from standard input (default:
    /// DROVER_REGISTRY_PASSWORD). Never put it on the command line.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The action, `PACK.ACTION` (e.g. `core.echo`).
    pub action: String,
    /// Parameters as `key=value`; values are typed by the action's schema
    /// (numbers, booleans; objects and arrays as JSON).
    #[arg(value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Record effects as a plan instead of performing them. A shadow
    /// pack's actions and workflows always run dry.
    #[arg(long)]
    pub dry_run: bool,
    /// Run this installed version of the pack instead of the live one (a
    /// shadowed candidate runs dry: `drover pack promote` makes it live).
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,
    /// With --dry-run, for a workflow: the answer its `core.ask` tasks take
    /// (JSON, checked against each inquiry's schema). A dry run creates no
    /// inquiry; without --answer it takes the schema's defaults, else `{}`
    /// if the schema accepts it, else it counts as timed out.
    #[arg(long, value_name = "JSON", requires = "dry_run")]
    pub answer: Option<String>,
    /// Parameters as one JSON object (merged under any `key=value`).
    #[arg(long, value_name = "JSON")]
    pub params_json: Option<String>,
    /// Override the action's timeout (e.g. `500ms`, `10s`).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Option<std::time::Duration>,
    /// Print the execution as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum GrantCmd {
    /// Grant a capability to a pack version, bound to its current
    /// component digests.
    #[command(
        after_help = "Scopes:\n  nodes.*   label selector: 'rack=r01', 'rack in (r01,r02)', 'name=n001', '*'\n  http      hosts: 'status.example.com', '*.example.com:443', 'http://127.0.0.1:8080', '10.0.0.0/8', '[fd00::/8]:443', '*'\n  secrets   names: 'redfish.password', 'redfish.*', '*'\n  command   NODES: COMMANDS, a label selector then argv patterns:\n            'rack=r01: uptime; systemctl restart slurmd', '*: uptime' (every node),\n            'cluster=batch: *' (every command); the node part is required\n  probe     hosts: 'bmc.example.com', '10.1.0.0/16:22', '*'\n  kv        other scopes than the pack's own, [read|write] SCOPE:KEYS:\n            'system:maintenance.*' (read), 'write system:maintenance.*',\n            'pack:inventory:hosts', 'user:alice:*'\n  subscribe a sensor's subscriptions: 'nats:batch.health,webhook:health', 'nats:batch.>' ('*' is one NATS token; every subject only with 'nats:>')\n\nhttp and probe connect only to the addresses a host resolved to, once. Loopback,\nlink-local (169.254.169.254), private (10/8, 172.16/12, 192.168/16, fc00::/7),\ncarrier-grade NAT, multicast and other special-use addresses are reached only\nwhen the scope names them by address or network ('127.0.0.1:8331',\n'10.0.0.0/8'): a name ('localhost', 'bmc01.lan') or '*' never reaches them."
    )]
    Add {
        /// `PACK@VERSION`, e.g. `demo@0.1.0`.
        pack: String,
        /// The capability, e.g. `nodes.reboot`, `http`, `secrets`, `command`, `kv`.
        capability: String,
        /// Where it applies; `*` for everywhere (see below).
        #[arg(long)]
        scope: String,
        /// Only this plugin of the pack (default: every plugin that declares the capability).
        #[arg(long)]
        plugin: Option<String>,
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List grants (unrevoked unless --all).
    List {
        #[arg(long)]
        pack: Option<String>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a grant by id.
    Revoke {
        id: String,
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ExecCmd {
    /// List executions, newest first.
    List {
        #[arg(long)]
        action: Option<String>,
        /// succeeded, failed, denied, timeout or canceled.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only executions older than this id (the next page).
        #[arg(long, value_name = "ID")]
        before: Option<String>,
        /// Only executions about this node (their `node` parameter).
        #[arg(long)]
        node: Option<String>,
        /// Only executions started by this actor (`user:ann`,
        /// `rule:batchops.on_no_contact`, ...).
        #[arg(long)]
        actor: Option<String>,
        /// Only executions this rule's enforcements started (`pack.rule`).
        #[arg(long)]
        rule: Option<String>,
        /// Workflows that have not ended instead (running, paused, pending
        /// on an inquiry).
        #[arg(long)]
        active: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show one execution with its result, logs and plan.
    Get {
        id: String,
        #[arg(long)]
        json: bool,
        /// For a workflow: also list its child executions (task, status,
        /// duration), subworkflows nested.
        #[arg(long)]
        tree: bool,
    },
    /// Pause a workflow: running tasks finish, nothing new starts; it waits
    /// for `drover exec resume`.
    Pause(crate::commands::exec_control::PauseArgs),
    /// Resume a paused workflow (or one a crash left): here, in the
    /// foreground, unless `--queue` leaves it to `drover serve`.
    Resume(crate::commands::exec_control::ControlArgs),
    /// Cancel a workflow: running tasks finish, nothing new starts, open
    /// inquiries close; it ends `canceled`.
    Cancel(crate::commands::exec_control::ControlArgs),
    /// Run an ended workflow again from its failed tasks (or `--task`),
    /// with the context they had, as a new execution.
    Rerun(crate::commands::exec_control::RerunArgs),
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// List audit records, newest first.
    List {
        /// Only records of this execution.
        #[arg(long = "exec", value_name = "ID")]
        execution: Option<String>,
        /// Only records of this pack (`NAME` or `NAME@VERSION`).
        #[arg(long)]
        pack: Option<String>,
        /// allowed or denied.
        #[arg(long)]
        decision: Option<String>,
        /// Only records about this target: a node, URL, key or argv.
        #[arg(long)]
        target: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum SecretCmd {
    /// Set a secret; the value is read from standard input (one trailing
    /// newline is dropped).
    Set { name: String },
    /// List secret names (never values).
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RuleCmd {
    /// List stored rules (from installed packs).
    List {
        #[arg(long)]
        pack: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one rule: trigger, criteria, action and parameters.
    Show {
        /// `pack.name`.
        reference: String,
        #[arg(long)]
        json: bool,
    },
    /// Enable a rule (a running `drover serve` picks it up within about a second).
    Enable {
        reference: String,
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Disable a rule (a running `drover serve` picks it up within about a second).
    Disable {
        reference: String,
        /// Why, for the change log (`drover changes list`).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Test a rule against a trigger instance, offline (like st2-rule-tester):
    /// prints each criterion's value, operator, pattern and verdict, then the
    /// rendered parameters. Exits 0 when the rule matches, 1 when it does not,
    /// 2 on error (including a parameter or pattern that fails to render).
    Test(RuleTestArgs),
}

#[derive(Args, Debug)]
pub struct RuleTestArgs {
    /// The rule file (StackStorm rule YAML, or JSON).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "rule_ref",
        conflicts_with = "rule_ref"
    )]
    pub rule: Option<PathBuf>,
    /// An installed rule instead of a file, `pack.name` (see `drover rule
    /// list`); its templates read the live key-value store unless `--kv`
    /// is given.
    #[arg(long, value_name = "PACK.NAME")]
    pub rule_ref: Option<String>,
    /// The trigger instance, as st2-rule-tester reads it:
    /// `{"trigger": "<type>", "payload": {...}}` (JSON, or YAML).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "trigger_instance_id",
        conflicts_with = "trigger_instance_id"
    )]
    pub trigger_instance: Option<PathBuf>,
    /// A stored trigger instance instead of a file (an id from `drover
    /// trigger list`).
    #[arg(long, value_name = "ID")]
    pub trigger_instance_id: Option<String>,
    /// A key-value pair templates see as `kv.KEY` and `st2kv.system.KEY`
    /// (repeatable).
    #[arg(long = "kv", value_name = "KEY=VALUE")]
    pub kv: Vec<String>,
    /// The rule's pack configuration (JSON or YAML), seen as `config.*`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Evaluate at this time instead of now (RFC 3339, e.g.
    /// `2026-01-31T12:00:00Z`), for `timediff_*` criteria.
    #[arg(long, value_name = "TIME")]
    pub now: Option<jiff::Timestamp>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum WorkflowCmd {
    /// Check workflow files (Orquesta `version: 1.0`, Jinja expressions):
    /// YAML, keys, task references, reachability, joins, expressions and the
    /// variables they read. Prints every problem as
    /// `FILE:LINE:COLUMN: PATH: MESSAGE (HINT)`. Exits 0 when every file is
    /// valid, 2 otherwise.
    Validate {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print the problems as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run Orquesta rehearsal test specs (mocked action results) and compare
    /// task sequences, routes, status, errors, output and terminal tasks.
    /// Prints PASS/FAIL per case with the first difference. Exits 0 when
    /// every case passes, 1 when one fails, 2 when a spec or its workflow
    /// cannot be read or is invalid.
    Rehearse {
        #[arg(required = true, value_name = "SPEC")]
        specs: Vec<PathBuf>,
        /// Where the specs' `workflow:` files are (default: beside each spec,
        /// then `../jinja/` relative to it).
        #[arg(long, value_name = "DIR")]
        workflows: Option<PathBuf>,
        /// Print the reports as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Draw a workflow on stdout: Graphviz DOT (`dot -Tpng`) or a standalone SVG.
    Graph {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    Dot,
    Svg,
}
