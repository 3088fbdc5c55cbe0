"""Whether the terminal levtop draws on is still there."""

from __future__ import annotations

import select


def hung_up(fd: int) -> bool:
    """True once the other end of the terminal is gone (an SSH session or pty closed without a
    SIGHUP reaching us): the descriptor then reports POLLHUP or POLLERR without being read."""
    try:
        poller = select.poll()
        poller.register(fd, 0)
        return any(events & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False  # no poll() on this platform, or not a descriptor: nothing to watch
