"""A root-only command on a rehearsed VM (apt-get, useradd, systemctl): records its
call in REHEARSAL_STATE/calls.log and succeeds. What the calls would do is checked
from the log; the units themselves are run by the rehearsal as processes."""

import os
import sys
from pathlib import Path

with (Path(os.environ["REHEARSAL_STATE"]) / "calls.log").open("a") as log:
    log.write(" ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) + "\n")
