"""How a job runs over inputs of any size: reading files, globs, archives and standard input (sources.py),
splitting a large log into client shards (shards.py) spilled to disk (spill.py), the executors that run
shards in processes or on a cluster (executors.py), and `logscope convert` to a Parquet store (convert.py).
The rules they drive are the same ones: flows/ and detectors/. `logscope watch` is live/."""
