"""``dnagpt bench``: models x real tasks x seeds, resumable, with a results table and a report.

:mod:`.config` says what a bench runs, :mod:`.tasks` loads its tasks, :mod:`.models` lists the
models it can run, :mod:`.runner` runs them, and :mod:`.statistics`, :mod:`.tables` and
:mod:`.report` turn the results into ``results.parquet`` and ``report.md``.
"""
