"""join_segments keeps the global tags and the chapters of the parts, merged across the cuts (FFmpeg's concat
demuxer alone drops both). Parts are cut from a real FFV1 clip with FFmpeg's stream copy."""
from __future__ import annotations

from fractions import Fraction

import av
from conftest_ffmpeg import ff

from ffmpeg_filter.join import join_segments


def _chapters(path) -> list[tuple]:
    with av.open(str(path)) as c:
        return [(ch["start"] * ch["time_base"], ch["end"] * ch["time_base"], ch["metadata"].get("title"))
                for ch in c.chapters()]


def test_joined_parts_keep_the_title_and_the_chapters_merged_across_the_cut(tmp_path):
    meta = tmp_path / "meta.txt"
    meta.write_text(";FFMETADATA1\ntitle=Join test\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1500\ntitle=One\n"
                    "[CHAPTER]\nTIMEBASE=1/1000\nSTART=1500\nEND=4000\ntitle=Two\n")
    whole = tmp_path / "whole.mkv"
    ff("-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=4", "-i", str(meta), "-map", "0", "-map_metadata", "1",
       "-map_chapters", "1", "-c:v", "ffv1", str(whole))
    a, b = tmp_path / "a.mkv", tmp_path / "b.mkv"
    ff("-i", str(whole), "-t", "1.2", "-map", "0", "-c", "copy", str(a))  # the cut inside chapter One
    ff("-ss", "1.2", "-i", str(whole), "-map", "0", "-c", "copy", str(b))
    assert _chapters(b)[0][2] == "One" and len(_chapters(b)) == 2
    joined = join_segments([a, b], tmp_path / "joined.mkv")
    assert _chapters(joined) == [(0, Fraction(3, 2), "One"), (Fraction(3, 2), 4, "Two")]
    with av.open(str(joined)) as c:
        assert c.metadata.get("title") == "Join test"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mkv", "b.mkv", "joined.mkv", "meta.txt", "whole.mkv"]
