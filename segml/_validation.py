"""Input checks shared by every layer: names that become paths and MLflow keys, secrets in URIs.

A name in an experiment file (experiment, hypothesis, segmenter, registered model) becomes a
directory name (``outputs/<name>``, ``models/<name>``), an MLflow metric key and a registry
name, so it is an identifier: it starts with a letter or digit, continues with letters, digits,
``_``, ``-`` or ``.``, never holds ``..`` and is at most :data:`NAME_MAX_LENGTH` characters.
That set is inside every rule MLflow applies to run names, metric keys and registered-model
names, and no such name can leave the directory it is joined to.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from segml.errors import ConfigError

__all__ = [
    "NAME_MAX_LENGTH",
    "NAME_PATTERN",
    "check_name",
    "mask_secrets",
    "mask_uri",
    "regular_file_problem",
    "require_regular_file",
]

NAME_MAX_LENGTH = 64
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_NAME = re.compile(NAME_PATTERN)
_SECRET_KEYS = ("password", "passwd", "pwd", "token", "secret", "key", "signature", "sig")
_URI_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")


def check_name(value: object, what: str, where: str = "the experiment") -> str:
    """Return ``value`` if it is a valid segml name, else raise :class:`segml.ConfigError`.

    Parameters
    ----------
    value : object
        The name as read.
    what : str
        What it names, for the message (``"[experiment] name"``, ``"hypothesis name"``).
    where : str
        The file it comes from.

    Returns
    -------
    str

    Raises
    ------
    ConfigError
        For anything but a string of the documented character set and length.

    Examples
    --------
    >>> from segml._validation import check_name
    >>> check_name("big_first_order", "hypothesis name")
    'big_first_order'
    >>> check_name("../thesis", "[experiment] name")
    Traceback (most recent call last):
    ...
    segml.errors.ConfigError: the experiment: [experiment] name '../thesis' is not a valid name: ...
    """
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {what} must be a string, got {type(value).__name__}.")
    problem = ""
    if not value:
        problem = "it is empty"
    elif len(value) > NAME_MAX_LENGTH:
        problem = f"it has {len(value)} characters, more than {NAME_MAX_LENGTH}"
    elif not _NAME.fullmatch(value) or ".." in value:
        problem = (
            "use letters, digits, '_', '-' and '.' (not '..'), starting with a letter or digit"
        )
    if problem:
        raise ConfigError(
            f"{where}: {what} {value[:80]!r} is not a valid name: {problem}. Names become "
            "folder names and MLflow keys, so they are identifiers, for example 'cdnow_2024'."
        )
    return value


def mask_uri(uri: str) -> str:
    """``uri`` with any password in it, or secret-looking query value, replaced by ``***``.

    Examples
    --------
    >>> from segml._validation import mask_uri
    >>> mask_uri("postgresql://ann:s3cret@db:5432/mlflow")
    'postgresql://ann:***@db:5432/mlflow'
    >>> mask_uri("https://host/api?token=abc&x=1")
    'https://host/api?token=***&x=1'
    >>> mask_uri("sqlite:///tmp/mlflow.db")
    'sqlite:///tmp/mlflow.db'
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:***@{host}" if sep else f"***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in _SECRET_KEYS for k, _ in pairs):
            masked = [(k, "***" if k.lower() in _SECRET_KEYS else v) for k, v in pairs]
            query = urlencode(masked, safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return uri  # urlunsplit would drop the '//' of 'sqlite:///path'
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))


def _secret_values(uri: str) -> list[str]:
    try:
        parts = urlsplit(uri)
        values = [v for k, v in parse_qsl(parts.query) if k.lower() in _SECRET_KEYS]
        return [v for v in [*values, parts.password or ""] if len(v) >= 3]
    except ValueError:
        return []


def mask_secrets(text: str, uri: str | None = None) -> str:
    """Every URI inside ``text`` passed through :func:`mask_uri`, and the secrets of ``uri``
    masked wherever they appear (a dependency's message may quote them out of context).

    Examples
    --------
    >>> from segml._validation import mask_secrets
    >>> mask_secrets("cannot reach http://u:pw@host:5000 (refused)")
    'cannot reach http://u:***@host:5000 (refused)'
    >>> mask_secrets("GET /?token=abc123/api failed", uri="http://h/?token=abc123")
    'GET /?token=***/api failed'
    """
    out = _URI_IN_TEXT.sub(lambda m: mask_uri(m.group(0)), text)
    for secret in _secret_values(uri or ""):
        out = out.replace(secret, "***")
    return out


def regular_file_problem(path: str | Path) -> str | None:
    """Why ``path`` is not a regular file segml may read (None when it is one).

    A FIFO would block a read forever and a device such as ``/dev/zero`` never ends, so
    only regular files (links to them included) are read.

    Examples
    --------
    >>> from segml._validation import regular_file_problem
    >>> regular_file_problem("/dev/null")
    "'/dev/null' is a character device, not a regular file"
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        return f"{str(p)!r} does not exist"
    except OSError as exc:
        return f"{str(p)!r} cannot be read ({exc.strerror})"
    if stat.S_ISREG(mode):
        return None
    kind = (
        "a directory"
        if stat.S_ISDIR(mode)
        else "a FIFO (named pipe)"
        if stat.S_ISFIFO(mode)
        else "a character device"
        if stat.S_ISCHR(mode)
        else "a block device"
        if stat.S_ISBLK(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    return f"{str(p)!r} is {kind}, not a regular file"


def require_regular_file(path: str | Path, what: str, error: type[Exception]) -> Path:
    """``path`` if it is a regular file, else ``error`` saying what it is instead.

    Parameters
    ----------
    path : str or path
    what : str
        What the file is for (``"transaction file"``), for the message.
    error : type of Exception
        The error to raise (:class:`segml.DataError`, :class:`segml.ConfigError`).

    Returns
    -------
    pathlib.Path
    """
    file = Path(path)
    if not file.exists():
        raise error(f"{what} not found: {str(file)!r}")
    problem = regular_file_problem(file)
    if problem:
        raise error(f"the {what} {problem}.")
    return file
