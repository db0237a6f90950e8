"""Audio helpers: WAV headers, codecs, playback, devices."""
