"""asyncio adapters (aiohttp): convert, call the core, send."""
