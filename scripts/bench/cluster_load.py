#!/usr/bin/env python3
"""Load client of `scripts/bench/cluster.sh`: resolves through every gateway and checks every
answer.

Threads rotate over (gateway, workspace, provider) and call `GET /v1/resolve` with the
workspace's API key. Every response body is checked:

- 200 for the static provider: `credentials.api_key` must be exactly that workspace's secret;
- 200 for the OAuth provider: the access token must be one the provider issued for that
  workspace's grant (introspected once, the first time it is seen: active, scope = the
  workspace's scope) and never seen for another workspace;
- any other status: the body must be the error envelope (`error` = `code`) with a retryable code
  (`upstream_unavailable`, `upstream_timeout`, `rate_limited`, `request_timeout`).

Anything else is a wrong answer. Runs until SIGTERM/SIGINT (or `--duration`), then prints one
JSON summary on stdout; the orchestrator judges it. `--markers FILE` names a file of
`<unix time> <event>` lines the orchestrator appends (`pg_up` …); the summary gives, per
`pg_up`, how long failures went on after it (recovery time).
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import threading
import time
import urllib.parse
from collections import Counter

RETRYABLE = {"upstream_unavailable", "upstream_timeout", "rate_limited", "request_timeout"}


class Results:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ok = Counter()  # per provider
        self.ok_by_gateway = Counter()
        self.failures = Counter()  # per code (or "untyped:<status>", "transport:<name>")
        self.wrong: list[str] = []  # descriptions (no secrets)
        self.failure_times: list[tuple[float, str]] = []
        self.tokens: dict[str, str] = {}  # access token -> workspace (first seen)
        self.first_failure_examples: dict[str, str] = {}

    def fail(self, code: str, detail: str = "") -> None:
        with self.lock:
            self.failures[code] += 1
            self.failure_times.append((time.time(), code))
            self.first_failure_examples.setdefault(code, detail[:200])

    def wrong_answer(self, what: str) -> None:
        with self.lock:
            if len(self.wrong) < 50:
                self.wrong.append(what)
            self.failures["WRONG"] += 1


class Introspector:
    """Introspects each new access token once at the provider."""

    def __init__(self, oauth_url: str) -> None:
        self.url = urllib.parse.urlsplit(oauth_url)
        self.local = threading.local()

    def introspect(self, token: str) -> dict:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=10)
            self.local.conn = conn
        body = urllib.parse.urlencode({"token": token})
        try:
            conn.request(
                "POST",
                "/introspect",
                body=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            resp = conn.getresponse()
            return json.loads(resp.read())
        except (OSError, http.client.HTTPException):
            self.local.conn = None
            raise


def check_answer(target: dict, status: int, body: bytes, results: Results, intro: Introspector) -> None:
    ws = target["workspace"]
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if status != 200:
        code = doc.get("error") if isinstance(doc, dict) else None
        if code in RETRYABLE and doc.get("code", code) == code:
            results.fail(code, f"{status} from {target['gateway']}")
        else:
            results.fail(f"untyped:{status}:{code}", body[:200].decode("utf-8", "replace"))
        return
    if not isinstance(doc, dict):
        results.wrong_answer(f"{ws}/{target['provider']}: 200 with a body that is not JSON")
        return
    if target["provider"] == "static":
        got = (doc.get("credentials") or {}).get("api_key")
        if got != target["secret"]:
            results.wrong_answer(f"{ws}/static: api_key is not the workspace's secret")
            return
    else:
        token = doc.get("access_token")
        if not isinstance(token, str) or not token:
            results.wrong_answer(f"{ws}/oauth: 200 without an access token")
            return
        with results.lock:
            seen = results.tokens.get(token)
            if seen is None:
                results.tokens[token] = ws
        if seen is not None and seen != ws:
            results.wrong_answer(f"{ws}/oauth: token first served to {seen}")
            return
        if seen is None:
            info = intro.introspect(token)
            if not info.get("active") or info.get("scope") != target["scope"]:
                results.wrong_answer(
                    f"{ws}/oauth: new token not active for scope {target['scope']} "
                    f"(active={info.get('active')}, scope={info.get('scope')})"
                )
                return
    with results.lock:
        results.ok[target["provider"]] += 1
        results.ok_by_gateway[target["gateway"]] += 1


def worker(index: int, targets: list[dict], results: Results, intro: Introspector, stop: threading.Event) -> None:
    conns: dict[str, http.client.HTTPConnection] = {}
    i = index
    while not stop.is_set():
        target = targets[i % len(targets)]
        i += 1
        url = urllib.parse.urlsplit(target["gateway"])
        path = "/v1/resolve?" + urllib.parse.urlencode(
            {"workspace_id": target["workspace"], "provider_name": target["provider_name"]}
        )
        headers = {"Authorization": f"Bearer {target['api_key']}"}
        for attempt in range(2):
            conn = conns.get(target["gateway"])
            fresh = conn is None
            if conn is None:
                conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
                conns[target["gateway"]] = conn
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conns.pop(target["gateway"], None)
                # A keep-alive connection the server closed while idle: one retry on a new one.
                if not fresh and attempt == 0 and isinstance(
                    e, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
                ):
                    continue
                results.fail(f"transport:{type(e).__name__}", str(e))
                break
            try:
                check_answer(target, status, body, results, intro)
            except (OSError, http.client.HTTPException, ValueError) as e:
                results.fail(f"introspection:{type(e).__name__}", str(e))
            break


def failures_by_phase(markers: list[tuple[float, str]], failure_times: list[tuple[float, str]]) -> dict:
    """Failures counted by code, per phase (a phase runs from one marker to the next)."""
    phases: dict[str, Counter] = {}
    for when, code in failure_times:
        name = "before_markers"
        for t, marker in markers:
            if t <= when:
                name = marker
        phases.setdefault(name, Counter())[code] += 1
    return {name: dict(codes) for name, codes in phases.items()}


def recovery_after(markers: list[tuple[float, str]], failure_times: list[tuple[float, str]]) -> list[dict]:
    """For every `pg_up` marker: seconds from it to the last failure before the next marker."""
    out = []
    for n, (t, name) in enumerate(markers):
        if name != "pg_up":
            continue
        end = markers[n + 1][0] if n + 1 < len(markers) else float("inf")
        after = [f for f, _ in failure_times if t <= f < end]
        out.append({"pg_up_at": round(t, 3), "failures_after": len(after),
                    "recovered_after_s": round(max(after) - t, 3) if after else 0.0})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="JSON: gateways, workspaces, oauth_url")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--duration", type=float, default=0, help="seconds (0: until signalled)")
    ap.add_argument("--markers", help="file of '<unix time> <event>' lines")
    ap.add_argument("--ready", help="file to create once the first round has been checked")
    args = ap.parse_args()

    config = json.load(open(args.config))
    targets = []
    for gateway in config["gateways"]:
        for ws in config["workspaces"]:
            for provider, name in (("static", config["static_provider"]), ("oauth", config["oauth_provider"])):
                targets.append({**ws, "gateway": gateway, "provider": provider, "provider_name": name})
    results = Results()
    intro = Introspector(config["oauth_url"])
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    started = time.time()
    threads = [
        threading.Thread(target=worker, args=(i, targets, results, intro, stop), daemon=True)
        for i in range(args.threads)
    ]
    for t in threads:
        t.start()
    ready_written = False
    while not stop.wait(0.2):
        if args.ready and not ready_written and sum(results.ok.values()) >= len(targets):
            open(args.ready, "w").close()
            ready_written = True
        if args.duration and time.time() - started >= args.duration:
            stop.set()
    for t in threads:
        t.join(timeout=60)
    elapsed = time.time() - started

    markers: list[tuple[float, str]] = []
    if args.markers:
        try:
            for line in open(args.markers):
                t, _, name = line.strip().partition(" ")
                markers.append((float(t), name))
        except FileNotFoundError:
            pass
    failures = dict(results.failures)
    wrong = failures.pop("WRONG", 0)
    summary = {
        "seconds": round(elapsed, 1),
        "requests": sum(results.ok.values()) + sum(results.failures.values()),
        "ok": dict(results.ok),
        "ok_by_gateway": dict(results.ok_by_gateway),
        "wrong_answers": wrong,
        "wrong_examples": results.wrong[:10],
        "failures_by_code": failures,
        "untyped_failures": sum(n for c, n in failures.items() if c not in RETRYABLE),
        "failure_examples": results.first_failure_examples,
        "distinct_access_tokens": len(results.tokens),
        "markers": [[round(t, 3), n] for t, n in markers],
        "failures_by_phase": failures_by_phase(markers, results.failure_times),
        "recovery": recovery_after(markers, sorted(results.failure_times)),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
