"""drover's Python SDK: an action or a sensor as a plain Python function.

    from drover import action, log, probe

    @action
    def run(params, ctx):
        answer = probe.ping(params["host"], 2000)
        log.info(f"ping {params['host']}: {answer['reachable']}")
        return {"reachable": answer["reachable"]}

`drover pack build` puts this module on componentize-py's path and builds
the plugin against a WIT world narrowed to the capabilities pack.yaml
declares for it. Only those host interfaces exist in the component:
`from drover import http` in a plugin that does not declare `http` fails
the build, naming the capability to add.

- `@action`: `fn(params: dict, ctx: Context) -> JSON value`. Parameters
  arrive validated (defaults filled in) as a dict; the return value is
  sent back as JSON.
- `@sensor`: a class with `poll(self, config)` and/or
  `on_message(self, source, payload)`, each returning a list of
  `trigger("pack.name", {...})`. `config` is the manifest's `config`,
  `payload` the message as JSON (a string when it is not JSON).
- Host calls return plain Python values (dicts, lists, strings) and raise
  `HostError` (`.kind`: denied, unsupported, invalid, not-found, failed)
  when the host refuses. Left uncaught, a `HostError` fails the call with
  the same kind; raise `Failure("why")` to fail it on purpose. Any other
  uncaught exception fails the call with its traceback: never a crash.
- Import everything at the top of the module: only modules imported at
  build time exist when the plugin runs.
"""

import json as _json
import logging as _logging
import traceback as _traceback

from componentize_py_types import Err as _Err
from wit_world.imports import types as _types

__all__ = [
    "action",
    "sensor",
    "trigger",
    "HostError",
    "Failure",
    "Context",
]

Context = _types.Context


def _interface(name):
    """The generated bindings of host interface `name`, or None when this
    plugin's world does not import it (pack.yaml does not declare it)."""
    try:
        module = __import__("wit_world.imports." + name, fromlist=[name])
    except ImportError:
        return None
    return module


_IMPORTS = {
    name: _interface(name)
    for name in ("log", "kv", "secrets", "http", "probe", "command", "nodes")
}

# The capability to declare for each interface (or function of `nodes`).
_CAPABILITY = {
    "log": "log",
    "kv": "kv",
    "secrets": "secrets",
    "http": "http",
    "probe": "probe",
    "command": "command",
    "nodes.get": "nodes.read",
    "nodes.select": "nodes.read",
    "nodes.facts": "nodes.read",
    "nodes.reboot": "nodes.reboot",
    "nodes.drain": "nodes.drain",
    "nodes.set_state": "nodes.set-state",
    "nodes.report_health": "nodes.health",
}


def _undeclared(what):
    capability = _CAPABILITY.get(what, what)
    return ImportError(
        f"drover.{what}: this plugin does not declare the `{capability}` capability; "
        f"add {capability} to its capabilities in pack.yaml"
    )


class HostError(Exception):
    """A host call was refused or failed. `kind` is one of denied,
    unsupported, invalid, not-found, failed; `message` says why."""

    def __init__(self, kind, message):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class Failure(Exception):
    """Raise to end the call as failed with `message` (no traceback)."""

    def __init__(self, message, kind="failed"):
        super().__init__(message)
        self.kind = kind
        self.message = message


_KINDS = {
    _types.Error_Denied: "denied",
    _types.Error_Unsupported: "unsupported",
    _types.Error_Invalid: "invalid",
    _types.Error_NotFound: "not-found",
    _types.Error_Failed: "failed",
}
_VARIANTS = {kind: variant for variant, kind in _KINDS.items()}


def _host(call, *args):
    """Calls a host function, turning its error variant into HostError."""
    try:
        return call(*args)
    except _Err as err:
        raise HostError(_KINDS.get(type(err.value), "failed"), err.value.value) from None


def _plain(value):
    """A binding value (dataclass, enum, list, tuple) as plain Python."""
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "name") and hasattr(value, "value") and type(value).__module__.startswith("wit_world"):
        return value.name.lower().replace("_", "-")
    return value


class _Log:
    """drover's log for this execution (`drover exec show`)."""

    def __init__(self, bindings):
        self._b = bindings

    def _write(self, level, message):
        self._b.log(getattr(self._b.Level, level), str(message))

    def trace(self, message):
        self._write("TRACE", message)

    def debug(self, message):
        self._write("DEBUG", message)

    def info(self, message):
        self._write("INFO", message)

    def warn(self, message):
        self._write("WARN", message)

    warning = warn

    def error(self, message):
        self._write("ERROR", message)


class _Kv:
    """The key-value store: the pack's own keys, or another scope (`*_in`)."""

    def __init__(self, bindings):
        self._b = bindings

    def get(self, key):
        return _host(self._b.get, key)

    def set(self, key, value, ttl_seconds=None):
        _host(self._b.set, key, value, ttl_seconds)

    def delete(self, key):
        return _host(self._b.delete, key)

    def get_in(self, scope, key):
        return _host(self._b.get_in, scope, key)

    def set_in(self, scope, key, value, ttl_seconds=None):
        _host(self._b.set_in, scope, key, value, ttl_seconds)

    def delete_in(self, scope, key):
        return _host(self._b.delete_in, scope, key)


class _Secrets:
    """Named secrets (each name granted by an operator)."""

    def __init__(self, bindings):
        self._b = bindings

    def get(self, name):
        return _host(self._b.get, name)


class _Http:
    """Outgoing HTTP through the host (granted hosts only)."""

    def __init__(self, bindings):
        self._b = bindings

    def send(self, method, url, headers=None, body=None, timeout_ms=None):
        if isinstance(body, str):
            body = body.encode()
        request = self._b.Request(
            method=method,
            url=url,
            headers=list((headers or {}).items()) if isinstance(headers, dict) else list(headers or []),
            body=body,
            timeout_ms=timeout_ms,
        )
        response = _host(self._b.send, request)
        return {
            "status": response.status,
            "headers": [list(h) for h in response.headers],
            "body": bytes(response.body),
        }

    def get(self, url, headers=None, timeout_ms=None):
        return self.send("GET", url, headers, None, timeout_ms)


class _Probe:
    """Reachability checks run by the host."""

    def __init__(self, bindings):
        self._b = bindings

    def ping(self, host, timeout_ms=2000):
        return _plain(_host(self._b.ping, host, timeout_ms))

    def tcp_connect(self, host, port, timeout_ms=2000):
        return _plain(_host(self._b.tcp_connect, host, port, timeout_ms))


class _Command:
    """An argument vector run on a node over ssh (granted argv only)."""

    def __init__(self, bindings):
        self._b = bindings

    def run(self, node, argv, timeout_ms=10000):
        return _plain(_host(self._b.run, node, list(argv), timeout_ms))


class _Nodes:
    """The fleet: node facts, and change requests to the fleet controller.
    Only the functions whose capability pack.yaml declares exist."""

    def __init__(self, bindings):
        self._b = bindings

    def _fn(self, name):
        fn = getattr(self._b, name, None)
        if fn is None:
            raise _undeclared("nodes." + name)
        return fn

    def get(self, name):
        return _plain(_host(self._fn("get"), name))

    def select(self, selector):
        return _plain(_host(self._fn("select"), selector))

    def facts(self, name):
        return _json.loads(_host(self._fn("facts"), name))

    def reboot(self, name, reason):
        return _plain(_host(self._fn("reboot"), name, reason))

    def drain(self, name, reason):
        return _plain(_host(self._fn("drain"), name, reason))

    def set_state(self, name, state, reason):
        return _plain(_host(self._fn("set_state"), name, state, reason))

    def report_health(self, name, health, detail):
        """`health`: "answering", "unreachable" or "silent"."""
        value = getattr(self._b.Health, str(health).upper().replace("-", "_"))
        _host(self._fn("report_health"), name, value, detail)


_WRAPPERS = {
    "log": _Log,
    "kv": _Kv,
    "secrets": _Secrets,
    "http": _Http,
    "probe": _Probe,
    "command": _Command,
    "nodes": _Nodes,
}
_OBJECTS = {
    name: _WRAPPERS[name](bindings)
    for name, bindings in _IMPORTS.items()
    if bindings is not None
}


def __getattr__(name):
    # `from drover import http`: the host interface when declared, else an
    # ImportError naming the capability to declare (at build time, since
    # imports run then).
    if name in _OBJECTS:
        return _OBJECTS[name]
    if name in _WRAPPERS:
        raise _undeclared(name)
    raise AttributeError(f"module 'drover' has no attribute {name!r}")


class _Handler(_logging.Handler):
    """Python's `logging` into drover's log."""

    _LEVELS = [
        (_logging.ERROR, "error"),
        (_logging.WARNING, "warn"),
        (_logging.INFO, "info"),
        (_logging.DEBUG, "debug"),
    ]

    def emit(self, record):
        message = self.format(record)
        for level, method in self._LEVELS:
            if record.levelno >= level:
                getattr(_OBJECTS["log"], method)(message)
                return
        _OBJECTS["log"].trace(message)


if "log" in _OBJECTS:
    _root = _logging.getLogger()
    _root.addHandler(_Handler())
    _root.setLevel(_logging.DEBUG)


def trigger(trigger_type, payload):
    """A trigger for a sensor to return: `trigger("mypack.tick", {...})`."""
    return _types.Trigger(trigger_type=trigger_type, payload=_json.dumps(payload))


_registered = {}


def action(fn):
    """Marks `fn(params, ctx)` as this plugin's action (one per plugin)."""
    if "action" in _registered:
        raise RuntimeError(
            f"two @action functions: {_registered['action'].__name__} and {fn.__name__}; "
            "a plugin has one"
        )
    _registered["action"] = fn
    return fn


def sensor(cls):
    """Marks a class with `poll(self, config)` and/or
    `on_message(self, source, payload)` as this plugin's sensor."""
    if "sensor" in _registered:
        raise RuntimeError("two @sensor classes: a plugin has one")
    _registered["sensor"] = cls() if isinstance(cls, type) else cls
    return cls


def _fail(exc):
    """An exception as the world's error: HostError and Failure keep their
    kind and message; anything else is `failed` with its traceback."""
    if isinstance(exc, (HostError, Failure)):
        variant = _VARIANTS.get(exc.kind, _types.Error_Failed)
        return _Err(variant(exc.message))
    tb = exc.__traceback__
    # The SDK's own frame (the call into the author's function) is noise.
    if tb is not None and tb.tb_next is not None and __name__ in tb.tb_frame.f_globals.get("__name__", ""):
        tb = tb.tb_next
    text = "".join(_traceback.format_exception(type(exc), exc, tb))
    return _Err(_types.Error_Failed(f"uncaught {type(exc).__name__}: {exc}\n{text}".rstrip()))


def _entry(kind):
    found = _registered.get(kind)
    if found is None:
        raise RuntimeError(
            f"no @{kind} in this plugin: decorate its function with @drover.{kind}"
        )
    return found


def _run(input, ctx):
    """The world's `run` export (called by the generated entry module)."""
    try:
        fn = _entry("action")
        result = fn(_json.loads(input), ctx)
        return _json.dumps(result)
    except BaseException as exc:  # a plugin never crashes the call
        raise _fail(exc)


def _triggers(result):
    out = []
    for item in result or []:
        if isinstance(item, _types.Trigger):
            out.append(item)
        elif isinstance(item, dict) and "type" in item:
            out.append(trigger(item["type"], item.get("payload", {})))
        else:
            raise TypeError(f"a sensor returns trigger(...) values, not {item!r}")
    return out


def _poll(config):
    try:
        sensor = _entry("sensor")
        if not hasattr(sensor, "poll"):
            return []
        return _triggers(sensor.poll(_json.loads(config)))
    except BaseException as exc:
        raise _fail(exc)


def _on_message(source, payload):
    try:
        sensor = _entry("sensor")
        if not hasattr(sensor, "on_message"):
            return []
        return _triggers(sensor.on_message(source, _json.loads(payload)))
    except BaseException as exc:
        raise _fail(exc)
