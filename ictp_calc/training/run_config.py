"""A training run's configuration file: ``[data]``, ``[model]``, ``[training]``, ``output_dir`` and
``init_from``.

Example (TOML)::

    output_dir = "runs/3bpa"
    # init_from = "ictp-3bpa"   # fine-tune: start from this model file or shipped model

    [data]
    train_file = "../shared/data/3bpa/train_300K.xyz"
    e0_file = "../shared/data/3bpa/iso_atoms.xyz"
    n_train = 450
    n_valid = 50
    seed = 0

    [model]          # any ModelConfig field except the ones computed from the data
    cutoff = 5.0

    [training]       # any TrainingConfig field
    max_epoch = 2000

Relative paths are taken relative to the working directory (run from the repository root for
the shipped configs). Unknown keys and sections are errors, never silently ignored.

With ``init_from`` (a model file or a shipped model's name) the run fine-tunes that model: its
architecture, elements, ``avg_n_neighbors``, energy scale and shift are kept, ``[model]`` may be left
out (settings given there must equal the model's, except ``dtype``), and its E0s are kept unless
``data.e0_file`` gives new ones. See :mod:`ictp_calc.training.finetune`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Optional

from ..model import ModelConfig
from .config import TrainingConfig
from .toml_io import TOMLDecodeError, dumps_toml, load_toml, loads_toml

__all__ = ["ConfigError", "DataConfig", "RunConfig", "load_run_config", "parse_assignment"]

# Model fields that the pipeline computes from the training data.
COMPUTED_MODEL_FIELDS = ("avg_n_neighbors", "atomic_energies")


class ConfigError(ValueError):
    """An invalid run configuration (unknown keys, wrong types, inconsistent values)."""


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split.

    Attributes:
        train_file: extxyz file of labelled structures.
        valid_file: separate validation file; without it ``n_valid`` structures of
            ``train_file`` are held out at random.
        e0_file: isolated-atom energies (one-atom extxyz frames with their energies).
        e0_regression: without ``e0_file``, fit E0 by least squares on the training energies
            (True) or use zeros (False).
        energy_key / forces_key / stress_key: label names in ``info``/``arrays`` or the calculator.
        n_train: training structures (None: all that are not held out).
        n_valid: validation structures (None: all of ``valid_file``, or 10% of ``train_file``).
        seed: seed of the random split.
    """

    train_file: str
    valid_file: Optional[str] = None
    e0_file: Optional[str] = None
    e0_regression: bool = True
    energy_key: str = "energy"
    forces_key: str = "forces"
    stress_key: str = "stress"
    n_train: Optional[int] = None
    n_valid: Optional[int] = None
    seed: int = 0

    def __post_init__(self):
        if self.n_train is not None and self.n_train < 1:
            raise ConfigError("data.n_train must be >= 1")
        if self.n_valid is not None and self.n_valid < 0:
            raise ConfigError("data.n_valid must be >= 0")

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RunConfig:
    """A whole run: data, model architecture (a partial ModelConfig), optimization, output.

    ``init_from``: a model file or shipped model to fine-tune (None: a new model).
    """

    data: DataConfig
    model: Dict[str, Any] = field(default_factory=dict)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    output_dir: str = "runs/ictp"
    init_from: Optional[str] = None

    def model_config(self, atomic_numbers) -> ModelConfig:
        """The ModelConfig for these elements (``[model].atomic_numbers`` wins when given)."""
        values = {"atomic_numbers": tuple(atomic_numbers), **self.model}
        return ModelConfig.from_dict(values)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "output_dir": self.output_dir,
            "data": self.data.to_dict(),
            "model": dict(self.model),
            "training": self.training.to_dict(),
            "init_from": self.init_from,
        }

    def to_toml(self) -> str:
        return dumps_toml(self.to_dict())

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "RunConfig":
        """Validate every section; errors name the offending key."""
        unknown = sorted(set(data) - {"output_dir", "data", "model", "training", "init_from"})
        if unknown:
            raise ConfigError(f"unknown top-level keys or sections: {unknown}")
        if "data" not in data:
            raise ConfigError("the [data] section (with train_file) is required")
        return cls(
            data=_typed(DataConfig, data["data"], "data"),
            model=_model_section(data.get("model", {})),
            training=_typed(TrainingConfig, data.get("training", {}), "training"),
            output_dir=_check_str(data.get("output_dir", "runs/ictp"), "output_dir"),
            init_from=None if data.get("init_from") is None else _check_str(data["init_from"], "init_from"),
        )

    def with_overrides(self, assignments: Iterable[str] = (), **values: Any) -> "RunConfig":
        """Apply ``section.key=value`` assignments, then keyword overrides (None = keep).

        Keywords: ``epochs``, ``device``, ``dtype``, ``seed`` (init and shuffling), ``split_seed``,
        ``output_dir`` and ``init_from``.
        """
        raw = self.to_dict()
        for text in assignments:
            section, key, value = parse_assignment(text)
            if section is None:
                raw[key] = value
            else:
                raw.setdefault(section, {})[key] = value
        mapping = {
            "epochs": ("training", "max_epoch"),
            "device": ("training", "device"),
            "seed": ("training", "seed"),
            "split_seed": ("data", "seed"),
            "dtype": ("model", "dtype"),
        }
        for name, value in values.items():
            if value is None:
                continue
            if name in ("output_dir", "init_from"):
                raw[name] = value
            elif name in mapping:
                section, key = mapping[name]
                raw[section][key] = value
            else:
                raise TypeError(f"unknown override {name!r}")
        return RunConfig.from_dict(raw)


def _check_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r}")
    return value


def _typed(cls, section: Any, name: str):
    """Build ``cls`` from a section, checking each value against the field's default type."""
    if not isinstance(section, dict):
        raise ConfigError(f"[{name}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise ConfigError(f"unknown keys in [{name}]: {unknown} (known: {sorted(fields)})")
    for key, value in section.items():
        default = fields[key].default
        if default is dataclasses.MISSING or default is None:
            expected = str if key.endswith("_file") else int
            ok = value is None or (isinstance(value, expected) and not isinstance(value, bool))
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, type(default)) and not isinstance(value, bool)
        if not ok:
            raise ConfigError(f"{name}.{key} has the wrong type: {value!r}")
    try:
        return cls(**section)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"[{name}]: {err}") from err


def _model_section(section: Any) -> Dict[str, Any]:
    """Check a partial ModelConfig by building it with placeholder elements."""
    if not isinstance(section, dict):
        raise ConfigError("[model] must be a table")
    computed = sorted(set(section) & set(COMPUTED_MODEL_FIELDS))
    if computed:
        raise ConfigError(
            f"[model] sets {computed}, which are computed from the training data "
            "(give isolated-atom energies with data.e0_file)"
        )
    try:
        ModelConfig.from_dict({"atomic_numbers": (1,), **section})
    except (TypeError, ValueError) as err:
        raise ConfigError(f"[model]: {err}") from err
    return dict(section)


def parse_assignment(text: str):
    """``"training.lr=0.005"`` -> ``("training", "lr", 0.005)``; values are TOML literals.

    A bare word that is not a TOML literal is taken as a string (``model.dtype=float32``).
    """
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    name, value = (part.strip() for part in text.split("=", 1))
    section, _, key = name.rpartition(".")
    try:
        parsed = loads_toml(f"v = {value}")["v"]
    except TOMLDecodeError:
        parsed = value
    return (section or None), key, parsed


def load_run_config(path: str) -> RunConfig:
    """Read and validate a TOML run configuration."""
    try:
        raw = load_toml(path)
    except FileNotFoundError as err:
        raise ConfigError(f"config file {path!r} does not exist") from err
    except TOMLDecodeError as err:
        raise ConfigError(f"{path}: invalid TOML ({err})") from err
    return RunConfig.from_dict(raw)
