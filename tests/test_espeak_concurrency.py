"""20 syntheses from 20 threads at once each equal their serial result (the engine's lock works)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.helpers import REQUIRE_ESPEAK_ENV, require_module

require_module("numpy", REQUIRE_ESPEAK_ENV)
require_module("soxr", REQUIRE_ESPEAK_ENV)
require_module("espeakng_loader", REQUIRE_ESPEAK_ENV)

from smallest_cli.protocol.voices import catalog  # noqa: E402
from smallest_cli.server.engines.base import Synthesis, VoiceInfo  # noqa: E402
from smallest_cli.server.engines.espeak import EspeakEngine  # noqa: E402
from tests.helpers import varied_requests  # noqa: E402


def requests() -> list[dict]:
    voices = [VoiceInfo(v["voiceId"], v["tags"]["gender"], tuple(v["tags"]["language"])) for v in catalog()]
    return varied_requests(voices, ("auto", None, "en", "auto", "es"), voice_key="voice")


def test_twenty_threads_match_serial_results() -> None:
    engine = EspeakEngine()
    reqs = requests()
    serial: list[Synthesis] = [engine.synthesize(**r) for r in reqs]
    assert len({s.pcm for s in serial}) > 10  # the requests really differ

    barrier = threading.Barrier(len(reqs))

    def run(r: dict) -> Synthesis:
        barrier.wait(timeout=10)
        return engine.synthesize(**r)

    with ThreadPoolExecutor(max_workers=len(reqs)) as pool:
        concurrent = list(pool.map(run, reqs))
    for i, (a, b) in enumerate(zip(serial, concurrent, strict=True)):
        assert b.pcm == a.pcm, f"request {i} differs"
        assert b.words == a.words and b.sample_rate == a.sample_rate


def test_separate_engine_objects_share_one_lock() -> None:
    """Two engines in one process use the same library; concurrent use across them stays correct."""
    first, second = EspeakEngine(), EspeakEngine()
    reqs = requests()[:8]
    serial = [first.synthesize(**r) for r in reqs]
    engines = [first, second] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda pair: pair[0].synthesize(**pair[1]), zip(engines, reqs, strict=True)))
    assert [r.pcm for r in results] == [s.pcm for s in serial]
