"""Keeps docs/openapi.json honest: it must describe exactly the routes the app registers, resolve
every `$ref`, give each operation an id, a summary, a success and a JSON error response, declare
every path parameter, and list the error codes the application code can produce."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "docs" / "openapi.json"

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ERROR_SCHEMA_REF = "#/components/schemas/Error"

# The code registers the proxy once per depth: `.../proxy/{integration}/{p1}` ... `/{p1}/.../{p16}`.
# The document describes them once, with `{path}` standing for 1..N segments (`x-tether-path-depth`).
PROXY_DOC_PATH = "/projects/{project_id}/sdk/proxy/{integration}/{path}"
PROXY_DEPTH_ROUTE = re.compile(r"^/projects/\{project_id\}/sdk/proxy/\{integration\}(?P<segments>(?:/\{p\d+\})+)$")

# Browser pages (the connect popup's two pages, the Connect Portal): they answer HTML, errors
# included, so they have no JSON error response.
HTML_OPERATIONS = {
    ("/oauth/callback", "get"),
    ("/projects/{project_id}/sdk/actions/oauth-nonce", "get"),
    ("/connect/ui", "get"),
}
# The webhook intake is authenticated by its signature, not by a security scheme.
UNAUTHENTICATED_OPERATIONS = {
    ("/oauth/callback", "get"),
    ("/connect/ui", "get"),
    ("/connect/ui/assets/{name}", "get"),
    ("/hooks/{hook_id}", "post"),
    ("/", "get"),
    ("/openapi.json", "get"),
}

# Error codes in chalicelib that no HTTP route answers, with the reason.
NOT_HTTP_CODES = {
    "project_exists": "raised only by `tether projects create`",
    "invalid_name": "raised only by `tether projects create`",
    "keyring_busy": "raised only by `tether keys rotate`",
    "invalid_template": "a template error: a permanent step failure, recorded in the run's step",
    "blocked_destination": "an http step's refused address: recorded in the run's step",
    "destination_unreachable": "an http step's network failure: recorded in the run's step",
    "invalid_url": "an http step's URL: recorded in the run's step",
    "response_too_large": "an http step's oversized answer: recorded in the run's step",
    "output_store_unavailable": "S3 failed to keep or return a large step output: a transient step failure",
    "bad_request": "default of BadRequest; every raise names its own code",
    "unauthorized": "default of Unauthorized; every raise names its own code",
    "forbidden": "default of Forbidden; every raise names its own code",
    "not_found": "default of NotFound; every raise names its own code",
    "conflict": "default of Conflict; every raise names its own code",
    "upstream_error": "default of UpstreamError; every raise names its own code",
}
# Documented codes built at run time rather than written in the code: `oauth_<provider error>`.
DYNAMIC_CODE = re.compile(r"^oauth_[a-z0-9_]+$")
CODE_LITERAL = re.compile(r"^[a-z][a-z0-9_]*$")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    assert SPEC_PATH.is_file(), f"{SPEC_PATH} is missing"
    try:
        document = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        pytest.fail(f"{SPEC_PATH} is not valid JSON: {exc}")
    assert isinstance(document, dict), "the OpenAPI document must be a JSON object"
    return document


@pytest.fixture(scope="module")
def app_routes() -> dict[str, set[str]]:
    """`app.routes` as path -> upper-case methods, without CORS preflight (OPTIONS)."""
    from app import app

    routes: dict[str, set[str]] = {}
    for path, entries in app.routes.items():
        methods = {method.upper() for method in entries} - {"OPTIONS"}
        if methods:
            routes[path] = methods
    return routes


def resolve(document: dict[str, Any], ref: str) -> Any:
    """The target of a local `$ref` (a JSON pointer after `#`); KeyError if it does not exist."""
    if not ref.startswith("#/"):
        raise KeyError(f"not a local reference: {ref}")
    node: Any = document
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(ref)
    return node


def deref(document: dict[str, Any], node: Any) -> Any:
    """Follow `$ref` until reaching an object without one."""
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            raise AssertionError(f"circular $ref: {ref}")
        seen.add(ref)
        node = resolve(document, ref)
    return node


def deref_or_none(document: dict[str, Any], node: Any) -> Any:
    """`deref`, or None when a `$ref` on the way does not resolve (reported by its own test)."""
    try:
        return deref(document, node)
    except (KeyError, ValueError, IndexError):
        return None


def walk_refs(node: Any, pointer: str = "#") -> Iterator[tuple[str, str]]:
    """Every `$ref` in `node` with the JSON pointer of the object holding it."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield pointer, ref
        for key, value in node.items():
            yield from walk_refs(value, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_refs(value, f"{pointer}/{index}")


def reachable_refs(document: dict[str, Any], node: Any) -> set[str]:
    """Every `$ref` in `node` and, transitively, in what those refer to."""
    found: set[str] = set()
    pending = [ref for _, ref in walk_refs(node)]
    while pending:
        ref = pending.pop()
        if ref in found:
            continue
        found.add(ref)
        try:
            target = resolve(document, ref)
        except (KeyError, ValueError, IndexError):
            continue
        pending.extend(inner for _, inner in walk_refs(target))
    return found


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(path, method, path item, operation) for every operation of the document."""
    for path, item in document.get("paths", {}).items():
        item = deref(document, item)
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item, item[method]


def documented_routes(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, method, _, _ in operations(document) if method != "options"}


def proxy_depths(routes: dict[str, set[str]]) -> dict[int, set[str]]:
    """depth -> methods of the per-depth proxy routes, checking their segments are `{p1}`..`{pN}`."""
    depths: dict[int, set[str]] = {}
    for path, methods in routes.items():
        match = PROXY_DEPTH_ROUTE.match(path)
        if match is None:
            continue
        names = re.findall(r"\{(p\d+)\}", match.group("segments"))
        assert names == [f"p{i}" for i in range(1, len(names) + 1)], f"unexpected proxy segment names in {path}"
        depths[len(names)] = methods
    return depths


def collapsed_app_routes(routes: dict[str, set[str]]) -> set[tuple[str, str]]:
    """The app's (path, METHOD) pairs with the per-depth proxy routes folded into PROXY_DOC_PATH."""
    pairs: set[tuple[str, str]] = set()
    for path, methods in routes.items():
        target = PROXY_DOC_PATH if PROXY_DEPTH_ROUTE.match(path) else path
        pairs.update((target, method) for method in methods)
    return pairs


def test_document_is_openapi_3_1(spec: dict[str, Any]) -> None:
    version = spec.get("openapi")
    assert isinstance(version, str), "missing `openapi` version"
    assert version.startswith("3.1"), f"`openapi` is {version!r}; expected 3.1.x"
    assert spec.get("info", {}).get("title"), "info.title is required"
    assert spec.get("info", {}).get("version"), "info.version is required"
    assert spec.get("paths"), "the document has no paths"


def test_every_ref_resolves(spec: dict[str, Any]) -> None:
    broken = []
    for pointer, ref in walk_refs(spec):
        try:
            resolve(spec, ref)
        except (KeyError, ValueError, IndexError):
            broken.append(f"{pointer}: $ref {ref!r}")
    assert not broken, "unresolvable $ref(s):\n  " + "\n  ".join(sorted(broken))


def test_documented_routes_equal_app_routes(spec: dict[str, Any], app_routes: dict[str, set[str]]) -> None:
    in_code = collapsed_app_routes(app_routes)
    in_spec = documented_routes(spec)
    undocumented = sorted(in_code - in_spec)
    phantom = sorted(in_spec - in_code)
    lines = []
    if undocumented:
        lines.append("registered by the app but missing from docs/openapi.json:")
        lines += [f"  {method} {path}" for path, method in undocumented]
    if phantom:
        lines.append("documented in docs/openapi.json but not registered by the app:")
        lines += [f"  {method} {path}" for path, method in phantom]
    assert not lines, "\n".join(lines)


def test_proxy_depth_routes_match_the_documented_depths(spec: dict[str, Any], app_routes: dict[str, set[str]]) -> None:
    item = spec["paths"].get(PROXY_DOC_PATH)
    assert item is not None, f"{PROXY_DOC_PATH} is not documented"
    depth = item.get("x-tether-path-depth")
    assert isinstance(depth, dict), f"{PROXY_DOC_PATH} needs `x-tether-path-depth: {{min, max}}`"
    registered = proxy_depths(app_routes)
    expected = set(range(depth["min"], depth["max"] + 1))
    assert set(registered) == expected, (
        f"the app registers proxy depths {sorted(registered)}, the document says "
        f"{depth['min']}..{depth['max']}: update `x-tether-path-depth`"
    )
    documented = {method.upper() for method in HTTP_METHODS if method in item}
    uneven = {n: sorted(methods) for n, methods in registered.items() if methods != documented}
    assert not uneven, f"proxy depths whose methods differ from the documented {sorted(documented)}: {uneven}"


def test_every_operation_is_complete(spec: dict[str, Any]) -> None:
    declared_tags = {tag["name"] for tag in spec.get("tags", [])}
    seen_ids: dict[str, str] = {}
    problems = []
    for path, method, _, operation in operations(spec):
        where = f"{method.upper()} {path}"
        operation_id = operation.get("operationId")
        if not operation_id:
            problems.append(f"{where}: no operationId")
        elif operation_id in seen_ids:
            problems.append(f"{where}: operationId {operation_id!r} already used by {seen_ids[operation_id]}")
        else:
            seen_ids[operation_id] = where
        if not str(operation.get("summary", "")).strip():
            problems.append(f"{where}: no summary")
        tags = operation.get("tags") or []
        if len(tags) != 1 or tags[0] not in declared_tags:
            problems.append(f"{where}: needs exactly one tag from {sorted(declared_tags)}, has {tags}")
        if "security" not in operation:
            problems.append(f"{where}: declare `security` (there is no global default)")
        elif (path, method) in UNAUTHENTICATED_OPERATIONS and operation["security"] != []:
            problems.append(f"{where}: is unauthenticated; its security must be []")
        elif (path, method) not in UNAUTHENTICATED_OPERATIONS and not operation["security"]:
            problems.append(f"{where}: has no security requirement")

        responses = operation.get("responses") or {}
        statuses = list(responses)
        if not any(re.fullmatch(r"[23](\d\d|XX)", status) for status in statuses):
            problems.append(f"{where}: no 2xx/3xx response (has {statuses})")
        resolved = {status: deref_or_none(spec, response) for status, response in responses.items()}
        problems += [
            f"{where}: response {status} has an unresolvable $ref" for status in resolved if not resolved[status]
        ]
        if (path, method) in HTML_OPERATIONS:
            for status, response in resolved.items():
                if response and "text/html" not in response.get("content", {}):
                    problems.append(f"{where}: response {status} of an HTML page is not text/html")
            continue
        error_statuses = [s for s in statuses if s == "default" or re.fullmatch(r"[45](\d\d|XX)", s)]
        refers_to_error = [s for s in error_statuses if ERROR_SCHEMA_REF in reachable_refs(spec, resolved[s])]
        if not refers_to_error:
            problems.append(f"{where}: no error response using {ERROR_SCHEMA_REF} (error statuses: {error_statuses})")
    assert not problems, f"{len(problems)} operation problem(s):\n  " + "\n  ".join(problems)


def test_every_path_parameter_is_declared(spec: dict[str, Any]) -> None:
    problems = []
    for path, method, item, operation in operations(spec):
        where = f"{method.upper()} {path}"
        in_template = re.findall(r"\{([^{}]+)\}", path)
        if len(in_template) != len(set(in_template)):
            problems.append(f"{where}: a parameter appears twice in the path")
        declared = {}
        for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
            parameter = deref_or_none(spec, parameter)
            if parameter is None:
                problems.append(f"{where}: a parameter has an unresolvable $ref")
            elif parameter.get("in") == "path":
                declared[parameter.get("name")] = parameter
        for name in sorted(set(in_template) - set(declared)):
            problems.append(f"{where}: path parameter {{{name}}} is not declared")
        for name in sorted(set(declared) - set(in_template)):
            problems.append(f"{where}: declares path parameter {name!r}, which is not in the path")
        for name, parameter in sorted(declared.items()):
            if name in in_template and parameter.get("required") is not True:
                problems.append(f"{where}: path parameter {name!r} must have `required: true`")
    assert not problems, "path parameter problems:\n  " + "\n  ".join(problems)


def _string_constants(node: ast.AST | None) -> Iterator[str]:
    """String literals a `code` value may take: a constant, or either branch of `a if c else b`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _string_constants(node.body)
        yield from _string_constants(node.orelse)


def codes_in_application() -> dict[str, str]:
    """Error codes written in chalicelib (`code="..."` arguments and `code = "..."` assignments)."""
    found: dict[str, str] = {}
    for source in sorted((ROOT / "chalicelib").rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
        for node in ast.walk(tree):
            is_code_argument = isinstance(node, ast.keyword) and node.arg == "code"
            is_code_assignment = isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id == "code" for target in node.targets
            )
            if not (is_code_argument or is_code_assignment):
                continue
            for value in _string_constants(getattr(node, "value", None)):
                if CODE_LITERAL.match(value):
                    found.setdefault(value, f"{source.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}")
    return found


def documented_codes(node: Any) -> set[str]:
    """Every code listed in an `x-tether-error-codes` array."""
    codes: set[str] = set()
    if isinstance(node, dict):
        listed = node.get("x-tether-error-codes")
        if isinstance(listed, list):
            codes.update(str(code) for code in listed)
        for value in node.values():
            codes |= documented_codes(value)
    elif isinstance(node, list):
        for value in node:
            codes |= documented_codes(value)
    return codes


def test_error_codes_match_the_application(spec: dict[str, Any]) -> None:
    in_code = codes_in_application()
    in_spec = documented_codes(spec)
    undocumented = sorted(code for code in set(in_code) - in_spec if code not in NOT_HTTP_CODES)
    unknown = sorted(code for code in in_spec - set(in_code) if not DYNAMIC_CODE.match(code))
    lines = []
    if undocumented:
        lines.append("error codes in chalicelib listed in no `x-tether-error-codes` of docs/openapi.json:")
        lines += [f"  {code} ({in_code[code]})" for code in undocumented]
    if unknown:
        lines.append("error codes listed in docs/openapi.json that chalicelib never produces:")
        lines += [f"  {code}" for code in unknown]
    assert not lines, "\n".join(lines)
