"""Scale benchmark of the descriptor index (private; used by the ``vpr`` bench suite).

How fast and how exact is :class:`~omniloc.vpr.DescriptorIndex` on a million global descriptors?
:func:`scale_runs` builds each index kind over a synthetic database and measures the build time,
the median latency of one query at a time, the memory of the index and its recall@1 against exact
search (the fraction of queries whose approximate top-1 is the exact top-1).

The synthetic database (:func:`synthetic_database`) imitates global image descriptors rather than
points uniform on the sphere: L2-normalised draws from a seeded mixture of ``n_clusters``
anisotropic Gaussians (one cluster per about 1000 vectors by default, sizes log-normal, variance
decaying over the dimensions as ``1 / (1 + j)`` in a random rotation, so that most of the energy
lies in a few dozen directions, as in CNN descriptors). Queries (:func:`synthetic_queries`) are
database vectors perturbed by the same anisotropic noise, so each has a true match in the database;
with the defaults the exact top-1 of about 90 % of the queries is the vector they came from, the
rest are near ties, as for a good descriptor on a real place-recognition set.

Threads: faiss gets ``threads`` through the index's own ``threads`` option and numpy's BLAS through
:func:`threadpoolctl.threadpool_limits`, both restored afterwards. Where faiss opens a parallel
region for a single query (exact flat search, the re-ranking of ``refine``) its latency includes
waking the other threads, which on a busy machine can cost a scheduler time slice (milliseconds);
the IVF scans and HNSW run one query on one thread.

Measured (2 threads on a shared 2-core machine, load average 3-5; ``scale_runs()`` with the
defaults, HNSW in a second run): exact flat 296 ms a query, 977 MiB; ``ivfsq8`` (nlist 4000,
nprobe 32) build 125 s, 0.41 ms, 256 MiB, recall@1 0.994; ``ivfpq`` (m 64) build 189 s, 0.56 ms,
73 MiB, recall@1 0.910; ``hnsw`` (M 32, ef_construction 40, ef_search 64) build 236 s, 0.34 ms,
1236 MiB, recall@1 0.826 (0.875 at ef_search 128, 0.53 ms). The exact top-1 was the query's source
vector for 91.2 % of the queries.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import numpy as np

from .._errors import ConfigError

__all__ = [
    "SCALE_FULL",
    "SCALE_QUICK",
    "SCALE_KINDS",
    "KIND_CONFS",
    "descriptor_mixture",
    "synthetic_database",
    "synthetic_queries",
    "exact_top1",
    "scale_runs",
]

#: Sizes of the full benchmark (the issue's target: 1,000,000 x 256) and of ``--quick``.
SCALE_FULL = {"n": 1_000_000, "d": 256, "n_queries": 1000}
SCALE_QUICK = {"n": 20_000, "d": 256, "n_queries": 200}

#: Index configurations by label (-> :class:`~omniloc.vpr.DescriptorIndex` conf). ``ivfpq`` has
#: ``m = D / 4`` (64 bytes a vector at D = 256); ``ivfpq-refine`` re-ranks 8 k candidates with exact
#: distances on full copies of the vectors (another 4 D bytes a vector).
KIND_CONFS = {
    "flat": {"kind": "flat"},
    "ivfsq8": {"kind": "ivfsq8", "nprobe": 32},
    "ivfpq": {"kind": "ivfpq", "nprobe": 32},
    "ivfpq-refine": {"kind": "ivfpq", "nprobe": 32, "refine": 8},
    "hnsw": {"kind": "hnsw", "M": 32, "ef_construction": 40, "ef_search": 64},
}
#: The kinds :func:`scale_runs` measures by default (``ivfpq-refine`` on request: it doubles the
#: IVF-PQ build time and adds the memory of the full vectors).
SCALE_KINDS = ("flat", "ivfsq8", "ivfpq", "hnsw")

#: Query-time values swept for each kind (besides its configured one).
SWEEPS = {
    "ivfflat": ("nprobe", (8, 16, 32, 64)),
    "ivfsq8": ("nprobe", (8, 16, 32, 64)),
    "ivfpq": ("nprobe", (8, 16, 32, 64)),
}
SWEEPS["hnsw"] = ("ef_search", (16, 32, 64, 128))

_CHUNK = 1 << 16


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *keys]))


def descriptor_mixture(d: int, n_clusters: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A seeded mixture model of global descriptors.

    Parameters
    ----------
    d : int
        Descriptor dimension.
    n_clusters : int
    seed : int

    Returns
    -------
    dict with ``basis`` (d, d) float32 (a random rotation whose row ``j`` is scaled by
    ``s_j`` proportional to ``1 / sqrt(1 + j)``, ``sum s_j^2 = 1``: unit-variance noise ``g`` becomes
    ``g @ basis``, of expected squared norm 1), ``centres`` (n_clusters, d) float32 unit vectors
    (anisotropic too) and ``weights`` (n_clusters,) cluster probabilities (log-normal, sigma 1).
    """
    rng = _rng(seed, 0)
    scales = 1.0 / np.sqrt(1.0 + np.arange(d))
    scales /= np.linalg.norm(scales)
    rot, _ = np.linalg.qr(rng.standard_normal((d, d)))
    basis = (scales[:, None] * rot).astype(np.float32)
    centres = rng.standard_normal((n_clusters, d), dtype=np.float32) @ basis
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    w = np.exp(rng.standard_normal(n_clusters))
    return {"basis": basis, "centres": centres, "weights": w / w.sum()}


def _normalised(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def synthetic_database(
    n: int, d: int = 256, seed: int = 0, n_clusters: int | None = None, spread: float = 0.5
) -> tuple[np.ndarray, dict]:
    """``n`` L2-normalised synthetic descriptors drawn from :func:`descriptor_mixture`, in chunks.

    Row ``i`` is ``normalise(c_k + spread * g @ basis)`` for a cluster ``k`` drawn by weight and
    Gaussian ``g``. Chunks of 65,536 rows are drawn with their own generators (keyed by ``seed`` and
    the chunk number) into one preallocated array, so the temporaries stay small and the result
    depends only on the arguments.

    Parameters
    ----------
    n, d : int
    seed : int
    n_clusters : int, optional
        Default ``max(1, n // 1000)``.
    spread : float
        Within-cluster noise relative to the unit centre (0.5: a vector's cosine to its centre is
        about 0.9).

    Returns
    -------
    database : (n, d) float32, unit rows
    mixture : dict
        :func:`descriptor_mixture` (for :func:`synthetic_queries`).
    """
    k = max(1, n // 1000) if n_clusters is None else int(n_clusters)
    mix = descriptor_mixture(d, k, seed)
    out = np.empty((n, d), dtype=np.float32)
    for i, start in enumerate(range(0, n, _CHUNK)):
        stop = min(n, start + _CHUNK)
        rng = _rng(seed, 1, i)
        lab = rng.choice(k, size=stop - start, p=mix["weights"])
        noise = rng.standard_normal((stop - start, d), dtype=np.float32) @ mix["basis"]
        out[start:stop] = _normalised(mix["centres"][lab] + np.float32(spread) * noise)
    return out, mix


def synthetic_queries(
    database: np.ndarray, mixture: dict, n_queries: int, seed: int = 0, noise: float = 0.55
) -> tuple[np.ndarray, np.ndarray]:
    """Queries that are perturbed database vectors: ``normalise(x_i + noise * g @ basis)``.

    Parameters
    ----------
    database : (N, D) float32
    mixture : dict
        From :func:`synthetic_database`.
    n_queries : int
        Drawn without replacement (at most N).
    seed : int
    noise : float
        Perturbation relative to a unit vector (0.55 with ``spread`` 0.5: the source is the exact
        nearest neighbour of about 90 % of the queries).

    Returns
    -------
    queries : (Q, D) float32, unit rows
    source : (Q,) int64, the database row each query came from
    """
    rng = _rng(seed, 2)
    n, d = database.shape
    src = np.sort(rng.choice(n, size=min(int(n_queries), n), replace=False)).astype(np.int64)
    g = rng.standard_normal((len(src), d), dtype=np.float32) @ mixture["basis"]
    return _normalised(database[src] + np.float32(noise) * g), src


def exact_top1(database: np.ndarray, queries: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
    """Index of the largest inner product of each query over the database, by chunked matrix products.

    Parameters
    ----------
    database : (N, D) float32
    queries : (Q, D) float32

    Returns
    -------
    (Q,) int64
    """
    best = np.full(len(queries), -np.inf, dtype=np.float32)
    arg = np.zeros(len(queries), dtype=np.int64)
    for start in range(0, len(database), chunk):
        s = queries @ database[start : start + chunk].T
        j = s.argmax(axis=1)
        v = s[np.arange(len(queries)), j]
        better = v > best
        best[better] = v[better]
        arg[better] = j[better] + start
    return arg


def _latencies(index, queries: np.ndarray) -> np.ndarray:
    """Seconds of each single-query ``search(q, k=1)``, one query at a time."""
    out = np.empty(len(queries))
    for i in range(len(queries)):
        q = queries[i : i + 1]
        t0 = time.perf_counter()
        index.search(q, 1)
        out[i] = time.perf_counter() - t0
    return out


def _measure(index, queries: np.ndarray, truth: np.ndarray, n_timed: int) -> dict:
    _, ids = index.search(queries, 10)
    lat = _latencies(index, queries[:n_timed])
    return {
        "query_ms": float(np.median(lat) * 1e3),
        "query_ms_p90": float(np.percentile(lat, 90) * 1e3),
        "n_timed": int(n_timed),
        "recall@1": float(np.mean(ids[:, 0] == truth)),
        "recall_1@10": float(np.mean((ids == truth[:, None]).any(axis=1))),
    }


def scale_runs(
    n: int = 1_000_000,
    d: int = 256,
    n_queries: int = 1000,
    seed: int = 0,
    kinds=SCALE_KINDS,
    threads: int | None = 2,
    *,
    sweep: bool = True,
    n_timed_flat: int = 100,
    log: Callable[[str], None] | None = None,
) -> list[dict]:
    """Build each index kind over ``n`` synthetic descriptors and measure speed, memory and recall.

    Parameters
    ----------
    n, d : int
        Database size and dimension.
    n_queries : int
        Queries (perturbed database vectors, :func:`synthetic_queries`).
    seed : int
        Data and index seed.
    kinds : sequence of str or dict
        Labels of :data:`KIND_CONFS`, or :class:`~omniloc.vpr.DescriptorIndex` confs (a dict with
        ``kind`` and any parameters, optionally a ``label``).
    threads : int or None
        Threads for faiss and BLAS during the run (None: leave the process's settings).
    sweep : bool
        Also measure the IVF kinds at several ``nprobe`` and HNSW at several ``ef_search``
        (:data:`SWEEPS`; 300 timed queries each).
    n_timed_flat : int
        Queries timed for exact flat search (it is slow at scale; all queries are timed for the others).
    log : callable, optional
        Called with a line of progress.

    Returns
    -------
    list of dict, one per kind: ``label``, ``kind``, ``n``, ``d``, ``n_queries``, ``threads``,
    ``params`` (the index conf and its resolved parameters), ``build_s`` (fit: training and adding),
    ``query_ms`` (median latency of one query at a time, ``time.perf_counter``), ``query_ms_p90``,
    ``memory_mb`` (serialised index, MiB), ``recall@1`` (approximate top-1 = exact top-1),
    ``recall_1@10`` (exact top-1 among the approximate top 10), ``exact_top1_is_source`` (how hard
    the queries are) and, with ``sweep``, ``sweep``: a list of ``{param: value, query_ms, recall@1, ...}``.
    """
    from threadpoolctl import threadpool_limits

    from ..vpr.index import DescriptorIndex

    say = log or (lambda line: None)
    confs = []
    for k in kinds:
        if isinstance(k, str):
            if k not in KIND_CONFS:
                raise ConfigError(f"scale kind must be one of {list(KIND_CONFS)} or an index conf dict, got {k!r}")
            confs.append((k, dict(KIND_CONFS[k])))
        elif isinstance(k, dict):
            c = dict(k)
            confs.append((c.pop("label", c.get("kind", "flat")), c))
        else:
            raise ConfigError(f"scale kind must be a label or a conf dict, got {k!r}")
    with threadpool_limits(limits=threads) if threads is not None else contextlib.nullcontext():
        t0 = time.perf_counter()
        db, mix = synthetic_database(n, d, seed)
        queries, source = synthetic_queries(db, mix, n_queries, seed)
        truth = exact_top1(db, queries)
        say(f"data {n} x {d}, {len(queries)} queries: {time.perf_counter() - t0:.1f} s")
        hard = float(np.mean(truth == source))
        runs = []
        for label, conf in confs:
            index = DescriptorIndex(**{"metric": "cosine", "seed": seed, "threads": threads, **conf})
            t0 = time.perf_counter()
            index.fit(db)
            build_s = time.perf_counter() - t0
            n_timed = min(len(queries), n_timed_flat) if index.kind == "flat" else len(queries)
            res = {
                "label": label,
                "kind": index.kind,
                "n": int(n),
                "d": int(d),
                "n_queries": int(len(queries)),
                "threads": threads,
                "params": {**index.conf, **index.params_},
                "build_s": float(build_s),
                **_measure(index, queries, truth, n_timed),
                "memory_mb": index.memory_bytes() / 2**20,
                "exact_top1_is_source": hard,
            }
            if sweep and index.kind in SWEEPS:
                name, values = SWEEPS[index.kind]
                configured = index.params_.get(name, index.conf[name])
                res["sweep"] = []
                for v in values:
                    index.set_search_params(**{name: v})
                    res["sweep"].append({name: v, **_measure(index, queries, truth, min(300, len(queries)))})
                index.set_search_params(**{name: configured})
            runs.append(res)
            swept = "".join(
                f"; {name}={s[name]}: {s['query_ms']:.3f} ms, {s['recall@1']:.3f}" for s in res.get("sweep", [])
            )
            say(
                f"{label}: build {build_s:.1f} s, {res['query_ms']:.3f} ms/query, "
                f"{res['memory_mb']:.1f} MiB, recall@1 {res['recall@1']:.3f}{swept}"
            )
            del index
        return runs
