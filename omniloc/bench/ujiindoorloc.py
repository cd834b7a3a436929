"""Bench suite ``ujiindoorloc``: WiFi fingerprinting on UJIIndoorLoc (3 buildings, 5 floors).

By default the methods train on ``trainingData`` minus a held-out 10 % of its (USERID, PHONEID)
recordings and are tested on that held-out part. With ``test_file`` they train on all of
``trainingData`` and are tested on the given CSV (same columns), e.g. the official validation
file, which is not distributed with omniloc's data folder.

Errors are 2-D, in the dataset's EPSG:3857 metres (the unit papers report; about 1.3x ground
metres at this latitude), plus building and floor hit rates.
"""

from __future__ import annotations

from pathlib import Path

from .._errors import DataError
from ._runner import SuiteResult, run_method

#: the kNN signal representations compared by the suite (Torres-Sospedra et al. 2015)
REPRESENTATIONS = ("dbm", "positive", "exponential", "powed")


def run(out: Path, quick: bool = False, data_root: Path | None = None, test_file: Path | None = None) -> SuiteResult:
    from ..data.loaders.ujiindoorloc import load_ujiindoorloc
    from ..data.splits import split_by_groups

    res = SuiteResult("ujiindoorloc", out, quick)
    src = Path(data_root) / "ujiindoorloc" / "trainingData.csv.gz"
    if not src.exists():
        raise DataError("UJIIndoorLoc training file not found; pass --data-root or set OMNILOC_DATA", file=src)
    full = load_ujiindoorloc(src)
    if test_file is not None:
        train = full
        test = load_ujiindoorloc(Path(test_file), name="ujiindoorloc-test")
        label = f"ujiindoorloc/{Path(test_file).name}"
    else:
        split = split_by_groups(full, test_fraction=0.1, seed=0)
        train, test = split.split("train"), split.split("test")
        label = "ujiindoorloc/heldout-groups"
    if quick:  # same code path, on two test recordings and without the representation sweep
        test = test.subset(list(test.recordings)[:2], name=test.name)
        label += "-quick"
    res.extra["data"] = {"train_recordings": len(train), "train_samples": train.n_samples,
                         "test_recordings": len(test), "test_samples": test.n_samples,
                         "test": str(test_file) if test_file else "10 % of trainingData recordings (USERID/PHONEID), seed 0"}
    default = res.add(run_method("knn", train, test, label))
    runs = [default]
    for rep in ([] if quick else REPRESENTATIONS):
        if rep == default.conf.get("representation"):
            continue
        runs.append(res.add(run_method("knn", train, test, label, conf={"representation": rep},
                                       label=f"knn ({rep})")))
    default.label = f"knn ({default.conf.get('representation')}, default)"
    res.sections.append(res.cdf(runs, test, "error_cdf.png", f"UJIIndoorLoc 2-D error CDF ({label})",
                                unit="m (EPSG:3857)"))
    res.sections.append(
        "Targets on the official validation file: building hit 100 %, floor hit >= 95 %, mean 2-D error <= 6.0 m "
        "(published: plain kNN ~7.9 m; EvAAL 2015 winner 6.20 m / 93.7 % floors). The validation file is held out "
        "from this repository's data; these figures are on "
        + ("the file given with --test-file." if test_file else "recordings of trainingData held out by user/phone.")
    )
    return res
