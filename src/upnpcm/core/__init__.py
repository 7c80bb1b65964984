"""Sans-I/O protocol core of upnpcm.

Everything here is pure: bytes and values in, values out. Time (``now``) and
randomness are arguments. No module in this package imports asyncio, aiohttp or
socket (ruff's banned-api and ``tests/test_layering.py`` enforce it).
"""
