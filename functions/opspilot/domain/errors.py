"""Domain exceptions.

Their class names are the contract with the state machine: a Lambda that raises one of them fails
with that name as ``errorType``, which ``Retry``/``Catch`` in ``statemachines/incident.asl.json``
match. Rename one and you must rename it there too.
"""


class OpsPilotError(Exception):
    """Base class of every error OpsPilot raises on purpose."""


class InvalidAlarmEvent(OpsPilotError):
    """The alarm event is not a CloudWatch alarm state change OpsPilot can read."""


class UnclassifiableSignal(OpsPilotError):
    """The alarm is readable, but its metric is not one OpsPilot knows how to reason about."""


class InvalidInput(OpsPilotError):
    """A Lambda received a state document that does not have the expected shape."""


class TransientAwsError(OpsPilotError):
    """An AWS call failed in a way that is worth retrying (throttling, 5xx). Retried by the ASL."""


class AwsPermissionError(OpsPilotError):
    """An AWS call was denied. Not retried: an operator must fix the IAM policy."""


class ApprovalRejected(OpsPilotError):
    """Sent to the workflow (SendTaskFailure) when an approver rejects the plan."""


class TaskNoLongerWaiting(OpsPilotError):
    """SendTaskSuccess/SendTaskFailure came too late: the task timed out or its execution ended."""


class ResponseLost(OpsPilotError):
    """An AWS call was sent and no answer came back (botocore's retries included): it may have
    taken effect. The caller reconciles from what AWS holds before recording a failure."""
