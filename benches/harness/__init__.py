"""What every benchmark shares, so that each ``bench_*.py`` holds only its comparisons.

- :mod:`harness.machine`: the description of the machine and code written beside each result
- :mod:`harness.memory`: peak and current resident memory, and handing freed heap back
- :mod:`harness.timing`: timing repeated calls within a budget, with their memory peaks
- :mod:`harness.workers`: one measurement in a fresh interpreter, and its result read back
- :mod:`harness.results`: the run's record and the JSON + markdown result files
- :mod:`harness.datasets`: datasets made with the ``seqpack`` command line
"""
