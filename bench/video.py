"""Video indexing speed: frames/s and real-time factor of each stage on a generated video.

Makes one H.264 video of ``--seconds`` at ``--size`` and 25 fps: six-second stretches of a
moving test pattern alternate with still slides of words (drawtext), and espeak-ng narration
runs under all of it. Then, with warm models (real MiniLM, Whisper tiny.en, PP-OCRv4, and a
random-weight ViT-B-32 checkpoint, which costs what the real one costs), it times:

- Whisper alone on the soundtrack, for scale;
- decode: ffmpeg piping frames sampled at ``XMODAL_VIDEO_SAMPLE_FPS`` (nothing else);
- keyframes: decode plus scene-change, blank/blur checks and caps;
- extract: keyframes plus OCR of each keyframe plus Whisper on the soundtrack;
- index: all of it through ``index_roots``, with CLIP and MiniLM encoding and the commit.

Real-time factor = processing seconds / video seconds (below 1: faster than playing it).

    python -m bench.video --seconds 60 --size 640x360
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench import dataset
from bench.machine import describe

NARRATION = (
    "Welcome to the quarterly review of the harbour project. The new crane arrived in March "
    "and the dock workers finished the concrete pier two weeks early. Next, the budget. "
    "Fuel costs rose by eleven percent, but the ferry service earned more than expected. "
    "Finally, the lighthouse needs new copper cables before the winter storms arrive."
)
WORDS = ["Harbour Review", "Crane Delivery", "Concrete Pier", "Fuel Costs", "Ferry Income",
         "Copper Cables", "Winter Storms", "Next Steps"]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def make_video(path: Path, seconds: int, size: str) -> Path:
    """Alternating moving pattern and word slides, 6 s each, with narration, as H.264 + AAC."""
    w, h = (int(x) for x in size.split("x"))
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    chains, n = [], 0
    for start in range(0, seconds, 6):
        d = min(6, seconds - start)
        if n % 2 == 0:
            src = f"testsrc2=s={w}x{h}:r=25:d={d}"
            chain = f"[{n}:v]format=yuv420p[v{n}]"
        else:
            src = f"color=c=navy:s={w}x{h}:r=25:d={d}"
            chain = (f"[{n}:v]format=yuv420p,drawtext=fontfile={FONT}:"
                     f"text='{WORDS[(n // 2) % len(WORDS)]}':fontcolor=white:fontsize={h // 8}:"
                     f"x=(w-text_w)/2:y=(h-text_h)/2[v{n}]")
        cmd += ["-f", "lavfi", "-i", src]
        chains.append(chain)
        n += 1
    wav = path.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), NARRATION], check=True,
                   capture_output=True)
    cmd += ["-i", str(wav)]
    graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(n)) + \
        f"concat=n={n}:v=1:a=0[v];[{n}:a]apad[a]"
    cmd += ["-filter_complex", graph, "-map", "[v]", "-map", "[a]", "-t", str(seconds),
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
            str(path)]
    subprocess.run(cmd, check=True, capture_output=True)
    wav.unlink()
    return path


def timed(fn):  # noqa: ANN001, ANN201 - a tiny helper for this script only
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--size", default="640x360")
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None or shutil.which("espeak-ng") is None:
        raise SystemExit("needs ffmpeg and espeak-ng")
    from retrieval.config import Settings
    from retrieval.encoders import Encoders
    from retrieval.ingest.extract import Extractor
    from retrieval.ingest.run import index_roots
    from retrieval.media import video

    with tempfile.TemporaryDirectory(prefix="xmodal-bench-video-") as tmp:
        clip = make_video(Path(tmp) / "talk.mp4", args.seconds, args.size)
        settings = Settings(XMODAL_DATA=Path(tmp) / "data", device="cpu",
                            clip_checkpoint=dataset.clip_checkpoint())
        encoders = Encoders(settings)
        for role in ("text", "clip", "speech", "ocr"):  # load every model before timing
            getattr(encoders, role).load()
        info = video.probe(clip)
        fps = settings.video_sample_fps
        t_dec, frames = timed(lambda: sum(1 for _ in video.iter_frames(
            clip, info, fps, settings.video_frame_side)))
        t_key, keys = timed(lambda: list(video.keyframes(clip, info, settings)))
        t_say, _ = timed(lambda: encoders.speech.transcribe(clip))
        extractor = Extractor(settings, encoders)
        st = clip.stat()
        t_ext, out = timed(lambda: extractor.extract(clip, st.st_size, st.st_mtime_ns, "x"))
        t_idx, report = timed(lambda: index_roots(settings, [clip], encoders=encoders))
    kinds: dict[str, int] = {}
    for p in out.parts:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    dur = info.duration
    load = os.getloadavg()
    print(f"\n## Indexing one {dur:.0f} s {info.width}x{info.height} H.264 video "
          f"(sampled at {fps:g} fps, frames decoded at most {settings.video_frame_side} px)\n"
          f"{describe()}\nload average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          f"(shared machine)\n")
    print("| stage | seconds | sampled frames/s | real-time factor |")
    print("|---|---:|---:|---:|")
    print(f"| Whisper alone (soundtrack) | {t_say:.1f} | - | {t_say / dur:.3f} |")
    for name, secs in (("decode + sample", t_dec), ("+ keyframes", t_key),
                       ("+ OCR + Whisper (extract)", t_ext),
                       ("+ CLIP + MiniLM + commit (index)", t_idx)):
        print(f"| {name} | {secs:.1f} | {frames / secs:.1f} | {secs / dur:.3f} |")
    print(f"\n{frames} frames sampled, {len(keys)} keyframes, parts: {kinds}; "
          f"index report: added {report.added}, failed {report.failed}")


if __name__ == "__main__":
    main()
