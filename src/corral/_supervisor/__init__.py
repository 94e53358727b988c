"""The supervisor: keep programs alive (pure model, config, asyncio runtime, Operations)."""
