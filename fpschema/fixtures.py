"""``python -m fpschema.fixtures DIR`` (kept at its old path): runs :mod:`fpschema.testdata.fixtures`."""

import runpy

if __name__ == "__main__":
    runpy.run_module("fpschema.testdata.fixtures", run_name="__main__", alter_sys=True)
