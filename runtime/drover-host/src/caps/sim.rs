//! The simulated fleet's side of `probe` and `command`: a node whose
//! driver is `sim` has no network presence, so the host answers for it
//! from the simulation (see `drover sim hang`): a node answers unless it
//! is rebooting or hangs since its last reboot. Once ssh is set up (node
//! `ssh` options, or a key or config in drover's ssh directory), sim
//! nodes are reached over the network like any other. Grant checks, audit and
//! dry-run planning happen before, exactly as for a real node; only the
//! network step is simulated, and its detail says so.

use drover_core::NodeRow;

use crate::bindings::PluginError;
use crate::bindings::drover::plugin::command::Output;
use crate::bindings::drover::plugin::probe::ProbeResult;
use crate::call::CallCtx;

/// What a hung node's ssh client says.
const SSH_TIMEOUT: &str = "ssh: connect to host {node} port 22: Connection timed out (simulated)";

impl CallCtx {
    /// For a node of the simulated fleet, whether it answers now; `None`
    /// for anything else (a real node, a host that is not a node).
    pub(super) fn sim_answers(&self, name: &str) -> Result<Option<bool>, PluginError> {
        match self.services.ports.node(name) {
            Ok(row) => self.sim_node_answers(&row),
            Err(_) => Ok(None),
        }
    }

    /// [`Self::sim_answers`] for a node already read.
    pub(super) fn sim_node_answers(&self, row: &NodeRow) -> Result<Option<bool>, PluginError> {
        // A sim node is reached for real once ssh is set up for it (its
        // own `ssh` options, or a key or config in drover's ssh directory):
        // tests and staging run real commands beside simulated power.
        let real = row.options.get("ssh").is_some() || self.services.ssh.configured();
        if row.driver != "sim" || real {
            return Ok(None);
        }
        self.services
            .ports
            .sim_answers(&row.name, &row.state)
            .map(Some)
            .map_err(|e| PluginError::Failed(format!("the simulated fleet: {e}")))
    }

    /// A probe of a simulated node.
    pub(super) fn sim_probe(answers: bool, host: &str) -> ProbeResult {
        ProbeResult {
            reachable: answers,
            latency_ms: answers.then_some(1),
            detail: if answers {
                format!("{host} answered (simulated node)")
            } else {
                format!("{host} did not answer (simulated node: hung or rebooting)")
            },
        }
    }

    /// `argv` "run" on a simulated node: `uptime` answers like the real
    /// one, anything else exits 0 with no output; a hung node fails like
    /// an ssh connection that times out.
    pub(super) fn sim_command(
        answers: bool,
        node: &str,
        argv: &[String],
    ) -> Result<Output, PluginError> {
        if !answers {
            return Err(PluginError::Failed(SSH_TIMEOUT.replace("{node}", node)));
        }
        let stdout = if argv[0] == "uptime" {
            " 12:00:00 up 3 days,  2:07,  0 users,  load average: 0.42, 0.40, 0.38 (simulated)\n"
                .to_owned()
        } else {
            String::new()
        };
        Ok(Output {
            exit_code: 0,
            stdout,
            stderr: String::new(),
        })
    }
}
