"""Campaign specs: the examples load; unknown keys and impossible values name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from alforge.config import CampaignSpec, load_spec
from alforge.errors import SpecError

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.mark.parametrize("name", ["water.toml", "ethanol.toml"])
def test_examples_load(name: str) -> None:
    spec = load_spec(EXAMPLES / name)
    assert spec.name == name.removesuffix(".toml")
    assert spec.exploration.walkers >= 1


def base() -> dict:  # type: ignore[type-arg]
    return {"name": "t", "system": {"molecule": "H2O"}}


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"exploration": {"walkers": 0}}, "exploration.walkers"),
        ({"exploration": {"timestep_fs": -1}}, "exploration.timestep_fs"),
        ({"exploration": {"temperatures_K": []}}, "exploration.temperatures_K"),
        ({"exploration": {"rewind_after": -1}}, "exploration.rewind_after"),
        ({"selection": {"max_labels": 0}}, "selection.max_labels"),
        ({"selection": {"method": "psychic"}}, "selection.method"),
        ({"stopping": {"confident_fraction": 1.5}}, "stopping.confident_fraction"),
        ({"exploratoin": {}}, "exploratoin"),
        ({"oracle": {"basis_set": "sto-3g"}}, "oracle.basis_set"),
        ({"system": {"molecule": "H2O", "structures": "x.xyz"}}, "system"),
        ({"system": {"molecule": "Unobtainium"}}, "system"),
        ({"name": "bad name!"}, "name"),
    ],
)
def test_bad_values_name_the_key(patch: dict, key: str) -> None:  # type: ignore[type-arg]
    data = base() | patch
    with pytest.raises(SpecError) as info:
        CampaignSpec.from_dict(data)
    assert f"`{key}" in str(info.value)
    assert "\n" not in str(info.value)


def test_relative_structure_paths_resolve_against_the_spec(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    spec_file = tmp_path / "sub" / "c.toml"
    spec_file.write_text('name = "c"\n[system]\nstructures = "start.xyz"\n')
    assert load_spec(spec_file).system.structures == (tmp_path / "sub" / "start.xyz").resolve()


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("name = [unclosed\n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(broken)
    with pytest.raises(SpecError, match="no such spec file"):
        load_spec(tmp_path / "absent.toml")


def test_absolute_threshold_overrides_relative() -> None:
    spec = CampaignSpec.from_dict(base() | {"selection": {"threshold_eV_per_A": 0.2}})
    assert spec.selection.threshold_eV_per_A == 0.2
    assert spec.selection.threshold_relative is None
