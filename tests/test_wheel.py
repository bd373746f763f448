"""The wheel carries schemas/: build it, install it into a fresh virtual environment outside the
repository, and validate a record there."""

from __future__ import annotations

import subprocess
import sys
import venv

import pytest

from .conftest import ROOT


@pytest.mark.slow
def test_wheel_installs_and_validates_outside_the_repository(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = dist.glob("fpschema-*.whl")
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], check=True, capture_output=True)
    script = (
        "import fpschema, fpschema.contract as c\n"
        "assert 'site-packages' in str(c.schema_dir()), c.schema_dir()\n"
        "good = c.schema('service_record')['examples'][0]\n"
        "assert fpschema.validate_record(good, 'service_record') == []\n"
        "bad = dict(good, client_id='110105199003070026')\n"
        "from fpschema.reference import divisions\n"  # the division table is package data
        "assert 'site-packages' in str(divisions.files('fpschema')), divisions.files('fpschema')\n"
        "assert divisions.in_use('330113', 2023) and divisions.table().height > 6000\n"
        "print([f.rule for f in fpschema.validate_record(bad, 'service_record')])\n"
    )
    done = subprocess.run([str(python), "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['id.checksum']"
    kinds = subprocess.run([str(env / "bin" / "fpschema"), "kinds"], cwd=tmp_path, capture_output=True, text=True)
    assert "procedure_report" in kinds.stdout
