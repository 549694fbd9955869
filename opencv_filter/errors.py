"""The one exception type of the OpenCV wrapper: bad input or options, said in one sentence.

The command line turns it into a one-line message and a non-zero exit status; library users catch it
as a ``ValueError`` (what it is: a problem with what they passed in, not a bug).
"""
from __future__ import annotations


class DerainError(ValueError):
    """Input, output or options that cannot be used; the message says what is wrong and how to fix it."""
