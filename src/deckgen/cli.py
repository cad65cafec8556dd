"""The `deckgen` command line."""

from __future__ import annotations

from pathlib import Path

import click

CARDS_HELP = "Folder of YAML topic files."
OUT_HELP = "Folder the .apkg packages are written to."

cards_option = click.option("--cards", "cards_dir", type=click.Path(path_type=Path),
                            default=Path("cards"), show_default=True, help=CARDS_HELP)
out_option = click.option("--out", "out_dir", type=click.Path(path_type=Path),
                          default=Path("build"), show_default=True, help=OUT_HELP)


@click.group()
@click.version_option(package_name="deckgen")
def main() -> None:
    """Turn YAML question banks into Anki decks that update in place."""


@main.command()
@cards_option
@out_option
def build(cards_dir: Path, out_dir: Path) -> None:
    """Validate the sources and write one package per topic plus all.apkg."""
    build_and_report(cards_dir, out_dir)


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
    from deckgen.errors import DeckgenError

    def rebuild() -> None:
        try:
            build_and_preview(cards_dir, out_dir)
        except DeckgenError as error:
            error.show()
        click.echo("watching for changes (Ctrl+C to stop)")

    return rebuild


def build_and_report(cards_dir: Path, out_dir: Path):
    from deckgen.build import build as build_decks

    report = build_decks(cards_dir, out_dir)
    show_warnings(report.warnings)
    for package in report.packages:
        click.echo(f"wrote {package.path} ({package.notes} notes)")
    if 0 < len(report.changed) <= 10:
        click.echo(f"changed: {', '.join(report.changed)}")
    click.echo(f"{plural(report.notes, 'note')} in {plural(report.topics, 'topic')};"
               f" {len(report.changed)} changed since the last build")
    return report


def build_and_preview(cards_dir: Path, out_dir: Path) -> Path:
    from deckgen.loader import COMBINED
    from deckgen.preview import write_preview

    build_and_report(cards_dir, out_dir)
    index = write_preview(out_dir / f"{COMBINED}.apkg", out_dir / "preview")
    click.echo(f"wrote {index}")
    return index


@main.command()
@cards_option
def check(cards_dir: Path) -> None:
    """Validate the sources without writing anything."""
    from deckgen.build import check as check_sources

    checked = check_sources(cards_dir)
    show_warnings(checked.warnings)
    notes = sum(len(notes) for _, notes in checked.rendered)
    outcome = plural(len(checked.warnings), "warning") if checked.warnings else "no problems"
    click.echo(f"{cards_dir}: {plural(notes, 'card')} in {plural(len(checked.rendered), 'topic')},"
               f" {outcome}")


def show_warnings(warnings: list) -> None:
    for warning in warnings:
        click.echo(str(warning), err=True)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
