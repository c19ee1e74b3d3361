"""Running command-line work inside an app context."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from idservice import create_app

F = TypeVar("F", bound=Callable[..., Any])


def with_app(func: F) -> F:
    """Run the command inside the app's context (database session, configuration)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = create_app()
        with app.app_context():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
