"""``GET /api/limits``: the sizes and rates this server enforces, so a client can check first.

The page reads it before sending a picture or a recording: a file over the body limit is
refused in the browser with a message, instead of being streamed until the server cuts it off.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from web.deps import SettingsDep
from web.index_routes import MAX_FILES

router = APIRouter()

MB = 1024 * 1024


class Limits(BaseModel):
    """What a request may carry and how often a client may ask."""

    max_upload_bytes: int  # a whole request body: a query picture or recording, or uploads
    uploads_enabled: bool  # POST /api/index exists (a token is configured)
    max_files_per_upload: int
    max_uploads_total_bytes: int  # every uploaded file stored together
    search_burst: int
    search_per_second: float  # 0: searches are not rate limited
    upload_burst: int
    upload_per_second: float  # 0: uploads are not rate limited


@router.get("/api/limits", response_model=Limits)
async def get_limits(settings: SettingsDep) -> Limits:
    """The request size and rate limits, as configured by the ``XMODAL_`` settings."""
    return Limits(
        max_upload_bytes=settings.max_upload_mb * MB,
        uploads_enabled=bool(settings.api_token),
        max_files_per_upload=MAX_FILES,
        max_uploads_total_bytes=settings.max_uploads_total_mb * MB,
        search_burst=settings.search_burst,
        search_per_second=settings.search_per_second,
        upload_burst=settings.upload_burst,
        upload_per_second=settings.upload_per_second,
    )
