"""Before and after a refactor: the hot-path benchmarks of two source trees, interleaved.

`python -m bench.compare --before REV_OR_PATH --after REV_OR_PATH` runs each tree's own
benchmarks (bench.spawn, bench.daemon, bench.peers' log workload) with that tree's
src/ on PYTHONPATH, alternating the trees round by round (before, after, after,
before, ...), and prints per figure both medians, their ratio and whether after is
worse beyond the run's own noise. `trees` checks the trees out, `suites` says what to
run and what to read, `runner` runs one benchmark, `summary` judges and prints.
"""
