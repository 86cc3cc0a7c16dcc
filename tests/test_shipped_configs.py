"""Every config shipped in configs/ (the recipes of configs/reach/ included) passes validation."""
from pathlib import Path

import pytest

from relusim import config

CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").rglob("*.yaml"))


def test_the_configs_folder_is_found():
    assert len(CONFIGS) >= 20 and any(p.parent.name == "reach" for p in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(p.parents[1] if p.parent.name == "reach" else p.parent)))
def test_every_shipped_config_validates(path):
    cfg = config.load(str(path))
    assert cfg.model.P > 0 and cfg.samples >= 1
