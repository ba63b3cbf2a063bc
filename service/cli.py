"""The ``initserve`` command: ``serve``, ``openapi`` (export the spec) and ``generate`` (a local .npy)."""

from __future__ import annotations

import argparse
import errno
import json
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from service.settings import Settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.logs import log_config

    settings = Settings()
    overrides = {k: v for k, v in vars(args).items() if k in ("host", "port", "workers", "log_level") and v is not None}
    settings = settings.model_copy(update=overrides)
    taken = _port_taken(settings.host, settings.port)
    if taken:
        print(taken, file=sys.stderr)
        return PORT_TAKEN
    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=log_config(settings.log_level),
        timeout_graceful_shutdown=settings.graceful_shutdown_seconds,
        timeout_keep_alive=settings.keep_alive_seconds,  # type: ignore[arg-type]  # uvicorn annotates int
        http="service.protocol:GuardedHTTP",  # read timeout, head and connection limits (its docstring)
        ws="none",  # no WebSocket route: an Upgrade request is answered as plain HTTP/1.1
        server_header=False,
    )
    return 0


PORT_TAKEN = 3  # uvicorn's own exit status when it cannot start


def _port_taken(host: str, port: int) -> str | None:
    """What to do when ``host:port`` is already in use (``None`` when it is free).

    Binds a throw-away socket the way uvicorn does (``SO_REUSEADDR``), so a port that uvicorn would
    refuse is caught here, with a hint, instead of uvicorn's bare ``[Errno 98]`` and exit status 3.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return None  # any other failure (a bad address): uvicorn reports it
            return (
                f"initserve: {host}:{port} is already in use (another initserve, or another program).\n"
                f"  - start on another port: python -m service --port {port + 1}  (or INITSERVE_PORT={port + 1})\n"
                f"  - or stop what holds it: ss -ltnp 'sport = :{port}'  shows its process"
            )
    return None


def openapi_text() -> str:
    """The OpenAPI document, exactly as committed in ``openapi/openapi.json``."""
    from service.main import create_app

    return json.dumps(create_app(Settings()).openapi(), indent=2, sort_keys=True) + "\n"


def _openapi(args: argparse.Namespace) -> int:
    text = openapi_text()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
    return 0


def _parse_value(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _generate(args: argparse.Namespace) -> int:
    from service.core import FanAxes, InitError, make_tensor

    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"--param takes NAME=VALUE, got {item!r}", file=sys.stderr)
            return 2
        params[key] = _parse_value(value)
    layout: str | FanAxes | None = args.layout
    if args.in_axis is not None or args.out_axis is not None:
        layout = FanAxes.of(args.in_axis or [], args.out_axis or [], args.batch_axis or [])
    try:
        made = make_tensor(
            args.shape,
            args.scheme,
            seed=args.seed,
            layout=layout,
            dtype=args.dtype,
            threads=args.threads,
            params=params,
        )
    except InitError as exc:
        print(f"error ({exc.field}): {exc.message}", file=sys.stderr)
        return 2
    np.save(args.output, made.array, allow_pickle=False)
    e = made.empirical
    print(
        f"wrote {args.output}: shape {list(made.array.shape)} {args.dtype}, "
        f"mean {e.mean:.6g}, variance {e.variance:.6g} (ratio {made.comparison.variance_ratio})"
    )
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="initserve", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="start the HTTP service (settings from INITSERVE_* variables)",
        description="Start the HTTP service; options override the INITSERVE_* variables. Stop it with Ctrl-C "
        "(or SIGTERM: answers in flight finish first).",
        epilog="The other commands: python -m service openapi --help, python -m service generate --help.",
    )
    serve.add_argument("--host", help="address to bind (INITSERVE_HOST, default 127.0.0.1; 0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, help="TCP port (INITSERVE_PORT, default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (INITSERVE_WORKERS, default 1)")
    serve.add_argument("--log-level", dest="log_level", help="critical, error, warning, info (default), debug")
    serve.set_defaults(run=_serve)

    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("-o", "--output", default="openapi/openapi.json", help="file, or - for stdout")
    openapi.set_defaults(run=_openapi)

    generate = commands.add_parser("generate", help="write one tensor to a .npy file, without a server")
    generate.add_argument("--shape", type=int, nargs="*", required=True)
    generate.add_argument(
        "--scheme", required=True, help="a scheme (he) or a framework-named initializer (torch.kaiming_uniform_)"
    )
    generate.add_argument("--seed", type=int, required=True)
    generate.add_argument(
        "--layout",
        choices=["keras", "jax", "torch"],
        help="default: the framework's for torch.*, keras.*, jax.*; else keras",
    )
    generate.add_argument("--in-axis", type=int, nargs="+", help="explicit fan axes instead of a layout")
    generate.add_argument("--out-axis", type=int, nargs="+")
    generate.add_argument("--batch-axis", type=int, nargs="*")
    generate.add_argument("--dtype", default="float32", choices=["float32", "float64", "float16"])
    generate.add_argument("--param", action="append", default=[], help="scheme field, NAME=VALUE (repeatable)")
    generate.add_argument("--threads", type=int)
    generate.add_argument("-o", "--output", required=True)
    generate.set_defaults(run=_generate)
    return root


COMMANDS = ("serve", "openapi", "generate")


def with_default_command(argv: Sequence[str]) -> list[str]:
    """``argv`` with ``serve`` in front unless it starts with a command (``--help``: serve's help).

    >>> with_default_command(["--port", "8001"])
    ['serve', '--port', '8001']
    >>> with_default_command(["openapi", "-o", "-"])
    ['openapi', '-o', '-']
    >>> with_default_command([])
    ['serve']
    """
    if argv and argv[0] in COMMANDS:
        return list(argv)
    return ["serve", *argv]


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
