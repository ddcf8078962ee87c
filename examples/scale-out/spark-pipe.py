#!/usr/bin/env python3
# ON PAPER: Spark cannot be installed on the machine bx is tested on (no Debian package, no PyPI).
# The contract it relies on is tested: test/e2e/agg.test.ts runs
#   bx-agg --partial --keyed … | sort | bx-agg --merge --keyed --sorted …
# which is what this job does with RDD partitions for the pipe and Spark's shuffle for the sort.
#
# RDD.pipe() forks one command per partition, feeds it the partition's elements as lines and
# turns its output lines into the new partition; so every bx stage runs unchanged.
#   spark-submit examples/scale-out/spark-pipe.py 'hdfs:///data/sales/2026-11/*.ndjson' \
#       "--type Sales:decimal" "--by Region,Category --agg revenue=sum:Sales,p90:Sales" > result.ndjson
# Input: NDJSON, one record per line (bx-extract CSV, XML, Parquet … before uploading). Every
# executor needs bx on its PATH.
import shlex
import subprocess
import sys

from pyspark import SparkContext

src, clean, agg = sys.argv[1], sys.argv[2], sys.argv[3]
sc = SparkContext(appName=f'bx-agg {agg}')
records = sc.textFile(src)

# map: KEY<TAB>STATE lines, KEY the group key as canonical JSON
mapper = f'bx-agg -q --partial --keyed {agg}'
if clean:
    mapper = f'bx-clean -q {clean} | {mapper}'
partials = records.pipe(f"bash -o pipefail -c {shlex.quote(mapper)}")

# shuffle: all states of one key to one partition, sorted within it, as Hadoop's shuffle does;
# then one bx-agg --merge --keyed --sorted per partition (constant memory), still keyed.
pairs = partials.map(lambda line: tuple(line.split('\t', 1)))
shuffled = pairs.repartitionAndSortWithinPartitions(numPartitions=sc.defaultParallelism)
merged = shuffled.map(lambda kv: kv[0] + '\t' + kv[1]).pipe(f'bx-agg -q --merge --keyed --sorted --partial {agg}')

# One state per group is left: bring them to the driver and let bx-agg put them in its own key
# order, which makes the output byte-identical to one process over all the input.
states = '\n'.join(merged.collect()) + '\n'
final = subprocess.run(['bash', '-o', 'pipefail', '-c', f'bx-agg -q --merge --keyed {agg}'], input=states.encode(), stdout=sys.stdout.buffer)
sc.stop()
sys.exit(final.returncode)
