"""Definitions that follow their repository: invalidation across processes, the push webhook, the skill sync.

Three parts, each usable alone::

    versions = DefinitionVersions(redis, prefix="botburrow")      # <prefix>:agents:versions
    store = AgentStore(source, versions=versions)                 # reloads on a bump
    await versions.bump(["nova"])                                 # every process, next load

    answer = answer_webhook(secret, body, headers)                # POST /webhook, signed
    report = await Sync.from_settings(settings, versions=versions).run()   # SYNC_SOURCES → bucket

``answer_webhook`` checks GitHub's ``X-Hub-Signature-256`` and reads a push payload into
an ``Invalidation`` (``_push`` has the rules); the definitions function
(``functions/definitions``) turns it into a ``com.botburrow.definitions.changed`` event
for its handler, which bumps the versions. ``Sync`` copies the ``agents/`` and
``skills/`` of ``SYNC_SOURCES`` (git URLs, ``github:owner/repo``) into the ``R2_*``
bucket, validated with the loader's own parsers, uploading only what changed, deleting
what the sources dropped, and invalidating exactly the agents it touched.
"""

from ._bucket import Bucket
from ._events import DEFINITIONS_CHANGED, definitions_changed, invalidation_of
from ._push import Invalidation, invalidation_for, parse_body
from ._report import Rejected, SyncReport
from ._sync import Sync
from ._versions import ALL, DefinitionVersions, agent_store
from ._webhook import EVENT_HEADER, WebhookAnswer, answer_webhook

__all__ = [
    "ALL",
    "DEFINITIONS_CHANGED",
    "EVENT_HEADER",
    "Bucket",
    "DefinitionVersions",
    "Invalidation",
    "Rejected",
    "Sync",
    "SyncReport",
    "WebhookAnswer",
    "agent_store",
    "answer_webhook",
    "definitions_changed",
    "invalidation_for",
    "invalidation_of",
    "parse_body",
]
