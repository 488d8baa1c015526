"""Export an ICTP model for LAMMPS and the input lines that make it right."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import List, Optional, Union

from .unified import ICTPUnified

__all__ = ["LammpsSettings", "export_lammps", "required_comm_cutoff"]

PathLike = Union[str, "os.PathLike[str]"]


def required_comm_cutoff(cutoff: float, n_layers: int, skin: float) -> float:
    """``comm_modify cutoff`` (Å): ``n_layers * cutoff + skin``, rounded up to 0.01 Å.

    Each message-passing layer sees one cutoff further, so an owned atom's energy depends on atoms
    ``n_layers`` cutoffs away; they must be ghost atoms (with the neighbor skin on top).
    """
    return math.ceil((n_layers * cutoff + skin) * 100.0 - 1e-6) / 100.0


@dataclass(frozen=True)
class LammpsSettings:
    """What a LAMMPS input needs for an exported model.

    Attributes:
        path: absolute path of the exported file.
        elements: the model's elements, in the order ``pair_coeff`` lists them.
        cutoff: model cutoff, Å. n_layers: message-passing layers.
        skin: the neighbor skin (Å) the comm cutoff was computed for (LAMMPS ``neighbor`` command).
        comm_cutoff: the smallest ``comm_modify cutoff``, Å.
    """

    path: str
    elements: List[str]
    cutoff: float
    n_layers: int
    skin: float
    comm_cutoff: float

    @property
    def pair_style(self) -> str:
        """``pair_style mliap unified PATH 1``: the trailing 1 turns on ghost neighbor lists."""
        return f"pair_style mliap unified {self.path} 1"

    @property
    def pair_coeff(self) -> str:
        return "pair_coeff * * " + " ".join(self.elements)

    @property
    def comm_modify(self) -> str:
        return f"comm_modify cutoff {self.comm_cutoff:g}"

    def input_lines(self) -> str:
        """The lines to paste into a LAMMPS input (``units metal``, before the first run)."""
        return "\n".join(
            [
                "units metal",
                f"neighbor {self.skin:g} bin",
                self.comm_modify,
                self.pair_style,
                self.pair_coeff,
            ]
        )


def export_lammps(
    model_file: PathLike,
    out: PathLike,
    dtype: Optional[str] = None,
    device: str = "cpu",
    skin: float = 2.0,
    check_ghost_shell: bool = True,
) -> LammpsSettings:
    """Write ``out``, the file ``pair_style mliap unified`` loads, for the ICTP model in ``model_file``.

    Args:
        model_file: an ICTP model file.
        out: the file to write (not ``*.pt``/``*.pth``: LAMMPS would ``torch.load`` those).
        dtype: ``"float32"``/``"float64"`` inference; default the model's.
        device: ``"cpu"`` or a CUDA device.
        skin: the neighbor skin (Å) of the LAMMPS input; 2 Å is LAMMPS's default for ``units metal``.
        check_ghost_shell: see :class:`~ictp_calc.lammps.unified.ICTPUnified`.

    Returns:
        The settings with the ``pair_style``, ``pair_coeff`` and ``comm_modify`` lines.

    Raises:
        ModelFileError: ``model_file`` is not a valid model. ValueError: a bad option or suffix.
    """
    if not (math.isfinite(skin) and skin >= 0.0):
        raise ValueError(f"skin must be a non-negative number of Å, got {skin}")
    unified = ICTPUnified(model_file, dtype=dtype, device=device, check_ghost_shell=check_ghost_shell)
    path = os.path.abspath(os.fspath(out))
    unified.save(path)
    return LammpsSettings(
        path=path,
        elements=list(unified.element_types),
        cutoff=unified.cutoff,
        n_layers=unified.n_layers,
        skin=float(skin),
        comm_cutoff=required_comm_cutoff(unified.cutoff, unified.n_layers, skin),
    )
