"""The PC/SC test rig: find or start pcscd (one per machine) and wait for the vpcd readers.

A pcscd that already answers is reused and left alone; one this rig starts is stopped by
it, so the rig never ends a daemon someone else started.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from cardio.connection import TransportError
from cardio.pcsc import list_readers

PCSCD_SOCKET = Path("/run/pcscd/pcscd.comm")
VPCD_CONF = Path("/etc/reader.conf.d/vpcd")


def vpcd_readers() -> list[str] | None:
    """The vpcd readers pcscd lists, or None when pcscd does not answer."""
    try:
        return [name for name in list_readers() if name.startswith("Virtual PCD")]
    except TransportError:
        return None


def missing_parts() -> str | None:
    """Why the rig cannot run here, or None when it can."""
    if shutil.which("pcscd") is None and not Path("/usr/sbin/pcscd").exists():
        return "pcscd is not installed (apt-get install pcscd, or run scripts/pcscd.sh)"
    if not VPCD_CONF.exists():
        return "vsmartcard-vpcd is not installed (apt-get install vsmartcard-vpcd)"
    return None


def pcscd_binary() -> str:
    return shutil.which("pcscd") or "/usr/sbin/pcscd"


class Pcscd:
    """pcscd for this process: reuses one that answers, or starts ``pcscd -f``."""

    def __init__(self, log: Path | None = None) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def started_here(self) -> bool:
        return self.process is not None

    def ensure(self, timeout: float = 15.0) -> None:
        readers = vpcd_readers()
        if readers:
            return
        if readers is None and self.process is None:
            self.start()
        self.wait_ready(timeout)

    def start(self) -> None:
        output = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 - fixed argument list
            [pcscd_binary(), "-f"],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def take_over(self, timeout: float = 15.0) -> None:
        """Replace a pcscd someone else started with one this rig owns.

        Only for CI, whose machine is the test run's alone: the fault test must be able
        to kill the daemon, and a pcscd left behind by an earlier session must not fail it.
        """
        subprocess.run(["pkill", "-x", "pcscd"], check=False)  # noqa: S607 - fixed command
        deadline = time.monotonic() + timeout
        while vpcd_readers() is not None:
            if time.monotonic() > deadline:
                raise TimeoutError("the running pcscd did not stop")
            time.sleep(0.05)
        self.start()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if vpcd_readers():
                return
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"pcscd exited with status {self.process.returncode}")
            time.sleep(0.05)
        raise TimeoutError("pcscd did not list the vpcd readers in time")

    def kill(self) -> None:
        """Kill the pcscd this rig started (the fault test's power cut)."""
        if self.process is None:
            raise RuntimeError("refusing to kill a pcscd this rig did not start")
        self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
