"""The one edit the dependency patch scripts make: replace a snippet that occurs exactly once.

A pinned dependency's file is edited only where the snippet matches once, so a different version of
it fails loudly at setup, naming the file and the snippet, instead of building something else.
"""
import pathlib
import sys


def checked_edit(root, relpath, old, new, *, who):
    """Replaces `old` by `new` in root/relpath; exits naming `who` unless `old` occurs exactly once."""
    path = pathlib.Path(root) / relpath
    text = path.read_text()
    if text.count(old) != 1:
        sys.exit(f"{who}: expected one match in {relpath} for: {old[:60]!r}")
    path.write_text(text.replace(old, new))
