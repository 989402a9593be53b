"""build_model / load_model: kinds, options, corrupt and foreign files."""

from __future__ import annotations

import pytest
import torch

from alforge.errors import ModelError
from alforge.models import CommitteePotential, GPPotential, build_model, load_model


def test_build_known_kinds():
    assert isinstance(build_model("gp", kernel="rbf"), GPPotential)
    assert isinstance(build_model("committee", n_members=2), CommitteePotential)


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(ModelError, match="unknown model kind 'nn'; use one of committee, gp"):
        build_model("nn")


def test_bad_options():
    with pytest.raises(ModelError, match="invalid options for a 'gp' model"):
        build_model("gp", colour="blue")


def test_load_refuses_missing_corrupt_and_foreign_files(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        load_model(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match="corrupt"):
        load_model(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ModelError, match="not an alforge model file"):
        load_model(foreign)
    unknown = tmp_path / "unknown.pt"
    torch.save({"format": "alforge-potential", "version": 1, "kind": "nn", "state": {}}, unknown)
    with pytest.raises(ModelError, match="kind 'nn'"):
        load_model(unknown)
    incomplete = tmp_path / "incomplete.pt"
    torch.save({"format": "alforge-potential", "version": 1, "kind": "gp", "state": {"numbers": [1]}}, incomplete)
    with pytest.raises(ModelError, match="incomplete"):
        load_model(incomplete)


def test_truncated_model_file_is_refused(methane, tmp_path):
    model = GPPotential(max_iterations=3)
    model.fit(methane.train[:4])
    path = model.save(tmp_path / "model.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="corrupt"):
        load_model(path)
