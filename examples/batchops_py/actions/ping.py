"""batchops_py.ping: is `node` reachable? A port of batchops.ping.

Pings `host` (the node's name when not given) and returns {"node", "host",
"reachable", "latency_ms", "detail"}. Unreachable is a result, not a
failure. What it saw is also reported as the node's health (answering or
unreachable) when `nodes.health` is granted; a refused report is logged and
changes nothing else. Only a host error (a probe that was not granted, a
bad host) fails the action: left uncaught, the SDK fails the call with the
host's own error.
"""

from drover import HostError, action, log, nodes, probe


@action
def run(params, ctx):
    node = params["node"]
    host = params.get("host") or node
    answer = probe.ping(host, params["timeout_ms"])
    log.info(f"ping {host}: {'reachable' if answer['reachable'] else 'no answer'}")
    if answer["reachable"]:
        health, seen = "answering", f"answers ping ({host})"
    else:
        health, seen = "unreachable", f"no answer to ping ({host})"
    try:
        nodes.report_health(node, health, seen)
    except HostError as e:
        log.warn(f"cannot report the health of {node}: {e.message}")
    return {
        "node": node,
        "host": host,
        "reachable": answer["reachable"],
        "latency_ms": answer["latency_ms"],
        "detail": answer["detail"],
    }
