"""RainMamba for OpenCV pipelines: derain ``cv2.VideoCapture`` loops, frame iterables and video files.

    cap = cv2.VideoCapture("rainy.mp4")
    for frame in opencv_filter.derain_frames(cap, model="vrds"):   # BGR uint8 in, BGR uint8 out
        writer.write(frame)

    cap = opencv_filter.DerainedCapture("rainy.mp4", model="vrds")  # a drop-in cv2.VideoCapture

The ``rainmamba derain`` command (``opencv_filter.cli``) does the same for whole files and folders.
"""
from .capture import DerainedCapture
from .errors import DerainError
from .frames import derain_frames, make_derainer
from .media import (Encoding, FrameFormat, ImageSequenceReader, ImageSequenceWriter, VideoFileWriter, VideoReader,
                    open_reader)

__all__ = ["DerainError", "DerainedCapture", "Encoding", "FrameFormat", "ImageSequenceReader", "ImageSequenceWriter",
           "VideoFileWriter", "VideoReader", "derain_frames", "make_derainer", "open_reader"]
