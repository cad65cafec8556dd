"""`deckgen sync`: apply the combined build to a learner's collection with Anki's own
importer and default import options, then do what an import cannot: keep the tags the
learner added, move cards whose topic changed, and delete the notes of removed cards.
Scheduling (due, interval, ease, review log, suspended and buried states) is never
touched: no step writes a card's scheduling fields.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from deckgen import COMBINED, ids
from deckgen import record as build_record
from deckgen.changes import Changes
from deckgen.errors import DeckgenError, Problem
from deckgen.extras import require_anki
from deckgen.shipment import CARD_ID_FIELD, Shipment, read_package
from deckgen.synced import Record

if TYPE_CHECKING:
    from anki.collection import Collection

    from deckgen.state import State


@dataclass(frozen=True)
class Move:
    card_id: str
    old_deck: str
    new_deck: str


@dataclass
class SyncReport:
    collection: Path
    dry_run: bool = False
    backup: Path | None = None
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)  # not updated: Anki's copy is newer
    conflicting: list[str] = field(default_factory=list)  # not updated: note type differs
    kept_tags: dict[str, list[str]] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)  # known cards gone from the sources
    renamed: dict[str, str] = field(default_factory=dict)  # removed id -> id of its text now
    deleted: bool = False  # the notes of `removed` were deleted
    moves: list[Move] = field(default_factory=list)
    moved: bool = False  # the cards of `moves` were moved
    warnings: list[Problem] = field(default_factory=list)
    changes: Changes = field(default_factory=lambda: Changes({}, []))  # of the build

    def lines(self) -> Iterator[str]:
        update, add, move, delete = (
            ("would update", "would add", "would move", "would delete") if self.dry_run
            else ("updated", "added", "moved", "deleted"))
        for card_id in self.updated:
            own = self.kept_tags.get(card_id)
            yield f"{update}: '{card_id}'" + (f" (kept tags: {' '.join(own)})" if own else "")
        for card_id in self.added:
            yield f"{add}: '{card_id}'"
        for it in self.moves:
            verb = move if self.moved else "not moved"
            yield (f"{verb}: '{it.card_id}' from \"{it.old_deck}\" to \"{it.new_deck}\""
                   + ("" if self.moved else " (its topic changed; pass --move-cards to move it)"))
        for card_id in self.removed:
            yield (f"{delete}: '{card_id}'" if self.deleted else
                   f"not deleted: '{card_id}' is no longer in the sources; pass --prune to"
                   f" delete it, or search for CardId:{card_id} in Anki's browser")
            if card_id in self.renamed:
                yield (f"renamed: '{card_id}' is now '{self.renamed[card_id]}' with the same"
                       " text, a new card without its review history; to keep it, change the"
                       f" id back to '{card_id}'" + (" and restore the backup" if self.deleted
                                                     and not self.dry_run else ""))
        for card_id in self.stale:
            yield (f"not updated: '{card_id}' was changed in Anki after it was built, so the"
                   " import keeps Anki's copy; edit the card in YAML to update it")
        for card_id in self.conflicting:
            yield (f"not updated: '{card_id}': its note type in the collection has other"
                   " fields or templates")
        yield f"backup: {self.backup}" if self.backup else "backup: none (nothing was changed)"
        counts = [f"{len(self.added)} added", f"{len(self.updated)} updated",
                  f"{len(self.unchanged) + len(self.stale)} unchanged",
                  f"{len(self.removed) if self.deleted else 0} deleted",
                  f"{len(self.moves) if self.moved else 0} moved",
                  f"tags kept on {len(self.kept_tags)}"]
        yield (f"{'dry run, would sync' if self.dry_run else 'synced'} {self.collection}:"
               f" {', '.join(counts)}")


def sync(cards_dir: Path, out_dir: Path, collection: Path, prune: bool = False,
         move_cards: bool = False, dry_run: bool = False,
         confirm: Callable[[list[str]], None] = lambda card_ids: None,
         progress=None) -> SyncReport:
    """Build, then bring `collection` up to date with the combined package. `confirm` is
    called with the card ids whose notes --prune will delete, before any write; it
    raises to stop."""
    from deckgen.build import build
    from deckgen.state import STATE_FILE, load_state

    require_anki("sync", ("anki",))
    previous = load_state(cards_dir / STATE_FILE)  # before the build forgets removed cards
    built = build(cards_dir, out_dir, progress=progress)
    # This bank's cards: those this output folder ever shipped (not those the state file
    # names: it is shared with the bank, and may name any card).
    built_here = build_record.load(out_dir).shipped.keys()
    package = out_dir / f"{COMBINED}.apkg"
    shipment = read_package(package)
    report = SyncReport(collection, dry_run, warnings=built.warnings, changes=built.changes)
    with _opened(collection, package, dry_run) as col:
        record = Record.load(col, cards_dir, shipment.notes)
        before = _notes(col)
        known_decks = _last_decks(previous, shipment)
        known_decks.update(record.decks())
        ours = built_here | record.cards.keys()
        removed = {card_id: nid for card_id, (nid, guid, *_) in before.items()
                   if card_id not in shipment.notes and card_id in ours
                   and guid == ids.note_guid(card_id)}
        report.removed = sorted(removed)
        report.renamed = _renamed(before, shipment, removed)
        report.deleted = prune and bool(removed)
        if report.deleted and not dry_run:
            confirm([f"{c}, renamed to {report.renamed[c]}" if c in report.renamed else c
                     for c in report.removed])
        if not dry_run:
            report.backup = _backup(col, collection.parent / "backups")
        log = _import(col, package)
        after = _notes(col)
        _classify(report, shipment, before, after, log)
        _keep_tags(col, report, shipment, record, before, after)
        report.moves, cards = _moves(col, shipment, known_decks)
        report.moved = move_cards and bool(cards)
        if report.moved:
            _move(col, cards)
        if report.deleted:
            col.remove_notes(list(removed.values()))
        record.update(shipment, gone=removed if report.deleted else {},
                      unmoved={} if report.moved else {m.card_id: m.old_deck
                                                          for m in report.moves})
        record.save(col)
    return report


def _renamed(before: dict[str, Row], shipment: Shipment, removed) -> dict[str, str]:
    """The removed cards whose note has exactly the text of a card new to the collection
    (all its fields but the last two, CardId and Source): renamed, by id."""
    by_text = {s.fields[:-2]: card_id for card_id, s in shipment.notes.items()
               if card_id not in before}
    return {card_id: by_text[text] for card_id in removed
            if (text := before[card_id][4][:-2]) in by_text}


def _last_decks(previous: State, shipment: Shipment) -> dict[str, str | None]:
    """The deck each card of the last build was shipped to, where its topic still exists;
    None for the cards of topics that are gone (the record knows theirs)."""
    return {card_id: shipment.decks.get(ids.deck_id(stamp.topic))
            for card_id, stamp in previous.notes.items()}


@contextmanager
def _opened(path: Path, package: Path, dry_run: bool) -> Iterator[Collection]:
    """The collection, held for this process alone; with `dry_run`, a scratch copy.

    Anki desktop holds its collection open in SQLite's exclusive locking mode, so opening
    it fails at once while Anki runs (the Anki library never waits for a lock). A dry run
    never opens the original, which would write to it: a write-ahead log beside it means
    Anki has it open (or did not close it cleanly)."""
    from anki.collection import Collection
    from anki.errors import DBError

    refusal = (f"{path}: the collection is in use ({{}}). Close Anki and run deckgen sync"
               f" again, or import {package} with File > Import; nothing was changed")
    with tempfile.TemporaryDirectory() as scratch:
        if dry_run:
            if Path(f"{path}-wal").exists():
                raise DeckgenError(refusal.format("Anki is open, or did not close it cleanly"))
            target = Path(scratch) / path.name
            shutil.copyfile(path, target)
        else:
            target = path
        try:
            col = Collection(str(target))
        except DBError as error:
            if "NotADatabase" in str(error):
                raise DeckgenError(f"{path}: not an Anki collection (pass the collection.anki2"
                                   " of an Anki profile); nothing was changed") from None
            raise DeckgenError(refusal.format(str(error).rstrip("."))) from None
        try:
            yield col
        finally:
            col.close()


def _backup(col: Collection, folder: Path) -> Path:
    """A backup with Anki's own mechanism, in the profile's backup folder, so that Anki's
    Switch Profile > Open Backup offers it. Anki's rotation of old backups applies."""
    folder.mkdir(exist_ok=True)

    def backups() -> dict[Path, int]:
        return {path: path.stat().st_mtime_ns for path in folder.glob("*.colpkg")}

    existing = backups()
    col.create_backup(backup_folder=str(folder), force=True, wait_for_completion=True)
    # Named by the second: one made in the same second as the last replaces it.
    made = sorted(path for path, mtime in backups().items() if existing.get(path) != mtime)
    if not made:  # the Anki library backs up a freshly opened collection; never expected
        raise DeckgenError(f"{folder}: Anki made no backup; nothing was changed")
    return made[-1]


def _import(col: Collection, package: Path):
    """Import as File > Import does with the options Anki offers by default (not the
    learner's saved presets): notes and note types updated if newer, no scheduling."""
    from anki.collection import ImportAnkiPackageOptions, ImportAnkiPackageRequest
    from anki.import_export_pb2 import ImportAnkiPackageUpdateCondition as Condition

    if_newer = Condition.IMPORT_ANKI_PACKAGE_UPDATE_CONDITION_IF_NEWER
    options = ImportAnkiPackageOptions(merge_notetypes=False, update_notes=if_newer,
                                       update_notetypes=if_newer, with_scheduling=False,
                                       with_deck_configs=False)
    request = ImportAnkiPackageRequest(package_path=str(package), options=options)
    return col.import_anki_package(request).log


# A note of deckgen's note types, as read from a collection.
Row = tuple[int, str, int, tuple[str, ...], tuple[str, ...]]  # id, guid, mtime, tags, fields


def _notes(col: Collection) -> dict[str, Row]:
    """The notes of deckgen's note types, by card id."""
    notes = {}
    for mid in ids.NOTETYPE_IDS.values():
        notetype = col.models.get(mid)
        if notetype is None:
            continue
        at = [f["name"] for f in notetype["flds"]].index(CARD_ID_FIELD)
        for nid, guid, mtime, tags, flds in col.db.execute(
                "SELECT id, guid, mod, tags, flds FROM notes WHERE mid = ?", mid):
            fields = tuple(flds.split("\x1f"))
            notes[fields[at]] = (nid, guid, mtime, tuple(tags.split()), fields)
    return notes


def _classify(report: SyncReport, shipment: Shipment, before: dict[str, Row],
              after: dict[str, Row], log) -> None:
    by_fields = {tuple(s.fields): card_id for card_id, s in shipment.notes.items()}
    report.conflicting = sorted(by_fields[tuple(n.fields)] for n in log.conflicting
                                if tuple(n.fields) in by_fields)
    for card_id, shipped in shipment.notes.items():
        old, new = before.get(card_id), after.get(card_id)
        if card_id in report.conflicting or new is None:
            continue
        if old is None:
            report.added.append(card_id)
        elif old[2] != new[2]:
            report.updated.append(card_id)
        elif old[4] != shipped.fields:
            report.stale.append(card_id)
        else:
            report.unchanged.append(card_id)


def _keep_tags(col: Collection, report: SyncReport, shipment: Shipment, record: Record,
               before: dict[str, Row], after: dict[str, Row]) -> None:
    """Put back, on each updated note, the tags the learner added: every tag it had that
    deckgen did not ship (the import replaced them all with the package's)."""
    notes, mtimes = [], []
    for card_id in report.updated:
        ours = {t.casefold() for t in (*record.tags(card_id), *shipment.notes[card_id].tags)}
        own = [tag for tag in before[card_id][3] if tag.casefold() not in ours]
        if own:
            note = col.get_note(after[card_id][0])
            note.tags += own
            notes.append(note)
            mtimes.append((after[card_id][2], note.id))
            report.kept_tags[card_id] = own
    if notes:
        col.update_notes(notes)
        # Keep the build's mtime, as the import left it: the next import or sync then
        # compares against the same time a manual import would have left.
        col.db.executemany("UPDATE notes SET mod = ? WHERE id = ?", mtimes)


def _moves(col: Collection, shipment: Shipment,
           known_decks: dict[str, str]) -> tuple[list[Move], dict[int, int]]:
    """Cards whose home deck is a deckgen topic deck (one of the build's, or the one the
    card was last shipped to) other than its topic's now: a learner's own decks are left
    alone. Returns the moves and the new deck by card row id. Anki's importer matches
    decks by name (and gives new ones ids of its own), so decks are found by name."""
    deck_ids = {name: col.decks.id_for_name(name) for name in shipment.decks.values()}
    by_guid = {s.guid: s for s in shipment.notes.values()}
    moves, cards = set(), {}
    for cid, did, odid, guid in col.db.execute(
            "SELECT c.id, c.did, c.odid, n.guid FROM cards c JOIN notes n ON c.nid = n.id"
            f" WHERE n.mid IN ({','.join(map(str, ids.NOTETYPE_IDS.values()))})"):
        shipped, home = by_guid.get(guid), odid or did
        if shipped is None:
            continue
        target = shipment.decks[shipped.deck_id]
        last = known_decks.get(shipped.card_id)
        if home != deck_ids[target] and (
                home in deck_ids.values() or (last and home == col.decks.id_for_name(last))):
            cards[cid] = deck_ids[target]
            moves.add(Move(shipped.card_id, col.decks.name(home), target))
    return sorted(moves, key=lambda m: m.card_id), cards


def _move(col: Collection, new_decks: dict[int, int]) -> None:
    """Change each card's (home) deck and nothing else. Anki's Change Deck would also
    take cards out of filtered decks, reset FSRS memory state and learning steps."""
    cards = [col.get_card(cid) for cid in new_decks]
    for card in cards:
        if card.odid:
            card.odid = new_decks[card.id]
        else:
            card.did = new_decks[card.id]
    col.update_cards(cards)
