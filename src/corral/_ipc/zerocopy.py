"""Moving file bytes between fds inside the kernel: sendfile, splice, or a stated copy.

`transfer(src, dst, count)` moves `count` bytes from `src` (at `offset`, or its
position) to `dst` and says how (`Transfer.how`):

- "sendfile": `os.sendfile`, when `src` is a regular file (or a block device: the
  kernel needs a page-cache source) and `dst` anything Linux accepts (sockets, pipes,
  files). No byte passes through user space.
- "splice": `os.splice`, when one side is a pipe and sendfile refused (a pipe or
  socket source into a pipe, a pipe into a socket or file).
- "copy": neither applies (a socket into a socket, a pipe source into a socket
  that sendfile cannot take, a seqpacket socket, whose records sendfile would
  split); `reason` names the errno that ruled the kernel paths out.

`Channel.send_file` frames a file this way: the header by `send`, the body by
`transfer`, so the receiver gets an ordinary frame.
"""

from __future__ import annotations

import errno
import os
import select
import stat
from dataclasses import dataclass

from corral._errors import ChannelError
from corral._ipc.pipe import wait_for

_CHUNK = 1 << 20
_REFUSED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ESPIPE, errno.EBADF, errno.EXDEV}
"""What sendfile or splice say when the kernel cannot do it for these fds."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """What `transfer` moved and how: "sendfile", "splice" or "copy" (and why)."""

    count: int
    how: str
    reason: str = ""


def _is_pipe(fd: int) -> bool:
    return stat.S_ISFIFO(os.fstat(fd).st_mode)


def transfer(
    src: int,
    dst: int,
    count: int,
    *,
    offset: int | None = None,
    deadline: float | None = None,
    timeout: float | None = None,
    what: str = "transfer",
    allow: tuple[str, ...] = ("sendfile", "splice"),
) -> Transfer:
    """Move exactly `count` bytes from `src` to `dst`, in the kernel where it can.

    A `src` that ends early is a ChannelError (the byte count was promised); a
    non-blocking `dst` that stays full past `deadline` is ChannelTimeout.
    """
    reason = ""
    if "sendfile" in allow:
        try:
            _sendfile(src, dst, count, offset=offset, deadline=deadline, timeout=timeout, what=what)
        except OSError as exc:
            if exc.errno not in _REFUSED:
                raise
            reason = f"sendfile: {errno.errorcode.get(exc.errno or 0, exc.errno)}"
        else:
            return Transfer(count, "sendfile")
    if "splice" in allow and (_is_pipe(src) or _is_pipe(dst)):
        try:
            _splice(src, dst, count, offset=offset, deadline=deadline, timeout=timeout, what=what)
        except OSError as exc:
            if exc.errno not in _REFUSED:
                raise
            reason += f"; splice: {errno.errorcode.get(exc.errno or 0, exc.errno)}"
        else:
            return Transfer(count, "splice")
    elif "splice" in allow:
        reason += "; splice: neither fd is a pipe"
    _copy(src, dst, count, offset=offset, deadline=deadline, timeout=timeout, what=what)
    return Transfer(count, "copy", reason.lstrip("; ") or "asked for a copy")


def _sendfile(
    src: int,
    dst: int,
    count: int,
    *,
    offset: int | None,
    deadline: float | None,
    timeout: float | None,
    what: str,
) -> None:
    position = os.lseek(src, 0, os.SEEK_CUR) if offset is None else offset
    done = 0
    while done < count:
        try:
            sent = os.sendfile(dst, src, position + done, min(count - done, _CHUNK))
        except BlockingIOError:
            wait_for(dst, select.POLLOUT, deadline, what=what, call="send", timeout=timeout)
            continue
        if sent == 0:
            raise ChannelError(f"{what}: the source ended after {done} of {count} bytes")
        done += sent
    if offset is None:
        os.lseek(src, position + done, os.SEEK_SET)


def _splice(
    src: int,
    dst: int,
    count: int,
    *,
    offset: int | None,
    deadline: float | None,
    timeout: float | None,
    what: str,
) -> None:
    done = 0
    while done < count:
        try:
            if offset is not None and not _is_pipe(src):
                moved = os.splice(src, dst, min(count - done, _CHUNK), offset_src=offset + done)
            else:
                moved = os.splice(src, dst, min(count - done, _CHUNK))
        except BlockingIOError:
            wait_for(dst, select.POLLOUT, deadline, what=what, call="send", timeout=timeout)
            continue
        if moved == 0:
            raise ChannelError(f"{what}: the source ended after {done} of {count} bytes")
        done += moved


def _copy(
    src: int,
    dst: int,
    count: int,
    *,
    offset: int | None,
    deadline: float | None,
    timeout: float | None,
    what: str,
) -> None:
    done = 0
    while done < count:
        size = min(count - done, _CHUNK)
        chunk = os.read(src, size) if offset is None else os.pread(src, size, offset + done)
        if not chunk:
            raise ChannelError(f"{what}: the source ended after {done} of {count} bytes")
        view = memoryview(chunk)
        while view:
            try:
                view = view[os.write(dst, view) :]
            except BlockingIOError:
                wait_for(dst, select.POLLOUT, deadline, what=what, call="send", timeout=timeout)
        done += len(chunk)
