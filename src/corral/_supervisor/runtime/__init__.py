"""The asyncio runtime: carries out the model's actions on real processes."""
