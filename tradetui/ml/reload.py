"""Picking up a retrained model in a running engine, between two decisions.

``ModelReloader.poll(now_ns)`` is called at every decision. Every ``check_ns`` of engine time
it stats ``model.json`` and ``card.json`` (inode, size, mtime: a few µs; ``os.replace`` always
gives a new inode). When they changed, the model is loaded and verified by ``load_model`` —
in a background thread by default, so the decision loop never waits for JSON parsing and tree
compilation — and a later ``poll`` hands the loaded model over; the caller swaps it in before
that decision's prediction. A model that fails to load is logged and the current one stays;
the files are tried again when they change next. A model with the current sha256 is ignored.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future
from pathlib import Path

from tradetui.ml.model import CARD_FILE, MODEL_FILE, FilterModel, ModelError, load_model

log = logging.getLogger(__name__)

_Key = tuple[tuple[int, int, int], ...] | None


def files_key(directory: Path) -> _Key:
    """(inode, size, mtime ns) of the model and card files; None when either is missing."""
    try:
        return tuple(
            (st.st_ino, st.st_size, st.st_mtime_ns)
            for st in (os.stat(directory / MODEL_FILE), os.stat(directory / CARD_FILE))
        )
    except OSError:
        return None


class ModelReloader:
    """Watches one model directory; ``poll`` returns a newly loaded model or None."""

    def __init__(
        self, directory: Path, sha256: str, check_ns: int, *, background: bool = True
    ) -> None:
        self.directory = directory
        self.sha256 = sha256
        self.check_ns = check_ns
        self.background = background
        self.failures = 0
        self._key = files_key(directory)
        self._next_ns = 0
        self._loading: Future[FilterModel] | None = None

    def poll(self, now_ns: int) -> FilterModel | None:
        """A verified new model when one is ready, else None. Cheap when nothing changed."""
        if self._loading is not None:
            if not self._loading.done():
                return None
            return self._take(self._loading)
        if now_ns < self._next_ns:
            return None
        self._next_ns = now_ns + self.check_ns
        key = files_key(self.directory)
        if key == self._key or key is None:
            return None
        self._key = key
        fut: Future[FilterModel] = Future()
        if self.background:
            threading.Thread(
                target=self._load, args=(fut,), name="ml-model-reload", daemon=True
            ).start()
            self._loading = fut
            return None
        self._load(fut)
        return self._take(fut)

    def _load(self, fut: Future[FilterModel]) -> None:
        try:
            fut.set_result(load_model(self.directory))
        except BaseException as exc:  # handed to the decision thread, never lost
            fut.set_exception(exc)

    def _take(self, fut: Future[FilterModel]) -> FilterModel | None:
        self._loading = None
        try:
            model = fut.result()
        except ModelError as exc:
            self.failures += 1
            log.warning("ml model not reloaded (%s); keeping the current model", exc)
            return None
        except Exception as exc:
            self.failures += 1
            log.error("ml model reload failed (%r); keeping the current model", exc)
            return None
        sha = str(model.card.get("sha256", ""))
        if sha == self.sha256:
            return None
        self.sha256 = sha
        return model
