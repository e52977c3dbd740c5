"""Videos: searched by what is said, written and shown in them, each hit a moment in time.

Real ffmpeg, real Whisper tiny.en, real PP-OCRv4, MiniLM and the tiny CLIP, over videos the
fixtures make (tests/fixtures_video.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.config import Settings
from retrieval.errors import MediaError
from retrieval.media import video
from retrieval.media.decode import detect_type
from retrieval.results import Query
from tests.fixtures_video import NARRATION, NARRATION_AT, SLIDE_STARTS, SLIDES, VideoCorpus
from tests.media_video import Slide, have_ffmpeg, slide_video

pytestmark = pytest.mark.skipif(not have_ffmpeg(), reason="ffmpeg is not installed")


def test_keyframes_start_each_slide_and_skip_the_black_lead_in(tmp_path: Path) -> None:
    clip = slide_video(tmp_path / "slides.mkv", SLIDES)
    info = video.probe(clip)
    assert (info.width, info.height) == (480, 270) and not info.has_audio
    assert info.duration == pytest.approx(8.5, abs=0.2)
    frames = list(video.keyframes(clip, info, Settings()))
    assert [round(k.start, 1) for k in frames] == [1.0, 3.5, 6.0]  # not the black second
    assert [round(k.end, 1) for k in frames] == [3.5, 6.0, 8.5]
    assert all(max(k.image.size) <= 640 for k in frames)


def test_keyframe_caps_per_minute_and_per_file(tmp_path: Path) -> None:
    """Twelve 1-s slides: 12 a minute allows a burst of 3, then one per 5 s of video."""
    slides = [Slide(f"PAGE {n} {'ABCDEFGHIJKL'[n]}", 1.0, ("navy", "maroon")[n % 2])
              for n in range(12)]
    clip = slide_video(tmp_path / "fast.webm", slides)
    info = video.probe(clip)
    capped = list(video.keyframes(clip, info, Settings(video_keyframes_per_minute=12)))
    assert [k.start for k in capped] == [0.0, 1.0, 2.0, 5.0, 10.0]
    assert len(list(video.keyframes(clip, info, Settings(video_max_keyframes=2)))) == 2
    assert len(list(video.keyframes(clip, info, Settings(video_keyframes_per_minute=600)))) == 12


def test_a_long_moving_video_spreads_its_keyframes(tmp_path: Path) -> None:
    """Two minutes of constant change: 12 a minute, or 6 for the file spread over its length."""
    import subprocess

    clip = tmp_path / "long.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=s=160x90:r=5:d=120,hue=h=t*40", "-c:v", "libx264", "-preset",
                    "ultrafast", str(clip)], check=True, timeout=120)
    info = video.probe(clip)
    per_minute = list(video.keyframes(clip, info, Settings(video_sample_fps=1)))
    assert len(per_minute) <= 3 + 2 * 12 and per_minute[-1].start >= 110
    per_file = list(video.keyframes(clip, info, Settings(video_sample_fps=1,
                                                         video_max_keyframes=6)))
    assert [k.start for k in per_file] == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]


def test_flat_and_blurry_frames_are_not_keyframes() -> None:
    import numpy as np

    s = Settings()
    flat = np.full((90, 160), 128, np.float32)
    sharp = np.indices((90, 160)).sum(axis=0) % 2 * 255.0
    blurred = np.tile(np.linspace(60, 200, 160, dtype=np.float32), (90, 1))
    assert video.unusable(np.zeros((90, 160), np.float32), video.signature(flat * 0), s) == "dark"
    assert video.unusable(flat, video.signature(flat), s) == "flat"
    assert video.unusable(blurred, video.signature(blurred), s) == "blurry"
    assert video.unusable(sharp, video.signature(sharp), s) is None


def test_a_video_becomes_an_item_of_timed_parts(video_corpus: VideoCorpus) -> None:
    detail = video_corpus.engine.item(video_corpus.id("talk.webm"))
    assert detail.type == "video" and detail.width == 480 and detail.height == 270
    assert detail.duration == pytest.approx(8.5, abs=0.2)
    frames = [p for p in detail.parts if p.kind == "frame"]
    assert [round(p.start or 0, 1) for p in frames] == [1.0, 3.5, 6.0]
    assert all(p.start is not None and p.end is not None and p.end > p.start
               for p in detail.parts)
    ocr = " ".join(p.text or "" for p in detail.parts if p.kind == "ocr").upper()
    for words in SLIDE_STARTS:
        assert words.upper() in ocr
    said = " ".join(p.text or "" for p in detail.parts if p.kind == "segment").lower()
    assert "copper cables" in said  # tiny.en hears "light housekeeper"
    stats = video_corpus.engine.stats()
    assert stats.items["video"] == 2 and stats.parts["frame"] >= 5
    assert stats.spaces["clip"].vectors > stats.parts["frame"]  # frames plus words in CLIP


def test_a_spoken_phrase_is_found_at_its_time(video_corpus: VideoCorpus) -> None:
    resp = video_corpus.engine.search(Query(text="lighthouse keeper repaired copper cables"))
    top = resp.results[0]
    assert top.id == video_corpus.id("talk.webm") and top.type == "video"
    assert top.match.kind == "segment" and "copper cables" in (top.match.text or "").lower()
    assert top.match.start == pytest.approx(NARRATION_AT, abs=1.0)
    assert top.match.end is not None and top.match.end > top.match.start
    assert NARRATION.split()[-1] in (top.match.text or "").lower()


@pytest.mark.parametrize("words", ["Marmalade Rocket", "Quarterly Pelican"])
def test_a_slide_is_found_through_ocr_at_its_time(video_corpus: VideoCorpus, words: str) -> None:
    resp = video_corpus.engine.search(Query(text=words.lower(), types=["video"]))
    top = resp.results[0]
    assert top.id == video_corpus.id("talk.webm")
    assert top.match.kind == "ocr" and words.upper() in (top.match.text or "").upper()
    assert top.match.start == pytest.approx(SLIDE_STARTS[words], abs=0.6)
    assert top.match.end == pytest.approx(SLIDE_STARTS[words] + 2.5, abs=0.6)


def test_text_on_screen_in_two_videos_ranks_with_photos(video_corpus: VideoCorpus) -> None:
    """One query, every kind: both videos show Zebra Harvest, the photo shows the Pelican."""
    resp = video_corpus.engine.search(Query(text="zebra harvest"))
    ids = [r.id for r in resp.results[:2]]
    assert set(ids) == {video_corpus.id("talk.webm"), video_corpus.id("orchard.mp4")}
    orchard = next(r for r in resp.results if r.id == video_corpus.id("orchard.mp4"))
    assert orchard.match.start == pytest.approx(2.0, abs=0.6)
    photo = video_corpus.engine.search(Query(text="quarterly pelican"))
    assert {r.type for r in photo.results[:2]} == {"video", "image"}


def test_more_like_this_from_a_frame_follows_the_moment(video_corpus: VideoCorpus) -> None:
    engine, talk = video_corpus.engine, video_corpus.id("talk.webm")
    early = engine.similar(talk, limit=5, at=2.0)  # the Pelican slide: its still photo
    assert early.results[0].id == video_corpus.id("pelican.png")
    late = engine.similar(talk, limit=5, at=7.0)  # the Zebra slide, also in orchard.mp4
    assert late.results[0].id == video_corpus.id("orchard.mp4")
    assert late.results[0].match.start == pytest.approx(2.0, abs=0.6)
    assert talk not in {r.id for r in early.results + late.results}


def test_damaged_videos_are_counted_failures_and_sound_only_is_audio(
        video_corpus: VideoCorpus) -> None:
    report = video_corpus.report
    reasons = {Path(f.path).name: f.reason for f in report.failures}
    assert report.failed == 2 and set(reasons) == {"cut.webm", "cut.mp4"}, reasons
    assert "truncated" in reasons["cut.webm"]
    assert "not a readable video" in reasons["cut.mp4"]
    assert report.added == 4
    note = video_corpus.engine.item(video_corpus.id("voice_note.webm"))
    assert note.type == "audio" and any(p.kind == "segment" for p in note.parts)
    assert detect_type(video_corpus.folder / "orchard.mp4") == "video"


def test_frame_at_and_bad_input(tmp_path: Path) -> None:
    clip = slide_video(tmp_path / "s.mp4", SLIDES[:2])
    img = video.frame_at(clip, 2.0, 240)
    assert img.size == (240, 135)
    r, g, b = img.getpixel((5, 5))
    assert b > 80 and r < 40  # the navy slide, not the black lead-in
    junk = tmp_path / "junk.mkv"
    junk.write_bytes(b"\x1a\x45\xdf\xa3\x93\x42\x82\x88matroska" + b"\x00" * 500)
    with pytest.raises(MediaError, match="not a readable video"):
        video.probe(junk)
    assert detect_type(junk) == "video"  # so indexing says why it failed


def test_eval_scores_video_moments(video_corpus: VideoCorpus, tmp_path: Path) -> None:
    """`xmodal eval` lines with "at": the right video at the wrong time is a miss."""
    import json

    from retrieval.evaluation import load_qrels, run_qrels

    talk = str(video_corpus.folder / "talk.webm")
    lines = [
        {"text": "copper cables repaired", "relevant": [talk], "at": NARRATION_AT,
         "kind": "video-speech"},
        {"text": "marmalade rocket", "relevant": [talk], "at": 4.0, "kind": "video-ocr"},
        {"text": "marmalade rocket", "relevant": [talk], "at": 30.0, "kind": "wrong-moment"},
    ]
    qrels = tmp_path / "qrels.jsonl"
    qrels.write_text("\n".join(json.dumps(line) for line in lines))
    report = run_qrels(video_corpus.engine, load_qrels(qrels))
    assert report.kinds["video-speech"].recall[1] == 1.0
    assert report.kinds["video-ocr"].recall[1] == 1.0
    assert report.kinds["wrong-moment"].recall[10] == 0.0


def test_reembed_decodes_keyframes_again(video_corpus: VideoCorpus, encoders: object,
                                         tmp_path: Path) -> None:
    """`--reembed` drops the CLIP vectors; keyframes come back from the file at their times."""
    import sqlite3

    import numpy as np

    from retrieval.ingest.run import index_roots
    from tests.fixtures_server import copy_data_dir

    data = tmp_path / "data"
    copy_data_dir(Path(video_corpus.settings.data_dir), data)
    settings = video_corpus.settings.model_copy(update={"data_dir": data})

    def frame_vectors() -> dict[int, np.ndarray]:
        con = sqlite3.connect(data / "catalog.sqlite")
        try:
            rows = con.execute("SELECT v.part_id, v.vec FROM vectors v JOIN parts p "
                               "ON p.id = v.part_id WHERE v.space = 'clip' AND p.kind = 'frame'")
            return {pid: np.frombuffer(vec, np.float16).astype(np.float32) for pid, vec in rows}
        finally:
            con.close()

    before = frame_vectors()
    report = index_roots(settings, [video_corpus.folder], encoders=encoders, reembed=True)
    after = frame_vectors()
    assert report.failed == 2 and set(after) == set(before) and len(after) >= 5
    assert report.encoded >= len(before)  # re-encoded, not left in place
    for pid, vec in before.items():  # the same picture, decoded by a seek instead of the pipe
        assert float(vec @ after[pid]) > 0.95, pid
