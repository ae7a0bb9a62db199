"""The method registry: `@register_method("name")`, the `lampbench.methods` entry points, and `module:Class`.

Built-in methods are entry points of the `lampbench` distribution, exactly like a third-party plugin's, so
`bench methods` can say which package each one came from. Entry points are loaded lazily: listing names does not
import torch. A name that is not registered but looks like `package.module:Class` is imported directly, for a
method that is not installed.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points

from lampbench.methods.contract import Method
from lampbench.tasks.errors import UnknownMethod  # noqa: F401 - raised here, imported from here by callers

GROUP = "lampbench.methods"


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "module:Class"
    origin: str  # the distribution that provides it, or "(registered in code)"


class Registry:
    """Names -> `Method` subclasses, fed by a decorator and by an entry-point group."""

    def __init__(self, group: str = GROUP):
        self.group = group
        self._classes: dict[str, type[Method]] = {}
        self._entries: dict[str, Entry] = {}

    def register(self, name: str):
        """Class decorator: register a `Method` subclass under `name`. Refuses duplicates and non-methods."""

        def decorate(cls: type) -> type:
            if not (isinstance(cls, type) and issubclass(cls, Method)):
                raise TypeError(f"cannot register {cls!r} as method {name!r}: it is not a lampbench Method")
            known = self._classes.get(name)
            if known is not None and known is not cls:
                raise ValueError(f"method {name!r} is already registered by {known.__module__}.{known.__qualname__}")
            self._classes[name] = cls
            if name not in self._entries:
                self._entries[name] = Entry(name, f"{cls.__module__}:{cls.__qualname__}", "(registered in code)")
            return cls

        return decorate

    def entries(self) -> dict[str, Entry]:
        """Every known method, from entry points and from code, without importing any of them."""
        found = {
            ep.name: Entry(ep.name, ep.value, ep.dist.name if ep.dist is not None else "?")
            for ep in entry_points(group=self.group)
        }
        for name, entry in self._entries.items():
            found.setdefault(name, entry)
        return dict(sorted(found.items()))

    def get(self, name: str) -> type[Method]:
        """The method class for `name`, or for a `package.module:Class` path.

        Raises:
            UnknownMethod: with a "did you mean" hint for a typo.
        """
        if name in self._classes:
            return self._classes[name]
        entry = self.entries().get(name)
        if entry is not None:
            cls = _import(entry.target, name)
        elif ":" in name:
            cls = _import(name, name)
        else:
            close = difflib.get_close_matches(name, list(self.entries()), n=3)
            hint = f"; did you mean {' or '.join(close)}?" if close else "; see `bench methods`"
            raise UnknownMethod(f"unknown method {name!r}{hint}")
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise UnknownMethod(f"{name!r} resolves to {cls!r}, which is not a lampbench Method")
        self._classes[name] = cls
        return cls


def _import(target: str, name: str) -> object:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UnknownMethod(f"method {name!r}: cannot import module {module_name!r} ({e})") from e
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UnknownMethod(f"method {name!r}: module {module_name!r} has no attribute {attr!r}") from None


METHODS = Registry()
register_method = METHODS.register
