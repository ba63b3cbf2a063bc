"""A Python that runs the docs' Python blocks as ``python block.py`` runs them, each in a process of its own,
forked from this one after the modules the block imports have been imported here.

Starting an interpreter and importing numpy, httpx, ``service``, torch or JAX costs seconds of CPU per block;
imported once here, a block costs its own work. What a block sees is what ``python block.py`` gives it: its
own process (its cwd, environment, ``sys.modules``, random states are its own), ``sys.path[0]`` its
directory, ``sys.argv == ["block.py"]``, run as the interpreter's ``__main__`` module (an absolute
``__file__``), stdin ``/dev/null``, file descriptors 1 and 2 written to the files the caller names; it ends as
the interpreter ends a script (its non-daemon threads joined, ``atexit`` handlers run, streams flushed) with
exit status 0, ``SystemExit``'s code, or 1 with the traceback on stderr. Nothing runs here but imports: a
block's kernels load, and numba's thread pool starts, in the block's own process.

Protocol, one JSON object per line: ``{"script", "stdout", "stderr", "imports"}`` on stdin, answered by
``{"returncode": n}`` on stdout once the block's process has exited (whatever else this process prints goes
to stderr).
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import importlib
import importlib.machinery
import json
import os
import sys
import threading
import traceback
import types


def preload(names: list[str]) -> None:
    """Imports what a block imports; a module that is not importable here (a package the block puts on
    ``sys.path`` itself, say) is left for the block to import."""
    for name in names:
        with contextlib.suppress(Exception):  # the block itself reports what it cannot import
            importlib.import_module(name)


def _exit_code(stop: SystemExit) -> int:
    if stop.code is None or isinstance(stop.code, int):
        return int(stop.code or 0)
    print(stop.code, file=sys.stderr)  # sys.exit("message"), as the interpreter prints it
    return 1


def child(script: str, stdout: str, stderr: str) -> int:
    """In the forked process: the script run as ``python script`` would run it; its exit status."""
    directory = os.path.dirname(script)
    os.chdir(directory)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd, path in ((1, stdout), (2, stderr)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.stdin = open(os.devnull)  # noqa: SIM115 -- stdin for the process's lifetime
    sys.path.insert(0, directory)
    sys.argv = [os.path.basename(script)]  # as typed: python block.py
    main = types.ModuleType("__main__")  # the interpreter's __main__: absolute __file__, no spec
    main.__dict__.update(
        __file__=script,
        __cached__=None,
        __annotations__={},
        __builtins__=builtins,
        __loader__=importlib.machinery.SourceFileLoader("__main__", script),
    )
    sys.modules["__main__"] = main
    code = 0
    try:
        with open(script, "rb") as source:
            compiled = compile(source.read(), script, "exec")
        exec(compiled, main.__dict__)
    except SystemExit as stop:
        code = _exit_code(stop)
    except BaseException as error:  # printed as the interpreter prints it: from the script's own frame
        traceback.print_exception(type(error), error, error.__traceback__.tb_next if error.__traceback__ else None)
        code = 1
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    try:
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code


def main() -> None:
    del sys.path[0]  # this file's directory: each child puts its script's directory there instead
    answers = os.fdopen(os.dup(1), "w")  # the protocol's own descriptor; stdout is stderr from here
    os.dup2(2, 1)
    for line in sys.stdin:
        request = json.loads(line)
        preload(request["imports"])
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(answers.fileno())
                code = child(request["script"], request["stdout"], request["stderr"])
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), file=answers, flush=True)


if __name__ == "__main__":
    main()
