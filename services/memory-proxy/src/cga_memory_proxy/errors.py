"""How Memory Bank failures look to the internal API's callers."""

from __future__ import annotations

import math

from cga_core.errors import AppError, InvalidRequest, ServiceUnavailable


class MemoryBankUnavailable(ServiceUnavailable):
    error = "memory_bank_unavailable"
    default_detail = "The Memory Bank is unavailable; retry later."

    @classmethod
    def retry_in(cls, seconds: float, detail: str | None = None) -> MemoryBankUnavailable:
        return cls(detail, headers={"Retry-After": str(max(1, math.ceil(seconds)))})


class MemoryBankTimedOut(AppError):
    status_code = 504
    error = "memory_bank_timeout"
    default_detail = "The Memory Bank did not answer in time; retry later."


class MemoryBankFailed(AppError):
    status_code = 502
    error = "memory_bank_error"
    default_detail = "The Memory Bank could not complete the request."


class InvalidCursorError(InvalidRequest):
    error = "invalid_cursor"
    default_detail = "The cursor is not valid; start again without one."
