"""``GET /api/duplicates``: the groups of near-identical photos, for the duplicates view."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from retrieval.search.duplicates import DuplicateItem
from web.deps import EngineDep
from web.schemas import ERROR_RESPONSES, media_url, thumb_url

router = APIRouter()


class WebDuplicateItem(DuplicateItem):
    media_url: str
    thumb_url: str


class WebDuplicateGroup(BaseModel):
    items: list[WebDuplicateItem] = Field(default_factory=list)


class DuplicatesResponse(BaseModel):
    """Every group of two or more near-identical photos, the largest picture first in each."""

    groups: list[WebDuplicateGroup]
    photos: int = 0  # photos in all groups together


@router.get("/api/duplicates", response_model=DuplicatesResponse, responses=ERROR_RESPONSES)
async def get_duplicates(engine: EngineDep) -> DuplicatesResponse:
    """Groups of near-identical photos (resized, re-encoded or lightly edited copies)."""
    groups = await run_in_threadpool(engine.duplicate_groups)
    out = [WebDuplicateGroup(items=[
        WebDuplicateItem(**d.model_dump(), media_url=media_url(d.id), thumb_url=thumb_url(d.id))
        for d in g.items]) for g in groups]
    return DuplicatesResponse(groups=out, photos=sum(len(g.items) for g in out))
