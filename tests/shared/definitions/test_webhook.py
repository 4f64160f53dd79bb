"""The push webhook without HTTP: the signature first, then which agents a push invalidates."""

from __future__ import annotations

import urllib.parse
from typing import Any

import orjson
import pytest

from shared.definitions import Invalidation, answer_webhook, invalidation_for
from shared.errors import InvalidEvent
from shared.settings import Secret
from shared.signing import signature

SECRET = Secret("webhook-secret-never-logged")


def push(*commits: dict[str, list[str]], **extra: Any) -> dict[str, Any]:
    return {"ref": "refs/heads/main", "commits": list(commits), **extra}


def signed(body: bytes, **kwargs: Any) -> Any:
    return answer_webhook(SECRET, body, signature=signature(SECRET.reveal(), body), **kwargs)


def test_paths_under_agents_name_the_agents_and_nothing_else() -> None:
    payload = push(
        {"added": ["agents/nova/config.yaml"], "modified": ["README.md"], "removed": []},
        {"added": [], "modified": ["agents/orion/system-prompt.md", ".github/workflows/ci.yaml"], "removed": []},
        {"removed": ["agents/vega/notes/old.md"]},
    )
    assert invalidation_for(payload) == Invalidation(
        agents=frozenset({"nova", "orion", "vega"}), reason="paths of the pushed commits"
    )
    assert invalidation_for(push({"modified": ["README.md", "schemas/x.json"]})).empty


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (push({"modified": ["agents/nova/config.yaml", "skills/hub-post/SKILL.md"]}), "skill"),
        (push({"modified": ["agents/Not_A_Name/config.yaml"]}), "names no agent"),
        (push({"modified": ["agents/README.md"]}), "names no agent"),
        (push({"modified": "agents/nova/config.yaml"}), "not a list of paths"),
        (push({"modified": [7]}), "not a list of paths"),
        ({"commits": "many"}, "not a list of commits"),
        (push({"modified": ["agents/nova/config.yaml"]}, forced=True), "forced"),
        (push({"modified": ["agents/nova/config.yaml"]}, deleted=True), "deleted"),
        (push(*[{"modified": ["agents/nova/config.yaml"]}] * 2048), "GitHub lists no more"),
        ({"all": True}, "asked for all"),
    ],
)
def test_what_cannot_be_narrowed_down_invalidates_every_agent(payload: dict[str, Any], why: str) -> None:
    invalidation = invalidation_for(payload)
    assert invalidation.everything and why in invalidation.reason


def test_a_body_that_says_nothing_is_refused() -> None:
    with pytest.raises(InvalidEvent, match="commits"):
        invalidation_for({"all": "yes"})


def test_a_signed_push_answers_what_it_invalidated() -> None:
    body = orjson.dumps(push({"modified": ["agents/nova/system-prompt.md"]}))
    answer = signed(body, event="push", content_type="application/json")
    assert answer.status == 200
    assert answer.body == {"event": "push", "all": False, "agents": ["nova"], "reason": "paths of the pushed commits"}
    assert answer.invalidation == Invalidation(agents=frozenset({"nova"}), reason="paths of the pushed commits")


def test_githubs_form_encoding_is_read_too() -> None:
    payload = orjson.dumps(push({"modified": ["agents/nova/config.yaml"]})).decode()
    body = urllib.parse.urlencode({"payload": payload}).encode()
    answer = signed(body, event="push", content_type="application/x-www-form-urlencoded")
    assert answer.status == 200 and answer.body["agents"] == ["nova"]


def test_all_may_be_asked_for_without_a_github_event() -> None:
    answer = signed(b'{"all": true}')
    assert answer.status == 200 and answer.body["event"] == "direct" and answer.body["all"] is True
    assert answer.invalidation is not None and answer.invalidation.everything


@pytest.mark.parametrize(
    ("secret", "header"),
    [
        (SECRET, None),
        (SECRET, "sha1=abc"),
        (SECRET, signature("another-secret", b'{"all": true}')),
        (SECRET, signature(SECRET.reveal(), b'{"all": false}')),  # the signature of another body
        (None, signature("", b'{"all": true}')),  # no secret configured: nothing gets in
    ],
)
def test_a_missing_or_wrong_signature_is_401_and_invalidates_nothing(secret: Secret | None, header: str | None) -> None:
    answer = answer_webhook(secret, b'{"all": true}', signature=header, event="push")
    assert answer.status == 401 and answer.invalidation is None
    assert answer.body["error"] == "unauthorized"
    assert SECRET.reveal() not in orjson.dumps(answer.body).decode()


def test_a_ping_is_200_and_invalidates_nothing() -> None:
    answer = signed(b'{"zen": "Keep it logically awesome.", "hook_id": 1}', event="ping")
    assert answer.status == 200 and answer.body["event"] == "ping" and answer.invalidation is None


def test_other_github_events_are_acknowledged_and_ignored() -> None:
    answer = signed(b'{"action": "published"}', event="release")
    assert answer.status == 200 and answer.body["ignored"] is True and answer.invalidation is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"commits: [agents/nova]", "not JSON"),
        (b"[1, 2]", "expected a JSON object, found list"),
        (b'{"ref": "refs/heads/main"}', "expected a GitHub push payload"),
    ],
)
def test_a_body_that_is_not_a_push_is_400_naming_what_was_wrong(body: bytes, problem: str) -> None:
    answer = signed(body, event="push")
    assert answer.status == 400 and answer.invalidation is None
    assert answer.body["error"] == "invalid_body" and answer.body["field"] == "body"
    assert problem in answer.body["problem"]
