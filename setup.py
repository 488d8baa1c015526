"""Build hook: copy the shipped models (``models/*.pt``) into the package as ``ictp_calc/shipped_models/``.

Everything else is declared in ``setup.cfg``. The model files stay in one place in the repository
(``models/``); a wheel or a non-editable install carries them as package data, where
:mod:`ictp_calc.io.shipped` looks first.
"""

import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithModels(build_py):
    """``build_py`` that also copies ``models/*.pt`` into ``<build>/ictp_calc/shipped_models/``."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's models/ directly
        target = os.path.join(self.build_lib, "ictp_calc", "shipped_models")
        os.makedirs(target, exist_ok=True)
        for path in sorted(glob.glob(os.path.join(HERE, "models", "*.pt"))):
            shutil.copy2(path, target)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        target = os.path.join(self.build_lib, "ictp_calc", "shipped_models")
        return outputs + [os.path.join(target, os.path.basename(p))
                          for p in sorted(glob.glob(os.path.join(HERE, "models", "*.pt")))]


setup(cmdclass={"build_py": BuildWithModels})
