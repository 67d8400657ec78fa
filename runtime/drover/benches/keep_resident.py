"""Rust vs Python no-op actions under the real `drover serve`, with the pooling
allocator keeping 2 MiB vs a fitted size of each freed memory resident
(DROVER_MEMORY_KEEP_RESIDENT_MIB), interleaved. Usage (repository root, after
`cargo build --release -p drover` and `cargo xtask plugins`):

    python3 runtime/drover/benches/keep_resident.py [KEEPS=2,32] [N=200] [ROUNDS=1]

Each step: a fresh database with a pack of both no-ops and a webhook rule each,
`drover serve`, N signed webhooks one at a time per action, then the stored
executions' duration_us (p50, p90), the server's CPU per execution and RSS.
Figures: docs/perf.md."""
import hashlib, hmac, json, os, shutil, sqlite3, subprocess, sys, tempfile, time, urllib.request, socket

DROVER = os.environ.get("DROVER", os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release/drover"))
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../..")
KEEPS = [k for k in sys.argv[1].split(",")] if len(sys.argv) > 1 else ["2", "32"]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 300
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 2
KEY = b"bench-key"
PY = 'from drover import action\n\n\n@action\ndef run(params, ctx):\n    return {}\n'
CACHE = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "bench-components/measure_py_noop.wasm")

PACK = """name: bench
version: 0.1.0
description: Rust and Python no-ops.
plugins:
  rs:
    kind: action
    description: core.noop.
    component: components/core_noop.wasm
    capabilities: []
  py:
    kind: action
    description: A Python no-op.
    component: components/py_noop.wasm
    capabilities: [wasi:filesystem, wasi:sockets]
triggers:
  evrs:
    description: e
    payload: {i: {type: integer, required: true}}
    webhook: {hmac_secret: bench.webhook}
  evpy:
    description: e
    payload: {i: {type: integer, required: true}}
    webhook: {hmac_secret: bench.webhook}
"""
RULE = """name: {n}
pack: bench
description: every event.
enabled: true
trigger: {{type: bench.ev{n}}}
criteria:
  trigger.i: {{type: exists}}
action: {{ref: bench.{n}}}
"""

def run(db, *args, stdin=None):
    r = subprocess.run([DROVER, *args], env={**os.environ, "DROVER_DB": db, "USER": "bench"},
                       input=stdin, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"drover {args}: {r.stderr}")
    return r.stdout

def build_py():
    if os.path.isfile(CACHE):
        return
    d = tempfile.mkdtemp()
    os.makedirs(f"{d}/src/actions")
    open(f"{d}/src/actions/noop.py", "w").write(PY)
    open(f"{d}/src/pack.yaml", "w").write("name: benchsrc\nversion: 0.1.0\ndescription: x.\nplugins:\n  noop:\n    kind: action\n    description: x.\n    source: actions/noop.py\n    component: components/noop.wasm\n    capabilities: [wasi:filesystem, wasi:sockets]\n")
    t = time.time()
    run(f"{d}/x.db", "pack", "build", f"{d}/src")
    print(f"built python noop in {time.time()-t:.1f} s")
    os.makedirs(os.path.dirname(CACHE), exist_ok=True)
    shutil.copy(f"{d}/src/components/noop.wasm", CACHE)

def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def status(pid, field):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith(field + ":"):
            return int(l.split()[1]) / 1024
def ticks(pid):
    rest = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])

def step(keep, rnd):
    d = tempfile.mkdtemp()
    pack = f"{d}/bench"
    os.makedirs(f"{pack}/components"); os.makedirs(f"{pack}/rules")
    open(f"{pack}/pack.yaml", "w").write(PACK)
    for n in ("rs", "py"):
        open(f"{pack}/rules/{n}.yaml", "w").write(RULE.format(n=n))
    shutil.copy(f"{ROOT}/packs/core/components/core_noop.wasm", f"{pack}/components/")
    shutil.copy(CACHE, f"{pack}/components/py_noop.wasm")
    db = f"{d}/drover.db"
    run(db, "pack", "install", "--trusted", pack)
    run(db, "secret", "set", "bench.webhook", stdin=KEY.decode())
    p = port()
    log = open(f"{d}/serve.log", "w")
    srv = subprocess.Popen([DROVER, "serve", "--listen", f"127.0.0.1:{p}", "--workers", "4"],
                           env={**os.environ, "DROVER_DB": db, "USER": "bench", "DROVER_MEMORY_KEEP_RESIDENT_MIB": keep, "RUST_LOG": "warn"},
                           stdout=log, stderr=log)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", p), 0.2).close(); break
            except OSError:
                time.sleep(0.1)
        out = {}
        for n in ("rs", "py"):
            t0 = ticks(srv.pid)
            for i in range(N):
                body = json.dumps({"i": i}).encode()
                sig = "sha256=" + hmac.new(KEY, body, hashlib.sha256).hexdigest()
                req = urllib.request.Request(f"http://127.0.0.1:{p}/api/v1/webhooks/bench.ev{n}", data=body,
                                             headers={"content-type": "application/json", "x-drover-signature": sig})
                urllib.request.urlopen(req, timeout=30).read()
                # one at a time: a paced closed loop
            deadline = time.time() + 120
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            while time.time() < deadline:
                c = con.execute("SELECT count(*) FROM executions WHERE action = ?", (f"bench.{n}",)).fetchone()[0]
                if c >= N: break
                time.sleep(0.1)
            cpu = (ticks(srv.pid) - t0) * 10000 / N
            d_us = sorted(r[0] for r in con.execute("SELECT duration_us FROM executions WHERE action = ?", (f"bench.{n}",)))
            out[n] = (d_us[len(d_us)//2], d_us[len(d_us)*9//10], cpu, len(d_us))
        rss, hwm = status(srv.pid, "VmRSS"), status(srv.pid, "VmHWM")
        for n, (p50, p90, cpu, c) in out.items():
            print(f"keep {keep:>3} MiB round {rnd} {n}: executions {c} call p50 {p50} µs p90 {p90} µs; CPU/execution {cpu:.0f} µs")
        print(f"keep {keep:>3} MiB round {rnd}: serve RSS {rss:.0f} MiB, peak {hwm:.0f} MiB")
        sys.stdout.flush()
    finally:
        srv.kill(); srv.wait()
        shutil.rmtree(d, ignore_errors=True)

build_py()
print("load", open("/proc/loadavg").read().strip())
for rnd in range(1, ROUNDS + 1):
    for keep in KEEPS:
        step(keep, rnd)
