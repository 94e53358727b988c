"""The Sandbox spec, validated up front and turned into spawn steps (plan.py)."""
