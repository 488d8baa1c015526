"""Model files (format version 2): weights-only layout, round trips, migration of version 1 files, and
every way a file can be wrong raising ModelFileError."""

import os

import pytest
import torch

import ictp_calc
from ictp_calc.data import atoms_to_graph, batch_graphs
from ictp_calc.io import FORMAT_VERSION, ModelFileError, load_model, read_model_file, save_model
from ictp_calc.model import ModelConfig, compute_properties


def outputs(model, structures):
    c = model.config
    graph = batch_graphs([atoms_to_graph(atoms, c.atomic_numbers, c.cutoff, model.dtype) for atoms in structures])
    return {k: v.detach() for k, v in compute_properties(model, graph, stress=True).items()}


def payload_of(model, tmp_path):
    path = tmp_path / "source.pt"
    save_model(model, path)
    return torch.load(path, weights_only=True)


def write(tmp_path, payload, name="edited.pt"):
    path = tmp_path / name
    torch.save(payload, path)
    return path


def assert_rejected(path, match=None):
    with pytest.raises(ModelFileError, match=match):
        read_model_file(path)
    with pytest.raises(ModelFileError, match=match):
        load_model(path)


def test_round_trip_gives_identical_outputs(small_model, structures, dtype, tmp_path):
    path = tmp_path / "model.pt"
    save_model(small_model, path)
    loaded, metadata = load_model(path)
    assert loaded.config == small_model.config and loaded.dtype == dtype and not loaded.training
    expected, actual = outputs(small_model, structures), outputs(loaded, structures)
    assert expected.keys() == actual.keys()
    for key, value in expected.items():  # bitwise equal; the molecule's stress is NaN (no volume)
        torch.testing.assert_close(actual[key], value, rtol=0, atol=0, equal_nan=True)
    for key, value in small_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert float(loaded.energy_scale) == 2.5


def test_file_is_weights_only_with_primitive_config_and_metadata(small_model, dtype, tmp_path):
    path = tmp_path / "model.pt"
    save_model(small_model, path, metadata={"training": {"epochs": 3, "note": "unit test"}})
    payload = torch.load(path, weights_only=True)
    assert set(payload) == {"format_version", "config", "metadata", "state_dict"}
    assert payload["format_version"] == FORMAT_VERSION == 2
    assert "atomic_numbers" not in payload["state_dict"]  # the unused buffer of version 1
    assert payload["config"] == small_model.config.to_dict()
    assert ModelConfig.from_dict(payload["config"]) == small_model.config
    assert all(isinstance(v, (type(None), bool, int, float, str, list)) for v in payload["config"].values())
    meta = payload["metadata"]
    assert meta["elements"] == ["H", "C", "N", "O"]
    assert meta["cutoff"] == 4.0
    assert meta["dtype"] == {torch.float32: "float32", torch.float64: "float64"}[dtype]
    assert meta["package_version"] == ictp_calc.__version__
    assert meta["training"] == {"epochs": 3, "note": "unit test"}
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())
    assert load_model(path)[1] == meta
    assert os.listdir(tmp_path) == ["model.pt"]  # no temporary file left behind


def version_1_payload(model, tmp_path, elements=None):
    """The file that format version 1 wrote: the same, plus the ``atomic_numbers`` buffer."""
    payload = payload_of(model, tmp_path)
    payload["format_version"] = 1
    elements = model.config.atomic_numbers if elements is None else elements
    payload["state_dict"] = {"atomic_numbers": torch.tensor(elements, dtype=torch.long), **payload["state_dict"]}
    return payload


def test_version_1_file_loads_with_identical_outputs(small_model, structures, tmp_path):
    path = write(tmp_path, version_1_payload(small_model, tmp_path), "old.pt")
    raw = read_model_file(path)
    assert raw["format_version"] == 1 and "atomic_numbers" not in raw["state_dict"]
    loaded, _ = load_model(path)
    expected, actual = outputs(small_model, structures), outputs(loaded, structures)
    for key, value in expected.items():
        torch.testing.assert_close(actual[key], value, rtol=0, atol=0, equal_nan=True)
    # Saving it again writes the current version.
    save_model(loaded, tmp_path / "new.pt")
    assert torch.load(tmp_path / "new.pt", weights_only=True)["format_version"] == FORMAT_VERSION


def test_version_1_file_whose_buffer_contradicts_its_config_is_refused(small_model, tmp_path):
    path = write(tmp_path, version_1_payload(small_model, tmp_path, elements=(1, 6, 7, 9)), "old.pt")
    assert_rejected(path, match=r"elements \[1, 6, 7, 9\]")


def test_saving_over_an_existing_file_replaces_it(small_model, tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"old contents")
    save_model(small_model, path)
    assert load_model(path)[0].config == small_model.config


@pytest.mark.parametrize("dtype", [torch.float64], ids=["float64"])
def test_newer_format_version_is_refused_with_the_version(small_model, tmp_path):
    payload = payload_of(small_model, tmp_path)
    payload["format_version"] = FORMAT_VERSION + 1
    assert_rejected(write(tmp_path, payload), match=str(FORMAT_VERSION + 1))


@pytest.mark.parametrize("version", [0, -1, "1", 1.0, None])
@pytest.mark.parametrize("dtype", [torch.float64], ids=["float64"])
def test_invalid_format_version_is_refused(small_model, tmp_path, version):
    payload = payload_of(small_model, tmp_path)
    payload["format_version"] = version
    assert_rejected(write(tmp_path, payload))


CORRUPTIONS = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "random-bytes": lambda data: os.urandom(4096),
    "text": lambda data: b"this is not a model\n" * 10,
    "flipped-bytes": lambda data: data[:64] + bytes(b ^ 0xFF for b in data[64:2048]) + data[2048:],
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
@pytest.mark.parametrize("dtype", [torch.float64], ids=["float64"])
def test_corrupt_and_truncated_files_are_refused(small_model, tmp_path, corrupt):
    good = tmp_path / "good.pt"
    save_model(small_model, good)
    path = tmp_path / "corrupt.pt"
    path.write_bytes(corrupt(good.read_bytes()))
    assert_rejected(path)


@pytest.mark.parametrize(
    "payload",
    [torch.zeros(3), [1, 2, 3], {"state_dict": {}}, {"format_version": 1, "config": {}, "metadata": {}}],
    ids=["tensor", "list", "only-state-dict", "no-state-dict"],
)
def test_plain_torch_files_are_not_models(tmp_path, payload):
    assert_rejected(write(tmp_path, payload), match="not an ictp_calc model file")


def test_missing_path_and_directory_are_refused(tmp_path):
    assert_rejected(tmp_path / "nowhere.pt", match="does not exist")
    assert_rejected(tmp_path)


class _Trap:
    """Unpickling this would create a file: a weights-only load must refuse it instead."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("dtype", [torch.float64], ids=["float64"])
def test_arbitrary_pickled_objects_are_never_executed(small_model, tmp_path):
    payload = payload_of(small_model, tmp_path)
    marker = tmp_path / "pwned"
    payload["metadata"]["trap"] = _Trap(marker)
    assert_rejected(write(tmp_path, payload))
    assert not marker.exists()


@pytest.mark.parametrize("dtype", [torch.float64], ids=["float64"])
def test_unknown_config_key_is_refused(small_model, tmp_path):
    payload = payload_of(small_model, tmp_path)
    payload["config"]["r_max"] = 5.0
    path = write(tmp_path, payload)
    read_model_file(path)  # the container itself is fine
    with pytest.raises(ModelFileError, match="r_max"):
        load_model(path)


INCONSISTENT = {
    "invalid config value": lambda p: p["config"].update(cutoff=-1.0),
    "config of another shape": lambda p: p["config"].update(n_hidden_feats=16),
    "config missing a key": lambda p: p["config"].pop("atomic_numbers"),
    "missing weight": lambda p: p["state_dict"].pop(next(iter(p["state_dict"]))),
    "extra weight": lambda p: p["state_dict"].update(extra=torch.zeros(2)),
    "zero-width radial layer": lambda p: p["config"].update(radial_mlp=[16, 0]),
}


@pytest.mark.parametrize("edit", INCONSISTENT.values(), ids=INCONSISTENT.keys())
@pytest.mark.parametrize("dtype", [torch.float64], ids=["float64"])
def test_inconsistent_model_is_refused(small_model, tmp_path, edit):
    payload = payload_of(small_model, tmp_path)
    edit(payload)
    with pytest.raises(ModelFileError):
        load_model(write(tmp_path, payload))
