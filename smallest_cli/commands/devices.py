"""`smallest devices`: the audio output devices playback can use."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import typer

from smallest_cli.commands.common import with_options
from smallest_cli.errors import eprint, guarded
from smallest_cli.options.parse import Args

if TYPE_CHECKING:
    from smallest_cli.output.devices import DeviceInfo

HELP = """List the audio output devices that playback can use (PortAudio).

Pick one for playback with --device INDEX or --device NAME-PART; the default is marked *.
With none, --json prints [] and the table a note on stderr (exit 0).

Examples:

  smallest devices

  smallest devices --json | jq '.[] | select(.is_default) | .name'
"""


def _plain(devices: list[DeviceInfo]) -> str:
    width = max(len(d.name) for d in devices)
    lines = [f"  {'#':>3}  {'NAME':<{width}}  CHANNELS  DEFAULT RATE"]
    for d in devices:
        mark = "*" if d.is_default else " "
        rate = f"{d.default_samplerate:>9.0f} Hz"
        lines.append(f"{mark} {d.index:>3}  {d.name:<{width}}  {d.channels:>8}  {rate}")
    return "\n".join(lines)


def _rich_table(devices: list[DeviceInfo]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Audio output devices (* default)")
    table.add_column("", no_wrap=True)
    table.add_column("#", justify="right")
    table.add_column("name")
    table.add_column("channels", justify="right")
    table.add_column("default rate", justify="right")
    table.add_column("host API")
    for d in devices:
        table.add_row(
            "*" if d.is_default else "",
            str(d.index),
            d.name,
            str(d.channels),
            f"{d.default_samplerate:.0f} Hz",
            d.hostapi,
        )
    Console().print(table)


#: What the listing says on stderr when there is nothing to list (stdout stays empty for scripts).
NONE_FOUND = "0 audio output devices: PortAudio found none (playback needs one; -o FILE saves the audio)"


def show_devices(as_json: bool) -> None:
    from smallest_cli.output.devices import list_output_devices

    # No device is an answer, not a usage error: `--json | jq` gets an empty array (only playing
    # without a device is an error).
    devices = list_output_devices()
    if as_json:
        sys.stdout.write(json.dumps([d.to_dict() for d in devices], indent=2) + "\n")
    elif not devices:
        eprint(NONE_FOUND)
    elif sys.stdout.isatty():
        _rich_table(devices)
    else:
        sys.stdout.write(_plain(devices) + "\n")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("devices", help=HELP, short_help=HELP.split("\n", 1)[0])(with_options("devices", _devices))


def _devices(args: Args) -> None:
    with guarded():
        show_devices(args.json_output)
