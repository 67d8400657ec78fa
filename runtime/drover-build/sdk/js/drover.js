// drover's JavaScript SDK: an action as a plain JavaScript function.
//
//     import { action, log, probe } from "drover";
//
//     action((params, ctx) => {
//       const answer = probe.ping(params.host, 2000);
//       log.info(`ping ${params.host}: ${answer.reachable}`);
//       return { reachable: answer.reachable };
//     });
//
// `drover pack build` writes this module beside the plugin's source and
// builds both with componentize-js against a WIT world narrowed to the
// capabilities pack.yaml declares. Only those host interfaces exist in the
// component: `import { http } from "drover"` in a plugin that does not
// declare `http` fails the build, naming the capability to add.
//
// - `action(fn)`: `fn(params, ctx)` returns a JSON value. Parameters arrive
//   validated (defaults filled in) as an object; `ctx` is
//   `{executionId, action, packVersion, dryRun}`.
// - Host calls return plain values (records as objects with camelCase
//   fields, a missing option as null) and throw `HostError` (`.kind`:
//   denied, unsupported, invalid, not-found, failed) when the host refuses.
//   Left uncaught, a `HostError` fails the call with the same kind; throw
//   `new Failure("why")` to fail it on purpose. Anything else thrown fails
//   the call with its stack: never a crash.
// - `console.log` and friends write to drover's log when `log` is declared.
// - `sensor({ poll(config), onMessage(source, payload) })` (either may be
//   left out; a class is instantiated): each returns a list of
//   `trigger("pack.type", payload)`.
// - The plugin is one module (its imports: "drover" only); bundle first
//   to use more.

import bindings from "./drover_imports.js";

// The capability to declare for each interface (or function of `nodes`).
const CAPABILITY = {
  log: "log",
  kv: "kv",
  secrets: "secrets",
  http: "http",
  probe: "probe",
  command: "command",
  "nodes.get": "nodes.read",
  "nodes.select": "nodes.read",
  "nodes.facts": "nodes.read",
  "nodes.reboot": "nodes.reboot",
  "nodes.drain": "nodes.drain",
  "nodes.setState": "nodes.set-state",
  "nodes.reportHealth": "nodes.health",
};

function undeclared(what) {
  const capability = CAPABILITY[what] ?? what;
  return new Error(
    `drover.${what}: this plugin does not declare the \`${capability}\` capability; ` +
      `add ${capability} to its capabilities in pack.yaml`,
  );
}

/** A host call was refused or failed. `kind` is one of denied, unsupported,
 * invalid, not-found, failed; `message` says why. */
export class HostError extends Error {
  constructor(kind, message) {
    super(`${kind}: ${message}`);
    this.name = "HostError";
    this.kind = kind;
    this.hostMessage = message;
  }
}

/** Throw to end the call as failed with `message` (no stack). */
export class Failure extends Error {
  constructor(message, kind = "failed") {
    super(message);
    this.name = "Failure";
    this.kind = kind;
  }
}

const KINDS = ["denied", "unsupported", "invalid", "not-found", "failed"];

/** Calls a host function, turning its error variant into HostError. */
function host(fn, ...args) {
  try {
    return plain(fn(...args));
  } catch (e) {
    const p = e && Object.prototype.hasOwnProperty.call(e, "payload") ? e.payload : null;
    if (p && typeof p === "object" && KINDS.includes(p.tag)) {
      throw new HostError(p.tag, String(p.val));
    }
    throw e;
  }
}

/** A binding value as plain JSON-friendly data: a none option is null. */
function plain(value) {
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Uint8Array) return value;
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value;
}

/** The bindings of interface `name`, or an object whose every use throws
 * naming the capability to declare (for `import * as drover`). */
function wrap(name, make) {
  const b = bindings[name];
  if (b) return make(b);
  return new Proxy(
    {},
    {
      get() {
        throw undeclared(name);
      },
    },
  );
}

function nodeFn(b, name) {
  const fn = b[name];
  if (typeof fn !== "function") throw undeclared(`nodes.${name}`);
  return fn;
}

const LEVELS = ["trace", "debug", "info", "warn", "error"];

/** drover's log for this execution (`drover exec show`). */
export const log = wrap("log", (b) => {
  const out = {};
  for (const level of LEVELS) {
    out[level] = (...parts) => b.log(level, parts.map(text).join(" "));
  }
  out.warning = out.warn;
  return out;
});

function text(part) {
  if (typeof part === "string") return part;
  if (part instanceof Error) return part.stack ? `${part}\n${part.stack}` : String(part);
  try {
    return JSON.stringify(part) ?? String(part);
  } catch {
    return String(part);
  }
}

/** The key-value store: the pack's own keys, or another scope (`*In`). */
export const kv = wrap("kv", (b) => ({
  get: (key) => host(b.get, key),
  set: (key, value, ttlSeconds) => host(b.set, key, value, ttlSeconds ?? undefined),
  delete: (key) => host(b.delete, key),
  getIn: (scope, key) => host(b.getIn, scope, key),
  setIn: (scope, key, value, ttlSeconds) =>
    host(b.setIn, scope, key, value, ttlSeconds ?? undefined),
  deleteIn: (scope, key) => host(b.deleteIn, scope, key),
}));

/** Named secrets (each name granted by an operator). */
export const secrets = wrap("secrets", (b) => ({
  get: (name) => host(b.get, name),
}));

/** Outgoing HTTP through the host (granted hosts only). `body`: a string or
 * a Uint8Array; the response's `body` is a Uint8Array, `text` the same
 * decoded as UTF-8. */
export const http = wrap("http", (b) => {
  const send = (method, url, { headers = {}, body, timeoutMs } = {}) => {
    const request = {
      method,
      url,
      headers: Array.isArray(headers) ? headers : Object.entries(headers),
      body: typeof body === "string" ? new TextEncoder().encode(body) : (body ?? undefined),
      timeoutMs: timeoutMs ?? undefined,
    };
    const response = host(b.send, request);
    response.text = new TextDecoder().decode(response.body);
    return response;
  };
  return { send, get: (url, options) => send("GET", url, options) };
});

/** Reachability checks run by the host. */
export const probe = wrap("probe", (b) => ({
  ping: (hostName, timeoutMs = 2000) => host(b.ping, hostName, timeoutMs),
  tcpConnect: (hostName, port, timeoutMs = 2000) => host(b.tcpConnect, hostName, port, timeoutMs),
}));

/** An argument vector run on a node over ssh (granted argv only). */
export const command = wrap("command", (b) => ({
  run: (node, argv, timeoutMs = 10000) => host(b.run, node, [...argv], timeoutMs),
}));

/** The fleet: node facts, and change requests to the fleet controller. Only
 * the functions whose capability pack.yaml declares exist. */
export const nodes = wrap("nodes", (b) => ({
  get: (name) => host(nodeFn(b, "get"), name),
  select: (selector) => host(nodeFn(b, "select"), selector),
  facts: (name) => JSON.parse(host(nodeFn(b, "facts"), name)),
  reboot: (name, reason) => host(nodeFn(b, "reboot"), name, reason),
  drain: (name, reason) => host(nodeFn(b, "drain"), name, reason),
  setState: (name, state, reason) => host(nodeFn(b, "setState"), name, state, reason),
  /** `health`: "answering", "unreachable" or "silent". */
  reportHealth: (name, health, detail) =>
    host(nodeFn(b, "reportHealth"), name, health, detail),
}));

// console.* into drover's log, when the plugin may log.
if (bindings.log) {
  const route = { log: "info", info: "info", debug: "debug", trace: "trace", warn: "warn", error: "error" };
  for (const [method, level] of Object.entries(route)) {
    globalThis.console[method] = (...parts) => log[level](...parts);
  }
}

let registered = null;
let registeredSensor = null;

/** Makes `fn(params, ctx)` this plugin's action (one per plugin). */
export function action(fn) {
  if (typeof fn !== "function") {
    throw new TypeError(`action(fn) takes a function, not ${typeof fn}`);
  }
  if (registered) {
    throw new Error(
      `two action(...) calls: ${registered.name || "a function"} and ${fn.name || "a function"}; ` +
        "a plugin has one",
    );
  }
  registered = fn;
  return fn;
}

/** Makes `impl` this plugin's sensor (one per plugin): an object, or a
 * class to instantiate, with `poll(config)` and/or
 * `onMessage(source, payload)`, each returning a list of triggers. */
export function sensor(impl) {
  const instance = typeof impl === "function" ? new impl() : impl;
  if (!instance || typeof instance !== "object") {
    throw new TypeError(`sensor(impl) takes an object or a class, not ${typeof impl}`);
  }
  if (typeof instance.poll !== "function" && typeof instance.onMessage !== "function") {
    throw new TypeError("sensor(impl): impl has neither poll(config) nor onMessage(source, payload)");
  }
  if (registeredSensor) {
    throw new Error("two sensor(...) calls: a plugin has one");
  }
  registeredSensor = instance;
  return impl;
}

/** A trigger for a sensor to return: `trigger("mypack.tick", {...})`. */
export function trigger(type, payload) {
  if (typeof type !== "string") {
    throw new TypeError(`trigger(type, payload): type is a string like "mypack.tick", not ${typeof type}`);
  }
  return { triggerType: type, payload: JSON.stringify(payload ?? {}) };
}

/** A thrown value as the world's error (a plain object: componentize-js
 * turns a thrown Error into a trap, anything else into the `err` value). */
function fail(e) {
  if (e instanceof HostError) return { tag: e.kind, val: e.hostMessage };
  if (e instanceof Failure) {
    return { tag: KINDS.includes(e.kind) ? e.kind : "failed", val: e.message };
  }
  if (e instanceof Error) {
    const stack = (e.stack ?? "")
      .split("\n")
      // The SDK's and componentize-js's frames (the calls into the author's
      // function) are noise.
      .filter((line) => line && !/(^|[@/])(drover(_entry)?|initializer)\.js:/.test(line))
      .join("\n");
    return { tag: "failed", val: `uncaught ${e.name}: ${e.message}\n${stack}`.trimEnd() };
  }
  return { tag: "failed", val: `uncaught ${text(e)}` };
}

/** The world's `run` export (called by the generated entry module). */
export function _run(input, ctx) {
  try {
    if (!registered) {
      throw new Error("no action in this plugin: pass its function to action(...) from \"drover\"");
    }
    const result = registered(JSON.parse(input), ctx);
    if (result && typeof result.then === "function") {
      throw new Error("the action returned a Promise: actions are synchronous; drop async");
    }
    return JSON.stringify(result === undefined ? null : result);
  } catch (e) {
    throw fail(e);
  }
}

/** A sensor method's result as the world's list of triggers. */
function triggers(result, method) {
  if (result && typeof result.then === "function") {
    throw new Error(`the sensor's ${method} returned a Promise: sensors are synchronous; drop async`);
  }
  if (result === undefined || result === null) return [];
  if (!Array.isArray(result)) {
    throw new TypeError(`the sensor's ${method} returns a list of trigger(...) values, not ${text(result)}`);
  }
  return result.map((item) => {
    if (item && typeof item.triggerType === "string" && typeof item.payload === "string") {
      return item;
    }
    if (item && typeof item.type === "string") return trigger(item.type, item.payload);
    throw new TypeError(`the sensor's ${method} returns trigger(...) values, not ${text(item)}`);
  });
}

/** Calls the registered sensor's `method`, if it has one. */
function callSensor(method, args) {
  try {
    if (!registeredSensor) {
      throw new Error("no sensor in this plugin: pass it to sensor(...) from \"drover\"");
    }
    const fn = registeredSensor[method];
    if (typeof fn !== "function") return [];
    return triggers(fn.apply(registeredSensor, args), method);
  } catch (e) {
    throw fail(e);
  }
}

/** The world's `poll` export (called by the generated entry module). */
export function _poll(config) {
  return callSensor("poll", [JSON.parse(config)]);
}

/** The world's `on-message` export (called by the generated entry module). */
export function _onMessage(source, payload) {
  return callSensor("onMessage", [source, JSON.parse(payload)]);
}
