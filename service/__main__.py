"""``python -m service [OPTIONS]`` starts the service, as ``initserve serve [OPTIONS]`` does.

The other commands work too (``python -m service openapi``, ``python -m service generate ...``): any
arguments that do not start with a command name are the options of ``serve`` (``--port 8001``).
"""

import sys

from service.cli import main, with_default_command

sys.exit(main(with_default_command(sys.argv[1:])))
