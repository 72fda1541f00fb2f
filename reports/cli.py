"""Thin shell over the pipeline: parse, call, turn exceptions into exit codes and one line."""

from __future__ import annotations

import functools
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .config import Settings, check_as_of, load_settings
from .errors import ConfigError, InvalidData, ReportsError
from .problems import count_line, one_line

EXIT_UNEXPECTED = 3


def _settings(config: Path | None, **options: Any) -> Settings:
    settings = load_settings(config)
    if options.get("as_of") is not None:
        check_as_of(options["as_of"])
    return settings.with_options(**options)


def _print_problems(problems: list) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)
    click.echo(count_line(problems), err=True)


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def handled(command: Callable[..., int | None]) -> Callable[..., None]:
    """Run a command; a known failure is one line on stderr and its exit status."""

    @functools.wraps(command)
    def wrapper(*args: Any, debug: bool = False, **kwargs: Any) -> None:
        logging.basicConfig(level=logging.DEBUG if debug else logging.INFO,
                            format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
        # SIGTERM stops a command the way Ctrl-C does: children stopped, staging removed,
        # the attempt recorded (the scheduler installs its own handler while it serves)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            status = command(*args, **kwargs)
        except InvalidData as exc:
            _print_problems(exc.problems)
            click.echo(f"error: {one_line(str(exc))}", err=True)
            if debug:
                raise
            sys.exit(exc.exit_status)
        except ReportsError as exc:
            if getattr(exc, "problems", None):  # a contacts file: every problem, one a line
                for problem in exc.problems:  # type: ignore[attr-defined]
                    click.echo(str(problem), err=True)
            click.echo(f"error: {one_line(str(exc))}", err=True)
            if debug:
                raise
            sys.exit(exc.exit_status)
        except KeyboardInterrupt:
            click.echo("error: interrupted; output/latest is the last run that was published "
                       "in full (agreement-reports status tells which)", err=True)
            sys.exit(130)
        except Exception as exc:
            if debug:
                raise
            click.echo(one_line(f"error: unexpected failure ({type(exc).__name__}: {exc}); "
                                "nothing was published; run again with --debug for the "
                                "traceback"), err=True)
            sys.exit(EXIT_UNEXPECTED)
        sys.exit(status or 0)

    return click.option("--debug", is_flag=True, help="Show the Python traceback on failure.")(
        wrapper)


config_option = click.option(
    "--config", "config", type=click.Path(path_type=Path, dir_okay=False),
    help="TOML configuration file (default: ./agreement-reports.toml when present).")
output_option = click.option("--output", type=click.Path(path_type=Path, file_okay=False),
                             help="Output folder (default: output).")
sources_option = click.option("--sources", type=click.Path(path_type=Path),
                              help="A folder of CSV files or one .xlsx workbook "
                                   "(default: sources).")


format_option = click.option(
    "--format", "output_format", type=click.Choice(["text", "json"]), default="text",
    show_default=True,
    help="How problems are printed: one line each on stderr, or one JSON array on stdout "
         "(file, row, column, code, severity, message).")


def _problems_json(problems: list) -> None:
    import json

    click.echo(json.dumps([p.as_json() for p in problems], ensure_ascii=False, indent=1))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="agreement-reports")
def main() -> None:
    """Curated agreement data in; an Excel workbook and PDF briefings out."""


@main.command()
@sources_option
@output_option
@config_option
@click.option("--as-of", help="The date the data was current, YYYY-MM-DD "
                              "(default: the newest date of the sources).")
@click.option("--force", is_flag=True, default=None,
              help="Run even when the data and configuration are unchanged.")
@click.option("--workers", type=click.IntRange(1, 64), help="Processes rendering briefings.")
@format_option
@handled
def run(sources: Path | None, output: Path | None, config: Path | None, as_of: str | None,
        force: bool | None, workers: int | None, output_format: str) -> int:
    """Validate, summarise, write one complete run and publish it as output/latest."""
    from .pipeline import run as run_pipeline

    settings = _settings(config, sources=sources, output=output, as_of=as_of, force=force,
                         workers=workers, progress=sys.stderr.isatty() or None)
    try:
        result = run_pipeline(settings)
    except InvalidData as exc:
        if output_format != "json":
            raise
        _problems_json(exc.problems)
        click.echo(f"error: {exc}", err=True)
        return exc.exit_status
    if result.outcome == "unchanged":
        click.echo(result.message)
        return 0
    manifest = result.manifest or {}
    files = manifest.get("files", [])
    briefings = sum(1 for f in files if f["kind"] == "briefing")
    for warning in result.warnings:
        click.echo(str(warning), err=True)
    changes = ("changes not computed: the last run's data could not be read"
               if result.not_compared else
               "first run: nothing to compare with" if result.changes is None
               else f"{result.changes} change{'s' if result.changes != 1 else ''} since run "
                    f"{manifest.get('previous_run_id')}")
    from .figures import figures_sentence, plural

    click.echo(
        f"published run {result.run_id} in {result.folder}: 1 workbook, "
        f"{plural(briefings, 'briefing')}; {figures_sentence(manifest.get('figures') or {})}; "
        f"{plural(len(result.warnings), 'warning')}; {changes}")
    for email, outcome in result.deliveries.items():
        click.echo(f"delivery to {email}: {outcome}")
    return 0


@main.command()
@sources_option
@config_option
@format_option
@handled
def validate(sources: Path | None, config: Path | None, output_format: str) -> int:
    """Only check the data; print every problem (exit 1 on any error)."""
    from .render.fonts import missing_glyphs
    from .sources import read_sources
    from .validate import validate as check

    settings = _settings(config, sources=sources)
    _, problems = check(read_sources(settings.sources), can_print=missing_glyphs)
    if output_format == "json":
        _problems_json(problems)
        return 1 if any(p.is_error for p in problems) else 0
    _print_problems(problems)
    if any(p.is_error for p in problems):
        return 1
    click.echo(one_line(f"{settings.sources}: valid"))
    return 0


@main.command("schedule")
@config_option
@output_option
@sources_option
@click.option("--now", is_flag=True, help="Also run once at start.")
@handled
def schedule_command(config: Path | None, output: Path | None, sources: Path | None,
                     now: bool) -> int:
    """Run forever on the schedule in the config; stop with SIGTERM or Ctrl-C."""
    from .scheduler import serve, setup_logging

    settings = _settings(config, output=output, sources=sources)
    setup_logging(settings.output)
    return serve(settings, run_now=now)


@main.command()
@click.option("--run", "run_id", required=True, help="The run id (a folder of output/runs).")
@click.option("--dry-run", is_flag=True, default=None,
              help="Write .eml files to output/outbox/RUN_ID/ instead of sending.")
@output_option
@config_option
@handled
def deliver(run_id: str, dry_run: bool | None, output: Path | None, config: Path | None) -> int:
    """Send (again) what a run's delivery has not yet sent."""
    import re

    from .deliver import deliver_run
    from .publish import run_lock

    if not re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{8}", run_id):
        raise ConfigError(f"--run: {run_id!r} is not a run id; expected YYYYMMDD-HHMMSS-xxxxxxxx")
    settings = _settings(config, output=output)
    with run_lock(settings.output):
        outcomes = deliver_run(settings, run_id, dry_run=dry_run)
    for email, outcome in outcomes.items():
        click.echo(f"{email}: {outcome}")
    return 5 if "failed" in outcomes.values() else 0


@main.command()
@output_option
@config_option
@click.option("--limit", default=10, show_default=True, help="How many runs to show.")
@click.option("--verbose", "-v", is_flag=True,
              help="Also each address a delivery went to, and its outcome.")
@handled
def status(output: Path | None, config: Path | None, limit: int, verbose: bool) -> int:
    """The last runs: when, how long, outcome, what changed, files, deliveries."""
    from .publish import latest_run, read_history

    settings = _settings(config, output=output)
    history = read_history(settings.output)
    runs = [r for r in history if r.get("event") == "run"]
    ended = {(r.get("pid"), r.get("started_at")) for r in runs}
    for start in (r for r in history if r.get("event") == "start"):
        if (start.get("pid"), start.get("started_at")) not in ended:  # killed, or running
            runs.append({**start, "outcome": "stopped", "duration_s": 0,
                         "reason": "no outcome recorded: killed, or still running"})
    runs.sort(key=lambda r: str(r.get("started_at", "")))
    latest = latest_run(settings.output)
    click.echo(f"output: {settings.output}")
    click.echo(f"latest: {latest.name if latest else '(none published)'}")
    failures = sum(1 for r in runs if r.get("outcome") in ("failed", "invalid"))
    click.echo(f"runs recorded: {len(runs)}, failed: {failures}")
    state = settings.output / "scheduler.json"
    if state.is_file():
        import json

        try:
            beat = json.loads(state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            beat = {}
        click.echo(f"scheduler: pid {beat.get('pid')}, last heartbeat {beat.get('heartbeat')}, "
                   f"next run {beat.get('next_run')}, every {beat.get('every')} "
                   f"({beat.get('timezone')}), failures {beat.get('failures')}")
    else:
        click.echo("scheduler: no heartbeat recorded")
    for r in runs[-limit:]:
        changes = r.get("changes")
        line = (f"{r.get('started_at', '?')}  {r.get('outcome', '?'):<10} "
                f"{r.get('duration_s', 0):>7.2f}s  {r.get('run_id') or '-'}")
        if r.get("outcome") == "published":
            line += "  changes: " + ("first run" if changes is None else str(changes))
        if r.get("files"):
            line += f"  files: {r['files']}"
        if r.get("reason"):
            line += f"  reason: {r['reason']}"
        click.echo(line)
    deliveries = [r for r in history if r.get("event") == "delivery"]
    last: dict[str, dict[str, dict]] = {}  # run -> address -> its last delivery record
    for d in deliveries:
        last.setdefault(str(d.get("run_id")), {})[str(d.get("recipient"))] = d
    for run_id in list(last)[-limit:]:
        # addresses stay out of the default view: contacts' are personal data
        records = last[run_id].values()
        served = [d for d in records if d.get("outcome") in ("sent", "unchanged")]
        failed = [d for d in records if d.get("outcome") == "failed"]
        written = [d for d in records if d.get("outcome") == "written"]
        line = (f"delivery {run_id}: {len(served)} served "
                f"({sum(1 for d in served if d.get('contact'))} of them contacts), "
                f"{len(failed)} failed ({sum(1 for d in failed if d.get('contact'))} contacts)")
        if written:
            line += f", {len(written)} written to the outbox (dry run)"
        click.echo(line)
    if verbose:
        for d in deliveries[-limit * 10:]:
            click.echo(f"delivery {d.get('run_id')} to {d.get('recipient')}: "
                       f"{d.get('outcome')}")
    return 0


def cli_reference() -> str:
    """docs/cli.md: every command's --help, as the command prints it (scripts/make-cli-docs
    writes it; a test fails when it is out of date)."""
    parts = ["# Command-line reference", "",
             "Generated from the commands' `--help` by `scripts/make-cli-docs`; "
             "a test fails when it is out of date.", ""]
    with click.Context(main, info_name="agreement-reports", terminal_width=100) as ctx:
        parts += ["## agreement-reports", "", "```", main.get_help(ctx).rstrip(), "```", ""]
        for name in main.list_commands(ctx):
            command = main.get_command(ctx, name)
            assert command is not None
            with click.Context(command, parent=ctx, info_name=name,
                               terminal_width=100) as sub:
                parts += [f"## agreement-reports {name}", "", "```",
                          command.get_help(sub).rstrip(), "```", ""]
    return "\n".join(parts)
