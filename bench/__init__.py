"""`make bench`: the benchmark of issue 10 (see bench/run.py --help).

One run starts its own Temporal dev server (the SQLite file and WAL pragmas `make run` uses), an
SMTP sink, the Confide worker and the intake API as subprocesses, and measures:

- baseline   a minimal workflow with the same business steps (bench/baseline.py)
- api        Confide through the HTTP API at several concurrencies
- sustained  a steady rate of flags for a while
- open       many open cases waiting on their timers: worker memory, database size, a new
             flag's latency
- replay     batch replay of the recorded histories

Results go to bench/results.json (bench/results.py) and bench/results.png.
"""
