"""``POST /api/index``: add uploaded files to the collection. Exists only with a token.

Uploads are written under ``<data>/uploads/<stamp>-<random>/`` with their names reduced to a
plain file name, so nothing the client sends chooses where a file lands.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from retrieval.results import IndexReport
from web.deps import EngineDep, SettingsDep, require_token
from web.errors import ApiError
from web.schemas import ERROR_RESPONSES
from web.uploads import (
    UPLOAD_SUFFIXES,
    check_upload_quota,
    new_upload_dir,
    safe_name,
    stored_upload_bytes,
    upload_suffix_kind,
)

router = APIRouter()

MAX_FILES = 100


def _unique(folder: Path, name: str) -> Path:
    """``name`` in ``folder``, numbered when an earlier upload of the request took it."""
    target = folder / name
    stem, suffix = target.stem, target.suffix
    n = 1
    while target.exists():
        target = folder / f"{stem}-{n}{suffix}"
        n += 1
    return target


@router.post(
    "/api/index",
    response_model=IndexReport,
    responses={**ERROR_RESPONSES, 401: ERROR_RESPONSES[400] | {"description": "Missing token"}},
    dependencies=[Depends(require_token)],
)
async def index_uploads(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile], File(description="Images, recordings, documents or videos")],
) -> IndexReport:
    """Save the uploaded files under the data directory and index them now."""
    if not files:
        raise ApiError(400, "empty_upload", "no files were uploaded")
    if len(files) > MAX_FILES:
        raise ApiError(400, "too_many_files", f"at most {MAX_FILES} files per request")
    for upload in files:
        if upload_suffix_kind(safe_name(upload.filename)) is None:
            allowed = ", ".join(sorted(set().union(*UPLOAD_SUFFIXES.values())))
            raise ApiError(
                415,
                "unsupported_media_type",
                f"{safe_name(upload.filename)!r}: unsupported file type; allowed: {allowed}",
            )
    # One request at a time between measuring the stored uploads and writing new ones, so two
    # concurrent uploads cannot both fit under the cap and together pass it.
    async with request.app.state.upload_lock:
        stored = await run_in_threadpool(stored_upload_bytes, settings.data_dir)
        check_upload_quota(stored, sum(u.size or 0 for u in files), settings.max_uploads_total_mb)
        folder = await run_in_threadpool(new_upload_dir, settings.data_dir)
        paths: list[Path] = []
        for upload in files:
            target = _unique(folder, safe_name(upload.filename))
            await upload.seek(0)
            with target.open("xb") as out:
                await run_in_threadpool(shutil.copyfileobj, upload.file, out)
            paths.append(target)
    return await run_in_threadpool(engine.index, paths)
