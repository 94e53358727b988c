"""Linux-only implementations; `_platform/__init__.py` picks them when they apply."""
