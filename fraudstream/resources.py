"""The data folders the code reads, ``schemas/`` and ``email_templates/``.

They live at the repository's top, where a reader of the contracts or of the customer
emails looks for them, not among the modules. A wheel carries each inside the package
(``fraudstream/schemas/``, by the package-dir mapping in ``pyproject.toml``); a checkout,
an editable install included, has each beside the package. One file on disk either way:
this is where the code asks which.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def data_folder(name: str) -> Path:
    """``name``'s folder: inside the installed package, else at the checkout's top."""
    installed = PACKAGE / name
    return installed if installed.is_dir() else PACKAGE.parent / name
