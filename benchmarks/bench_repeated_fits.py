"""Memory over many fits in one process, as a hyperparameter search makes them.

Fits a small SparseCEMLPClassifier ``--fits`` times on the same data and prints
the resident set size after warm-up and at the end. Run with
``KERAS_BACKEND=jax`` to measure the JAX backend.
"""

import argparse
import gc
import time

import keras
import numpy as np
import psutil
from sklearn.datasets import make_blobs

from skce import SparseCEMLPClassifier


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fits", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    X, y = make_blobs(n_samples=300, n_features=10, centers=3, random_state=0)
    process = psutil.Process()
    rss = []
    start = time.perf_counter()
    for i in range(args.fits):
        SparseCEMLPClassifier((32,), epochs=5, random_state=i).fit(X, y).predict(X)
        gc.collect()
        rss.append(process.memory_info().rss / 2**20)
    elapsed = time.perf_counter() - start
    after_warmup = rss[args.warmup - 1]
    print(f"backend: {keras.backend.backend()}, fits: {args.fits}, {elapsed:.1f} s")
    print(f"RSS after {args.warmup} fits: {after_warmup:.0f} MiB")
    print(f"RSS after {args.fits} fits: {rss[-1]:.0f} MiB")
    growth = rss[-1] - after_warmup
    per_fit = growth / (args.fits - args.warmup)
    print(f"growth after warm-up: {growth:.0f} MiB ({per_fit * 1024:.0f} KiB per fit)")
    print("RSS every 20 fits (MiB):", np.round(rss[::20]).astype(int).tolist())


if __name__ == "__main__":
    main()
