"""Bad XML-RPC gets supervisord's fault (or an HTTP status), never a 500 or a traceback,
and the daemon keeps every program."""

from __future__ import annotations

import contextlib
import http.client
import socket
import xmlrpc.client
from typing import Any

import pytest

from tests.support.daemon import Daemon


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self.path)


def post(daemon: Daemon, body: bytes, path: str = "/RPC2") -> tuple[int, bytes]:
    """POST `body` to the daemon's unix socket; (status, body) of the reply."""
    connection = _UnixConnection(daemon.socket)
    try:
        connection.request("POST", path, body, {"Content-Type": "text/xml"})
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def call(daemon: Daemon, method: str, *params: Any) -> Any:
    """One XML-RPC call; raises xmlrpc.client.Fault for a fault."""
    status, body = post(daemon, xmlrpc.client.dumps(params, method).encode())
    assert status == 200, body
    return xmlrpc.client.loads(body)[0][0]


def fault_of(daemon: Daemon, body: bytes) -> tuple[int, str]:
    status, reply = post(daemon, body)
    assert status == 200, reply
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(reply)
    return caught.value.faultCode, caught.value.faultString


def fault(daemon: Daemon, method: str, *params: Any) -> tuple[int, str]:
    return fault_of(daemon, xmlrpc.client.dumps(params, method).encode())


def assert_programs_kept(daemon: Daemon) -> None:
    status = daemon.status()
    assert {n: status[n]["state"] for n in ("web:0", "web:1", "one:0")} == dict.fromkeys(
        ("web:0", "web:1", "one:0"), "RUNNING"
    )


def test_an_unknown_method_is_unknown_method(compat_daemon: Daemon) -> None:
    assert fault(compat_daemon, "supervisor.noSuchThing") == (1, "UNKNOWN_METHOD")
    assert fault(compat_daemon, "nosuch") == (1, "UNKNOWN_METHOD")
    assert_programs_kept(compat_daemon)


def test_wrong_argument_counts_and_types_are_incorrect_parameters(compat_daemon: Daemon) -> None:
    code, text = fault(compat_daemon, "supervisor.getProcessInfo")
    assert (code, text) == (2, "INCORRECT_PARAMETERS: takes 1 arguments, got 0")
    code, text = fault(compat_daemon, "supervisor.stopProcess", 42)
    assert (code, text) == (2, "INCORRECT_PARAMETERS: argument 1 must be a string, got int")
    code, _ = fault(compat_daemon, "supervisor.readProcessStdoutLog", "web:0", "0", 0)
    assert code == 2
    code, _ = fault(compat_daemon, "supervisor.startProcess", "web:0", True, "extra")
    assert code == 2
    assert_programs_kept(compat_daemon)


def test_an_unknown_process_is_bad_name(compat_daemon: Daemon) -> None:
    assert fault(compat_daemon, "supervisor.stopProcess", "nosuch:0") == (10, "BAD_NAME: nosuch:0")
    assert fault(compat_daemon, "supervisor.startProcessGroup", "nosuch")[0] == 10
    assert fault(compat_daemon, "supervisor.getProcessInfo", "web")[0] == 10  # a group
    assert fault(compat_daemon, "supervisor.signalProcess", "web:0", "NOSUCH")[0] == 11
    assert_programs_kept(compat_daemon)


def test_state_rules_are_supervisords(compat_daemon: Daemon) -> None:
    assert fault(compat_daemon, "supervisor.startProcess", "web:0")[0] == 60  # ALREADY_STARTED
    assert fault(compat_daemon, "supervisor.stopProcess", "manual:0")[0] == 70  # NOT_RUNNING
    assert fault(compat_daemon, "supervisor.removeProcessGroup", "web")[0] == 91  # STILL_RUNNING
    assert fault(compat_daemon, "supervisor.addProcessGroup", "web")[0] == 90  # ALREADY_ADDED
    assert fault(compat_daemon, "supervisor.readProcessStdoutLog", "web:0", -5, 5)[0] == 3


@pytest.mark.parametrize(
    "body",
    [
        b"<methodCall><methodName>supervisor.getPID</methodName><params>",
        b"not xml at all",
        b"",
        b"<?xml version='1.0'?><methodCall><params/></methodCall>",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
        b"<methodCall><methodName>&lol;</methodName></methodCall>",
        b"<methodCall><methodName>supervisor.getProcessInfo</methodName><params><param>"
        b"<value><int>notanumber</int></value></param></params></methodCall>",
    ],
    ids=["truncated", "not-xml", "empty", "no-method-name", "entities", "bad-int"],
)
def test_a_body_that_is_not_a_call_is_a_parse_fault(compat_daemon: Daemon, body: bytes) -> None:
    code, _ = fault_of(compat_daemon, body)
    assert code == -32700
    assert_programs_kept(compat_daemon)


def test_a_1_mb_request_is_refused_with_413_before_it_is_parsed(compat_daemon: Daemon) -> None:
    huge = xmlrpc.client.dumps(("x" * (1 << 20),), "supervisor.getProcessInfo").encode()
    head = "POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
    head += f"Content-Length: {len(huge)}\r\n\r\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(compat_daemon.socket)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head.encode() + huge)  # refused before all of it is read
        reply = sock.recv(4096)
    assert reply.startswith(b"HTTP/1.1 413 "), reply
    assert_programs_kept(compat_daemon)


def test_multicall_answers_each_call_faults_included(compat_daemon: Daemon) -> None:
    calls = [
        {"methodName": "supervisor.getAPIVersion", "params": []},
        {"methodName": "supervisor.nosuch", "params": []},
        {"methodName": "system.multicall", "params": [[]]},
    ]
    results = call(compat_daemon, "system.multicall", calls)
    assert results[0] == ["3.0"]
    assert results[1] == {"faultCode": 1, "faultString": "UNKNOWN_METHOD"}
    assert results[2]["faultCode"] == 2


def test_system_methods_describe_the_interface(compat_daemon: Daemon) -> None:
    methods = call(compat_daemon, "system.listMethods")
    assert "supervisor.getAllProcessInfo" in methods
    assert "system.multicall" in methods
    assert call(compat_daemon, "system.methodSignature", "supervisor.getProcessInfo") == [
        ["struct", "string"]
    ]
    assert call(compat_daemon, "system.methodHelp", "supervisor.getPID")
    assert fault(compat_daemon, "system.methodHelp", "nosuch")[0] == 4


def test_the_info_struct_has_supervisords_shape(compat_daemon: Daemon) -> None:
    info = call(compat_daemon, "supervisor.getProcessInfo", "web:1")
    assert sorted(info) == sorted(
        [
            "name",
            "group",
            "description",
            "start",
            "stop",
            "now",
            "state",
            "statename",
            "spawnerr",
            "exitstatus",
            "logfile",
            "stdout_logfile",
            "stderr_logfile",
            "pid",
        ]
    )
    assert (info["name"], info["group"], info["state"], info["statename"]) == (
        "1",
        "web",
        20,
        "RUNNING",
    )
    assert info["pid"] == compat_daemon.status()["web:1"]["pid"]
    assert info["description"].startswith(f"pid {info['pid']}, uptime 0:00:")
    assert info["stdout_logfile"] == str(compat_daemon.log_path("web:1"))
    assert call(compat_daemon, "supervisor.getVersion") == "3.0"
    assert call(compat_daemon, "supervisor.getState") == {"statecode": 1, "statename": "RUNNING"}


def test_a_get_of_rpc2_is_not_a_500(compat_daemon: Daemon) -> None:
    connection = _UnixConnection(compat_daemon.socket)
    try:
        connection.request("GET", "/RPC2")
        assert connection.getresponse().status == 405
    finally:
        connection.close()


def test_logtail_of_an_unknown_process_is_404(compat_daemon: Daemon) -> None:
    connection = _UnixConnection(compat_daemon.socket)
    try:
        connection.request("GET", "/logtail/nosuch:0")
        assert connection.getresponse().status == 404
    finally:
        connection.close()
