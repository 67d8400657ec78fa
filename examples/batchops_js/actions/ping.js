// batchops_js.ping: is `node` reachable? A port of batchops.ping.
//
// Pings `host` (the node's name when not given) and returns {node, host,
// reachable, latency_ms, detail}. Unreachable is a result, not a failure.
// What it saw is also reported as the node's health (answering or
// unreachable) when `nodes.health` is granted; a refused report is logged
// and changes nothing else. Only a host error (a probe that was not
// granted, a bad host) fails the action: left uncaught, the SDK fails the
// call with the host's own error.

import { HostError, action, log, nodes, probe } from "drover";

action((params) => {
  const node = params.node;
  const host = params.host || node;
  const answer = probe.ping(host, params.timeout_ms);
  log.info(`ping ${host}: ${answer.reachable ? "reachable" : "no answer"}`);
  const [health, seen] = answer.reachable
    ? ["answering", `answers ping (${host})`]
    : ["unreachable", `no answer to ping (${host})`];
  try {
    nodes.reportHealth(node, health, seen);
  } catch (e) {
    if (!(e instanceof HostError)) throw e;
    log.warn(`cannot report the health of ${node}: ${e.message}`);
  }
  return {
    node,
    host,
    reachable: answer.reachable,
    latency_ms: answer.latencyMs,
    detail: answer.detail,
  };
});
