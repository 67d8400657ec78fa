//! `drover demo`: the whole story live, on a fresh database of its own. It
//! sets up what an operator would (the `core` and `batchops` packs, a
//! simulated fleet of 500 nodes in 25 racks, grants, budgets, the storm
//! brake) by running the same commands a user types, and shows each one;
//! then it starts `drover serve`, a stand-in alerting and ticket endpoint
//! on 127.0.0.1:8331 ([`sink`]) and a monitoring stand-in that makes nodes
//! hang and reports them by webhook ([`incidents`]). The operator watches
//! the remediations in the printed web UI and steers them (brake release,
//! drain, reboot) as they would on a real fleet.

mod incidents;
mod setup;
mod sink;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Directory for the demo's database; it is recreated on every start
    /// (a directory that holds anything but a demo is refused).
    #[arg(long, default_value = "drover-demo", value_name = "DIR")]
    pub dir: PathBuf,
    /// The packs to install from: a drover checkout's `packs/`, with the
    /// components built (`cargo xtask plugins`).
    #[arg(long, default_value = "packs", value_name = "DIR")]
    pub packs: PathBuf,
    /// Where `drover serve` listens (the web UI is at /ui/).
    #[arg(long, default_value = "127.0.0.1:8330", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Simulated nodes, spread evenly over --racks.
    #[arg(long, default_value_t = 500)]
    pub nodes: u32,
    #[arg(long, default_value_t = 25)]
    pub racks: u32,
    /// Time between incidents the monitoring stand-in reports.
    #[arg(long, default_value = "8s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub every: Duration,
    /// When a rack switch "fails" (30 nodes go silent at once, which trips
    /// the storm brake); `off` for never.
    #[arg(long, default_value = "3m", value_parser = parse_storm, value_name = "DURATION|off")]
    pub storm_after: StormAfter,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub duration: Option<Duration>,
    /// Seed for which nodes fail: the same seed tells the same story.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// `--storm-after`: a delay, or never (`off`).
#[derive(Clone, Copy, Debug)]
pub struct StormAfter(pub Option<Duration>);

fn parse_storm(text: &str) -> Result<StormAfter, String> {
    if text == "off" {
        return Ok(StormAfter(None));
    }
    humantime::parse_duration(text)
        .map(|d| StormAfter(Some(d)))
        .map_err(|e| format!("{e} (e.g. 3m, or off)"))
}

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    if args.racks == 0 || args.nodes < args.racks {
        anyhow::bail!(
            "--nodes ({}) must be at least --racks ({}), and --racks at least 1",
            args.nodes,
            args.racks
        );
    }
    let demo = setup::prepare(&args)?;
    sink::start(sink::ADDR);
    incidents::start(&args, &demo);
    let banner = format!(
        "\n================================================================\n\
         drover demo is up: open http://{}/ui/\n\
         log in as {:?} with password {}\n\
         \n\
         What happens: every {} the monitoring stand-in reports a silent\n\
         node. Dead nodes are rebooted one per rack at a time, live ones\n\
         are left alone, nodes that never come back end in intervention\n\
         with an alarm and a ticket (printed below as `sink:` lines).{}\n\
         In another shell:  export DROVER_DB={}\n\
         then e.g. `drover node list --label rack=r01`, `drover exec list`.\n\
         Ctrl-C stops the demo.\n\
         ================================================================\n",
        args.listen,
        demo.admin_user,
        demo.admin_password,
        humantime::format_duration(args.every),
        match args.storm_after.0 {
            Some(d) => format!(
                "\nAfter {}, a rack switch fails: the storm brake stops all\n\
                 automatic reboots until you release it (Fleet page, or\n\
                 `drover brake release`).",
                humantime::format_duration(d)
            ),
            None => String::new(),
        },
        demo.db.display(),
    );
    // "is up" only once it is: serve binds in this thread, below.
    let listen = args.listen;
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while std::net::TcpStream::connect(listen).is_err() {
            if std::time::Instant::now() > deadline {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        println!("{banner}");
    });
    setup::drover(
        &demo.db,
        &[
            "serve",
            "--listen",
            &args.listen.to_string(),
            "--grace",
            "5s",
        ],
    )
}
