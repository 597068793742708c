"""The webhook signature rules (chalicelib/domain/webhook_signatures.py) on their own: the exact
format a sender implements, the 5-minute window at its edges, rotation (several secrets, several
`v1=`), and every malformed header with its code and message. (tests/test_webhooks.py drives the
same rules through the intake route; this file is fast enough to be the mutation run's test.)"""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.webhook_signatures import (
    MAX_HEADER_CHARS,
    TOLERANCE_SECONDS,
    signature,
    signature_header,
    verify,
)

SECRET = "whsec_example"
AT = 1764720000
BODY = b'{"order":42}'
# printf '%s' '1764720000.{"order":42}' | openssl dgst -sha256 -hmac whsec_example
EXPECTED = "627de85fcffdc36516d0f233a14f7699fb5924381e07c75e8c808b72f4c2b53b"
MALFORMED = "The X-Tether-Signature header must be 't=<unix seconds>,v1=<hex HMAC-SHA256>'."
MISMATCH = "The signature does not match the body and the webhook's secret."


def refusal(
    header: str | None, body: bytes = BODY, secrets: tuple[str, ...] = (SECRET,), now: float = AT
) -> tuple[str, str]:
    with pytest.raises(Unauthorized) as refused:
        verify(header, body, secrets, now)
    assert refused.value.status == 401
    return refused.value.code, refused.value.message


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_in_lower_hex() -> None:
    assert signature(SECRET, AT, BODY) == EXPECTED
    assert signature_header(SECRET, AT, BODY) == f"t={AT},v1={EXPECTED}"


def test_a_signed_delivery_is_accepted() -> None:
    assert verify(f"t={AT},v1={EXPECTED}", BODY, [SECRET], AT) is None
    assert verify(signature_header("another", AT, b""), b"", ["another"], AT + 1.5) is None


@pytest.mark.parametrize("header", [None, ""])
def test_a_missing_signature_is_refused(header: str | None) -> None:
    assert refusal(header) == ("signature_missing", "The X-Tether-Signature header is missing.")


@pytest.mark.parametrize("offset", [-TOLERANCE_SECONDS, TOLERANCE_SECONDS, 0.5, -299.9])
def test_a_timestamp_within_five_minutes_either_side_is_accepted(offset: float) -> None:
    verify(signature_header(SECRET, AT, BODY), BODY, [SECRET], AT + offset)


@pytest.mark.parametrize("offset", [-TOLERANCE_SECONDS - 0.5, TOLERANCE_SECONDS + 0.5, 301, -301, 86400])
def test_a_timestamp_more_than_five_minutes_away_is_refused(offset: float) -> None:
    assert refusal(signature_header(SECRET, AT, BODY), now=AT + offset) == (
        "signature_expired",
        "The signature's timestamp is more than 5 minutes from now.",
    )


@pytest.mark.parametrize(
    ("header", "body", "secrets"),
    [
        (f"t={AT},v1={EXPECTED}", b'{"order":43}', (SECRET,)),
        (f"t={AT},v1={EXPECTED}", BODY, ("whsec_other",)),
        (f"t={AT},v1={EXPECTED}", BODY, ()),
        (f"t={AT},v1={EXPECTED[:-1]}0", BODY, (SECRET,)),
        # The signature of another moment does not carry over to this one.
        (f"t={AT + 1},v1={EXPECTED}", BODY, (SECRET,)),
    ],
    ids=["tampered-body", "other-secret", "no-secret", "one-digit-off", "other-timestamp"],
)
def test_a_signature_that_does_not_match_is_refused(header: str, body: bytes, secrets: tuple[str, ...]) -> None:
    assert refusal(header, body, secrets) == ("invalid_signature", MISMATCH)


def test_any_valid_secret_and_any_v1_value_may_match() -> None:
    other = signature("whsec_old", AT, BODY)
    # During a rotation the webhook has two secrets and a sender may send two signatures.
    verify(f"t={AT},v1={EXPECTED}", BODY, ["whsec_old", SECRET], AT)
    verify(f"t={AT},v1={other},v1={EXPECTED}", BODY, [SECRET], AT)
    verify(f"t={AT},v1={EXPECTED},v1={other}", BODY, [SECRET], AT)
    # Secrets may come from a generator (read once).
    verify(f"t={AT},v1={EXPECTED}", BODY, (s for s in ["whsec_old", SECRET]), AT)


def test_spaces_around_parts_and_unknown_schemes_are_ignored() -> None:
    verify(f" t={AT} , v0=whatever,  v1={EXPECTED} ", BODY, [SECRET], AT)
    verify(f"v1={EXPECTED},t={AT}", BODY, [SECRET], AT)


def test_the_first_timestamp_counts() -> None:
    verify(f"t={AT},t=1,v1={EXPECTED}", BODY, [SECRET], AT)
    assert refusal(f"t=1,t={AT},v1={EXPECTED}")[0] == "signature_expired"


def test_a_twelve_digit_timestamp_is_read_and_a_thirteen_digit_one_is_malformed() -> None:
    at = 999_999_999_999
    verify(signature_header(SECRET, at, BODY), BODY, [SECRET], at)
    at13 = 1_000_000_000_000
    assert refusal(signature_header(SECRET, at13, BODY), now=at13) == ("invalid_signature", MALFORMED)


def test_a_header_of_the_length_cap_is_read_and_one_longer_is_malformed() -> None:
    header = f"t={AT},v1={EXPECTED},x="
    header += "a" * (MAX_HEADER_CHARS - len(header))
    assert len(header) == MAX_HEADER_CHARS
    verify(header, BODY, [SECRET], AT)
    assert refusal(header + "a") == ("invalid_signature", MALFORMED)


@pytest.mark.parametrize(
    "header",
    [
        f"v1={EXPECTED}",
        f"t={AT}",
        f"t={AT},v1=",
        f"T={AT},v1={EXPECTED}",
        f"t={AT},V1={EXPECTED}",
        f"t={AT}v1={EXPECTED}",
        f"t=-{AT},v1={EXPECTED}",
        f"t={AT}.0,v1={EXPECTED}",
        f"t=,v1={EXPECTED}",
        # Digits Python's int() reads but a sender's header cannot mean.
        "t=\uff11\uff17\uff16\uff14\uff17\uff12\uff10\uff10\uff10\uff10,v1=" + EXPECTED,
        f"t={AT},v1={EXPECTED.upper()}",
        f"t={AT},v1={EXPECTED[:-1]}",
        f"t={AT},v1={EXPECTED}0",
        f"t={AT},v1={EXPECTED[:-1]}g",
        f"t={AT},v1={'X' * 64}",
        f"t={AT};v1={EXPECTED}",
        f"t {AT},v1 {EXPECTED}",
    ],
)
def test_a_malformed_header_is_refused(header: str) -> None:
    assert refusal(header) == ("invalid_signature", MALFORMED)
