"""What the command line shows and how it ends: terminal-safe text (control and bidi characters made
visible), coded errors in zh or en, exit codes (0 valid, 1 findings, 2 input or usage, 3 internal) and the click
group that turns any failure into one of them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback

import click

from fpschema.errors import InputError, output_error

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
DEBUG_FLAG = "--debug"
STDOUT_NAME = {"zh": "标准输出", "en": "standard output"}


# --------------------------------------------------------------------------------- what reaches the terminal
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029)
_VISIBLE = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r",
            **{c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A, 0x0D)},
            **{c: f"\\u{c:04x}" for c in _BIDI}}


def visible(text: object) -> str:
    """``text`` with control characters (C0, DEL, C1) and bidirectional overrides written out as escapes
    (``\\x1b``, ``\\u202e``): a cell never moves the cursor, recolours or reorders the terminal."""
    return str(text).translate(_VISIBLE)


_JSON_VISIBLE = {c: f"\\u{c:04x}" for c in (0x7F, *range(0x80, 0xA0), *_BIDI)}


def json_visible(text: str) -> str:
    """JSON text with DEL, C1 controls and bidirectional controls written as ``\\uXXXX`` escapes (C0 controls are
    escaped by every JSON writer already): the same JSON value, harmless on a terminal."""
    return text.translate(_JSON_VISIBLE)


def shown_text(text: object, unmask: bool = False) -> str:
    """Text for the terminal: ID-like tokens masked unless ``unmask`` (fpschema.mask)."""
    from fpschema.contract.mask import mask_text

    return str(text) if unmask else mask_text(str(text))


def plain(text: object) -> str:
    """``text`` safe to print with rich markup on: controls made visible, ``[`` escaped."""
    from rich.markup import escape

    return escape(visible(text))


def table_cell(text: object):
    """A table cell: a rich Text (never read as markup) with controls made visible."""
    from rich.text import Text

    return Text("" if text is None else visible(text))


def say(err: InputError, lang: str, path: object = None, unmask: bool = False) -> None:
    """The coded message of ``err`` on stderr, in ``lang``: ``path: 错误 [code]: message``."""
    where = f"{path}: " if path else ""
    label = "错误" if lang == "zh" else "error"
    with contextlib.suppress(OSError):  # stderr itself gone: the exit code still tells
        click.echo(visible(shown_text(f"{where}{label} [{err.code}]: {err.message(lang, unmask)}", unmask)), err=True)


def fail_input(err: InputError, lang: str, path: object = None, unmask: bool = False) -> None:
    say(err, lang, path, unmask)
    sys.exit(EXIT_USAGE)


# ------------------------------------------------------------------------------------------ the exit contract
def _argv_lang(args: list[str]) -> str:
    """The language a command line asks for (``--lang en`` / ``--lang=en``), for messages given before or
    without click's parsing."""
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args):
            return "en" if args[i + 1] == "en" else "zh"
        if arg.startswith("--lang="):
            return "en" if arg.endswith("=en") else "zh"
    return "zh"


def _quiet_stdout() -> None:
    """After stdout failed (closed pipe, full disk): point it at /dev/null, so that the interpreter's last flush
    cannot fail again and print a traceback of its own."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def exit_code_of(exc: BaseException, lang: str, debug: bool, path: object = None) -> int:
    """Show ``exc`` as a coded message on stderr (about ``path`` when given) and give the exit code it means."""
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else EXIT_USAGE)
    if debug and not isinstance(exc, click.ClickException | InputError):
        traceback.print_exception(exc)
    if isinstance(exc, KeyboardInterrupt | click.Abort):
        say(InputError("interrupted"), lang, path)
        return EXIT_USAGE
    if isinstance(exc, click.ClickException):
        say(InputError("usage.option", detail=exc.format_message()), lang, path)
        return EXIT_USAGE
    if isinstance(exc, InputError):
        say(exc, lang, path)
        return EXIT_USAGE
    if isinstance(exc, OSError) and exc.filename is None:  # stdout or stderr: a closed pipe, a full disk
        _quiet_stdout()
        say(output_error(exc, STDOUT_NAME[lang]), lang, path)
        return EXIT_USAGE
    if isinstance(exc, OSError):
        say(InputError("input.unreadable", path=exc.filename, reason=exc.strerror or type(exc).__name__), lang, path)
        return EXIT_USAGE
    say(InputError("internal.error", error=type(exc).__name__), lang, path)  # its text may hold a value: not shown
    return EXIT_INTERNAL


def debug_wanted() -> bool:
    """Whether ``--debug`` was given (read by :class:`MainGroup`)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and getattr(ctx.find_root().command, "debug", False))


class MainGroup(click.Group):
    """The top of the command line: whatever happens below becomes an exit code of the contract and a coded
    message in the chosen language. ``--debug`` (anywhere on the line) adds the traceback."""

    lang = "zh"
    debug = False

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        argv = list(sys.argv[1:] if args is None else args)
        self.debug = DEBUG_FLAG in argv
        argv = [a for a in argv if a != DEBUG_FLAG]
        self.lang = _argv_lang(argv)
        if not standalone_mode:
            return super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else EXIT_OK
        except BaseException as exc:  # noqa: BLE001 - the one place every failure ends up
            code = exit_code_of(exc, self.lang, self.debug)
        sys.exit(code)

    def invoke(self, ctx: click.Context):
        try:
            rv = super().invoke(ctx)
            sys.stdout.flush()  # a full disk or a closed pipe shows here, while we can still say so
            return rv
        except SystemExit as done:  # the command's own exit code: stdout must have reached its reader too
            try:
                sys.stdout.flush()
            except OSError as exc:
                raise SystemExit(exit_code_of(exc, self.lang, self.debug)) from None
            raise done
        except click.exceptions.Exit:
            raise
        except BaseException as exc:  # noqa: BLE001 - keep click from reading KeyboardInterrupt or EPIPE its way
            raise SystemExit(exit_code_of(exc, self.lang, self.debug)) from None
