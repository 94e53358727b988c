"""The keeper: the daemon's parent, holding what must outlive a daemon crash.

A tiny process (standard library only) that is a child subreaper and the parent of
the daemon, so the programs a dead daemon leaves are re-parented to it. It holds, for
each instance, the fds the daemon hands it (pidfd, pipe read ends, notify socket),
reaps what it is given and records the exit statuses, and hands everything to the
next daemon. It decides nothing. See docs/decisions/0020-keeper.md.
"""
