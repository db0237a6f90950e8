"""Audio output devices through PortAudio (sounddevice): availability, listing, choosing.

Every failure is an AudioDeviceError or UsageError with a one-line message, never a traceback.
sounddevice is imported inside the functions (it loads PortAudio and reads the ALSA config).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

from smallest_cli.errors import AudioDeviceError, UsageError

NO_PORTAUDIO = "PortAudio library not found: install it (Debian/Ubuntu: apt-get install libportaudio2)"
NO_DEVICE = "no audio output device found"
#: What to do when the audio cannot be played: fits with and without -o (`-o x.wav --play`).
PLAYBACK_ADVICE = "use --no-play (with -o FILE to save the audio)"


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    name: str
    is_default: bool
    channels: int
    default_samplerate: float
    hostapi: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ensure_portaudio(playing: bool = True) -> ModuleType:
    """The sounddevice module, or AudioDeviceError when the PortAudio library is missing (with
    `PLAYBACK_ADVICE` when `playing`: not for `smallest devices`)."""
    try:
        import sounddevice
    except OSError:
        raise AudioDeviceError(f"{NO_PORTAUDIO}; {PLAYBACK_ADVICE}" if playing else NO_PORTAUDIO) from None
    return sounddevice


def _default_output_index(sd: ModuleType) -> int:
    try:
        dev = sd.default.device
        index = dev[1] if isinstance(dev, (list, tuple)) or hasattr(dev, "__getitem__") else dev
        index = int(index) if index is not None else -1
    except (TypeError, ValueError, IndexError):
        index = -1
    if index < 0:
        try:
            index = int(sd.query_hostapis(0)["default_output_device"])
        except Exception:  # noqa: BLE001 - no host API at all
            index = -1
    return index


def list_output_devices() -> list[DeviceInfo]:
    """Every device with at least one output channel (empty when there is none)."""
    sd = ensure_portaudio(playing=False)
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except Exception as err:  # noqa: BLE001 - PortAudio errors become one line
        raise AudioDeviceError(f"cannot list audio devices: {err}") from None
    default = _default_output_index(sd)
    out: list[DeviceInfo] = []
    for index, dev in enumerate(devices):
        channels = int(dev.get("max_output_channels", 0))
        if channels <= 0:
            continue
        api = dev.get("hostapi", -1)
        api_name = hostapis[api]["name"] if 0 <= api < len(hostapis) else ""
        out.append(
            DeviceInfo(
                index=index,
                name=str(dev.get("name", f"device {index}")),
                is_default=index == default,
                channels=channels,
                default_samplerate=float(dev.get("default_samplerate", 0.0)),
                hostapi=api_name,
            )
        )
    return out


def _choices(devices: list[DeviceInfo]) -> str:
    return "; ".join(f"{d.index}: {d.name}" for d in devices)


def resolve_device(spec: str | None) -> int | None:
    """The PortAudio index for `spec` (an index, or a case-insensitive part of a name).

    None means the default device (None is returned when there is one). Unknown or ambiguous
    specs are UsageErrors listing the choices; no output device at all is an AudioDeviceError.
    """
    devices = list_output_devices()
    if not devices:
        raise AudioDeviceError(f"{NO_DEVICE}; {PLAYBACK_ADVICE}")
    if spec is None or not spec.strip():
        if any(d.is_default for d in devices):
            return None
        return devices[0].index  # PortAudio has no default output: take the first one
    spec = spec.strip()
    if spec.lstrip("-").isdigit():
        index = int(spec)
        if any(d.index == index for d in devices):
            return index
        raise UsageError(f"no audio output device with index {index}; choose one of: {_choices(devices)}")
    needle = spec.casefold()
    exact = [d for d in devices if d.name.casefold() == needle]
    if len(exact) == 1:
        return exact[0].index
    matches = [d for d in devices if needle in d.name.casefold()]
    if len(matches) == 1:
        return matches[0].index
    if not matches:
        raise UsageError(f"no audio output device matches {spec!r}; choose one of: {_choices(devices)}")
    raise UsageError(f"{spec!r} matches several audio output devices: {_choices(matches)}; be more specific")
