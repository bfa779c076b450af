"""The one error a user mistake becomes: file, field, value, and what is wrong.

`SpecError` prints as a single line, `file: field = value: message`, so the command line
can show it as is and exit 2, never with a traceback.
"""

from __future__ import annotations


class SpecError(ValueError):
    """Bad user input: a spec file, a model config, a name or a command-line value."""

    def __init__(self, file: str, field: str, value: object, message: str) -> None:
        self.file, self.field, self.value, self.message = file, field, value, message
        super().__init__(str(self))

    def __str__(self) -> str:
        shown = repr(self.value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        where = f"{self.file}: {self.field}" if self.field else self.file
        value = f" = {shown}" if self.value is not None else ""
        return f"{where}{value}: {self.message}".replace("\n", " ")
