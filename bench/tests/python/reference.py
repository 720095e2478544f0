"""Reference values for visreg's verdict tests and change points, from scipy and MongoDB's
signal-processing-algorithms. Reads the cases as JSON on stdin, writes the answers as JSON
on stdout; `bench/tests/reference.rs` compares them with visreg's own."""
import json
import sys

import numpy as np
from scipy import stats
from signal_processing_algorithms.energy_statistics import energy_statistics as es

cases = json.load(sys.stdin)
out = {"wilcoxon": [], "mcnemar": [], "q": [], "e_divisive": []}
for c in cases["wilcoxon"]:
    d = np.asarray(c["d"], dtype=float)
    row = {}
    for alt in ("two-sided", "greater", "less"):
        row[alt] = float(stats.wilcoxon(d, alternative=alt, method=c["method"]).pvalue)
    out["wilcoxon"].append(row)
for c in cases["mcnemar"]:
    n = c["lost"] + c["gained"]
    out["mcnemar"].append({
        alt: float(stats.binomtest(c["lost"], n, 0.5, alternative=alt).pvalue)
        for alt in ("two-sided", "greater", "less")
    })
for s in cases["series"]:
    x = np.asarray(s, dtype=float)
    d = es._get_distance_matrix(es._convert(x))
    out["q"].append([float(v) for v in es._calculate_t_stats(d)])
    np.random.seed(0)
    out["e_divisive"].append(sorted(int(i) for i in es.e_divisive(x, pvalue=0.01, permutations=999)))
json.dump(out, sys.stdout)
