"""The known voice catalog of Lightning v3.1 (standard and Pro) and the request languages.

`GET /waves/v1/lightning-v3.1/get_voices` answers with both catalogs in one list, and no voice says
which pool it belongs to: that is only in the model cards. The data here keeps each voice's pool
(`pool_of`) so that a client can pair a voice with its model; `catalog()` is the served list, without
it. The local server serves this; the CLI lists the catalog a server answers with, and uses this
one to spell a catalog voice's id as the catalog does (`canonical_voice_id`).

Pure data and functions: no I/O.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

#: Voices that send word_timestamp frames when asked.
WORD_TIMESTAMP_VOICES = frozenset({"meher", "devansh", "kartik", "maithili", "liam", "avery"})

STANDARD = "standard"
PRO = "pro"

#: Cloned voices (made by the voice-cloning API) are valid `voice_id`s without being in a catalog.
CLONED_VOICE_ID = re.compile(r"voice_[A-Za-z0-9]+")

# One row per language/accent group: (language tags, accent, female ids, male ids).
_Row = tuple[list[str], str, list[str], list[str]]

_STANDARD_TABLE: list[_Row] = [
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
    # The "Top Voices" of lightning-v-3-1.mdx ("use these voice_id values directly"), beyond the above.
    (["english"], "american", ["lauren", "hannah", "vanessa", "brooke", "ilsa", "christine"],
     ["jordan", "robert", "johnny", "lucas", "ronald", "blofeld", "zorin", "felix", "malcolm"]),
    (["english"], "canadian", ["erica"], ["william"]),
    (["english"], "australian", ["chloe"], []),
    (["hindi", "english"], "indian",
     ["sunidhi", "chinmayi", "aanya", "siya", "anuja", "avni", "ishani", "yuvika", "advika", "sana", "maya"],
     ["wasim", "rehan", "parth", "atharv"]),
]

# The Pro catalog, as the Pro model card lists it ("Voice Catalog" section of
# smallest-inc/smallest-ai-documentation,
# fern/products/waves/pages/text-to-speech/model-cards/lightning-v-3-1-pro.mdx).
# The card lists `meher` (also a standard voice: Pro shares the base voices) and `henry` (under
# British and American male) twice; the first listing wins, so each id appears once.
_PRO_TABLE: list[_Row] = [
    (["hindi", "english"], "indian",
     ["rhea", "zariya", "kareena", "mishka", "inaaya", "saira", "meher", "aarini"],
     ["aviraj", "vyom", "zoravar", "reyansh", "ahan"]),
    (["english"], "british", ["sophie", "ellie", "cressida", "ottilie", "elowen", "seraphina"],
     ["sam", "henry", "benedict", "cormac", "rupert", "finley"]),
    (["english"], "american",
     ["kaitlyn", "savannah", "amelia", "zoe", "ruby", "leah", "jenna", "kate", "molly", "sara", "fiona"],
     ["blake", "austin", "henry", "jack", "leo", "luke", "owen"]),
    # Indian languages
    (["marathi"], "indian", ["mrunal", "manasi", "ketaki", "tejaswini"], ["mandar", "tushar"]),
    (["tamil"], "indian", ["malar", "nila", "tamilselvi"],
     ["mathan", "dinesh", "prabhu", "ezhil", "kavin", "tamizh", "barath", "sakthi", "murugan"]),
    (["malayalam"], "indian", ["parvathy", "lakshmi"], ["vishnu", "sreenath", "unni", "aravindan"]),
    (["telugu"], "indian", ["sravani", "swathi"],
     ["naveen", "charan", "sasank", "bhaskar", "gopal", "manohar"]),
    (["kannada"], "indian", ["spoorthi", "rashmi", "varsha", "sahana"],
     ["rakshith", "kishore", "yogesh", "gowtham", "shankar", "basava"]),
    (["punjabi"], "indian", ["jasleen", "manmeet"],
     ["rajdeep", "tejinder", "sukhdeep", "amrit", "gagandeep"]),
    (["bengali"], "indian", [], ["rajib", "tanmoy", "subhro", "arghya", "indranil"]),
    (["odia"], "indian", ["sasmita", "ankita"],
     ["subrat", "debasish", "sambit", "pratik", "rakesh", "smruti"]),
    (["gujarati"], "indian", ["krupa", "riddhi"], ["jignesh", "mit", "keval"]),
    # Asian and Middle Eastern languages
    (["arabic"], "", ["layla"], ["adam"]),
    (["chinese"], "", ["hazel", "vivian"], ["dylan", "silas", "eli"]),
    (["indonesian"], "", ["nora"], ["bryce", "miles", "cole"]),
    (["japanese"], "", ["aria", "mila", "daisy"], ["jasper"]),
    (["korean"], "", ["june"], []),
    (["malay"], "", ["sasha"], ["roman"]),
    (["turkish"], "", [], ["beau", "wes"]),
    (["vietnamese"], "", [], ["kai"]),
    # European languages
    (["german"], "", ["hanna", "lea", "petra"], ["max", "ben", "markus", "finn"]),
    (["spanish"], "", ["martina", "ines", "paula"], ["sebastian", "mateo", "gabriel"]),
    (["french"], "", ["manon", "juliette", "lucie", "elise", "amelie"],
     ["louis", "nicolas", "maxime", "raphael"]),
    (["italian"], "", ["silvia", "concetta", "arianna"], ["davide", "luca", "leonardo"]),
    (["portuguese"], "brazilian", ["juliana", "leticia"], ["gustavo", "thiago", "bruno"]),
    (["portuguese"], "european", ["catarina"], ["francisco"]),
    (["russian"], "", ["anastasia", "ekaterina", "olga", "irina"], ["andrei", "nikolai", "maksim"]),
    (["greek"], "", ["katerina", "dimitra", "athina"], ["dimitris", "vasilis"]),
    (["finnish"], "", ["aino", "helmi", "venla"], ["mika", "timo", "matti"]),
    (["norwegian"], "", ["solveig", "marit"], ["kristian", "espen"]),
    (["polish"], "", ["ewa", "joanna"], ["tomasz", "jakub"]),
]

# The cards give no age or use cases; these rotate so that filters on them have something to find.
_AGES = ("young", "middle aged", "senior")
_USECASES = (["conversational"], ["narration"], ["conversational", "narration"])

#: ISO 639-1 code of each catalog language tag (and of the other languages requests may name).
LANGUAGE_CODES = {
    "english": "en", "hindi": "hi", "spanish": "es", "tamil": "ta", "malayalam": "ml",
    "telugu": "te", "marathi": "mr", "gujarati": "gu", "kannada": "kn", "punjabi": "pa",
    "bengali": "bn", "odia": "or", "arabic": "ar", "chinese": "zh", "indonesian": "id",
    "japanese": "ja", "korean": "ko", "malay": "ms", "turkish": "tr", "vietnamese": "vi",
    "german": "de", "french": "fr", "italian": "it", "portuguese": "pt", "russian": "ru",
    "greek": "el", "finnish": "fi", "norwegian": "no", "polish": "pl", "dutch": "nl",
    "swedish": "sv", "hebrew": "he",
}

#: The `language` values a TTS request may carry: the union of the enums of every published
#: version of the reference (smallest-inc/smallest-ai-documentation,
#: fern/apis/waves/openapi/tts-openapi.yaml `TtsRequest.language`, which some versions give as the
#: 12 codes plus `auto`, others as 22 codes with `he`, others as the Pro card's 31 codes plus `auto`;
#: fern/apis/waves/asyncapi/tts-ws.yaml `ttsRequest.message.language`; and the "Supported Languages"
#: section of the Pro model card). Order: as the newest enum lists them, then `he`.
REQUEST_LANGUAGES: tuple[str, ...] = (
    "auto", "en", "hi", "mr", "kn", "ta", "bn", "gu", "te", "ml", "pa", "or", "es", "de", "fr", "it",
    "nl", "sv", "pt", "ru", "el", "fi", "no", "pl", "ar", "zh", "id", "ja", "ko", "ms", "tr", "vi", "he",
)


class Voice(NamedTuple):
    """One catalog voice, with the pool (model) it belongs to."""

    voice_id: str
    gender: str
    languages: tuple[str, ...]
    accent: str
    age: str
    usecases: tuple[str, ...]
    pool: str

    def served(self) -> dict[str, Any]:
        """The voice as get_voices lists it: `{"voiceId", "displayName", "tags"}` (no pool)."""
        tags: dict[str, Any] = {
            "language": list(self.languages),
            "gender": self.gender,
            "age": self.age,
            "emotions": [],
            "usecases": list(self.usecases),
        }
        if self.accent:
            tags["accent"] = self.accent
        return {"voiceId": self.voice_id, "displayName": self.voice_id.capitalize(), "tags": tags}


def _build() -> dict[str, Voice]:
    voices: dict[str, Voice] = {}
    n = 0
    for pool, table in ((STANDARD, _STANDARD_TABLE), (PRO, _PRO_TABLE)):
        for languages, accent, female, male in table:
            for gender, ids in (("female", female), ("male", male)):
                for voice_id in ids:
                    if voice_id in voices:
                        continue
                    age, usecases = _AGES[n % 3], tuple(_USECASES[n % 3])
                    voices[voice_id] = Voice(voice_id, gender, tuple(languages), accent, age, usecases, pool)
                    n += 1
    return voices


_VOICES: dict[str, Voice] = _build()


def voices() -> tuple[Voice, ...]:
    """Every catalog voice, standard first, each once."""
    return tuple(_VOICES.values())


def catalog() -> list[dict[str, Any]]:
    """A fresh copy of the served catalog: `[{"voiceId", "displayName", "tags": {...}}, ...]`."""
    return [v.served() for v in _VOICES.values()]


def voice_ids() -> frozenset[str]:
    return frozenset(_VOICES)


def find(voice_id: str) -> Voice | None:
    """The catalog voice `voice_id`, or None."""
    return _VOICES.get(voice_id)


#: Catalog ids by their lower-case form (the catalog spells them in lower case; a test pins that).
_BY_LOWER: dict[str, str] = {voice_id.lower(): voice_id for voice_id in _VOICES}


def canonical_voice_id(voice_id: str) -> str:
    """A catalog voice's id as the catalog spells it, whatever the case it is given in; any other id
    (a cloned voice, which the service matches case-sensitively) exactly as given."""
    return _BY_LOWER.get(voice_id.lower(), voice_id)


def pool_of(voice_id: str) -> str | None:
    """`"standard"` or `"pro"` for a catalog voice; None for any other id (a cloned voice too, though
    the reference says clones run on the standard model)."""
    voice = _VOICES.get(voice_id)
    return voice.pool if voice else None


def is_cloned_voice(voice_id: str) -> bool:
    return CLONED_VOICE_ID.fullmatch(voice_id) is not None


#: The pool of voices each model speaks with.
MODEL_POOLS: dict[str, str] = {"lightning_v3.1": STANDARD, "lightning_v3.1_pro": PRO}


def pools_of(voice_id: str) -> frozenset[str]:
    """Every pool whose model card lists `voice_id` (one voice may be in both, as `meher` is); any
    other id (a cloned voice, or one newer than these tables) is a standard voice."""
    pools = {pool for pool, table in ((STANDARD, _STANDARD_TABLE), (PRO, _PRO_TABLE))
             if any(voice_id in female or voice_id in male for _, _, female, male in table)}
    return frozenset(pools or {STANDARD})
