"""Who may push an event to a target: one auth policy per functions-framework target.

The check runs in the serving layer's guard, on the raw body, before the body is parsed
as a CloudEvent: an unauthenticated request is answered 401 with a JSON body and never
reaches the handler, so nothing is queued. ``/healthz``, ``/readyz`` and ``/metrics``
stay open. Each ``functions/<name>`` target names its policy (``start_target(auth=…)``):

================  ==========================================================  ======================
policy            a push must carry                                           target
================  ==========================================================  ======================
``hub_webhook``   ``X-Hub-Signature-256`` of the body under                   ingest
                  ``HUB_WEBHOOK_SECRET`` (the Hub), or
                  ``Authorization: Bearer <INGEST_TOKEN>`` (an operator)
``events_token``  ``Authorization: Bearer <EVENTS_TOKEN>``                    runner, metrics
``ticks``         nothing: see below                                          poller
``sync_ticks``    nothing on ``POST /`` (the sync tick); its ``POST /webhook``  definitions
                  checks ``DEFINITIONS_WEBHOOK_SECRET`` itself
================  ==========================================================  ======================

A policy whose credentials are all unset refuses every push (401 naming the setting to
give), never accepts every one.

Why the poller's ticks carry no credential: a PingSource cannot add a header, and the
poller's Service is cluster-local (``networking.knative.dev/visibility``), so nothing
outside the cluster reaches it. What a forged request inside the cluster could do is
bounded: the poller target takes ``dev.knative.sources.ping`` and nothing else (pushed
notifications go to ingest, which authenticates them), a tick holds the fenced poller
lease (a second one is a no-op) and polls a minute at most (the handler caps
``window_s``), and the activations a tick queues are the Hub's own work, with ids
derived from it. At worst, the poller asks the Hub sooner. A NetworkPolicy on the
poller's pods was weighed and left out: every request reaches a Knative pod through the
data plane (the activator in ``knative-serving``, the ingress's namespace), so a policy
can admit those namespaces but cannot tell the PingSource from any other caller inside
the cluster that goes through them; it would add a dependency on the networking layer's
names for no real check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.settings import Secret, Settings
from shared.signing import Verdict, verify_bearer, verify_signature


@dataclass(frozen=True, kw_only=True)
class PushAuth:
    """What a push to one target must carry; ``check`` decides.

    Attributes:
        name: the policy's name, for logs and metrics.
        signature_secret: accept ``X-Hub-Signature-256`` of the body under this secret.
        bearer_token: accept ``Authorization: Bearer`` with this token.
        settings_named: the variables that configure it, for the 401 of an unconfigured one.
        open_because: non-empty: no credential is asked, for this reason.
    """

    name: str
    signature_secret: Secret | None = None
    bearer_token: Secret | None = None
    settings_named: str = ""
    open_because: str = ""

    @property
    def configured(self) -> bool:
        """Whether a push can pass at all (open, or with a credential to compare against)."""
        return bool(self.open_because or self.signature_secret or self.bearer_token)

    def check(self, body: bytes, *, signature: str | None, authorization: str | None) -> Verdict:
        """``OK`` when the request carries a credential this policy accepts.

        ``MISMATCH`` when it carries one of the right form that does not match, else
        ``MISSING`` (also for every request to an unconfigured policy).
        """
        if self.open_because:
            return Verdict.OK
        verdicts: list[Verdict] = []
        if self.signature_secret is not None:
            verdicts.append(verify_signature(self.signature_secret.reveal(), body, signature))
        if self.bearer_token is not None:
            verdicts.append(verify_bearer(self.bearer_token.reveal(), authorization))
        if Verdict.OK in verdicts:
            return Verdict.OK
        return Verdict.MISMATCH if Verdict.MISMATCH in verdicts else Verdict.MISSING

    def wanted(self) -> str:
        """What a request must carry, for the 401 body (names headers, never a value)."""
        ways = []
        if self.signature_secret is not None:
            ways.append("X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>")
        if self.bearer_token is not None:
            ways.append("Authorization: Bearer <token>")
        return " or ".join(ways)


AuthPolicy = Callable[[Settings], PushAuth]
"""A policy: the ``PushAuth`` of a target, from the process's settings."""


def hub_webhook(settings: Settings) -> PushAuth:
    """Ingest: the Hub's signature (``HUB_WEBHOOK_SECRET``) or an operator's bearer token (``INGEST_TOKEN``)."""
    auth = settings.push_auth
    return PushAuth(
        name="hub_webhook",
        signature_secret=auth.hub_webhook_secret,
        bearer_token=auth.ingest_token,
        settings_named="HUB_WEBHOOK_SECRET or INGEST_TOKEN",
    )


def events_token(settings: Settings) -> PushAuth:
    """The runner's and metrics function's HTTP targets: ``Authorization: Bearer <EVENTS_TOKEN>``."""
    return PushAuth(name="events_token", bearer_token=settings.push_auth.events_token, settings_named="EVENTS_TOKEN")


def operator_token(settings: Settings) -> PushAuth:
    """The metrics function's operator routes: ``Authorization: Bearer <OPERATOR_TOKEN>``."""
    return PushAuth(
        name="operator_token", bearer_token=settings.push_auth.operator_token, settings_named="OPERATOR_TOKEN"
    )


def ticks(_settings: Settings) -> PushAuth:
    """The poller: PingSource ticks, which cannot carry a credential (see the module docstring)."""
    return PushAuth(
        name="ticks",
        open_because="PingSource cannot add headers; the poller is cluster-local and takes ticks only",
    )


def sync_ticks(_settings: Settings) -> PushAuth:
    """The definitions function's ``POST /``: its PingSource's sync ticks, which cannot carry a credential.

    The Service is public (a repository's webhook reaches ``/webhook``, which checks its own
    signature), so anyone could send a tick: what it does is bounded. The target takes
    ``dev.knative.sources.ping`` only, and a sync copies the configured ``SYNC_SOURCES``,
    validated, into the bucket, uploading only what changed: a forged tick makes it look
    sooner, never changes what it copies.
    """
    return PushAuth(
        name="sync_ticks",
        open_because="PingSource cannot add headers; POST / only runs the idempotent sync of SYNC_SOURCES",
    )
