"""Saving and loading models with skops: plain data only, never a pickle, checked against a hash."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import skops.io as sio

from nightcrew.errors import ValidationFailed
from nightcrew.intelligence.segments.model import SegmentModel
from nightcrew.intelligence.segments.schemas import ArtifactInfo

#: Types a model file may contain beyond skops' own defaults. A saved model holds only dicts, lists,
#: strings, numbers and numpy arrays, so nothing needs to be trusted; anything else is refused.
ALLOWED_EXTRA_TYPES: frozenset[str] = frozenset()
MODEL_FILE = "model.skops"


def dataset_sha256(data: bytes | pd.DataFrame) -> str:
    """SHA-256 of the training data: the file's bytes, or a frame's canonical CSV rendering."""
    if isinstance(data, pd.DataFrame):
        data = data.to_csv(index=False, lineterminator="\n").encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def model_to_bytes(model: SegmentModel) -> bytes:
    """Serialise a model with skops."""
    return bytes(sio.dumps(model.to_state()))


def trusted_types_for(data: bytes) -> list[str]:
    """The types to trust when loading ``data``: refuses any that is not on the allowlist."""
    untrusted = set(sio.get_untrusted_types(data=data))
    refused = sorted(untrusted - ALLOWED_EXTRA_TYPES)
    if refused:
        raise ValidationFailed(
            f"the model file contains types nightcrew does not load: {', '.join(refused)}",
            details={"types": refused},
        )
    return sorted(untrusted)


def model_from_bytes(data: bytes) -> SegmentModel:
    """Load a model serialised by :func:`model_to_bytes`, trusting only allowlisted types."""
    try:
        state = sio.loads(data, trusted=trusted_types_for(data))
    except ValidationFailed:
        raise
    except Exception as exc:  # skops raises a variety of errors for corrupt or foreign files
        raise ValidationFailed(f"not a readable nightcrew model file: {exc}") from exc
    if not isinstance(state, dict):
        raise ValidationFailed("not a nightcrew model file: the top level is not a mapping")
    try:
        return SegmentModel.from_state(state)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ValidationFailed(f"not a valid nightcrew model file: {exc}") from exc


def save_model(model: SegmentModel, directory: Path) -> ArtifactInfo:
    """Write ``directory/model.skops`` atomically and describe it for the registry."""
    directory.mkdir(parents=True, exist_ok=True)
    data = model_to_bytes(model)
    path = directory / MODEL_FILE
    partial = directory / f".{MODEL_FILE}.partial"
    partial.write_bytes(data)
    os.replace(partial, path)
    return ArtifactInfo(
        path=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        training_data_hash=model.training_data_hash,
        chosen_model=model.chosen_model,
        data_schema=model.schema,
    )


def load_model(path: Path, *, expected_sha256: str | None = None) -> SegmentModel:
    """Load a model file (or a directory holding ``model.skops``); with a hash, refuse a changed file."""
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise ValidationFailed(f"no model file at {path}")
    data = path.read_bytes()
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise ValidationFailed(
                f"the model file {path} has changed since it was registered (sha256 {actual[:12]}…, "
                f"expected {expected_sha256[:12]}…)"
            )
    return model_from_bytes(data)
