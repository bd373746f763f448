"""The exit contract of the command line (docs/cli.md): 0 valid, 1 findings of severity error, 2 input or usage
error (unwritable output, interrupt included), 3 internal error; a coded message, never a traceback unless
``--debug``; outputs written whole or not at all, never over an input or each other; cells shown on the terminal
with markup and control characters escaped. Real processes on real files: a full tmpfs, /dev/full, a read-only
mount, a directory without write permission, a real SIGINT."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from fpschema.errors import CODES, InputError, OutputError
from fpschema.io import writer
from fpschema.testdata import generator

from .conftest import REF, ROOT

KIND = "service_record"
BIG_ROWS = 400_000  # large enough that validating takes well over the time to deliver a signal
NOBODY = 65534  # uid and gid of the unprivileged user the permission test runs as


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package, from any working directory


def run(*args, cwd=ROOT, **kw):
    return subprocess.run([sys.executable, "-m", "fpschema", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, env=ENV, **kw)


def _clean(done: subprocess.CompletedProcess, code: int, *codes: str) -> None:
    """Exit ``code``, each of ``codes`` in stderr as [code], and no traceback."""
    assert done.returncode == code, (done.returncode, done.stdout[-2000:], done.stderr[-2000:])
    for c in codes:
        assert f"[{c}]" in done.stderr, (c, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout


def _data(folder: Path, name: str = "data.csv", rows: int = 40, seed: int = 5, rate: float = 0.3) -> Path:
    frame, _ = generator.generate(KIND, rows, seed=seed, defects="all", defect_rate=rate, reference_date=REF)
    return writer.write(frame, folder / name, KIND)


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if writer.TMP_SUFFIX in p.name]


@contextlib.contextmanager
def _tmpfs(where: Path, *options: str):
    """A real small file system mounted at ``where`` (root only); skipped where mounting is not allowed."""
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)],
                          capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("big")
    return generator.write_generated(folder / "big.csv", KIND, BIG_ROWS, seed=3, reference_date=REF)[0]


# ------------------------------------------------------------------------------------------------ the codes
def test_every_new_code_has_a_chinese_and_an_english_message():
    for code in ("usage.option", "output.is_directory", "output.not_found", "output.not_a_directory",
                 "output.permission", "output.read_only", "output.no_space", "output.unwritable",
                 "output.same_as_input", "output.collision", "interrupted", "internal.error", "input.too_deep",
                 "input.unreadable"):
        zh, en = CODES[code]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh) and en.isascii(), code


# ------------------------------------------------------------------------------------------------- usage: 2
@pytest.mark.parametrize("args", [
    ["validate", "{data}", "--bogus"],
    ["validate"],
    ["validate", "{data}", "--format", "pdf"],
    ["validate", "{data}", "--max-findings", "-3"],
    ["check-records", "no_such_kind", "{data}"],
    ["generate", KIND, "--output", "{data}.x"],
    ["no-such-command"],
])
def test_usage_errors_exit_2_with_a_coded_message(tmp_path, args):
    data = _data(tmp_path)
    done = run(*(a.replace("{data}", str(data)) for a in args))
    _clean(done, 2, "usage.option")
    assert "命令有误" in done.stderr
    done = run(*(a.replace("{data}", str(data)) for a in args), "--lang", "en")
    _clean(done, 2, "usage.option")
    assert "wrong command" in done.stderr


def test_an_encoding_that_is_not_a_text_encoding_is_a_usage_error(tmp_path):
    _clean(run("validate", _data(tmp_path), "--encoding", "rot13"), 2, "input.unknown_encoding")


def test_help_and_version_exit_0():
    assert run("--help").returncode == 0 and "--debug" in run("--help").stdout
    assert run("validate", "--help").returncode == 0 and run("--version").returncode == 0


# --------------------------------------------------------------------------------------- outputs and inputs
def test_an_output_that_is_a_directory_is_error_2(tmp_path):
    data = _data(tmp_path)
    folder = tmp_path / "reports"
    folder.mkdir()
    _clean(run("validate", data, "--format", "json", "--output", folder), 2, "output.is_directory")
    _clean(run("validate", data, "--valid-out", folder), 2, "output.is_directory")
    _clean(run("generate", KIND, "--rows", "5", "--output", folder), 2, "output.is_directory")
    assert list(folder.iterdir()) == []


def test_an_output_in_a_missing_folder_is_error_2(tmp_path):
    data = _data(tmp_path)
    _clean(run("validate", data, "--format", "json", "--output", tmp_path / "no" / "r.json"), 2, "output.not_found")
    assert not (tmp_path / "no").exists()


def test_outputs_never_overwrite_an_input(tmp_path):
    data = _data(tmp_path)
    original = data.read_bytes()
    (tmp_path / "link.csv").symlink_to(data)
    os.link(data, tmp_path / "hard.csv")
    (tmp_path / "sub").mkdir()
    explanations = tmp_path / "notes.csv"
    explanations.write_text("division_code,rule,explanation\n", encoding="utf-8")
    cases = [
        ["--valid-out", data],
        ["--invalid-out", tmp_path / "sub" / ".." / "data.csv"],
        ["--invalid-out", tmp_path / "link.csv"],
        ["--valid-out", tmp_path / "hard.csv"],
        ["--format", "json", "--output", data],
        ["--format", "csv", "--output", explanations, "--explanations", explanations],
    ]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for extra in cases:
        _clean(run("validate", data, *extra, "--reference-date", REF), 2, "output.same_as_input")
        assert data.read_bytes() == original, extra
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert explanations.read_text(encoding="utf-8") == "division_code,rule,explanation\n"
    # a relative spelling from another working directory
    done = run("validate", "data.csv", "--valid-out", "./sub/../data.csv", cwd=tmp_path)
    _clean(done, 2, "output.same_as_input")
    assert data.read_bytes() == original


def test_generate_never_overwrites_its_profile(tmp_path):
    profile = tmp_path / "profile.json"
    profile.write_text("{}", encoding="utf-8")
    _clean(run("generate", KIND, "--rows", "5", "--profile", profile, "--output", profile), 2, "output.same_as_input")
    assert profile.read_text(encoding="utf-8") == "{}"


def test_outputs_never_overwrite_each_other(tmp_path):
    data = _data(tmp_path)
    out = tmp_path / "rows.csv"
    _clean(run("validate", data, "--valid-out", out, "--invalid-out", out), 2, "output.collision")
    _clean(run("validate", data, "--format", "csv", "--output", out, "--invalid-out", tmp_path / "." / "rows.csv"),
           2, "output.collision")
    assert not out.exists()


def test_same_stem_inputs_into_one_folder_are_a_usage_error_before_anything_is_written(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = _data(tmp_path / "a", "x.csv"), _data(tmp_path / "b", "x.csv", seed=6)
    reports = tmp_path / "reports"
    done = run("validate", first, second, "--format", "json", "--output", reports)
    _clean(done, 2, "output.collision")
    assert "x.json" in done.stderr and not reports.exists()
    done = run("validate", first, second, "--valid-out", tmp_path / "ok", "--lang", "en")
    _clean(done, 2, "output.collision")
    assert "would write the same file" in done.stderr and not (tmp_path / "ok").exists()
    # different stems into one folder: one report each
    renamed = second.rename(tmp_path / "b" / "y.csv")
    done = run("validate", first, renamed, "--format", "json", "--output", reports, "--reference-date", REF)
    assert done.returncode == 1, done.stderr
    assert sorted(p.name for p in reports.iterdir()) == ["x.json", "y.json"]


def test_several_inputs_need_folders_not_files(tmp_path):
    first, second = _data(tmp_path, "x.csv"), _data(tmp_path, "y.csv", seed=6)
    file = tmp_path / "out.json"
    file.write_text("keep", encoding="utf-8")
    _clean(run("validate", first, second, "--format", "json", "--output", file), 2, "output.not_a_directory")
    assert file.read_text(encoding="utf-8") == "keep"


# ---------------------------------------------------------------------------------- failed writes: 2, whole
def test_a_full_disk_is_error_2_and_leaves_the_old_report_whole(tmp_path):
    small = _data(tmp_path, "small.csv", rows=10)
    large = _data(tmp_path, "large.csv", rows=20_000, rate=0.6)
    with _tmpfs(tmp_path / "disk", "size=256k") as disk:
        report = disk / "report.json"
        done = run("validate", small, "--format", "json", "--output", report, "--reference-date", REF)
        assert done.returncode == 1, done.stderr
        old = report.read_bytes()
        assert json.loads(old)["rows_total"] == 10
        done = run("validate", large, "--format", "json", "--output", report, "--reference-date", REF)
        _clean(done, 2, "output.no_space")
        assert report.read_bytes() == old and _leftovers(disk) == []
        for fmt in ("html", "csv"):
            _clean(run("validate", large, "--format", fmt, "--output", report, "--reference-date", REF), 2,
                   "output.no_space")
            assert report.read_bytes() == old
        _clean(run("validate", large, "--invalid-out", disk / "bad.csv", "--reference-date", REF), 2,
               "output.no_space")
        done = run("generate", KIND, "--rows", "20000", "--output", disk / "gen.csv")
        _clean(done, 2, "output.no_space")
        assert sorted(p.name for p in disk.iterdir()) == ["report.json"]


def test_stdout_on_a_full_device_is_error_2_and_the_report_is_still_written(tmp_path):
    data = _data(tmp_path)
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "fpschema", "validate", str(data), "--reference-date",
                               str(REF)], cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True)
        assert done.returncode == 2 and "[output.no_space]" in done.stderr and "Traceback" not in done.stderr
        report = tmp_path / "r.json"
        done = subprocess.run([sys.executable, "-m", "fpschema", "validate", str(data), "--format", "json",
                               "--output", str(report), "--reference-date", str(REF)], cwd=ROOT, stdout=full,
                              stderr=subprocess.PIPE, text=True)
    assert done.returncode == 2 and "[output.no_space]" in done.stderr and "Traceback" not in done.stderr
    assert json.loads(report.read_text(encoding="utf-8"))["rows_total"] == 40


def test_a_closed_stdout_pipe_is_error_2_without_a_traceback(tmp_path):
    data = _data(tmp_path, rows=5_000, rate=0.6)  # a JSON report of megabytes: far more than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "fpschema", "validate", str(data), "--format", "json", "--lang",
                             "en"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader goes away, as `| head` does
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 2, err
    assert "[output.unwritable]" in err and "standard output" in err and "Traceback" not in err
    assert "Exception ignored" not in err


def test_a_read_only_file_system_is_error_2(tmp_path):
    data = _data(tmp_path)
    with _tmpfs(tmp_path / "ro", "size=64k", "ro") as ro:
        _clean(run("validate", data, "--format", "json", "--output", ro / "r.json"), 2, "output.read_only")
        _clean(run("validate", data, "--valid-out", ro / "ok.csv"), 2, "output.read_only")


@pytest.mark.skipif(os.geteuid() != 0, reason="switches to an unprivileged user")
def test_permission_denied_is_error_2():
    base = Path(tempfile.mkdtemp(prefix="fpschema-perm-"))
    try:
        base.chmod(0o755)
        data = _data(base)
        data.chmod(0o644)
        locked = base / "locked"
        locked.mkdir(mode=0o555)
        locked.chmod(0o555)
        for extra in (["--format", "json", "--output", locked / "r.json"], ["--invalid-out", locked / "bad.csv"]):
            done = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                   sys.executable, "-m", "fpschema", "validate", str(data), *map(str, extra)],
                                  cwd=base, env=ENV, capture_output=True, text=True)
            _clean(done, 2, "output.permission")
        assert list(locked.iterdir()) == []
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=True)


def test_concurrent_validations_into_one_report_leave_one_whole_report(tmp_path):
    inputs = [_data(tmp_path, f"in{i}.csv", rows=300 * (i + 1), seed=i) for i in range(3)]
    report = tmp_path / "report.json"
    procs = [subprocess.Popen([sys.executable, "-m", "fpschema", "validate", str(p), "--format", "json", "--output",
                               str(report), "--reference-date", str(REF)], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for p in inputs]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 1 and "Traceback" not in err, err
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert doc["rows_total"] in (300, 600, 900) and _leftovers(tmp_path) == []


def test_concurrent_writers_never_interleave_and_a_reader_sees_only_whole_files(tmp_path):
    path = tmp_path / "out.bin"
    payloads = [bytes([65 + i]) * (200_000 + 7919 * i) for i in range(6)]
    writer.write_bytes(path, payloads[0])
    seen, stop = set(), threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(path.read_bytes())

    def write(data: bytes) -> None:
        for _ in range(20):
            writer.write_bytes(path, data)

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    reader.join()
    assert seen <= set(payloads) and len(seen) > 1
    assert path.read_bytes() in payloads and _leftovers(tmp_path) == []


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o640)
    for failure in (KeyboardInterrupt, ValueError):
        with pytest.raises(failure), writer.atomic_path(path) as tmp:
            tmp.write_text("half of a new", encoding="utf-8")
            raise failure()
        assert path.read_text(encoding="utf-8") == "old" and _leftovers(tmp_path) == []
    writer.write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and path.stat().st_mode & 0o777 == 0o640  # permissions kept


def test_the_library_raises_a_coded_output_error_that_is_also_an_oserror(tmp_path):
    from fpschema import validate

    report = validate(_data(tmp_path), reference_date=REF)
    with pytest.raises(OutputError) as caught:
        report.write(tmp_path, "json")
    assert caught.value.code == "output.is_directory" and isinstance(caught.value, OSError | InputError)
    with pytest.raises(OSError):
        report.write(tmp_path / "missing" / "r.json", "html")


# ------------------------------------------------------------------------------------------- interruption: 2
def test_sigint_while_validating_a_big_file_is_error_2_and_writes_nothing(big, tmp_path):
    report, bad = tmp_path / "r.json", tmp_path / "bad.csv"
    proc = subprocess.Popen([sys.executable, "-m", "fpschema", "validate", str(big), "--format", "json", "--output",
                             str(report), "--invalid-out", str(bad), "--lang", "en"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    target, deadline = os.path.realpath(big), time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until it is reading the file: validating, not starting up
        with contextlib.suppress(FileNotFoundError):
            fds = os.listdir(f"/proc/{proc.pid}/fd")
            if any(os.path.realpath(f"/proc/{proc.pid}/fd/{fd}") == target for fd in fds):
                break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.005)
    time.sleep(0.1)
    assert proc.poll() is None, "validation finished before the signal: make BIG_ROWS larger"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out[-500:], err[-2000:])
    assert "[interrupted]" in err and "interrupted" in err and "Traceback" not in err
    assert not report.exists() and not bad.exists() and _leftovers(tmp_path) == []


# --------------------------------------------------------------------------------- deep JSON: input error 2
def test_deep_json_in_check_records_is_an_input_error(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    line = tmp_path / "deep.jsonl"
    line.write_text('{"client_id": "1"}\n' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "\n", encoding="utf-8")
    for path in (deep, line):
        done = run("check-records", KIND, path)
        _clean(done, 2, "input.too_deep")
        assert "嵌套过深" in done.stderr


# ---------------------------------------------------------------------------------------- internal error: 3
def test_an_unexpected_failure_is_internal_error_3_with_a_hint_and_a_traceback_only_with_debug(tmp_path):
    # a fault injected into the real command (no input is known to crash it): the engine raising what it never should
    data = _data(tmp_path)
    probe = ("import sys, fpschema.engine.validation as e\n"
             "def boom(*a, **k):\n    raise ZeroDivisionError('no value of the file here')\n"
             "e.validate = boom\nfrom fpschema.cli import main\nsys.argv = ['fpschema', *sys.argv[1:]]\nmain()\n")

    def crash(*args):
        return subprocess.run([sys.executable, "-c", probe, *map(str, args)], cwd=ROOT, capture_output=True,
                              text=True, env=ENV)

    done = crash("validate", data, "--lang", "en")
    _clean(done, 3, "internal.error")
    assert "--debug" in done.stderr and "ZeroDivisionError" in done.stderr
    for debug in (["validate", data, "--debug"], ["--debug", "validate", data]):
        done = crash(*debug)
        assert done.returncode == 3 and "Traceback" in done.stderr and "[internal.error]" in done.stderr
        assert "内部错误" in done.stderr


def test_a_targets_file_of_the_wrong_shape_is_a_usage_error_2(tmp_path):
    data = _data(tmp_path)
    for text in ("[]", '{"targets": []}', '{"targets": {"early_pregnancy_registration": {"op": "<", "value": 1}}}'):
        targets = tmp_path / "targets.json"
        targets.write_text(text, encoding="utf-8")
        _clean(run("validate", data, "--targets", targets), 2, "usage.option")


# -------------------------------------------------------------------------------- what reaches the terminal
HOSTILE = ["[/x]", "\x1b[2J\x1b[31mRED", "A\x9b31mB", "B\u202eC", "[bold]x[/bold]\ttab"]
RAW = ("\x1b", "\x9b", "\u202e", "\t")


def _hostile_file(folder: Path, name: str = "data.csv") -> Path:
    frame, _ = generator.generate(KIND, 20, seed=4, reference_date=REF)
    codes = frame["station_code"].to_list()
    frame = frame.with_columns(pl.Series("station_code", HOSTILE + codes[len(HOSTILE):]))
    return writer.write(frame, folder / name, KIND)


def test_markup_and_control_characters_in_cells_are_shown_escaped_and_the_report_written(tmp_path):
    data = _hostile_file(tmp_path, "[red]hostile.csv")
    report = tmp_path / "r.json"
    done = run("validate", data, "--format", "json", "--output", report, "--reference-date", REF)
    _clean(done, 1)
    values = {f["value"] for f in json.loads(report.read_text(encoding="utf-8"))["findings"]}
    assert set(HOSTILE) <= values  # the report keeps the data as it is
    for shown in (done, run("validate", data, "--reference-date", REF, "--lang", "en")):
        _clean(shown, 1)
        assert "[/x]" in shown.stdout and "[red]hostile.csv" in shown.stdout
        assert "\\x1b[2J\\x1b[31mRED" in shown.stdout and "A\\x9b31mB" in shown.stdout and "B\\u202eC" in shown.stdout
        assert "[bold]x[/bold]\\ttab" in shown.stdout
        assert not any(raw in shown.stdout + shown.stderr for raw in RAW)
    as_json = run("validate", data, "--format", "json", "--reference-date", REF)
    _clean(as_json, 1)
    assert {f["value"] for f in json.loads(as_json.stdout)["findings"]} == values  # the same JSON value
    assert not any(raw in as_json.stdout for raw in RAW)
    text = tmp_path / "summary.txt"
    _clean(run("validate", data, "--output", text, "--reference-date", REF), 1)
    assert "\\x1b[2J" in text.read_text(encoding="utf-8") and "\x1b" not in text.read_text(encoding="utf-8")


def test_check_records_shows_hostile_values_escaped(tmp_path):
    from fpschema import contract

    example = contract.schema(KIND)["examples"][0]
    records = [{**example, "station_code": value} for value in HOSTILE]
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    done = run("check-records", KIND, path, "--reference-date", REF)
    _clean(done, 1)
    assert "[/x]" in done.stdout and "\\x1b[2J" in done.stdout
    assert not any(raw in done.stdout + done.stderr for raw in RAW)
    done = run("check-records", KIND, path, "--reference-date", REF, "--format", "json")
    _clean(done, 1)
    assert set(HOSTILE) <= {f["value"] for f in json.loads(done.stdout)["findings"]}
    assert not any(raw in done.stdout for raw in RAW)


def test_coded_messages_escape_controls_in_paths(tmp_path):
    done = run("validate", tmp_path / "no\x1b[31mfile.csv")
    _clean(done, 2, "input.not_found")
    assert "\x1b" not in done.stderr and "\\x1b[31m" in done.stderr
