//! `drover sim hang|heal|list`: faults in the simulated fleet (nodes with
//! driver `sim`). A hung node stops answering probes and ssh, the way a
//! real node that lost its network or froze would, until the fleet
//! controller reboots it. For demos, tests and rehearsing a pack against
//! the sim fleet before it meets real nodes.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Subcommand;
use drover_fleet::Fleet;

use crate::context::{actor, open_store};
use crate::output;

#[derive(Subcommand, Debug)]
pub enum SimCmd {
    /// Make simulated nodes hang: no answer to ping or ssh until rebooted.
    Hang {
        #[arg(required = true, value_name = "NODE")]
        nodes: Vec<String>,
    },
    /// Clear simulated nodes' faults without a reboot (a repair by hand).
    Heal {
        #[arg(required = true, value_name = "NODE")]
        nodes: Vec<String>,
    },
    /// Faults injected so far, and whether each still holds.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(db: &Path, cmd: SimCmd) -> Result<ExitCode> {
    let store = open_store(db)?;
    match cmd {
        SimCmd::Hang { nodes } => {
            let fleet = Fleet::new(store.clone());
            for name in &nodes {
                let node = fleet.node(name)?;
                if node.driver != "sim" {
                    bail!(
                        "{name} uses driver {:?}, not sim: only simulated nodes can be made to hang",
                        node.driver
                    );
                }
            }
            store.sim_hang(nodes.clone(), drover_core::now_ms(), &actor())?;
            println!(
                "hung: {} (they answer again once rebooted)",
                nodes.join(", ")
            );
        }
        SimCmd::Heal { nodes } => {
            let n = store.sim_heal(nodes)?;
            println!("healed {n} node(s)");
        }
        SimCmd::List { json } => {
            let faults = store.sim_faults()?;
            if json {
                output::json(&faults)?;
            } else if faults.is_empty() {
                println!("no faults injected (`drover sim hang NODE` makes one)");
            } else {
                for f in faults {
                    println!(
                        "{:<12} {}  since {}  by {}",
                        f.node,
                        if f.active { "HUNG   " } else { "rebooted" },
                        output::time(f.since_ms),
                        f.actor
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
