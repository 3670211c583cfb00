"""Sentinel's read API (`make serve`, http://127.0.0.1:8000/docs).

* `GET /health`: the snapshot served, its age, the champion model.
* `GET /anomalies`: the detector's rows with filters (date range, country, OS, level, flagged only) and paging.
* `GET /anomalies/summary`: the detection period and its incidents, each at the highest level that explains it.
* `GET /spam/scores/{number_id}`: a number's latest score by the champion.
* `POST /spam/score`: score a batch of feature rows with the champion (validated; 422 names the bad field).
* `GET /spam/champion`: the champion's card (feature version, data window, test metrics, gate decision).

Everything is read from the published snapshot (ml/serving/snapshots.py); the response says which one.
"""

import math
import threading
from contextlib import asynccontextmanager
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, ValidationError, create_model

from ml.logs import log_event
from ml.serving.snapshots import NoSnapshotError, Reading, SnapshotReader
from ml.settings import Paths, paths
from ml.spam.features import check_batch
from ml.sql import records

MAX_PAGE = 1000
MAX_BATCH = 10_000
MAX_OFFSET = 1_000_000_000  # far beyond any table here; an offset near 2^63 would overflow the engine


class Level(StrEnum):
    country_os = "country_os"
    country = "country"
    os = "os"
    total = "total"


class Page(BaseModel):
    snapshot_id: str
    total: int = Field(description="rows matching the filters")
    limit: int
    offset: int
    items: list[dict[str, Any]]


class ScoreRequest(BaseModel):
    """Feature rows in the champion's schema (GET /spam/champion lists its features); number_id is optional."""

    rows: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)


class Scored(BaseModel):
    snapshot_id: str
    model_version: int
    feature_version: int
    threshold: float
    scores: list[dict[str, Any]]


def _error(e: dict[str, Any]) -> dict[str, Any]:
    """A validation error without the offending input or context values (which may not even be JSON)."""
    return {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}


def _rows(cur, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts: NaN and infinity become null."""
    return [
        {c: None if isinstance(v, float) and not math.isfinite(v) else v for c, v in row.items()}
        for row in records(cur, sql, params)
    ]


class ChampionModels:
    """The champion's fitted pipeline and input schema, loaded from MLflow once per version."""

    def __init__(self, p: Paths):
        self.p = p
        self._lock = threading.Lock()
        self._loaded: dict[int, tuple[Any, list[tuple[str, str]], type[BaseModel]]] = {}

    def get(self, version: int):
        with self._lock:
            if version not in self._loaded:
                from mlflow.models import get_model_info

                from ml.spam.registry import MODEL_NAME, Registry

                reg = Registry(self.p)
                model = reg.load(version)
                inputs = get_model_info(f"models:/{MODEL_NAME}/{version}").signature.inputs.to_dict()
                schema = [(c["name"], c["type"]) for c in inputs]
                fields: dict[str, Any] = {"number_id": (str | None, None)}
                for name, kind in schema:
                    if kind == "string":
                        fields[name] = (str, Field(min_length=1, max_length=64))
                    else:
                        fields[name] = (float, Field(ge=0, allow_inf_nan=False))
                row = create_model(f"FeatureRowV{version}", __config__={"extra": "forbid"}, **fields)
                self._loaded[version] = (model, schema, row)
            return self._loaded[version]


def create_app(p: Paths | None = None) -> FastAPI:
    p = p or paths()
    reader = SnapshotReader(p.published)
    models = ChampionModels(p)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        # load the champion before serving: the first /spam/champion used to wait 27 s for it under the lock
        warm_champion(reader, models)
        yield

    # Swagger UI and ReDoc from the package, not a CDN: /docs was a blank page without internet
    app = FastAPIOffline(
        lifespan=lifespan,
        title="Sentinel",
        version="1.0",
        description="KPI anomalies and spam scores, read from the pipeline's published snapshots.",
    )

    @app.exception_handler(NoSnapshotError)
    def _no_snapshot(_: Request, exc: NoSnapshotError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each bad parameter or field, never echoing the input: a NaN cannot be written as JSON
        (it was a 500), and a 10,001-row batch would be sent back whole."""
        return JSONResponse(status_code=422, content={"detail": [_error(e) for e in exc.errors()[:50]]})

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    def reading():
        with reader.read() as r:
            yield r

    Snap = Annotated[Reading, Depends(reading)]

    def _champion(r: Reading) -> dict[str, Any]:
        rows = _rows(
            r.cursor,
            "select v.* from ml.spam_model_aliases a join ml.spam_model_versions v using (model_version) "
            "where a.alias = 'champion'",
        )
        if not rows:
            raise HTTPException(404, "no champion model in the published snapshot")
        return rows[0]

    @app.get("/health")
    def health(r: Snap) -> dict[str, Any]:
        champion = _rows(r.cursor, "select model_version from ml.spam_model_aliases where alias = 'champion'")
        return {
            "status": "ok",
            "snapshot_id": r.snapshot.snapshot_id,
            "published_at": r.snapshot.published_at,
            "relations": len(r.snapshot.row_counts),
            "champion_version": champion[0]["model_version"] if champion else None,
        }

    @app.get("/anomalies", response_model=Page)
    def anomalies(
        r: Snap,
        start: Annotated[date | None, Query(description="first day (series_date >= start)")] = None,
        end: Annotated[date | None, Query(description="last day (series_date <= end)")] = None,
        country: Annotated[str | None, Query(pattern=r"^([A-Z]{2}|\*)$", description="ISO alpha-2, * = all")] = None,
        os: Annotated[str | None, Query(max_length=32, description="Android, iOS, ..., * = all")] = None,
        level: Level | None = None,
        only_flagged: Annotated[bool, Query(description="only the days the detector flagged")] = False,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> Page:
        if start and end and start > end:
            raise HTTPException(422, detail=[{"loc": ["query", "start"], "msg": "start is after end"}])
        where, params = ["true"], []
        for cond, value in (
            ("series_date >= ?", start),
            ("series_date <= ?", end),
            ("country = ?", country),
            ("os = ?", os),
            ("level = ?", level.value if level else None),
        ):
            if value is not None:
                where.append(cond)
                params.append(value)
        if only_flagged:
            where.append("is_anomaly")
        clause = " and ".join(where)
        total = r.cursor.execute(f"select count(*) from marts.fct_api_request_anomalies where {clause}", params)
        total = total.fetchall()[0][0]
        items = _rows(
            r.cursor,
            # the detector's internal state (state_*) is for its daily run, not for readers
            "select columns(lambda c: not starts_with(c, 'state_')) from marts.fct_api_request_anomalies "
            f"where {clause} "
            "order by series_date, level, series_key limit ? offset ?",
            [*params, limit, offset],
        )
        return Page(snapshot_id=r.snapshot.snapshot_id, total=total, limit=limit, offset=offset, items=items)

    @app.get("/anomalies/summary")
    def anomalies_summary(r: Snap) -> dict[str, Any]:
        period = _rows(r.cursor, "select detection_start, detection_end from intermediate.int_api_detection_period")
        incidents = _rows(
            r.cursor, "select * from marts.fct_api_anomaly_detection_summary order by start_date, level, series_key"
        )
        return {"snapshot_id": r.snapshot.snapshot_id, **(period[0] if period else {}), "incidents": incidents}

    @app.get("/spam/scores/{number_id}")
    def spam_score(r: Snap, number_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        rows = _rows(r.cursor, "select * from marts.fct_spam_scores_latest where number_id = ?", [number_id])
        if not rows:  # the id is not echoed: a reply never carries what the caller sent
            raise HTTPException(404, "this number has no score in the latest week")
        return {"snapshot_id": r.snapshot.snapshot_id, **rows[0]}

    @app.get("/spam/champion")
    def champion_card(r: Snap) -> dict[str, Any]:
        card = _champion(r)
        decision = _rows(
            r.cursor,
            "select decided_at, champion_version as previous_champion, promoted, reason from ml.spam_gate_decisions "
            "where challenger_version = ? order by decided_at desc limit 1",
            [card["model_version"]],
        )
        _, schema, _ = models.get(int(card["model_version"]))
        return {
            "snapshot_id": r.snapshot.snapshot_id,
            **card,
            "features": [{"name": n, "type": t} for n, t in schema],  # what POST /spam/score expects per row
            "gate_decision": decision[0] if decision else None,
        }

    @app.post("/spam/score", response_model=Scored)
    def score_batch(r: Snap, body: ScoreRequest) -> Scored:
        card = _champion(r)
        model, schema, row_model = models.get(int(card["model_version"]))
        rows, errors = [], []
        for i, raw in enumerate(body.rows):
            try:
                rows.append(row_model.model_validate(raw))
            except ValidationError as exc:
                errors += [_error({**e, "loc": ["body", "rows", i, *e["loc"]]}) for e in exc.errors(include_url=False)]
        if errors:
            raise HTTPException(422, detail=errors[:50])
        frame = pd.DataFrame([row.model_dump() for row in rows])
        # the pipeline's own rule for a scoring batch: exactly the model's features, in its order
        scores = model.predict_proba(check_batch(frame, [name for name, _ in schema]))[:, 1]
        threshold = float(card["threshold"])
        return Scored(
            snapshot_id=r.snapshot.snapshot_id,
            model_version=int(card["model_version"]),
            feature_version=int(card["feature_version"]),
            threshold=threshold,
            scores=[
                {"number_id": n, "score": float(s), "is_flagged": bool(s >= threshold)}
                for n, s in zip(frame["number_id"], scores, strict=True)
            ],
        )

    app.state.reader = reader
    app.state.models = models
    return app


def warm_champion(reader: SnapshotReader, models: ChampionModels) -> int | None:
    """Load the published champion's model; the version, or None when nothing is published yet."""
    try:
        with reader.read() as r:
            row = records(r.cursor, "select model_version from ml.spam_model_aliases where alias = 'champion'")
    except NoSnapshotError:
        return None
    if not row:
        return None
    version = int(row[0]["model_version"])
    models.get(version)
    log_event("api.champion_loaded", model_version=version)
    return version


app = create_app()
