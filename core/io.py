"""Files and folders the commands write, and how they show progress.

- atomic writes: a reader never sees a half-written result or cache file;
- :func:`output_folder`: a fresh run folder, removed again when a command fails having
  written no result;
- :func:`cache_root`: where caches go;
- :func:`progress`: tqdm on a terminal, a line per few percent in a log.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file private (0600); results are for sharing, so give it the
        # permissions an ordinary open() would (0666 minus the umask)
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it; once per process
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through a temporary file and a rename."""
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def content_key(*parts: Any, length: int = 16) -> str:
    """The cache key of ``parts``: SHA-256 of their JSON, as hex, cut to ``length``.

    The one recipe behind every cache key and fingerprint built from plain values
    (encodings, policies' prepared data, datasets): ``json.dumps(list(parts),
    sort_keys=True, default=str)``, so mapping order does not matter and any other object
    counts by its ``str``.

    Parameters
    ----------
    *parts : Any
        JSON-able values (others are hashed by ``str``).
    length : int
        Hex digits kept (16 = 64 bits).

    Returns
    -------
    str
        ``length`` lower-case hex digits.

    Examples
    --------
    >>> content_key("rwse", {"steps": 4}) == content_key("rwse", {"steps": 4})
    True
    >>> len(content_key("x", length=20))
    20
    """
    blob = json.dumps(list(parts), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def cache_root() -> Path:
    """Root of wlkit's caches: ``$WLKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/wlkit``,
    else ``~/.cache/wlkit``."""
    env = os.environ.get("WLKIT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "wlkit"


# ------------------------------------------------------------------ output folders
def _utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and its parents that do not exist yet, outermost first."""
    missing = []
    for folder in [path, *path.parents]:
        if folder.exists():
            break
        missing.append(folder)
    return missing[::-1]


def check_output_empty(out: str | os.PathLike | None) -> None:
    """Refuse a ``--out`` folder that holds files, before any work starts.

    Raises
    ------
    WlkitError
        ``out`` is a folder with something in it (wlkit never writes over results).
    """
    from wlkit.errors import WlkitError

    if out is not None and Path(out).is_dir() and any(Path(out).iterdir()):
        raise WlkitError(f"{out}: the output folder is not empty; wlkit never writes "
                         "over earlier results\n    hint: choose another --out")


@contextlib.contextmanager
def output_folder(base: str | os.PathLike, prefix: str = "",
                  out: str | os.PathLike | None = None, *, require_empty: bool = True,
                  keep: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Create a command's output folder; remove it again if the command fails having
    written nothing worth keeping.

    Parameters
    ----------
    base : path
        Where stamped folders go (``runs/<name>``).
    prefix : str
        Start of the stamped folder's name; the name is ``<prefix><UTC time>``, with
        ``-1``, ``-2``, ... when that exists (reserved by ``mkdir``, so two commands started
        in the same second get different folders).
    out : path, optional
        The user's ``--out``, used instead of a stamped folder.
    require_empty : bool
        Refuse an ``out`` that holds files (wlkit never writes over earlier results).
    keep : callable, optional
        Given each file the command wrote, whether it is a result. If the body raises and
        no written file is a result, everything it wrote is removed, together with the
        folders this call created; otherwise all stays, for ``--resume`` or a post-mortem.
        Default: every written file is a result.

    Yields
    ------
    Path
        The folder, created.

    Raises
    ------
    WlkitError
        ``out`` is not empty, or the folder cannot be created.
    """
    from wlkit.errors import WlkitError

    keep = keep or (lambda _path: True)
    try:
        if out is not None:
            path = Path(out)
            if require_empty:
                check_output_empty(path)
            created = _missing_ancestors(path)
            path.mkdir(parents=True, exist_ok=True)
        else:
            base, stamp = Path(base), _utc_stamp()
            path = base  # named in the error if base cannot be made
            created = _missing_ancestors(base)
            base.mkdir(parents=True, exist_ok=True)
            path, k = base / f"{prefix}{stamp}", 1
            while True:
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    path, k = base / f"{prefix}{stamp}-{k}", k + 1
            created.append(path)
    except OSError as exc:
        raise WlkitError(f"{path}: cannot create the output folder: {exc}\n    hint: choose "
                         "a writable --out (or output.dir)") from None
    before = set(path.iterdir())
    try:
        yield path
    except BaseException:
        _discard(path, created, before, keep)
        raise


def _discard(path: Path, created: list[Path], before: set[Path],
             keep: Callable[[Path], bool]) -> None:
    """Undo a failed command's writes, unless one of them is a result."""
    try:
        written = [p for entry in set(path.iterdir()) - before
                   for p in ([entry] if entry.is_file() else entry.rglob("*")) if p.is_file()]
        if any(keep(p) for p in written):
            return
        for entry in set(path.iterdir()) - before:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        for folder in reversed(created):
            folder.rmdir()  # only empty ones: another run may share runs/<name>/
    except OSError:
        pass  # cleaning up must never hide the error that stopped the command


# ------------------------------------------------------------------------ environment
@contextlib.contextmanager
def environment_variable(name: str, value: str | None) -> Iterator[None]:
    """``os.environ[name] = value`` for the block (``None``: left as it is), restored after,
    also when the block raises, so an in-process command does not leak its settings.

    Examples
    --------
    >>> import os
    >>> with environment_variable("WLKIT_EXAMPLE", "1"):
    ...     os.environ["WLKIT_EXAMPLE"]
    '1'
    >>> "WLKIT_EXAMPLE" in os.environ
    False
    """
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


# ------------------------------------------------------------------------ progress
def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default ``sys.stderr``, where progress goes) is a terminal."""
    stream = stream if stream is not None else sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or file-like stream
        return False


class LineProgress:
    """A progress bar for logs: plain lines, one per ``step`` of the total (or every
    ``every`` seconds when that comes first), and never a carriage return.

    It has the part of tqdm's interface wlkit uses: iteration, ``update``,
    ``set_postfix``, ``close`` and use as a context manager.
    """

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: int | None = None,
                 desc: str = "", unit: str = "it", step: float = 0.05, every: float = 30.0,
                 file: TextIO | None = None):
        self.iterable = iterable
        if total is None and iterable is not None:
            try:
                total = len(iterable)  # type: ignore[arg-type]
            except TypeError:
                total = None
        self.total, self.desc, self.unit = total, desc.strip(), unit
        self.step, self.every, self.file = step, every, file
        self.n, self.shown, self.postfix = 0, 0, ""
        self.started = self.last = time.monotonic()
        self.next_fraction = step
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_postfix(self, values: dict[str, Any] | None = None, refresh: bool = True,
                    **kwargs: Any) -> None:
        shown = {**(values or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in shown.items())

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if self.total:
            fraction = self.n / self.total
            if fraction + 1e-12 >= self.next_fraction:
                # the next multiple of step above what is done now
                self.next_fraction = (math.floor(fraction / self.step + 1e-9) + 1) * self.step
                self._line(now)
                return
        if now - self.last >= self.every:
            self._line(now)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.n != self.shown or self.n == 0:
            self._line(time.monotonic())

    def _line(self, now: float) -> None:
        self.shown, self.last = self.n, now
        done = f"{self.n}/{self.total}" if self.total else str(self.n)
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        text = f"{self.desc}: {done} {self.unit}{pct}, {now - self.started:.0f}s"
        if self.postfix:
            text += f" [{self.postfix}]"
        print(text, file=self.file or sys.stderr, flush=True)


class _NoProgress:
    """A disabled bar: iterates, and shows nothing."""

    def __init__(self, iterable: Iterable[Any] | None):
        self.iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable or ())

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        return None

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        return None

    def close(self) -> None:
        return None


def progress(iterable: Iterable[Any] | None = None, *, total: int | None = None,
             desc: str = "", unit: str = "it", enabled: bool = True, leave: bool = False,
             file: TextIO | None = None) -> Any:
    """The progress bar every wlkit command uses: tqdm on a terminal, plain lines in a log.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over (else call ``update`` yourself).
    total : int, optional
        Number of steps (default: ``len(iterable)`` when it has one).
    desc, unit : str
        The bar's label and the name of a step.
    enabled : bool
        False shows nothing; so does ``WLKIT_QUIET=1`` in the environment (``--quiet``).
    leave : bool
        Keep tqdm's finished bar on the terminal.
    file : file, optional
        Where the bar goes (default ``sys.stderr``).

    Returns
    -------
    object
        A tqdm bar when ``file`` is a terminal; otherwise a :class:`LineProgress`, which
        writes a line per 5% (or per 30 s) and no carriage returns, so a log stays
        readable; a silent bar when disabled.
    """
    if not enabled or os.environ.get("WLKIT_QUIET") == "1":
        return _NoProgress(iterable)
    stream = file or sys.stderr
    if not is_terminal(stream):
        return LineProgress(iterable, total=total, desc=desc, unit=unit, file=stream)
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=stream,
                mininterval=0.5, dynamic_ncols=True)
