"""The shipped 3BPA model: ``ictp-md eval`` reproduces its card, and the card states those numbers."""

import json
import re

import pytest
from cli_helpers import REPO, SHARED_3BPA
from click.testing import CliRunner

from ictp_calc.cli import main
from ictp_calc.io import file_checksum, load_model

MODEL = REPO / "models" / "ictp-3bpa.pt"
CARD_NUMBERS = REPO / "models" / "ictp-3bpa.json"
CARD = REPO / "models" / "README.md"
METRICS = ("energy_rmse", "energy_mae", "energy_per_atom_rmse", "forces_rmse", "forces_mae")


def _card():
    return json.loads(CARD_NUMBERS.read_text())


def test_shipped_model_loads_and_matches_its_card():
    model, metadata = load_model(MODEL)
    card = _card()
    assert file_checksum(MODEL) == card["sha256"]
    assert model.config.dtype == card["dtype"]
    assert sum(p.numel() for p in model.parameters()) == card["n_parameters"]
    assert metadata["training"]["data"]["train_file_sha256"] == card["train_file_sha256"]
    assert len(metadata["training"]["data"]["valid_indices"]) == card["n_valid"] == 50


@pytest.mark.skipif(not SHARED_3BPA.is_dir(),
                    reason="../shared/data/3bpa is absent (the 3BPA data is not in this repo)")
def test_eval_reproduces_the_card_validation_errors():
    data = str(SHARED_3BPA / "train_300K.xyz")
    result = CliRunner().invoke(main, ["eval", str(MODEL), data, "--valid-split", "--json"])
    assert result.exit_code == 0, result.output
    measured = json.loads(result.output)["files"][0]
    assert measured["n_structures"] == 50
    for name in METRICS:
        assert measured[name] == pytest.approx(_card()["validation"][name], rel=1e-6), name


def test_model_card_states_the_recorded_errors():
    """The numbers typed into models/README.md are the recorded ones (to the printed precision)."""
    text, validation = CARD.read_text(), _card()["validation"]
    for name in ("energy_rmse", "forces_rmse"):
        printed = re.search(rf"<!-- {name} -->\s*([0-9.]+)", text)
        assert printed, f"models/README.md has no '<!-- {name} -->' value"
        assert float(printed.group(1)) == pytest.approx(validation[name], abs=0.051), name
