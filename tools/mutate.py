"""Mutation testing of Tether's security-critical modules with mutmut (`make mutate`).

mutmut takes its settings from `[tool.mutmut]` in pyproject.toml and keeps its state in
`mutants/` beside it, one test selection for the whole run. Each module here needs its own fast
tests (never the Node, Chromium or subprocess tests), so each gets a work directory of its own,
`.mutmut/<name>/`: a copy of the tracked files with a `[tool.mutmut]` section for that module.
mutmut's cache there makes a second run only re-test what changed (code, or the module's tests).

    python tools/mutate.py                 # every module, one after another
    python tools/mutate.py proxy_paths     # one module
    python tools/mutate.py --list          # the modules and their tests
    python tools/mutate.py connect --minutes 20   # stop after 20 minutes; a later run resumes

mutmut keeps each mutant's verdict until the function it is in changes; a new or stronger test
does not make it try a survivor again. After adding tests, `--survivors` tries again only the
module's survivors not listed in EQUIVALENT (`make mutate MODULES=user_tokens SURVIVORS=1`).

mutmut tries the mutants whose tests are quickest first. A run stopped by `--minutes` keeps
what it found; the mutants it did not reach count as unexplained ("not checked") until a
later run (which picks up where this one stopped) tries them.

Each run prints mutmut's counts (killed, survived, ...) and every survivor's name; `mutmut show
<name>` in the module's work directory prints its diff. docs/mutation.md keeps the last report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".mutmut"
MUTMUT = Path(sys.executable).with_name("mutmut")
# The tests of each module are fast, in-process ones: never the Node, Chromium or `tether dev`
# subprocess tests (mutmut cannot see into a subprocess, and they are slow).
# Files the tests read besides the code and the tests themselves.
ALSO_COPY = ["app.py", "tether", "wpcom_sandbox", ".chalice", "requirements.txt", "docs", "demo", "README.md", "tools"]


@dataclass(frozen=True)
class Target:
    """A module to mutate and the fast tests that should catch its mutants."""

    module: str
    tests: tuple[str, ...]


TARGETS = {
    "proxy_paths": Target("chalicelib/domain/proxy_paths.py", ("tests/test_proxy_paths.py",)),
    "webhook_signatures": Target("chalicelib/domain/webhook_signatures.py", ("tests/test_webhook_signatures.py",)),
    "user_tokens": Target("chalicelib/services/user_tokens.py", ("tests/test_sdk_auth.py", "tests/test_user_ids.py")),
    "connect": Target(
        "chalicelib/services/connect.py",
        (
            "tests/test_connect.py",
            "tests/test_connect_races.py",
            "tests/test_credential_health.py",
            # A stale client secret or stale development keys: the callback's invalid_client retry.
            "tests/test_client_secrets.py",
        ),
    ),
    "connections": Target(
        "chalicelib/adapters/connections.py",
        (
            "tests/test_connect.py",
            "tests/test_connect_races.py",
            "tests/test_encryption.py",
            "tests/test_key_rotation.py",
            "tests/test_credential_health.py",
            # The only caller that names both an integration and a credential (X-Paragon-Credential).
            "tests/test_proxy.py",
        ),
    ),
    "encryption": Target(
        "chalicelib/adapters/encryption.py", ("tests/test_encryption.py", "tests/test_key_rotation.py")
    ),
    "upstream": Target(
        "chalicelib/adapters/upstream.py",
        ("tests/test_upstream.py", "tests/test_proxy.py", "tests/test_proxy_fidelity.py"),
    ),
}


def _each(function: str, numbers: Iterable[int], reason: str) -> dict[str, str]:
    """One entry per mutant number of `function` (mutmut's dotted name), all for one reason."""
    return {f"{function}__mutmut_{n}": reason for n in numbers}


# Survivors reviewed and found equivalent (no input can tell them from the original), with why.
# A survivor not listed here fails `make mutate`: kill it with a test, or explain it here and in
# docs/mutation.md. (mutmut numbers mutants per function: an edit to a function renumbers them,
# and its entries here must be checked again.)
EQUIVALENT = {
    "chalicelib.domain.proxy_paths.x_clean_segments__mutmut_14": (
        "always unquote: unquote() of a segment without '%' returns it unchanged; the test is a fast path"
    ),
    "chalicelib.domain.proxy_paths.x_clean_segments__mutmut_66": (
        "the '://' check over the raw segments cannot fire: a raw segment holds no '/', so '://' spans an"
        " empty segment, refused earlier as '//'"
    ),
    "chalicelib.domain.proxy_paths.x_clean_segments__mutmut_69": "the same unreachable '://' check, joined differently",
    "chalicelib.domain.webhook_signatures.x__parse__mutmut_15": (
        "rpartition('=') instead of partition('='): they differ only on a part with two or more '=', and"
        " there neither is accepted: partition leaves an '=' in the value (not digits, not hex), rpartition"
        " leaves one in the name (not 't' or 'v1')"
    ),
    **_each(
        "chalicelib.services.user_tokens.x_verify_user_token",
        range(55, 64),
        "the refusal of a non-string 'kid' cannot be reached: PyJWT (pinned 2.15.1) already refuses such a"
        " header in get_unverified_header (_validate_kid), answered as 'not a well-formed JWT'",
    ),
    **{
        f"chalicelib.adapters.encryption.{name}": "a codec name in upper case: Python's codec lookup ignores case"
        for name in (
            "xǁKeyringǁto_json__mutmut_10",
            "xǁEncryptorǁseal__mutmut_15",
            "xǁEncryptorǁseal__mutmut_29",
            "xǁEncryptorǁseal__mutmut_35",
            "xǁEncryptorǁopen__mutmut_51",
        )
    },
    **_each(
        "chalicelib.adapters.encryption.x__context",
        (5, 11),
        "sort_keys dropped: the context dict is written in sorted order (project, record) already",
    ),
    **_each(
        "chalicelib.adapters.encryption.xǁEncryptorǁ_key_after_reload",
        (6, 7),
        "the reload counter moves by -1 or 2 instead of 1: it is only compared for equality with an"
        " earlier reading, and any step that never returns to an earlier value works alike",
    ),
    **_each(
        "chalicelib.adapters.upstream.x_retry_after_seconds",
        (4, 5),
        "the Retry-After header's name in another case: UpstreamResponse.header compares names case-insensitively",
    ),
    **_each(
        "chalicelib.adapters.upstream.xǁ_Inflaterǁcheck_complete",
        (3, 4, 5),
        "the text of the zlib.error for a truncated stream: _read_response catches it and answers its own"
        " message, the text is never read",
    ),
    **_each(
        "chalicelib.adapters.upstream.x__is_limit_page",
        (8, 9, 10),
        "Content-Type's name in another case, or 'XXXX' for a missing one: header() ignores case, and"
        " neither '' nor 'XXXX' holds 'text/html'",
    ),
    "chalicelib.adapters.upstream.xǁ_Failureǁ__init____mutmut_1": (
        "the _Failure's own exception text: it never leaves send, which raises failure.error and logs failure.why"
    ),
    "chalicelib.adapters.upstream.x__never_sent__mutmut_1": (
        "a ConnectTimeout counted as sent by the first test: requests (pinned 2.34.2) raises ConnectTimeout only"
        " around a MaxRetryError whose reason is a ConnectTimeoutError, which the next test counts as never sent"
    ),
    "chalicelib.adapters.upstream.x__never_sent__mutmut_4": (
        "args[0] taken without checking args: every RequestException requests raises from Session.request"
        " carries the underlying error or a message as its first argument"
    ),
    **_each(
        "chalicelib.adapters.upstream.x__read_body",
        (4, 5),
        "Content-Length's name in another case: requests' response headers are a case-insensitive dict",
    ),
    "chalicelib.adapters.upstream.x__read_body__mutmut_15": (
        "decode_content=None: urllib3 then uses the response's own setting, which requests sets to False"
    ),
    **_each(
        "chalicelib.adapters.upstream.x__read_response",
        (17, 18),
        "Content-Encoding's name in another case: requests' response headers are a case-insensitive dict",
    ),
    **_each(
        "chalicelib.adapters.upstream.x__read_response",
        (68, 69),
        "the attempts or throttled field of one attempt's answer: send builds its own UpstreamResponse with"
        " its attempt count and its own throttled verdict, and never reads these two",
    ),
    **_each(
        "chalicelib.adapters.upstream.x__wire_headers",
        (9, 13),
        "a codec name in upper case: Python's codec lookup ignores case",
    ),
    **_each(
        "chalicelib.adapters.upstream.x__wire_headers",
        (2, 4, 5),
        "the caller's Accept-Encoding not recognised in another case: requests merges a request's headers"
        " into a case-insensitive dict, and ours, written last, replaces the caller's whatever its case"
        " (test_accept_encoding_is_what_the_client_decodes_whatever_the_request_says, three cases)",
    ),
    **_each(
        "chalicelib.adapters.upstream.x__wire_headers",
        (17, 18),
        "our Accept-Encoding set under a name in another case: requests merges the headers into a"
        " case-insensitive dict and sends the one Accept-Encoding (the received set of names is asserted)",
    ),
    "chalicelib.adapters.upstream.x__read_body__mutmut_17": (
        "decode_content left out: urllib3 then uses the response's own setting, which requests sets to False"
    ),
    **_each(
        "chalicelib.adapters.upstream.x__read_body",
        (31, 32),
        "a looser bound on what the inflater may give per chunk (cap + size + 1, or 2 once at the cap):"
        " the body is refused exactly when its decoded size passes the cap either way, and a body under"
        " the cap comes back whole; only how far past the cap decoding runs before the refusal differs"
        " (at most about twice the cap)",
    ),
    "chalicelib.adapters.upstream.x__read_body__mutmut_16": (
        "stream() without a size: urllib3's default read size is 2**16, which is CHUNK_BYTES"
    ),
    "chalicelib.adapters.upstream.x__read_body__mutmut_33": (
        "the inflater may give one byte more (cap - size + 2): any output over the cap is refused whether it"
        " is cut at one byte over or two"
    ),
    "chalicelib.services.connect.x_read_session__mutmut_48": (
        "the credential id kept on the session read_session turns into a failure: session_view never reads"
        " the credential id of a failed session"
    ),
    "chalicelib.services.connect.x_store_credential__mutmut_53": (
        "a reconnected account's credential built with created_at = now: the repository keeps the stored"
        " creation time (if_not_exists), and the built object's created_at is not read after the save"
    ),
    "chalicelib.services.connect.x_store_credential__mutmut_57": (
        "the dev-keys cap passed for the project's own client too: the repository reads the cap only for a"
        " credential that uses the development keys"
    ),
    "chalicelib.services.connect.x_start_connect__mutmut_42": (
        "secrets.token_urlsafe(None): its default is 32 bytes, the number given"
    ),
    "chalicelib.services.connect.x_browser_binding__mutmut_2": (
        "the binding cut to 33 hex digits instead of 32: the popup's cookie and the callback's check both"
        " come from this one function, so they agree at any length"
    ),
    "chalicelib.services.connect.x_complete_oauth__mutmut_6": (
        "'XXXX' instead of '' for a missing state: neither starts with a project id, so both get the same refusal"
    ),
    "chalicelib.services.connect.x_session_view__mutmut_6": (
        "`and` -> `or` in the complete-session test: the store keeps a credential id on a session only with"
        " the COMPLETE status (complete sets both, fail removes it, a new session has none)"
    ),
    **_each(
        "chalicelib.adapters.connections.xǁ_Cancelledǁ__init__",
        (1, 3),
        "the _Cancelled exception's own text: it never leaves the repository, which reads its labels",
    ),
    **_each(
        "chalicelib.adapters.connections.xǁCredentialRepositoryǁ_with_seat_dropped",
        (22, 23),
        "the label of the give-up after SEAT_ATTEMPTS: only as_error reads it, and as_error looks for"
        " 'credential' and 'current', never 'seat' (test_a_seat_that_keeps_changing_is_a_409_after_a_few_reads)",
    ),
    **_each(
        "chalicelib.adapters.connections.x__drop_seat",
        (27, 54, 88),
        "an expression keyword (NOT, DELETE) in lower case: DynamoDB's keywords are not case-sensitive",
    ),
    **_each(
        "chalicelib.adapters.connections.x__drop_seat",
        (96, 97),
        "the label of the release operation: it has no condition, so it is never among the failed labels",
    ),
    **_each(
        "chalicelib.adapters.connections.x__take_seat",
        (22, 25, 57),
        "an expression keyword (ADD, OR) in lower case: DynamoDB's keywords are not case-sensitive",
    ),
    "chalicelib.adapters.connections.xǁCredentialRepositoryǁsave__mutmut_72": (
        "the SET keyword in lower case: DynamoDB's keywords are not case-sensitive"
    ),
    "chalicelib.adapters.connections.xǁCredentialRepositoryǁsave__mutmut_121": (
        "`dev_keys_cap or 1` in the cap refusal: the cap operation exists only for a development-keys"
        " credential, which is never saved without a cap (ValueError first), so the fallback never applies"
    ),
    "chalicelib.adapters.connections.xǁCredentialRepositoryǁ_transact__mutmut_7": (
        "one more turn of the attempts loop: the loop always ends by returning or by raising at"
        " attempt == TRANSACTION_ATTEMPTS, so its bound is never reached"
    ),
    "chalicelib.adapters.connections.xǁCredentialRepositoryǁ_transact__mutmut_47": (
        "zip() without strict=False: False is its default"
    ),
    **_each(
        "chalicelib.adapters.connections.x__take_seat",
        (35, 36),
        "the label of the seat operation of a take: it has no condition, so it is never among the failed"
        " labels (the cap operation's is)",
    ),
    **_each(
        "chalicelib.adapters.connections.x__credential_attributes",
        (4, 5, 6),
        "the userId attribute of a credential item under another name: nothing reads it (a credential's"
        " user comes from its key); it is written for whoever reads the table",
    ),
    **_each(
        "chalicelib.adapters.connections.x__credential_attributes",
        (19, 21),
        "providerDataJson written with json's default separators: it is read back with json.loads, which"
        " gives the same value",
    ),
    "chalicelib.adapters.connections.xǁConnectSessionRepositoryǁget__mutmut_49": (
        "the integration type of a session read back: nothing reads it (it is written for the record;"
        " the callback takes the integration from the OAuth state)"
    ),
    "chalicelib.adapters.encryption.x__new_key_id__mutmut_7": (
        "local time instead of UTC in a new key id: the same where the clock's zone is UTC (Lambda, the"
        " tests); elsewhere only the id's text differs, and ids are opaque names compared for equality"
    ),
}


# Survivors reviewed and explained but not proven equivalent for every input: no test through a
# public interface can reach the difference (say why). Reported apart from the equivalent ones.
ACCEPTED = {
    **_each(
        "chalicelib.adapters.upstream.x__caused_by",
        (6, 11),
        "the walk's guard against revisiting an exception: it only matters for a cycle in the exception"
        " graph, which requests/urllib3 do not build for any answer we know of; revisiting a node in an"
        " acyclic graph changes nothing",
    ),
    **_each(
        "chalicelib.adapters.upstream.x__caused_by",
        (13, 18, 19),
        "an exception's `reason` not walked: urllib3 raises MaxRetryError from its reason, so the walk"
        " reaches the same exception through __cause__; only an error nested in `reason` alone would be"
        " missed, which requests/urllib3 do not build for any answer we know of",
    ),
    "chalicelib.adapters.upstream.xǁ_Inflaterǁfeed__mutmut_1": (
        "the raw-deflate fallback tried again on a later chunk (`and` -> `or`): an error there is a corrupt"
        " stream either way; the fallback then inflates a mid-stream piece from scratch, which fails too (502,"
        " the same message) unless that piece happens to be a complete raw deflate stream of its own"
    ),
    **_each(
        "chalicelib.services.connect.x_failed_session_error",
        (27, 28, 29),
        "the fallback text for a failed session without a message: every way a session fails stores its"
        " error's message (complete_oauth's fail, read_session, _record_failed_start), and the messages"
        " Tether raises are never empty; only a session item written by hand could lack one",
    ),
    **_each(
        "chalicelib.services.connect.x_read_session",
        (34, 40),
        "read_session's failure written without `reported` (only while the session still names the"
        " removed credential): a session is completed once, since its OAuth state is consumed once, so"
        " no flow today can give it another credential between the read and the write; the condition"
        " guards against one that might",
    ),
    **_each(
        "chalicelib.services.connect.x_store_credential",
        (8, 9, 42),
        "the user's earlier credential for the account not found (or its id not reused): today every"
        " credential's id is derived from (project, user, integration, account), so the derived id is"
        " that credential's id and the replace path rewrites it alike; it differs only for a credential"
        " stored before ids were derived, which no test (or fixture) creates",
    ),
    **_each(
        "chalicelib.services.connect.x_start_connect",
        (45, 74, 90, 97),
        "PKCE never used, or its verifier or challenge dropped: the one provider in the catalogue"
        " (WordPress.com) does not use PKCE, so there is none to drop; testable once a PKCE provider is"
        " added (that PKCE is never forced on WordPress.com is tested)",
    ),
    "chalicelib.services.connect.x__exchange_code__mutmut_6": (
        "the PKCE verifier not sent: the one provider in the catalogue (WordPress.com) does not use PKCE, so"
        " the verifier is None anyway; testable once a PKCE provider is added"
    ),
    "chalicelib.services.connect.x_store_credential__mutmut_59": (
        "`same is not None` -> `is None`: a first connect tries the must-exist update, is refused (NotFound)"
        " and goes on as before; a reconnect of a held account takes the replace path, which writes the same"
        " derived id and sweeps nothing else; the end state is the same, serially and in every schedule the"
        " race tests run"
    ),
    **_each(
        "chalicelib.adapters.connections.xǁCredentialRepositoryǁcandidates",
        (15, 17, 18, 19, 20, 21, 22),
        "the message and code of the refusal of a credential that belongs to another integration:"
        " unreachable while the catalogue holds one provider (every credential and every proxied"
        " integration is wordpress); to be tested with a second provider",
    ),
    **_each(
        "chalicelib.adapters.connections.xǁCredentialRepositoryǁ_seat",
        (12, 13),
        "the seat read without ConsistentRead: moto's reads are always consistent; on DynamoDB a stale"
        " read would fail the seat condition and be read again (up to SEAT_ATTEMPTS times)",
    ),
    **{
        f"chalicelib.adapters.connections.xǁ{function}__mutmut_{n}": (
            "a read without ConsistentRead: moto's reads are always strongly consistent, so no test can see"
            " the stale read DynamoDB could give right after a write (a credential just connected, a session"
            " just completed)"
        )
        for function, numbers in (
            ("CredentialRepositoryǁ_items", (7, 16)),
            ("CredentialRepositoryǁ_get_item", (6, 13)),
            ("ConnectSessionRepositoryǁget", (6, 13)),
            ("OAuthStateRepositoryǁpeek", (5, 10)),
            ("DevKeyUsageǁusers", (6, 8)),
        )
        for n in numbers
    },
    "chalicelib.adapters.connections.xǁConnectSessionRepositoryǁ_update__mutmut_2": (
        "the `reported` condition added when no credential id is given (credentialId = NULL): moto lets"
        " such a write through for a session without credentialId (checked by hand: the session tests"
        " pass), so no test against moto can see it; DynamoDB would refuse the write"
    ),
    **{
        f"chalicelib.adapters.connections.{name}": (
            "how a PKCE verifier is stored and read back: WordPress.com, the one provider, does not use PKCE"
            " (the verifier is always None, and the sandbox records no token request body); testable once"
            " a PKCE provider is added"
        )
        for name in (
            *(f"xǁOAuthStateRepositoryǁput__mutmut_{n}" for n in (18, 19, 20, 21, 22)),
            *(f"x__oauth_state__mutmut_{n}" for n in (35, 36)),
            "x__optional__mutmut_1",
        )
    },
    **_each(
        "chalicelib.adapters.connections.xǁConnectSessionRepositoryǁput",
        (8, 9, 10),
        "the sessionId attribute of a session item under another name: nothing reads it (the session's id"
        " comes from its key)",
    ),
    "chalicelib.adapters.connections.xǁConnectSessionRepositoryǁput__mutmut_26": (
        "a new session's error message cut at 501: a session is put with a message only for a failed start,"
        " and those messages are fixed texts well under 500 characters"
    ),
    "chalicelib.adapters.connections.xǁOAuthStateRepositoryǁput__mutmut_26": (
        "the state put without its must-be-new condition: a state is 256 random bits, so its hash never"
        " names an existing item"
    ),
    **_each(
        "chalicelib.adapters.connections.x__oauth_state",
        (6, 32, 34),
        "the PKCE verifier not read back: WordPress.com, the one provider, does not use PKCE, so there is"
        " none; testable once a PKCE provider is added",
    ),
    "chalicelib.adapters.connections.x__credential__mutmut_45": (
        "another default for a credential item without providerDataJson: every writer of a credential"
        " item sets it (_credential_attributes), so only an item written by hand could lack it"
    ),
    **_each(
        "chalicelib.adapters.connections.xǁConnectSessionRepositoryǁfail",
        (6, 12),
        "the session's failure written without the `reported` condition: the same case as connect's"
        " read_session 34 and 40 (a session is completed once, so nothing changes it in between)",
    ),
    **_each(
        "chalicelib.adapters.connections.xǁCredentialRepositoryǁdelete_while_current",
        (22, 23, 25),
        "a sweep delete refused because a later connect claimed the integration, reported as"
        " Superseded (22, 23) or as a success (25) instead of False: the later connect removes what"
        " remains either way, so the end state is the same; only whether the losing popup says"
        " superseded at once or connected-then-removed differs, and from outside the two"
        " interleavings are indistinguishable (the race test accepts either, with its exact message)",
    ),
    "chalicelib.adapters.upstream.x__caused_by__mutmut_8": (
        "`continue` -> `break` at a non-exception item: for the errors requests raises on a folded header the"
        " FoldedHeaderError is reached through __context__ links before any such item (the folded-header"
        " tests pass); an error nested behind a None or a string argument would be missed"
    ),
}


def _toml_list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(value) for value in values) + "]"


def prepare(name: str, target: Target) -> Path:
    """Refresh `.mutmut/<name>/` from the working tree and write its `[tool.mutmut]` section."""
    work = WORK / name
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for relative in tracked:
        source = REPO / relative
        if not source.is_file() or "node_modules" in source.parts:
            continue
        destination = work / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if not destination.exists() or destination.read_bytes() != source.read_bytes():
            shutil.copy2(source, destination)
    missing = [test for test in target.tests if not (work / test).is_file()]
    if missing:
        raise SystemExit(f"{name}: test files not found: {missing}")
    settings = "\n".join(
        [
            "",
            "[tool.mutmut]",
            'source_paths = ["chalicelib"]',
            f"only_mutate = {_toml_list([target.module])}",
            f"also_copy = {_toml_list(ALSO_COPY)}",
            # File order and no output noise: mutmut compares runs. tools/mutmut_order.py runs
            # each mutant's tests cheapest first, fixtures included.
            'pytest_add_cli_args = ["-p", "no:randomly", "-q", "-p", "tools.mutmut_order"]',
            f"pytest_add_cli_args_test_selection = {_toml_list(target.tests)}",
            # mutmut warns (and keeps its verdicts) when these change: see --survivors.
            f"cache_invalidation_files = {_toml_list([*target.tests, 'tests/conftest.py'])}",
            # mypy --strict guards every landing: a mutant it refuses is caught without running a
            # test (mutmut's trampolines carry `type: ignore`s mypy would call unused).
            "type_check_command = "
            + _toml_list(["mypy", target.module, "--no-warn-unused-ignores", "--output", "json"]),
            "",
        ]
    )
    (work / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text() + settings)
    return work


def _results(work: Path) -> list[tuple[str, str]]:
    """(mutant, status) of every mutant mutmut did not report killed."""
    lines = subprocess.run(
        [str(MUTMUT), "results"], cwd=work, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return [(mutant, status) for mutant, _, status in (line.strip().partition(": ") for line in lines)]


def _mutmut_run(work: Path, minutes: float | None, names: list[str] | None = None) -> None:
    """`mutmut run` in `work` (only the mutants `names`, when given); after `minutes`, interrupt it
    as Ctrl-C would (results so far stay)."""
    # mutmut runs the type checker by the bare name `mypy`: the one beside it.
    env = {**os.environ, "PATH": f"{MUTMUT.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    # mutmut's own output (spinners, and why a run stopped) goes to a log beside its work.
    stopped = False
    with (work / "mutmut.log").open("w") as log:
        process = subprocess.Popen([str(MUTMUT), "run", *(names or [])], cwd=work, stdout=log, stderr=log, env=env)
        try:
            process.wait(timeout=None if minutes is None else minutes * 60)
        except subprocess.TimeoutExpired:
            print(f"   stopped after {minutes:g} minutes", flush=True)
            stopped = True
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    if process.returncode != 0 and not stopped:
        print(f"   mutmut ended with code {process.returncode}; see {work / 'mutmut.log'}", flush=True)


def run(name: str, target: Target, minutes: float | None = None, survivors: bool = False) -> dict[str, int]:
    """Run mutmut for one module (for at most `minutes`; only its survivors when `survivors`);
    print and return its counts."""
    work = prepare(name, target)
    print(f"== {name}: {target.module} (tests: {', '.join(target.tests)})", flush=True)
    if not survivors:
        _mutmut_run(work, minutes)
    elif not (work / "mutants").is_dir():
        raise SystemExit(f"{name}: no earlier run to take the survivors of")
    else:
        names = [m for m, status in _results(work) if status == "survived" and m not in EQUIVALENT | ACCEPTED]
        print(f"   trying again {len(names)} unexplained survivor(s)", flush=True)
        if names:
            _mutmut_run(work, minutes, names)
    subprocess.run([str(MUTMUT), "export-cicd-stats"], cwd=work, check=True, stdout=subprocess.DEVNULL)
    counts: dict[str, int] = json.loads((work / "mutants" / "mutmut-cicd-stats.json").read_text())
    results = _results(work)
    counts["caught by type check"] = sum(status == "caught by type check" for _, status in results)
    print("   " + ", ".join(f"{key} {value}" for key, value in counts.items() if value))
    unexplained = 0
    for mutant, status in results:
        equivalent = EQUIVALENT.get(mutant) if status == "survived" else None
        accepted = ACCEPTED.get(mutant) if status == "survived" else None
        # A mutant that makes the tests hang (timeout) or crash, or that mypy refuses, is caught.
        if equivalent is None and accepted is None and status not in ("timeout", "segfault", "caught by type check"):
            unexplained += 1
        note = f" (equivalent: {equivalent})" if equivalent else f" (accepted: {accepted})" if accepted else ""
        print(f"   {mutant}: {status}{note}")
    counts["unexplained"] = unexplained
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--list", action="store_true", help="list the modules and their tests")
    parser.add_argument("--minutes", type=float, help="stop each module's run after this long (a later run resumes)")
    parser.add_argument("--survivors", action="store_true", help="try again only the last unexplained survivors")
    args = parser.parse_args()
    if args.list:
        for name, target in TARGETS.items():
            print(f"{name:12} {target.module}  <- {' '.join(target.tests)}")
        return 0
    unknown = [name for name in args.modules if name not in TARGETS]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; choose from {', '.join(TARGETS)}")
    unexplained = 0
    for name in args.modules or list(TARGETS):
        unexplained += run(name, TARGETS[name], args.minutes, args.survivors)["unexplained"]
    if unexplained:
        print(f"{unexplained} mutant(s) survived (or were not checked) without an explanation")
    return 0 if unexplained == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
