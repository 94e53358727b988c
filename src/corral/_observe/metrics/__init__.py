"""Metrics: sampling process trees on a timer, keeping their history, exposing them.

Generic: trees are named by plain string keys and found by root pid; nothing here
knows what an instance or a program is. Callers import the defining module.
"""
