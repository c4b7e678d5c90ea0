"""``python -m chat_server.crisis.training``: see ``cli``."""

import sys

from chat_server.crisis.training.cli import main

if __name__ == "__main__":
    sys.exit(main())
