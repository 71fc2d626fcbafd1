"""One base error with specific subclasses; each carries the process exit code the CLI returns.

Exit codes (documented in the README, relied on by schedulers):
    0 success, 1 unexpected failure (a bug), 2 configuration or usage error,
    3 input missing, 4 data-quality check failed, 5 a pipeline step failed.

Not due (:class:`NotDueError`) is an input missing by design, not by accident: the date's input cannot
exist yet (labels before their horizon has passed, say). A pipeline step that raises it is skipped
(exit 0, ``skipped`` in ops.run_ledger with the reason); a job run alone exits 3 like any missing
input, so a scheduler that runs it alone before its time notices.
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


class NotDueError(InputMissingError):
    """The date's input cannot exist yet by design (not a failure): the pipeline skips the step; alone, exit 3."""


class DataQualityError(EcomlakeError):
    """The data failed a check that must hold (e.g. row conservation); nothing was committed."""

    exit_code = 4


class StepFailedError(EcomlakeError):
    """A pipeline step failed; the message names the step and its cause."""

    exit_code = 5
