"""Errors that the CLI turns into one line on stderr and exit status 2 (bad input) or 1 (run failure)."""


class InputError(ValueError):
    """Bad user input: names the key, the value given and what is allowed."""

    def __init__(self, key: str, value, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key}: got {value!r}; {allowed}")


class RunError(RuntimeError):
    """A run could not be carried out (e.g. an existing result file from another config)."""


class DataError(RuntimeError):
    """A result file (or shard) holds data that fails its checksum or cannot be read: never used."""
