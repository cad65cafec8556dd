"""The `deckgen` command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

CARDS_HELP = "Folder of YAML topic files."
OUT_HELP = "Folder the .apkg packages are written to."
ACCEPT_HELP = ("Build even though a note type's fields or templates changed (Anki will add a"
               " copy of it and stop updating existing notes).")

cards_option = click.option("--cards", "cards_dir", type=click.Path(path_type=Path),
                            default=Path("cards"), show_default=True, help=CARDS_HELP)
out_option = click.option("--out", "out_dir", type=click.Path(path_type=Path),
                          default=Path("build"), show_default=True, help=OUT_HELP)
accept_option = click.option("--accept-notetype-change", is_flag=True, help=ACCEPT_HELP)


class _Main(click.Group):
    def invoke(self, ctx: click.Context):
        """An OS error (a read-only folder, a full disk, a file gone unreadable) is one
        line naming the path and what to do, never a traceback."""
        from deckgen.errors import DeckgenError, os_error_message

        try:
            return super().invoke(ctx)
        except OSError as error:
            raise DeckgenError(os_error_message(error)) from None


@click.group(cls=_Main)
@click.version_option(package_name="deckgen")
def main() -> None:
    """Turn YAML question banks into Anki decks that update in place."""


@main.command()
@cards_option
@out_option
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@accept_option
def build(cards_dir: Path, out_dir: Path, dry_run: bool, accept_notetype_change: bool) -> None:
    """Validate the sources and write one package per topic plus all.apkg."""
    build_and_report(cards_dir, out_dir, dry_run, accept_notetype_change)


@main.command()
@cards_option
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one object with every problem, for editors and CI.")
def check(cards_dir: Path, output: str) -> None:
    """Validate and lint the sources without writing anything."""
    from deckgen.build import check as check_sources
    from deckgen.errors import SourceErrors

    if output == "json":
        try:
            problems, cards = check_sources(cards_dir).warnings, True
        except SourceErrors as errors:
            problems, cards = errors.problems, False
        click.echo(json.dumps({"problems": [p.as_dict() for p in problems]},
                              ensure_ascii=False, indent=1))
        raise SystemExit(0 if cards else 1)
    checked = check_sources(cards_dir)
    show_problems(checked.warnings)
    notes = len(checked.notes)
    outcome = plural(len(checked.warnings), "warning") if checked.warnings else "no problems"
    click.echo(f"{cards_dir}: {plural(notes, 'card')} in {plural(len(checked.rendered), 'topic')},"
               f" {outcome}")


@main.command()
@cards_option
def diff(cards_dir: Path) -> None:
    """List the cards changed since the last build, with file:line."""
    from deckgen.build import plan

    the_plan = plan(cards_dir, accept_notetype_change=True)
    where = the_plan.checked.where
    total = the_plan.changes.total
    for kind in ("added", "updated"):
        for card_id in getattr(total, kind):
            click.echo(f"{where[card_id].path}:{where[card_id].line}: {kind}: {card_id}")
    show_removed(the_plan.changes, where)
    if not the_plan.changes.changed_ids and not total.removed:
        click.echo("no changes since the last build")


@main.command()
@cards_option
@out_option
@click.option("--open", "open_page", is_flag=True, help="Open the page in a browser.")
def preview(cards_dir: Path, out_dir: Path, open_page: bool) -> None:
    """Build, then write OUT/preview/index.html showing every card as Anki renders it."""
    index = build_and_preview(cards_dir, out_dir)
    if open_page:
        click.launch(str(index))


@main.command()
@cards_option
@out_option
def watch(cards_dir: Path, out_dir: Path) -> None:
    """Rebuild the packages and the preview on every save under the cards folder."""
    from deckgen.watch import watch as watch_cards

    watch_cards(cards_dir, rebuilder(cards_dir, out_dir), click.echo)


def rebuilder(cards_dir: Path, out_dir: Path):
    """A rebuild for `watch`: problems in the sources are shown, and watching goes on."""
    from deckgen.errors import DeckgenError, os_error_message

    def rebuild() -> None:
        try:
            build_and_preview(cards_dir, out_dir)
        except DeckgenError as error:
            error.show()
        except OSError as error:
            DeckgenError(os_error_message(error)).show()
        click.echo("watching for changes (Ctrl+C to stop)")

    return rebuild


def build_and_report(cards_dir: Path, out_dir: Path, dry_run: bool = False,
                     accept_notetype_change: bool = False):
    from deckgen.build import build as build_decks

    report = build_decks(cards_dir, out_dir, dry_run=dry_run,
                         accept_notetype_change=accept_notetype_change, progress=progress_bar)
    changes = report.changes
    show_problems(report.warnings)
    width = max(map(len, changes.topics), default=0)
    for topic, counts in changes.topics.items():
        click.echo(f"{topic + ':':<{width + 1}} {counts.summary()}")
    click.echo(f"{'total:':<{width + 1}} {changes.total.summary()}")
    show_removed(changes, report.where)
    written = [str(p.path) for p in report.packages if p.written]
    verb = "would write" if dry_run else "wrote"
    kept = len(report.packages) - len(written)
    click.echo(f"{verb}: {', '.join(written) or 'nothing'}"
               + (f" ({kept} unchanged packages left as they are)" if kept else ""))
    if report.deleted:
        click.echo(f"{'would delete' if dry_run else 'deleted'}:"
                   f" {', '.join(map(str, report.deleted))} (their topic files are gone)")
    return report


def show_removed(changes, where) -> None:
    for rename in changes.renames:
        at = where[rename.new]
        click.echo(f"{at.path}:{at.line}: renamed: '{rename.old}' is now '{rename.new}' with the"
                   " same text. Anki will add it as a new card and keep the old note, losing"
                   f" its review history; to keep it, change the id back to '{rename.old}'")
    for card_id in changes.total.removed:
        click.echo(f"removed: '{card_id}'. Anki keeps its note; to delete it, search for"
                   f" CardId:{card_id} in Anki's browser")


def build_and_preview(cards_dir: Path, out_dir: Path) -> Path:
    from deckgen import COMBINED
    from deckgen.preview import write_preview

    build_and_report(cards_dir, out_dir)
    index = write_preview(out_dir / f"{COMBINED}.apkg", out_dir / "preview")
    click.echo(f"wrote {index}")
    return index


@contextmanager
def progress_bar(total: int) -> Iterator:
    """A progress bar for long renders, on a terminal only."""
    if total < 200 or not sys.stderr.isatty():
        yield lambda done: None
        return
    with click.progressbar(length=total, label=f"rendering {total} cards",
                           file=sys.stderr) as bar:
        yield bar.update


def show_problems(problems: list) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
