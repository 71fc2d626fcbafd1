"""One base error with specific subclasses; each carries the process exit code the CLI returns.

Exit codes (documented in the README, relied on by schedulers):
    0 success, 1 unexpected failure (a bug), 2 configuration or usage error,
    3 input missing, 4 data-quality check failed, 5 a pipeline step failed.
"""


class EcomlakeError(Exception):
    """Base class: an error whose message says what is wrong and how to recover."""

    exit_code = 1


class ConfigError(EcomlakeError):
    """The configuration (a YAML file, an override, a CLI flag) is invalid; the message names the key and file."""

    exit_code = 2


class InputMissingError(EcomlakeError):
    """An input file, folder or table the job needs does not exist."""

    exit_code = 3


class DataQualityError(EcomlakeError):
    """The data failed a check that must hold (e.g. row conservation); nothing was committed."""

    exit_code = 4


class StepFailedError(EcomlakeError):
    """A pipeline step failed; the message names the step and its cause."""

    exit_code = 5
