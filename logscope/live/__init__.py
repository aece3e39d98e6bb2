"""`logscope watch`: the same verdicts as `analyze`, kept up to date while the logs are written.

follow.py (tail -F), state.py (incremental verdicts), events.py (what changed), sinks.py (where it goes),
watch.py (the loop).
"""

from .events import Event, Tracker
from .state import LiveState
from .watch import Watch, WatchOptions, run_watch

__all__ = ["Event", "LiveState", "Tracker", "Watch", "WatchOptions", "run_watch"]
