"""asyncio adapters (llhttp via httptools for serving): convert, call the core, send."""
