"""The three backbone dihedrals of 3BPA, found from the connectivity of a structure (used by examples 01, 03).

3BPA (3-(benzyloxy)pyridin-2-amine) is a 2-aminopyridine ring and a phenyl ring joined by an
-O-CH2- linker; its flexibility is the rotation about the three bonds of that linker:

* ``alpha``: C2-C3-O-CH2, about the ring-C3-O bond (C2 is the ring carbon carrying the NH2);
* ``beta``:  C3-O-CH2-C(ipso), about the O-CH2 bond;
* ``gamma``: O-CH2-C(ipso)-C(ortho), about the CH2-phenyl bond (the ortho carbon with the lower index).

With ``examples/data/3bpa_start.xyz`` these are atoms (1, 2, 12, 13), (2, 12, 13, 14) and
(12, 13, 14, 17). They are derived here from the bonds rather than hard-coded, so the examples keep
working with any atom order (for example after replacing the starting geometry).
"""

from __future__ import annotations

from typing import Dict, List, Set, Tuple

import numpy as np
from ase import Atoms

from ictp_calc.md.health import covalent_bonds

NAMES = ("alpha", "beta", "gamma")


def neighbors(atoms: Atoms) -> Dict[int, Set[int]]:
    """Bonded neighbors of every atom (covalent radii times 1.2, as the health monitor uses)."""
    table: Dict[int, Set[int]] = {i: set() for i in range(len(atoms))}
    for i, j in covalent_bonds(atoms):
        table[int(i)].add(int(j))
        table[int(j)].add(int(i))
    return table


def backbone_dihedrals(atoms: Atoms) -> Dict[str, Tuple[int, int, int, int]]:
    """``{"alpha": (i, j, k, l), "beta": ..., "gamma": ...}`` for a 3BPA structure (see the module docstring)."""
    nb = neighbors(atoms)
    z = atoms.numbers

    def count(i: int, element: int) -> int:
        return sum(z[j] == element for j in nb[i])

    # The ether oxygen: the only O, bonded to two carbons.
    (o,) = [i for i in range(len(atoms)) if z[i] == 8 and count(i, 6) == 2]
    (ch2,) = [j for j in nb[o] if count(j, 1) == 2]
    (c3,) = [j for j in nb[o] if j != ch2]
    amine_n = [i for i in range(len(atoms)) if z[i] == 7 and count(i, 1) == 2]
    (c2,) = [j for j in nb[c3] if z[j] == 6 and any(k in amine_n for k in nb[j])]
    (ipso,) = [j for j in nb[ch2] if z[j] == 6]
    ortho = min(j for j in nb[ipso] if j != ch2)
    return {"alpha": (c2, c3, o, ch2), "beta": (c3, o, ch2, ipso), "gamma": (o, ch2, ipso, ortho)}


def dihedral(atoms: Atoms, indices: Tuple[int, int, int, int]) -> float:
    """The dihedral in degrees, in (-180, 180]."""
    angle = atoms.get_dihedral(*indices)
    return float(angle - 360.0 if angle > 180.0 else angle)


def moving_side(atoms: Atoms, indices: Tuple[int, int, int, int]) -> List[int]:
    """The atoms on the far side of the central bond (j, k): everything reached from k without crossing j."""
    nb = neighbors(atoms)
    _, j, k, _ = indices
    seen, todo = {k}, [k]
    while todo:
        for n in nb[todo.pop()]:
            if n != j and n not in seen:
                seen.add(n)
                todo.append(n)
    if j in seen:
        raise ValueError(f"bond {j}-{k} is in a ring; a dihedral about it cannot be scanned rigidly")
    return sorted(seen)


def is_intact(atoms: Atoms, reference: Atoms, factor: float = 1.5) -> bool:
    """Every bond of ``reference`` shorter than ``factor`` times its reference length in ``atoms``."""
    bonds = covalent_bonds(reference)
    ref = np.linalg.norm(reference.positions[bonds[:, 0]] - reference.positions[bonds[:, 1]], axis=1)
    now = np.linalg.norm(atoms.positions[bonds[:, 0]] - atoms.positions[bonds[:, 1]], axis=1)
    return bool((now < factor * ref).all())
