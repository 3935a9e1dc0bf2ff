"""Write the API reference (Markdown) from the OpenAPI documents the gateway and the broker serve.

The gateway's `/openapi.json` lists the public API it serves; the broker's lists its admin API.
Both are merged into one page (a path in both documents is an error: each route has one server).

Nothing here is written by hand except what the OpenAPI document cannot say: what a client
should do for each error code. That table is checked against the protocol's own list of codes
(the `error_codes!` list in protocol/src/error.rs), so a code added there without advice here fails
the docs build instead of going undocumented.

    python scripts/docs/gen_api_reference.py --openapi gateway.json --openapi broker.json \
        --out docs/reference/api.md
    python scripts/docs/gen_api_reference.py --openapi http://127.0.0.1:8080/openapi.json \
        --openapi http://127.0.0.1:8081/openapi.json ...
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_ERRORS = ROOT / "protocol" / "src" / "error.rs"

# Sections of the page, in order: OpenAPI tag -> (title, introduction).
TAGS = {
    "resolve": (
        "Resolve",
        (
            "The call every SDK makes. Authenticate with the workspace API key "
            "(`Authorization: Bearer <key>` or `X-API-Key: <key>`)."
        ),
    ),
    "connections": (
        "Connection lifecycle",
        (
            "Start an OAuth connection for a person, follow it, and read or refresh its credential. "
            "Same authentication as resolve."
        ),
    ),
    "mcp": (
        "MCP servers",
        (
            "An MCP server protected by Nexus (docs/mcp-authorization.md) trades the access token "
            "its user presented for that user's upstream credential. Authenticate with the "
            "workspace API key; agent sessions are refused."
        ),
    ),
    "operations": (
        "Operations",
        "Health, readiness, metrics and this document. No authentication.",
    ),
    "admin": (
        "Broker admin API",
        (
            "Served by the **broker** (not the gateway), with `Authorization: Bearer "
            "<NEXUS_ADMIN_TOKEN>`. The `nexus` CLI is a client of these routes."
        ),
    ),
    "identity": (
        "Identity: agents, sessions, On-Behalf-Of",
        (
            "Agents start sessions (`/v1/sessions`) and check scopes (`/v1/authorize`); the "
            "`/admin/v1/…` routes here are the broker's, with the admin token. Concepts: the "
            "SDK guides' session sections."
        ),
    ),
}

# code -> (HTTP status, what a client should do, retried by the SDKs?)
ERROR_ADVICE: dict[str, tuple[str, str, str]] = {
    "invalid_request": (
        "400",
        (
            "Fix the request: a parameter is missing, repeated or malformed. Retrying the same "
            "request gives the same answer."
        ),
        "no",
    ),
    "unauthorized": (
        "401",
        (
            "Check the API key (`NEXUS_API_KEY`): missing, unknown, revoked or expired. Ask an "
            "operator for a new one (`nexus api-keys create`)."
        ),
        "no",
    ),
    "invalid_subject_token": (
        "401",
        (
            "The On-Behalf-Of user token is invalid, expired or from an untrusted issuer: obtain a "
            "fresh user token."
        ),
        "no",
    ),
    "forbidden": (
        "403",
        (
            "The key is valid but not for this: usually a `workspace_id` other than the key's "
            "workspace. Use the key of that workspace."
        ),
        "no",
    ),
    "scope_not_allowed": (
        "403",
        "A session asked for a scope its agent did not declare: declare it, or ask for less.",
        "no",
    ),
    "user_not_authorized_for_scope": (
        "403",
        "The On-Behalf-Of user lacks the scope: the user must be granted it first.",
        "no",
    ),
    "not_found": ("404", "No such route or resource: check the URL and the id.", "no"),
    "connection_not_found": (
        "404",
        (
            "The workspace has no usable connection for this provider (or no connection with this "
            "id): connect one (`request-connection`, `nexus connect`, or an import)."
        ),
        "no",
    ),
    "provider_not_found": (
        "404",
        (
            "No provider of that name: check the spelling, or have an operator apply it "
            "(`nexus providers apply`)."
        ),
        "no",
    ),
    "reauth_required": (
        "409",
        (
            "A person must authorize the connection again: show them `reauth_url`. Retrying "
            "without them will not help."
        ),
        "no",
    ),
    "connection_not_active": (
        "409",
        (
            "The connection exists but is not usable yet (still `pending`): wait for the person to "
            "finish (`check-connection`, the SDKs' `wait_for_active`)."
        ),
        "no",
    ),
    "payload_too_large": ("413", "Send a smaller body or fewer/shorter headers.", "no"),
    "request_timeout": (
        "408",
        (
            "The request body stopped arriving before the server's body timeout "
            "(`NEXUS_HTTP_BODY_TIMEOUT_MS`): send the whole body promptly, then retry."
        ),
        "yes, once, on a new connection",
    ),
    "rate_limited": (
        "429",
        "Slow down: wait `retry_after` seconds (also the `Retry-After` header), then retry.",
        "yes, after `Retry-After` (up to a cap, 60 s by default)",
    ),
    "upstream_unavailable": (
        "502 / 503",
        (
            "The provider or the broker failed or is unreachable: retry with backoff; if it "
            "persists, check the broker and the provider's status."
        ),
        "yes (502/503/504, idempotent calls), with exponential backoff and jitter",
    ),
    "internal_error": (
        "500",
        "A server fault, never a client mistake: report it with the `request_id`.",
        "no",
    ),
    # Proxy mode (issue 16); these carry `Nexus-Error` (docs/proxy.md).
    "insufficient_scope": (
        "403",
        "Proxy mode: no scope of the session allows this method and path; ask for the scope.",
        "no",
    ),
    "invalid_proxy_path": (
        "400",
        "Proxy mode: the path was refused (dot segments, double or bad encoding); fix the path.",
        "no",
    ),
    "proxy_host_not_allowed": (
        "400",
        "Proxy mode: `Nexus-Proxy-Host` names a host the provider does not allow.",
        "no",
    ),
    "proxy_not_enabled": (
        "404",
        "Proxy mode: the provider has no `api_base_url` or its proxy is off; ask an operator.",
        "no",
    ),
    "upstream_timeout": (
        "504",
        "Proxy mode: the provider sent no response headers in time; retry later.",
        "no",
    ),
    # MCP authorization (issue 17).
    "connection_required": (
        "409",
        "The MCP user has no usable connection: send them to `connect_url`, then retry.",
        "after the user connects",
    ),
}


class ReferenceError(Exception):
    """The OpenAPI document or the error table cannot be rendered."""


def load(source: str) -> dict[str, Any]:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:
            document: dict[str, Any] = json.load(response)
            return document
    loaded: dict[str, Any] = json.loads(Path(source).read_text())
    return loaded


def merge(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """One document from several: the first gives `openapi` and `info`; paths, schemas,
    security schemes and tags are combined. A path in two documents is refused."""
    if not documents:
        raise ReferenceError("no OpenAPI document given")
    merged: dict[str, Any] = {
        key: value
        for key, value in documents[0].items()
        if key not in ("paths", "components", "tags")
    }
    paths: dict[str, Any] = {}
    components: dict[str, dict[str, Any]] = {}
    tags: list[dict[str, Any]] = []
    for document in documents:
        for path, operations in document.get("paths", {}).items():
            if path in paths:
                raise ReferenceError(f"{path} is in two OpenAPI documents")
            paths[path] = operations
        for section, entries in document.get("components", {}).items():
            for name, entry in entries.items():
                # The same protocol type (e.g. ErrorBody) may be in both: keep the first.
                components.setdefault(section, {}).setdefault(name, entry)
        for tag in document.get("tags", []):
            if all(t.get("name") != tag.get("name") for t in tags):
                tags.append(tag)
    # Sorted, as each server's document is: the page keeps one order whatever serves a path.
    merged["paths"] = dict(sorted(paths.items()))
    merged["components"] = components
    if tags:
        merged["tags"] = tags
    return merged


def protocol_error_codes() -> list[str]:
    """The wire codes of `ErrorCode`, read from the `error_codes!` list in the protocol crate."""
    source = PROTOCOL_ERRORS.read_text()
    body = source.split("error_codes! {", 1)[-1].split("\n}\n", 1)[0]
    codes = re.findall(r'^\s*\w+ => "([a-z_]+)",', body, flags=re.MULTILINE)
    if not codes:
        raise ReferenceError(f"no error codes found in {PROTOCOL_ERRORS}")
    return codes


def check_error_table(codes: list[str]) -> None:
    missing = [c for c in codes if c not in ERROR_ADVICE]
    stale = [c for c in ERROR_ADVICE if c not in codes]
    if missing or stale:
        raise ReferenceError(
            f"error advice out of date: codes without advice {missing}, "
            f"advice for codes that no longer exist {stale} (edit ERROR_ADVICE in {__file__})"
        )


# -- rendering helpers -------------------------------------------------------------------------


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def schema_anchor(name: str) -> str:
    return "schema-" + name.lower()


def type_of(schema: dict[str, Any]) -> str:
    """A short human form of a JSON schema's type, linking component references."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[`{name}`](#{schema_anchor(name)})"
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in schema:
            parts = [type_of(s) for s in schema[combinator] if s.get("type") != "null"]
            return " or ".join(parts) or "any"
    kind = schema.get("type", "object" if "properties" in schema else "any")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else " or ".join(kinds)
    if kind == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if schema.get("format"):
        return f"{kind} ({schema['format']})"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {type_of(schema['additionalProperties'])}"
    return str(kind)


def properties_table(schema: dict[str, Any]) -> list[str]:
    props: dict[str, Any] = schema.get("properties", {})
    if not props:
        return [f"Type: {type_of(schema)}.", ""]
    required = set(schema.get("required", []))
    rows = ["| field | type | required | description |", "| --- | --- | --- | --- |"]
    for name, prop in props.items():
        nullable = isinstance(prop.get("type"), list) and "null" in prop["type"]
        need = "yes" if name in required and not nullable else "no"
        rows.append(
            f"| `{name}` | {type_of(prop)} | {need} | {cell(prop.get('description', ''))} |"
        )
    return [*rows, ""]


def auth_of(operation: dict[str, Any], schemes: dict[str, Any]) -> str:
    security = operation.get("security")
    if not security:
        return "none"
    names = [name for requirement in security for name in requirement]
    described = []
    for name in names:
        scheme = schemes.get(name, {})
        if scheme.get("type") == "http":
            label = "admin token" if "admin" in name else "API key"
            described.append(f"`Authorization: Bearer <{label}>`")
        elif scheme.get("type") == "apiKey":
            described.append(f"`{scheme.get('name')}: <API key>`")
        else:
            described.append(f"`{name}`")
    return " or ".join(described)


def render_operation(
    path: str, method: str, op: dict[str, Any], schemes: dict[str, Any]
) -> list[str]:
    out = [f"### `{method.upper()} {path}`", ""]
    if op.get("summary"):
        out += [cell(op["summary"]), ""]
    if op.get("description"):
        out += [op["description"].strip(), ""]
    out += [f"Authentication: {auth_of(op, schemes)}.", ""]
    params = op.get("parameters", [])
    if params:
        out += [
            "| parameter | in | type | required | description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for p in params:
            out.append(
                f"| `{p['name']}` | {p.get('in', '')} | {type_of(p.get('schema', {}))} | "
                f"{'yes' if p.get('required') else 'no'} | {cell(p.get('description', ''))} |"
            )
        out.append("")
    body = op.get("requestBody")
    if body:
        for media, content in body.get("content", {}).items():
            out += [
                f"Request body (`{media}`): {type_of(content.get('schema', {}))}.",
                "",
            ]
    out += ["| status | meaning | body |", "| --- | --- | --- |"]
    for status, response in op.get("responses", {}).items():
        contents = response.get("content", {})
        shapes = ", ".join(
            f"{type_of(c.get('schema', {}))} (`{media}`)"
            for media, c in contents.items()
        )
        out.append(
            f"| {status} | {cell(response.get('description', '')) or '—'} | {shapes or '—'} |"
        )
    return [*out, ""]


def render(document: dict[str, Any], codes: list[str]) -> str:
    info = document.get("info", {})
    components = document.get("components", {})
    schemes = components.get("securitySchemes", {})
    out = [
        "# API reference",
        "",
        (
            "<!-- Generated by scripts/docs/gen_api_reference.py from the gateway's and the broker's "
            "/openapi.json at build time. Do not edit: change the OpenAPI annotations in the code "
            "instead. -->"
        ),
        "",
        (
            f"{info.get('description', '')} OpenAPI {document.get('openapi', '')}, API version "
            f"{info.get('version', '')}. The machine-readable documents: every gateway serves its "
            "public API at `GET /openapi.json`, and the broker its admin API at its own "
            "`GET /openapi.json`; the wire contract and client behaviour are in the "
            "[protocol](../protocol.md)."
        ),
        "",
        (
            "Every non-2xx answer has the body [`ErrorBody`](#schema-errorbody); see "
            "[error codes](#error-codes) for what each `error` means and what to do."
        ),
        "",
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, operations in document.get("paths", {}).items():
        for method, op in operations.items():
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append((path, method, op))
    for tag in [*TAGS, *sorted(set(by_tag) - set(TAGS))]:
        if tag not in by_tag:
            continue
        title, intro = TAGS.get(tag, (tag.capitalize(), ""))
        out += [f"## {title}", "", intro, ""]
        for path, method, op in by_tag[tag]:
            out += render_operation(path, method, op, schemes)

    out += ["## Error codes {#error-codes}", ""]
    out += [
        (
            "The `error` field of [`ErrorBody`](#schema-errorbody). Clients keep a code they do not "
            'know as it is. "Retried" says whether the SDKs retry it by themselves (policy in the '
            "[protocol](../protocol.md#client-retry-policy-all-sdks))."
        ),
        "",
        "| code | HTTP | what the client should do | retried by the SDKs |",
        "| --- | --- | --- | --- |",
    ]
    for code in codes:
        status, advice, retried = ERROR_ADVICE[code]
        out.append(f"| `{code}` | {status} | {cell(advice)} | {cell(retried)} |")
    out += [
        "",
        (
            "Client-side kinds (no HTTP answer behind them), identical in every SDK: "
            "`connection_error` (the gateway could not be reached; retried), `timeout` (not "
            "retried), `invalid_response` (the answer is not protocol v1, e.g. a proxy's HTML page), "
            "`unknown_strategy`, `invalid_strategy_config`, `missing_credential_field`, "
            "`invalid_credential_value` (the credential cannot be injected as the strategy says: an "
            "operator must fix the provider or the credential), `connection_failed` and "
            "`wait_aborted` (waiting for a connection to become active)."
        ),
        "",
        "## Schemas",
        "",
    ]
    for name, schema in sorted(components.get("schemas", {}).items()):
        out += [f"### `{name}` {{#{schema_anchor(name)}}}", ""]
        if schema.get("description"):
            out += [schema["description"].strip(), ""]
        out += properties_table(schema)
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--openapi",
        required=True,
        action="append",
        help="a file, or the URL of an /openapi.json (repeat: gateway first, then broker)",
    )
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    try:
        codes = protocol_error_codes()
        check_error_table(codes)
        page = render(merge([load(source) for source in args.openapi]), codes)
    except (ReferenceError, OSError, ValueError) as err:
        print(f"gen_api_reference: {err}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
