#!/usr/bin/env bash
# Regenerates the figures of docs/performance.md (between its `generated` markers): builds
# the release binaries, runs the signing and bcrypt micro benchmarks, then drives
# `oxidex serve` with `oxidex-load` on SQLite and on PostgreSQL, and a bare hyper server
# for the discovery and /keys baseline. One machine, one run. The method is in
# docs/performance.md.
#
#   scripts/performance.sh                # about 6 minutes once built
#   PERF_DURATION=5 scripts/performance.sh
#
# Environment:
#   PERF_DURATION  seconds each scenario is measured (default 10)
#   PERF_WARMUP    seconds each scenario runs before that (default 2)
#   PERF_POSTGRES  server URL without database (default postgres://postgres@127.0.0.1:5432);
#                  the database oxidex_perf is dropped and created there. Unreachable: the
#                  PostgreSQL column says so and the rest goes on.
#   PERF_PIN       1 (default): with 2+ CPUs, the server gets the upper half of them and the
#                  driver the lower half (taskset); 0: no pinning.
#   PERF_SMOKE     1 (default): run benches/tests/load_driver.rs against the release oxidex
#                  first (every scenario, no errors allowed); 0: skip.
#   PERF_OUTPUT    the file to write (default docs/performance.md).
#   CARGO_TARGET_DIR is honoured.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
export PERF_DURATION=${PERF_DURATION:-10}
export PERF_WARMUP=${PERF_WARMUP:-2}
export PERF_POSTGRES=${PERF_POSTGRES:-postgres://postgres@127.0.0.1:5432}
export PERF_PIN=${PERF_PIN:-1}
export PERF_OUTPUT=${PERF_OUTPUT:-$ROOT/docs/performance.md}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
export PERF_BIN=$TARGET/release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/oxidex-perf.XXXXXX")
export PERF_WORK=$WORK
trap 'rm -rf "$WORK"' EXIT

echo "== building release binaries" >&2
cargo build --release -p oxidex -p oxidex-benches \
    --bin oxidex --bin oxidex-load --bin oxidex-bare-http >&2

if [[ ${PERF_SMOKE:-1} == 1 ]]; then
    echo "== smoke: benches/tests/load_driver.rs against the release oxidex" >&2
    OXIDEX_BIN=$PERF_BIN/oxidex cargo test -q -p oxidex-benches --test load_driver >&2
fi

# Micro benchmarks: the bare signing loop, and bcrypt if a bench of it exists. divan prints
# one table per bench binary; the Python below reads the medians.
echo "== micro benchmarks" >&2
: >"$WORK/divan.txt"
benches=(signing)
for file in benches/benches/*.rs; do
    name=$(basename "$file" .rs)
    if [[ $name != signing ]] && grep -qi bcrypt "$file"; then
        benches+=("$name")
    fi
done
for bench in "${benches[@]}"; do
    cargo bench -q -p oxidex-benches --bench "$bench" -- --sample-count 200 \
        >>"$WORK/divan.txt" || echo "note: cargo bench --bench $bench failed" >&2
done

# PostgreSQL: a fresh database each run.
export PERF_POSTGRES_OK=0
if command -v psql >/dev/null &&
    psql "$PERF_POSTGRES/postgres" -qAtc 'select 1' >/dev/null 2>&1; then
    psql "$PERF_POSTGRES/postgres" -qc 'DROP DATABASE IF EXISTS oxidex_perf' >/dev/null 2>&1 || true
    if psql "$PERF_POSTGRES/postgres" -qc 'CREATE DATABASE oxidex_perf' >/dev/null; then
        PERF_POSTGRES_OK=1
    fi
else
    echo "note: PostgreSQL at $PERF_POSTGRES is unreachable; skipping it" >&2
fi

# CPU split between the server and the driver.
CPUS=$(nproc)
export PERF_SERVER_CPUS="" PERF_DRIVER_CPUS="" PERF_SERVER_CORES=$CPUS
if [[ $PERF_PIN == 1 && $CPUS -ge 2 ]] && command -v taskset >/dev/null; then
    half=$((CPUS / 2))
    span() { if [[ $1 == "$2" ]]; then echo "$1"; else echo "$1-$2"; fi; }
    PERF_DRIVER_CPUS=$(span 0 $((half - 1)))
    PERF_SERVER_CPUS=$(span "$half" $((CPUS - 1)))
    PERF_SERVER_CORES=$((CPUS - half))
fi
export PERF_COMMIT
PERF_COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain 2>/dev/null) ]]; then PERF_COMMIT="$PERF_COMMIT (with uncommitted changes)"; fi

python3 - <<'PY'
"""Runs the servers and the driver, and writes the generated section of the document."""
import datetime, http.client, json, os, platform, re, signal, socket, statistics, subprocess, sys, time

E = os.environ
ROOT = os.getcwd()
BIN = E["PERF_BIN"]
WORK = E["PERF_WORK"]
DURATION = float(E["PERF_DURATION"])
WARMUP = float(E["PERF_WARMUP"])
SERVER_CPUS = E["PERF_SERVER_CPUS"]
DRIVER_CPUS = E["PERF_DRIVER_CPUS"]
SERVER_CORES = int(E["PERF_SERVER_CORES"])
MIB = 1024 * 1024
BCRYPT_WORKERS = 4 * SERVER_CORES
notes = []
children = []


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def pinned(cpus, argv):
    return ["taskset", "-c", cpus] + argv if cpus else argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path, timeout=1.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def start(argv, ready_port, ready_path, log_name):
    """Spawns argv; milliseconds from spawn to the first 200 of ready_path (polled every 1 ms)."""
    out = open(os.path.join(WORK, log_name), "ab")
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=out)
    children.append(p)
    while True:
        if p.poll() is not None:
            raise SystemExit(f"{argv[-1]} exited with {p.returncode}; see {log_name}:\n"
                             + open(os.path.join(WORK, log_name), errors="replace").read()[-2000:])
        try:
            status, _ = get(ready_port, ready_path, 0.5)
            if status == 200:
                return p, (time.perf_counter() - t0) * 1000
        except OSError:
            pass
        if time.perf_counter() - t0 > 120:
            raise SystemExit(f"{argv} did not become ready in 120 s")
        time.sleep(0.001)


def rss(pid):
    """VmRSS and VmHWM of pid, in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


def reset_peak(pid):
    """Resets VmHWM (Linux ≥ 4.0); False if not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def drive(issuer, scenario, concurrency, url=None):
    argv = [f"{BIN}/oxidex-load", "--issuer", issuer, "--scenario", scenario,
            "--concurrency", str(concurrency), "--duration", f"{DURATION}s",
            "--warmup", f"{WARMUP}s", "--json"]
    if url:
        argv += ["--url", url]
    log(f"   {scenario} x{concurrency}" + (f" {url}" if url else ""))
    r = subprocess.run(pinned(DRIVER_CPUS, argv), capture_output=True, text=True)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if not lines:
        return {"scenario": scenario, "setup_error": r.stderr.strip()[-500:] or "no output"}
    report = json.loads(lines[-1])
    if report.get("errors") or report.get("setup_error"):
        log(f"   errors: {report.get('errors')} {report.get('first_error') or report.get('setup_error')}")
    return report


def config(storage, port, tport, directory):
    """examples/config-dev.yaml with our ports, the storage, no approval screen, warn logs."""
    text = open(os.path.join(ROOT, "examples/config-dev.yaml")).read()
    text = text.replace("127.0.0.1:5556", f"127.0.0.1:{port}")
    if storage == "sqlite":
        block = f"storage:\n  type: sqlite3\n  config:\n    file: {directory}/oxidex.db\n"
    else:
        block = ("storage:\n  type: postgres\n  config:\n    host: 127.0.0.1\n    port: 5432\n"
                 "    database: oxidex_perf\n    user: postgres\n    ssl:\n      mode: disable\n")
    text = re.sub(r"(?ms)^storage:\n.*?(?=^\S)", block + "\n", text)
    text = text.replace("  passwordConnector: local\n",
                        "  passwordConnector: local\n  skipApprovalScreen: true\n")
    return text + f"\ntelemetry:\n  http: 127.0.0.1:{tport}\nlogger:\n  level: warn\n"


def run_storage(storage):
    log(f"== {storage}")
    directory = os.path.join(WORK, storage)
    os.makedirs(directory, exist_ok=True)
    port, tport = free_port(), free_port()
    path = os.path.join(directory, "config.yaml")
    with open(path, "w") as f:
        f.write(config(storage, port, tport, directory))
    argv = pinned(SERVER_CPUS, [f"{BIN}/oxidex", "serve", path])
    # First start creates the signing keys; the second finds them.
    p, first_ms = start(argv, tport, "/healthz/ready", f"{storage}.log")
    stop(p)
    p, ready_ms = start(argv, tport, "/healthz/ready", f"{storage}.log")
    time.sleep(2)
    idle = rss(p.pid)
    issuer = f"http://127.0.0.1:{port}/dex"
    out = {"first_start_ms": first_ms, "ready_ms": ready_ms, "idle_rss": idle["VmRSS"],
           "idle_hwm": idle["VmHWM"], "issuer": issuer, "scenarios": {}}
    _, out["discovery_body"] = get(port, "/dex/.well-known/openid-configuration")
    _, out["keys_body"] = get(port, "/dex/keys")
    for scenario in ["discovery", "keys", "client-credentials", "refresh"]:
        out["scenarios"][scenario] = drive(issuer, scenario, 32)
    # bcrypt-bound: few workers a core, so the logins do not run in lock-step waves (the
    # issuer verifies every password at once on the blocking pool).
    for scenario in ["password", "auth-code"]:
        out["scenarios"][scenario] = drive(issuer, scenario, BCRYPT_WORKERS)
    out["hwm_32"] = rss(p.pid)["VmHWM"]
    out["peak_reset"] = reset_peak(p.pid)
    out["scenarios"]["auth-code-200"] = drive(issuer, "auth-code", 200)
    out["hwm_flows_200"] = rss(p.pid)["VmHWM"]
    stop(p)
    return out


def run_bare(discovery, keys):
    log("== bare hyper baseline")
    d, k = os.path.join(WORK, "discovery.json"), os.path.join(WORK, "keys.json")
    open(d, "wb").write(discovery)
    open(k, "wb").write(keys)
    port = free_port()
    argv = pinned(SERVER_CPUS, [f"{BIN}/oxidex-bare-http", "--listen", f"127.0.0.1:{port}",
                                "--discovery", d, "--keys", k])
    p, _ = start(argv, port, "/dex/.well-known/openid-configuration", "bare.log")
    base = f"http://127.0.0.1:{port}/dex"
    out = {"discovery": drive(base, "discovery", 32),
           "keys": drive(base, "keys", 32, url=f"{base}/keys")}
    stop(p)
    return out


UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def divan_medians(text):
    """{"signing/bare_signature/RS256": seconds, ...} from divan's tables."""
    medians, stack = {}, []
    for line in text.splitlines():
        if "│" not in line:
            continue
        prefix = len(line) - len(line.lstrip("│├╰─ "))
        rest = line[prefix:]
        if not rest.strip():
            continue
        cols = rest.split("│")
        name = cols[0].split()[0] if cols[0].split() else ""
        depth = prefix // 3
        stack = stack[:depth] + [name]
        if len(cols) >= 3:
            m = re.match(r"\s*([\d.]+)\s*(ns|µs|us|ms|s)\s*$", cols[2])
            if m:
                medians["/".join(stack)] = float(m.group(1)) * UNITS[m.group(2)]
    return medians


def python_bcrypt():
    """Median seconds of one bcrypt verification at cost 10, by pyca/bcrypt; None without it."""
    try:
        import bcrypt
    except ImportError:
        return None
    h = b"$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"
    times = []
    for _ in range(15):
        t = time.perf_counter()
        bcrypt.checkpw(b"password", h)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    medians = divan_medians(open(os.path.join(WORK, "divan.txt"), errors="replace").read())
    results = {"sqlite": run_storage("sqlite")}
    if E.get("PERF_POSTGRES_OK") == "1":
        results["postgres"] = run_storage("postgres")
    else:
        notes.append(f"PostgreSQL at `{E['PERF_POSTGRES']}` was unreachable: its column is empty.")
    bare = run_bare(results["sqlite"]["discovery_body"], results["sqlite"]["keys_body"])

    keys = json.loads(results["sqlite"]["keys_body"] or b"{}").get("keys") or [{}]
    alg = keys[0].get("alg", "RS256")
    sign = medians.get(f"signing/bare_signature/{alg}")
    sign_ring = medians.get(f"signing/bare_ring_rs256_or_es256/{alg}")
    mint = medians.get(f"signing/mint_id_and_access_token/{alg}")
    if sign is None:
        notes.append(f"No `bare_signature/{alg}` median in the signing bench output: no signing bound.")
    bcrypt_rows = {k: v for k, v in medians.items() if "bcrypt" in k.lower()}
    cost10 = {k: v for k, v in bcrypt_rows.items() if re.search(r"(^|[/_])10($|/)", k)}
    bcrypt_source, bcrypt_s = None, None
    if cost10 or bcrypt_rows:
        bcrypt_source, bcrypt_s = sorted((cost10 or bcrypt_rows).items())[0]
        bcrypt_source = f"divan `{bcrypt_source}`"
    else:
        bcrypt_s = python_bcrypt()
        if bcrypt_s is not None:
            bcrypt_source = "pyca/bcrypt `checkpw` at cost 10 (no bcrypt bench in benches/ yet)"
            notes.append("bcrypt was timed with Python's `bcrypt` package (pyca, a Rust "
                         "implementation), not a divan bench: there is none yet.")
        else:
            notes.append("No bcrypt bench and no Python `bcrypt`: no flow bound.")
    write(results, bare, alg, sign, sign_ring, mint, bcrypt_s, bcrypt_source)


def fmt_rate(x):
    return "–" if x is None else (f"{x:,.0f}" if x >= 100 else f"{x:.1f}")


def ms(x):
    return "–" if x is None else (f"{x:.2f}" if x < 10 else f"{x:.0f}")


def mib(b):
    return "–" if b is None else f"{b / MIB:.1f} MiB"


def pct(x):
    return "–" if x is None else f"{100 * x:.0f} %"


def write(results, bare, alg, sign, sign_ring, mint, bcrypt_s, bcrypt_source):
    storages = list(results)
    cpu = "unknown CPU"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    sign_bound = SERVER_CORES / sign / 2 if sign else None
    flow_bound = SERVER_CORES / bcrypt_s if bcrypt_s else None
    pin = (f"server on CPU(s) {SERVER_CPUS} ({SERVER_CORES} cores), driver on CPU(s) {DRIVER_CPUS}"
           if SERVER_CPUS else f"not pinned: server and driver share all {SERVER_CORES} CPUs")
    L = []
    L.append(f"Measured {now} at commit `{E['PERF_COMMIT']}` on {os.cpu_count()} × {cpu} "
             f"({platform.system()} {platform.release()}), {rustc}; {pin}. "
             f"Each scenario: {WARMUP:g} s warm-up, {DURATION:g} s measured.")
    L.append("")
    L.append("### Against the targets")
    L.append("")
    head = "| figure | target | " + " | ".join(storages) + " |"
    L.append(head)
    L.append("|" + "---|" * (2 + len(storages)))

    def sc(s, name):
        return results[s]["scenarios"].get(name, {})

    def ratio(a, b):
        return None if a is None or not b else a / b

    def row(label, target, values):
        L.append(f"| {label} | {target} | " + " | ".join(values) + " |")

    row(f"refresh grant ÷ signing bound ({fmt_rate(sign_bound)}/s)", "≥ 85 %",
        [pct(ratio(sc(s, "refresh").get("ops_per_s"), sign_bound)) for s in storages])
    row(f"client credentials ÷ signing bound", "≥ 85 %",
        [pct(ratio(sc(s, "client-credentials").get("ops_per_s"), sign_bound)) for s in storages])
    row("discovery ÷ bare hyper", "≥ 80 %",
        [pct(ratio(sc(s, "discovery").get("ops_per_s"), bare["discovery"].get("ops_per_s"))) for s in storages])
    row("`/keys` ÷ bare hyper", "≥ 80 %",
        [pct(ratio(sc(s, "keys").get("ops_per_s"), bare["keys"].get("ops_per_s"))) for s in storages])
    row(f"whole flows ÷ bcrypt bound ({fmt_rate(flow_bound)}/s)", "≥ 90 %",
        [pct(ratio(sc(s, "auth-code").get("ops_per_s"), flow_bound)) for s in storages])
    row("password grant ÷ bcrypt bound", "(≥ 90 %)",
        [pct(ratio(sc(s, "password").get("ops_per_s"), flow_bound)) for s in storages])
    row("idle RSS (VmRSS 2 s after ready)", "≤ 15 MiB", [mib(results[s]["idle_rss"]) for s in storages])
    row("peak RSS, 200 concurrent flows (VmHWM)", "≤ 64 MiB",
        [mib(results[s]["hwm_flows_200"]) + ("" if results[s]["peak_reset"] else " (whole run)")
         for s in storages])
    row("peak RSS, the scenarios before (VmHWM)", "", [mib(results[s]["hwm_32"]) for s in storages])
    row("start to ready, existing keys", "≤ 100 ms", [f"{results[s]['ready_ms']:.0f} ms" for s in storages])
    row("start to ready, creating keys", "", [f"{results[s]['first_start_ms']:.0f} ms" for s in storages])
    L.append("")
    L.append("### Raw figures")
    L.append("")
    L.append("Operations/s, then p50 / p99 latency in ms, then errors.")
    L.append("")
    L.append("| scenario | workers | " + " | ".join(storages) + " | bare hyper |")
    L.append("|" + "---|" * (3 + len(storages)))
    for name, workers in [("discovery", 32), ("keys", 32), ("client-credentials", 32),
                          ("refresh", 32), ("password", BCRYPT_WORKERS),
                          ("auth-code", BCRYPT_WORKERS), ("auth-code-200", 200)]:
        cells = []
        for r in [sc(s, name) for s in storages] + [bare.get(name) if name in bare else None]:
            if r is None:
                cells.append("")
            elif "setup_error" in r:
                cells.append("set-up failed")
            else:
                cells.append(f"{fmt_rate(r['ops_per_s'])}/s, {ms(r['p50_ms'])} / {ms(r['p99_ms'])}, "
                             f"{r['errors']} err")
        L.append(f"| {name} | {workers} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("Micro benchmarks (divan medians, one thread):")
    L.append("")
    L.append(f"- `bare_signature/{alg}` (the signing loop): "
             + (f"{sign * 1e6:.1f} µs, {1 / sign:,.0f}/s per core" if sign else "–"))
    if sign_ring:
        L.append(f"- `bare_ring_rs256_or_es256/{alg}` (ring alone): {sign_ring * 1e6:.1f} µs")
    if mint and sign:
        L.append(f"- `mint_id_and_access_token/{alg}` (two signatures and the claims): "
                 f"{mint * 1e6:.1f} µs, {100 * 2 * sign / mint:.0f} % of the rate of two bare signatures")
    L.append(f"- bcrypt, cost 10: " + (f"{bcrypt_s * 1e3:.1f} ms, {1 / bcrypt_s:.1f}/s per core ({bcrypt_source})"
                                      if bcrypt_s else "–"))
    L.append(f"- bounds for {SERVER_CORES} server core(s): token responses {fmt_rate(sign_bound)}/s, "
             f"whole flows {fmt_rate(flow_bound)}/s")
    errors = [(s, n, r.get("first_error") or r.get("setup_error"))
              for s in storages for n, r in results[s]["scenarios"].items()
              if r.get("errors") or r.get("setup_error")]
    errors += [("bare", n, r.get("first_error") or r.get("setup_error"))
               for n, r in bare.items() if r.get("errors") or r.get("setup_error")]
    for s, n, e in errors:
        notes.append(f"{s} `{n}`: first error: {str(e)[:300]}")
    if notes:
        L.append("")
        L.append("Notes:")
        L.append("")
        L.extend(f"- {n}" for n in notes)
    section = "\n".join(L) + "\n"

    path = E["PERF_OUTPUT"]
    start_m, end_m = "<!-- generated:start -->", "<!-- generated:end -->"
    try:
        doc = open(path).read()
    except FileNotFoundError:
        doc = "# Performance\n\n"
    if start_m in doc and end_m in doc:
        before = doc[: doc.index(start_m) + len(start_m)]
        after = doc[doc.index(end_m):]
        doc = before + "\n" + section + after
    else:
        doc = doc.rstrip("\n") + f"\n\n{start_m}\n{section}{end_m}\n"
    with open(path, "w") as f:
        f.write(doc)
    print(section)
    log(f"== wrote {path}")


try:
    main()
finally:
    for p in children:
        if p.poll() is None:
            p.kill()
            p.wait()
PY
