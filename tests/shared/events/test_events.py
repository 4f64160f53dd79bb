"""Events: deterministic ids, strict validation, HTTP in both modes, the Redis binding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from cloudevents.conversion import to_json
from cloudevents.http import CloudEvent
from cloudevents.http import from_json as sdk_from_json

from shared import events as ev
from shared.errors import InvalidEvent, PermanentError

NOW = datetime(2026, 11, 24, 12, 30, 15, 123456, tzinfo=UTC)


def request(**overrides: object) -> CloudEvent:
    kwargs: dict[str, object] = {
        "agent_id": "3f1c",
        "agent_name": "claude-coder-1",
        "kind": ev.ActivationKind.INBOX,
        "requested_at": NOW,
        "notification_ids": ["n2", "n1"],
    }
    kwargs.update(overrides)
    return ev.activation_requested(**kwargs)  # type: ignore[arg-type]


class TestIds:
    def test_same_work_gets_the_same_id_whenever_and_however_it_is_asked(self) -> None:
        a = request()
        b = request(requested_at=NOW + timedelta(minutes=3), notification_ids=["n1", "n2", "n1"], reason="again")
        assert a["id"] == b["id"]

    def test_different_work_gets_a_different_id(self) -> None:
        assert request()["id"] != request(notification_ids=["n1"])["id"]
        assert request()["id"] != request(agent_id="other")["id"]

    def test_discovery_is_named_by_its_window(self) -> None:
        window = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
        first = request(kind=ev.ActivationKind.DISCOVERY, notification_ids=[], window_start=window)
        again = request(kind=ev.ActivationKind.DISCOVERY, notification_ids=[], window_start=window, requested_at=NOW)
        later = request(kind=ev.ActivationKind.DISCOVERY, notification_ids=[], window_start=window + timedelta(hours=1))
        assert first["id"] == again["id"] != later["id"]

    def test_an_activation_without_its_work_is_refused(self) -> None:
        with pytest.raises(ValueError, match="notification id"):
            request(notification_ids=[])
        with pytest.raises(ValueError, match="window_start"):
            request(kind=ev.ActivationKind.DISCOVERY, notification_ids=[])

    def test_each_attempt_reports_its_own_completion(self) -> None:
        def done(attempt: int) -> CloudEvent:
            return ev.activation_completed(
                activation_id="a1", agent_id="x", attempt=attempt, outcome="replied", duration_ms=5, finished_at=NOW
            )

        assert done(1)["id"] == done(1)["id"] != done(2)["id"]

    def test_times_must_be_timezone_aware(self) -> None:
        with pytest.raises(ValueError, match="timezone"):
            request(requested_at=datetime(2026, 1, 1))


class TestValidation:
    @pytest.mark.parametrize(
        ("mutate", "field", "problem"),
        [
            (lambda d: d.pop("source"), "source", "required attribute is missing"),
            (lambda d: d.update(id=""), "id", "must be a non-empty string"),
            (lambda d: d.update(type=7), "type", "must be a non-empty string"),
            (lambda d: d.update(specversion="0.3"), "specversion", "must be '1.0'"),
            (lambda d: d.update(time="yesterday"), "time", "not an RFC 3339 timestamp"),
            (lambda d: d.update(subject=["a"]), "subject", "must be a string"),
            (lambda d: d.update({"trace-parent": "x"}), "trace-parent", "lower-case a-z and 0-9"),
            (lambda d: d.update(tenant={"a": 1}), "tenant", "strings, integers or booleans"),
            (lambda d: d.update(data_base64="AAAA"), "data_base64", "not both"),
        ],
    )
    def test_invalid_attributes_are_named(self, mutate, field: str, problem: str) -> None:  # type: ignore[no-untyped-def]
        body = orjson.loads(ev.encode_structured(request()))
        mutate(body)
        with pytest.raises(InvalidEvent) as info:
            ev.decode_structured(orjson.dumps(body))
        assert info.value.field == field
        assert problem in info.value.problem
        assert isinstance(info.value, PermanentError), "invalid events are dead-lettered, not retried"

    def test_broken_json_says_where(self) -> None:
        with pytest.raises(InvalidEvent, match=r"event: not valid JSON .* at position"):
            ev.decode_structured(b'{"id": ')

    def test_data_errors_name_the_field_path(self) -> None:
        event = request()
        event.data = {**event.get_data(), "kind": "daydream"}
        with pytest.raises(InvalidEvent) as info:
            ev.parse_data(event, ev.ActivationRequested)
        assert info.value.field == "data.kind"

        event.data = {k: v for k, v in request().get_data().items() if k != "agent_id"}
        with pytest.raises(InvalidEvent, match=r"data\.agent_id: Field required"):
            ev.data_of(event)

    def test_our_own_event_data_rejects_unknown_fields(self) -> None:
        event = request()
        event.data = {**event.get_data(), "surprise": 1}
        with pytest.raises(InvalidEvent, match=r"data\.surprise"):
            ev.data_of(event)

    def test_unknown_type_is_named(self) -> None:
        event = CloudEvent({"type": "com.example.other", "source": "/x"}, {})
        with pytest.raises(InvalidEvent, match=r"unknown event type 'com\.example\.other'"):
            ev.data_of(event)

    def test_pushed_notifications_are_lenient_but_must_name_something(self) -> None:
        pushed = ev.notification_created(at=NOW, agent_id="a1", notification={"id": "n9", "type": "mention", "x": 1})
        data = ev.data_of(pushed)
        assert isinstance(data, ev.NotificationCreatedData)
        assert data.model_extra == {"x": 1}
        assert pushed["id"] == ev.notification_created(at=NOW + timedelta(hours=1), notification={"id": "n9"})["id"]
        with pytest.raises(InvalidEvent, match="needs agent_id or a notification id"):
            ev.notification_created(at=NOW, notification={"type": "mention"})


class TestHttp:
    @pytest.mark.parametrize("binary", [False, True])
    def test_round_trip_in_both_modes(self, binary: bool) -> None:
        event = request(traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        headers, body = ev.to_http(event, binary=binary)
        assert ("ce-id" in headers) is binary
        back = ev.from_http(headers, body)
        assert back == event
        assert back["traceparent"] == event["traceparent"]

    def test_a_binary_event_without_data_has_an_empty_body(self) -> None:
        bare = CloudEvent({"type": ev.PING, "source": "curl", "id": "p1", "specversion": "1.0"}, None)
        headers, body = ev.to_http(bare, binary=True)
        assert body == b"" and headers["ce-type"] == ev.PING

    def test_curl_style_structured_request(self) -> None:
        body = b'{"specversion":"1.0","id":"x1","source":"curl","type":"com.botburrow.hub.notification.created",'
        body += b'"subject":"a1","data":{"agent_id":"a1"}}'
        event = ev.from_http({"Content-Type": "application/cloudevents+json; charset=utf-8"}, body)
        assert event["subject"] == "a1"
        assert event.get_data() == {"agent_id": "a1"}

    def test_binary_mode_missing_attribute_is_named(self) -> None:
        headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-type": "t", "content-type": "application/json"}
        with pytest.raises(InvalidEvent) as info:
            ev.from_http(headers, b"{}")
        assert info.value.field == "source"
        assert "no ce-source header" in info.value.problem

    def test_a_plain_json_post_is_neither_mode(self) -> None:
        with pytest.raises(InvalidEvent, match="no ce-specversion header"):
            ev.from_http({"content-type": "text/plain"}, b"hello")

    def test_batches_are_refused_with_a_reason(self) -> None:
        with pytest.raises(InvalidEvent, match="batched mode is not accepted"):
            ev.from_http({"content-type": "application/cloudevents-batch+json"}, b"[]")


class TestRedisBinding:
    def test_fields_hold_structured_json_plus_copies_for_redis_cli(self) -> None:
        event = request()
        fields = ev.to_fields(event)
        assert fields[b"type"] == ev.ACTIVATION_REQUESTED.encode()
        assert fields[b"subject"] == b"3f1c"
        assert ev.from_fields(fields) == event

    def test_our_json_and_the_sdks_read_each_other(self) -> None:
        event = request()
        assert sdk_from_json(ev.encode_structured(event)) == event
        assert ev.decode_structured(to_json(event)) == event

    def test_binary_data_travels_as_base64(self) -> None:
        event = CloudEvent({"type": "t", "source": "/s", "datacontenttype": "application/octet-stream"}, b"\x00\xff")
        body = orjson.loads(ev.encode_structured(event))
        assert body["data_base64"] == "AP8="
        assert ev.decode_structured(orjson.dumps(body)).get_data() == b"\x00\xff"

    def test_the_copies_are_not_trusted(self) -> None:
        fields = ev.to_fields(request())
        fields[b"subject"] = b"somebody-else"
        assert ev.from_fields(fields)["subject"] == "3f1c"

    def test_missing_event_field_lists_what_is_there(self) -> None:
        with pytest.raises(InvalidEvent, match=r"no 'event' field \(fields present: subject, type\)"):
            ev.from_fields({b"type": b"t", b"subject": b"s"})
