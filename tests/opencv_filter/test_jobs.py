"""Planning ``rainmamba derain INPUT... OUTPUT``: where each result goes, and plans that are refused."""
from __future__ import annotations

import pytest

from opencv_filter import DerainError
from opencv_filter.jobs import Job, plan_jobs


def test_one_input_is_written_as_given(tmp_path):
    assert plan_jobs([str(tmp_path / "in.mp4")], "anything/out.avi") == [Job(str(tmp_path / "in.mp4"),
                                                                             "anything/out.avi")]


def test_several_inputs_keep_their_names_in_the_output_folder(tmp_path):
    (tmp_path / "a.wmv").write_bytes(b"x")  # a container OpenCV reads but cannot write: becomes .mp4
    jobs = plan_jobs([str(tmp_path / "a.wmv"), "x/seq/*.png", "y/s2/%06d.png"], "out")
    assert [job.target for job in jobs] == ["out/a.mp4", "out/seq", "out/s2/%06d.png"]


def test_a_library_folder_lists_videos_and_frame_folders(tmp_path):
    (tmp_path / "b.avi").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("skipped")
    (tmp_path / "seq").mkdir()
    (tmp_path / "seq" / "0.png").write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    jobs = plan_jobs([str(tmp_path)], "out")
    assert [(job.source, job.target) for job in jobs] == [(str(tmp_path / "b.avi"), "out/b.avi"),
                                                          (str(tmp_path / "seq"), "out/seq")]


def test_refused_plans(tmp_path):
    with pytest.raises(DerainError, match="OUTPUT must be a folder"):
        plan_jobs(["a.mp4", "b.mp4"], "out.mp4")
    with pytest.raises(DerainError, match="would both be written to out/a.mp4"):
        plan_jobs(["x/a.mp4", "y/a.mp4"], "out")
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "readme.txt").write_text("no frames")
    (tmp_path / "nothing" / "sub").mkdir()
    with pytest.raises(DerainError, match="holds no video, no image"):
        plan_jobs([str(tmp_path / "nothing")], "out")
