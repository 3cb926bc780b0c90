"""ArtLens web layer: a FastAPI app serving one collection (REST API; HTML pages come later).

    from artlens.web import create_app
    app = create_app(Path("my-collection"), token="secret")    # uvicorn.run(app, ...)
"""

from artlens.web.app import create_app

__all__ = ["create_app"]
