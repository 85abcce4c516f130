"""The package under test is the installed wheel, not the source tree."""

import os
import sysconfig

import monitoring
from monitoring import _native


def test_imported_from_site_packages():
    site = os.path.realpath(sysconfig.get_paths()["purelib"])
    assert os.path.realpath(monitoring.__file__).startswith(site), monitoring.__file__
    assert os.path.realpath(_native.__file__).startswith(site)
    assert _native.__file__.endswith(".abi3.so")


def test_version_and_typing_files():
    assert monitoring.__version__ == "0.1.0"
    pkg = os.path.dirname(monitoring.__file__)
    assert os.path.exists(os.path.join(pkg, "py.typed"))
    assert os.path.exists(os.path.join(pkg, "_native.pyi"))
