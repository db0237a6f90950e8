"""Speech engines for the local server. Each turns text into int16 PCM plus exact word timings."""
