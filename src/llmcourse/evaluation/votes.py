"""Human votes on pairs of model outputs, kept in SQLite (WAL mode) so that no vote is ever lost.

Two tables:

    pairs  (id, prompt, output_a, output_b, model_a, model_b, created)
    votes  (id, rater, pair_id -> pairs.id, choice in a/b/tie/both_bad, comment, created,
            UNIQUE (rater, pair_id))                      one vote per rater per pair

Which model wrote which output (model_a, model_b) stays on the server: raters see
"Output A" and "Output B" only, and the side each model lands on is drawn at random when
the pair is made, so position says nothing either.

WAL (write-ahead logging) lets readers (the leaderboard) run while a vote is written.
Writers still queue: a write that finds the database locked by another writer waits
(SQLite's busy timeout) and is retried with back-off; only if it still cannot write does
`vote` raise, so the caller knows and the rater can press again — never a silent loss.
"""

from __future__ import annotations

import random
import sqlite3
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Iterable, Sequence

from llmcourse.evaluation.ratings import OUTCOMES

__all__ = ["DuplicateVote", "UnknownPair", "VoteStore", "VoteError"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS pairs (
    id TEXT PRIMARY KEY, prompt TEXT NOT NULL, output_a TEXT NOT NULL, output_b TEXT NOT NULL,
    model_a TEXT NOT NULL, model_b TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, rater TEXT NOT NULL, pair_id TEXT NOT NULL REFERENCES pairs(id),
    choice TEXT NOT NULL CHECK (choice IN ('a', 'b', 'tie', 'both_bad')), comment TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL, UNIQUE (rater, pair_id));
"""


class VoteError(ValueError):
    """A vote that cannot be stored; the message says why."""


class UnknownPair(VoteError):
    pass


class DuplicateVote(VoteError):
    pass


class VoteStore:
    """The vote database at `path` (created with its tables on first use)."""

    def __init__(self, path: str | Path, busy_timeout: float = 5.0, retries: int = 6):
        self.path, self.busy_timeout, self.retries = Path(path), busy_timeout, retries
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        # one connection per operation: safe from any thread of the web server
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _write(self, sql: str, params: Sequence) -> sqlite3.Cursor:
        """Run one write in its own transaction, retrying while another writer holds the lock."""
        delay = 0.05
        for attempt in range(self.retries + 1):
            db = self._connect()
            try:
                db.execute("BEGIN IMMEDIATE")
                cur = db.execute(sql, params)
                db.execute("COMMIT")
                return cur
            except sqlite3.OperationalError as err:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if "locked" not in str(err) and "busy" not in str(err):
                    raise
                if attempt == self.retries:
                    raise VoteError(f"the vote database stayed locked by another writer for {self.retries} tries; "
                                    "nothing was stored — please vote again") from err
                time.sleep(delay)
                delay *= 2
            finally:
                db.close()
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ pairs
    def add_pair(self, prompt: str, output_1: str, output_2: str, model_1: str, model_2: str,
                 rng: random.Random | None = None, pair_id: str | None = None) -> str:
        """Store a pair; which model is shown as A is drawn at random. Returns the pair id."""
        if model_1 == model_2:
            raise VoteError("a pair compares two different models")
        rng = rng or random.Random()
        if rng.random() < 0.5:
            output_1, output_2, model_1, model_2 = output_2, output_1, model_2, model_1
        pid = pair_id or uuid.uuid4().hex[:12]
        self._write("INSERT INTO pairs (id, prompt, output_a, output_b, model_a, model_b, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", (pid, prompt, output_1, output_2, model_1, model_2, time.time()))
        return pid

    def add_pairs(self, rows: Iterable[tuple[str, str, str, str, str]], seed: int = 0) -> list[str]:
        rng = random.Random(seed)
        return [self.add_pair(*row, rng=rng) for row in rows]

    def pair_ids(self) -> list[str]:
        with closing(self._connect()) as db:
            return [r[0] for r in db.execute("SELECT id FROM pairs ORDER BY created, id")]

    def pair_models(self) -> dict[str, tuple[str, str]]:
        """pair id -> (model shown as A, model shown as B): server-side knowledge, never sent to raters."""
        with closing(self._connect()) as db:
            return {r[0]: (r[1], r[2]) for r in db.execute("SELECT id, model_a, model_b FROM pairs")}

    def next_pair(self, rater: str) -> dict | None:
        """A pair `rater` has not voted on yet, as the rater may see it (no model names), or None."""
        with closing(self._connect()) as db:
            row = db.execute("SELECT id, prompt, output_a, output_b FROM pairs WHERE id NOT IN "
                             "(SELECT pair_id FROM votes WHERE rater = ?) ORDER BY created, id LIMIT 1",
                             (rater,)).fetchone()
        return dict(zip(("pair_id", "prompt", "output_a", "output_b"), row)) if row else None

    # ------------------------------------------------------------------ votes
    def vote(self, rater: str, pair_id: str, choice: str, comment: str = "") -> int:
        """Store one vote; returns its id. Unknown pair, bad choice or a second vote raise VoteError."""
        rater = (rater or "").strip()
        if not rater:
            raise VoteError("say who you are (a rater name) before voting")
        if choice not in OUTCOMES:
            raise VoteError(f"choice must be one of {', '.join(OUTCOMES)}, got {choice!r}")
        comment = (comment or "")[:2000]
        with closing(self._connect()) as db:
            if db.execute("SELECT 1 FROM pairs WHERE id = ?", (pair_id,)).fetchone() is None:
                raise UnknownPair(f"there is no pair {pair_id!r} to vote on")
        try:
            cur = self._write("INSERT INTO votes (rater, pair_id, choice, comment, created) VALUES (?, ?, ?, ?, ?)",
                              (rater, pair_id, choice, comment, time.time()))
        except sqlite3.IntegrityError as err:
            if "UNIQUE" in str(err):
                raise DuplicateVote(f"{rater} has already voted on pair {pair_id}: one vote per rater per pair") \
                    from None
            raise VoteError(f"vote refused by the database: {err}") from None
        return int(cur.lastrowid)

    def votes(self) -> list[dict]:
        """Every vote joined with its pair's models (server-side only)."""
        with closing(self._connect()) as db:
            rows = db.execute("SELECT v.id, v.rater, v.pair_id, v.choice, v.comment, v.created, p.model_a, p.model_b "
                              "FROM votes v JOIN pairs p ON p.id = v.pair_id ORDER BY v.id").fetchall()
        keys = ("id", "rater", "pair_id", "choice", "comment", "created", "model_a", "model_b")
        return [dict(zip(keys, r)) for r in rows]

    def model_votes(self) -> list[tuple[str, str, str]]:
        """(model_a, model_b, outcome) triples, what the ratings are fitted on."""
        return [(v["model_a"], v["model_b"], v["choice"]) for v in self.votes()]

    def counts(self) -> dict[str, int]:
        with closing(self._connect()) as db:
            return {"pairs": db.execute("SELECT COUNT(*) FROM pairs").fetchone()[0],
                    "votes": db.execute("SELECT COUNT(*) FROM votes").fetchone()[0],
                    "raters": db.execute("SELECT COUNT(DISTINCT rater) FROM votes").fetchone()[0]}
