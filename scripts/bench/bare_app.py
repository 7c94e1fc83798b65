"""The bench's baseline: the cheapest FastAPI endpoint shaped like our search, a POST whose JSON
body is validated by pydantic, served by uvicorn exactly as our services are (one process,
uvloop, httptools, no access log). Whatever the services do beyond this is their own cost.

    python -m scripts.bench.bare_app --port PORT
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field

app = FastAPI()


class Query(BaseModel):
    query: str = Field(min_length=1, max_length=1000)
    limit: int = Field(10, ge=1, le=50)


class Results(BaseModel):
    results: list[str]


@app.post("/search")
async def search(query: Query) -> Results:
    return Results(results=[query.query] * min(query.limit, 3))


@app.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
    )


if __name__ == "__main__":
    main()
