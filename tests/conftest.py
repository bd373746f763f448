"""Shared test helpers: the repository root, the shared reference data, a fixed reference date."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
REF = date(2024, 6, 30)


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data folder {SHARED_DATA} is absent (it sits beside the project in CI)")
    return SHARED_DATA


def spark_session(app_name: str, shuffle_partitions: int) -> Iterator[Any]:
    """A local Spark session for a test module (two cores, ANSI mode), stopped after it; skips without Java or
    pyspark. Use it as the body of a module-scoped fixture: ``yield from spark_session(...)``."""
    if shutil.which("java") is None:
        pytest.skip("no Java on PATH: Spark needs a JVM (Java 17)")
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        pytest.skip(f"pyspark cannot be imported ({exc}); install fpschema[spark]")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (SparkSession.builder.master("local[2]").appName(app_name)
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", str(shuffle_partitions))
               .config("spark.driver.memory", "1g").config("spark.sql.ansi.enabled", "true").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
