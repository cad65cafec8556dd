"""The `deckgen` command line."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from deckgen.anki_names import deck_search
from deckgen.errors import DeckgenError, os_error_message
from deckgen.extras import INSTALL_ANKI, has_anki, require_anki

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
        line naming the path and what to do, never a traceback. Ctrl+C ends with the exit
        code shells give an interrupted command (128 + SIGINT), not click's 1."""
        try:
            return super().invoke(ctx)
        except OSError as error:
            raise DeckgenError(os_error_message(error)) from None
        except (KeyboardInterrupt, click.Abort):  # Abort: Ctrl+C or Ctrl+D at a question
            click.echo("interrupted", err=True)
            raise SystemExit(130) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--strict", is_flag=True, help="Fail on warnings too (exit code 1), as CI may.")
def check(cards_dir: Path, out_dir: Path, output: str, strict: bool) -> None:
    """Validate and lint the sources without writing anything (the last build's record and
    cache in OUT are read, to skip what has not changed since)."""
    if output == "json":
        problems, failed = json_problems(cards_dir, out_dir)
        click.echo(json.dumps({"problems": [p.as_dict() for p in problems]},
                              ensure_ascii=False, indent=1))
        raise SystemExit(1 if failed or (strict and problems) else 0)
    problems, cards, topics = checked(cards_dir, out_dir)
    show_problems(problems)
    outcome = plural(len(problems), "warning") if problems else "no problems"
    click.echo(f"{cards_dir}: {plural(cards, 'card')} in {plural(topics, 'topic')}, {outcome}")
    if strict and problems:
        raise DeckgenError(f"{plural(len(problems), 'warning')}, which --strict fails on")


def checked(cards_dir: Path, out_dir: Path) -> tuple[list, int, int]:
    """The warnings, cards and topics of a check; nothing is parsed again if nothing
    changed since the last build into `out_dir`."""
    from deckgen.build import check as check_sources
    from deckgen.build import unchanged

    if (report := unchanged(cards_dir, out_dir, outputs=False)) is not None:
        topics = report.changes.topics.values()
        return report.warnings, sum(len(t.unchanged) for t in topics), len(topics)
    result = check_sources(cards_dir, out_dir)
    return result.warnings, result.card_count, len(result.topics)


def json_problems(cards_dir: Path, out_dir: Path) -> tuple[list, bool]:
    """Every problem `check` finds, and whether any is an error, whatever the outcome: a
    folder that is missing or holds no topic is one problem on the folder itself (line 0)."""
    from deckgen.errors import Problem, SourceErrors

    try:
        return checked(cards_dir, out_dir)[0], False
    except SourceErrors as errors:
        return errors.problems, True
    except DeckgenError as error:
        message = error.format_message().removeprefix(f"{cards_dir}: ")
        return [Problem(str(cards_dir), 0, message)], True


@main.command()
@cards_option
@out_option
@accept_option
def diff(cards_dir: Path, out_dir: Path, accept_notetype_change: bool) -> None:
    """List the cards changed since the last build, with file:line (refusing, as build
    does, a note type or card kind change unless accepted)."""
    from deckgen.build import plan, unchanged

    if unchanged(cards_dir, out_dir, outputs=False) is not None:
        click.echo("no changes since the last build")
        return
    the_plan = plan(cards_dir, out_dir, accept_notetype_change=accept_notetype_change)
    where = the_plan.where
    total = the_plan.changes.total
    for kind in ("added", "updated"):
        for card_id in getattr(total, kind):
            click.echo(f"{where[card_id].path}:{where[card_id].line}: {kind}: {card_id}")
    show_removed(the_plan.changes, where)
    if not (the_plan.changes.changed_ids or total.removed or the_plan.changes.moves):
        click.echo("no changes since the last build")


@main.command()
@cards_option
@out_option
@click.option("--open", "open_page", is_flag=True, help="Open the page in a browser.")
def preview(cards_dir: Path, out_dir: Path, open_page: bool) -> None:
    """Build, then write OUT/preview/index.html showing every card as Anki renders it."""
    require_anki("preview")
    index = build_and_preview(cards_dir, out_dir)
    if open_page:
        click.launch(str(index))


@main.command()
@cards_option
@out_option
def watch(cards_dir: Path, out_dir: Path) -> None:
    """Rebuild the packages and the preview on every save under the cards folder."""
    from deckgen.build import require_cards_folder
    from deckgen.watch import watch as watch_cards

    require_cards_folder(cards_dir)
    with_preview = has_anki()
    if not with_preview:
        click.echo(f"building the packages only; for the preview too: {INSTALL_ANKI}")
    try:
        watch_cards(cards_dir, rebuilder(cards_dir, out_dir, with_preview), click.echo,
                    out_dir=out_dir)
    except KeyboardInterrupt:  # how watching is meant to end: not an abort
        click.echo("stopped watching")


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
    show_kept_by_anki(report.changes)
    for line in report.lines():
        click.echo(line)


def confirm_deletions(yes: bool):
    """Deletions go ahead with --yes, or when confirmed on a terminal; else nothing changes."""

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


@main.command()
@click.argument("bank", type=click.Path(path_type=Path), default=Path("."))
def init(bank: Path) -> None:
    """Start a new bank in BANK (default: here), with an example topic that builds at once."""
    from deckgen.init import init as write_bank

    for path in write_bank(bank):
        click.echo(f"wrote {path}")
    where = "" if bank == Path(".") else f"cd {shlex.quote(str(bank))} && "  # to paste
    click.echo(f"next: {where}deckgen build, then import build/all.apkg into Anki")


@main.command()
def schema() -> None:
    """Print the JSON Schema of a topic file, for editors (see the README)."""
    from deckgen import resources

    click.echo(resources.SCHEMA.read_text(encoding="utf-8"), nl=False)


def rebuilder(cards_dir: Path, out_dir: Path, with_preview: bool = True):
    """A rebuild for `watch`: problems in the sources are shown, and watching goes on."""

    def rebuild() -> None:
        try:
            if with_preview:
                build_and_preview(cards_dir, out_dir)
            else:
                build_and_report(cards_dir, out_dir)
        except DeckgenError as error:
            error.show()
        except OSError as error:
            DeckgenError(os_error_message(error)).show()
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
                   f" {', '.join(map(str, report.deleted))} (no topic has that id any more)")
    if report.kept:
        click.echo(f"kept: {', '.join(map(str, report.kept))} (no topic has that id any more,"
                   " but deckgen did not write what is there now; delete it if unwanted)")
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
    for move in (m for m in changes.moves if not m.respelled):
        cards = (f"'{move.card_ids[0]}'" if len(move.card_ids) == 1
                 else f"{len(move.card_ids)} cards")
        click.echo(f"moved: {cards} from deck '{move.old}' to '{move.new}'. An import leaves"
                   f" the cards learners already have in '{move.old}' (Anki moves no card);"
                   " deckgen sync --move-cards moves them, or move them in Anki's browser"
                   f" (search {deck_search(move.old)})")
    show_kept_by_anki(changes)


def show_kept_by_anki(changes) -> None:
    """What no import (nor sync) changes in a learner's collection, and what to do there."""
    for card_id, numbers in changes.emptied.items():
        names = ", ".join(f"c{n}" for n in numbers)
        click.echo(f"emptied: '{card_id}' has no {names} any more; Anki keeps"
                   f" {'that card' if len(numbers) == 1 else 'those cards'}, empty, until"
                   " learners run Tools > Empty Cards")
    for old, new in changes.respelled_tags:
        click.echo(f"renamed tag: '{old}' is now '{new}', the same tag to Anki (which ignores"
                   " case): Anki keeps the spelling it has; rename the tag in Anki's browser"
                   " to match")
    for move in (m for m in changes.moves if m.respelled):
        click.echo(f"renamed deck: '{move.old}' is now '{move.new}', the same deck to Anki"
                   " (which ignores case, Unicode normalization and spaces around '::'):"
                   " Anki keeps the name it has; rename the deck in Anki to match")


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
