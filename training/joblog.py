"""A job's log tail: what the engine really printed and logged while it ran, capped.

Warnings (``warnings.warn``, transformers' and accelerate's loggers), the engine's own
output and, on a failure, the traceback, collected from the thread that runs the job (a
worker process may have other threads logging) and from an ``accelerate launch``
subprocess's output lines (``training.launcher``). The tail keeps the last
``PREFLAB_LOG_TAIL_CHARS`` characters, whole lines only.
"""

import contextlib
import logging
import sys
import threading
from collections import deque

from django.conf import settings

# Libraries that log on a logger of their own that does not propagate to the root logger.
LIBRARY_LOGGERS = ("transformers", "datasets")
# Celery writes a task's print() output to this logger: caught already by the stream tee.
REDIRECTED = "celery.redirected"


class LogTail:
    def __init__(self, text: str = "", limit: int | None = None):
        self.limit = limit or settings.PREFLAB_LOG_TAIL_CHARS
        self.lines: deque[str] = deque()
        self.size = 0
        self.lock = threading.Lock()
        self.changed = False
        for line in text.splitlines():
            self.add(line)
        self.changed = False

    def add(self, text: str) -> None:
        with self.lock:
            for line in text.rstrip("\n").split("\n"):
                line = line.rstrip("\r")[: self.limit]
                self.lines.append(line)
                self.size += len(line) + 1
                while self.size > self.limit and len(self.lines) > 1:
                    self.size -= len(self.lines.popleft()) + 1
            self.changed = True

    def text(self) -> str:
        with self.lock:
            return "".join(line + "\n" for line in self.lines)

    def last_lines(self, n: int) -> str:
        with self.lock:
            return "\n".join(list(self.lines)[-n:])


class _TailHandler(logging.Handler):
    def __init__(self, tail: LogTail, thread_id: int):
        super().__init__(logging.INFO)
        self.tail, self.thread_id = tail, thread_id
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def filter(self, record):
        return record.thread == self.thread_id and record.name != REDIRECTED

    def emit(self, record):
        try:
            self.tail.add(self.format(record))
        except Exception:  # a log line must never break the job
            self.handleError(record)


class _Tee:
    """A stream that also writes the job thread's lines to the tail."""

    def __init__(self, stream, tail: LogTail, thread_id: int):
        self.stream, self.tail, self.thread_id = stream, tail, thread_id
        self.partial = ""

    def write(self, text):
        if threading.get_ident() == self.thread_id and text:
            self.partial += text
            if "\n" in self.partial:
                done, _, self.partial = self.partial.rpartition("\n")
                self.tail.add(done)
        return self.stream.write(text)

    def flush(self):
        return self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


@contextlib.contextmanager
def capture(tail: LogTail):
    """Send this thread's log records, warnings and printed lines to ``tail`` meanwhile."""
    handler = _TailHandler(tail, threading.get_ident())
    targets = [logging.getLogger()] + [
        logger
        for logger in map(logging.getLogger, LIBRARY_LOGGERS)
        if not logger.propagate  # else the root logger sees its records already
    ]
    for logger in targets:
        logger.addHandler(handler)
    logging.captureWarnings(True)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = _Tee(stdout, tail, handler.thread_id)
    sys.stderr = _Tee(stderr, tail, handler.thread_id)
    try:
        yield tail
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        logging.captureWarnings(False)
        for logger in targets:
            logger.removeHandler(handler)
