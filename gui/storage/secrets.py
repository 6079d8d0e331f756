"""API keys in the operating system's keyring, never in a file of ours.

Keys are stored with the ``keyring`` package under the service ``fanout-studio`` and the
saved profile's name. Only a backend that keeps secrets out of plain files is accepted:
the platform stores (Secret Service / KWallet on Linux, Keychain on macOS, Credential Locker
on Windows) or one a test installs. ``keyring``'s "fail" and "null" backends and the
file-based ones of ``keyrings.alt`` are refused, so a machine without a keyring does not
silently get a key written to disk: the profile then names an environment variable instead.

Keyring calls can block (D-Bus, an unlock prompt), so the window makes them through
``asyncio.to_thread``; the CLI may call them directly.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["SERVICE", "KeyStore", "KeyStoreError"]

log = logging.getLogger(__name__)

#: The keyring service name every key is stored under.
SERVICE = "fanout-studio"

#: Backends that would not keep a key safe (by module prefix).
_REFUSED_MODULES = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


class KeyStoreError(Exception):
    """A keyring operation failed; the message is one line a user can act on."""


def _refused(backend: Any) -> bool:
    return type(backend).__module__.startswith(_REFUSED_MODULES)


def _usable(backend: Any) -> tuple[bool, str]:
    """Whether ``backend`` may hold keys, and if not, why (one line)."""
    from keyring.backends.chainer import ChainerBackend

    if isinstance(backend, ChainerBackend):
        chained = [b for b in backend.backends if not _refused(b)]
        if not chained:
            return False, "no system keyring is available"
        return True, ", ".join(type(b).__name__ for b in chained)
    if _refused(backend):
        name = type(backend).__module__
        if name.startswith("keyrings.alt"):
            return False, f"the only keyring is a file-based one ({type(backend).__name__})"
        return False, "no system keyring is available"
    return True, f"{type(backend).__module__}.{type(backend).__name__}"


class KeyStore:
    """Get, set and delete API keys by profile name.

    Args:
        backend: A ``keyring`` backend to use instead of the system's (tests pass an
            in-memory one); ``None`` asks ``keyring`` for the default.
    """

    def __init__(self, backend: Any = None) -> None:
        if backend is None:
            try:
                import keyring

                backend = keyring.get_keyring()
            except Exception as exc:  # a broken keyring install must not break the app
                log.warning("keyring unavailable: %s", exc)
                backend = None
        self._backend = backend
        if backend is None:
            self.available, self.detail = False, "the keyring package could not start"
        else:
            self.available, self.detail = _usable(backend)

    @property
    def reason(self) -> str:
        """Why keys cannot be stored here, as advice (empty when they can)."""
        if self.available:
            return ""
        return (
            f"Keys cannot be saved: {self.detail}. Put the key in an environment variable "
            "and name that variable in the profile instead."
        )

    def get(self, name: str) -> str | None:
        """The key saved for profile ``name``, or ``None``."""
        if not self.available:
            return None
        try:
            value = self._backend.get_password(SERVICE, name)
        except Exception as exc:
            raise KeyStoreError(f"The keyring could not be read ({type(exc).__name__}).") from None
        return value or None

    def set(self, name: str, key: str) -> None:
        """Save ``key`` for profile ``name`` (an empty key deletes it).

        Raises:
            KeyStoreError: no usable keyring, or the keyring refused.
        """
        if not key:
            self.delete(name)
            return
        if not self.available:
            raise KeyStoreError(self.reason)
        try:
            self._backend.set_password(SERVICE, name, key)
        except Exception as exc:
            raise KeyStoreError(
                f"The keyring did not save the key ({type(exc).__name__}); is it locked?"
            ) from None

    def delete(self, name: str) -> None:
        """Forget the key of profile ``name`` (no error when there is none)."""
        if not self.available:
            return
        try:
            self._backend.delete_password(SERVICE, name)
        except Exception as exc:
            from keyring.errors import PasswordDeleteError

            if isinstance(exc, PasswordDeleteError):
                return
            raise KeyStoreError(
                f"The keyring did not delete the key ({type(exc).__name__})."
            ) from None
