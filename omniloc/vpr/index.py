"""A nearest-neighbour index of global descriptors: faiss behind one class, with save and load.

:class:`DescriptorIndex` answers "which database descriptors are closest to this query?" with one
of several faiss structures (:data:`INDEX_KINDS`):

* ``"flat"``: exact search over all vectors (``IndexFlatIP`` / ``IndexFlatL2``), ``4 D`` bytes a vector;
* ``"ivfflat"``: inverted file: k-means cells, only the ``nprobe`` cells nearest to a query are
  scanned, vectors stored in full (``IndexIVFFlat``);
* ``"ivfsq8"``: the same cells, vectors stored with 8 bits a dimension (``IndexIVFScalarQuantizer``,
  ``D`` bytes a vector): the default for large databases (:func:`choose_kind`);
* ``"ivfpq"``: the same cells, residuals product-quantised into ``m`` codes of ``nbits`` bits
  (``IndexIVFPQ``, ``m nbits / 8`` bytes a vector);
* ``"hnsw"``: a hierarchical navigable small-world graph over the full vectors (``IndexHNSWFlat``),
  no training, slow to build.

Any IVF kind may re-rank its shortlist (``refine``): ``refine * k`` candidates are re-scored with
exact distances on full copies of the vectors (``IndexRefineFlat``, another ``4 D`` bytes a vector).

Metrics: ``"cosine"`` is the inner product of L2-normalised vectors (database and queries are
normalised on the way in; the caller's arrays are never modified) and its scores are similarities
in [-1, 1], higher = closer; ``"l2"`` scores are squared Euclidean distances, lower = closer.

Determinism: the training sample, the k-means and the PQ codebooks are seeded by ``seed``; faiss'
multi-threaded reductions may still change the last bits of a float between thread counts, and an
HNSW graph built with several threads depends on their scheduling. ``threads`` sets faiss'
OpenMP thread count only for the duration of each call and restores the caller's count afterwards.

On disk an index is one file: a magic line, the metadata as JSON (format version, kind, metric,
dimension, size, configuration, resolved parameters, checksum) and faiss' own serialisation.
"""

from __future__ import annotations

import contextlib
import json
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from .._conf import check_types, merge_conf
from .._errors import ConfigError, DataError
from .._io import OutputExistsError, atomic_path

__all__ = [
    "INDEX_KINDS",
    "METRICS",
    "DEFAULT_CONF",
    "LARGE_CONF",
    "FLAT_MAX_SIZE",
    "FORMAT_VERSION",
    "DescriptorIndex",
    "choose_kind",
    "auto_nlist",
]

#: Index structures, from exact to approximate (see the module docstring).
INDEX_KINDS = ("flat", "ivfflat", "ivfsq8", "ivfpq", "hnsw")
#: Similarity measures: cosine similarity (inner product of normalised vectors) or squared L2 distance.
METRICS = ("cosine", "l2")
_IVF_KINDS = ("ivfflat", "ivfsq8", "ivfpq")

#: Documented defaults of :class:`DescriptorIndex`:
#:
#: * ``kind``: one of :data:`INDEX_KINDS`;
#: * ``metric``: ``"cosine"`` or ``"l2"``;
#: * ``nlist``: IVF cells; None = :func:`auto_nlist` of the database size (about ``4 sqrt(N)``);
#: * ``nprobe``: IVF cells scanned per query; None = ``min(nlist, 32)``;
#: * ``m``: PQ sub-quantisers (must divide the dimension ``D``); None = ``D / 4`` (``D`` bytes a
#:   vector with 8-bit codes) when it divides, else the largest divisor of ``D`` not above ``D / 4``.
#:   Codebooks of 4-dimensional sub-vectors train slowly in faiss (about 30 s on 10,000 x 256);
#:   ``m = D / 8`` trains about ten times faster, at a lower recall;
#: * ``nbits``: bits per PQ code (1..16; training needs at least ``2**nbits`` vectors);
#: * ``refine``: 0 = off; else re-rank ``refine * k`` IVF candidates with exact distances;
#: * ``M``, ``ef_construction``, ``ef_search``: HNSW graph degree, candidate list while building
#:   and while searching;
#: * ``train_size``: vectors drawn (without replacement, seeded) from the database to train an IVF
#:   kind; None = ``min(N, max(40 nlist, 10000))`` (faiss asks for at least 39 a cell);
#: * ``seed``: training sample, k-means and PQ codebooks;
#: * ``threads``: faiss OpenMP threads during each call (None = leave the caller's setting).
DEFAULT_CONF = {
    "kind": "flat",
    "metric": "cosine",
    "nlist": None,
    "nprobe": None,
    "m": None,
    "nbits": 8,
    "refine": 0,
    "M": 32,
    "ef_construction": 40,
    "ef_search": 64,
    "train_size": None,
    "seed": 0,
    "threads": None,
}

_TYPES = {k: (int,) for k in ("nlist", "nprobe", "m", "train_size", "threads")}

#: Above this many database vectors :func:`choose_kind` picks the approximate kind: one exact
#: query over 20,000 x 256 float32 vectors takes about the 1 ms budget on one core.
FLAT_MAX_SIZE = 20_000

#: The configuration :func:`choose_kind` and :meth:`DescriptorIndex.for_size` use for large
#: databases: IVF with 8-bit scalar quantisation, ``nlist`` about ``4 sqrt(N)`` and 32 cells
#: probed. Measured by :func:`omniloc.bench._vpr_scale.scale_runs` on 1,000,000 x 256 synthetic
#: descriptors with 2 threads on a shared 2-core machine: nlist 4000, build 125 s, 0.41 ms median
#: single-query latency, 256 MiB, recall@1 against exact search 0.994 (IVF-PQ with 64 bytes a
#: vector: 0.56 ms, 73 MiB, 0.910; exact flat search: about 300 ms a query).
LARGE_CONF = {"kind": "ivfsq8", "nlist": None, "nprobe": 32}

#: Version of the on-disk format written by :meth:`DescriptorIndex.save`.
FORMAT_VERSION = 1
_MAGIC = b"OMNILOC-DESCRIPTOR-INDEX\n"
_LEN = struct.Struct("<Q")
_MAX_HEADER = 1 << 20


def choose_kind(n: int) -> str:
    """The index kind for a database of ``n`` descriptors.

    Exact ``"flat"`` search up to :data:`FLAT_MAX_SIZE` vectors (no approximation, nothing to
    train, and still about a millisecond a query), else ``LARGE_CONF["kind"]`` (``"ivfsq8"``).

    Parameters
    ----------
    n : int
        Number of database vectors.

    Returns
    -------
    str, one of :data:`INDEX_KINDS`

    Examples
    --------
    >>> choose_kind(5000), choose_kind(1_000_000)
    ('flat', 'ivfsq8')
    """
    return "flat" if int(n) <= FLAT_MAX_SIZE else LARGE_CONF["kind"]


def auto_nlist(n: int) -> int:
    """Default number of IVF cells for ``n`` database vectors: ``round(4 sqrt(n))``, at most ``n / 39``, at least 1.

    The upper bound keeps at least 39 training vectors a cell, which faiss' k-means asks for.

    Examples
    --------
    >>> auto_nlist(1_000_000), auto_nlist(20_000), auto_nlist(100)
    (4000, 512, 2)
    """
    n = int(n)
    return int(max(1, min(round(4.0 * math.sqrt(max(n, 0))), n // 39)))


def _auto_m(d: int) -> int:
    """PQ sub-quantisers: the largest divisor of ``d`` not above ``d / 4`` (``d / 4`` when ``4 | d``)."""
    top = max(1, d // 4)
    return next(m for m in range(top, 0, -1) if d % m == 0)


@contextlib.contextmanager
def _faiss_threads(threads: int | None):
    """Set faiss' OpenMP thread count inside the block, restore the caller's afterwards."""
    import faiss

    if threads is None:
        yield
        return
    old = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(int(threads))
    try:
        yield
    finally:
        faiss.omp_set_num_threads(old)


def _check_conf(conf: dict, where: str) -> None:
    check_types(conf, DEFAULT_CONF, where=where, types=_TYPES)
    if conf["kind"] not in INDEX_KINDS:
        raise ConfigError(f"{where} 'kind' must be one of {list(INDEX_KINDS)}, got {conf['kind']!r}")
    if conf["metric"] not in METRICS:
        raise ConfigError(f"{where} 'metric' must be one of {list(METRICS)}, got {conf['metric']!r}")
    minimum = {"nlist": 1, "nprobe": 1, "m": 1, "nbits": 1, "refine": 0, "M": 2, "ef_construction": 1}
    minimum.update({"ef_search": 1, "train_size": 1, "threads": 1})
    for key, low in minimum.items():
        val = conf[key]
        if val is not None and val < low:
            raise ConfigError(f"{where} '{key}' must be >= {low} (or null for automatic), got {val!r}")
    if conf["nbits"] > 16:
        raise ConfigError(f"{where} 'nbits' must be <= 16, got {conf['nbits']!r}")
    if conf["refine"] and conf["kind"] not in _IVF_KINDS:
        raise ConfigError(f"{where} 'refine' applies to the IVF kinds {list(_IVF_KINDS)}, not {conf['kind']!r}")
    if not isinstance(conf["seed"], (int, np.integer)) or isinstance(conf["seed"], bool):
        raise ConfigError(f"{where} 'seed' must be an int, got {conf['seed']!r}")


class DescriptorIndex:
    """Nearest-neighbour search over global descriptors (faiss), with save and load.

    The constructor only stores and checks the configuration (:data:`DEFAULT_CONF`); :meth:`fit`
    builds the faiss index, trains it when the kind needs it and adds the database; :meth:`add`
    appends more vectors (their ids continue from ``len(self)``).

    Parameters
    ----------
    kind : str
        One of :data:`INDEX_KINDS`.
    metric : str
        ``"cosine"`` or ``"l2"``.
    **params
        Any other key of :data:`DEFAULT_CONF` (``nlist``, ``nprobe``, ``m``, ``nbits``, ``refine``,
        ``M``, ``ef_construction``, ``ef_search``, ``train_size``, ``seed``, ``threads``).

    Attributes
    ----------
    conf : dict
        The merged configuration.
    params_ : dict
        After :meth:`fit`: the resolved parameters (``nlist``, ``nprobe``, ``m``, ``train_size``
        where they apply) and ``n_train``, the number of vectors trained on.

    Raises
    ------
    ConfigError
        For an unknown kind, metric or key, a value of the wrong type or out of range.

    Examples
    --------
    >>> import numpy as np
    >>> db = np.eye(4, dtype=np.float32)
    >>> index = DescriptorIndex("flat").fit(db)
    >>> scores, ids = index.search(np.array([[0.1, 1.0, 0.0, 0.0]], dtype=np.float32), k=2)
    >>> ids.tolist(), len(index), index.dim
    ([[1, 0]], 4, 4)
    """

    def __init__(self, kind: str = "flat", metric: str = "cosine", **params):
        self.conf = merge_conf(DEFAULT_CONF, {"kind": kind, "metric": metric, **params}, where="index conf")
        _check_conf(self.conf, "index conf")
        self._index = None
        self.params_: dict = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def for_size(cls, n: int, metric: str = "cosine", **params) -> DescriptorIndex:
        """An index configured for a database of ``n`` vectors: exact flat search when small, else :data:`LARGE_CONF`.

        Parameters
        ----------
        n : int
            Expected number of database vectors (:func:`choose_kind`).
        metric : str
        **params
            Override any key of :data:`DEFAULT_CONF` (``kind`` included).
        """
        base = dict(LARGE_CONF) if choose_kind(n) != "flat" else {"kind": "flat"}
        return cls(**{**base, "metric": metric, **params})

    def __repr__(self) -> str:
        state = f"{len(self)} x {self.dim}" if self._index is not None else "not fitted"
        return f"DescriptorIndex(kind={self.conf['kind']!r}, metric={self.conf['metric']!r}, {state})"

    def __len__(self) -> int:
        return 0 if self._index is None else int(self._index.ntotal)

    @property
    def dim(self) -> int | None:
        """Descriptor dimension ``D`` (None before :meth:`fit`)."""
        return None if self._index is None else int(self._index.d)

    @property
    def kind(self) -> str:
        return self.conf["kind"]

    @property
    def metric(self) -> str:
        return self.conf["metric"]

    def _vectors(self, x, what: str, dim: int | None = None) -> np.ndarray:
        """``x`` as a C-contiguous float32 (N, D) array (normalised for cosine), checked."""
        try:
            arr = np.asarray(x)
        except Exception as e:  # ragged lists and the like
            raise DataError(f"must be a (N, D) array of numbers ({e})", field=what) from None
        if (
            arr.ndim != 2
            or arr.shape[1] < 1
            or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer))
        ):
            raise DataError(f"must be a (N, D) array of numbers, got shape {arr.shape} {arr.dtype}", field=what)
        if dim is not None and arr.shape[1] != dim:
            raise DataError(f"has dimension {arr.shape[1]} but the index holds {dim}-dimensional vectors", field=what)
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        bad = ~np.isfinite(arr).all(axis=1)
        if bad.any():
            raise DataError(
                f"row {int(np.flatnonzero(bad)[0])} has NaN or infinite values ({int(bad.sum())} rows)", field=what
            )
        if self.conf["metric"] == "cosine":
            norms = np.linalg.norm(arr, axis=1, keepdims=True)
            zero = norms[:, 0] <= 0
            if zero.any():
                raise DataError(
                    f"row {int(np.flatnonzero(zero)[0])} is all zeros and cannot be normalised for the cosine metric",
                    field=what,
                )
            arr = arr / norms
        return arr

    def _build(self, d: int, n: int):
        """A new, untrained faiss index for dimension ``d`` sized for ``n`` vectors; fills ``params_``."""
        import faiss

        c = self.conf
        metric = faiss.METRIC_INNER_PRODUCT if c["metric"] == "cosine" else faiss.METRIC_L2
        params: dict = {}
        if c["kind"] == "flat":
            index = faiss.IndexFlatIP(d) if metric == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(d)
        elif c["kind"] == "hnsw":
            index = faiss.IndexHNSWFlat(d, c["M"], metric)
            index.hnsw.efConstruction = c["ef_construction"]
            index.hnsw.efSearch = c["ef_search"]
        else:
            nlist = c["nlist"] if c["nlist"] is not None else auto_nlist(n)
            quantizer = faiss.IndexFlatIP(d) if metric == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(d)
            if c["kind"] == "ivfflat":
                index = faiss.IndexIVFFlat(quantizer, d, nlist, metric)
            elif c["kind"] == "ivfsq8":
                index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit, metric)
            else:
                m = c["m"] if c["m"] is not None else _auto_m(d)
                if d % m:
                    raise ConfigError(f"index conf 'm' must divide the descriptor dimension {d}, got {m}")
                index = faiss.IndexIVFPQ(quantizer, d, nlist, m, c["nbits"], metric)
                index.do_polysemous_training = False
                index.pq.cp.seed = int(c["seed"]) & 0x7FFFFFFF
                params["m"] = int(m)
            index.cp.seed = int(c["seed"]) & 0x7FFFFFFF
            nprobe = c["nprobe"] if c["nprobe"] is not None else min(nlist, 32)
            index.nprobe = int(min(nprobe, nlist))
            params.update(nlist=int(nlist), nprobe=int(index.nprobe))
            if c["refine"]:
                index = faiss.IndexRefineFlat(index)
                index.k_factor = float(c["refine"])
        return index, params

    def fit(self, database) -> DescriptorIndex:
        """Build the index (training it on a seeded sample for the IVF kinds) and add ``database``.

        Parameters
        ----------
        database : (N, D) float array
            Database descriptors; their ids are their row numbers ``0 .. N-1``.

        Returns
        -------
        self

        Raises
        ------
        DataError
            For a wrong shape, NaN or infinite values, all-zero rows (cosine), or too few
            vectors to train the kind (fewer than ``nlist``, or than ``2**nbits`` for ``ivfpq``).
        """
        x = self._vectors(database, "database")
        n, d = x.shape
        c = self.conf
        index, params = self._build(d, n)
        n_train = 0
        if c["kind"] in _IVF_KINDS:
            need = params["nlist"]
            if c["kind"] == "ivfpq":
                need = max(need, 2 ** c["nbits"])
            default_train = min(n, max(40 * params["nlist"], 10_000))
            train_size = min(n, c["train_size"] if c["train_size"] is not None else default_train)
            if train_size < need:
                raise DataError(
                    f"{c['kind']} with nlist={params['nlist']}"
                    + (f", nbits={c['nbits']}" if c["kind"] == "ivfpq" else "")
                    + f" needs at least {need} training vectors, got {train_size} (N={n}); use fewer cells or 'flat'",
                    field="database",
                )
            rng = np.random.default_rng(c["seed"])
            sample = x if train_size >= n else x[np.sort(rng.choice(n, size=train_size, replace=False))]
            with _faiss_threads(c["threads"]):
                index.train(sample)
            n_train = int(train_size)
            params["train_size"] = n_train
        params["n_train"] = n_train
        self._index, self.params_ = index, params
        return self._add_checked(x)

    def add(self, vectors) -> DescriptorIndex:
        """Append ``vectors`` (M, D) to a fitted index; their ids are ``len(self) .. len(self) + M - 1``.

        Raises
        ------
        RuntimeError
            Before :meth:`fit` (which trains the IVF kinds).
        DataError
            For a wrong shape, a dimension other than :attr:`dim`, NaN or all-zero rows.
        """
        if self._index is None:
            raise RuntimeError("DescriptorIndex is not fitted; call fit() first")
        return self._add_checked(self._vectors(vectors, "vectors", self.dim))

    def _add_checked(self, x: np.ndarray) -> DescriptorIndex:
        if len(x):
            with _faiss_threads(self.conf["threads"]):
                self._index.add(x)
        return self

    # ------------------------------------------------------------------ search
    def set_search_params(self, nprobe: int | None = None, ef_search: int | None = None, refine: int | None = None):
        """Change the query-time parameters of a fitted index (the trained structure is kept).

        Parameters
        ----------
        nprobe : int, optional
            IVF cells scanned per query (clipped to ``nlist``).
        ef_search : int, optional
            HNSW candidate list.
        refine : int, optional
            Re-ranking factor of an index built with ``refine > 0``.

        Returns
        -------
        self
        """
        import faiss

        upd = {k: v for k, v in {"nprobe": nprobe, "ef_search": ef_search, "refine": refine}.items() if v is not None}
        new = merge_conf(self.conf, upd, where="index conf")
        _check_conf(new, "index conf")
        if self._index is not None:
            if refine is not None:
                if not isinstance(self._index, faiss.IndexRefine) or refine < 1:
                    raise ConfigError("index conf 'refine' can only be changed (to >= 1) on an index built with refine")
                self._index.k_factor = float(refine)
            if nprobe is not None and self.kind in _IVF_KINDS:
                ivf = faiss.extract_index_ivf(self._index)
                ivf.nprobe = int(min(nprobe, ivf.nlist))
                self.params_["nprobe"] = int(ivf.nprobe)
            if ef_search is not None and self.kind == "hnsw":
                self._index.hnsw.efSearch = int(ef_search)
        self.conf = new
        return self

    def search(self, queries, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest database vectors of each query, closest first.

        Parameters
        ----------
        queries : (Q, D) float array
        k : int
            Neighbours per query (>= 1).

        Returns
        -------
        scores : (Q, k) float32
            Cosine similarity (``metric="cosine"``, higher = closer, in [-1, 1] up to the
            quantisation error of approximate kinds) or squared Euclidean distance
            (``metric="l2"``, lower = closer). Approximate kinds return approximate scores.
        ids : (Q, k) int64
            Database row numbers. Where fewer than ``k`` candidates were found (``k > len(self)``,
            or too few vectors in the probed IVF cells) the missing entries have id -1 and score
            ``-inf`` (cosine) or ``+inf`` (l2).

        Raises
        ------
        RuntimeError
            Before :meth:`fit`.
        DataError
            For a wrong shape or dimension, NaN or all-zero query rows.
        """
        if self._index is None:
            raise RuntimeError("DescriptorIndex is not fitted; call fit() first")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"search k must be an int >= 1, got {k!r}")
        q = self._vectors(queries, "queries", self.dim)
        # one query runs on one thread: waking more costs milliseconds for exact or re-ranked search
        with _faiss_threads(1 if len(q) == 1 else self.conf["threads"]):
            scores, ids = self._index.search(q, int(k))
        ids = ids.astype(np.int64, copy=False)
        missing = ids < 0
        if missing.any():
            scores[missing] = -np.inf if self.conf["metric"] == "cosine" else np.inf
        return scores, ids

    # ------------------------------------------------------------------ persistence
    def _serialize(self) -> np.ndarray:
        import faiss

        return faiss.serialize_index(self._index)

    def memory_bytes(self) -> int:
        """Size of the faiss index as serialised (bytes; the vectors, codes, cells and graph).

        Serialises the index once (a temporary copy of that size).
        """
        if self._index is None:
            return 0
        return int(self._serialize().nbytes)

    def metadata(self) -> dict:
        """What :meth:`save` writes beside the faiss payload (without the checksum fields)."""
        import faiss

        return {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "metric": self.metric,
            "dim": self.dim,
            "ntotal": len(self),
            "conf": self.conf,
            "params": self.params_,
            "faiss_version": faiss.__version__,
        }

    def save(self, path, overwrite: bool = False) -> Path:
        """Write the index to one file, atomically (a temporary file beside ``path``, then a rename).

        Parameters
        ----------
        path : path
        overwrite : bool
            Replace an existing file.

        Returns
        -------
        Path

        Raises
        ------
        OutputExistsError
            ``path`` exists and ``overwrite`` is False.
        RuntimeError
            Before :meth:`fit`.
        """
        if self._index is None:
            raise RuntimeError("DescriptorIndex is not fitted; call fit() first")
        path = Path(path)
        if path.exists() and not overwrite:
            raise OutputExistsError(f"{path} exists; pass overwrite=True to replace it")
        payload = self._serialize()
        meta = self.metadata()
        meta["payload_bytes"] = int(payload.nbytes)
        meta["payload_crc32"] = int(zlib.crc32(memoryview(payload)))
        header = json.dumps(meta, sort_keys=True).encode("utf-8")
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(_MAGIC)
            f.write(_LEN.pack(len(header)))
            f.write(header)
            f.write(memoryview(payload))
        return path

    @classmethod
    def load(cls, path) -> DescriptorIndex:
        """Read an index written by :meth:`save`, checking its metadata against the faiss payload.

        Raises
        ------
        DataError
            Naming the file and the field: missing file, not an index file (``header``), unreadable
            or inconsistent metadata (``metadata``, ``format_version``, ``kind``, ``metric``,
            ``dim``, ``ntotal``, ``conf``), a truncated or corrupted payload (``index``).
        """
        import faiss

        path = Path(path)
        if not path.is_file():
            raise DataError("no such index file", file=path)
        with open(path, "rb") as f:
            magic = f.read(len(_MAGIC))
            if magic != _MAGIC:
                raise DataError(
                    f"not an omniloc descriptor index (expected it to start with {_MAGIC!r})", file=path, field="header"
                )
            raw = f.read(_LEN.size)
            if len(raw) < _LEN.size:
                raise DataError("file ends inside the header", file=path, field="header")
            (n_header,) = _LEN.unpack(raw)
            if n_header > _MAX_HEADER:
                raise DataError(
                    f"metadata length {n_header} bytes is not plausible (corrupted header)", file=path, field="header"
                )
            header = f.read(n_header)
            try:
                meta = json.loads(header.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise DataError(f"metadata is not valid JSON ({e})", file=path, field="metadata") from None
            if not isinstance(meta, dict):
                raise DataError("metadata must be a JSON object", file=path, field="metadata")
            payload = np.fromfile(f, dtype=np.uint8)
        idx = cls._from_metadata(meta, path)
        size = meta["payload_bytes"]
        if payload.nbytes != size:
            raise DataError(
                f"truncated or padded: expected {size} bytes of faiss index, found {payload.nbytes}",
                file=path,
                field="index",
            )
        if int(zlib.crc32(memoryview(payload))) != meta["payload_crc32"]:
            raise DataError("checksum mismatch: the faiss index bytes are corrupted", file=path, field="index")
        try:
            index = faiss.deserialize_index(payload)
        except Exception as e:
            raise DataError(
                f"faiss cannot read the index ({str(e).splitlines()[0] if str(e) else type(e).__name__})",
                file=path,
                field="index",
            ) from None
        idx._check_payload(index, meta, path)
        idx._index = index
        return idx

    @classmethod
    def _from_metadata(cls, meta: dict, path: Path) -> DescriptorIndex:
        """A not-yet-filled index from the metadata, every field checked."""
        version = meta.get("format_version")
        if version != FORMAT_VERSION:
            raise DataError(
                f"format version {version!r} is not supported (expected {FORMAT_VERSION})",
                file=path,
                field="format_version",
            )
        for key, check, want in [
            ("kind", lambda v: v in INDEX_KINDS, f"one of {list(INDEX_KINDS)}"),
            ("metric", lambda v: v in METRICS, f"one of {list(METRICS)}"),
            ("dim", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "a positive int"),
            ("ntotal", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an int >= 0"),
            ("conf", lambda v: isinstance(v, dict), "a JSON object"),
            ("params", lambda v: isinstance(v, dict), "a JSON object"),
            ("payload_bytes", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "an int >= 0"),
            ("payload_crc32", lambda v: isinstance(v, int) and not isinstance(v, bool), "an int"),
        ]:
            if key not in meta:
                raise DataError(f"missing; expected {want}", file=path, field=key)
            if not check(meta[key]):
                raise DataError(f"must be {want}, got {meta[key]!r}", file=path, field=key)
        conf = dict(meta["conf"])
        for key in ("kind", "metric"):
            if conf.get(key, meta[key]) != meta[key]:
                raise DataError(
                    f"conf {key} {conf.get(key)!r} disagrees with the metadata {key} {meta[key]!r}",
                    file=path,
                    field="conf",
                )
        conf.update(kind=meta["kind"], metric=meta["metric"])
        try:
            idx = cls(**conf)
        except (ConfigError, TypeError) as e:
            raise DataError(f"invalid index configuration ({e})", file=path, field="conf") from None
        idx.params_ = dict(meta["params"])
        return idx

    def _check_payload(self, index, meta: dict, path: Path) -> None:
        import faiss

        if index.d != meta["dim"]:
            raise DataError(
                f"metadata says {meta['dim']} but the faiss index has dimension {index.d}", file=path, field="dim"
            )
        if index.ntotal != meta["ntotal"]:
            raise DataError(
                f"metadata says {meta['ntotal']} but the faiss index holds {index.ntotal} vectors",
                file=path,
                field="ntotal",
            )
        want_metric = faiss.METRIC_INNER_PRODUCT if meta["metric"] == "cosine" else faiss.METRIC_L2
        if index.metric_type != want_metric:
            raise DataError(
                f"metadata says {meta['metric']!r} but the faiss index uses another metric", file=path, field="metric"
            )
        base = faiss.downcast_index(index.base_index) if isinstance(index, faiss.IndexRefine) else index
        expected = {
            "flat": faiss.IndexFlat,
            "ivfflat": faiss.IndexIVFFlat,
            "ivfsq8": faiss.IndexIVFScalarQuantizer,
            "ivfpq": faiss.IndexIVFPQ,
            "hnsw": faiss.IndexHNSW,
        }[meta["kind"]]
        if not isinstance(base, expected) or (isinstance(index, faiss.IndexRefine) != bool(meta["conf"].get("refine"))):
            raise DataError(
                f"metadata says {meta['kind']!r} but the file holds a faiss {type(base).__name__}",
                file=path,
                field="kind",
            )
