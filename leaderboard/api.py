"""The JSON API: register, submit (what ``challenge submit`` calls), finals, the leaderboard.

Every error is JSON ``{"error": message}`` with the status the issue lists: 400 bad file,
401 bad token, 403 closed, 409 name taken or too many finals, 413 too large, 429 quota.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, jsonify, request
from sqlalchemy import text

from leaderboard import actions, auth, grading, ladder, queries, ranking, uploads
from leaderboard.db import session_scope
from leaderboard.models import Submission

bp = Blueprint("api", __name__, url_prefix="/api")


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def json_body() -> dict:
    """The request's JSON object, or 400 (not an object, or nested too deeply) or 413 (too long)."""
    limit = current_app.config["MAX_JSON_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        abort(413, f"the JSON body is larger than the limit of {limit} bytes")
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # json.loads gives up on deep nesting with this, not a ValueError
        abort(400, "the JSON body is nested too deeply; expected a flat JSON object")
    if not isinstance(body, dict):
        abort(400, 'expected a JSON object body, for example {"name": "my team"}')
    return body


def scores_json(scored: Submission | ranking.Row | ranking.Late, *, revealed: bool) -> dict:
    """The public AUC and its interval as ``ladder.public_score`` lets them be read; the private
    ones too, but only once ``revealed``. A submission not scored yet (or failed) has null
    there, intervals included; one the Ladder did not accept has null and ``public_withheld``
    saying why; rounded numbers come with ``public_digits``."""
    public = ladder.public_score(scored, revealed=revealed, app=current_app)
    scores = {
        "public_auc": public.value,
        "public_auc_ci": _interval(public.lo, public.hi),
    }
    if public.withheld:
        scores["public_withheld"] = public.withheld
    elif ladder.is_ladder(current_app) and not revealed and public.value is not None:
        scores["public_digits"] = ladder.public_digits(current_app)
    if revealed:
        scores["private_auc"] = scored.private_auc
        scores["private_auc_ci"] = _interval(scored.private_lo, scored.private_hi)
    return scores


def _interval(lo: float | None, hi: float | None) -> list[float] | None:
    return None if lo is None else [lo, hi]


def submission_json(s: Submission, *, revealed: bool) -> dict:
    return {
        "id": s.id,
        "created_at": iso(s.created_at),
        "filename": s.filename,
        "note": s.note,
        "sha256": s.sha256,
        "size_bytes": s.size_bytes,
        "rows": s.n_rows,
        "kind": s.kind,  # "predictions" or "model"
        "status": s.status,  # queued, running, scored or failed; scores are null until scored
        "failure_reason": s.failure_reason,
        "scored_at": iso(s.scored_at),
        "late": s.is_late,
        "final": s.is_final,
        "disqualified_reason": s.disqualified_reason,
    } | scores_json(s, revealed=revealed)


def row_json(row: ranking.Row, *, revealed: bool) -> dict:
    item = {
        "rank": row.rank,
        "rank_lo": row.rank_lo,
        "rank_hi": row.rank_hi,
        "team": row.team,
        "team_id": row.team_id,
        "reference": row.is_reference,
        "entries": row.entries,
        "last_submission": iso(row.last_submission),
    }
    # After the reveal: the public AUC of the submission that counted, not the team's best.
    item |= scores_json(row, revealed=revealed)
    if revealed:
        item.update(
            public_rank=row.public_rank,
            rank_change=row.rank_change,
            p_value_vs_next=row.p_value_vs_next,
            counted_submission=row.submission_id,
        )
    return item


def late_json(late: ranking.Late, *, revealed: bool) -> dict:
    return {
        "id": late.submission_id,
        "team": late.team,
        "team_id": late.team_id,
        "created_at": iso(late.created_at),
    } | scores_json(late, revealed=revealed)


@bp.post("/teams")
def create_team():
    body = json_body()
    name, invite = body.get("name"), body.get("invite", "")
    if not isinstance(name, str) or not isinstance(invite, str):
        abort(400, 'expected {"name": "<team name>"}, with "invite": "<code>" in invite mode')
    team, token = actions.register_team(
        name, invite=invite, address=auth.registering_address(), app=current_app
    )
    auth.mark_private()
    return jsonify(team=team, token=token), 201


@bp.post("/token")
def new_token():
    """Replace the bearer's team token; the old one and every log-in session stop at once."""
    team = auth.team_from_token(auth.bearer_token())
    token = actions.rotate_token(team.id, app=current_app)
    auth.mark_private()
    return jsonify(team=team.name, token=token)


@bp.post("/submissions")
def create_submission():
    team = auth.team_from_token(auth.bearer_token())
    upload, note = request.files.get("file"), request.form.get("note", "")
    accepted = uploads.receive(team, upload, note, app=current_app)
    s = accepted.submission
    if accepted.scored is None:  # a model: queued for a worker; GET /api/submissions follows it
        queued = {"id": s.id, "team": team.name, "status": s.status, "kind": s.kind}
        queued |= {"remaining_today": accepted.remaining_today, "sha256": s.sha256}
        queued["metric"] = grading.answer_key(current_app).metric.name  # what public_auc will hold
        return jsonify(queued), 202
    body = {
        "id": s.id,
        "team": team.name,
        "metric": grading.answer_key(
            current_app
        ).metric.name,  # what public_auc holds (roc_auc, bkg_eff@E)
        "remaining_today": accepted.remaining_today,
        "sha256": s.sha256,
        "rows": s.n_rows,
        **scores_json(s, revealed=False),  # the private score never travels with an upload
    }
    return jsonify(body), 201


@bp.get("/submissions")
def list_submissions():
    team = auth.team_from_token(auth.bearer_token())
    with session_scope(current_app) as db:
        revealed = queries.is_revealed(db)
        items = [
            submission_json(s, revealed=revealed) for s in queries.team_submissions(db, team.id)
        ]
    return jsonify(team=team.name, disqualified_reason=team.disqualified_reason, submissions=items)


@bp.post("/submissions/<int:submission_id>/final")
def mark_final(submission_id: int):
    team = auth.team_from_token(auth.bearer_token())
    final = json_body().get("final", True)
    if not isinstance(final, bool):
        abort(400, 'expected {"final": true} or {"final": false}')
    actions.set_final(team.id, submission_id, final, app=current_app)
    return jsonify(id=submission_id, final=final)


@bp.get("/leaderboard")
def leaderboard():
    with session_scope(current_app) as db:
        board = ranking.current_board(db, current_app)
    body = ranking.derived(board, "api", board_json, current_app)
    return current_app.response_class(body, mimetype="application/json")


def board_json(board: ranking.Board) -> bytes:
    """The board as /api/leaderboard sends it (built once per board, then reused)."""
    metric = grading.answer_key(current_app).metric
    body = {
        "metric": metric.name,
        "higher_is_better": metric.higher_is_better,
        "revealed": board.revealed,
        "ranked_at": iso(board.ranked_at),
        "resamples": board.resamples,
        "tied_first": board.tied_first,
        "rows": [row_json(row, revealed=board.revealed) for row in board.rows],
        "late": [late_json(item, revealed=board.revealed) for item in board.late],
    }
    return (current_app.json.dumps(body) + "\n").encode()


@bp.get("/health")
def health():
    """For monitoring: 200 when the database answers, 503 (by the error handler) when not."""
    with session_scope(current_app) as db:
        db.execute(text("SELECT 1"))
    return jsonify(status="ok")
