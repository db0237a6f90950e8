"""The known Lightning v3.1 voice catalog, as get_voices returns it.

The local server serves this; the CLI only ever reads the catalog from the server.
"""

from __future__ import annotations

from typing import Any

#: Voices that send word_timestamp frames when asked.
WORD_TIMESTAMP_VOICES = frozenset({"meher", "devansh", "kartik", "maithili", "liam", "avery"})

# (languages, accent, female ids, male ids)
_TABLE: list[tuple[list[str], str, list[str], list[str]]] = [
    (["english"], "american", ["quinn", "mia", "olivia", "rachel", "nicole", "elizabeth", "avery"],
     ["magnus", "daniel"]),
    (["english"], "british", [], ["liam"]),
    (["hindi", "english"], "indian", ["maithili", "sameera", "sakshi", "srishti", "meher"],
     ["neel", "devansh", "mihir", "aarush", "vivaan", "kartik"]),
    (["spanish"], "", ["daniella", "camilla", "alba", "nerea"], ["marcos", "david", "miguel"]),
    (["tamil"], "indian", ["rajeshwari"], ["jeevan"]),
    (["malayalam"], "indian", ["shibi"], ["vaisakh"]),
    (["telugu"], "indian", ["padmaja"], ["srihari"]),
    (["marathi"], "indian", ["rupali"], ["nilesh"]),
    (["gujarati"], "indian", ["niharika"], ["dhruvit"]),
    (["kannada"], "indian", ["deepashri"], ["pranav"]),
]

_AGES = ("young", "middle aged", "senior")
_USECASES = (["conversational"], ["narration"], ["conversational", "narration"])

#: ISO 639-1 codes for the catalog's language tags.
LANGUAGE_CODES = {
    "english": "en", "hindi": "hi", "spanish": "es", "tamil": "ta", "malayalam": "ml",
    "telugu": "te", "marathi": "mr", "gujarati": "gu", "kannada": "kn",
}


def catalog() -> list[dict[str, Any]]:
    """A fresh copy of the catalog: `[{"voiceId", "displayName", "tags": {...}}, ...]`."""
    voices: list[dict[str, Any]] = []
    n = 0
    for languages, accent, female, male in _TABLE:
        for gender, ids in (("female", female), ("male", male)):
            for voice_id in ids:
                tags: dict[str, Any] = {
                    "language": list(languages),
                    "gender": gender,
                    "age": _AGES[n % 3],
                    "emotions": [],
                    "usecases": list(_USECASES[n % 3]),
                }
                if accent:
                    tags["accent"] = accent
                voices.append({"voiceId": voice_id, "displayName": voice_id.capitalize(), "tags": tags})
                n += 1
    return voices


def voice_ids() -> frozenset[str]:
    return frozenset(v["voiceId"] for v in catalog())
