#!/usr/bin/env python3
"""Measure the nexus-testkit binary: spawn-to-announcement time (what every Python/Node/Go test
that spawns it pays) and the token endpoint round trip for refresh grants.

    python3 tests/testkit/bench/measure.py [path/to/nexus-testkit]
"""
import subprocess, json, time, statistics, http.client, urllib.parse, base64, sys
BIN = sys.argv[1] if len(sys.argv) > 1 else "target/debug/nexus-testkit"
starts = []
for _ in range(20):
    t0 = time.perf_counter()
    p = subprocess.Popen([BIN, "echo"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = p.stdout.readline()
    starts.append((time.perf_counter() - t0) * 1000)
    p.stdin.close(); p.wait()
print("startup ms: median %.1f  p90 %.1f  max %.1f" % (statistics.median(starts), sorted(starts)[17], max(starts)))
p = subprocess.Popen([BIN, "oauth"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
info = json.loads(p.stdout.readline())
host = urllib.parse.urlparse(info["url"]).netloc
c = http.client.HTTPConnection(host)
def req(method, path, body=None, headers={}):
    c.request(method, path, body=body, headers=headers); r = c.getresponse(); return r.status, r.read()
s, b = req("POST", "/_control/issue", json.dumps({"scopes": ["read"]}), {"content-type": "application/json"})
rt = json.loads(b)["refresh_token"]
auth = "Basic " + base64.b64encode(b"nexus-test-client:nexus-test-secret").decode()
lat = []
for _ in range(1000):
    t0 = time.perf_counter()
    s, b = req("POST", "/token", urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": rt}),
               {"content-type": "application/x-www-form-urlencoded", "authorization": auth})
    lat.append((time.perf_counter() - t0) * 1e6)
    assert s == 200, b
    rt = json.loads(b)["refresh_token"]
lat.sort()
print("refresh round trip us (debug build, keep-alive, python client): median %.0f  p99 %.0f" % (lat[500], lat[990]))
p.stdin.close(); p.wait()
