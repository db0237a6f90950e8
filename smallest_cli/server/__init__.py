"""`smallest serve`: a protocol-faithful local Waves server (aiohttp) for offline use and tests."""
