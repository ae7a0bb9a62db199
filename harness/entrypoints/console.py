"""What every `bench` command shares: errors as one line with the right exit status, and the run options.

The error policy, declared here once for every command: 0 done; 1 a run or sweep ended in `error`, or an
internal error (a bug: `internal error: ...`, traceback in a file or, with `--verbose`, on the console); 2 bad
input (a usage error, or any `UserError`: `ConfigError`, `DataError`, `UnknownMethod`, `UnknownTask`, wherever it
is raised, a method config's own validation included), one line on stderr, before a run folder exists;
130 interrupted (Ctrl-C). Commands raise; they never print errors or choose exit statuses themselves.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from lampbench.harness.run.options import option_hints, run_options, sweep_options
from lampbench.tasks.errors import UserError

VERBOSE_HELP = "Tracebacks and the log on the console."

#: Where the traceback of an internal error outside any run folder goes (the console with --verbose).
TRACEBACK_FILE = Path(tempfile.gettempdir()) / "lampbench-traceback.txt"


def _click_errors() -> tuple[type[BaseException], Any]:
    """click's `ClickException` and `NoArgsIsHelpError` (or `()`), from click or the copy newer Typers vendor."""
    base = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")
    return base, getattr(sys.modules[base.__module__], "NoArgsIsHelpError", ())


class RunsFailed(Exception):
    """Runs that ended in `error`: `bench` says where each traceback is and exits 1."""

    def __init__(self, records: list[dict[str, Any]], out: Path):
        super().__init__(f"{len(records)} run(s) ended in error")
        self.records, self.out = records, out


class BenchGroup(TyperGroup):
    """The `bench` command group: whatever goes wrong ends as one line on stderr and a meaningful exit status."""

    verbose = False

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        for command in _leaves(self):  # `bench run ... --verbose` as well as `bench --verbose run ...`
            command.params.append(_verbose_option())

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra) -> Any:
        if not standalone_mode:  # a caller that handles errors itself
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        usage_error, no_args_is_help = _click_errors()
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except no_args_is_help as e:  # `bench data`: the help, as click shows it
            e.show()
            sys.exit(e.exit_code)
        except usage_error as e:  # bad usage: an unknown option, a value not among the choices
            where = f"{e.ctx.command_path}: " if getattr(e, "ctx", None) is not None else ""
            typer.echo(f"error: {where}{_one_line(e.format_message()).replace('Value error, ', '')}", err=True)
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            sys.exit(130)
        except RunsFailed as e:
            for record in e.records:
                run_failed(record, e.out, verbose=self.verbose)
            sys.exit(1)
        except UserError as e:
            typer.echo(f"error: {_one_line(str(e))}", err=True)
            sys.exit(2)
        except Exception as e:  # noqa: BLE001 - a bug: say so in one line, keep the traceback
            internal_error(e, verbose=self.verbose)
            sys.exit(1)
        if code == 130:  # Typer turns Ctrl-C into exit status 130 itself
            typer.echo("interrupted", err=True)
        sys.exit(code if isinstance(code, int) else 0)


def _leaves(group: Any) -> list[Any]:
    """The commands under a group, those of its sub-groups (`bench data ...`) included."""
    found = []
    for command in group.commands.values():
        found += _leaves(command) if hasattr(command, "commands") else [command]
    return found


def _verbose_after(ctx: typer.Context, value: bool) -> None:
    if value:
        ctx.find_root().command.verbose = True
        console_logging(verbose=True)


def _verbose_option() -> Any:
    """A command's own `--verbose`: Typer builds the option from a one-option command, so it reads like the rest."""
    probe = typer.Typer(add_completion=False)

    @probe.command()
    def _probe(
        verbose: Annotated[bool, typer.Option("--verbose", "-v", callback=_verbose_after, help=VERBOSE_HELP)] = False,
    ) -> None: ...

    (option,) = typer.main.get_command(probe).params
    option.expose_value = False  # read by its callback; the command itself takes no `verbose`
    return option


def internal_error(error: BaseException, *, verbose: bool) -> None:
    """`internal error: ...` on stderr, with the traceback on the console (verbose) or in TRACEBACK_FILE."""
    text = "".join(traceback.format_exception(error))
    if verbose:
        typer.echo(text, err=True, nl=False)
        where = "above"
    else:
        try:
            TRACEBACK_FILE.write_text(text, encoding="utf-8")
            where = f"in {TRACEBACK_FILE}; bench --verbose prints it"
        except OSError:
            where = "not saved; bench --verbose prints it"
    typer.echo(f"internal error: {_one_line(f'{type(error).__name__}: {error}')} (traceback {where})", err=True)


def run_failed(record: dict[str, Any], out: Path, *, verbose: bool) -> None:
    """A run that ended in `error`: its one line and where its traceback is (the log showed it when verbose)."""
    log = out / record["run_id"] / "log.txt"
    where = f"traceback in {log}" if log.exists() else "it failed before its run folder existed"
    if verbose:
        where += "; traceback above"
    elif not log.exists():
        where += "; bench --verbose shows the traceback"
    typer.echo(f"internal error: {_one_line(record.get('error', 'the run failed'))} ({where})", err=True)


def console_logging(*, verbose: bool) -> None:
    """The log on stderr as `warning: ...` lines; with `verbose`, info lines and runs' errors with tracebacks.

    Without `verbose` a run's error stays in its log.txt: the command reports it in one line (`run_failed`).
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "bench_console", False)]:
        root.removeHandler(handler)  # set up again for each command (tests run several in one process)
    console = logging.StreamHandler()
    console.bench_console = True  # type: ignore[attr-defined]
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        console.addFilter(lambda r: not (r.name.startswith("lampbench") and r.levelno >= logging.ERROR))
    root.addHandler(console)
    logging.getLogger("lampbench").setLevel(logging.INFO if verbose else logging.NOTSET)
    for level in (logging.INFO, logging.WARNING, logging.ERROR):
        logging.addLevelName(level, logging.getLevelName(level).lower())


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def with_run_options(*, sweep: bool) -> Callable[[Callable], Callable]:
    """Give a command every `RunSpec` option (and, for `bench sweep`, every `SweepSpec` option) after its own.

    Both are declared once, in `harness/run/options.py`. The command receives `typed`: the options typed on the
    command line, by field name, as the fields take them (`--methods a,b` is `("a", "b")`). Options left out are
    not passed, so a sweep file's values apply to them and defaults come from the specs alone.
    """
    fields = [(f, "Sweep options") for f in (sweep_options() if sweep else [])]
    fields += [(f, "Run options") for f in run_options(sweep=sweep)]

    def decorate(func: Callable) -> Callable:
        own = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.name != "typed"]
        extra = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]
        hints = option_hints()
        extra += [_parameter(f, hints[f.name], panel) for f, panel in fields]

        @functools.wraps(func)
        def command(*, ctx: typer.Context, **kwargs: Any) -> Any:
            typed = {}
            for f, _ in fields:
                value = kwargs.pop(f.name)
                source = ctx.get_parameter_source(f.name)
                if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
                    parse = f.metadata["cli"][1] if f.metadata["cli"] else None
                    typed[f.name] = parse(value) if parse else value
            return func(**kwargs, typed=typed)

        command.__signature__ = inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + extra)
        return command

    return decorate


def _parameter(f: dataclasses.Field, hint: Any, panel: str) -> inspect.Parameter:
    """The command-line option of a spec field: its type (or the one it is typed as), help, bound and panel."""
    names = [f.metadata["flag"]] if f.metadata["flag"] else []
    info = typer.Option(*names, help=f.metadata["help"], min=f.metadata["min"], rich_help_panel=panel)
    hint, default = (f.metadata["cli"][0], None) if f.metadata["cli"] else (hint, f.default)
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[hint, info])
