"""Exceptions that the command line turns into exit codes.

ConfigError, BackendUnavailable, StoreError and UsageError are user input problems (exit code 2);
SimulationBlowUp is a run that went non-finite (exit code 1).
"""


class PfsimError(Exception):
    exit_code = 1


class ConfigError(PfsimError):
    """A config that cannot be run; the message names the YAML path."""

    exit_code = 2

    def __init__(self, problems):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class BackendUnavailable(PfsimError):
    exit_code = 2


class UsageError(PfsimError):
    """Command-line arguments that do not fit together or name nothing that exists."""

    exit_code = 2


class StoreError(PfsimError):
    """A run store that cannot be created, opened or resumed as asked."""

    exit_code = 2


class SimulationBlowUp(PfsimError):
    exit_code = 1

    def __init__(self, field, iteration, time):
        self.field, self.iteration, self.time = field, iteration, time
        super().__init__(
            f"field '{field}' became NaN or Inf at step {iteration} (t = {time:.6g} s); "
            "the run stopped and the store keeps the last good checkpoint"
        )


class StepTooSmall(SimulationBlowUp):
    """An adaptive step (time.integrator: semi_implicit) rejected below its lower bound."""

    def __init__(self, iteration, time, dt, dt_min):
        self.field, self.iteration, self.time = None, iteration, time
        PfsimError.__init__(
            self, f"the adaptive step fell to {dt:.3g} s, under its lower bound {dt_min:.3g} s, at step {iteration} "
            f"(t = {time:.6g} s); the run stopped and the store keeps the last good checkpoint (raise time.tolerance)")


class StopRun(Exception):
    """Raised by a model when the cell reaches an end state (contact lost, short circuit):
    the loop stops cleanly after recording it, and the run counts as finished."""

    def __init__(self, reason: str, details: dict | None = None):
        self.reason = reason
        self.details = details or {}  # what a failure record holds (kind, time, cycle, ...)
        super().__init__(reason)
