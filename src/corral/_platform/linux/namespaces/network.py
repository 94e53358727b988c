"""Interfaces in a new network namespace: loopback up, and an optional veth pair to the host.

A new network namespace holds only `lo`, and it is down (network_namespaces(7)),
so even 127.0.0.1 is unreachable until a step sets IFF_UP on it. The flags and
addresses are set with the classic interface ioctls (netdevice(7)): SIOCGIFFLAGS
and SIOCSIFFLAGS take a struct ifreq, SIOCSIFADDR and SIOCSIFNETMASK a sockaddr_in
inside it for IPv4; for IPv6, SIOCSIFADDR on an AF_INET6 socket takes a struct
in6_ifreq (address, prefix length, interface index), see ipv6(7).

A veth pair is two linked interfaces; what enters one leaves the other. It is
created from the host, after the clone, with one rtnetlink request (rtnetlink(7),
RTM_NEWLINK, kind "veth") whose peer carries IFLA_NET_NS_PID = the child's pid,
so the kernel creates the inner end directly in the child's namespace. This needs
CAP_NET_ADMIN on the host; no iproute2. When the namespace dies, the kernel
deletes both ends; deleting the host end ourselves just makes that immediate.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import socket
import struct

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
SIOCSIFADDR = 0x8916
SIOCSIFNETMASK = 0x891C
IFF_UP = 0x1
_IFREQ = "16sh22x"  # struct ifreq: name, then a 24-byte union (here short flags)
_IFREQ_ADDR = "16sH2s4s8x6x"  # name, sockaddr_in (family, port, address, zero), union pad

Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

_RTM_NEWLINK, _RTM_DELLINK, _NLMSG_ERROR = 16, 17, 2
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_EXCL, _NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
_IFLA_IFNAME, _IFLA_LINKINFO, _IFLA_NET_NS_PID = 3, 18, 19
_IFLA_INFO_KIND, _IFLA_INFO_DATA, _VETH_INFO_PEER = 1, 2, 1
_NLA_F_NESTED = 0x8000


def set_up(name: str) -> None:
    """Set IFF_UP on interface `name` (in the caller's network namespace)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(_IFREQ, name.encode(), 0)
        current = struct.unpack_from("16sh", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack(_IFREQ, name.encode(), current | IFF_UP))


def set_address(name: str, address: Interface) -> None:
    """Give interface `name` this address and prefix (IPv4 or IPv6)."""
    if isinstance(address, ipaddress.IPv6Interface):
        index = socket.if_nametoindex(name)
        request = struct.pack("16sIi", address.ip.packed, address.network.prefixlen, index)
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            fcntl.ioctl(sock, SIOCSIFADDR, request)
        return
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for number, value in ((SIOCSIFADDR, address.ip), (SIOCSIFNETMASK, address.netmask)):
            packed = struct.pack(_IFREQ_ADDR, name.encode(), socket.AF_INET, b"", value.packed)
            fcntl.ioctl(sock, number, packed)


def create_veth(host_name: str, inner_name: str, pid: int) -> int:
    """A veth pair: `host_name` here, `inner_name` in the network namespace of `pid`.

    Returns the host end's interface index, which `delete_link` checks, so a later
    interface that reuses the name (the pid was reused) is never deleted by mistake.
    """
    peer = _ifinfo() + _attr(_IFLA_IFNAME, _name(inner_name))
    peer += _attr(_IFLA_NET_NS_PID, struct.pack("I", pid))
    data = _attr(_VETH_INFO_PEER | _NLA_F_NESTED, peer)
    info = _attr(_IFLA_INFO_KIND, b"veth") + _attr(_IFLA_INFO_DATA | _NLA_F_NESTED, data)
    body = _ifinfo() + _attr(_IFLA_IFNAME, _name(host_name))
    body += _attr(_IFLA_LINKINFO | _NLA_F_NESTED, info)
    _request(_RTM_NEWLINK, _NLM_F_CREATE | _NLM_F_EXCL, body, f"create veth {host_name}")
    return socket.if_nametoindex(host_name)


def delete_link(index: int, name: str) -> None:
    """Delete interface `index` if it is still called `name` (both ends, for a veth)."""
    try:
        if socket.if_indextoname(index) != name:
            return
        _request(_RTM_DELLINK, 0, _ifinfo(index), f"delete {name}")
    except OSError as exc:
        if exc.errno not in (errno.ENODEV, errno.ENXIO):  # already gone with its namespace
            raise


def _request(kind: int, flags: int, body: bytes, what: str) -> None:
    header = struct.pack("IHHII", 16 + len(body), kind, _NLM_F_REQUEST | _NLM_F_ACK | flags, 1, 0)
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        sock.send(header + body)
        reply = sock.recv(65536)
    length, reply_kind = struct.unpack_from("IH", reply)
    if reply_kind != _NLMSG_ERROR or length < 20:
        raise OSError(errno.EPROTO, f"{what}: unexpected rtnetlink reply type {reply_kind}")
    code = -struct.unpack_from("i", reply, 16)[0]
    if code:
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _ifinfo(index: int = 0) -> bytes:
    return struct.pack("BxHiII", socket.AF_UNSPEC, 0, index, 0, 0)


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("HH", length, kind) + payload + b"\0" * (-length % 4)


def _name(name: str) -> bytes:
    return name.encode() + b"\0"
