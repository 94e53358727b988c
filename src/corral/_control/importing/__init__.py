"""`corral import`: a supervisord config, a Procfile or a PM2 ecosystem file as corral TOML.

convert.py runs an import (detect, convert, render, check with corral's own
loader, write); one module per source format (supervisord.py with ini.py and
expand.py, procfile.py, pm2.py with jsdata.py) fills a `Draft` (report.py),
values.py checks source values, and emit.py writes TOML, which the stdlib
cannot. Nothing here runs or starts anything: the result is text.
"""

from corral._control.importing.convert import FORMATS, Imported, detect, import_config, write_output
from corral._control.importing.report import Note

__all__ = ["FORMATS", "Imported", "Note", "detect", "import_config", "write_output"]
