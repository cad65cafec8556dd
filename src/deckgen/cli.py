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


@click.group()
@click.version_option(package_name="deckgen")
def main() -> None:
    """Turn YAML question banks into Anki decks that update in place."""


@main.command()
@cards_option
@out_option
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@accept_option
@click.option("--restamp", "restamp", multiple=True, metavar="ID",
              help="Give this card a new modification time, so that the next import updates"
                   " it even where a newer package built elsewhere was imported. Repeatable.")
def build(cards_dir: Path, out_dir: Path, dry_run: bool, accept_notetype_change: bool,
          restamp: tuple[str, ...]) -> None:
    """Validate the sources and write one package per topic plus all.apkg."""
    build_and_report(cards_dir, out_dir, dry_run, accept_notetype_change, restamp)


@main.command()
@cards_option
@out_option
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one object with every problem, for editors and CI.")
def check(cards_dir: Path, out_dir: Path, output: str) -> None:
    """Validate and lint the sources without writing anything (the last build's cache in
    OUT is read, to skip what has not changed since)."""
    from deckgen.build import check as check_sources, unchanged
    from deckgen.errors import SourceErrors

    try:
        if (report := unchanged(cards_dir, out_dir, outputs=False)) is not None:
            problems = report.warnings
            cards, topics = sum(len(t.unchanged) for t in report.changes.topics.values()), len(
                report.changes.topics)
        else:
            checked = check_sources(cards_dir, out_dir)
            problems, cards, topics = checked.warnings, checked.card_count, len(checked.topics)
    except SourceErrors as errors:
        if output != "json":
            raise
        problems, cards, topics = errors.problems, None, 0
    if output == "json":
        click.echo(json.dumps({"problems": [p.as_dict() for p in problems]},
                              ensure_ascii=False, indent=1))
        raise SystemExit(0 if cards is not None else 1)
    show_problems(problems)
    outcome = plural(len(problems), "warning") if problems else "no problems"
    click.echo(f"{cards_dir}: {plural(cards, 'card')} in {plural(topics, 'topic')}, {outcome}")


@main.command()
@cards_option
@out_option
def diff(cards_dir: Path, out_dir: Path) -> None:
    """List the cards changed since the last build, with file:line."""
    from deckgen.build import plan, unchanged

    if unchanged(cards_dir, out_dir, outputs=False) is not None:
        click.echo("no changes since the last build")
        return
    the_plan = plan(cards_dir, out_dir, accept_notetype_change=True)
    where = the_plan.where
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


@main.command()
@cards_option
@out_option
@click.option("--collection", type=click.Path(path_type=Path),
              help="The collection.anki2 to update (default: the profile's).")
@click.option("--profile", help="Anki profile to update (default: the one Anki opened last).")
@click.option("--prune", is_flag=True, help="Delete the notes of cards removed from the sources.")
@click.option("--move-cards", is_flag=True, help="Move cards whose topic changed to its deck.")
@click.option("--dry-run", is_flag=True, help="Report what would change; change nothing.")
@click.option("--yes", is_flag=True, help="Delete without asking.")
def sync(cards_dir: Path, out_dir: Path, collection: Path | None, profile: str | None,
         prune: bool, move_cards: bool, dry_run: bool, yes: bool) -> None:
    """Build, then bring an Anki collection up to date (close Anki first)."""
    from deckgen.profiles import find_collection
    from deckgen.sync import sync as sync_collection

    if collection is not None and profile is not None:
        raise click.UsageError("pass --collection or --profile, not both")
    report = sync_collection(cards_dir, out_dir, find_collection(collection, profile), prune,
                             move_cards, dry_run, confirm_deletions(yes), progress_bar)
    show_problems(report.warnings)
    for line in report.lines():
        click.echo(line)


def confirm_deletions(yes: bool):
    """Deletions go ahead with --yes, or when confirmed on a terminal; else nothing changes."""
    from deckgen.errors import DeckgenError

    def confirm(card_ids: list[str]) -> None:
        listed = ", ".join(card_ids)
        if yes:
            return
        if not on_terminal():
            raise DeckgenError(f"--prune would delete the notes of {plural(len(card_ids), 'card')}"
                               f" no longer in the sources ({listed}); pass --yes to delete"
                               " them without asking; nothing was changed")
        if not click.confirm(f"delete the notes of {plural(len(card_ids), 'card')} no longer in"
                             f" the sources ({listed}), with their review history?"):
            raise DeckgenError("nothing was changed")

    return confirm


def on_terminal() -> bool:
    return sys.stdin.isatty()


def rebuilder(cards_dir: Path, out_dir: Path):
    """A rebuild for `watch`: problems in the sources are shown, and watching goes on."""
    from deckgen.errors import DeckgenError

    def rebuild() -> None:
        try:
            build_and_preview(cards_dir, out_dir)
        except DeckgenError as error:
            error.show()
        click.echo("watching for changes (Ctrl+C to stop)")

    return rebuild


def build_and_report(cards_dir: Path, out_dir: Path, dry_run: bool = False,
                     accept_notetype_change: bool = False, restamp: tuple[str, ...] = ()):
    from deckgen.build import build as build_decks

    report = build_decks(cards_dir, out_dir, dry_run=dry_run, restamp=restamp,
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
