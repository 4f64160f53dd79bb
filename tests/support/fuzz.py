"""Hostile HTTP requests for property-based fuzzing of the targets (``tests/security``).

A ``Case`` is one request and what the strategy that built it knows about it: ``VALID``
(built from a real event with a real credential and nothing broken: it must be served and
publish exactly what it should), ``INVALID`` (at least one thing broken that the target
must refuse: a 4xx and nothing published) or ``MAYBE`` (noise the target may accept or
refuse, e.g. a unicode or 8 KiB attribute: either way, never a 5xx, and publishing only
when it answered 2xx). ``cases`` builds them around a target's valid events; ``FUZZ``
are the settings every fuzz test runs with (10,000 cases, derandomized, no database).
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import hmac
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from cloudevents.http import CloudEvent
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from shared.events import to_http
from shared.signing import SIGNATURE_HEADER, signature

FUZZ_EXAMPLES = 10_000
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
"""10,000 cases per target, the same ones on every run (CI is reproducible), nothing kept between runs."""


class Kind(enum.Enum):
    VALID = "valid"
    INVALID = "invalid"
    MAYBE = "maybe"


@dataclass(frozen=True, kw_only=True)
class Case:
    """One request, and what its strategy knows about it (``why``: what was broken, for a failure's message)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    kind: Kind
    event: CloudEvent | None = None
    why: tuple[str, ...] = field(default_factory=tuple)

    def __repr__(self) -> str:
        head = f"Case({self.kind.value} {self.method} {self.path!r} why={self.why}"
        return f"{head} headers={self.headers!r} body={self.body[:300]!r})"


# Header text as a real server hands it on: no control characters, latin-1 (unicode arrives as its UTF-8 bytes).
_printable = st.characters(min_codepoint=0x20, max_codepoint=0x10FFFF, exclude_categories=("Cs", "Cc"))


def as_header(text: str) -> str:
    """``text`` as a WSGI header value: its UTF-8 bytes read as latin-1, stripped (servers strip)."""
    return text.encode("utf-8").decode("latin-1").strip()


header_text = st.text(_printable, max_size=40).map(as_header)
huge_text = st.integers(1024, 8 * 1024).map(lambda n: "x" * n)
garbage_text = st.one_of(header_text, huge_text, st.sampled_from(["", " ", "null", "{}", "1.0 ", "\t", "é", "💥"]))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
CONTENT_TYPES = [
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents+json; charset=utf-8",
    "application/cloudevents-batch+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "garbage",
    "application/json; charset=klingon",
    "",
]
_not_events = st.one_of(st.binary(max_size=64), json_values.filter(lambda v: not isinstance(v, dict)).map(orjson.dumps))
_raw_bodies = st.one_of(st.binary(max_size=256), json_values.map(orjson.dumps), st.just(b""))
METHODS = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
noise_headers = st.dictionaries(
    st.sampled_from(["X-Request-Id", "X-Forwarded-For", "User-Agent", "Accept", "X-Operator", "Accept-Encoding"]),
    header_text,
    max_size=2,
)


@dataclass(frozen=True)
class Credential:
    """How a target authenticates a push: a bearer token, an HMAC secret of the body, both, or neither."""

    token: str = ""
    secret: str = ""

    def good(self, body: bytes) -> dict[str, str]:
        if self.secret:
            return {SIGNATURE_HEADER: signature(self.secret, body)}
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        return {}

    @property
    def required(self) -> bool:
        return bool(self.token or self.secret)


def bad_credentials(credential: Credential, body: bytes) -> st.SearchStrategy[tuple[str, dict[str, str]]]:
    """Credentials that must be refused: missing, another token, a signature over another body, truncated..."""
    good_sig = signature(credential.secret or "s", body)
    sha1 = "sha1=" + hmac.new((credential.secret or "s").encode(), body, hashlib.sha1).hexdigest()
    options: list[tuple[str, dict[str, str]]] = [
        ("no credential", {}),
        ("wrong token", {"Authorization": "Bearer not-the-token"}),
        ("basic scheme", {"Authorization": f"Basic {credential.token or 'x'}"}),
        ("empty bearer", {"Authorization": "Bearer "}),
        ("signature over another body", {SIGNATURE_HEADER: signature(credential.secret or "s", body + b" ")}),
        ("truncated signature", {SIGNATURE_HEADER: good_sig[:-6]}),
        ("wrong algorithm prefix", {SIGNATURE_HEADER: good_sig.replace("sha256=", "sha512=")}),
        ("sha1 signature", {SIGNATURE_HEADER: sha1}),
        ("signature under another secret", {SIGNATURE_HEADER: signature("guess", body)}),
        ("bare hex signature", {SIGNATURE_HEADER: good_sig.removeprefix("sha256=")}),
    ]
    if credential.token:
        options.append(("token with a suffix", {"Authorization": f"Bearer {credential.token}x"}))
        options.append(("token as a signature", {SIGNATURE_HEADER: credential.token}))
    return st.sampled_from(options).flatmap(
        lambda o: (
            garbage_text.map(lambda g: ("garbage bearer", {"Authorization": f"Bearer {g}"}))
            if o[0] == "wrong token"
            else st.just(o)
        )
    )


@st.composite
def good_credential(draw: st.DrawFn, credential: Credential, body: bytes) -> dict[str, str]:
    if credential.secret and credential.token and draw(st.booleans()):
        return {"Authorization": f"Bearer {credential.token}"}
    if credential.secret:
        return {SIGNATURE_HEADER: signature(credential.secret, body)}
    return credential.good(body)


Breaker = Callable[[dict[str, str], bytes, bool], st.SearchStrategy[tuple[dict[str, str], bytes]]]


def _without(headers: Mapping[str, str], *names: str) -> dict[str, str]:
    gone = {n.lower() for n in names}
    return {k: v for k, v in headers.items() if k.lower() not in gone}


def _set(headers: Mapping[str, str], name: str, value: str) -> dict[str, str]:
    return {**_without(headers, name), name: value}


def _with_attribute(
    headers: dict[str, str], body: bytes, binary: bool, name: str, value: str
) -> tuple[dict[str, str], bytes]:
    """The event with attribute ``name`` set to ``value``: a ``ce-`` header, or a member of the structured JSON."""
    if binary:
        return _set(headers, f"ce-{name}", value), body
    doc = _structured(body)
    doc[name] = value
    return headers, orjson.dumps(doc)


def _structured(body: bytes) -> dict[str, Any]:
    """The structured event's JSON; an empty one when an earlier mutation left no JSON object."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def event_breakers(invalid_data: st.SearchStrategy[Any]) -> dict[str, Breaker]:  # noqa: C901 (a closure per way)
    """Ways to break a valid event (headers, body, binary?) that every target must refuse with a 4xx."""

    def drop(headers: dict[str, str], body: bytes, binary: bool) -> st.SearchStrategy[tuple[dict[str, str], bytes]]:
        def apply(name: str) -> tuple[dict[str, str], bytes]:
            if binary:
                return _without(headers, f"ce-{name}"), body
            doc = _structured(body)
            doc.pop(name, None)
            return headers, orjson.dumps(doc)

        return st.sampled_from(["id", "source", "type", "specversion"]).map(apply)

    def bad_attr(headers: dict[str, str], body: bytes, binary: bool) -> st.SearchStrategy[tuple[dict[str, str], bytes]]:
        def apply(args: tuple[str, str]) -> tuple[dict[str, str], bytes]:
            return _with_attribute(headers, body, binary, *args)

        bad_versions = st.sampled_from(["0.3", "2.0", "1", "1.0.0", "v1.0", "1.O"]).map(lambda v: ("specversion", v))
        bad_times = st.sampled_from(["yesterday", "2026-13-45T99:00:00Z", "0"]).map(lambda v: ("time", v))
        return st.one_of(bad_versions, bad_times).map(apply)

    def bad_data(headers: dict[str, str], body: bytes, binary: bool) -> st.SearchStrategy[tuple[dict[str, str], bytes]]:
        def apply(data: Any) -> tuple[dict[str, str], bytes]:
            if binary:
                return _set(headers, "content-type", "application/json"), orjson.dumps(data)
            doc = _structured(body)
            doc["data"] = data
            doc.pop("data_base64", None)
            return headers, orjson.dumps(doc)

        return invalid_data.map(apply)

    def garbage_body(
        headers: dict[str, str], body: bytes, binary: bool
    ) -> st.SearchStrategy[tuple[dict[str, str], bytes]]:
        if binary:
            garbage = st.sampled_from([b"{", b"\xff\xfe", b"[1,", b'{"a": }', b"nul"])
            return garbage.map(lambda g: (_set(headers, "content-type", "application/json"), g))
        cut = st.integers(0, max(0, len(body) - 1)).map(lambda n: (headers, body[:n]))
        return st.one_of(cut, _not_events.map(lambda b: (headers, b)))

    def batch(headers: dict[str, str], body: bytes, binary: bool) -> st.SearchStrategy[tuple[dict[str, str], bytes]]:
        if binary:
            return st.just((_without(headers, "ce-specversion", "content-type") | {"content-type": "text/plain"}, body))
        return st.just((_set(headers, "content-type", "application/cloudevents-batch+json"), b"[" + body + b"]"))

    return {
        "missing attribute": drop,
        "bad attribute": bad_attr,
        "invalid data": bad_data,
        "garbage body": garbage_body,
        "batch or no mode": batch,
    }


def maybe_noise(headers: dict[str, str], body: bytes, binary: bool) -> st.SearchStrategy[tuple[dict[str, str], bytes]]:
    """Changes a target may take or refuse: unicode or huge ids and sources, extension attributes."""
    names = st.sampled_from(["subject", "dataschema", "traceparent", "xext", "Weird_Name", "a" * 30])

    def apply(args: tuple[str, str]) -> tuple[dict[str, str], bytes]:
        return _with_attribute(headers, body, binary, *args)

    return st.tuples(names, garbage_text).map(apply)


def cases(
    events: st.SearchStrategy[CloudEvent],
    *,
    credential: Credential,
    invalid_data: st.SearchStrategy[Any],
    paths: Sequence[str] = ("/",),
) -> st.SearchStrategy[Case]:
    """Requests around one of ``events``: valid, broken in one or more ways, or noisy (see ``Kind``)."""
    breakers = event_breakers(invalid_data)
    mutations = st.lists(st.sampled_from([*breakers, "noise"]), max_size=2, unique=True)
    other_paths = st.sampled_from([p for p in paths if p != "/"] or ["/nope"]) | random_paths
    return _cases(events, credential, breakers, mutations, other_paths)


@st.composite
def _cases(
    draw: st.DrawFn,
    events: st.SearchStrategy[CloudEvent],
    credential: Credential,
    breakers: dict[str, Breaker],
    mutations: st.SearchStrategy[list[str]],
    other_paths: st.SearchStrategy[str],
) -> Case:
    event = draw(events)
    binary = draw(st.booleans())
    headers, body = to_http(event, binary=binary)
    why: list[str] = []
    kind = Kind.VALID
    for name in draw(mutations):
        if name == "noise":
            headers, body = draw(maybe_noise(headers, body, binary))
            kind = Kind.MAYBE if kind is Kind.VALID else kind
        else:
            headers, body = draw(breakers[name](headers, body, binary))
            kind = Kind.INVALID
        why.append(name)
    if credential.required and draw(st.integers(0, 3)) == 0:
        reason, auth = draw(bad_credentials(credential, body))
        why.append(reason)
        kind = Kind.INVALID
    else:
        auth = draw(good_credential(credential, body))
    method, path = "POST", "/"
    if draw(st.integers(0, 7)) == 0:
        method = draw(st.sampled_from(METHODS))
        why.append(f"method {method}")
        kind = Kind.INVALID
    elif draw(st.integers(0, 7)) == 0:
        # The framework's CloudEvent route is a POST catch-all: another path may still be served.
        path = draw(other_paths)
        why.append(f"path {path}")
        kind = Kind.MAYBE if kind is Kind.VALID else kind
    headers = {**headers, **auth, **draw(noise_headers)}
    return Case(method=method, path=path, headers=headers, body=body, kind=kind, event=event, why=tuple(why))


random_paths = st.one_of(
    st.sampled_from(["/..", "/../../etc/passwd", "/a//b", "/%00", "/%ff", "/healthz/..", "/a" * 200, "/é/💥", "/?x=1"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#?%"), max_size=30).map(
        lambda t: "/" + t.lstrip("/")  # a leading "//" is an authority to a client, not a path
    ),
)


_CE_NAMES = st.lists(
    st.sampled_from(["ce-id", "ce-source", "ce-type", "ce-specversion", "ce-time"]), max_size=5, unique=True
)
_CONTENT_TYPE = st.sampled_from(CONTENT_TYPES) | header_text
_AUTHORIZATION = st.sampled_from(["Bearer ", "Bearer x", "Basic x", "bearer"]) | garbage_text


def raw_requests(paths: Sequence[str]) -> st.SearchStrategy[Case]:
    """Requests from nothing: any method, a known or random path, random headers and body (never valid)."""
    return _raw(st.sampled_from(["POST", "POST", *METHODS]), st.sampled_from(list(paths)) | random_paths)


@st.composite
def _raw(draw: st.DrawFn, methods: st.SearchStrategy[str], paths: st.SearchStrategy[str]) -> Case:
    method, path = draw(methods), draw(paths)
    headers = draw(noise_headers)
    for name in draw(_CE_NAMES):
        headers[name] = draw(garbage_text)
    if draw(st.booleans()):
        headers["content-type"] = draw(_CONTENT_TYPE)
    if draw(st.booleans()):
        headers["Authorization"] = draw(_AUTHORIZATION)
    body = draw(_raw_bodies)
    return Case(method=method, path=path, headers=headers, body=body, kind=Kind.INVALID, why=("raw",))


def check_answer(case: Case, status: int, published: int, *, may_publish: bool = True) -> None:
    """The properties every target keeps: never a 5xx; a broken case refused (4xx) and publishing nothing.

    ``published``: how many entries the request added to the watched streams. A ``VALID``
    case must be served (2xx); ``MAYBE`` may go either way; only a 2xx may publish, and
    only ``may_publish`` targets at all.
    """
    assert status < 500, f"{status} for {case!r}"
    assert 200 <= status < 300 or 400 <= status < 500, f"{status} for {case!r}"
    if case.kind is Kind.VALID:
        assert 200 <= status < 300, f"a valid case was refused with {status}: {case!r}"
    if case.kind is Kind.INVALID and case.method == "POST" and case.path == "/":
        assert 400 <= status < 500, f"a broken case was served with {status}: {case!r}"
    if not (200 <= status < 300 and case.kind is not Kind.INVALID and may_publish):
        assert published == 0, f"{published} entries published by {case!r} ({status})"


class Watched:
    """The streams a fuzz run watches, read with a sync client from the fuzzing thread (one round trip)."""

    def __init__(self, redis_url: str, streams: Sequence[str]) -> None:
        import redis as sync_redis

        self._redis = sync_redis.Redis.from_url(redis_url)
        self.streams = list(streams)

    def total(self) -> int:
        pipe = self._redis.pipeline(transaction=False)
        for stream in self.streams:
            pipe.xlen(stream)
        return sum(int(n) for n in pipe.execute())

    def length(self, stream: str) -> int:
        return int(self._redis.xlen(stream))

    def last(self, stream: str) -> dict[bytes, bytes]:
        entries: Any = self._redis.xrevrange(stream, count=1)
        [(_id, fields)] = entries
        return {bytes(k): bytes(v) for k, v in fields.items()}

    def close(self) -> None:
        self._redis.close()


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Errors only while 10,000 cases run (each refused push logs a line); everything after.

    A processor that drops the rest goes in front of the session's processors, in place:
    the loggers ``configure_logging`` cached on first use share that list (as
    ``structlog.testing.capture_logs`` relies on), where configuring anew would leave
    them, or those first used meanwhile, on another configuration for the rest of the
    session (later tests that read the logs saw nothing).
    """
    processors = structlog.get_config()["processors"]
    processors.insert(0, _errors_only)
    try:
        yield
    finally:
        processors.remove(_errors_only)


def _errors_only(_: object, method: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    if method not in ("error", "critical", "exception"):
        raise structlog.DropEvent
    return event
