"""Precomputed MEPAVE image features: ``embedded/cids_of_imgs`` + ``imgs.embedded*.npy``.

The public release ships one cid a line and a float32 array with one row per line (global
ResNet features: ``imgs.embeddedG.npy`` is [N, 2048]). Shapes and ids are checked; rows that
cannot be used go to rejects, and the array is memory-mapped, never copied whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.reasons import Reason
from pipeline.records import ReadResult, RejectCollector

SOURCE = "mepave_features"
IDS_FILE = "cids_of_imgs"
DEFAULT_ARRAY = "imgs.embeddedG.npy"

FILE_MISSING = Reason.FILE_MISSING
BAD_ARRAY = Reason.BAD_FEATURE_ARRAY
SHAPE_MISMATCH = Reason.FEATURE_SHAPE_MISMATCH
BAD_CID = Reason.BAD_CID
DUPLICATE_CID = Reason.DUPLICATE_CID
NON_FINITE = Reason.NON_FINITE_FEATURES


@dataclass
class FeatureSet:
    """Valid ids (``cid``, ``row``) with the array they index, plus rejects."""

    result: ReadResult
    array: np.ndarray | None

    def features_for(self, cids: list[str]) -> np.ndarray:
        rows = self.result.valid.set_index("cid")["row"]
        return np.asarray(self.array[rows.loc[cids].to_numpy()])


def _empty(rejects: RejectCollector, stats: dict) -> FeatureSet:
    valid = pd.DataFrame({"cid": pd.Series(dtype=str), "row": pd.Series(dtype="int64")})
    return FeatureSet(ReadResult(SOURCE, valid, rejects.frame(), stats), None)


def read_features(embedded_dir: Path | str, array_name: str = DEFAULT_ARRAY,
                  expected_dim: int | None = None) -> FeatureSet:
    embedded_dir = Path(embedded_dir)
    rejects = RejectCollector(SOURCE, embedded_dir)
    ids_path, array_path = embedded_dir / IDS_FILE, embedded_dir / array_name
    stats: dict = {"array": array_name}
    for path in (ids_path, array_path):
        if not path.is_file():
            rejects.add(str(path), "", FILE_MISSING, "no such file")
    if len(rejects):
        return _empty(rejects, stats)
    try:
        array = np.load(array_path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        rejects.add(str(array_path), "", BAD_ARRAY, f"cannot load: {exc}")
        return _empty(rejects, stats)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        rejects.add(str(array_path), f"shape={array.shape} dtype={array.dtype}", BAD_ARRAY,
                    "expected a 2-D float array [N, d]")
        return _empty(rejects, stats)
    if expected_dim is not None and array.shape[1] != expected_dim:
        rejects.add(str(array_path), f"shape={array.shape}", BAD_ARRAY,
                    f"feature size {array.shape[1]}, expected {expected_dim}")
        return _empty(rejects, stats)
    text = ids_path.read_bytes().decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    stats.update(rows=int(array.shape[0]), dim=int(array.shape[1]), id_lines=len(lines))
    if len(lines) != array.shape[0]:
        rejects.add(str(ids_path), f"{len(lines)} ids vs {array.shape[0]} rows", SHAPE_MISMATCH,
                    "the id file and the array must have one line per row")
        return _empty(rejects, stats)
    finite = np.isfinite(array).all(axis=1)
    rows, seen = [], {}
    for i, line in enumerate(lines):
        cid = line.strip()
        location = f"{ids_path}:{i + 1}"
        if not cid or any(ch.isspace() for ch in cid):
            rejects.add(location, line, BAD_CID, "empty or contains whitespace")
        elif cid in seen:
            rejects.add(location, cid, DUPLICATE_CID, f"first at line {seen[cid] + 1}")
        elif not finite[i]:
            rejects.add(location, cid, NON_FINITE, f"row {i} holds NaN or inf")
        else:
            seen[cid] = i
            rows.append((cid, i))
    valid = pd.DataFrame(rows, columns=["cid", "row"]).astype({"row": "int64"})
    return FeatureSet(ReadResult(SOURCE, valid, rejects.frame(), stats), array)
