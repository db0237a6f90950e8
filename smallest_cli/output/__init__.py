"""Where audio and words go: files, stdout, the player, codecs, devices, captions and the display."""
