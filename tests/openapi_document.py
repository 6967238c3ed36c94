"""The app's OpenAPI document, built once per test process: it depends on the code, not on the data, so the
tests that are parametrized from it (contract, fuzz) read it at collection from an app over a throwaway
database."""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path


@functools.cache
def openapi_document() -> dict:
    from govshare.app import create_app
    from govshare.config import Settings
    from govshare.search.index import registry

    folder = Path(tempfile.mkdtemp(prefix="govshare-openapi-"))
    app = create_app(Settings(database_url=f"sqlite:///{folder / 'spec.db'}", data_dir=folder))
    try:
        return app.openapi()
    finally:
        registry.detach(app.state.db.url)
        app.state.db.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def resolve(schema: dict) -> dict:
    """A schema with its $ref followed to the component it names."""
    while "$ref" in schema:
        schema = openapi_document()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema
