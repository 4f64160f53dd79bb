"""``NativeExecutor``: the built-in loop (``shared.loop.run_native``) behind the executor interface."""

from __future__ import annotations

from shared.loop import LoopDeps, LoopRequest, LoopResult, run_native


class NativeExecutor:
    """Runs ``type: native`` agents in the runner process; always available."""

    name = "native"

    def unavailable(self) -> str | None:
        return None

    async def run(self, request: LoopRequest, deps: LoopDeps) -> LoopResult:
        return await run_native(request, deps)
