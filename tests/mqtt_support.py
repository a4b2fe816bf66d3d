"""A real Mosquitto broker on a free port, and a paho client that records what it sees."""

from __future__ import annotations

import getpass
import json
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from tests.helpers import free_port

MOSQUITTO = "/usr/sbin/mosquitto"


class Broker:
    """``mosquitto -c <generated config>`` in ``folder``; restartable on the same port."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None,
                 tls: bool = False) -> None:
        self.folder = folder
        self.port = free_port()
        self.users = users or {}
        self.ca: Path | None = make_certificates(folder) if tls else None
        self.proc: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        # Stay the current user: started as root, mosquitto would switch to "mosquitto",
        # who cannot read files under pytest's private tmp_path.
        lines = [f"listener {self.port} 127.0.0.1", "persistence false",
                 f"user {getpass.getuser()}"]
        if self.users:
            passwd = folder / "passwd"
            passwd.write_text("")
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password],
                               check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if self.ca is not None:
            lines += [f"cafile {self.ca}", f"certfile {folder / 'server.crt'}",
                      f"keyfile {folder / 'server.key'}"]
        self.config = folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> Broker:
        log = open(self.folder / "mosquitto.log", "ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = mqtt.Client(CallbackAPIVersion.VERSION2)
            if self.ca is not None:
                probe.tls_set(ca_certs=str(self.ca))
            if self.users:
                user, password = next(iter(self.users.items()))
                probe.username_pw_set(user, password)
            try:
                probe.connect("127.0.0.1", self.port, 5)
                probe.disconnect()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


def make_certificates(folder: Path) -> Path:
    """A throw-away CA and a server certificate for 127.0.0.1; returns the CA file."""
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "2", "-subj", "/CN=ExStreamTV test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")
    return folder / "ca.crt"


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool

    @property
    def text(self) -> str:
        return self.payload.decode()

    @property
    def json(self) -> Any:
        return json.loads(self.payload)


class Watcher:
    """A test client subscribed to ``#``; keeps every message in arrival order."""

    def __init__(self, broker: Broker, user: tuple[str, str] | None = None,
                 retain_as_published: bool = False) -> None:
        """``retain_as_published`` (MQTT 5): a message published retained after the
        subscription keeps its retain flag too (by default only those the broker replays
        at subscription have it)."""
        self.broker = broker
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        if retain_as_published:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            options = SubscribeOptions(qos=1, retainAsPublished=True)
            self.client.on_connect = lambda c, *_: c.subscribe("#", options=options)
        else:
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
            self.client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        if broker.ca is not None:
            self.client.tls_set(ca_certs=str(broker.ca))
        if user:
            self.client.username_pw_set(*user)
        self.client.on_message = self._on_message
        self._ready = threading.Event()
        self.client.on_subscribe = lambda *_: self._ready.set()
        self.client.connect("127.0.0.1", broker.port, 30)
        self.client.loop_start()
        if not self._ready.wait(10):
            raise RuntimeError("the test client could not subscribe")

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def on(self, topic: str) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def latest(self) -> dict[str, Message]:
        """The last message per topic."""
        with self._lock:
            return {m.topic: m for m in self.messages}

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0,
                 what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.05)
        raise AssertionError(f"not seen within {timeout}s: {what}\n"
                             f"topics: {sorted(self.latest())}")

    def wait_message(self, topic: str, payload: str | None = None, timeout: float = 20.0,
                     after: int = 0) -> Message:
        def seen() -> Message | None:
            found = [m for m in self.on(topic)[after:]
                     if payload is None or m.payload == payload.encode()]
            return found[-1] if found else None

        found: Message = self.wait_for(seen, timeout, f"{topic} = {payload!r}")
        return found

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained_snapshot(broker: Broker, prefix: str, settle: float = 0.5,
                      expect: int = 0) -> dict[str, Message]:
    """What a fresh subscriber receives as retained under ``prefix`` (``#``); with
    ``expect``, at least that many (or whatever came within 10 s)."""
    # A message the server publishes retained just after the subscription (a reload
    # announcing again) counts as retained too, as it is: hence retain-as-published.
    fresh = Watcher(broker, retain_as_published=True)
    # The broker sends retained messages right after the subscription; on a loaded machine
    # they trickle in, with pauses: wait for the expected number, then until none has
    # arrived for ``settle`` seconds.
    count, quiet_since, deadline = -1, time.monotonic(), time.monotonic() + 10
    while time.monotonic() < deadline:
        with fresh._lock:
            now_count = len(fresh.messages)
            wanted = len({m.topic for m in fresh.messages
                          if m.retain and m.topic.startswith(prefix)})
        if now_count != count:
            count, quiet_since = now_count, time.monotonic()
        elif time.monotonic() - quiet_since >= settle and wanted >= expect:
            break
        time.sleep(0.05)
    snapshot = {t: m for t, m in fresh.latest().items() if t.startswith(prefix) and m.retain}
    fresh.close()
    return snapshot
