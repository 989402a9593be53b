"""Process-wide settings read from the environment (``ALFORGE_`` prefix), lazily.

Example
-------
>>> import os
>>> os.environ["ALFORGE_HOME"] = "/tmp/alforge-example"
>>> str(get_settings().database_url).startswith("sqlite:///")
True
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "redact_url"]


class Settings(BaseSettings):
    """Where alforge keeps its data and how it reaches its database.

    Attributes
    ----------
    home
        Data folder (``ALFORGE_HOME``, default ``~/.alforge``): the SQLite database, model
        artifacts and logs live here.
    database_url_override
        Any SQLAlchemy URL (``ALFORGE_DATABASE_URL``); default is a SQLite file in ``home``.
    pool_size, max_overflow, pool_timeout_s
        Connection-pool settings for server databases (PostgreSQL).
    dashboard_token
        Bearer token that write endpoints of the dashboard API require (``ALFORGE_DASHBOARD_TOKEN``).
    """

    model_config = SettingsConfigDict(env_prefix="ALFORGE_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".alforge")
    database_url_override: SecretStr | None = Field(default=None, validation_alias="ALFORGE_DATABASE_URL")
    pool_size: int = Field(default=5, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    pool_timeout_s: float = Field(default=30.0, gt=0)
    dashboard_token: SecretStr | None = None

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL in force (contains any password: never print it, use :func:`redact_url`)."""
        if self.database_url_override is not None:
            return self.database_url_override.get_secret_value()
        return f"sqlite:///{self.home.expanduser() / 'alforge.db'}"

    @property
    def models_dir(self) -> Path:
        """Folder where model artifacts are written."""
        return self.home.expanduser() / "models"


@lru_cache(maxsize=1)
def _cached() -> Settings:
    return Settings()


def get_settings(*, fresh: bool = True) -> Settings:
    """Read the settings from the environment (``fresh=False`` reuses the last read)."""
    if fresh:
        _cached.cache_clear()
    return _cached()


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (safe to print or log)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable database URL>"
