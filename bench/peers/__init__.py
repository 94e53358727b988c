"""corral side by side with supervisord, circus and PM2, on the same workloads.

Run from the repository root:

    .venv/bin/python -m bench.peers [--quick] [--only WORKLOAD] \
        [--peers corral,supervisord,circus,pm2]

The peers are installed into bench/.peers/ (gitignored) on first use and reused
after. Each workload runs against every variant in one run, interleaved (a shuffled
order per round), with the physical floors measured beside them:

| module | workload |
|---|---|
| `logs` | a C writer floods stdout; time until the log holds it, daemon CPU, lines lost |
| `restart` | a program that exits 1 at once; the gap between consecutive starts |
| `scale` | 200 and 1,000 x `sleep 3600`: all up, RSS, idle CPU, status CLI, stop all |
| `control` | status of 1,000 instances through each daemon's API |

One module per peer adapts it (`corral`, `supervisord`, `circus`, `pm2`); `peer`
holds the seam (`Program`, `Adapter`, `Session`), `procfs` what is read in /proc,
`report` the tables and targets, `install` the scratch directory.
"""
